"""How sure a probe's figures are: the paired statistics of `--fairness` and `--perturb`.

A probe compares each row with its counterfactual (a term swap, a template filled for either
side, a perturbed copy). Per set of pairs it reports the flip rate, the mean |ΔP| and the signed
ΔP of the reference class, each with a 95% bootstrap interval, and the signed gap's two-sided
sign-flip permutation p-value (all computed in toolkit/metrics.py). Fewer than MIN_PAIRS pairs,
or an interval spanning essentially its whole range, is marked `"conclusive": false` with
the note "too few pairs to conclude", and the tables print those words instead of numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

POSITIVE = ("positive", "pos", "1", "true", "yes")
NOTE = "too few pairs to conclude"


def reference_class(names: Sequence[str]) -> str:
    """The class whose probability gap is reported: the positive one if any, else the first."""
    return next((name for name in names if name.lower() in POSITIVE), names[0])


def pair_stats(flipped: Sequence[bool], gaps: Sequence[float], signed: Sequence[float]) -> dict:
    """Flip rate, mean |ΔP| (of `gaps`) and signed ΔP (of `signed`, the pairs with a direction)
    with their intervals, the signed gap's permutation p, and whether the pairs can tell."""
    import numpy as np

    from toolkit.metrics import conclusive, mean_ci, sign_flip_p

    flips, size = np.asarray(flipped, dtype=np.float64), np.abs(np.asarray(gaps, np.float64))
    result: dict = {"pairs": len(flips), "flipped": int(flips.sum())}
    intervals = []
    for key, values, width in (("flip_rate", flips, 1.0), ("mean_abs_gap", size, 1.0),
                               ("signed_gap", np.asarray(signed, np.float64), 2.0)):  # fmt: skip
        result[key] = float(values.mean()) if len(values) else None
        result[f"{key}_ci"] = mean_ci(values) if len(values) else None
        intervals += [(result[f"{key}_ci"], width)] if len(values) else []
    result["signed_pairs"] = len(signed)
    result["signed_gap_p"] = sign_flip_p(np.asarray(signed, np.float64)) if len(signed) else None
    result["conclusive"] = conclusive(len(flips), intervals)
    if not result["conclusive"]:
        result["note"] = NOTE
    return result


def with_ci(stats: dict, key: str, form: str) -> str:
    """`0.0135` over `[0.0087, 0.0190]` (two lines, for narrow tables), or "-" for no value."""
    value, interval = stats.get(key), stats.get(f"{key}_ci")
    if not isinstance(value, (int, float)):
        return "-"
    if not interval:
        return format(value, form)
    return f"{value:{form}}\n[{interval[0]:{form}}, {interval[1]:{form}}]"


def p_value(p: float | None) -> str:
    if p is None:
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def figure_cells(stats: dict) -> list[str]:
    """Terminal cells of one set of pairs: flip rate, mean |ΔP|, signed ΔP, p; in words when
    the pairs cannot tell."""
    if not stats.get("pairs") or not stats.get("conclusive", True):
        return ["too few pairs\nto conclude", "", "", ""]
    return [
        with_ci(stats, "flip_rate", ".1%"),
        with_ci(stats, "mean_abs_gap", ".3f"),
        with_ci(stats, "signed_gap", "+.3f"),
        p_value(stats.get("signed_gap_p")),
    ]
