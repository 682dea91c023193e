"""Prepare the offline Bible corpora (a set-up script, not library code).

Exports two public-domain Bibles with `diatheke` (Debian packages diatheke, sword-text-web and
sword-text-sparv) and writes, into the given folder:
  bible_en.jsonl     one English verse per line: {"ref": "Genesis 1:1", "book": "Genesis",
                     "text": ...}  (WEB)
  bible_en_es.jsonl  verse-aligned pairs: {"ref": ..., "book": ..., "translation": {"en": ...,
                     "es": ...}} (WEB and Reina-Valera 1909), for offline translation recipes

The book lets a recipe hold out whole books (`data.group_column: book`): verses of one book
repeat each other closely, so a random split would leak them from train into test.

Usage: python scripts/prepare_bible.py assets
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

MODULES = {"en": "engWEB2015eb", "es": "spaRV1909eb"}
# The 66 books common to both modules, exported one at a time: the whole-range export drifts
# into the WEB's deuterocanon and glossary, whose markup the plain renderer leaks into verses.
BOOKS = (
    "Genesis Exodus Leviticus Numbers Deuteronomy Joshua Judges Ruth 1Samuel 2Samuel 1Kings "
    "2Kings 1Chronicles 2Chronicles Ezra Nehemiah Esther Job Psalms Proverbs Ecclesiastes "
    "Song Isaiah Jeremiah Lamentations Ezekiel Daniel Hosea Joel Amos Obadiah Jonah Micah Nahum "
    "Habakkuk Zephaniah Haggai Zechariah Malachi Matthew Mark Luke John Acts Romans "
    "1Corinthians 2Corinthians Galatians Ephesians Philippians Colossians 1Thessalonians "
    "2Thessalonians 1Timothy 2Timothy Titus Philemon Hebrews James 1Peter 2Peter 1John 2John "
    "3John Jude Revelation"
).split()
VERSE = re.compile(r"^(?P<ref>\S.*? \d+:\d+): (?P<text>.*)$")
TAG = re.compile(r"<[^>]+>")


def export(module: str) -> dict[str, str]:
    """Verse reference → text for one SWORD module, book by book."""
    verses: dict[str, str] = {}
    for book in BOOKS:
        result = subprocess.run(
            ["diatheke", "-b", module, "-f", "plain", "-k", book],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        verses.update(parse(result.stdout, module))
    if not verses:
        sys.exit(f"diatheke returned no verses for {module}: is sword-text-* installed?")
    return verses


def parse(output: str, module: str) -> dict[str, str]:
    """A verse starts with its reference; poetry continues it on the lines up to a blank one."""
    verses: dict[str, list[str]] = {}
    current = None
    for line in TAG.sub("", output).splitlines():
        match = VERSE.match(line)
        if match:
            current = match["ref"]
            verses[current] = [match["text"]]
        elif not line.strip() or line.strip() == f"({module})":
            current = None  # a blank line ends a verse; what follows (a glossary) is not one
        elif current is not None:
            verses[current].append(line)
    joined = {ref: " ".join(" ".join(parts).split()) for ref, parts in verses.items()}
    return {ref: text for ref, text in joined.items() if text}


def book_of(ref: str) -> str:
    """The reference without its chapter:verse: "1 Samuel 3:4" → "1 Samuel"."""
    return ref.rsplit(" ", 1)[0]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
    print(f"{path}: {len(rows)} rows")


def main(target: str) -> None:
    if shutil.which("diatheke") is None:
        sys.exit("diatheke not found: apt-get install diatheke sword-text-web sword-text-sparv")
    folder = Path(target)
    folder.mkdir(parents=True, exist_ok=True)
    english, spanish = export(MODULES["en"]), export(MODULES["es"])
    verses = [{"ref": r, "book": book_of(r), "text": t} for r, t in english.items()]
    write_jsonl(folder / "bible_en.jsonl", verses)
    pairs = [
        {"ref": ref, "book": book_of(ref), "translation": {"en": text, "es": spanish[ref]}}
        for ref, text in english.items()
        if ref in spanish
    ]
    write_jsonl(folder / "bible_en_es.jsonl", pairs)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "assets")
