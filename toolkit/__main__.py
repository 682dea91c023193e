"""Allows `python -m toolkit` (and `accelerate launch -m toolkit`)."""

from toolkit.cli import app

app()
