"""Parsed reports as frames: the parse stage, pure and batchable.

:func:`parse_events` runs every ReportReceived event of a batch through the parsers and returns
three frames keyed by the raw content's sha256, so that the result depends only on the bytes
and the parsers' versions (which is what makes it cacheable and safe to run on any worker).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from lossledger.events import RecordedEvent, ReportReceived
from lossledger.parsers import parse_report

__all__ = [
    "OBSERVATION_ROWS_SCHEMA",
    "PROBLEM_ROWS_SCHEMA",
    "REPORT_ROWS_SCHEMA",
    "ParsedBatch",
    "parse_events",
]

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
PROBLEM_ROWS_SCHEMA = pl.Schema({
    "sha256": pl.String,
    "stage": pl.String,
    "reason": pl.String,
    "date": pl.Date,
    "category": pl.String,
})


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """What the parsers made of a batch of raw reports, keyed by content sha256."""

    reports: pl.DataFrame
    observations: pl.DataFrame
    problems: pl.DataFrame

    @classmethod
    def empty(cls) -> ParsedBatch:
        return cls(
            pl.DataFrame(schema=REPORT_ROWS_SCHEMA),
            pl.DataFrame(schema=OBSERVATION_ROWS_SCHEMA),
            pl.DataFrame(schema=PROBLEM_ROWS_SCHEMA),
        )

    @classmethod
    def concat(cls, batches: Iterable[ParsedBatch]) -> ParsedBatch:
        batches = [cls.empty(), *batches]
        return cls(
            pl.concat([b.reports for b in batches]),
            pl.concat([b.observations for b in batches]),
            pl.concat([b.problems for b in batches]),
        )

    def __len__(self) -> int:
        return self.reports.height


def parse_events(events: Iterable[RecordedEvent]) -> ParsedBatch:
    """Parse the raw reports among ``events`` (other kinds are skipped).

    Never raises for bad input: whatever cannot be read comes back as a problem row.
    """
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
        result = parse_report(event.body, media_type=event.media_type, file_name=event.file_name)
        reports.append(
            (sha, result.parser, result.parser_version, result.source_kind, result.report_date)
        )
        observations.extend(
            (sha, o.date, o.category, o.total, o.stated_delta, o.qualifier, o.label)
            for o in result.observations
        )
        problems.extend(
            (sha, _stage_of(p.reason), p.reason, p.date, p.category) for p in result.problems
        )
    return ParsedBatch(
        pl.DataFrame(reports, schema=REPORT_ROWS_SCHEMA, orient="row"),
        pl.DataFrame(observations, schema=OBSERVATION_ROWS_SCHEMA, orient="row"),
        pl.DataFrame(problems, schema=PROBLEM_ROWS_SCHEMA, orient="row"),
    )


def _stage_of(reason: str) -> str:
    return "decode" if reason.startswith("undecodable") else "parse"
