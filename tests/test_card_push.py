"""Model cards and `toolkit push`: every run's card parses back with huggingface_hub and carries
its test metrics; push builds the right upload plan and calls the Hub API with it (recorded,
never sent); offline, tokenless and bad-id pushes end in one line; a push after `toolkit eval`
shows the new results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx2
import pytest
import yaml
from conftest import fails_cleanly, run_ok, toy_rows, write_csv
from huggingface_hub import HfApi, ModelCard, constants, metadata_load

# One worker builds conftest's trained_runs (session-scoped, so once per xdist worker) for
# every module that takes a trained run.
pytestmark = pytest.mark.xdist_group("trained_runs")

PIPELINE_TAGS = {
    "sentiment": "text-classification",
    "qa": "question-answering",
    "translation": "translation",
    "generation": "text-generation",
}
MODEL_FILES = {"README.md", "config.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json"}  # fmt: skip


def copy_run(run: Path, tmp_path: Path) -> Path:
    """A private copy of a shared session run, for anything that writes into it."""
    return Path(shutil.copytree(run, tmp_path / run.parent.name / "run"))


def test_every_run_card_parses_back_with_its_test_metrics(trained_runs):
    for name, tag in PIPELINE_TAGS.items():
        run = trained_runs[name]
        card = ModelCard.load(run / "model" / "README.md")
        meta = metadata_load(run / "model" / "README.md")
        test = json.loads((run / "metrics.json").read_text())["test"]
        assert meta["pipeline_tag"] == tag and meta["library_name"] == "transformers", name
        results = {r.metric_type: r.metric_value for r in card.data.eval_results}
        shown = {k: v for k, v in test.items() if k in results}
        assert results and results == shown, (name, results, test)
        assert {r.dataset_split for r in card.data.eval_results} == {"test"}
        assert all(r.task_type == tag for r in card.data.eval_results)
        sizes = json.loads((run / "splits.json").read_text())["sizes"]
        assert f"| train | {sizes['train']:,} |" in card.text, card.text
        assert "95% interval" in card.text and "## Limitations" in card.text
    assert metadata_load(trained_runs["translation"] / "model" / "README.md")["language"] == [
        "en", "es",
    ]  # fmt: skip


def test_lora_card_keeps_the_peft_metadata(trained_runs, tmp_path, runner):
    """library_name peft with the base model; a base given as a Hub id, or as a local folder
    whose config records the id it came from, is named; the adapter's README is ours."""
    meta = metadata_load(trained_runs["lora"] / "model" / "README.md")
    assert meta["library_name"] == "peft" and {"peft", "lora"} <= set(meta["tags"])
    peft_template = "# Model Card for Model ID"  # what peft's own README.md starts with
    assert peft_template not in (trained_runs["lora"] / "model" / "README.md").read_text()
    run = copy_run(trained_runs["lora"], tmp_path)
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["model"]["name"] = "prajjwal1/bert-tiny"
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    run_ok(runner, ["push", run, "--repo-id", "me/tiny-lora", "--dry-run"])
    meta = metadata_load(run / "model" / "README.md")
    assert meta["base_model"] == "prajjwal1/bert-tiny" and meta["library_name"] == "peft"
    assert "base_model:adapter:prajjwal1/bert-tiny" in meta["tags"]
    assert meta["model-index"][0]["name"] == "tiny-lora"
    base = Path(shutil.copytree(recipe_model(trained_runs["sentiment"]), tmp_path / "base"))
    config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**config, "_name_or_path": "org/tiny-bert"}))
    full = copy_run(trained_runs["sentiment"], tmp_path)
    recipe = yaml.safe_load((full / "recipe.yaml").read_text())
    recipe["model"]["name"] = str(base)
    (full / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    run_ok(runner, ["push", full, "--repo-id", "me/tiny", "--dry-run"])
    assert metadata_load(full / "model" / "README.md")["base_model"] == "org/tiny-bert"
    recipe["model"]["hub_id"] = "someone/declared-copy"  # the recipe's word beats the config's
    (full / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    run_ok(runner, ["push", full, "--repo-id", "me/tiny", "--dry-run"])
    assert metadata_load(full / "model" / "README.md")["base_model"] == "someone/declared-copy"


def recipe_model(run: Path) -> Path:
    return Path(yaml.safe_load((run / "recipe.yaml").read_text())["model"]["name"])


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """Online with a token, and HfApi's create_repo/upload_folder recording their arguments
    (the uploaded folder's files and card read while it exists) instead of calling the Hub."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    calls: dict = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create"] = {"repo_id": repo_id, "token": self.token, **kwargs}
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        folder = Path(kwargs["folder_path"])
        calls["upload"] = kwargs
        calls["files"] = {
            p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
        }
        calls["card"] = metadata_load(folder / "README.md")

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return calls


def test_push_uploads_the_model_folder_but_not_training_files(trained_runs, tmp_path, runner, hub):
    run = copy_run(trained_runs["sentiment"], tmp_path)
    output = run_ok(runner, ["push", run, "--repo-id", "me/tiny-sentiment", "--private"])
    assert hub["create"] == {"repo_id": "me/tiny-sentiment", "token": "hf_from_env",
                             "private": True, "exist_ok": True}  # fmt: skip
    upload = hub["upload"]
    assert upload["repo_id"] == "me/tiny-sentiment" and Path(upload["folder_path"]) == run / "model"
    assert set(upload["allow_patterns"]) == MODEL_FILES
    assert "training_args.bin" in hub["files"] - set(upload["allow_patterns"])
    assert "  - training_args.bin: pickled" in output and "  - RUN/predictions:" in output
    assert "pushed 5 files: https://huggingface.co/me/tiny-sentiment" in output
    assert hub["card"]["model-index"][0]["name"] == "tiny-sentiment"


def test_push_an_adapter_or_the_merged_model(trained_runs, tmp_path, runner, hub, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    store = tmp_path / "hf-token"  # the `hf auth login` store
    store.write_text("hf_from_store\n")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(store))
    run = copy_run(trained_runs["lora"], tmp_path)
    run_ok(runner, ["push", run, "--repo-id", "me/lora"])
    assert hub["create"]["token"] == "hf_from_store" and hub["create"]["private"] is False
    adapter = set(hub["upload"]["allow_patterns"])
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= adapter
    assert "model.safetensors" not in adapter and hub["card"]["library_name"] == "peft"
    output = run_ok(runner, ["push", run, "--repo-id", "me/lora-merged", "--merged"])
    merged = set(hub["upload"]["allow_patterns"])
    assert {"model.safetensors", "config.json", "README.md"} <= merged, output
    assert not {"adapter_config.json", ".toolkit-run"} & merged
    assert hub["card"]["library_name"] == "transformers" and "merged-adapter" in hub["card"]["tags"]
    assert not Path(hub["upload"]["folder_path"]).exists()  # the temporary merge is gone


def test_dry_run_plans_without_network_or_token(trained_runs, tmp_path, runner, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    for method in ("create_repo", "upload_folder"):
        monkeypatch.setattr(HfApi, method, lambda *a, **k: pytest.fail("network call"))
    run = copy_run(trained_runs["qa"], tmp_path)
    output = run_ok(runner, ["push", run, "--repo-id", "me/qa", "--dry-run"])
    assert "repo: me/qa, public" in output and "dry run: nothing uploaded" in output
    assert "  + model.safetensors" in output and "  - training_args.bin" in output


def test_push_fails_cleanly(trained_runs, tmp_path, runner, hub, monkeypatch):
    run = trained_runs["sentiment"]  # every refusal comes before anything is written
    fails_cleanly(runner, ["push", run, "--repo-id", "me/bad--id"], "--repo-id", "me/bad--id")
    fails_cleanly(runner, ["push", tmp_path, "--repo-id", "me/x"], "not a run directory")
    fails_cleanly(runner, ["push", run, "--repo-id", "me/x", "--merged"], "not a peft run")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fails_cleanly(runner, ["push", run, "--repo-id", "me/x"], "offline (HF_HUB_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    fails_cleanly(runner, ["push", run, "--repo-id", "me/x"],
                  "no Hugging Face token: set HF_TOKEN or run `hf auth login`")  # fmt: skip
    monkeypatch.setenv("HF_TOKEN", "hf_x")

    def unreachable(self, repo_id, **kwargs):
        raise httpx2.ConnectError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(HfApi, "create_repo", unreachable)
    copy = copy_run(run, tmp_path)
    fails_cleanly(runner, ["push", copy, "--repo-id", "me/x"], "cannot reach the Hugging Face Hub")


def test_push_regenerates_the_card_with_later_evaluations(trained_runs, tmp_path, runner):
    run = copy_run(trained_runs["sentiment"], tmp_path)
    before = (run / "model" / "README.md").read_text()
    assert "## Robustness" not in before and "`toolkit eval`" not in before
    extra = write_csv(tmp_path / "fresh_reviews.csv", toy_rows(24, seed=9))
    run_ok(runner, ["eval", run, "--data", extra, "--perturb", "drop", "--fairness"])
    run_ok(runner, ["push", run, "--repo-id", "me/tiny", "--dry-run"])
    card = ModelCard.load(run / "model" / "README.md")
    scores = json.loads((run / "eval" / "fresh_reviews.json").read_text())
    assert "`toolkit eval` fresh_reviews: fresh_reviews.csv" in card.text, card.text
    assert f"| accuracy | {scores['accuracy']:.4g} |" in card.text
    assert "## Robustness" in card.text and "| drop |" in card.text
    assert "## Fairness" in card.text
    assert str(tmp_path) not in card.text  # local paths never reach the card
    assert card.data.eval_results[0].dataset_split == "test"
