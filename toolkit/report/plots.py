"""Pictures for `toolkit report`: matplotlib figures drawn on the Agg canvas (no display, no
pyplot state) and returned as base64 PNG data URIs, so the HTML file needs nothing beside it."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

# Labels and texts come from user data: "$" must stay a dollar sign, not start mathtext.
STYLE = {"text.parse_math": False, "font.size": 9, "axes.grid": True, "grid.alpha": 0.3}


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_uri(data: bytes) -> str:
    """PNG bytes as a data URI an <img> shows with nothing beside the page."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def data_uri(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return png_uri(buffer.getvalue())


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def series(log: Sequence[dict], key: str) -> list[tuple[float, float]]:
    """(step, value) of every log record holding a finite `key`."""
    return [(r.get("step", i), r[key]) for i, r in enumerate(log) if _number(r.get(key))]


def curve_pictures(log: Sequence[dict]) -> dict[str, str]:
    """Loss (train and validation) and learning rate against the optimizer step."""
    import matplotlib

    pictures = {}
    train, validation = series(log, "loss"), series(log, "eval_loss")
    rate = series(log, "learning_rate")
    with matplotlib.rc_context(STYLE):
        if train or validation:
            figure = _figure(6.4, 3.4)
            axes = figure.add_subplot()
            for points, label, style in ((train, "train", "-"), (validation, "validation", "o-")):
                if points:
                    axes.plot(*zip(*points), style, label=label, markersize=4)
            axes.set(xlabel="step", ylabel="loss", title="loss")
            axes.legend()
            pictures["loss"] = data_uri(figure)
        if rate:
            figure = _figure(6.4, 2.6)
            axes = figure.add_subplot()
            axes.plot(*zip(*rate), "-", color="tab:green")
            axes.set(xlabel="step", ylabel="learning rate", title="learning rate")
            axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
            pictures["learning_rate"] = data_uri(figure)
    return pictures


# Log keys that are not a curve worth overlaying (timings, counters, the schedule).
NOT_CURVES = ("epoch", "step", "time", "learning_rate", "grad_norm", "total_flos")


def curve_keys(logs: Sequence[Sequence[dict]]) -> list[str]:
    """The train loss, then every evaluation metric the logs record (`eval_loss`,
    `eval_accuracy`, ...), in the order first seen; runtimes and throughputs left out."""
    found = dict.fromkeys(
        key
        for log in logs
        for record in log
        for key, value in record.items()
        if _number(value)
        and (key == "loss" or key.startswith("eval_"))
        and not key.endswith(("_runtime", "_per_second"))
        and key not in NOT_CURVES
    )
    return sorted(found, key=lambda key: key != "loss")  # stable: the rest as first seen


def overlay_pictures(logs: dict[str, Sequence[dict]]) -> dict[str, str]:
    """One plot per logged metric (train loss, each validation metric), a line per run."""
    import matplotlib

    pictures = {}
    with matplotlib.rc_context(STYLE):
        for key in curve_keys(list(logs.values())):
            figure = _figure(6.4, 3.2)
            axes = figure.add_subplot()
            for name, log in logs.items():
                points = series(log, key)
                if points:
                    axes.plot(*zip(*points), "-" if key == "loss" else "o-", label=name,
                              markersize=3)  # fmt: skip
            title = "train loss" if key == "loss" else f"validation {key[len('eval_') :]}"
            axes.set(xlabel="step", ylabel=key, title=title)
            axes.legend(fontsize=7)
            pictures[key] = data_uri(figure)
    return pictures


def short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def confusion_picture(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> str:
    """Counts with gold labels as rows and predictions as columns; cells annotated when few."""
    import matplotlib
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    n = len(labels)
    side = min(max(3.6, 0.45 * n + 2.4), 12.0)
    with matplotlib.rc_context({**STYLE, "axes.grid": False}):
        figure = _figure(side + 0.9, side)
        axes = figure.add_subplot()
        image = axes.imshow(counts, cmap="Blues", vmin=0)
        figure.colorbar(image, ax=axes, shrink=0.8)
        names = [short(str(label)) for label in labels]
        axes.set_xticks(
            range(n), names, rotation=45 if n > 3 else 0, ha="right" if n > 3 else "center"
        )
        axes.set_yticks(range(n), names)
        axes.set(xlabel="predicted", ylabel="gold", title="confusion matrix")
        if n <= 25:
            high = counts.max() if counts.size else 0
            for (row, column), value in np.ndenumerate(counts):
                colour = "white" if high and value > high / 2 else "black"
                axes.text(column, row, f"{int(value)}", ha="center", va="center", color=colour)
        return data_uri(figure)


def reliability_picture(confidence: Sequence[float], correct: Sequence[bool]) -> str:
    """Accuracy per equal-width confidence bin (the bars) against the diagonal of perfect
    calibration, each non-empty bin's row count above its bar, and the ECE in the title."""
    import matplotlib
    import numpy as np

    from toolkit.metrics import CALIBRATION_BINS, reliability

    counts, accuracy, mean_confidence = reliability(confidence, correct)
    edges = np.linspace(0, 1, CALIBRATION_BINS + 1)
    shown = counts > 0
    ece = float((counts * np.abs(accuracy - mean_confidence)).sum() / max(counts.sum(), 1))
    with matplotlib.rc_context(STYLE):
        figure = _figure(4.6, 4.2)
        axes = figure.add_subplot()
        axes.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        left, width = edges[:-1][shown], np.diff(edges)[shown]
        axes.bar(left, accuracy[shown], width, align="edge", edgecolor="tab:blue",
                 alpha=0.7, label="accuracy")  # fmt: skip
        axes.plot(mean_confidence[shown], accuracy[shown], "o", color="tab:red", markersize=3,
                  label="mean confidence")  # fmt: skip
        for x, w, y, n in zip(left, width, accuracy[shown], counts[shown]):
            axes.text(x + w / 2, min(y, 0.96) + 0.03, str(int(n)), ha="center", fontsize=7)
        title = f"reliability (ECE {ece:.3f}, {int(counts.sum())} rows)"
        axes.set(xlim=(0, 1), ylim=(0, 1.05), xlabel="confidence (max class probability)",
                 ylabel="accuracy", title=title)  # fmt: skip
        axes.legend(loc="upper left", fontsize=7)
        return data_uri(figure)
