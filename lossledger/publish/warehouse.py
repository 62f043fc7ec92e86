"""The published warehouse: versioned, hive-partitioned Parquet, switched atomically, read lazily.

Layout (``<root>`` is ``<home>/warehouse`` unless told otherwise)::

    <root>                     -> <root>.versions/000007     a symbolic link: the published version
    <root>.versions/000007/    one complete version of every table:
        <table>/year=YYYY/month=MM/part-<id>.parquet         (zstd), by the date a row is about
        _state.json            what the version reflects (watermark, log head hash, rows ...)
        _manifest.json         every file of the version, by table, with its content hash
                               and row count; each table's schema; the basis (the code that
                               made the rows)
    <root>.versions/CURRENT    the name of the published version (the pointer, for object storage)
    <root>.versions/.lock      held while a publish runs

A publish builds a new version beside the published one: a partition whose rows did not change
(its content hash, kept in the file's key-value metadata and listed in the version's manifest,
says so) is hard-linked from the published version, the others are written. A daily run's
observations are hashed only in the months it can change (:func:`publish_tables`). Only when the
whole version is on disk is it published, by one ``rename`` of a new link over ``<root>``: a
reader that resolves ``<root>`` once (:func:`open_version`, :func:`scan`, a plain glob under
``os.path.realpath(root)`` or under the version ``CURRENT`` names) reads the old version or the
new one, whole, never a mix and never a partial file.

A plain glob through the link itself (``<root>/daily_totals/**/*.parquet``) resolves ``<root>``
anew for every directory it lists and every file it opens, so a switch can fall between two of
its steps; no file layout makes that safe. A file's name is derived from its content (rows,
schema, watermark), so a path names the same bytes in every version: a file listed before a
switch and opened after it is the same file or is gone (an error the reader sees). Were names
stable per partition, it would be other bytes under the same path: a silent mix, or a footer
read from one file and pages from another (polars panics). Even so, a switch between listing a
directory and listing the one below it can make a glob through the link read neither version
(months listed in the old one, a month's file in the new one). Such a reader can check:
``<root>/_state.json``'s ``version`` only grows, so reading it before and after the read and
finding it equal means the link pointed at one version throughout; otherwise, read again.

A publish that fails or is killed leaves the published version untouched; its leftovers
(``<root>.versions/.tmp-*``) are removed by the next run. Versions stay for a grace period
after they were replaced (``LOSSLEDGER_VERSION_GRACE_S``, default one hour), so a reader that
resolved ``<root>`` before a switch can finish, then go. A publish that changes nothing (same
partitions, same watermark) makes no version and touches no file. A table without rows is one
empty file in ``year=0000/month=00``, so every reader finds its schema.

Object storage has no links and no atomic directory rename; there the pointer file is the
switch: write the version's objects under ``versions/NNNNNN/`` (copying unchanged ones), then
put ``CURRENT`` (one object, replaced atomically); readers get ``CURRENT``, then that version's
``_manifest.json``, and read the files it lists. The local layout already keeps both.

Columns are only ever added. Each file records ``lossledger.schema_version`` (the number of
the table's columns: since columns are only added, the count names the schema) and
``lossledger.columns`` in its key-value metadata; :func:`scan` reads older files with the
columns they lack as nulls and ignores columns it does not know.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import itertools
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from lossledger._files import link_or_copy
from lossledger._text import enums_as_text

if TYPE_CHECKING:
    from lossledger.projection import KeptRows, WarehouseTables

# The projection (pandera, the parsers, the reconciliation) is imported where it is used:
# `import lossledger` and the HTML report's process need it only when they publish, and it
# costs ~0.5 s to import.

__all__ = [
    "DEFAULT_GRACE_S",
    "EMPTY_PARTITION",
    "PublishResult",
    "WarehouseState",
    "WarehouseVersion",
    "clean_leftovers",
    "current_version",
    "open_version",
    "publish_tables",
    "read_state",
    "scan",
    "versions_dir",
]

STATE_FILE = "_state.json"
MANIFEST_FILE = "_manifest.json"
POINTER_FILE = "CURRENT"
PART_GLOB = "part-*.parquet"
#: Where a table without rows keeps its one empty file (so every reader finds the schema).
EMPTY_PARTITION = "year=0000/month=00"
#: Seconds a replaced version is kept for readers that resolved it before the switch.
DEFAULT_GRACE_S = 3600.0
_GRACE_ENV = "LOSSLEDGER_VERSION_GRACE_S"
_HASH_KEY = b"lossledger.content_sha256"
_VERSION_NAME = re.compile(r"^\d{6,}$")
_TMP = ".tmp-"

#: The date a row of each table is filed under.
PARTITION_DATE: dict[str, pl.Expr] = {
    "reports": pl.coalesce("report_date", pl.col("received_at").dt.date()),
    "observations": pl.col("date"),
    "daily_totals": pl.col("date"),
    "discrepancies": pl.col("date"),
    # Filed under the day the report arrived, never a date read from it: an undated or
    # absurdly dated input (year 4760) must not create partitions of its own.
    "quarantine": pl.col("received_at").dt.date(),
    "disagreement_runs": pl.col("first_date"),
    # One small table: every source under the month its reports begin.
    "sources": pl.col("first_date"),
}


@dataclass(frozen=True, slots=True)
class WarehouseState:
    """What a published warehouse reflects."""

    watermark: int
    published_at: str
    rows: dict[str, int] = field(default_factory=dict)
    parsers: str | None = None
    """Fingerprint of the parsers that made the published rows."""
    log_hash: str | None = None
    """The chain hash of event ``watermark``: the log's head as published, kept outside the log
    so that a truncated or rewritten log is noticed."""
    version: int | None = None
    """The number of the warehouse version (``<root>.versions/NNNNNN``). It only grows from
    publish to publish (the published version, the newest, is never removed), so a reader
    through the link that reads it equal before and after its read read that one version."""

    @classmethod
    def from_json(cls, text: str) -> WarehouseState:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})

    def same_content(self, other: WarehouseState | None) -> bool:
        """Whether ``other`` reflects the same log with the same rows (time and version aside)."""
        if other is None:
            return False
        keep = ("watermark", "rows", "parsers", "log_hash")
        return all(getattr(self, k) == getattr(other, k) for k in keep)


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What a publish changed on disk."""

    written: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int
    watermark: int
    version: int | None = None
    """The published version (the one already published when nothing changed)."""

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


@dataclass(frozen=True, slots=True)
class WarehouseVersion:
    """One published version, pinned: its files stay put while it is read."""

    path: Path | None
    """The version's directory (``None``: nothing published yet)."""

    @property
    def state(self) -> WarehouseState | None:
        if self.path is None or not (self.path / STATE_FILE).exists():
            return None
        return WarehouseState.from_json((self.path / STATE_FILE).read_text())

    def scan(self, table: str) -> pl.LazyFrame:
        """A lazy frame over ``table`` in this version (see :func:`scan`)."""
        from lossledger.projection import TABLES
        from schemas.tables import table_schema

        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}; published tables are {', '.join(TABLES)}")
        schema = table_schema(table)
        hive = {"year": pl.Int64, "month": pl.Int64}
        directory = None if self.path is None else self.path / table
        if directory is None or not any(directory.glob(f"year=*/month=*/{PART_GLOB}")):
            return pl.LazyFrame(schema={**schema, **hive})
        return pl.scan_parquet(
            directory / "**" / "*.parquet", hive_partitioning=True, schema=schema,
            missing_columns="insert", extra_columns="ignore",
        )


def versions_dir(root: Path) -> Path:
    """Where the versions of the warehouse ``root`` live: ``<root>.versions``."""
    root = Path(root)
    return root.with_name(f"{root.name}.versions")


def current_version(root: Path) -> Path | None:
    """The directory of the published version of ``root`` (resolved now), or ``None``.

    A warehouse published before versions existed is its own (only) version.
    """
    root = Path(root)
    if root.is_symlink():
        target = Path(os.path.realpath(root))
        return target if target.is_dir() else None
    if root.is_dir():
        return root
    pointer = versions_dir(root) / POINTER_FILE
    if pointer.is_file():
        target = versions_dir(root) / pointer.read_text().strip()
        return target if target.is_dir() else None
    return None


def open_version(home: Path | str = "data", *, warehouse: Path | str | None = None
                 ) -> WarehouseVersion:
    """Pin the published version of ``<home>/warehouse`` (or ``warehouse``) for reading.

    Every table scanned from the returned version comes from the same publish, even if another
    one happens meanwhile (within the grace period).

    >>> import tempfile
    >>> open_version(tempfile.mkdtemp()).state is None
    True
    """
    root = Path(warehouse) if warehouse is not None else Path(home) / "warehouse"
    return WarehouseVersion(current_version(root))


def read_state(root: Path) -> WarehouseState | None:
    """The state of the warehouse at ``root``, or ``None`` when nothing was published."""
    return WarehouseVersion(current_version(Path(root))).state


def scan(table: str, *, home: Path | str = "data") -> pl.LazyFrame:
    """A lazy frame over one published table of the warehouse under ``home``.

    The published version is pinned when this is called; to read several tables of one
    version, use :func:`open_version`.

    Parameters
    ----------
    table
        One of ``reports``, ``observations``, ``daily_totals``, ``discrepancies``,
        ``quarantine``, ``disagreement_runs``, ``sources``.
    home
        The lossledger home directory (the warehouse is ``<home>/warehouse``).

    Examples
    --------
    >>> import tempfile
    >>> scan("daily_totals", home=tempfile.mkdtemp()).collect().columns[:4]
    ['date', 'category', 'total', 'delta']
    """
    return open_version(home).scan(table)


def publish_tables(
    tables: WarehouseTables,
    root: Path,
    *,
    watermark: int,
    parsers: str | None = None,
    log_hash: str | None = None,
    grace_s: float | None = None,
    basis: str | None = None,
) -> PublishResult:
    """Publish the tables as a new version of the warehouse at ``root``, atomically.

    Unchanged partitions are hard-linked from the published version (same bytes, same mtime);
    a table without rows is one empty file. If nothing changed, no version is made and no file
    is touched. A failure (a full or read-only disk, a kill) leaves the published version as
    it was. Versions replaced more than ``grace_s`` seconds ago (default:
    ``LOSSLEDGER_VERSION_GRACE_S`` or one hour) are removed.

    ``basis`` names what made the rows besides the log (the parsers' and the projection's
    code; the manifest keeps it). With ``tables.kept``, the observations' partitions it keeps
    are not hashed again when the published version has the same basis, was made from the
    log up to ``tables.kept.upto``, and its manifest lists each such partition with the same
    row count and schema: its content hash is taken from the manifest.
    """
    root = Path(os.path.abspath(root))
    versions = versions_dir(root)
    versions.mkdir(parents=True, exist_ok=True)
    with _publish_lock(versions, wait=True):
        _remove_leftovers(root)
        result = _publish_locked(tables, root, watermark=watermark, parsers=parsers,
                                 log_hash=log_hash, basis=basis)
        _collect_garbage(root, _grace(grace_s))
    return result


def clean_leftovers(root: Path) -> list[Path]:
    """Remove what killed or failed publishes left behind; returns what was removed.

    Does nothing (and touches no file) when there is nothing to remove or a publish is running.
    """
    root = Path(os.path.abspath(root))
    if not _leftovers(root):
        return []
    with _publish_lock(versions_dir(root), wait=False) as locked:
        return _remove_leftovers(root) if locked else []


# --- publishing -----------------------------------------------------------------------------


def _parent(relative: str) -> str:
    """The directory of a file's path relative to a version (``/``-separated, as the manifest
    keeps it): a string's split, not a ``Path`` (hundreds of partitions a run, some 50 us each).

    >>> _parent("observations/year=2024/month=01/part-0.parquet")
    'observations/year=2024/month=01'
    """
    return relative.rpartition("/")[0] or "."


def _publish_locked(
    tables: WarehouseTables, root: Path, *, watermark: int, parsers: str | None,
    log_hash: str | None, basis: str | None = None,
) -> PublishResult:
    versions = versions_dir(root)
    current = current_version(root)
    before = read_state(root)
    number = _next_version(versions)
    staging = versions / f"{_TMP}{number:06d}-{os.getpid()}"
    staging.mkdir()
    try:
        written: list[str] = []
        removed: list[str] = []
        unchanged = 0
        manifest: dict[str, list[str]] = {}
        hashes: dict[str, str] = {}
        counts: dict[str, int] = {}
        schemas: dict[str, str] = {}
        listed = _read_manifest(current)
        known = _manifest_hashes(current, listed)
        published_files = _listed_files(current, listed, known)
        # The published version's partition directories are made meanwhile, by a thread: a
        # new version needs them all again (some 350 at x10), and on a busy disk each mkdir
        # can take half a millisecond while the hashing below leaves the lock free.
        premade = {
            _parent(f"{name}/{relative}")
            for name, files in published_files.items() for relative in files
        }
        maker = threading.Thread(target=_make_directories, args=(staging, sorted(premade)),
                                 name="lossledger-publish-mkdir", daemon=True)
        maker.start()
        hint = tables.kept
        # The published rows of the kept partitions are this run's: same log, same code.
        trusted = (
            hint is not None and basis is not None and listed.get("basis") == basis
            and before is not None and before.watermark == hint.upto
        )
        for name, frame in tables.items():
            changed = _changed_months(name, frame, hint) if trusted and hint else None
            keep = None if changed is None else _KeptPartitions(
                changed, listed.get("rows") or {}, (listed.get("schemas") or {}).get(name))
            files, table_written, table_unchanged = _stage_table(
                name, frame, staging, current, watermark=watermark, known=known,
                hashes=hashes, counts=counts, schemas=schemas, keep=keep)
            manifest[name] = files
            written += table_written
            unchanged += table_unchanged
            if current is not None:
                kept = {_parent(f) for f in files}
                removed += [
                    f"{name}/{rel}" for rel in published_files.get(name, ())
                    if _parent(f"{name}/{rel}") not in kept
                ]
        maker.join()
        # The written files reach the disk before the version is made (and published).
        _fsync_all([staging / relative for relative in written])
        staged = {_parent(f) for files in manifest.values() for f in files}
        for directory in sorted(premade - staged, reverse=True):  # a partition that went
            _remove_empty(staging / directory, up_to=staging)
        state = WarehouseState(
            watermark=watermark,
            published_at=dt.datetime.now(dt.UTC).isoformat(),
            rows={name: frame.height for name, frame in tables.items()},
            parsers=parsers,
            log_hash=log_hash,
            version=number,
        )
        if (not written and not removed and root.is_symlink()
                and state.same_content(before)):
            shutil.rmtree(staging)
            return PublishResult((), (), unchanged, watermark, before.version if before else None)
        _write_json(staging / STATE_FILE, dataclasses.asdict(state))
        _write_json(staging / MANIFEST_FILE,
                    {"version": number, "tables": manifest, "hashes": hashes, "rows": counts,
                     "schemas": schemas, "basis": basis})
        final = versions / f"{number:06d}"
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(versions)
    _switch(root, final)
    return PublishResult(
        tuple(str(root / rel) for rel in written), tuple(str(root / rel) for rel in removed),
        unchanged, watermark, number,
    )


@dataclass(frozen=True, slots=True)
class _KeptPartitions:
    """Partitions whose published rows a publish may take as they are (see
    :class:`~lossledger.projection.KeptRows`), with what the published manifest says of them."""

    changed_months: frozenset[int]
    rows: dict[str, int]
    """Row count of each published file."""
    schema: str | None
    """The published table's schema."""

    def content(
        self, partition: str, rows: int, listed: tuple[str, bytes] | None, schema: str
    ) -> bytes | None:
        """The published content hash of ``partition`` if it is kept and the manifest lists
        it with ``rows`` rows and the same schema; else ``None`` (hash it)."""
        if listed is None or schema != self.schema or self.rows.get(listed[0]) != rows:
            return None
        month = _partition_month(partition)
        return None if month is None or month in self.changed_months else listed[1]


#: Days a date column may span for :func:`_month_keys` to look its months up in a table.
_MONTH_TABLE_DAYS = 200_000


def _month_keys(dates: pl.Series) -> pl.Series:
    """``year * 100 + month`` of each date (null for null), named ``month``.

    Looked up in a table of the days the column spans: for the 1.1 million observations of
    x10, 5 ms against 40 ms for the year and month of every row.

    >>> _month_keys(pl.Series([dt.date(2024, 1, 31), None, dt.date(2024, 3, 1)])).to_list()
    [202401, None, 202403]
    """
    first, last = dates.min(), dates.max()
    if dates.dtype != pl.Date or not isinstance(first, dt.date) or not isinstance(
            last, dt.date) or (last - first).days >= _MONTH_TABLE_DAYS:
        return (dates.dt.year().cast(pl.Int32) * 100
                + dates.dt.month().cast(pl.Int32)).alias("month")
    days = pl.date_range(first, last, eager=True)
    table = days.dt.year().cast(pl.Int32) * 100 + days.dt.month().cast(pl.Int32)
    offsets = (dates.cast(pl.Int32) - (first - dt.date(1970, 1, 1)).days).cast(pl.UInt32)
    return table.gather(offsets).alias("month")


def _changed_months(name: str, frame: pl.DataFrame, hint: KeptRows) -> frozenset[int] | None:
    """The months of table ``name`` whose rows may differ from those the earlier run
    published, by the hint (:class:`~lossledger.projection.KeptRows`); ``None``: any may."""
    if name == "observations":
        return hint.changed_months
    if name == "daily_totals" and hint.totals_until is not None:
        return _months_from(frame.get_column("date"), hint.totals_until)
    if name == "reports" and hint.changed_reports is not None:
        changed = frame.filter(pl.col("event_id").is_in(hint.changed_reports.implode()))
        return _months_of(changed.select(PARTITION_DATE[name]).to_series())
    return None


def _months_of(dates: pl.Series) -> frozenset[int]:
    """``year * 100 + month`` of the dates (nulls left out)."""
    return frozenset(_month_keys(dates).drop_nulls().unique().to_list())


def _months_from(dates: pl.Series, day: dt.date) -> frozenset[int]:
    """``year * 100 + month`` of ``day``'s month and of every later date among ``dates``: the
    months that may hold a row after ``day``.

    >>> sorted(_months_from(pl.Series([dt.date(2024, 1, 2), dt.date(2024, 3, 1)]),
    ...                     dt.date(2024, 2, 10)))
    [202402, 202403]
    """
    return _months_of(dates.filter(dates > day)) | {day.year * 100 + day.month}


def _partition_month(partition: str) -> int | None:
    """The ``year * 100 + month`` key of a hive directory (:func:`_partition_name`'s inverse).

    >>> _partition_month("year=2024/month=01"), _partition_month(EMPTY_PARTITION)
    (202401, None)
    """
    match = re.fullmatch(r"year=(\d{4})/month=(\d{2})", partition)
    if match is None or partition == EMPTY_PARTITION:
        return None
    return int(match[1]) * 100 + int(match[2])


def _stage_table(
    name: str, frame: pl.DataFrame, staging: Path, current: Path | None, *, watermark: int,
    known: dict[str, tuple[str, bytes]] | None = None, hashes: dict[str, str] | None = None,
    counts: dict[str, int] | None = None, schemas: dict[str, str] | None = None,
    keep: _KeptPartitions | None = None,
) -> tuple[list[str], list[str], int]:
    """Put one table's partitions into the staging version: linked if unchanged, else written.

    ``known``: the published version's files and content hashes by partition, from its
    manifest (:func:`_manifest_hashes`); a partition it lacks is looked up in the files.
    ``hashes``, ``counts`` and ``schemas`` gather the staged files' content hashes and row
    counts and the table's schema, for the new manifest. ``keep``: partitions whose published
    content hash stands for their rows (not hashed again).

    Returns the table's files (relative to the version), those written, and how many were
    linked.
    """
    schema = _schema_text(enums_as_text(frame.head(0)))
    if schemas is not None:
        schemas[name] = schema
    if frame.height == 0:
        rows_of: dict[str, pl.Series | None] = {EMPTY_PARTITION: None}
        sizes = {EMPTY_PARTITION: 0}
        content = {EMPTY_PARTITION: _content_hash(enums_as_text(frame), "")}
    else:
        # One integer per row (year * 100 + month), named once per partition: a name per row
        # would be a string per row (100 MB for the observations at x30).
        day = PARTITION_DATE[name]
        keys = _month_keys(
            # A column as it is: a select of it copied x10's 1.1 million dates (20-80 ms).
            frame.get_column(day.meta.output_name()) if day.meta.is_column()
            else frame.select(day.alias("day")).to_series()
        )
        content = {}
        if keep is None:
            rows_of = _rows_by_month(keys)
            sizes = {partition: rows.len() for partition, rows in rows_of.items()}
        else:
            # The kept partitions need their sizes only (to check them against the
            # manifest): row numbers are listed for the others alone.
            counted = keys.value_counts()
            sizes = dict(zip(map(_partition_name, counted.get_column("month").to_list()),
                             counted.get_column("count").to_list(), strict=True))
            for partition, size in sizes.items():
                stored = keep.content(partition, size, (known or {}).get(
                    f"{name}/{partition}"), schema)
                if stored is not None:
                    content[partition] = stored
            rows_of = _rows_by_month(keys, only=[
                _partition_month(partition) for partition in sizes if partition not in content
            ])
        content.update(_partition_hashes(frame, rows_of, schema=schema))
    files, written, unchanged = [], [], 0
    for partition in sorted(sizes):
        listed = (known or {}).get(f"{name}/{partition}")
        if current is None:
            published, stored = None, None
        elif listed is not None:
            published, stored = current / listed[0], listed[1]
        else:
            published = _partition_file(current / name / partition)
            stored = None if published is None else _stored_hash(published)
        if published is not None and stored == content[partition]:
            relative = f"{name}/{partition}/{published.name}"
            os.makedirs(os.path.join(staging, name, partition), exist_ok=True)
            link_or_copy(published, os.path.join(staging, relative))
            unchanged += 1
        else:
            relative = f"{name}/{partition}/{_part_name(content[partition], watermark)}"
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            if partition not in rows_of:  # kept, yet not in the version it was kept from
                rows_of.update(_rows_by_month(keys, only=[_partition_month(partition)]))
            chosen = rows_of[partition]
            # Enum-coded text is published as text.
            rows = (frame if chosen is None else frame[chosen]).with_columns(
                pl.col(pl.Enum).cast(pl.String)
            )
            _write_partition(staging / relative, rows, content_hash=content[partition],
                             table=name, watermark=watermark)
            written.append(relative)
        files.append(relative)
        if hashes is not None:
            hashes[relative] = content[partition].decode()
        if counts is not None:
            counts[relative] = sizes[partition]
    return files, written, unchanged


#: Up to this many months, :func:`_rows_by_month` finds each one's rows by a comparison.
_FEW_MONTHS = 4


def _rows_by_month(
    keys: pl.Series, *, only: list[int | None] | None = None
) -> dict[str, pl.Series]:
    """Row numbers per partition of the month ``keys`` (of ``only`` these months), each
    partition in order of its first row.

    Row numbers, not the partitions' rows: only a partition that is written is gathered, one
    at a time (a new day rewrites a handful of the hundreds, and a copy of the whole table
    would set the run's peak memory).

    >>> rows = _rows_by_month(pl.Series("month", [202402, 202401, 202402]), only=[202402])
    >>> {partition: numbers.to_list() for partition, numbers in rows.items()}
    {'year=2024/month=02': [0, 2]}
    >>> keys = pl.Series("month", [202402, 202401, 202402, 202403])
    >>> few = _rows_by_month(keys, only=[202403, 202401, 202402])  # a comparison each
    >>> every = _rows_by_month(keys)  # a group-by
    >>> list(few) == list(every) and all(few[name].equals(every[name]) for name in every)
    True
    """
    if only is not None and 0 < len(only) <= _FEW_MONTHS and None not in only:
        # A daily run's month or two: a comparison each, no frame, filter or group-by (x10's
        # reports: 9 ms against 0.3).
        found = {}
        for month in dict.fromkeys(only):
            rows = (keys == month).arg_true()
            if rows.len():
                found[_partition_name(month)] = rows.alias("row")
        # In order of each partition's first row, as the group-by gives them.
        return dict(sorted(found.items(), key=lambda item: item[1][0]))
    numbered = keys.to_frame().with_row_index("row")
    if only is not None:
        if not only:
            return {}
        wanted = pl.Series(only, dtype=keys.dtype)
        numbered = numbered.filter(pl.col("month").is_in(wanted.implode()))
    grouped = numbered.group_by("month", maintain_order=True).agg("row")
    numbers = grouped.get_column("row")
    return {
        _partition_name(month): numbers[i]  # type: ignore[misc]
        for i, month in enumerate(grouped.get_column("month"))
    }


def _listed_files(
    version: Path | None, manifest: dict[str, Any], known: dict[str, tuple[str, bytes]]
) -> dict[str, list[str]]:
    """The partition files of each table of a published version, relative to the table's
    directory: those its manifest lists (``known``, the files found on disk), else as its
    directories hold them (a manifest without hashes, or a file gone)."""
    if version is None:
        return {}
    from lossledger.projection import TABLES

    found: dict[str, list[str]] = {name: [] for name in TABLES}
    for relative, _ in known.values():
        table, _, rest = relative.partition("/")
        if table in found:
            found[table].append(rest)
    tables = manifest.get("tables")
    if isinstance(tables, dict) and all(
        isinstance(tables.get(name), list) and len(tables[name]) == len(found[name])
        for name in TABLES
    ):
        return {name: sorted(files) for name, files in found.items()}
    return {name: _partition_files(version / name) for name in TABLES}


def _make_directories(root: Path, directories: list[str]) -> None:
    for directory in directories:
        with contextlib.suppress(OSError):  # the publish makes what it needs itself
            (root / directory).mkdir(parents=True, exist_ok=True)


def _remove_empty(directory: Path, *, up_to: Path) -> None:
    """Remove ``directory`` and its parents below ``up_to`` while they are empty."""
    while directory != up_to:
        try:
            directory.rmdir()
        except OSError:  # not empty, or gone
            return
        directory = directory.parent


def _read_manifest(version: Path | None) -> dict[str, Any]:
    """A published version's manifest (empty if there is none or it cannot be read)."""
    if version is None:
        return {}
    try:
        manifest = json.loads((version / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _manifest_hashes(
    version: Path | None, manifest: dict[str, Any] | None = None
) -> dict[str, tuple[str, bytes]]:
    """The files of a published version and their content hashes, by partition
    (``table/year=YYYY/month=MM``), as its manifest lists them (none for a version whose
    manifest has no hashes: its files' metadata is read instead)."""
    if version is None:
        return {}
    if manifest is None:
        manifest = _read_manifest(version)
    hashes = manifest.get("hashes")
    if not isinstance(hashes, dict):
        return {}
    # Plain strings, not paths: some 300 files a publish at x10.
    root = str(version)
    return {
        relative.rpartition("/")[0]: (relative, str(digest).encode())
        for relative, digest in hashes.items()
        if os.path.isfile(os.path.join(root, relative))
    }


def _partition_name(month: int | None) -> str | None:
    """The hive directory of a ``year * 100 + month`` key.

    >>> _partition_name(202401)
    'year=2024/month=01'
    """
    return None if month is None else f"year={month // 100:04d}/month={month % 100:02d}"


def _part_name(content_hash: bytes, watermark: int) -> str:
    """The file name of a partition: the same name always means the same bytes (rows, schema,
    metadata and the writer's version all go into it)."""
    digest = hashlib.sha256(content_hash + f"|{watermark}|{pl.__version__}".encode()).hexdigest()
    return f"part-{digest[:16]}.parquet"


def _partition_file(directory: Path) -> Path | None:
    found = sorted(directory.glob(PART_GLOB))
    return found[0] if found else None


def _write_partition(
    target: Path, rows: pl.DataFrame, *, content_hash: bytes, table: str, watermark: int
) -> None:
    # polars' own writer: pyarrow's import alone (0.1 s) was a fifth of a daily run at x1.
    rows.write_parquet(target, compression="zstd", metadata={
        _HASH_KEY.decode(): content_hash.decode(),
        "lossledger.table": table,
        "lossledger.watermark": str(watermark),
        "lossledger.schema_version": str(rows.width),
        "lossledger.columns": json.dumps(rows.columns),
    })


def _switch(root: Path, version: Path) -> None:
    """Publish ``version``: the pointer file, then one rename of a new link over ``root``."""
    versions = versions_dir(root)
    _write_bytes_atomically(versions / POINTER_FILE, f"{version.name}\n".encode())
    if root.is_dir() and not root.is_symlink():
        # A warehouse from before versions: it becomes version 000000 (a moment without
        # ``root``, once).
        for leftover in root.rglob(f"{_TMP}*"):
            leftover.unlink(missing_ok=True)
        os.rename(root, versions / f"{0:06d}")
    link = root.with_name(f".{root.name}{_TMP}link-{os.getpid()}")
    link.unlink(missing_ok=True)
    link.symlink_to(Path(versions.name) / version.name, target_is_directory=True)
    os.replace(link, root)
    _fsync_dir(root.parent)


# --- leftovers and old versions --------------------------------------------------------------


def _leftovers(root: Path) -> list[Path]:
    versions = versions_dir(root)
    found = list(versions.glob(f"{_TMP}*")) if versions.is_dir() else []
    found += list(root.parent.glob(f".{root.name}{_TMP}*")) if root.parent.is_dir() else []
    if root.is_dir() and not root.is_symlink():  # a warehouse from before versions
        found += list(root.rglob(f"{_TMP}*"))
    return found


def _remove_leftovers(root: Path) -> list[Path]:
    removed = _leftovers(root)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed


def _collect_garbage(root: Path, grace_s: float) -> list[Path]:
    """Remove versions replaced more than ``grace_s`` seconds ago (never the published one)."""
    versions = versions_dir(root)
    current = current_version(root)
    numbered = sorted(p for p in versions.iterdir() if _VERSION_NAME.match(p.name) and p.is_dir())
    now = dt.datetime.now(dt.UTC)
    removed = []
    for older, newer in itertools.pairwise(numbered):
        if current is not None and older.resolve() == current.resolve():
            continue
        if (now - _published_at(newer)).total_seconds() >= grace_s:
            shutil.rmtree(older, ignore_errors=True)
            removed.append(older)
    return removed


def _published_at(version: Path) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(
            WarehouseState.from_json((version / STATE_FILE).read_text()).published_at)
    except (OSError, ValueError, TypeError):
        try:
            return dt.datetime.fromtimestamp(version.stat().st_mtime, dt.UTC)
        except OSError:  # gone meanwhile: nothing to date it by, so nothing is removed for it
            return dt.datetime.now(dt.UTC)


def _grace(grace_s: float | None) -> float:
    if grace_s is not None:
        return grace_s
    return float(os.environ.get(_GRACE_ENV) or DEFAULT_GRACE_S)


def _next_version(versions: Path) -> int:
    numbers = [int(p.name) for p in versions.iterdir()
               if _VERSION_NAME.match(p.name) and p.is_dir()]
    return max(numbers, default=0) + 1


@contextlib.contextmanager
def _publish_lock(versions: Path, *, wait: bool) -> Iterator[bool]:
    """The versions directory's lock; yields whether it was taken (``wait=False`` may not)."""
    versions.mkdir(parents=True, exist_ok=True)
    with (versions / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- hashes and files -----------------------------------------------------------------------


def _partition_files(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix()
                  for p in directory.glob(f"year=*/month=*/{PART_GLOB}"))


def _partition_hashes(
    frame: pl.DataFrame, rows_of: dict[str, pl.Series], *, schema: str | None = None
) -> dict[str, bytes]:
    """A content hash of each partition's rows, in row order, as published (enum-coded text as
    text): one hash per row, then each partition's row hashes hashed as bytes.

    Row hashes, not serialized bytes: equal frames can differ in their buffers' slack. A row's
    hash reads only the row: when ``rows_of`` names some of the rows, only those are hashed.
    The rows are put in partition order once, and each partition's hashes are a slice of them
    (a gather per partition costs a query each: some 0.1 s for the 280 partitions of x10).
    """
    if not rows_of:
        return {}
    order = pl.concat(list(rows_of.values()))
    if order.len() < frame.height:
        frame, order = frame[order], None  # only these rows, already in partition order
    # A slice at a time: a hash column per column of a million rows would set the run's peak.
    row_hashes = pl.concat([
        _row_hashes(frame.slice(offset, _HASH_ROWS))
        for offset in range(0, frame.height, _HASH_ROWS)
    ]) if frame.height else _row_hashes(frame)
    ordered = (row_hashes if order is None else row_hashes.gather(order)).to_numpy()
    if schema is None:
        schema = _schema_text(enums_as_text(frame.head(0)))
    hashes, start = {}, 0
    for partition, rows in rows_of.items():
        end = start + rows.len()
        digest = hashlib.sha256(ordered[start:end].tobytes()).hexdigest()
        hashes[partition] = _content_hash_of(schema, digest)
        start = end
    return hashes


#: Rows hashed at once.
_HASH_ROWS = 500_000


def _row_hashes(frame: pl.DataFrame) -> pl.Series:
    """One hash per row of what the row publishes.

    Text is hashed value by value (a null stays null), the same whether a column is text or
    enum-coded text: an enum's values are hashed once each and handed to its rows by code
    (an enum's own row hash would follow its codes, which depend on the other values present,
    and its rows as text would be a string per row).

    >>> text = pl.DataFrame({"id": ["b", None, "a"], "n": [1, 2, 3]})
    >>> coded = text.with_columns(pl.col("id").cast(pl.Enum(["a", "b", "c"])))
    >>> _row_hashes(text).equals(_row_hashes(coded))
    True
    """
    schema = frame.schema
    # The text columns hashed in one query (a query each cost about 1 ms on a few rows: x10's
    # reports partition of the day, 9 ms against 1.5).
    texts = frame.select(
        pl.when(pl.col(name).is_not_null()).then(pl.col(name).hash(seed=0)).alias(name)
        for name, dtype in schema.items() if dtype == pl.String
    ) if any(dtype == pl.String for dtype in schema.values()) else None
    columns = []
    for name, dtype in schema.items():
        if isinstance(dtype, pl.Enum):
            column = dtype.categories.hash(seed=0).gather(frame.get_column(name).to_physical())
        elif dtype == pl.String:
            assert texts is not None
            column = texts.get_column(name)
        else:
            column = frame.get_column(name)
        columns.append(column.alias(name))
    return pl.DataFrame(columns).hash_rows(seed=0)


def _content_hash(frame: pl.DataFrame, rows: str) -> bytes:
    return _content_hash_of(_schema_text(frame), rows)


def _schema_text(frame: pl.DataFrame) -> str:
    return str(frame.schema)


def _content_hash_of(schema: str, rows: str) -> bytes:
    return hashlib.sha256(f"{schema}|{rows}".encode()).hexdigest().encode()


def _stored_hash(path: Path) -> bytes | None:
    try:
        metadata = pl.read_parquet_metadata(path)
    except (OSError, pl.exceptions.PolarsError):
        return None
    found = metadata.get(_HASH_KEY.decode())
    return None if found is None else found.encode()


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
    _fsync(path)


def _write_bytes_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{_TMP}{path.name}-{os.getpid()}")
    tmp.write_bytes(data)
    _fsync(tmp)
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_all(paths: list[Path]) -> None:
    """fsync each file, a few at once: each call waits on the disk, not on this process (a
    new day writes some five partitions, each waited for in turn before)."""
    if len(paths) < 2:
        for path in paths:
            _fsync(path)
        return
    with ThreadPoolExecutor(max_workers=min(8, len(paths)),
                            thread_name_prefix="lossledger-fsync") as pool:
        list(pool.map(_fsync, paths))


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        _fsync(path)
