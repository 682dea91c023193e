"""Held-out evaluation: scoring a model on a split or file (scoring.py), several runs side by
side (compare.py), and the `toolkit eval` probes: perturbations (robustness.py) and identity-term
swaps (fairness.py, with its term lists in fairness_terms.json)."""
