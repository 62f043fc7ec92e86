"""Parsed reports as frames: the parse stage, pure and batchable.

:func:`parse_events` runs every ReportReceived event of a batch through the parsers and returns
the events' metadata and three frames keyed by the raw content's sha256, so that what the
parsers made of a report depends only on its bytes and the parsers' versions (which is what
makes it cacheable and safe to run on any worker).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from lossledger.parse.parsers import parse_report
from lossledger.store.events import RecordedEvent, ReportReceived

__all__ = [
    "EVENT_META_SCHEMA",
    "OBSERVATION_ROWS_SCHEMA",
    "PROBLEM_ROWS_SCHEMA",
    "REPORT_ROWS_SCHEMA",
    "ParsedBatch",
    "parse_events",
]

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


def parse_events(events: Iterable[RecordedEvent]) -> ParsedBatch:
    """Parse the raw reports among ``events`` (other kinds are skipped).

    Never raises for bad input: whatever cannot be read comes back as a problem row.
    """
    metadata: list[tuple[object, ...]] = []
    reports: list[tuple[object, ...]] = []
    observations: list[tuple[object, ...]] = []
    problems: list[tuple[object, ...]] = []
    seen: set[str] = set()
    for recorded in events:
        if recorded.kind != ReportReceived.kind or recorded.content_sha256 in seen:
            continue
        event = recorded.to_domain()
        assert isinstance(event, ReportReceived)
        sha = event.sha256
        seen.add(sha)
        metadata.append((recorded.event_id, recorded.seq, event.source, event.file_name,
                         event.media_type, sha, event.received_at))
        result = parse_report(
            event.body, media_type=event.media_type, file_name=event.file_name,
            received_at=event.received_at, metadata=getattr(event, "metadata", None),
        )
        reports.append(
            (sha, result.parser, result.parser_version, result.source_kind, result.report_date)
        )
        observations.extend(
            (sha, o.date, o.category, o.total, o.stated_delta, o.qualifier, o.label,
             o.span_start, o.span_end, o.confidence, o.date_source, o.date_text)
            for o in result.observations
        )
        problems.extend(
            (sha, _stage_of(p.reason), p.reason, p.date, p.category) for p in result.problems
        )
    return ParsedBatch(
        pl.DataFrame(metadata, schema=EVENT_META_SCHEMA, orient="row"),
        pl.DataFrame(reports, schema=REPORT_ROWS_SCHEMA, orient="row"),
        pl.DataFrame(observations, schema=OBSERVATION_ROWS_SCHEMA, orient="row"),
        pl.DataFrame(problems, schema=PROBLEM_ROWS_SCHEMA, orient="row"),
    )


def _stage_of(reason: str) -> str:
    return "decode" if reason.startswith("undecodable") else "parse"
