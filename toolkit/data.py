"""Loading data (local files, saved datasets, hub datasets) and fixing the held-out splits.

The held-out rows of a run are written into the run directory (`splits/<name>.jsonl` plus the
row indices in `splits.json`), so `toolkit eval` scores exactly the rows training never saw.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
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


@dataclass
class Splits:
    """The train/validation/test datasets of a run and where each came from."""

    train: Any
    validation: Any
    test: Any
    record: dict[str, Any]

    def sizes(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in ("train", *HELD_OUT)}


def looks_like_path(spec: str) -> bool:
    return (
        Path(spec).suffix.lower() in FILE_BUILDERS
        or spec.startswith((".", "/", "~"))
        or Path(spec).exists()
    )


def load_table(spec: str, key: str, hub_config: str | None = None) -> Any:
    """Load a file, a saved `datasets` directory or a hub dataset.

    Returns a Dataset, or a DatasetDict when the source has named splits.
    """
    import datasets

    path = Path(spec).expanduser()
    if path.is_dir():
        try:
            return datasets.load_from_disk(str(path))
        except FileNotFoundError:
            raise ToolkitError(f"{key}: {spec!r} is a directory but not a saved dataset") from None
    if looks_like_path(spec):
        if not path.is_file():
            raise ToolkitError(f"{key}: data file {spec!r} not found")
        return load_file(path, key)
    try:
        return datasets.load_dataset(spec, hub_config)
    except Exception as exc:  # the hub raises many types; all mean "cannot get it"
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ToolkitError(
            f"{key}: cannot load hub dataset {spec!r} ({first}); "
            "check the name, or give a local file"
        ) from None


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
            raise ToolkitError(f"{where} row {row}: empty text in column {column!r}")


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
    train, carved = carve(train, [s for s in HELD_OUT if s not in held_out], data)
    held_out.update({name: table for name, (table, _) in carved.items()})
    record.update({name: {"carved_from_train": rows} for name, (_, rows) in carved.items()})
    splits = Splits(train, held_out["validation"], held_out["test"], record)
    for name in ("train", *HELD_OUT):
        require_columns(
            getattr(splits, name), columns, f"data.{name if name != 'train' else 'train'}"
        )
        if len(getattr(splits, name)) == 0:
            raise ToolkitError(f"data: the {name} split is empty")
    return splits


def carve(train: Any, needed: list[str], data: Any) -> tuple[Any, dict[str, tuple[Any, list[int]]]]:
    """Cut the needed held-out splits out of train with the recipe's seed.

    Returns the remaining train set and, per split, (dataset, original row indices).
    """
    import numpy as np

    if not needed:
        return train, {}
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
    return train.select(remaining), carved


def write_held_out(splits: Splits, run_dir: RunDir) -> None:
    """Record the split provenance and the held-out rows themselves in the run directory."""
    for name in HELD_OUT:
        path = run_dir.split_file(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        getattr(splits, name).to_json(str(path), lines=True, force_ascii=False)
    run_dir.splits_record.write_text(json.dumps(splits.record, indent=1) + "\n")
