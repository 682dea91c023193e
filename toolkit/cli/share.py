"""`toolkit push`: a run's model, tokenizer, card (and adapter) to the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolkit.cli.app import app, friendly_errors, quiet_libraries


@app.command()
@friendly_errors
def push(
    run_dir: Annotated[Path, typer.Argument(help="Run directory to publish.")],
    repo_id: Annotated[
        str, typer.Option("--repo-id", help="Hub repo to push to: `name` or `owner/name`.")
    ],
    private: Annotated[bool, typer.Option(help="Create the repo private.")] = False,
    merged: Annotated[
        bool, typer.Option(help="Adapter runs: push the merged full model, not the adapter.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option(help="Write the card, print the upload plan; no network.")
    ] = False,
) -> None:
    """Write the model card again, then upload the model folder with huggingface_hub."""
    quiet_libraries()
    from toolkit.share.push import push_run

    push_run(run_dir, repo_id, private=private, merged=merged, dry_run=dry_run, echo=typer.echo)
