"""The `toolkit` command line. Each command parses its arguments and calls one function.

Commands live by what they take: recipes.py (run, validate), runs.py (eval, merge, explain,
report) and augment.py; importing them registers them on the app. Heavy libraries (torch,
transformers, datasets) are imported inside the commands, so `toolkit --help` stays fast.
"""

# The help lists the commands in the order they register: recipes, runs, then augment.
from toolkit.cli import recipes, runs, augment  # noqa: F401, I001
from toolkit.cli import tune  # noqa: F401, I001
from toolkit.cli import predict  # noqa: F401, I001
from toolkit.cli import export  # noqa: F401, I001
from toolkit.cli import share  # noqa: F401, I001
from toolkit.cli.app import app, main

__all__ = ["app", "main"]
