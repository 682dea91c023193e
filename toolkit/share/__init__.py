"""Sharing what a run trained: its model card (card.py, from the facts a run directory holds,
facts.py) and `toolkit push` to the Hugging Face Hub (push.py)."""
