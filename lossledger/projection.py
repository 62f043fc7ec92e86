"""The warehouse as a projection of the event log: pure functions from events to tables.

Nothing here reads or writes files. Given the log's events (or the part of it up to some
sequence number) and what the parsers made of the raw reports, :func:`warehouse_tables`
returns the five published tables; replaying the same events always gives the same tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandera.errors as pa_errors
import polars as pl

from lossledger.parse.stage import ParsedBatch
from lossledger.reconcile.consensus import (
    OBSERVATIONS_SCHEMA,
    OVERRIDES_SCHEMA,
    ReconcilePolicy,
    reconcile_totals,
)
from lossledger.sources.history import explain_gaps
from lossledger.store.events import (
    DecisionReverted,
    RecordedEvent,
    ReportReceived,
    ReportRetracted,
    TotalOverridden,
)
from schemas import ObservationSchema, table_schema
from schemas.tables import TABLE_MODELS

__all__ = [
    "Decisions",
    "WarehouseTables",
    "active_decisions",
    "warehouse_tables",
]

TABLES = ("reports", "observations", "daily_totals", "discrepancies", "quarantine")


@dataclass(frozen=True, slots=True)
class WarehouseTables:
    """The five published tables."""

    reports: pl.DataFrame
    observations: pl.DataFrame
    daily_totals: pl.DataFrame
    discrepancies: pl.DataFrame
    quarantine: pl.DataFrame

    def items(self) -> Iterable[tuple[str, pl.DataFrame]]:
        return ((name, getattr(self, name)) for name in TABLES)

    def validated(self) -> WarehouseTables:
        """Check every table against its published schema; raise if one does not hold."""
        for name, frame in self.items():
            TABLE_MODELS[name].validate(frame, lazy=True)
        return self


@dataclass(frozen=True, slots=True)
class Decisions:
    """The decisions people made that are still in force."""

    overrides: pl.DataFrame
    retractions: pl.DataFrame
    """event_id (of the retracted report), seq (of the retraction)."""


def active_decisions(events: Iterable[RecordedEvent]) -> Decisions:
    """Overrides and retractions not undone by a later revert."""
    decisions = [e for e in events if e.kind != ReportReceived.kind]
    reverted = {
        d.target_event_id
        for d in (e.to_domain() for e in decisions)
        if isinstance(d, DecisionReverted)
    }
    overrides, retractions = [], []
    for recorded in decisions:
        if recorded.event_id in reverted:
            continue
        decision = recorded.to_domain()
        if isinstance(decision, TotalOverridden):
            overrides.append((recorded.event_id, recorded.seq, decision.date, decision.category,
                              decision.total, decision.reason, decision.actor))
        elif isinstance(decision, ReportRetracted):
            retractions.append((decision.target_event_id, recorded.seq))
    return Decisions(
        pl.DataFrame(overrides, schema=OVERRIDES_SCHEMA, orient="row"),
        pl.DataFrame(retractions, schema={"event_id": pl.String, "seq": pl.Int64}, orient="row")
        .group_by("event_id").agg(pl.col("seq").max()),
    )


def warehouse_tables(
    parsed: ParsedBatch,
    decisions: Decisions,
    *,
    policy: ReconcilePolicy | None = None,
    fetch_failures: pl.DataFrame | None = None,
) -> WarehouseTables:
    """Project the published tables from the parsed reports and the decisions in force.

    Parameters
    ----------
    parsed
        Every raw report event to take into account (``parsed.events``) and what the parsers
        made of them (keyed by content sha256; rows of other contents are ignored).
    decisions
        :func:`active_decisions` of the same part of the log.
    policy
        How consensus is chosen; the default ranks official > api > ticker > history.
    fetch_failures
        ``FetchFailed`` events of the same part of the log
        (:func:`lossledger.sources.history.fetch_failures`): they explain ``gap`` rows.
    """
    reports = _report_frame(parsed)
    # No name keeps the candidates alive: validation copies them, and memory peaks here.
    valid, invalid = _validated_observations(_observation_candidates(reports, parsed))
    retracted = decisions.retractions.get_column("event_id")
    # Filtering copies every column; with nothing retracted (the usual case) skip the copy.
    in_consensus = (
        valid.filter(~pl.col("event_id").is_in(retracted.implode())) if retracted.len() else valid
    )
    reconciled = reconcile_totals(
        in_consensus.select(OBSERVATIONS_SCHEMA.names()),
        overrides=decisions.overrides,
        policy=policy,
    )
    del in_consensus
    quarantine = _quarantine_frame(reports, parsed, invalid)
    return WarehouseTables(
        reports=_published_reports(reports, valid, quarantine, decisions),
        observations=_published_observations(valid, retracted),
        daily_totals=reconciled.daily_totals.select(table_schema("daily_totals").names()),
        discrepancies=explain_gaps(reconciled.discrepancies, fetch_failures)
        .select(table_schema("discrepancies").names()),
        quarantine=quarantine,
    )


def _report_frame(parsed: ParsedBatch) -> pl.DataFrame:
    return (
        parsed.events.join(parsed.reports.unique("sha256"), on="sha256", how="left")
        # A report given no source name is known by the format it came in.
        .with_columns(pl.coalesce("source", "parser", pl.lit("unknown")).alias("source"))
    )


def _observation_candidates(reports: pl.DataFrame, parsed: ParsedBatch) -> pl.DataFrame:
    meta = reports.filter(pl.col("parser").is_not_null()).select(
        "sha256", "event_id", "seq", "source", "source_kind", "received_at", "parser",
        "parser_version",
    )
    return (
        meta.join(parsed.observations, on="sha256", how="inner")
        .select(
            "event_id", "seq", "source", "source_kind", "received_at", "parser",
            "parser_version", "date", "category", "total", "stated_delta", "qualifier", "label",
        )
        .sort("seq", "date", "category", maintain_order=True)
    )


def _validated_observations(candidates: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split observations into those that pass :class:`ObservationSchema` and the rest.

    The rest come back one row per failed check, with a reason naming the check.
    """
    indexed = candidates.with_row_index("_row")
    try:
        ObservationSchema.validate(indexed, lazy=True)
    except pa_errors.SchemaErrors as errors:
        failures = _failure_reasons(errors.failure_cases)
    else:
        return candidates, indexed.head(0).with_columns(reason=pl.lit(None, pl.String))
    invalid = indexed.join(failures, left_on="_row", right_on="index", how="inner")
    valid = indexed.join(failures, left_on="_row", right_on="index", how="anti")
    return valid.drop("_row"), invalid.drop("_row")


def _failure_reasons(failure_cases: pl.DataFrame) -> pl.DataFrame:
    cases = failure_cases.filter(pl.col("index").is_not_null())
    described = cases.select(
        pl.col("index").cast(pl.UInt32),
        reason=pl.when(pl.col("schema_context") == "Column")
        .then(pl.format("{} failed {}: {}", "column", "check", "failure_case"))
        .otherwise(pl.col("check")),
    )
    return described.group_by("index").agg(pl.col("reason").unique().sort().str.join("; "))


def _quarantine_frame(
    reports: pl.DataFrame, parsed: ParsedBatch, invalid: pl.DataFrame
) -> pl.DataFrame:
    report_meta = reports.select("sha256", "event_id", "seq", "source", "file_name", "received_at")
    unclaimed = reports.filter(pl.col("parser").is_null()).select("sha256")
    problems = parsed.problems.join(report_meta, on="sha256", how="inner")
    never_parsed = (
        unclaimed.join(parsed.problems.select("sha256").unique(), on="sha256", how="anti")
        .join(report_meta, on="sha256")
        .with_columns(
            stage=pl.lit("parse"), reason=pl.lit("report was not parsed"),
            date=pl.lit(None, pl.Date), category=pl.lit(None, pl.String),
        )
    )
    failed_checks = invalid.join(
        reports.select("event_id", "file_name"), on="event_id"
    ).with_columns(stage=pl.lit("validate"))
    columns = table_schema("quarantine").names()
    return (
        pl.concat([
            problems.select(columns), never_parsed.select(columns), failed_checks.select(columns)
        ])
        .sort("seq", "date", "category", "reason", nulls_last=True)
    )


def _published_reports(
    reports: pl.DataFrame,
    valid: pl.DataFrame,
    quarantine: pl.DataFrame,
    decisions: Decisions,
) -> pl.DataFrame:
    counts = valid.group_by("event_id").agg(n_observations=pl.len().cast(pl.Int64))
    problems = quarantine.group_by("event_id").agg(n_problems=pl.len().cast(pl.Int64))
    retracted = decisions.retractions.rename({"seq": "retracted_seq"})
    return (
        reports.join(counts, on="event_id", how="left")
        .join(problems, on="event_id", how="left")
        .join(retracted, on="event_id", how="left")
        .with_columns(pl.col("n_observations", "n_problems").fill_null(0))
        .with_columns(
            status=pl.when(pl.col("retracted_seq").is_not_null()).then(pl.lit("retracted"))
            .when(pl.col("n_observations") == 0).then(pl.lit("quarantined"))
            .when(pl.col("n_problems") > 0).then(pl.lit("partial"))
            .otherwise(pl.lit("parsed")),
            seq=pl.max_horizontal("seq", "retracted_seq"),
        )
        .select(table_schema("reports").names())
        .sort("seq")
    )


def _published_observations(valid: pl.DataFrame, retracted: pl.Series) -> pl.DataFrame:
    return valid.with_columns(
        retracted=pl.col("event_id").is_in(retracted.implode())
    ).select(table_schema("observations").names())
