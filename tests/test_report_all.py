"""`toolkit report` shows every evaluation of a run (eval --data, --perturb, --fairness,
calibration, tuning), several runs side by side, the explained row's gold label; the held-out
scores reach TensorBoard and MLflow; every command's help is readable at 80 columns.

Pages are read back with html.parser, and (where chromium is installed) as the DOM a headless
chromium builds, which also says whether anything is wider than the window."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from conftest import fails_cleanly, run_ok, toy_rows, write_csv
from typer.testing import CliRunner

# One worker builds conftest's trained_runs (session-scoped, so once per xdist worker) for
# every module that takes a trained run.
pytestmark = pytest.mark.xdist_group("trained_runs")

LONG = " ".join(["the acting was superb and the wonderfully directed story"] * 6)
SECTIONS = ("evaluations", "robustness", "fairness", "calibration", "tuning", "explanation")


class Page(HTMLParser):
    """Per <section id>: its table rows (cell texts), its text, its images; the attributes
    of every row and of the elements asked for by id, and the chain of classes around each
    <table>."""

    def __init__(self, html: str):
        super().__init__()
        self.section, self.cells, self.in_cell = None, None, False
        self.rows: dict[str, list[list[str]]] = {}
        self.row_attrs: dict[str, list[dict]] = {}
        self.text: dict[str, str] = {}
        self.images: list[tuple[str, str, str]] = []
        self.classes: list[str] = []  # of the open elements
        self.table_context: list[tuple[str, list[str]]] = []  # (section, classes around it)
        self.bold: dict[str, list[str]] = {}  # section -> texts of <td class="... best">
        self.marked: dict[str, str] = {}  # data-gold / data-predicted -> text
        self.mark, self.best_cell, self.body, self.attrs = None, False, {}, {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in ("img", "meta", "br", "link"):
            self.classes.append(attrs.get("class") or "")
        if tag == "section":
            self.section = attrs.get("id")
        elif tag == "body":
            self.body = attrs
        elif tag == "table":
            self.table_context.append((self.section, list(self.classes[:-1])))
        elif tag == "img":
            self.images.append((self.section, attrs.get("id") or "", attrs.get("src") or ""))
        elif tag == "tr":
            self.cells, self.attrs = [], attrs
        elif tag == "td" and self.cells is not None:
            self.cells.append("")
            self.in_cell, self.best_cell = True, "best" in (attrs.get("class") or "")
        for key in ("data-gold", "data-predicted"):
            if key in attrs:
                self.mark = key
                self.marked[key] = ""

    def handle_endtag(self, tag):
        if tag not in ("img", "meta", "br", "link") and self.classes:
            self.classes.pop()
        if tag == "section":
            self.section = None
        elif tag == "td":
            if self.best_cell:
                self.bold.setdefault(self.section, []).append(self.cells[-1])
            self.in_cell = self.best_cell = False
        elif tag == "tr" and self.cells is not None:
            if self.cells:  # not the header row
                self.rows.setdefault(self.section, []).append(self.cells)
                self.row_attrs.setdefault(self.section, []).append(self.attrs)
            self.cells = None
        elif tag == "b":
            self.mark = None

    def handle_data(self, data):
        if self.section:
            self.text[self.section] = self.text.get(self.section, "") + data
        if self.in_cell and self.cells is not None:
            self.cells[-1] += data
        if self.mark:
            self.marked[self.mark] += data


def shown(value: float) -> str:
    return f"{value:.4g}"


def with_ci(scores: dict, key: str) -> str:
    low, high = scores[f"{key}_ci"]
    return f"{shown(scores[key])} [{low:.4g}, {high:.4g}]"


@pytest.fixture(scope="module")
def evaluated(trained_runs, tmp_path_factory) -> Path:
    """A copy of the sentiment run, evaluated on an extra file, with typo/drop perturbations
    and the fairness probe, calibrated (calibration.json from the real fit), and made the best
    trial of a tune directory written by `toolkit tune`'s own writer."""
    root = tmp_path_factory.mktemp("report-all")
    tune_dir = root / "sweep"
    run = tune_dir / "trial_001"
    shutil.copytree(trained_runs["sentiment"], run)
    records = (run / "predictions" / "test.jsonl").read_text().splitlines()
    first = {**json.loads(records[0]), "text": LONG}  # the row explained: a full 32-token window
    (run / "predictions" / "test.jsonl").write_text("\n".join([json.dumps(first), *records[1:]]))
    runner = CliRunner()
    extra = write_csv(root / "extra reviews.csv", toy_rows(24, seed=9))
    extra.with_name("he_she.csv").write_text(
        "text,label\nhe was great,positive\nshe was awful,negative\nhis film was dull,negative\n"
    )
    run_ok(runner, ["eval", run, "--data", extra])
    run_ok(runner, ["eval", run, "--perturb", "typo,drop", "--perturb-p", "0.3"])
    run_ok(runner, ["eval", run, "--data", extra.with_name("he_she.csv"), "--fairness"])
    write_calibration(run)
    write_tune_dir(tune_dir, run)
    return run


def write_calibration(run: Path) -> None:
    import numpy as np

    from toolkit.evaluation.calibration import fit_record
    from toolkit.rundir import RunDir

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 64)
    logits = rng.normal(size=(64, 2)) * 4 + np.eye(2)[labels] * 2  # over-confident
    RunDir(run).write_calibration({**fit_record(logits, labels), "model": "final"})


def write_tune_dir(tune_dir: Path, best_run: Path) -> None:
    """Three trials (the second the best) through tune/results.py's write_results."""
    import optuna
    from optuna.distributions import FloatDistribution

    from toolkit.tune.results import write_results
    from toolkit.tune.tunedir import TuneDir

    base = yaml.safe_load((best_run / "recipe.yaml").read_text())
    study = optuna.create_study(direction="maximize", study_name="sweep")
    space = {"train.learning_rate": FloatDistribution(1e-4, 1e-2, log=True)}
    for rate, value in ((1e-4, 0.55), (2e-3, 0.9), (8e-3, 0.7)):
        study.add_trial(optuna.trial.create_trial(
            params={"train.learning_rate": rate}, distributions=space, value=value,
        ))  # fmt: skip
    TuneDir(tune_dir).create()
    write_results(study, TuneDir(tune_dir), base, "accuracy", "r.yaml")


@pytest.fixture(scope="module")
def report_page(evaluated) -> tuple[str, Page]:
    run_ok(CliRunner(), ["report", evaluated])
    html = (evaluated / "report.html").read_text(encoding="utf-8")
    return html, Page(html)


def test_report_lists_every_evaluation(evaluated, report_page):
    html, page = report_page
    assert {f'id="{s}"' for s in SECTIONS} <= set(re.findall(r'id="\w+"', html))
    results = {p.stem: json.loads(p.read_text()) for p in (evaluated / "eval").glob("*.json")}
    assert set(results) == {"extra_reviews", "test", "he_she"}
    rows = dict(zip((tuple(a.values()) for a in page.row_attrs["evaluations"]),
                    page.rows["evaluations"]))  # fmt: skip
    for name, result in results.items():
        assert rows[(name, "accuracy")] == ["accuracy", with_ci(result, "accuracy")]
        assert rows[(name, "f1_macro")][1] == with_ci(result, "f1_macro")
        assert result["source"] in page.text["evaluations"]

    perturb = results["test"]["perturb"]
    robust = {row[1]: row for row in page.rows["robustness"]}
    assert set(robust) == {"clean", "typo", "drop"}
    assert robust["clean"][4] == with_ci(results["test"], "accuracy")  # clean: with its interval
    for kind in ("typo", "drop"):
        entry = perturb[kind]
        assert robust[kind][2].startswith(f"{entry['edited']}/{entry['rows']}")
        assert robust[kind][3].startswith(shown(entry["flip_rate"]))  # then its interval
        change = entry["metrics"]["accuracy"] - perturb["clean"]["accuracy"]
        accuracy = robust[kind][4]  # the perturbed accuracy, its interval, the change
        assert accuracy.startswith(shown(entry["metrics"]["accuracy"]))
        assert accuracy.endswith(f"({change:+.3g})")

    groups = results["he_she"]["fairness"]["groups"]
    fair: dict[str, list] = {}
    for row in page.rows["fairness"]:  # the in-data swaps' table first, then the templated one
        fair.setdefault(row[1], row)
    templated = results["he_she"]["fairness"]["templated"]["groups"]
    assert [row[2] for row in page.rows["fairness"][len(groups) :]] == [
        f"{g['pairs']:,}" for g in templated.values()
    ]
    assert set(fair) == set(groups) and groups["gender"]["pairs"] == 3
    assert fair["gender"][2:4] == ["3", "too few pairs to conclude"]  # 3 pairs: no bare number

    record = json.loads((evaluated / "calibration.json").read_text())
    calibration = dict(map(tuple, page.rows["calibration"]))
    assert calibration["temperature"] == shown(record["temperature"])
    validation = record["validation"]
    assert calibration["ECE before → after"] == (
        f"{shown(validation['ece_before'])} → {shown(validation['ece_after'])}"
    )
    assert validation["ece_after"] < validation["ece_before"]  # the fit did something


def test_report_shows_the_tune_it_came_from(evaluated, report_page):
    html, page = report_page
    trials = page.rows["tuning"]
    assert [row[:3] for row in trials] == [["0", "COMPLETE", "0.55"], ["1", "COMPLETE", "0.9"],
                                           ["2", "COMPLETE", "0.7"]]  # fmt: skip
    assert page.bold["tuning"] == ["0.9"]  # the best trial's value
    assert "this run: trial trial_001" in page.text["tuning"]
    assert any(section == "tuning" and src.startswith("data:image/png;base64,")
               for section, _, src in page.images)  # fmt: skip
    # `toolkit report TUNE_DIR`: the best trial's run, written into the tune directory
    out = run_ok(CliRunner(), ["report", evaluated.parent, "--no-explain"])
    assert out.strip() == f"written: {evaluated.parent / 'report.html'}"
    again = Page((evaluated.parent / "report.html").read_text(encoding="utf-8"))
    assert again.rows["evaluations"] == page.rows["evaluations"]


def test_explanation_names_the_gold_label_and_the_map_scrolls(evaluated, report_page, tmp_path):
    html, page = report_page
    first = json.loads((evaluated / "predictions" / "test.jsonl").read_text().splitlines()[0])
    assert page.marked["data-gold"] == first["label"]
    explained = tmp_path / "e.json"
    run_ok(CliRunner(), ["explain", evaluated, LONG, "--method", "gradient-x-input",
                         "--json", explained])  # fmt: skip
    assert page.marked["data-predicted"] == json.loads(explained.read_text())["prediction"]
    assert 'class="toolkit-explain"' in html and "attention" in page.text["explanation"]
    [(_, around)] = [t for t in page.table_context if t[0] == "explanation"]
    assert "scroll" in around  # the attention table sits in the scrolling box
    css = re.search(r"\.scroll\{([^}]*)\}", html).group(1)
    assert "max-width:100%" in css and "overflow:auto" in css


def test_report_of_several_runs(trained_runs, tmp_path, runner):
    runs = [trained_runs["sentiment"], trained_runs["lora"], trained_runs["sentiment_gpt2"]]
    out = tmp_path / "side.html"
    assert run_ok(runner, ["report", *runs, "--out", out]).strip() == f"written: {out}"
    html = out.read_text(encoding="utf-8")
    page = Page(html)
    metrics = [json.loads((run / "metrics.json").read_text()) for run in runs]
    rows = {(a["data-split"], a["data-metric"]): cells for a, cells in
            zip(page.row_attrs["metrics"], page.rows["metrics"])}  # fmt: skip
    for split in ("validation", "test"):
        cells = rows[(split, "accuracy")]
        assert cells[2:] == [with_ci(m[split], "accuracy") for m in metrics]
        values = [m[split]["accuracy"] for m in metrics]
        if len(set(values)) == len(values):  # the best in bold, the others not
            marked = [with_ci(m[split], "accuracy") in page.bold["metrics"] for m in metrics]
            assert marked == [v == max(values) for v in values]
    ece = [m["test"]["ece"] for m in metrics]
    if len(set(ece)) == len(ece):  # lower is better for a calibration error
        marked = [with_ci(m["test"], "ece") in page.bold["metrics"] for m in metrics]
        assert marked == [v == min(ece) for v in ece]
    assert page.rows["summary"][0][1:] == [str(run) for run in runs]
    overlays = {image_id for section, image_id, _ in page.images if section == "curves"}
    assert {"overlay-loss", "overlay-eval_loss"} <= overlays
    browser_checks(out, tmp_path, images=len(page.images))


def test_bad_multi_run_input_is_refused(trained_runs, tmp_path, runner):
    stray = tmp_path / "notes"
    stray.mkdir()
    (stray / "a.txt").write_text("mine")
    sentiment, translation = trained_runs["sentiment"], trained_runs["translation"]
    out = tmp_path / "x.html"
    fails_cleanly(runner, ["report", sentiment, stray, "--out", out], str(stray),
                  "not a run directory", lines=1, absent=[out])  # fmt: skip
    fails_cleanly(runner, ["report", sentiment, translation, "--out", out],
                  "different tasks", "translation", lines=1, absent=[out])  # fmt: skip
    fails_cleanly(runner, ["report", sentiment, sentiment, "--out", out], "given twice",
                  lines=1, absent=[out])  # fmt: skip
    fails_cleanly(runner, ["report", sentiment, trained_runs["lora"], "--out",
                           tmp_path / "none" / "x.html"], "--out", lines=1)  # fmt: skip
    from toolkit.tune.tunedir import TuneDir

    TuneDir(tmp_path / "sweep").create()  # a tune whose trials never completed
    fails_cleanly(runner, ["report", tmp_path / "sweep"], "no best trial", lines=1,
                  absent=[tmp_path / "sweep" / "report.html"])  # fmt: skip


def test_held_out_scores_reach_tensorboard_and_mlflow(trained_runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = trained_runs["sentiment"]
    metrics = json.loads((run / "metrics.json").read_text())
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert "train/loss" in tags  # the curves are in the same log
    for split in ("validation", "test"):
        for key in ("accuracy", "f1_macro", "ece"):
            [scalar] = events.Scalars(f"{split}/{key}")
            assert scalar.value == pytest.approx(metrics[split][key], abs=1e-6)
            assert scalar.step == metrics["train"]["global_step"]
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    client = MlflowClient((run.parent / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("toolkit")
    [found] = client.search_runs([experiment.experiment_id], f"tags.mlflow.runName = '{run.name}'")
    assert found.data.metrics["test/accuracy"] == pytest.approx(metrics["test"]["accuracy"])


def test_every_option_of_every_command_is_readable_at_80_columns():
    from typer.main import get_command

    from toolkit.cli import app

    group = get_command(app)
    runner = CliRunner()
    env = {"COLUMNS": "80", "TERMINAL_WIDTH": "80"}
    top = runner.invoke(app, ["--help"], env=env).output
    for name, command in group.commands.items():
        assert re.search(rf"^\s+{re.escape(name)}\s", top, re.MULTILINE), name
        result = runner.invoke(app, [name, "--help"], env=env)
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert max(map(len, lines)) <= 80, name
        options = [p for p in command.params if not getattr(p, "hidden", False)]
        for option in (o for p in options for o in (*p.opts, *p.secondary_opts)):
            if option.startswith("-"):  # a whole word, never cut: `--accelerate-conf…`
                pattern = rf"(?<![\w-]){re.escape(option)}(?![\w…-])"
                assert any(re.search(pattern, line) for line in lines), (name, option)


# --- headless chromium ------------------------------------------------------------------------

PROBE = (  # run once the page has loaded: decoded image widths, and whether anything overflows
    '<script>addEventListener("load", () => { const b = document.body;'
    ' b.dataset.images = [...document.images].map(i => i.complete ? i.naturalWidth : 0).join(",");'
    " b.dataset.overflow = document.documentElement.scrollWidth - window.innerWidth;"
    " b.dataset.scrolls = [...document.querySelectorAll('.scroll')]"
    ".map(e => e.scrollWidth - e.clientWidth).join(','); });</script></body>"
)


def browser_checks(page_file: Path, tmp_path: Path, images: int, width: int = 900) -> Page:
    """The page as chromium's DOM in a window `width` pixels wide: every image decoded, nothing
    wider than the window (skipped where chromium is not installed). Returns the DOM."""
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(n)), None)  # fmt: skip
    if browser is None:
        pytest.skip("chromium not installed (`make chromium` installs it as root)")
    probe = tmp_path / f"probe-{page_file.name}"
    probe.write_text(page_file.read_text(encoding="utf-8").replace("</body>", PROBE))
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={width},700",
               "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = Page(done.stdout)
    widths = [int(w) for w in dom.body.get("data-images", "").split(",") if w]
    assert len(widths) == images and all(w > 100 for w in widths), widths
    assert int(dom.body["data-overflow"]) <= 0, dom.body["data-overflow"]
    return dom


def test_report_with_attention_map_fits_the_window_in_chromium(evaluated, report_page, tmp_path):
    """At 500 px the attention map is wider than the page: it scrolls inside its own box."""
    html, page = report_page
    dom = browser_checks(evaluated / "report.html", tmp_path, len(page.images), width=500)
    assert max(int(w) for w in dom.body["data-scrolls"].split(",")) > 100
