"""The published warehouse: hive-partitioned Parquet, written atomically, read lazily.

Layout: ``<root>/<table>/year=YYYY/month=MM/part-0.parquet`` (zstd), partitioned by the date
each row is about. A partition is rewritten only when its rows changed (a content hash kept in
the file's key-value metadata says so), by writing aside and renaming over the old file, so a
reader sees either the old partition or the new one, never half of one. ``<root>/_state.json``
records the event-log watermark the warehouse reflects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from lossledger._files import make_readable
from lossledger.projection import TABLES, WarehouseTables
from schemas.tables import table_schema

__all__ = [
    "PublishResult",
    "WarehouseState",
    "publish_tables",
    "read_state",
    "scan",
]

STATE_FILE = "_state.json"
PART_FILE = "part-0.parquet"
_HASH_KEY = b"lossledger.content_sha256"

#: The date a row of each table is filed under.
PARTITION_DATE: dict[str, pl.Expr] = {
    "reports": pl.coalesce("report_date", pl.col("received_at").dt.date()),
    "observations": pl.col("date"),
    "daily_totals": pl.col("date"),
    "discrepancies": pl.col("date"),
    # Filed under the day the report arrived, never a date read from it: an undated or
    # absurdly dated input (year 4760) must not create partitions of its own.
    "quarantine": pl.col("received_at").dt.date(),
}


@dataclass(frozen=True, slots=True)
class WarehouseState:
    """What a published warehouse reflects."""

    watermark: int
    published_at: str
    rows: dict[str, int] = field(default_factory=dict)
    parsers: str | None = None
    """Fingerprint of the parsers that made the published rows."""


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What a publish changed on disk."""

    written: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int
    watermark: int

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


def read_state(root: Path) -> WarehouseState | None:
    """The state of the warehouse at ``root``, or ``None`` when nothing was published."""
    path = Path(root) / STATE_FILE
    if not path.exists():
        return None
    return WarehouseState(**json.loads(path.read_text()))


def publish_tables(
    tables: WarehouseTables, root: Path, *, watermark: int, parsers: str | None = None
) -> PublishResult:
    """Write every table's changed partitions under ``root`` and record the watermark.

    Unchanged partitions are left untouched (same bytes, same mtime); partitions that no longer
    have rows are removed. Every changed partition is first written aside; only when all of
    them are on disk are they renamed into place, so a failure (a full or read-only disk)
    leaves the warehouse as it was.
    """
    root = Path(root)
    staged: list[tuple[Path, Path]] = []
    stale: list[Path] = []
    unchanged = 0
    try:
        for name, frame in tables.items():
            table_staged, table_stale, table_unchanged = _stage_table(
                name, frame, root / name, watermark=watermark
            )
            staged += table_staged
            stale += table_stale
            unchanged += table_unchanged
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, target in staged:
        os.replace(tmp, target)
    for path in stale:
        path.unlink()
        shutil.rmtree(path.parent, ignore_errors=True)
    state = WarehouseState(
        watermark=watermark,
        published_at=dt.datetime.now(dt.UTC).isoformat(),
        rows={name: frame.height for name, frame in tables.items()},
        parsers=parsers,
    )
    _atomic_write_bytes(root / STATE_FILE, json.dumps(dataclasses.asdict(state), indent=2).encode())
    return PublishResult(
        tuple(str(target) for _, target in staged), tuple(map(str, stale)), unchanged, watermark
    )


def scan(table: str, *, home: Path | str = "data") -> pl.LazyFrame:
    """A lazy frame over one published table of the warehouse under ``home``.

    Parameters
    ----------
    table
        One of ``reports``, ``observations``, ``daily_totals``, ``discrepancies``,
        ``quarantine``.
    home
        The lossledger home directory (the warehouse is ``<home>/warehouse``).

    Examples
    --------
    >>> import tempfile
    >>> scan("daily_totals", home=tempfile.mkdtemp()).collect().columns[:4]
    ['date', 'category', 'total', 'delta']
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; published tables are {', '.join(TABLES)}")
    directory = Path(home) / "warehouse" / table
    schema = table_schema(table)
    if not any(directory.glob(f"year=*/month=*/{PART_FILE}")):
        return pl.LazyFrame(schema={**schema, "year": pl.Int64, "month": pl.Int64})
    return pl.scan_parquet(
        directory / "**" / "*.parquet", hive_partitioning=True, missing_columns="insert"
    )


def _stage_table(
    name: str, frame: pl.DataFrame, directory: Path, *, watermark: int
) -> tuple[list[tuple[Path, Path]], list[Path], int]:
    """Write aside the partitions of one table whose rows changed; list those now empty."""
    keyed = frame.with_columns(_partition=PARTITION_DATE[name].dt.strftime("year=%Y/month=%m"))
    partitions = {
        key[0]: part.drop("_partition")
        for key, part in keyed.partition_by("_partition", as_dict=True, maintain_order=True).items()
    }
    hashes = _partition_hashes(frame, keyed.get_column("_partition"))
    staged, unchanged = [], 0
    for partition, rows in sorted(partitions.items()):
        target = directory / partition / PART_FILE
        tmp = _staged_partition(
            target, rows, content_hash=hashes[partition], table=name, watermark=watermark
        )
        if tmp is None:
            unchanged += 1
        else:
            staged.append((tmp, target))
    stale = [
        path for path in sorted(directory.glob(f"year=*/month=*/{PART_FILE}"))
        if str(path.parent.relative_to(directory)) not in partitions
    ]
    return staged, stale, unchanged


def _staged_partition(
    target: Path, rows: pl.DataFrame, *, content_hash: bytes, table: str, watermark: int
) -> Path | None:
    """A temporary file beside ``target`` with the partition, unless ``target`` already has it."""
    if target.exists() and _stored_hash(target) == content_hash:
        return None
    arrow = rows.to_arrow()
    arrow = arrow.replace_schema_metadata({
        **(arrow.schema.metadata or {}),
        _HASH_KEY: content_hash,
        b"lossledger.table": table.encode(),
        b"lossledger.watermark": str(watermark).encode(),
    })
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".tmp-", delete=False) as handle:
        tmp = Path(handle.name)
    try:
        pq.write_table(arrow, tmp, compression="zstd")
        make_readable(tmp)
        _fsync(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _partition_hashes(frame: pl.DataFrame, partitions: pl.Series) -> dict[str, bytes]:
    """A content hash of each partition's rows, in row order, computed for all at once.

    Row hashes, not serialized bytes: equal frames can differ in their buffers' slack.
    """
    schema = str(frame.schema)
    joined = (
        pl.DataFrame({"partition": partitions, "row": frame.hash_rows(seed=0).cast(pl.String)})
        .group_by("partition", maintain_order=True)
        .agg(pl.col("row").str.join(","))
    )
    return {
        partition: hashlib.sha256(f"{schema}|{rows}".encode()).hexdigest().encode()
        for partition, rows in joined.iter_rows()
    }


def _stored_hash(path: Path) -> bytes | None:
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    return metadata.get(_HASH_KEY)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as handle:
        handle.write(data)
        tmp = Path(handle.name)
    make_readable(tmp)
    _fsync(tmp)
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
