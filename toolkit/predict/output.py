"""`toolkit predict --out`: checked before anything loads, then written chunk by chunk to a
staged file beside it (`.NAME.<pid>.partial`) that is renamed into place once every row is in.

An error or Ctrl-C removes the staged file, so OUT is never a partial file: it is either what it
was before (absent, or the file `--overwrite` would replace) or the whole output. The format
follows OUT's suffix; csv and tsv cells holding a list or mapping are written as JSON.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    import pyarrow.parquet as pq

    from toolkit.tasks.base import Batch

SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")


def check_out(out: Path, file: Path, overwrite: bool) -> None:
    """Refuse an --out of unknown format, the input itself, a directory, or an existing file
    (without --overwrite)."""
    if out.suffix.lower() not in SUFFIXES:
        raise ToolkitError(
            f"--out: {out} has an unknown suffix {out.suffix or '(none)'!r}; the output format "
            f"follows it: use one of {', '.join(SUFFIXES)}"
        )
    if same_file(out, file):
        raise ToolkitError(f"--out: {out} is the input file {file}; write the output elsewhere")
    if out.is_dir():
        raise ToolkitError(f"--out: {out} is a directory; name the file to write")
    if out.exists() and not overwrite:
        raise ToolkitError(f"--out: {out} already exists; pass --overwrite to replace it")


def same_file(out: Path, file: Path) -> bool:
    """The same path once resolved (symlinks, `..`), or the same file by another name."""
    if out.expanduser().resolve() == file.expanduser().resolve():
        return True
    try:
        return out.exists() and file.exists() and os.path.samefile(out, file)
    except OSError:
        return False


class LineWriter:
    """csv, tsv, jsonl and json (one array), a chunk of rows at a time."""

    def __init__(self, path: Path, suffix: str):
        self.handle: IO[str] = path.open("w", encoding="utf-8", newline="")
        self.suffix = suffix
        self.table = csv.writer(self.handle, delimiter="\t" if suffix == ".tsv" else ",")
        self.rows = 0

    def write(self, batch: Batch) -> None:
        names = list(batch)
        rows = zip(*(batch[name] for name in names))
        if self.suffix in (".csv", ".tsv"):
            if not self.rows:
                self.table.writerow(names)
            for row in rows:
                self.table.writerow([cell(value) for value in row])
                self.rows += 1
            return
        for row in rows:
            line = json.dumps(dict(zip(names, row)), ensure_ascii=False, default=str)
            lead = "" if self.suffix == ".jsonl" else ("[\n" if not self.rows else ",\n")
            self.handle.write(lead + line + ("\n" if self.suffix == ".jsonl" else ""))
            self.rows += 1

    def close(self) -> None:
        if self.suffix == ".json" and not self.handle.closed:
            self.handle.write("\n]\n" if self.rows else "[]\n")
        self.handle.close()


def cell(value: object) -> object:
    """A csv cell: lists and mappings as JSON, None as empty."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else value


class ParquetWriter:
    """One row group per chunk; the schema is the first chunk's."""

    def __init__(self, path: Path):
        self.path = path
        self.writer: pq.ParquetWriter | None = None

    def write(self, batch: Batch) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.writer is None:
            table = pa.Table.from_pydict(batch)
            self.writer = pq.ParquetWriter(str(self.path), table.schema)
        else:
            table = pa.Table.from_pydict(batch, schema=self.writer.schema.to_arrow_schema())
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


Writer = LineWriter | ParquetWriter


@contextmanager
def staged(out: Path) -> Iterator[Writer]:
    """A writer to a staged file beside `out`, renamed to `out` when the block ends normally;
    removed on an error or an interrupt."""
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    suffix = out.suffix.lower()
    writer = ParquetWriter(temp) if suffix == ".parquet" else LineWriter(temp, suffix)
    try:
        yield writer
        writer.close()
        os.replace(temp, out)
    finally:
        try:
            writer.close()
        finally:
            temp.unlink(missing_ok=True)
