"""`toolkit report`: one self-contained HTML page per run, read back as parsed HTML and as the DOM
a headless chromium builds from it (that part is skipped where chromium is not installed)."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import shutil
import subprocess
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import make_recipe, read_jsonl, toy_pairs, write_jsonl
from typer.testing import CliRunner

from toolkit.cli import app

SECTIONS = ["summary", "metrics", "curves", "confusion", "errors", "samples", "explanation",
            "recipe", "versions"]  # fmt: skip
ROOT = Path(__file__).resolve().parents[1]
PLANTED = '<script>alert("x")</script> & <b>bold</b>'


class Page(HTMLParser):
    """What the tests look at: element ids, the section each <img>, <tr> and text sits in,
    metric rows by (split, metric), and every tag name seen."""

    def __init__(self, html: str):
        super().__init__()
        self.ids, self.tags, self.images, self.metric_rows = set(), set(), [], {}
        self.rows: dict[str, list[list[str]]] = {}
        self.text: dict[str, str] = {}
        self.section = None
        self.row_key, self.cells, self.in_cell = None, None, False
        self.body_attrs: dict = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        self.ids.add(attrs.get("id"))
        if tag == "section":
            self.section = attrs.get("id")
        elif tag == "body":
            self.body_attrs = attrs
        elif tag == "img":
            self.images.append((self.section, attrs.get("id"), attrs.get("src") or ""))
        elif tag == "tr":
            self.cells = []
            self.row_key = (attrs.get("data-split"), attrs.get("data-metric"))
        elif tag == "td":
            self.cells.append("")
            self.in_cell = True

    def handle_endtag(self, tag):
        if tag == "section":
            self.section = None
        elif tag == "td":
            self.in_cell = False
        elif tag == "tr" and self.cells:
            self.rows.setdefault(self.section, []).append(self.cells)
            if self.row_key[0] is not None:
                self.metric_rows[self.row_key] = self.cells
            self.cells = None

    def handle_data(self, data):
        if self.section:
            self.text[self.section] = self.text.get(self.section, "") + data
        if self.in_cell and self.cells:
            self.cells[-1] += data


def png_size(src: str) -> tuple[int, int]:
    from PIL import Image

    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:40]
    data = base64.b64decode(src[len(prefix) :], validate=True)
    image = Image.open(io.BytesIO(data))
    image.verify()  # raises on a truncated or corrupt PNG
    assert image.format == "PNG"
    return image.size


@pytest.fixture(scope="module")
def runs(tiny_models, toy_csv, tmp_path_factory) -> dict[str, Path]:
    """A tiny classification run (BERT) and a tiny translation run (T5), through the CLI."""
    root = tmp_path_factory.mktemp("report-runs")
    data = write_jsonl(root / "pairs.jsonl", toy_pairs(80))
    recipes = {
        "classification": make_recipe(root / "c.yaml", tiny_models["bert"], toy_csv, root / "c"),
        "translation": make_recipe(
            root / "t.yaml", tiny_models["t5"], data, root / "t",
            task={"name": "translation", "source_lang": "en", "target_lang": "es",
                  "max_source_length": 64, "max_target_length": 32,
                  "generation": {"max_new_tokens": 8}},
            train={"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "logging_steps": 2},
        ),
    }  # fmt: skip
    runner = CliRunner()
    for kind, recipe in recipes.items():
        result = runner.invoke(app, ["run", str(recipe)])
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["report", str(root / kind[0])])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"written: {root / kind[0] / 'report.html'}"
    return {kind: root / kind[0] for kind in recipes}


def check_page(page: Page, kind: str) -> None:
    """The checks shared by the parsed file and chromium's DOM."""
    assert set(SECTIONS) <= page.ids
    assert not {"script", "link", "iframe"} & page.tags  # self-contained, nothing to fetch
    assert page.metric_rows[("train", "train_loss")][2]
    for split in ("validation", "test"):
        assert ("test", "samples") in page.metric_rows or kind == "translation"
        wanted = "accuracy" if kind == "classification" else "bleu"
        assert float(page.metric_rows[(split, wanted)][2].split()[0]) >= 0
    for section, _, src in page.images:
        width, height = png_size(src)
        assert width > 100 and height > 100, section
    shown = {(section, image_id) for section, image_id, _ in page.images}
    assert {("curves", "curve-loss"), ("curves", "curve-learning_rate")} <= shown
    assert (("confusion", "confusion-matrix") in shown) == (kind == "classification")
    if kind == "classification":
        assert 1 <= len(page.rows["errors"]) <= 20
        assert "samples" not in page.rows
    else:
        assert 1 <= len(page.rows["samples"]) <= 10
        assert all(len(row) == 3 and row[0] for row in page.rows["samples"])
    assert "output:" in page.text["recipe"] and "transformers" in page.text["versions"]


@pytest.mark.parametrize("kind", ["classification", "translation"])
def test_report_sections_parsed(kind, runs):
    html = (runs[kind] / "report.html").read_text(encoding="utf-8")
    page = Page(html)
    check_page(page, kind)
    assert "http://" not in html and "https://" not in html
    if kind == "classification" and importlib.util.find_spec("toolkit.explain"):
        assert "failed" not in page.text["explanation"] and 'class="toolkit-explain"' in html


def plant(run: Path, into: Path) -> Path:
    """A copy of the run (without its model) with a hostile text among the most confident
    mistakes, a label with markup and a confidence interval on test accuracy."""
    shutil.copytree(run, into, ignore=shutil.ignore_patterns("model", "report.html"))
    predictions = into / "predictions" / "test.jsonl"
    records = read_jsonl(predictions)
    probabilities = {"negative": 0.001, "positive": 0.999}
    records.insert(0, {"text": PLANTED, "label": "<i>odd</i>", "prediction": "positive",
                       "score": 0.999, "probabilities": probabilities})  # fmt: skip
    write_jsonl(predictions, records)
    metrics = json.loads((into / "metrics.json").read_text())
    metrics["test"]["accuracy"] = 0.8125
    metrics["test"]["accuracy_ci"] = [0.7, 0.9]
    for key in [k for k in metrics["validation"] if k.endswith("_ci") or k == "ci"]:
        del metrics["validation"][key]  # and none on validation: shown without brackets
    (into / "metrics.json").write_text(json.dumps(metrics))
    return into


def test_report_escapes_text_and_shows_intervals(runs, tmp_path):
    from toolkit.report.html import write_report

    run = plant(runs["classification"], tmp_path / "planted")
    html = write_report(run).read_text(encoding="utf-8")
    page = Page(html)
    assert "<script" not in html and "<i>odd" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold" in html
    assert "script" not in page.tags and "i" not in page.tags
    assert page.rows["errors"][0][:3] == [PLANTED, "<i>odd</i>", "positive"]  # most confident
    assert page.metric_rows[("test", "accuracy")][2] == "0.8125 [0.7, 0.9]"
    assert "[" not in page.metric_rows[("validation", "accuracy")][2]  # none recorded
    assert ("test", "accuracy_ci") not in page.metric_rows
    assert ("confusion", "confusion-matrix") in {(s, i) for s, i, _ in page.images}

    (run / "log.jsonl").unlink()  # an older or hand-made run: the rest still renders
    page = Page(write_report(run, tmp_path / "other.html").read_text(encoding="utf-8"))
    assert set(SECTIONS) <= page.ids and "no log.jsonl" in page.text["curves"]
    assert not list(run.glob(".*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_report_embeds_an_explanation_when_available(runs, tmp_path, monkeypatch):
    from toolkit.report.html import write_report

    explain = types.ModuleType("toolkit.explain")
    explain.explain_text = lambda run_dir, text, question: {"run": run_dir, "text": text}
    explain.render_html = lambda expl: f'<div id="explained">{len(expl["text"])}</div>'
    monkeypatch.setitem(sys.modules, "toolkit.explain", explain)
    run = runs["classification"]
    page = Page(write_report(run, tmp_path / "r.html").read_text(encoding="utf-8"))
    first = json.loads((run / "predictions" / "test.jsonl").read_text().splitlines()[0])
    assert "explained" in page.ids
    assert page.text["explanation"] == f"Explanation{len(first['text'])}"  # heading + fragment

    explain.render_html = lambda expl: 1 / 0  # a broken add-on costs its slot, not the report
    page = Page(write_report(run, tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "ZeroDivisionError" in page.text["explanation"] and "summary" in page.ids
    page = Page(write_report(run, tmp_path / "r.html", explain=False).read_text())
    assert "not asked for" in page.text["explanation"]


def test_report_bad_input(runs, tmp_path):
    runner = CliRunner()
    empty = tmp_path / "empty"
    empty.mkdir()
    half = tmp_path / "half"
    half.mkdir()
    (half / "recipe.yaml").write_text("model: {name: x}\n")
    broken = tmp_path / "broken"
    shutil.copytree(
        runs["classification"], broken, ignore=shutil.ignore_patterns("model", "*.html")
    )
    (broken / "metrics.json").write_text("{not json")
    cases = [
        ([str(empty)], "not a run directory"),
        ([str(half)], "has no metrics.json"),
        ([str(tmp_path / "missing")], "not a run directory"),
        ([str(half / "recipe.yaml")], "not a run directory"),
        ([str(broken)], "unreadable"),
        ([str(runs["classification"]), "--out", str(tmp_path / "no" / "r.html")], "does not exist"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["report", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and len(result.output.strip().splitlines()) == 1
        assert "Traceback" not in result.output
    assert not list(tmp_path.rglob("*.html")) and not list(tmp_path.rglob(".*.tmp"))


def chromium() -> str | None:
    return next(
        (
            shutil.which(n)
            for n in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(n)
        ),
        None,
    )


@pytest.mark.parametrize("kind", ["classification", "translation"])
def test_report_in_headless_chromium(kind, runs, tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("chromium not installed (`make chromium` installs it as root)")
    html = (runs[kind] / "report.html").read_text(encoding="utf-8")
    # The report has no script; this copy adds one that records, once the page has loaded,
    # the width chromium decoded each picture to (0 for a picture it could not show).
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", (
        '<script>addEventListener("load", () => { document.body.dataset.images = '
        '[...document.images].map(i => i.complete ? i.naturalWidth : 0).join(","); });'
        "</script></body>"
    )), encoding="utf-8")  # fmt: skip
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
               "--dump-dom", probe.as_uri()]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    page = Page(done.stdout)
    page.tags.discard("script")  # the probe's own
    check_page(page, kind)
    widths = [int(w) for w in page.body_attrs.get("data-images", "").split(",") if w]
    assert len(widths) == len(page.images) >= 2 and all(w > 100 for w in widths), widths


# Prediction records as each task writes them; markup in the text must come out escaped.
SYNTHETIC = {  # kind: (the recipe's task section, test predictions)
    "qa": ("{name: qa}", [
        {"question": "who?", "answers": ["Ann"], "prediction": "the Ann", "score": 0.9},
        {"question": "where?", "answers": ["Rome"], "prediction": "Paris", "score": 0.8},
    ]),
    "generation": ("{name: text-generation, mode: prompt-completion}", [
        {"prompt": f"p{i} <b>", "reference": f"r{i}", "generated": f"g{i}"} for i in range(12)
    ]),
    "pretraining": (
        "{name: pretraining}", [{"input": "a <b> c", "target": "b", "predicted": "x"}] * 3
    ),
    "scored": ("{name: pretraining}", [{"id": "a", "score": 0.9}, {"id": "b", "score": 0.1}]),
    "unknown": ("{name: t}", [{"id": "a", "score": 0.9}]),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(SYNTHETIC))
def test_report_other_prediction_layouts(kind, tmp_path):
    """Hand-made run directories (no model, no log): each task's errors or samples."""
    from toolkit.report.html import write_report

    task, records = SYNTHETIC[kind]
    (tmp_path / "recipe.yaml").write_text(f"model: {{name: m}}\ntask: {task}\n")
    (tmp_path / "metrics.json").write_text(json.dumps({"test": {"loss": 1.5, "f1_ci": None}}))
    (tmp_path / "predictions").mkdir()
    write_jsonl(tmp_path / "predictions" / "test.jsonl", records)
    html = write_report(tmp_path, explain=False).read_text(encoding="utf-8")
    page = Page(html)
    assert set(SECTIONS) <= page.ids and "<b>" not in html and not page.images
    if kind == "qa":  # "the Ann" normalises to "ann": only the Paris answer is wrong
        assert page.rows["errors"] == [["where?", "Rome", "Paris"]]
    elif kind == "scored":
        assert [row[0] for row in page.rows["errors"]] == ["b", "a"]  # lowest score first
    elif kind == "unknown":  # a task this toolkit does not know: its sections say so
        assert "no task this toolkit knows" in page.text["errors"] and "errors" not in page.rows
    else:
        assert len(page.rows["samples"]) == min(len(records), 10) and "errors" not in page.rows


def test_report_shows_probe_results_and_recorded_versions(tmp_path):
    from toolkit.report.html import write_report

    (tmp_path / "recipe.yaml").write_text("model: {name: m}\ntask: {name: sentiment}\n")
    versions = {"python": "3.11.7", "torch": "2.13.0+cpu", "transformers": "5.24.0"}
    metrics = {"train": {"versions": versions}, "test": {"accuracy": 0.8}}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "eval").mkdir()
    probes = {
        "accuracy": 0.8,
        "perturb": {"p": 0.15, "seed": 0, "typo": {"rows": 40, "edited": 38, "flip_rate": 0.125}},
        "fairness": {"groups": {"gender": {"pairs": 12, "flip_rate": 0.25, "mean_abs_gap": 0.3,
                                           "signed_gap": 0.1}}},
    }  # fmt: skip
    (tmp_path / "eval" / "test.json").write_text(json.dumps(probes))
    page = Page(write_report(tmp_path, explain=False).read_text(encoding="utf-8"))
    # (an entry without the intervals a newer eval records shows blank interval cells)
    assert ["test", "typo", "38/40", "0.125"] in [row[:4] for row in page.rows["robustness"]]
    assert ["test", "gender", "12", "0.25", "0.3", "0.1"] in [r[:6] for r in page.rows["fairness"]]
    assert ["torch", "2.13.0+cpu"] in page.rows["versions"]
