"""Parsed reports as frames: the parse stage, pure and batchable.

:func:`parse_events` runs every ReportReceived event of a batch through the parsers and returns
the events' metadata and three frames keyed by the raw content's sha256, so that what the
parsers made of a report depends only on its bytes and the parsers' versions (which is what
makes it cacheable and safe to run on any worker).
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

from lossledger.parse.parsers import Parser, parse_report
from lossledger.store.base import require_intact
from lossledger.store.events import RecordedEvent, ReportReceived

__all__ = [
    "DEFAULT_MAX_REPORT_BYTES",
    "EVENT_META_SCHEMA",
    "OBSERVATION_ROWS_SCHEMA",
    "PROBLEM_ROWS_SCHEMA",
    "REPORT_ROWS_SCHEMA",
    "ParsedBatch",
    "parse_events",
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
})
#: Parsers that read a fetched report's provenance (charset, the page's dates) take it as
#: ``metadata``; the stage passes it whenever :func:`parse_report` has that keyword.
_PASSES_METADATA = "metadata" in inspect.signature(parse_report).parameters
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
) -> ParsedBatch:
    """Parse the raw reports among ``events`` (other kinds are skipped) with ``parsers`` (the
    built-in ones when omitted).

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
    parsed: list[_Parsed] = []
    seen: set[str] = set()
    for recorded in events:
        if recorded.kind != ReportReceived.kind:
            continue
        require_intact(recorded)
        if recorded.content_sha256 in seen:
            continue
        one = _parse_one(recorded, parsers=parsers, max_report_bytes=max_report_bytes)
        seen.add(one.sha)
        parsed.append(one)
    try:
        return _frames(parsed)
    except Exception:
        # Some report's values do not fit the frames (checked below, so this is a parser
        # bug): find it, quarantine it alone, keep the others.
        return _frames([_fitting(one) for one in parsed])


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
        provenance = {"metadata": event.metadata} if _PASSES_METADATA else {}
        result = parse_report(
            event.body, media_type=event.media_type, file_name=event.file_name, parsers=parsers,
            **provenance,
        )
        one = _Parsed(
            sha, meta,
            (sha, result.parser, result.parser_version, result.source_kind, result.report_date),
            [(sha, o.date, o.category, o.total, o.stated_delta, o.qualifier, o.label)
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


_INT64 = range(-(2**63), 2**63)


def _unusable(one: _Parsed) -> str | None:
    """Why the parsed rows cannot go into the frames (values of the wrong type or range)."""
    report_date = one.report[4]
    if report_date is not None and not isinstance(report_date, dt.date):
        return f"report date {report_date!r}"
    for _, date, category, total, delta, qualifier, label in one.observations:
        if not isinstance(date, dt.date) or not isinstance(category, str):
            return f"observation date {date!r} / category {category!r}"
        for value in (total, delta):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value not in _INT64
            ):
                return f"figure {value!r} for {category}"
        if not all(text is None or isinstance(text, str) for text in (qualifier, label)):
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
