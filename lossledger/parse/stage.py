"""Parsed reports as frames: the parse stage, pure and batchable.

:func:`parse_events` runs every ReportReceived event of a batch through the parsers and returns
the events' metadata and three frames keyed by the raw content's sha256, so that what the
parsers made of a report depends only on its bytes and the parsers' versions (which is what
makes it cacheable and safe to run on any worker).

A batch of many reports is parsed by this process and forked workers together, one process per
usable core unless ``LOSSLEDGER_PARSE_WORKERS`` says otherwise (:func:`parse_workers`): the
processes take the batch's chunks from a shared counter, the results come back in the batch's
order, so the frames are the same, row for row, whatever the number of workers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized

import polars as pl

from lossledger._heap import frozen_heap
from lossledger.parse.parsers import Parser, parse_report
from lossledger.parse.parsers._utils import looks_like_html
from lossledger.store.base import require_intact
from lossledger.store.events import RecordedEvent, ReportReceived

__all__ = [
    "DEFAULT_MAX_REPORT_BYTES",
    "DEFAULT_MAX_WORKERS",
    "EVENT_META_SCHEMA",
    "OBSERVATION_ROWS_SCHEMA",
    "PARALLEL_MIN_REPORTS",
    "PARSE_WORKERS_ENV",
    "PROBLEM_ROWS_SCHEMA",
    "REPORT_ROWS_SCHEMA",
    "ParsedBatch",
    "parse_events",
    "parse_workers",
    "usable_cores",
    "wait_for_workers",
]

#: Reports larger than this are stored but not parsed (quarantined as too large). The largest
#: real report, a history file, is under 1 MB; a news page is some 100 KB.
DEFAULT_MAX_REPORT_BYTES = 50_000_000

EVENT_META_SCHEMA = pl.Schema({
    "event_id": pl.String,
    "seq": pl.Int64,
    "source": pl.String,
    "file_name": pl.String,
    "media_type": pl.String,
    "sha256": pl.String,
    "received_at": pl.Datetime("us", "UTC"),
})
REPORT_ROWS_SCHEMA = pl.Schema({
    "sha256": pl.String,
    "parser": pl.String,
    "parser_version": pl.String,
    "source_kind": pl.String,
    "report_date": pl.Date,
})
OBSERVATION_ROWS_SCHEMA = pl.Schema({
    "sha256": pl.String,
    "date": pl.Date,
    "category": pl.String,
    "total": pl.Int64,
    "stated_delta": pl.Int64,
    "qualifier": pl.String,
    "label": pl.String,
    "span_start": pl.Int64,
    "span_end": pl.Int64,
    "confidence": pl.Float64,
    "date_source": pl.String,
    "date_text": pl.String,
})
PROBLEM_ROWS_SCHEMA = pl.Schema({
    "sha256": pl.String,
    "stage": pl.String,
    "reason": pl.String,
    "date": pl.Date,
    "category": pl.String,
})

#: The frames of a parsed batch and their schemas.
PARTS: dict[str, pl.Schema] = {
    "events": EVENT_META_SCHEMA,
    "reports": REPORT_ROWS_SCHEMA,
    "observations": OBSERVATION_ROWS_SCHEMA,
    "problems": PROBLEM_ROWS_SCHEMA,
}


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """A batch of raw report events: their metadata (one row per event, no bytes) and what the
    parsers made of their content (keyed by content sha256)."""

    events: pl.DataFrame
    reports: pl.DataFrame
    observations: pl.DataFrame
    problems: pl.DataFrame

    @classmethod
    def empty(cls) -> ParsedBatch:
        return cls(*(pl.DataFrame(schema=schema) for schema in PARTS.values()))

    def frames(self) -> dict[str, pl.DataFrame]:
        """The four frames by name, in the order of :data:`PARTS`."""
        return {part: getattr(self, part) for part in PARTS}

    def upto(self, seq: int) -> ParsedBatch:
        """The batch as it was when event ``seq`` was the newest: later events left out."""
        return ParsedBatch(
            self.events.filter(pl.col("seq") <= seq), self.reports, self.observations,
            self.problems,
        )

    def __len__(self) -> int:
        return self.events.height


def parse_events(
    events: Iterable[RecordedEvent],
    *,
    parsers: Sequence[Parser] | None = None,
    max_report_bytes: int = DEFAULT_MAX_REPORT_BYTES,
    workers: int | None = None,
) -> ParsedBatch:
    """Parse the raw reports among ``events`` (other kinds are skipped) with ``parsers`` (the
    built-in ones when omitted).

    A batch of at least :data:`PARALLEL_MIN_REPORTS` distinct reports is parsed by ``workers``
    processes (this one included; :func:`parse_workers` when omitted); the result is the same
    as with one.

    Never raises for bad input: whatever cannot be read comes back as a problem row, one
    report at a time (a report the frames cannot hold is that report's quarantine, never the
    batch's failure). Reports larger than ``max_report_bytes`` are not decoded at all: they
    are quarantined as too large.

    Raises
    ------
    TamperedEvent
        When an event's stored bytes no longer match its hash: nothing may be built from a
        store that was altered, so the run stops here, before anything is published.
    """
    reports = _reports(events)
    count = parse_workers() if workers is None else max(1, workers)
    with frozen_heap() as freeze_more:
        if count > 1 and _can_fork():
            return _parse_parallel(reports, parsers=parsers, max_report_bytes=max_report_bytes,
                                   workers=count, freeze_more=freeze_more)
        return _fitted([_parse_one(recorded, parsers=parsers, max_report_bytes=max_report_bytes)
                        for recorded in reports])


#: Distinct reports a batch must hold before worker processes share its parsing (below it,
#: starting them costs more than they save).
PARALLEL_MIN_REPORTS = 256
#: The environment variable that sets the number of parsing processes (1: this one only).
PARSE_WORKERS_ENV = "LOSSLEDGER_PARSE_WORKERS"
#: Processes at most when the environment does not say (each brings its own 2,000 events to
#: a batch, some 60 chunks; beyond 8 the batches' memory grows past what a laptop spares).
DEFAULT_MAX_WORKERS = 8
#: Reports a process takes at a time, and raw bytes at most (a few large reports go alone).
_CHUNK_REPORTS = 32
_CHUNK_BYTES = 4_000_000
#: Reports of the chunk parsed before the workers fork (it loads what they all use): few, as
#: no worker parses meanwhile.
_FIRST_CHUNK_REPORTS = 8


def parse_workers() -> int:
    """How many processes parse a large batch: ``$LOSSLEDGER_PARSE_WORKERS`` if set (a whole
    number, or ``auto``), else the cores this process may use (:func:`usable_cores`), at most
    :data:`DEFAULT_MAX_WORKERS`.

    A core that other programs keep busy costs little: the processes share a batch by taking
    chunks from a common counter, so one that gets less CPU takes fewer. Measured on the
    2-core bench machine (4,000 reports of the real-world corpus, parse only, 2026-12-07): one
    process 3.75-3.82 s, two 2.07-2.12 s; with one core kept busy by another program, one
    4.07-4.50 s, two 3.22-3.32 s; with both busy, one 6.18 s, two 4.10-4.36 s.

    >>> import os
    >>> os.environ["LOSSLEDGER_PARSE_WORKERS"] = "1"; parse_workers()
    1
    >>> os.environ["LOSSLEDGER_PARSE_WORKERS"] = "auto"; parse_workers() == min(usable_cores(), 8)
    True
    >>> del os.environ["LOSSLEDGER_PARSE_WORKERS"]; parse_workers() == min(usable_cores(), 8)
    True
    """
    value = os.environ.get(PARSE_WORKERS_ENV, "").strip()
    if not value or value.lower() == "auto":
        return min(usable_cores(), DEFAULT_MAX_WORKERS)
    try:
        return max(1, int(value))
    except ValueError:
        raise ValueError(
            f"{PARSE_WORKERS_ENV} must be a whole number of processes or 'auto', "
            f"not {value!r}"
        ) from None


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity; the machine's where there is
    none), at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


def _can_fork() -> bool:
    """Whether worker processes can be forked here (not on platforms without fork, nor from
    a daemonic process such as a multiprocessing or Dask worker, which may have no children)."""
    return ("fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon)


def _reports(events: Iterable[RecordedEvent]) -> Iterator[RecordedEvent]:
    """The report events to parse, in order: intact (or the run stops), each content once."""
    seen: set[str | None] = set()
    for recorded in events:
        if recorded.kind != ReportReceived.kind:
            continue
        require_intact(recorded)
        if recorded.content_sha256 in seen:
            continue
        seen.add(recorded.content_sha256 or "")
        yield recorded


def _chunks(reports: Iterable[tuple[int, RecordedEvent]], *, first: int | None = None) -> (
    Iterator[tuple[list[int], list[RecordedEvent]]]
):
    """The reports in chunks, in order, each with the reports' places in the batch; the first
    chunk holds ``first`` reports at most."""
    places: list[int] = []
    chunk: list[RecordedEvent] = []
    size = 0
    most = first or _CHUNK_REPORTS
    for place, recorded in reports:
        places.append(place)
        chunk.append(recorded)
        size += len(recorded.body or b"")
        if len(chunk) >= most or size >= _CHUNK_BYTES:
            yield places, chunk
            places, chunk, size = [], [], 0
            most = _CHUNK_REPORTS
    if chunk:
        yield places, chunk


def _looks_like_markup(recorded: RecordedEvent) -> bool:
    """Whether a report is likely an HTML page, by its media type, name or first bytes: a hint
    for who parses it (:func:`_parse_parallel`), never for how."""
    if "html" in recorded.payload.lower():
        return True
    head = (recorded.body or b"")[:2000].decode("utf-8", "replace")
    return looks_like_html(head, "")


def _parse_chunk(
    chunk: list[RecordedEvent], parsers: Sequence[Parser] | None, max_report_bytes: int
) -> list[_Parsed]:
    """A worker's share: one chunk of reports, parsed in order."""
    return [_parse_one(recorded, parsers=parsers, max_report_bytes=max_report_bytes)
            for recorded in chunk]


#: A queue of chunks: the shared counter of the next chunk to take, and the end of its range.
_Queue = tuple["Synchronized[int]", int]


def _share(
    chunks: list[list[RecordedEvent]], queues: Sequence[_Queue],
    parsers: Sequence[Parser] | None, max_report_bytes: int,
) -> Iterator[tuple[int, list[_Parsed]]]:
    """Take the next chunk no process has taken yet and parse it, from the first of
    ``queues`` that has one left, until none is left."""
    for taken, end in queues:
        while True:
            with taken.get_lock():
                index = taken.value
                taken.value = index + 1
            if index >= end:
                break
            yield index, _parse_chunk(chunks[index], parsers, max_report_bytes)


def _in_worker(
    chunks: list[list[RecordedEvent]], queues: Sequence[_Queue],
    parsers: Sequence[Parser] | None, max_report_bytes: int, results: Connection,
) -> None:
    """What a forked worker runs: its share of the chunks, each chunk's results sent back as
    soon as it is parsed, then ``None``.

    A worker runs no polars (nor anything else with a thread pool): a fork copies the
    parent's pool without its threads, and polars' first parallel operation in the child
    then waits for them forever (tried with polars 2.1: a ``group_by`` in the child of a
    process that ran one before hangs). The parsers are plain Python; the frames are made
    by the parent.
    """
    with contextlib.suppress(Exception):  # unsent: the parent parses those chunks again
        for index, parsed in _share(chunks, queues, parsers, max_report_bytes):
            results.send((index, parsed))
        results.send(None)
    results.close()


def _receive(
    process: BaseProcess, receiver: Connection, done: dict[int, list[_Parsed]]
) -> None:
    """A thread of this process: each chunk's results a worker sends, into ``done``, until
    it says it is done (it is left to exit: :func:`_reap`) or dies (joined; what it took
    and did not send is parsed again).

    Received (and unpickled) while the processes still parse, not after: the time this
    process spends on them is chunks the others take, so it costs a share of the batch's
    time, not all of it at its end.
    """
    finished = False
    try:
        while True:
            while not receiver.poll(0.5):
                if not process.is_alive() and not receiver.poll(0):
                    return
            item = receiver.recv()
            if item is None:
                finished = True
                return
            index, parsed = item
            done[index] = parsed
    except (EOFError, OSError, pickle.UnpicklingError):
        return
    finally:
        receiver.close()
        if finished:
            # A worker that has sent its results only exits: that takes a forked copy of this
            # process some 0.1 s (its pages go back), which the batch need not wait for. It is
            # reaped by a later batch (or at exit, as a daemon).
            _exiting.append(process)
        else:
            process.join()


#: Workers that sent their results and are exiting (see :func:`_receive`).
_exiting: list[BaseProcess] = []


def _reap() -> None:
    """Join the workers of earlier batches that have exited by now."""
    for process in list(_exiting):
        process.join(timeout=0)
        if process.exitcode is not None:
            _exiting.remove(process)


def wait_for_workers() -> None:
    """Join every parse worker still exiting (a measurement's CPU time counts a child's only
    once it is joined)."""
    while _exiting:
        _exiting.pop().join()


def _parse_parallel(
    reports: Iterator[RecordedEvent], *, parsers: Sequence[Parser] | None,
    max_report_bytes: int, workers: int, freeze_more: Callable[[], None] = lambda: None,
) -> ParsedBatch:
    """Parse ``reports`` in this process and ``workers - 1`` forked ones, frames in order.

    The processes take the batch's chunks one at a time from shared counters, so a process
    on a busy core takes fewer. The HTML pages go in chunks of their own, which the workers
    take first and this process last: only a process that meets a page loads the libraries
    that read pages (trafilatura and what it imports: some 0.17 s), and a worker does that
    while this process parses plain text, rather than this process before it forks them. The
    workers have the reports from the fork (nothing is sent to them) and send each chunk's
    results as they finish it, which a thread per worker here receives (:func:`_receive`);
    the frames are made at the end, of the results in the reports' order. A chunk a worker
    took but did not send back (it died) is parsed here: the result never depends on the
    workers. The batch's
    reports are held in memory meanwhile, as its results are (the pipeline's batches are
    2,000 events a parsing process: :data:`lossledger.pipeline.PARSE_BATCH_EVENTS`).
    """
    _reap()
    first = list(itertools.islice(reports, PARALLEL_MIN_REPORTS))
    if len(first) < PARALLEL_MIN_REPORTS:  # a small batch: not worth a process
        return _fitted(_parse_chunk(first, parsers, max_report_bytes))
    plain: list[tuple[int, RecordedEvent]] = []
    markup: list[tuple[int, RecordedEvent]] = []
    for place, recorded in enumerate(_chained(first, reports)):
        (markup if _looks_like_markup(recorded) else plain).append((place, recorded))
    split = [*_chunks(plain, first=_FIRST_CHUNK_REPORTS)]
    plain_end = len(split)
    split += _chunks(markup, first=None if plain else _FIRST_CHUNK_REPORTS)
    places = [chunk_places for chunk_places, _ in split]
    chunks = [chunk for _, chunk in split]
    # The first chunk (plain text if there is any) is parsed here before any worker exists:
    # the workers are forked with what it loaded (lazy imports, date and label tables,
    # caches) instead of each loading its own.
    done: dict[int, list[_Parsed]] = {0: _parse_chunk(chunks[0], parsers, max_report_bytes)}
    context = multiprocessing.get_context("fork")
    # Each queue's counter starts after the first chunk if it held it.
    plain_queue = (context.Value("q", min(plain_end, 1)), plain_end)
    markup_queue = (context.Value("q", max(plain_end, 1)), len(chunks))
    started: list[tuple[BaseProcess, Connection]] = []
    # The workers share this process's objects, frozen (:func:`~lossledger._heap.frozen_heap`;
    # again now, with what the first chunk loaded): the collector leaves them untouched, so no
    # worker copies their pages, as the Python documentation advises for fork.
    freeze_more()
    for _ in range(workers - 1):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_in_worker,
            args=(chunks, (markup_queue, plain_queue), parsers, max_report_bytes, sender),
            daemon=True)
        try:
            process.start()
        except OSError:  # no more processes to be had: the ones started do the work
            receiver.close()
            break
        finally:
            sender.close()
        started.append((process, receiver))
    # Started once every worker is forked: no fork copies a thread of this process.
    threads = [
        threading.Thread(target=_receive, args=(process, receiver, done),
                         name="lossledger-parse-receive", daemon=True)
        for process, receiver in started
    ]
    for thread in threads:
        thread.start()
    done.update(_share(chunks, (plain_queue, markup_queue), parsers, max_report_bytes))
    for thread in threads:
        thread.join()
    for index, chunk in enumerate(chunks):
        if index not in done:
            done[index] = _parse_chunk(chunk, parsers, max_report_bytes)
    in_order = sorted(
        ((place, one) for index, parsed in done.items()
         for place, one in zip(places[index], parsed, strict=True)),
        key=lambda placed: placed[0],
    )
    return _fitted([one for _, one in in_order])


def _chained(first: list[RecordedEvent], rest: Iterator[RecordedEvent]) -> (
    Iterator[RecordedEvent]
):
    yield from first
    yield from rest


@dataclass(slots=True)
class _Parsed:
    """One report's rows for the four frames."""

    sha: str
    meta: tuple[object, ...]
    report: tuple[object, ...]
    observations: list[tuple[object, ...]] = field(default_factory=list)
    problems: list[tuple[object, ...]] = field(default_factory=list)


def _parse_one(
    recorded: RecordedEvent, *, parsers: Sequence[Parser] | None, max_report_bytes: int
) -> _Parsed:
    sha = recorded.content_sha256 or ""
    try:
        event = recorded.to_domain()
        assert isinstance(event, ReportReceived)
    except Exception as error:  # decodes no more, yet its hash holds: keep it, say why
        meta = (recorded.event_id, recorded.seq, None, f"seq-{recorded.seq}",
                "application/octet-stream", sha, recorded.recorded_at)
        return _quarantined(sha, meta, f"event could not be decoded: {error}")
    meta = (recorded.event_id, recorded.seq, event.source, event.file_name,
            event.media_type, sha, event.received_at)
    size = len(event.body)
    if size > max_report_bytes:
        return _quarantined(
            sha, meta,
            f"report too large: {size:,} bytes (limit {max_report_bytes:,}; "
            "set LOSSLEDGER_MAX_REPORT_BYTES to raise it)",
            stage="decode",
        )
    try:
        result = parse_report(
            event.body, media_type=event.media_type, file_name=event.file_name, parsers=parsers,
            received_at=event.received_at, metadata=event.metadata,
        )
        one = _Parsed(
            sha, meta,
            (sha, result.parser, result.parser_version, result.source_kind, result.report_date),
            [(sha, o.date, o.category, o.total, o.stated_delta, o.qualifier, o.label,
              o.span_start, o.span_end, o.confidence, o.date_source, o.date_text)
             for o in result.observations],
            [(sha, _stage_of(p.reason), p.reason, p.date, p.category) for p in result.problems],
        )
    except Exception as error:  # parse_report never raises; this is the last guard
        return _quarantined(sha, meta, f"internal error while parsing: {error!r}")
    unusable = _unusable(one)
    if unusable is not None:
        return _quarantined(sha, meta, f"parser output unusable: {unusable}")
    return one


def _quarantined(
    sha: str, meta: tuple[object, ...], reason: str, *, stage: str = "parse"
) -> _Parsed:
    return _Parsed(sha, meta, (sha, None, None, None, None), [],
                   [(sha, stage, reason, None, None)])


def _unusable(one: _Parsed) -> str | None:
    """Why the parsed rows cannot go into the frames (values of the wrong type or range)."""
    report_date = one.report[4]
    if report_date is not None and not isinstance(report_date, dt.date):
        return f"report date {report_date!r}"
    date_type, low, high = dt.date, -(2**63), 2**63
    for _, date, category, total, delta, qualifier, label, _, _, _, _, _ in one.observations:
        # An undated figure (date None) waits for its date to be inferred from the series.
        if not (date is None or isinstance(date, date_type)) or not isinstance(category, str):
            return f"observation date {date!r} / category {category!r}"
        # An int in 64 bits (the common case tested first); a bool, an int too, is no figure.
        for value in (total, delta):
            if not (value is None or (type(value) is int and low <= value < high) or (
                    isinstance(value, int) and not isinstance(value, bool)
                    and low <= value < high)):
                return f"figure {value!r} for {category}"
        if not ((qualifier is None or isinstance(qualifier, str))
                and (label is None or isinstance(label, str))):
            return f"label {label!r}"
    for _, _, reason, date, category in one.problems:
        if not isinstance(reason, str) or not (date is None or isinstance(date, dt.date)):
            return f"problem {reason!r}"
        if category is not None and not isinstance(category, str):
            return f"problem category {category!r}"
    return None


def _fitting(one: _Parsed) -> _Parsed:
    try:
        _frames([one])
    except Exception as error:
        return _quarantined(one.sha, one.meta, f"parser output unusable: {error!r}")
    return one


def _fitted(parsed: list[_Parsed]) -> ParsedBatch:
    """The frames of ``parsed`` (a report whose values do not fit them, which a parser bug
    alone can cause, is quarantined alone)."""
    try:
        return _frames(parsed)
    except Exception:
        return _frames([_fitting(one) for one in parsed])


def _frames(parsed: list[_Parsed]) -> ParsedBatch:
    return ParsedBatch(
        _frame([p.meta for p in parsed], EVENT_META_SCHEMA),
        _frame([p.report for p in parsed], REPORT_ROWS_SCHEMA),
        _frame([row for p in parsed for row in p.observations], OBSERVATION_ROWS_SCHEMA),
        _frame([row for p in parsed for row in p.problems], PROBLEM_ROWS_SCHEMA),
    )


def _frame(rows: list[tuple[object, ...]], schema: pl.Schema) -> pl.DataFrame:
    """The rows as a frame of ``schema``; raises if a value does not fit its column.

    Column by column: for the 49,000 figures of 4,000 reports, 28 ms against 46 ms for the
    rows handed to polars as rows.
    """
    if not rows:
        return pl.DataFrame(schema=schema)
    columns = zip(*rows, strict=True)
    return pl.DataFrame([
        pl.Series(name, values, dtype=dtype)
        for (name, dtype), values in zip(schema.items(), columns, strict=True)
    ])


def _stage_of(reason: str) -> str:
    return "decode" if reason.startswith("undecodable") else "parse"
