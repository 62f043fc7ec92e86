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

import contextlib
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import polars as pl

from lossledger._chunks import aligned
from lossledger._files import link_or_copy, make_readable
from lossledger._text import enums_as_text
from lossledger.parse.stage import PARTS, ParsedBatch
from lossledger.projection import _ENUM_COLUMNS as _FIGURE_ENUMS
from lossledger.projection import SettledFigures, _sorted_union
from lossledger.reconcile.consensus import ReconcilePolicy, Reconciliation
from lossledger.reconcile.reliability import Learned

__all__ = ["FigureCache", "ParseCache", "ReconcileCache", "remove_leftovers", "wait_for_saves"]

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

    def load(self, *, observations_after: int = 0) -> ParsedBatch:
        """Every cached parse result (the observations' ``sha256`` as a categorical).

        ``observations_after``: the observations of batches wholly at or before this ``seq``
        are left out (a run that has them from elsewhere); a batch across it comes whole.
        """
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
        files = [self.directory / f"{_stem(*batch)}.observations.parquet" for batch in batches
                 if batch[1] > observations_after]
        frames["observations"] = (
            (pl.scan_parquet(files, schema=_PARTS["observations"]) if files
             else pl.LazyFrame(schema=_PARTS["observations"]))
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
    """Write ``target`` through a temporary file beside it, readable as the umask allows.

    The temporary file's name carries this process's id: a process killed mid-write leaves
    it behind, and :func:`remove_leftovers` knows it for a dead writer's.
    """
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f"{_TMP}{os.getpid()}-",
                                     delete=False) as handle:
        tmp = Path(handle.name)
    try:
        write(tmp)
        make_readable(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_TMP = ".tmp-"
_WRITER = re.compile(rf"^{re.escape(_TMP)}(\d+)-")


def remove_leftovers(root: Path) -> list[Path]:
    """Remove the temporary files under ``root`` (a home's ``cache``) whose writer is gone.

    A cache file is written under a temporary name and renamed into place; a process killed
    meanwhile leaves the temporary file. It is removed once the process that wrote it no
    longer exists; one whose writer is alive (another run, or a save of this process still
    under way) is left alone.

    Returns the files removed.
    """
    removed = []
    for path in root.rglob(f"{_TMP}*") if root.is_dir() else ():
        match = _WRITER.match(path.name)
        if match is None or int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's, or no process id at all
        return True
    return True


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
_RECONCILED_PARTS = (
    "daily_totals", "discrepancies", "disagreement_runs", "sources", "vote_months"
)
_LEARNED_PARTS = ("counts", "accuracy", "copies", "pairs")


_LOG = logging.getLogger("lossledger")
T = TypeVar("T")
R = TypeVar("R")

#: Saves still being written, by cache directory (``background`` saves of
#: :class:`ReconcileCache` and :class:`FigureCache`).
_SAVING: dict[Path, threading.Thread] = {}


def wait_for_saves() -> None:
    """Return once every background save of a cache (:meth:`ReconcileCache.save`,
    :meth:`FigureCache.save`) is written."""
    for thread in [_SAVING.pop(directory) for directory in list(_SAVING)]:
        thread.join()


def _wait_for(directory: Path) -> None:
    thread = _SAVING.pop(directory, None)
    if thread is not None:
        thread.join()


def _save_in_background(directory: Path, save: Callable[[], None]) -> None:
    """Run ``save`` in a thread that the next load of ``directory``, :func:`wait_for_saves`
    and the interpreter's exit wait for. A cache is a convenience: a save that fails is
    logged (the next run builds what it lacks), not raised into a run that has moved on."""
    _wait_for(directory)

    def saved() -> None:
        try:
            save()
        except Exception as error:  # any failure: the cache is not kept
            _LOG.warning(
                "could not keep the cache %s (%s: %s); the next run builds it again",
                directory, type(error).__name__, error,
            )

    thread = threading.Thread(target=saved, name=f"lossledger-save-{directory.parent.name}")
    _SAVING[directory] = thread
    thread.start()


def _read_in_parallel(read: Callable[[T], R], items: list[T]) -> list[R]:
    """``[read(item) for item in items]``, a few at a time: polars reads files without
    holding the interpreter's lock."""
    if len(items) < 2:
        return [read(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(4, len(items))) as pool:
        return list(pool.map(read, items))


def _reconcile_fingerprint() -> str:
    """Hash of the reconcile package's code: other rules, other results, a cache of its own."""
    digest = hashlib.sha256()
    for path in sorted(_RECONCILE_SOURCES.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class ReconcileCache:
    """The reconciliation of the log up to some ``seq`` (its four tables, the votes' counts per
    source and month, and what the source reliabilities learned), and the cells of the
    figures the dating rules may still move,
    under ``<home>/cache/reconciled/<key>/``, keyed on everything that determines it besides
    the log: the parsers, the projection's rules, the consensus policy and the reconcile code.

    A convenience like the parse cache: deleting it makes the next run reconcile in full.
    """

    def __init__(self, home: Path, parsers_fingerprint: str, policy: ReconcilePolicy) -> None:
        key = hashlib.sha256(
            f"{parsers_fingerprint}|{policy!r}|{_reconcile_fingerprint()}|"
            f"{_figures_fingerprint()}".encode()
        ).hexdigest()[:20]
        self.directory = Path(home) / "cache" / "reconciled" / key

    def checked_seqs(self, *, upto: int) -> list[int]:
        """The ``seq`` of each cached reconciliation :meth:`load` may take for ``upto``, whose
        chain hash it checks (a caller may read them first: ``load`` then needs no store)."""
        _wait_for(self.directory)
        return sorted(
            (int(m.group(1)) for m in map(_RECONCILED.match, self._names())
             if m and int(m.group(1)) <= upto), reverse=True)

    def load(
        self, *, upto: int, hash_at: Callable[[int], str | None]
    ) -> tuple[int, Reconciliation, pl.DataFrame] | None:
        """The newest cached reconciliation of the log up to a ``seq <= upto``, if any, with
        its open figures' cells (category, date). Only of this very log: the chain hash at
        its ``seq`` (``hash_at``, the store's :meth:`~lossledger.store.base.EventStore.
        hash_at`) must be the one it was made from."""
        for seq in self.checked_seqs(upto=upto):
            try:
                meta = json.loads((self.directory / f"{seq}.done").read_text())
                if meta.get("log_hash") != hash_at(seq):
                    continue
                split = meta.get("totals_split") is not None
                names = [*_RECONCILED_PARTS, "open_cells",
                         *(f"learned_{part}" for part in _LEARNED_PARTS),
                         *([_TOTALS_BEFORE] if split else [])]
                frames = dict(zip(names, _read_in_parallel(
                    pl.read_parquet,
                    [self.directory / f"{seq}.{name}.parquet" for name in names],
                ), strict=True))
                learned = Learned(**{
                    part: frames.pop(f"learned_{part}") for part in _LEARNED_PARTS
                })
                if split:
                    frames["daily_totals"] = pl.concat(
                        [frames.pop(_TOTALS_BEFORE), frames["daily_totals"]])
            except (OSError, ValueError, pl.exceptions.PolarsError):
                # Cut short or damaged: an older one, or a full reconcile.
                continue
            open_cells = frames.pop("open_cells")
            return seq, Reconciliation(**frames, learned=learned), open_cells
        return None

    def save(
        self, reconciliation: Reconciliation, open_cells: pl.DataFrame, *, seq: int,
        log_hash: str | None, background: bool = False, based_on: int | None = None,
        totals_kept_until: dt.date | None = None,
    ) -> None:
        """Keep the reconciliation of the log up to ``seq`` (whose chain hash there is
        ``log_hash``), and forget older ones.

        ``background``: written by a thread while the caller goes on (publishing, say); the
        next :meth:`load` of this directory, :func:`wait_for_saves` and the interpreter's
        exit wait for it. Its files are complete or absent: ``<seq>.done`` is written last.

        The daily totals are kept in two files split at the first of January of the year
        before their last: the first holds the rows before it. ``based_on`` is the ``seq`` of
        the reconciliation :meth:`load` gave the run, whose daily totals up to
        ``totals_kept_until`` the run's are, row for row
        (:attr:`~lossledger.reconcile.window.WindowedResult.totals_kept_until`): when its
        first file ends before that day, at the same split, it is linked, not written again
        (a new day's run writes the last year and a half, not every day of the history).
        """
        save = functools.partial(
            self._save, reconciliation, open_cells, seq=seq, log_hash=log_hash,
            based_on=based_on, totals_kept_until=totals_kept_until,
        )
        if background:
            _save_in_background(self.directory, save)
        else:
            _wait_for(self.directory)
            save()

    def _save(
        self, reconciliation: Reconciliation, open_cells: pl.DataFrame, *, seq: int,
        log_hash: str | None, based_on: int | None, totals_kept_until: dt.date | None,
    ) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        totals = reconciliation.daily_totals
        split = _totals_split(totals.get_column("date"))
        parts = {
            **{part: getattr(reconciliation, part) for part in _RECONCILED_PARTS},
            **{f"learned_{part}": getattr(reconciliation.learned, part)
               for part in _LEARNED_PARTS},
            "open_cells": open_cells,
        }
        if split is not None:
            cut = int(totals.get_column("date").search_sorted(split, side="left"))
            parts["daily_totals"] = totals.slice(cut)
            before = self.directory / f"{seq}.{_TOTALS_BEFORE}.parquet"
            kept = self._totals_before(based_on, split, totals_kept_until)
            if kept is None:
                parts[_TOTALS_BEFORE] = totals.slice(0, cut)
            elif kept != before:  # (the same reconciliation kept again: its file stays)

                def linked(tmp: Path, kept: Path = kept) -> None:
                    tmp.unlink()  # the link takes the temporary file's name
                    link_or_copy(kept, tmp)

                _replace_with(before, linked)
        for part, frame in parts.items():
            _replace_with(
                self.directory / f"{seq}.{part}.parquet",
                # No statistics: a cache is read whole, never filtered by them, and they were
                # a third of the writing time of x10's daily totals' lineage lists (66 ms
                # against 48, 2026-12-07).
                lambda path, frame=frame: frame.write_parquet(
                    path, compression="lz4", statistics=False),
            )
        (self.directory / f"{seq}.done").write_text(json.dumps({
            "seq": seq, "log_hash": log_hash,
            "totals_split": None if split is None else split.isoformat(),
        }))
        for name in self._names():
            number = name.split(".", 1)[0]
            if number.isdigit() and int(number) != seq:
                (self.directory / name).unlink(missing_ok=True)

    def _totals_before(
        self, based_on: int | None, split: dt.date, kept_until: dt.date | None
    ) -> Path | None:
        """The file of reconciliation ``based_on``'s daily totals before ``split``, if they are
        those of a reconciliation whose rows up to ``kept_until`` are its rows."""
        if based_on is None or kept_until is None or kept_until < split - dt.timedelta(days=1):
            return None
        try:
            meta = json.loads((self.directory / f"{based_on}.done").read_text())
        except (OSError, ValueError):
            return None
        path = self.directory / f"{based_on}.{_TOTALS_BEFORE}.parquet"
        return path if meta.get("totals_split") == split.isoformat() and path.is_file() else None

    def _names(self) -> list[str]:
        return os.listdir(self.directory) if self.directory.is_dir() else []


#: The file of the cached daily totals before the split (:meth:`ReconcileCache.save`).
_TOTALS_BEFORE = "daily_totals_before"


def _totals_split(dates: pl.Series) -> dt.date | None:
    """The first of January of the year before the last of ``dates``, when they are sorted
    and some are before it; else ``None`` (the totals are kept in one file).

    >>> _totals_split(pl.Series([dt.date(2022, 3, 1), dt.date(2026, 8, 8)]))
    datetime.date(2025, 1, 1)
    >>> _totals_split(pl.Series([dt.date(2025, 3, 1), dt.date(2026, 8, 8)])) is None
    True
    """
    first, last = dates.min(), dates.max()
    if not isinstance(first, dt.date) or not isinstance(last, dt.date) or not dates.is_sorted():
        return None
    split = dt.date(last.year - 1, 1, 1)
    return split if first < split else None


# --- the settled figures of earlier runs ---------------------------------------------------------

_LOSSLEDGER = Path(__file__).resolve().parents[1]
#: What the settled figures depend on besides the parsers: the projection's rules and checks.
_FIGURE_SOURCES = (
    _LOSSLEDGER / "projection.py",
    _LOSSLEDGER / "_text.py",
    _LOSSLEDGER / "reconcile" / "dating.py",
    _LOSSLEDGER / "parse" / "ontology.py",
    _LOSSLEDGER / "parse" / "categories.csv",
    *sorted((_LOSSLEDGER.parent / "schemas").glob("*.py")),
)
_SEGMENT = re.compile(r"^segment-(\d+)-(\d+)\.json$")
# Any file of a segment, complete or not (a write cut short leaves some).
_SEGMENT_FILE = re.compile(r"^segment-(\d+)-(\d+)\.")
#: Segments kept before they are merged into one (a daily run adds one).
_MAX_SEGMENTS = 16


#: The figure segments' files (4: the valid figures as Parquet, no longer Arrow IPC).
_FIGURES_FORMAT = 4


def _figures_fingerprint() -> str:
    digest = hashlib.sha256(f"format {_FORMAT}.{_FIGURES_FORMAT}".encode())
    for path in _FIGURE_SOURCES:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class FigureCache:
    """The settled figures (:class:`~lossledger.projection.SettledFigures`) of the log up to
    some ``seq``, under ``<home>/cache/figures/<key>/``, keyed on what determines them besides
    the log: the parsers and the projection's code (its rules, checks and categories).

    Kept as segments, one per run that added figures (``segment-F-L``: the reports with
    ``F <= seq <= L``), merged into one now and then: a daily run writes its day, not the
    history. Each segment's settled valid figures are kept with the enum-coded columns as
    codes into the segment's own sorted values (``.dictionary.parquet``); its other figures
    (few) as text. A segment records the log's chain hash at its last ``seq``:
    the hash pins every event before it, so a log cut short and grown again is never
    mistaken for the one the figures came from.

    A convenience like the parse cache: deleting it makes the next run build every figure.
    """

    def __init__(self, home: Path, parsers_fingerprint: str) -> None:
        key = hashlib.sha256(
            f"{parsers_fingerprint}|{_figures_fingerprint()}".encode()
        ).hexdigest()[:20]
        self.root = Path(home) / "cache" / "figures"
        self.directory = self.root / key
        self.key = key
        """What the figures depend on besides the log: the parsers' and the projection's code."""

    def checked_seqs(self, *, upto: int) -> list[int]:
        """The ``seq`` whose chain hash :meth:`load` checks for ``upto`` (none: it has no
        figures for it)."""
        _wait_for(self.directory)
        chain = self._chain(upto)
        return [chain[-1][1]] if chain else []

    def load(
        self, *, upto: int, hash_at: Callable[[int], str | None]
    ) -> SettledFigures | None:
        """The settled figures of the log up to the newest covered ``seq <= upto``, if any.

        ``hash_at`` is the store's :meth:`~lossledger.store.base.EventStore.hash_at`.
        """
        _wait_for(self.directory)
        chain = self._chain(upto)
        if not chain:
            return None
        last = chain[-1]
        if self._meta(last).get("log_hash") != hash_at(last[1]):
            return None
        try:
            parts = _read_in_parallel(self._read, chain)
        except (OSError, pl.exceptions.PolarsError):
            # A segment cut short or damaged: the figures are built again (and kept anew).
            return None
        # The segments' sorted values merged: the later segments' few new ones into the
        # first's (x10's 80,000 event ids are not sorted again).
        dictionary = {
            name: parts[0][3][name] if len(parts) == 1 else _sorted_union(
                parts[0][3][name], pl.concat([part[3][name] for part in parts[1:]])
            )[0]
            for name in _FIGURE_ENUMS
        }
        # The valid figures stay codes (now into ``dictionary``): the projection makes them
        # enums once, in the enums that hold its newer figures' values too.
        # Each segment's columns chunked alike (:func:`~lossledger._chunks.aligned`).
        valid = pl.concat(
            [aligned(_recoded_codes(part[0], part[3], dictionary)) for part in parts]
        )
        invalid, open_figures = (pl.concat([part[i] for part in parts]) for i in (1, 2))
        return SettledFigures(
            seq=last[1], valid=valid, invalid=invalid, open=open_figures, dictionary=dictionary,
        )

    def save(
        self,
        figures: Callable[[int], SettledFigures],
        *,
        seq: int,
        log_hash: str | None,
        based_on: int | None,
        background: bool = False,
    ) -> None:
        """Keep the settled figures of the log up to ``seq`` (whose chain hash there is
        ``log_hash``); ``figures(after)`` gives those of the reports after ``after``.

        ``based_on`` is the ``seq`` of the settled figures this cache gave the run that made
        them (``None``: it gave none). Only the part after it is written, as a new segment,
        when the segments up to it are still the ones it gave; otherwise, or when there are
        many segments, all of them are written as one. Every other segment is dropped.
        ``background``: as :meth:`ReconcileCache.save`, when only a new segment is written;
        all of them are written before returning (a copy of every figure is made to write
        them: beside a publish, that would add to the run's peak memory).
        """
        _wait_for(self.directory)
        chain, after = self._kept(seq, based_on)
        save = functools.partial(self._save, figures, chain, after, seq=seq, log_hash=log_hash)
        if background and after > 0:
            _save_in_background(self.directory, save)
        else:
            save()

    def _kept(
        self, seq: int, based_on: int | None
    ) -> tuple[list[tuple[int, int]], int]:
        """The segments a save up to ``seq`` keeps, and the ``seq`` after which it writes."""
        chain = self._chain(seq)
        after = chain[-1][1] if chain else 0
        if based_on is None or after != based_on or len(chain) >= _MAX_SEGMENTS:
            return [], 0
        return chain, after

    def _save(
        self,
        figures: Callable[[int], SettledFigures],
        chain: list[tuple[int, int]],
        after: int,
        *,
        seq: int,
        log_hash: str | None,
    ) -> None:
        if after < seq:
            self.directory.mkdir(parents=True, exist_ok=True)
            newer = figures(after)
            self._write((after + 1, seq), newer.valid, newer.invalid, newer.open, log_hash)
            chain.append((after + 1, seq))
        for name in self._names():
            match = _SEGMENT_FILE.match(name)
            if match and (int(match.group(1)), int(match.group(2))) not in chain:
                (self.directory / name).unlink(missing_ok=True)
        for path in self.root.iterdir() if self.root.is_dir() else ():
            if path != self.directory:
                shutil.rmtree(path, ignore_errors=True)

    def clear(self) -> None:
        _wait_for(self.directory)
        shutil.rmtree(self.root, ignore_errors=True)

    # segments ----------------------------------------------------------------------------

    def _segments(self) -> list[tuple[int, int]]:
        return sorted(
            (int(m.group(1)), int(m.group(2))) for m in map(_SEGMENT.match, self._names()) if m
        )

    def _chain(self, upto: int) -> list[tuple[int, int]]:
        """The longest run of segments from seq 1, each starting after the last, to a
        ``seq <= upto`` (a whole merged segment wins over the pieces it replaced)."""
        by_first: dict[int, list[int]] = {}
        for first, last in self._segments():
            by_first.setdefault(first, []).append(last)
        chain: list[tuple[int, int]] = []
        first = 1
        while by_first.get(first):
            ends = [last for last in by_first[first] if last <= upto]
            if not ends:
                break
            chain.append((first, max(ends)))
            first = max(ends) + 1
        return chain

    def _stem(self, segment: tuple[int, int]) -> Path:
        return self.directory / f"segment-{segment[0]:012d}-{segment[1]:012d}"

    def _meta(self, segment: tuple[int, int]) -> dict[str, object]:
        try:
            return dict(json.loads(self._stem(segment).with_suffix(".json").read_text()))
        except (OSError, ValueError):
            return {}

    def _read(
        self, segment: tuple[int, int]
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict[str, pl.Series]]:
        stem = str(self._stem(segment))
        values = pl.read_parquet(f"{stem}.dictionary.parquet")
        # Written sorted (:meth:`_write`); sorted again only if a file says otherwise.
        dictionary = {
            name: _sorted(values.filter(pl.col("column") == name).get_column("value"))
            for name in _FIGURE_ENUMS
        }
        return (
            pl.read_parquet(f"{stem}.valid.parquet"),
            pl.read_parquet(f"{stem}.invalid.parquet"),
            pl.read_parquet(f"{stem}.open.parquet"),
            dictionary,
        )

    def _write(
        self,
        segment: tuple[int, int],
        valid: pl.DataFrame,
        invalid: pl.DataFrame,
        open_figures: pl.DataFrame,
        log_hash: str | None,
    ) -> None:
        stem = self._stem(segment)
        texts = [enums_as_text(frame) for frame in (invalid, open_figures)]
        # An enum column's values are its categories (no row is made text); text columns
        # give their distinct values.
        # Once: each dtype of an enum column hands its values to Python (x10's 80,000 event
        # ids: some 5 ms a time).
        dtypes = [valid.schema, *(frame.schema for frame in texts)]
        values = pl.concat([
            pl.concat([_values(frame.get_column(name), schema[name])
                       for frame, schema in zip((valid, *texts), dtypes, strict=True)])
            .drop_nulls().unique().sort().to_frame("value")
            .with_columns(column=pl.lit(name))
            for name in _FIGURE_ENUMS
        ]).select("column", "value")
        dictionary = {
            name: values.filter(pl.col("column") == name).get_column("value")
            for name in _FIGURE_ENUMS
        }
        coded = valid.with_columns(
            _as_codes(valid.get_column(name), dictionary[name], dtypes[0][name])
            for name in _FIGURE_ENUMS
        )
        _replace_with(Path(f"{stem}.dictionary.parquet"), values.write_parquet)
        # Parquet, lz4, no statistics: every run reads it whole, once a segment is written.
        # x10's 1.1 million figures read in 19 ms, against 34 ms as Arrow IPC with zstd (26
        # uncompressed), for 6 MB against 3 and a write of 79 ms against 49 (2026-12-08).
        _replace_with(Path(f"{stem}.valid.parquet"), lambda tmp: coded.write_parquet(
            tmp, compression="lz4", statistics=False))
        _replace_with(Path(f"{stem}.invalid.parquet"), texts[0].write_parquet)
        _replace_with(Path(f"{stem}.open.parquet"), texts[1].write_parquet)
        # Written last: its presence marks a complete segment.
        _replace_with(
            stem.with_suffix(".json"),
            lambda tmp: tmp.write_text(json.dumps({"log_hash": log_hash})),
        )

    def _names(self) -> list[str]:
        return os.listdir(self.directory) if self.directory.is_dir() else []


def _values(column: pl.Series, dtype: pl.DataType) -> pl.Series:
    """The text values of a column of type ``dtype``: an enum's categories when it has more
    rows than categories (no row is made text), else its distinct values."""
    if _by_categories(column, dtype):
        return dtype.categories.cast(pl.String)  # type: ignore[attr-defined]
    return column.unique().cast(pl.String)


def _as_codes(column: pl.Series, values: pl.Series, dtype: pl.DataType) -> pl.Series:
    """A column of type ``dtype``, enum or text, as the codes of its values in the sorted
    ``values`` (which hold :func:`_values` of it)."""
    if _by_categories(column, dtype):
        categories = dtype.categories.cast(pl.String)  # type: ignore[attr-defined]
        codes = values.search_sorted(categories).cast(pl.UInt32)
        return codes.gather(column.to_physical()).alias(column.name)
    # Fewer rows than categories (a daily run's figures): its rows' values, not every
    # category, are looked up.
    coded = column.cast(pl.String).cast(pl.Enum(values)).to_physical()
    return coded.cast(pl.UInt32).alias(column.name)  # an enum's own codes may be narrower


def _sorted(values: pl.Series) -> pl.Series:
    """``values`` in order: themselves when they are (a check, not a sort).

    >>> _sorted(pl.Series(["b", "a"])).to_list(), _sorted(pl.Series(["a", "b"])).to_list()
    (['a', 'b'], ['a', 'b'])
    """
    return values if values.is_sorted() else values.sort()


def _by_categories(column: pl.Series, dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Enum) and column.len() > dtype.categories.len()


def _recoded_codes(
    frame: pl.DataFrame, own: dict[str, pl.Series], dictionary: dict[str, pl.Series]
) -> pl.DataFrame:
    """A segment's codes into its ``own`` sorted values as codes into ``dictionary``'s (a
    superset of them)."""
    columns = []
    for name in _FIGURE_ENUMS:
        if own[name] is dictionary[name] or own[name].equals(dictionary[name]):
            continue
        codes = dictionary[name].search_sorted(own[name]).cast(pl.UInt32)
        columns.append(codes.gather(frame.get_column(name)).alias(name))
    return frame.with_columns(columns) if columns else frame
