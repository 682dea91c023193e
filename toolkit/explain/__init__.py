"""`toolkit explain`: attributions (attribution.py), their terminal and HTML views (render.py),
and `--faithfulness`, how well they rank the words the model needs (faithfulness.py, its output
in faithfulness_out.py).

`toolkit report` looks this package up as an optional add-on and calls the two names below."""

from toolkit.explain.attribution import explain_text
from toolkit.explain.render import render_html

__all__ = ["explain_text", "render_html"]
