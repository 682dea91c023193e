"""`toolkit push RUN --repo-id ID`: the run's model card written again, then its model folder
uploaded to the Hugging Face Hub with huggingface_hub (`create_repo`, `upload_folder`).

What goes up is what loads the model: weights, config, tokenizer, the card and, for an adapter
run, the adapter (`--merged`: the full model `toolkit merge` makes, built in a temporary folder).
What stays: `training_args.bin` (a pickle, which loading it would have to unpickle, that records
local paths and nothing the model needs: the card lists the settings), the run's checkpoints
and optimizer states, its held-out rows, predictions and evaluation rows (they quote the data),
logs and metrics (the card carries the scores).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import ToolkitError, shorten
from toolkit.rundir import MARKER, RunDir
from toolkit.share.card import write_card

# Files of a model folder that never go up, with why (patterns match the path in the folder).
LEFT_OUT = {
    "training_args.bin": "pickled TrainingArguments: unsafe to load, local paths, not needed",
    MARKER: "toolkit's own marker",
    "optimizer.pt": "optimizer state (for --resume only)",
    "scheduler.pt": "scheduler state (for --resume only)",
    "scaler.pt": "gradient-scaler state (for --resume only)",
    "rng_state*.pth": "random-number state (for --resume only)",
    "trainer_state.json": "Trainer progress (for --resume only)",
    "checkpoint-*": "a checkpoint (for --resume only)",
    ".*": "a hidden or temporary file",
}
# What else a run directory holds, and why none of it goes up.
RUN_FILES = {
    "checkpoints": "checkpoints and optimizer states (for --resume only)",
    "splits": "held-out rows: the data",
    "predictions": "predictions: they quote the data",
    "eval": "evaluation rows (their scores are in the card)",
    "merged": "a merged model (push it with --merged)",
    "metrics.json": "the scores (in the card)",
    "recipe.yaml": "the recipe (its settings are in the card; it names local paths)",
    "splits.json": "the split record (row indices of the data)",
    "log.jsonl": "the training log",
    "tensorboard": "the training curves",
    "calibration.json": "the fitted temperature (in the card)",
    "report.html": "the report (it quotes the data)",
    MARKER: "toolkit's marker",
}
NO_TOKEN = "no Hugging Face token: set HF_TOKEN or run `hf auth login`"
EchoFn = Callable[[str], None]


@dataclass
class UploadPlan:
    """One push: the folder uploaded, the files of it that go up and what stays (with why)."""

    repo_id: str
    private: bool
    folder: Path
    files: list[str] = field(default_factory=list)  # relative to `folder`
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        shown = "private" if self.private else "public unless it exists (--private: private)"
        lines = [f"repo: {self.repo_id}, {shown}", f"folder: {self.folder}", "upload:"]
        lines += [f"  + {name} ({size(self.folder / name)})" for name in self.files]
        lines += ["left out:"] + [f"  - {name}: {why}" for name, why in self.left_out]
        return lines + [f"note: {note}" for note in self.notes]


def push_run(
    run_dir: Path, repo_id: str, private: bool = False, merged: bool = False,
    dry_run: bool = False, echo: EchoFn = print,
) -> UploadPlan:  # fmt: skip
    """Write the card, plan the upload and (unless `dry_run`) upload it; returns the plan."""
    check_repo_id(repo_id)
    run = RunDir(run_dir)
    run.require_finished()
    token = None if dry_run else hub_access()
    with model_folder(run, repo_id, merged) as folder:
        plan = plan_upload(run, folder, repo_id, private, merged)
        lines = plan.lines()  # while a merged folder is still there
        url = None if token is None else upload(plan, token)  # a failure: its one line alone
    for line in lines:
        echo(line)
    echo("dry run: nothing uploaded" if url is None else f"pushed {len(plan.files)} files: {url}")
    return plan


def check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise ToolkitError(
            f"--repo-id: {shorten(repo_id)} is not a Hub repo id (`name` or `owner/name`: "
            "letters, digits, '-', '_', '.'; no '--' or '..'; at most 96 characters)"
        ) from None


def hub_access() -> str:
    """The token (HF_TOKEN, else the `hf auth login` store); refuses when offline or none."""
    from huggingface_hub import constants, get_token

    offline = os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")
    if offline or constants.is_offline_mode():
        raise ToolkitError(
            "offline (HF_HUB_OFFLINE is set): cannot reach the Hugging Face Hub; unset it to "
            "push, or see the upload plan with --dry-run"
        )
    token = get_token()
    if not token:
        raise ToolkitError(NO_TOKEN)
    return token


@contextmanager
def model_folder(run: RunDir, repo_id: str, merged: bool) -> Iterator[Path]:
    """The folder to upload, its card written: the run's model/, or (`merged`) the adapter
    folded into its base in a temporary folder, removed afterwards."""
    if not merged:
        if not run.model_config.is_file():
            raise ToolkitError(f"{run.path}: no model found (expected {run.model_config})")
        write_card(run, repo_id=repo_id)
        yield run.model
        return
    from toolkit.lora import merge_run

    scratch = Path(tempfile.mkdtemp(prefix="toolkit-push-"))
    try:
        folder = merge_run(run.path, scratch / "merged")
        write_card(run, repo_id=repo_id, merged=folder)
        yield folder
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def plan_upload(run: RunDir, folder: Path, repo_id: str, private: bool, merged: bool) -> UploadPlan:
    plan = UploadPlan(repo_id, private, folder)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        why = left_out_because(name)
        if why is None:
            plan.files.append(name)
        else:
            plan.left_out.append((name, why))
    for entry in sorted(run.path.iterdir()):
        if entry.name != run.model.name:
            plan.left_out.append((f"RUN/{entry.name}", RUN_FILES.get(entry.name, "stays local")))
    plan.notes += adapter_notes(folder) if not merged else []
    return plan


def left_out_because(name: str) -> str | None:
    parts = name.split("/")
    for pattern, why in LEFT_OUT.items():
        if any(fnmatch.fnmatchcase(part, pattern) for part in parts):
            return why
    return None


def adapter_notes(folder: Path) -> list[str]:
    """An adapter whose base is a local folder cannot be loaded from the Hub as it is."""
    from toolkit.share.facts import read_json

    config = folder / "adapter_config.json"
    if not config.is_file():
        return []
    base = read_json(config).get("base_model_name_or_path")
    if isinstance(base, str) and Path(base).is_absolute():
        return [
            f"the adapter's base model is the local folder {base}: whoever downloads the "
            "adapter needs that base too (push --merged for a full model instead)"
        ]
    return []


def upload(plan: UploadPlan, token: str) -> str:
    """create_repo (exist_ok) and upload_folder of the planned files; returns the repo URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    with hub_errors(plan.repo_id):
        url = api.create_repo(plan.repo_id, private=plan.private, exist_ok=True)
        api.upload_folder(
            repo_id=plan.repo_id,
            folder_path=str(plan.folder),
            allow_patterns=plan.files,
            commit_message="Upload model trained with toolkit",
        )
    return str(url)


@contextmanager
def hub_errors(repo_id: str) -> Iterator[None]:
    """The Hub's failures as one line: no connection, or a refusal (bad token, no rights)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    try:
        yield
    except HfHubHTTPError as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ToolkitError(f"the Hugging Face Hub refused the push to {repo_id}: {first}") from None
    except (OSError, httpx2.TransportError) as exc:
        raise ToolkitError(
            f"cannot reach the Hugging Face Hub ({type(exc).__name__}): offline? check the "
            "connection and try again"
        ) from None


def size(path: Path) -> str:
    count = float(path.stat().st_size)
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"
