"""A disk cache of parse results, keyed on what determines them: content and parser versions.

Beside each batch's parse results it keeps the batch's event metadata, so a run reads from the
store only the events it has not parsed yet.

Parsing is the only costly per-report step, and its result depends only on the raw bytes and the
parsers; so each batch of parsed reports is kept as Parquet under
``<home>/cache/parsed/<parsers fingerprint>/``. A parser change gives a new fingerprint, hence an
empty cache: every report is parsed again on the next run (a replay), and nothing else needs doing.
The cache is a convenience, never a source of truth: deleting it loses nothing.

Each batch also keeps the log's chain hash at its last seq (``batch-F-L.link``). That hash
pins every event up to there, so :meth:`ParseCache.prune` drops any batch the log no longer
agrees with: a log cut short and grown again reuses sequence numbers, but never hashes, and a
reused seq can never pick up another event's parse.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl

from lossledger._files import make_readable
from lossledger.parse.stage import PARTS, ParsedBatch
from lossledger.reconcile.consensus import ReconcilePolicy, Reconciliation
from lossledger.reconcile.window import PER_CATEGORY

__all__ = ["ParseCache", "ReconcileCache"]

_MAX_BATCHES = 64
#: Bumped when the cached frames change shape, so an old cache is simply not found.
_FORMAT = 3

_BATCH = re.compile(r"^batch-(\d+)-(\d+)\.reports\.parquet$")
# "reports" is written last: its presence marks a complete batch.
_PARTS = dict(sorted(PARTS.items(), key=lambda item: item[0] == "reports"))


class ParseCache:
    """Parse results of the reports up to some sequence number, for one parser fingerprint."""

    def __init__(self, home: Path, fingerprint: str, *, variant: str = "") -> None:
        self.root = Path(home) / "cache" / "parsed"
        # ``variant``: a setting parse results depend on besides the parsers (a size limit).
        suffix = f"-{variant}" if variant else ""
        self.directory = self.root / f"{fingerprint[:20]}{suffix}.v{_FORMAT}"

    def prune(self, hash_at: Callable[[int], str | None]) -> int:
        """Forget every batch whose last event's chain hash is not the log's at that seq.

        ``hash_at`` is the store's :meth:`~lossledger.store.base.EventStore.hash_at`. Returns
        how many batches were dropped (they are parsed again).
        """
        dropped = 0
        for batch in self._batches():
            link = self._link(*batch)
            if link is None or link != hash_at(batch[1]):
                self._drop(batch)
                dropped += 1
        return dropped

    def covered_seq(self) -> int:
        """The sequence number up to which every report has been parsed into this cache."""
        ends = [int(m.group(2)) for m in map(_BATCH.match, self._names()) if m]
        return max(ends, default=0)

    def load(self) -> ParsedBatch:
        """Every cached parse result (the observations' ``sha256`` as a categorical)."""
        if not self.covered_seq():
            return ParsedBatch.empty()
        batches = _outermost(self._batches())
        if len(batches) > _MAX_BATCHES:
            batches = [self._compact(batches)]
        frames = {
            part: pl.read_parquet(
                [self.directory / f"{_stem(*batch)}.{part}.parquet" for batch in batches],
                schema=schema,
            )
            for part, schema in _PARTS.items()
            if part != "observations"
        }
        # One report's key on each of its figures: as text, 64 characters a figure (a fifth
        # of the frame at x30); as a categorical, four bytes. Read so, the text column is never
        # whole in memory.
        frames["observations"] = (
            pl.scan_parquet(
                [self.directory / f"{_stem(*batch)}.observations.parquet" for batch in batches],
                schema=_PARTS["observations"],
            )
            .with_columns(pl.col("sha256").cast(pl.Categorical))
            .collect()
        )
        return ParsedBatch(**frames)

    def add(
        self, batch: ParsedBatch, *, first_seq: int, last_seq: int, link: str | None = None
    ) -> None:
        """Keep the parse results of the reports with ``first_seq <= seq <= last_seq``.

        ``link`` is the log's chain hash at ``last_seq``; without one, :meth:`prune` drops
        the batch.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = _stem(first_seq, last_seq)
        _replace_with(self.directory / f"{stem}.link", lambda tmp: tmp.write_text(link or ""))
        frames = batch.frames()
        for part in _PARTS:
            _replace_with(self.directory / f"{stem}.{part}.parquet", frames[part].write_parquet)

    def clear(self) -> None:
        """Forget every cached result (of every fingerprint): the next run parses anew."""
        shutil.rmtree(self.root, ignore_errors=True)

    def _batches(self) -> list[tuple[int, int]]:
        return sorted((int(m.group(1)), int(m.group(2))) for m in map(_BATCH.match, self._names())
                      if m)

    def _compact(self, batches: list[tuple[int, int]]) -> tuple[int, int]:
        """Merge ``batches`` into one and return it.

        A daily run adds one small batch; merged now and then, loading stays one read. The
        files are streamed into the merged ones, never whole in memory. A crash midway leaves
        batches inside the merged one, which load() ignores.
        """
        first, last = batches[0][0], batches[-1][1]
        stem = _stem(first, last)
        link = self._link(*batches[-1])
        _replace_with(self.directory / f"{stem}.link", lambda tmp: tmp.write_text(link or ""))
        for part, schema in _PARTS.items():
            files = [self.directory / f"{_stem(*batch)}.{part}.parquet" for batch in batches]
            _replace_with(
                self.directory / f"{stem}.{part}.parquet",
                lambda tmp, files=files, schema=schema: pl.scan_parquet(
                    files, schema=schema
                ).sink_parquet(tmp),
            )
        for batch in batches:
            if batch != (first, last):
                self._drop(batch)
        return first, last

    def _link(self, first_seq: int, last_seq: int) -> str | None:
        try:
            return (self.directory / f"{_stem(first_seq, last_seq)}.link").read_text() or None
        except OSError:
            return None

    def _drop(self, batch: tuple[int, int]) -> None:
        # "reports" first: without it the batch is incomplete, whatever else remains.
        for part in sorted(_PARTS, key=lambda part: part != "reports"):
            (self.directory / f"{_stem(*batch)}.{part}.parquet").unlink(missing_ok=True)
        (self.directory / f"{_stem(*batch)}.link").unlink(missing_ok=True)

    def _names(self) -> list[str]:
        return os.listdir(self.directory) if self.directory.is_dir() else []


def _replace_with(target: Path, write: Callable[[Path], object]) -> None:
    """Write ``target`` through a temporary file beside it, readable as the umask allows."""
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".tmp-", delete=False) as handle:
        tmp = Path(handle.name)
    try:
        write(tmp)
        make_readable(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _stem(first_seq: int, last_seq: int) -> str:
    return f"batch-{first_seq:012d}-{last_seq:012d}"


def _outermost(batches: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Batches not inside another one (left over by an interrupted compaction).

    >>> _outermost([(1, 10), (1, 5), (6, 10), (11, 12)])
    [(1, 10), (11, 12)]
    """
    return [
        (a, b) for a, b in batches
        if not any(c <= a and b <= d and (c, d) != (a, b) for c, d in batches)
    ]


# --- the previous run's reconciliation ---------------------------------------------------------

_RECONCILE_SOURCES = Path(__file__).resolve().parents[1] / "reconcile"
_RECONCILED = re.compile(r"^(\d+)\.done$")
_RECONCILED_PARTS = ("daily_totals", "discrepancies")


def _reconcile_fingerprint() -> str:
    """Hash of the reconcile package's code: other rules, other results, a cache of its own."""
    digest = hashlib.sha256()
    for path in sorted(_RECONCILE_SOURCES.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class ReconcileCache:
    """The reconciliation (daily totals and discrepancies) of the log up to some ``seq``,
    under ``<home>/cache/reconciled/<key>/``, keyed on everything that determines it besides
    the log: the parsers, the consensus policy and the reconcile code.

    A convenience like the parse cache: deleting it makes the next run reconcile in full.
    """

    def __init__(self, home: Path, parsers_fingerprint: str, policy: ReconcilePolicy) -> None:
        key = hashlib.sha256(
            f"{parsers_fingerprint}|{policy!r}|{_reconcile_fingerprint()}".encode()
        ).hexdigest()[:20]
        self.directory = Path(home) / "cache" / "reconciled" / key

    def load(self, *, upto: int) -> tuple[int, Reconciliation] | None:
        """The newest cached reconciliation of the log up to a ``seq <= upto``, if any.

        Never one when the reconciliation has global parts: no window could use it.
        """
        if not PER_CATEGORY:
            return None
        done = sorted(
            (int(m.group(1)) for m in map(_RECONCILED.match, self._names()) if m), reverse=True
        )
        for seq in done:
            if seq <= upto:
                try:
                    frames = {
                        part: pl.read_parquet(self.directory / f"{seq}.{part}.parquet")
                        for part in _RECONCILED_PARTS
                    }
                except OSError:
                    continue
                return seq, Reconciliation(**frames)
        return None

    def save(self, daily_totals: pl.DataFrame, discrepancies: pl.DataFrame, *, seq: int) -> None:
        """Keep the reconciliation of the log up to ``seq`` (and forget older ones)."""
        if not PER_CATEGORY:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        for part, frame in zip(_RECONCILED_PARTS, (daily_totals, discrepancies), strict=True):
            with tempfile.NamedTemporaryFile(dir=self.directory, delete=False) as handle:
                frame.write_parquet(handle.name, compression="lz4")
            os.replace(handle.name, self.directory / f"{seq}.{part}.parquet")
        (self.directory / f"{seq}.done").write_text(json.dumps({"seq": seq}))
        for name in self._names():
            number = name.split(".", 1)[0]
            if number.isdigit() and int(number) != seq and not name.startswith("tmp"):
                (self.directory / name).unlink(missing_ok=True)

    def _names(self) -> list[str]:
        return os.listdir(self.directory) if self.directory.is_dir() else []
