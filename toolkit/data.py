"""Loading data (local files, saved datasets, hub datasets) and fixing the held-out splits.

The held-out rows of a run are written into the run directory (`splits/<name>.jsonl` plus the
row indices in `splits.json`), so `toolkit eval` scores exactly the rows training never saw.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from toolkit.rundir import RunDir

FILE_BUILDERS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
}
HELD_OUT = ("validation", "test")
LINE_OFFSET = {".jsonl": 1, ".csv": 2, ".tsv": 2}  # row index + this = the file's line number


class Where(str):
    """A split's name in messages (`data.train`) that also knows where its rows came from: the
    local file (None for a hub or saved dataset), each row's index there when the split was
    carved or cut from it (`rows`), and the key that file came from (`origin`)."""

    file: str | None
    rows: list[int] | None
    origin: str | None

    def __new__(cls, text: str, file: str | None = None, rows=None, origin: str | None = None):
        self = super().__new__(cls, text)
        self.file, self.rows, self.origin = file, rows, origin
        return self


def row_place(where: str, index: int) -> tuple[str | None, str, int]:
    """(file, "line" or "row", number) for row `index` (0-based, of the table being checked) as
    the user counts it: the line of a jsonl/csv/tsv file, else the 1-based row; a carved row is
    numbered in the file or split it was carved from."""
    file = getattr(where, "file", None) or (where if Path(where).suffix in LINE_OFFSET else None)
    rows = getattr(where, "rows", None)
    original = rows[index] if rows is not None and 0 <= index < len(rows) else index
    offset = LINE_OFFSET.get(Path(file).suffix.lower()) if file else None
    if offset is not None:
        return file, "line", original + offset
    return (getattr(where, "origin", None) if rows is not None else None), "row", original + 1


def where_row(where: str, index: int) -> str:
    """`where` plus row `index` as the user counts it (see `row_place`), for messages:
    `data.train (train.jsonl line 7)`, `train.csv line 3`, `data.test row 4`."""
    file, unit, number = row_place(where, index)
    if file is None:
        return f"{where} {unit} {number}"
    return f"{where} {unit} {number}" if file in str(where) else f"{where} ({file} {unit} {number})"


def where_rows(where: str, indices: list[int], shown: int) -> str:
    """Several rows the same way: `lines 3, 9, ... of train.jsonl`, `rows 1, 4`."""
    file, unit, _ = row_place(where, indices[0])
    numbers = ", ".join(str(row_place(where, i)[2]) for i in indices[:shown])
    more = ", ..." if len(indices) > shown else ""
    return f"{unit}s {numbers}{more}" + (f" of {file}" if file and file not in str(where) else "")


@dataclass
class Splits:
    """The train/validation/test datasets of a run and where each came from."""

    train: Any
    validation: Any
    test: Any
    record: dict[str, Any]
    origins: dict[str, Where] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in ("train", *HELD_OUT)}

    def where(self, name: str) -> Where:
        """`data.<name>`, knowing its source file and row indices (for `where_row`)."""
        return self.origins.get(name) or Where(f"data.{name}")

    def keep_rows(self, name: str, kept: list[int]) -> None:
        """Keep only rows `kept` of split `name`; its Where keeps numbering them as before."""
        where = self.where(name)
        rows = [where.rows[i] for i in kept] if where.rows is not None else kept
        setattr(self, name, getattr(self, name).select(kept))
        self.origins[name] = Where(str(where), where.file, rows, where.origin or str(where))


def looks_like_path(spec: str) -> bool:
    return (
        Path(spec).suffix.lower() in FILE_BUILDERS
        or spec.startswith((".", "/", "~"))
        or exists(Path(spec))
    )


def exists(path: Path, kind: str = "any") -> bool:
    """`path.exists()` (or is_dir/is_file), False for a name the OS refuses (too long, NUL)."""
    try:
        return {"any": path.exists, "dir": path.is_dir, "file": path.is_file}[kind]()
    except (OSError, ValueError):
        return False


def load_table(spec: str, key: str, hub_config: str | None = None) -> Any:
    """Load a file, a saved `datasets` directory or a hub dataset.

    Returns a Dataset, or a DatasetDict when the source has named splits.
    """
    import datasets

    path = Path(spec).expanduser()
    if exists(path, "dir"):
        return load_saved(path, spec, key)
    if looks_like_path(spec) or ("/" in spec and exists(path.parent, "dir")):
        if not exists(path, "file"):
            raise ToolkitError(f"{key}: data file {spec!r} not found")
        return load_file(path, key)
    try:
        return datasets.load_dataset(spec, hub_config)
    except Exception as exc:  # the hub raises many types; all mean "cannot get it"
        first = first_line(exc, 160)
        if spec.count("/") > 1 or "\\" in spec or Path(spec).suffix:  # no hub id looks so
            raise ToolkitError(
                f"{key}: no file or directory {spec!r} here, and no hub dataset of that name "
                f"either ({first})"
            ) from None
        raise ToolkitError(
            f"{key}: cannot load hub dataset {spec!r} ({first}); "
            "check the name, or give a local file (there is none of that name here)"
        ) from None


def load_saved(path: Path, spec: str, key: str) -> Any:
    """A directory written by `save_to_disk`; a directory that is not one (or a broken one:
    corrupt dataset_info.json or state.json, missing arrow files) is refused in one line."""
    import datasets

    try:
        return datasets.load_from_disk(str(path))
    except FileNotFoundError as exc:
        if "neither a" in str(exc) or "is not a" in str(exc):
            raise ToolkitError(f"{key}: {spec!r} is a directory but not a saved dataset") from None
        problem = first_line(exc, 160)
    except Exception as exc:  # json, arrow and key errors: all mean "broken"
        problem = first_line(exc, 160)
    raise ToolkitError(f"{key}: {spec!r} looks like a saved dataset but is broken ({problem})")


def first_line(exc: BaseException, limit: int) -> str:
    """The first line of an exception's message (its type when it has none), cut to `limit`."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def load_file(path: Path, key: str) -> Any:
    import datasets

    builder = FILE_BUILDERS.get(path.suffix.lower())
    if builder is None:
        known = ", ".join(FILE_BUILDERS)
        raise ToolkitError(f"{key}: {path} has an unsupported extension (use one of {known})")
    options: dict[str, Any] = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
    try:
        table = datasets.load_dataset(builder, data_files=str(path), split="train", **options)
    except Exception as exc:
        if "corresponds to no data" in str(exc) or path.stat().st_size == 0:
            raise ToolkitError(f"{key}: {path} holds no rows") from None
        cause = exc.__cause__ or exc
        first = (
            str(cause).strip().splitlines()[0][:200] if str(cause).strip() else type(cause).__name__
        )
        raise ToolkitError(f"{key}: cannot parse {path} as {builder} ({first})") from None
    if len(table) == 0:
        raise ToolkitError(f"{key}: {path} holds no rows")
    return table


def fingerprint(path: str) -> str | None:
    """sha256 of a local data file (recorded with the splits), None for other sources."""
    file = Path(path)
    if not file.is_file():
        return None
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require_columns(table: Any, columns: list[str], where: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        present = ", ".join(table.column_names)
        raise ToolkitError(f"{where}: column {missing[0]!r} not found (columns present: {present})")


def require_text(table: Any, column: str, where: str) -> None:
    """Refuse null or blank inputs with the row number, rather than training on them silently."""
    for row, value in enumerate(table[column]):
        if value is None or not str(value).strip():
            raise ToolkitError(f"{where_row(where, row)}: empty text in column {column!r}")


def build_splits(data: Any, columns: list[str]) -> Splits:
    """Train, validation and test per the recipe's data section, carving missing held-out splits.

    Args:
        data: the recipe's DataSection.
        columns: columns every split must have.
    """
    source = load_table(data.train, "data.train", data.hub_config)
    named = dict(source) if hasattr(source, "keys") else {"train": source}
    if "train" not in named:
        raise ToolkitError(
            f"data.train: {data.train!r} has no 'train' split (it has {', '.join(named)})"
        )
    train = named["train"]
    record: dict[str, Any] = {
        "source": data.train,
        "sha256": fingerprint(data.train),
        "seed": data.split_seed,
        **({"group_column": data.group_column} if data.group_column else {}),
    }
    held_out = {}
    for split in HELD_OUT:
        given = getattr(data, split)
        if given is not None:
            held_out[split] = load_table(given, f"data.{split}", data.hub_config)
            record[split] = {"file": given, "sha256": fingerprint(given)}
        elif split in named:
            held_out[split] = named[split]
            record[split] = {"source_split": split}
    train, carved, remaining = carve(train, [s for s in HELD_OUT if s not in held_out], data)
    held_out.update({name: table for name, (table, _) in carved.items()})
    record.update({name: {"carved_from_train": rows} for name, (_, rows) in carved.items()})
    splits = Splits(train, held_out["validation"], held_out["test"], record)
    splits.origins = origins(data, carved, remaining)
    for name in ("train", *HELD_OUT):
        require_columns(
            getattr(splits, name), columns, f"data.{name if name != 'train' else 'train'}"
        )
        if len(getattr(splits, name)) == 0:
            raise ToolkitError(f"data: the {name} split is empty")
    return splits


def origins(data: Any, carved: dict, remaining: list[int] | None) -> dict[str, Where]:
    """Each split's Where: its local file, and for carved rows their index in data.train."""

    def local(spec: str | None) -> str | None:
        return spec if spec is not None and Path(spec).expanduser().is_file() else None

    found = {"train": Where("data.train", local(data.train), remaining, "data.train")}
    for name in HELD_OUT:
        if name in carved:
            found[name] = Where(f"data.{name}", local(data.train), carved[name][1], "data.train")
        else:
            found[name] = Where(f"data.{name}", local(getattr(data, name)))
    return found


def carve(train: Any, needed: list[str], data: Any) -> tuple[Any, dict, list[int] | None]:
    """Cut the needed held-out splits out of train with the recipe's seed.

    Returns the remaining train set, per split (dataset, original row indices), and the original
    row indices of the remaining train rows (None when nothing was carved).
    """
    import numpy as np

    if not needed:
        return train, {}, None
    if getattr(data, "group_column", None):
        from toolkit.group_split import carve_groups

        return carve_groups(train, needed, data)
    order = np.random.default_rng(data.split_seed).permutation(len(train))
    sizes = {name: int(round(getattr(data, f"{name}_size") * len(train))) for name in needed}
    if len(train) - sum(sizes.values()) < 1 or min(sizes.values()) < 1:
        raise ToolkitError(
            f"data.train: {len(train)} rows are too few to carve out {', '.join(needed)} "
            "(give held-out files, or more rows)"
        )
    carved, start = {}, 0
    for name in needed:
        rows = sorted(int(i) for i in order[start : start + sizes[name]])
        carved[name] = (train.select(rows), rows)
        start += sizes[name]
    remaining = sorted(int(i) for i in order[start:])
    return train.select(remaining), carved, remaining


def write_held_out(splits: Splits, run_dir: RunDir) -> None:
    """Record the split provenance and the held-out rows themselves in the run directory."""
    for name in HELD_OUT:
        path = run_dir.split_file(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        getattr(splits, name).to_json(str(path), lines=True, force_ascii=False)
    run_dir.splits_record.write_text(json.dumps(splits.record, indent=1) + "\n")
