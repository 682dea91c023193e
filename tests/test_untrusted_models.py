"""Checkpoints that are not what they seem, through the CLI: custom model code (an auto_map) is
refused unless the recipe trusts it, and never prompted about; pickle, safetensors, JSON and
tokenizer files that cannot be read, missing weights, and a model.name that is not there all end
in one `error:` line naming the file or key, exit 2, with nothing written."""

from __future__ import annotations

import builtins
import hashlib
import json
import pickle
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import fails_cleanly, make_recipe, run_ok, write_jsonl

# A custom module that, imported, leaves a marker: it must never be imported untrusted.
EVIL = """
from pathlib import Path
Path({marker!r}).write_text("custom code ran")
from transformers import BertConfig, BertModel
class EvilConfig(BertConfig):
    model_type = "evil"
class EvilModel(BertModel):
    config_class = EvilConfig
"""
TRUST_KEY = "model.trust_remote_code: true"
STEP_KEY = "--step trust_remote_code=true"


class Payload:
    """Unpickled without weights_only, this would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def copy_model(source: Path, where: Path) -> Path:
    shutil.copytree(source, where)
    return where


def digest(folder: Path) -> dict[str, str]:
    """Every file's content hash: the input must come through untouched."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def add_custom_code(folder: Path, marker: Path, file: str = "config.json") -> None:
    (folder / "evil.py").write_text(EVIL.format(marker=str(marker)))
    data = json.loads((folder / file).read_text())
    if file == "config.json":
        data["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}
    else:
        data["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    (folder / file).write_text(json.dumps(data))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_models, toy_csv) -> Path:
    """A finished run of the tiny BERT, copied by each test that damages it."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("trained")
    recipe = make_recipe(root / "r.yaml", tiny_models["bert"], toy_csv, root / "run")
    run_ok(CliRunner(), ["run", recipe])
    return root / "run"


def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


# --- 1. custom model code ------------------------------------------------------------------


@pytest.mark.parametrize("file", ["config.json", "tokenizer_config.json"])
def test_custom_code_is_refused_before_transformers_sees_it(
    runner, tmp_path, tiny_models, toy_csv, file
):
    marker = tmp_path / "MARKER"
    model = copy_model(tiny_models["bert"], tmp_path / "custom")
    add_custom_code(model, marker, file)
    before = digest(model)
    out = tmp_path / "out"
    recipe = make_recipe(tmp_path / "r.yaml", model, toy_csv, out)
    for command in (["run", recipe], ["run", recipe, "--dry-run"], ["validate", recipe]):
        output = fails_cleanly(
            runner, command, TRUST_KEY, f"{file} auto_map", "custom", absent=[marker, out]
        )
        assert "[y/N]" not in output and "Do you wish" not in output
    assert digest(model) == before


def test_eval_and_explain_refuse_custom_code_the_run_did_not_trust(runner, tmp_path, trained_run):
    run, marker = run_copy(trained_run, tmp_path), tmp_path / "MARKER"
    add_custom_code(run / "model", marker)
    before = digest(run)
    fails_cleanly(runner, ["eval", run], TRUST_KEY, "config.json auto_map", absent=[marker])
    fails_cleanly(runner, ["explain", run, "a good film"], TRUST_KEY, absent=[marker])
    assert digest(run) == before


def record_trust(monkeypatch) -> list[tuple[str, object]]:
    """Every from_pretrained call of the classes the toolkit uses, with its trust_remote_code
    ('absent' when not passed); the real method still runs."""
    import transformers

    calls: list[tuple[str, object]] = []
    names = ("AutoConfig", "AutoTokenizer", "AutoModelForSequenceClassification",
             "AutoModelForMaskedLM", "AutoModel")  # fmt: skip
    for name in names:
        cls = getattr(transformers, name)
        original = cls.from_pretrained

        def wrapper(*args, _name=name, _original=original, **kwargs):
            calls.append((_name, kwargs.get("trust_remote_code", "absent")))
            return _original(*args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", wrapper)
    return calls


@pytest.mark.parametrize("trust", [False, True])
def test_trust_remote_code_is_passed_explicitly_to_every_load(
    runner, tmp_path, tiny_models, toy_csv, monkeypatch, trust
):
    calls = record_trust(monkeypatch)
    out = tmp_path / "run"
    model = {"name": str(tiny_models["bert"]), "trust_remote_code": trust}
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, out, model=model)
    run_ok(runner, ["run", recipe])
    assert yaml.safe_load((out / "recipe.yaml").read_text())["model"]["trust_remote_code"] is trust
    run_ok(runner, ["eval", out])  # eval and explain read trust from the run's recipe
    run_ok(runner, ["explain", out, "a good film"])
    assert {name for name, _ in calls} >= {"AutoConfig", "AutoTokenizer"}
    assert {value for _, value in calls} == {trust}, calls


def test_augment_models_take_the_step_key(runner, tmp_path, tiny_models, trained_run, monkeypatch):
    marker = tmp_path / "MARKER"
    model = copy_model(tiny_models["bert"], tmp_path / "custom")
    add_custom_code(model, marker)
    rows = [{"text": "a good film with a great cast", "label": "positive"}] * 2
    source = write_jsonl(tmp_path / "train.jsonl", rows)
    out = tmp_path / "out.jsonl"
    base = ["augment", source, "--out", out]
    contextual = ["--method", "contextual", "--step", f"model={model}"]
    fails_cleanly(runner, [*base, *contextual], "contextual model", STEP_KEY, "auto_map",
                  absent=[marker, out])  # fmt: skip
    neural = ["--method", "back_translation", "--step", "engine=neural", "--step",
              "backend=transformers", "--step", f"forward_model={model}", "--step",
              f"backward_model={model}"]  # fmt: skip
    fails_cleanly(runner, [*base, *neural], "back_translation.forward_model", STEP_KEY,
                  absent=[marker, out])  # fmt: skip
    typo = ["--method", "typo", "--label-column", "label", "--step", "p=0.5"]
    fails_cleanly(runner, [*base, *typo, "--step", f"filter_model={model}"], "filter_model",
                  STEP_KEY, absent=[marker, out])  # fmt: skip
    calls = record_trust(monkeypatch)
    trusted = ["--step", f"filter_model={trained_run}", "--step", "trust_remote_code=true"]
    run_ok(runner, [*base, *typo, *trusted])
    assert calls and {value for _, value in calls} == {True}, calls


# --- 2. pickle checkpoints -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["garbage", "payload", "empty"])
def test_bad_pickle_checkpoint_at_run(runner, tmp_path, tiny_models, toy_csv, kind):
    marker = tmp_path / "MARKER"
    model = copy_model(tiny_models["bert"], tmp_path / "model")
    (model / "model.safetensors").unlink()
    data = {"garbage": b"not a pickle" * 20, "payload": pickle.dumps(Payload(marker)), "empty": b""}
    data = data[kind]
    (model / "pytorch_model.bin").write_bytes(data)
    out = tmp_path / "out"
    recipe = make_recipe(tmp_path / "r.yaml", model, toy_csv, out)
    fails_cleanly(
        runner, ["run", recipe], f"{model / 'pytorch_model.bin'}: cannot load the weights",
        "nothing in it ran", "safetensors", "is preferred", absent=[marker, out],
    )  # fmt: skip


def test_bad_pickle_checkpoint_at_eval(runner, tmp_path, trained_run):
    run, marker = run_copy(trained_run, tmp_path), tmp_path / "MARKER"
    (run / "model" / "model.safetensors").unlink()
    (run / "model" / "pytorch_model.bin").write_bytes(pickle.dumps(Payload(marker)))
    before = digest(run)
    fails_cleanly(
        runner, ["eval", run], "pytorch_model.bin: cannot load the weights", "safetensors",
        absent=[marker, run / "eval"],
    )  # fmt: skip
    assert digest(run) == before


# --- 3. broken weights, config and tokenizer files ---------------------------------------------


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGES = {
    "truncated safetensors": ("model.safetensors", truncate, "not a readable safetensors file"),
    "empty safetensors": (
        "model.safetensors", lambda p: p.write_bytes(b""), "not a readable safetensors file"
    ),
    "no weights": ("model.safetensors", Path.unlink, "no weights file (model.safetensors"),
    "config not json": ("config.json", lambda p: p.write_text("{oops"), "not valid JSON"),
    "config binary": ("config.json", lambda p: p.write_bytes(b"\xff\xfe\x00"), "not a text file"),
    "config a list": ("config.json", lambda p: p.write_text("[1]"), "not a JSON object"),
    "tokenizer not json": ("tokenizer.json", lambda p: p.write_text("{oops"), "not valid JSON"),
    "tokenizer wrong shape": (
        "tokenizer.json", lambda p: p.write_text('{"a": 1}'), "cannot load the tokenizer"
    ),
}  # fmt: skip


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_broken_model_files_at_run(runner, tmp_path, tiny_models, toy_csv, damage):
    file, spoil, expected = DAMAGES[damage]
    model = copy_model(tiny_models["bert"], tmp_path / "model")
    spoil(model / file)
    out = tmp_path / "out"
    recipe = make_recipe(tmp_path / "r.yaml", model, toy_csv, out)
    named = str(model / file) if "tokenizer" not in expected else "'" + str(model)
    if damage == "no weights":
        named = str(model)
    fails_cleanly(runner, ["run", recipe], named, expected, absent=[out])


@pytest.mark.parametrize("damage", ["truncated safetensors", "no weights", "config not json",
                                    "tokenizer not json"])  # fmt: skip
def test_broken_model_files_at_eval(runner, tmp_path, trained_run, damage):
    file, spoil, expected = DAMAGES[damage]
    run = run_copy(trained_run, tmp_path)
    spoil(run / "model" / file)
    before = digest(run)
    named = str(run / "model") if damage == "no weights" else str(run / "model" / file)
    fails_cleanly(runner, ["eval", run], named, expected, absent=[run / "eval"])
    assert digest(run) == before


# --- 4. a model.name that is not there -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("./models/bert", ["'./models/bert' not found (no such directory"]),
        ("models/a/bert", ["'models/a/bert' not found (no such directory"]),
        ("models/bert", ["'models/bert' not found locally", "as a hub id it could not be loaded"]),
        ("no-such-model", ["not found locally", "as a hub id it could not be loaded either"]),
    ],
)
def test_missing_model_name_says_so_before_the_hub(
    runner, tmp_path, toy_csv, monkeypatch, name, expected
):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    recipe = make_recipe(tmp_path / "r.yaml", name, toy_csv, out)
    output = fails_cleanly(runner, ["run", recipe], "model.name", *expected, absent=[out])
    assert str(tmp_path / name.removeprefix("./")) in output


def test_a_file_as_model_name(runner, tmp_path, tiny_models, toy_csv):
    weights = tiny_models["bert"] / "model.safetensors"
    recipe = make_recipe(tmp_path / "r.yaml", weights, toy_csv, tmp_path / "out")
    fails_cleanly(runner, ["run", recipe], "is a file; give the checkpoint's directory")


def test_a_lora_run_trusted_at_training_is_trusted_at_merge(
    runner, tmp_path, tiny_models, toy_csv, monkeypatch
):
    model = {"name": str(tiny_models["bert"]), "trust_remote_code": True}
    peft = {"r": 4, "alpha": 8, "dropout": 0.0}
    out = tmp_path / "run"
    recipe = make_recipe(
        tmp_path / "r.yaml", tiny_models["bert"], toy_csv, out, model=model, peft=peft
    )
    run_ok(runner, ["run", recipe])
    calls = record_trust(monkeypatch)
    run_ok(runner, ["eval", out])
    run_ok(runner, ["merge", out])
    assert (out / "merged" / "model.safetensors").is_file()
    assert calls and {value for _, value in calls} == {True}, calls


def test_a_corrupt_adapter_is_named_at_eval(runner, tmp_path, tiny_models, toy_csv):
    peft = {"r": 4, "alpha": 8, "dropout": 0.0}
    out = tmp_path / "run"
    run_ok(runner, ["run", make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, out,
                                       peft=peft)])  # fmt: skip
    truncate(out / "model" / "adapter_model.safetensors")
    fails_cleanly(runner, ["eval", out], "adapter_model.safetensors: not a readable safetensors")


@pytest.mark.parametrize("model_type", ["evil", "bert"])
def test_a_hub_checkpoint_with_custom_code_is_refused(tmp_path, tiny_models, toy_csv, model_type):
    """A hub id: transformers reads config.json (trust_remote_code=False, so nothing can run);
    with an unknown model_type it refuses itself, with a known one the toolkit refuses."""
    import os
    import subprocess
    import sys

    from test_sources import hub_cache

    marker = tmp_path / "MARKER"
    model = copy_model(tiny_models["bert"], tmp_path / "custom")
    add_custom_code(model, marker)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "model_type": model_type}))
    hub_cache(tmp_path / "hf", "toolkit-tests/custom", model)
    out = tmp_path / "out"
    recipe = make_recipe(tmp_path / "r.yaml", "toolkit-tests/custom", toy_csv, out)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "toolkit", "run", str(recipe)], env=env, input="",
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "[y/N]" not in result.stderr
    assert result.stderr.strip().startswith("error: model.name: 'toolkit-tests/custom'")
    assert TRUST_KEY in result.stderr and len(result.stderr.strip().splitlines()) <= 2
    assert not marker.exists() and not out.exists()
