"""Parsed reports as frames: the parse stage, pure and batchable.

:func:`parse_events` runs every ReportReceived event of a batch through the parsers and returns
the events' metadata and three frames keyed by the raw content's sha256, so that what the
parsers made of a report depends only on its bytes and the parsers' versions (which is what
makes it cacheable and safe to run on any worker).

With ``LOSSLEDGER_PARSE_WORKERS=N`` (:func:`parse_workers`; 1 by default) a batch of many
reports is parsed by this process and ``N - 1`` forked workers together: reports go out in
chunks as they are read, the results come back in the batch's order, so the frames are the
same, row for row, whatever the number of workers.
"""

from __future__ import annotations

import datetime as dt
import math
import multiprocessing
import os
import pickle
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from lossledger.parse.parsers import Parser, parse_report
from lossledger.store.base import require_intact
from lossledger.store.events import RecordedEvent, ReportReceived

__all__ = [
    "DEFAULT_MAX_REPORT_BYTES",
    "EVENT_META_SCHEMA",
    "OBSERVATION_ROWS_SCHEMA",
    "PARALLEL_MIN_REPORTS",
    "PARSE_WORKERS_ENV",
    "PROBLEM_ROWS_SCHEMA",
    "REPORT_ROWS_SCHEMA",
    "ParsedBatch",
    "idle_cores",
    "parse_events",
    "parse_workers",
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
    if count > 1 and _can_fork() and _picklable(parsers):
        parsed = _parse_parallel(reports, parsers=parsers, max_report_bytes=max_report_bytes,
                                 workers=count)
    else:
        parsed = [_parse_one(recorded, parsers=parsers, max_report_bytes=max_report_bytes)
                  for recorded in reports]
    try:
        return _frames(parsed)
    except Exception:
        # Some report's values do not fit the frames (checked below, so this is a parser
        # bug): find it, quarantine it alone, keep the others.
        return _frames([_fitting(one) for one in parsed])


#: Distinct reports a batch must hold before worker processes share its parsing (below it,
#: starting them costs more than they save).
PARALLEL_MIN_REPORTS = 256
#: The environment variable that sets the number of parsing processes (1: this one only).
PARSE_WORKERS_ENV = "LOSSLEDGER_PARSE_WORKERS"
#: Reports sent to a worker at a time, and raw bytes at most (a few large reports go alone).
_CHUNK_REPORTS = 32
_CHUNK_BYTES = 4_000_000


def parse_workers() -> int:
    """How many processes parse a large batch: ``$LOSSLEDGER_PARSE_WORKERS`` if set, else 1.

    ``auto`` takes the cores this process may use that were at least partly idle over the last
    minute (:func:`idle_cores`), at least one.

    One by default: on the shared 2-core bench machine a forked worker per batch made the
    parse slower, not faster (see ``bench/README.md``); on a quiet machine with idle cores,
    set it to their number or to ``auto``. Measured again on the 4,000-report real corpus
    with other sessions loading both cores (load 3-5): two processes parsed in 0.55-0.65 of
    the wall time when a core was free, in 1.1-2.3 times the wall time when none was, and
    used up to 25 % more CPU seconds. On a quiet machine (2026-12-06, load < 1.1): 806
    reports/s with one, 1,231 with two (``bench.realcorpus``, medians of 3).

    >>> import os
    >>> os.environ["LOSSLEDGER_PARSE_WORKERS"] = "2"; parse_workers()
    2
    >>> os.environ["LOSSLEDGER_PARSE_WORKERS"] = "auto"; 1 <= parse_workers() <= os.cpu_count()
    True
    >>> del os.environ["LOSSLEDGER_PARSE_WORKERS"]; parse_workers()
    1
    """
    value = os.environ.get(PARSE_WORKERS_ENV, "").strip()
    if not value:
        return 1
    if value.lower() == "auto":
        return idle_cores()
    try:
        return max(1, int(value))
    except ValueError:
        raise ValueError(
            f"{PARSE_WORKERS_ENV} must be a whole number of processes or 'auto', "
            f"not {value!r}"
        ) from None


def idle_cores(*, usable: int | None = None, load: float | None = None) -> int:
    """The cores this process may use minus the one-minute load average, rounded up (a core
    partly idle counts), at least one.

    Parameters
    ----------
    usable
        Cores this process may run on (its CPU affinity when omitted).
    load
        The one-minute load average (the system's when omitted; 0 where it has none).

    Examples
    --------
    >>> [idle_cores(usable=2, load=load) for load in (0.3, 1.4, 5.0)]
    [2, 1, 1]
    """
    if usable is None:
        try:
            usable = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # no affinity on this platform
            usable = os.cpu_count() or 1
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(usable, math.ceil(usable - load)))


def _can_fork() -> bool:
    """Whether worker processes can be forked here (not on platforms without fork, nor from
    a daemonic process such as a multiprocessing or Dask worker, which may have no children)."""
    return ("fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon)


def _picklable(parsers: Sequence[Parser] | None) -> bool:
    if parsers is None:
        return True
    try:
        pickle.dumps(tuple(parsers))
    except Exception:  # a parser that cannot travel to a worker: parse here
        return False
    return True


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


def _chunks(reports: Iterator[RecordedEvent]) -> Iterator[list[RecordedEvent]]:
    chunk: list[RecordedEvent] = []
    size = 0
    for recorded in reports:
        chunk.append(recorded)
        size += len(recorded.body or b"")
        if len(chunk) >= _CHUNK_REPORTS or size >= _CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _parse_chunk(
    chunk: list[RecordedEvent], parsers: Sequence[Parser] | None, max_report_bytes: int
) -> list[_Parsed]:
    """A worker's share: one chunk of reports, parsed in order."""
    return [_parse_one(recorded, parsers=parsers, max_report_bytes=max_report_bytes)
            for recorded in chunk]


def _in_worker(
    chunk: list[RecordedEvent], parsers: Sequence[Parser] | None, max_report_bytes: int
) -> list[_Parsed]:
    """What a worker runs (by name: the worker's own copy of :func:`_parse_chunk`)."""
    return _parse_chunk(chunk, parsers, max_report_bytes)


def _parse_parallel(
    reports: Iterator[RecordedEvent], *, parsers: Sequence[Parser] | None,
    max_report_bytes: int, workers: int,
) -> list[_Parsed]:
    """Parse ``reports`` in this process and ``workers - 1`` forked ones, results in order.

    Reports are read and sent out chunk by chunk (only the chunks in flight are held); this
    process parses a chunk itself whenever the workers have enough queued, so both share the
    work however busy the machine is. A chunk a worker could not parse (the pool broke) is
    parsed here: the result never depends on the workers.
    """
    first = []
    for recorded in reports:
        first.append(recorded)
        if len(first) >= PARALLEL_MIN_REPORTS:
            break
    if len(first) < PARALLEL_MIN_REPORTS:  # a small batch: not worth a process
        return _parse_chunk(first, parsers, max_report_bytes)
    stream = _chunks(_chained(first, reports))
    # The first chunk is parsed here before any worker exists: the workers are forked with what
    # it loaded (lazy imports, date and label tables, caches) instead of each loading its own.
    done: dict[int, list[_Parsed]] = {0: _parse_chunk(next(stream), parsers, max_report_bytes)}
    flying: dict[int, tuple[Future[list[_Parsed]], list[RecordedEvent]]] = {}
    queue_limit = 2 * (workers - 1)

    def collect(*, wait: bool) -> None:
        for index, (future, chunk) in list(flying.items()):
            if not (wait or future.done()):
                continue
            try:
                done[index] = future.result()
            except Exception:  # the pool broke or the chunk did not travel: parse it here
                done[index] = _parse_chunk(chunk, parsers, max_report_bytes)
            del flying[index]

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers - 1, mp_context=context) as pool:
        for index, chunk in enumerate(stream, start=1):
            collect(wait=False)
            if len(flying) < queue_limit:
                flying[index] = (
                    pool.submit(_in_worker, chunk, parsers, max_report_bytes), chunk)
            else:
                done[index] = _parse_chunk(chunk, parsers, max_report_bytes)
        collect(wait=True)
    return [one for index in sorted(done) for one in done[index]]


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


def _frames(parsed: list[_Parsed]) -> ParsedBatch:
    return ParsedBatch(
        pl.DataFrame([p.meta for p in parsed], schema=EVENT_META_SCHEMA, orient="row"),
        pl.DataFrame([p.report for p in parsed], schema=REPORT_ROWS_SCHEMA, orient="row"),
        pl.DataFrame([row for p in parsed for row in p.observations],
                     schema=OBSERVATION_ROWS_SCHEMA, orient="row"),
        pl.DataFrame([row for p in parsed for row in p.problems],
                     schema=PROBLEM_ROWS_SCHEMA, orient="row"),
    )


def _stage_of(reason: str) -> str:
    return "decode" if reason.startswith("undecodable") else "parse"
