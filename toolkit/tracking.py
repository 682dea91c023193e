"""Where a run's curves go besides log.jsonl: TensorBoard always, MLflow when it is installed.

Both are transformers' own callbacks; only the main process gets them (a SummaryWriter creates
its event file at once, in every process that makes one). MLflow writes to the local file store
`<output.dir parent>/mlruns` (one store for all runs of a project: `mlflow ui --backend-store-uri
runs/mlruns`), experiment "toolkit", run name = the run directory's name, unless the user's
MLFLOW_TRACKING_URI / MLFLOW_EXPERIMENT_NAME say otherwise; DISABLE_MLFLOW_INTEGRATION=true
turns it off.

At the end of a run the held-out scores (validation, test) are added to both as scalars named
`<split>/<metric>` (e.g. `test/accuracy`) at the last optimizer step, beside the curves.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any


def mlflow_wanted() -> bool:
    disabled = os.environ.get("DISABLE_MLFLOW_INTEGRATION", "").upper() in ("1", "TRUE", "YES")
    return not disabled and importlib.util.find_spec("mlflow") is not None


def tracking_callbacks(tensorboard: Path, mlruns: Path) -> list[Any]:
    """TensorBoard into `tensorboard` (in the run directory), and MLflow's callback when mlflow
    is importable, with its file store at `mlruns` (see RunDir.mlruns)."""
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    callbacks = [TensorBoardCallback(SummaryWriter(log_dir=str(tensorboard)))]
    if mlflow_wanted():
        from transformers.integrations import MLflowCallback

        # MLflowCallback reads the environment when training starts; a value we set for an
        # earlier run in this process is ours to replace, a user's is kept.
        store = mlruns.as_uri()
        for key, value in (("MLFLOW_TRACKING_URI", store), ("MLFLOW_EXPERIMENT_NAME", "toolkit")):
            if os.environ.get(key) in (None, os.environ.get(f"_TOOLKIT_{key}")):
                os.environ[key] = os.environ[f"_TOOLKIT_{key}"] = value
        # MLflow 3 wants a database backend by default; the issue asks for the plain file store,
        # which MLflow still supports (in maintenance) when this is set.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        # Not its INFO lines ("Experiment with name 'toolkit' does not exist. Creating..."):
        # importing mlflow (inside MLflowCallback()) sets its loggers from MLFLOW_LOGGING_LEVEL,
        # INFO unless set, so set that (a user's value is kept) and the level once it is loaded.
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        callbacks.append(run_id_keeper(MLflowCallback)())
        logging.getLogger("mlflow").setLevel(os.environ["MLFLOW_LOGGING_LEVEL"].upper())
    return callbacks


def run_id_keeper(base: type) -> type:
    """transformers' MLflowCallback, keeping the id of its MLflow run when it ends that run at
    the end of training: the held-out scores come later and go to the same run."""

    class KeepsRunId(base):  # type: ignore[misc, valid-type]
        run_id: str | None = None

        def on_train_end(self, args, state, control, **kwargs):
            active = self._ml_flow.active_run() if self._initialized else None
            if active is not None:
                self.run_id = active.info.run_id
            return super().on_train_end(args, state, control, **kwargs)

    return KeepsRunId


def held_out_scalars(metrics: dict) -> dict[str, float]:
    """`<split>/<metric>` for each scalar held-out score of metrics.json (not the train part)."""
    from toolkit.console import headline

    return {
        f"{split}/{key}": float(value)
        for split, scores in metrics.items()
        if split != "train" and isinstance(scores, dict)
        for key, value in headline(scores).items()
    }


def log_held_out(callbacks: list[Any], tensorboard: Path, metrics: dict, step: int) -> None:
    """The held-out scores into the run's TensorBoard log and, when the run has one, its
    MLflow run (`callbacks`: the final Trainer's, after training)."""
    scalars = held_out_scalars(metrics)
    if not scalars:
        return
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tensorboard))  # the callback closed its own at train end
    try:
        for name, value in scalars.items():
            writer.add_scalar(name, value, step)
    finally:
        writer.close()
    for callback in callbacks:
        run_id = getattr(callback, "run_id", None)
        if run_id is not None:
            from mlflow.tracking import MlflowClient

            client = MlflowClient(callback._ml_flow.get_tracking_uri())
            for name, value in scalars.items():
                client.log_metric(run_id, name, value, step=step)
