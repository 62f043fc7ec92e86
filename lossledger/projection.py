"""The warehouse as a projection of the event log: pure functions from events to tables.

Nothing here reads or writes files. Given the log's events (or the part of it up to some
sequence number) and what the parsers made of the raw reports, :func:`warehouse_tables`
returns the published tables; replaying the same events always gives the same tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandera.errors as pa_errors
import polars as pl

from lossledger._text import enums_as_text, sorted_enum
from lossledger.parse.stage import ParsedBatch
from lossledger.reconcile.consensus import (
    OBSERVATIONS_SCHEMA,
    OVERRIDES_SCHEMA,
    ReconcilePolicy,
    Reconciliation,
)
from lossledger.reconcile.dating import implausible_figures, infer_dates, undate_contradicted
from lossledger.reconcile.window import reconcile_incremental
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
    "Previous",
    "WarehouseTables",
    "active_decisions",
    "warehouse_tables",
]

#: Observations validated at once (see :func:`_validated_observations`). Each slice costs
#: pandera's fixed work again (a few dozen small queries): at x10 slices of 150,000 rows took
#: 0.17 CPU-s, of 600,000 0.08 (each slice is validated as text: a copy of its text columns).
_VALIDATE_ROWS = 500_000
#: Tables whose published schema checks each row on its own (no unique or frame-wide check),
#: so that validating them in slices is validating them whole.
_ROW_CHECKS_ONLY = frozenset({"observations"})
TABLES = (
    "reports",
    "observations",
    "daily_totals",
    "discrepancies",
    "quarantine",
    "disagreement_runs",
    "sources",
)


@dataclass(frozen=True, slots=True)
class WarehouseTables:
    """The published tables.

    In memory the observations' repeated text (:data:`_EVENT_TEXT`: ``event_id``, ``source``,
    ``source_kind``, ``parser``, ``parser_version``; :data:`_FIGURE_TEXT`: ``qualifier``,
    ``label``, ``date_source``, ``date_text``) is held as enums of the sorted values, one code
    per figure (as text they would take some 450 MB at x30); they compare with strings as text
    does, and the publisher writes them as text (:mod:`lossledger._text`).
    """

    reports: pl.DataFrame
    observations: pl.DataFrame
    daily_totals: pl.DataFrame
    discrepancies: pl.DataFrame
    quarantine: pl.DataFrame
    disagreement_runs: pl.DataFrame
    sources: pl.DataFrame
    reconciled: str = "full"
    """How the totals were reconciled: ``full``, ``window (...)`` or ``unchanged``."""

    def items(self) -> Iterable[tuple[str, pl.DataFrame]]:
        return ((name, getattr(self, name)) for name in TABLES)

    def validated(self) -> WarehouseTables:
        """Check every table against its published schema; raise if one does not hold."""
        for name, frame in self.items():
            # The observations' checks are all of one row at a time: in slices, pandera's
            # masks for millions of rows never set the run's peak.
            step = _VALIDATE_ROWS if name in _ROW_CHECKS_ONLY else max(frame.height, 1)
            for offset in range(0, max(frame.height, 1), step):
                TABLE_MODELS[name].validate(
                    enums_as_text(frame.slice(offset, step)), lazy=True
                )
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


@dataclass(frozen=True, slots=True)
class Previous:
    """The reconciliation of the log up to ``seq`` (a cache), for an incremental run."""

    reconciliation: Reconciliation
    seq: int
    decisions_changed: bool
    """Whether a decision was taken (or reverted) after ``seq``: then it cannot be used."""


def warehouse_tables(
    parsed: ParsedBatch,
    decisions: Decisions,
    *,
    policy: ReconcilePolicy | None = None,
    fetch_failures: pl.DataFrame | None = None,
    previous: Previous | None = None,
) -> WarehouseTables:
    """Project the published tables from the parsed reports and the decisions in force.

    Parameters
    ----------
    parsed
        Every raw report event to take into account (``parsed.events``) and what the parsers
        made of them (keyed by content sha256; rows of other contents are ignored).
        ``parsed.observations`` is consumed: the frame is empty when this returns.
    decisions
        :func:`active_decisions` of the same part of the log.
    policy
        How consensus is chosen; the default ranks official > api > ticker > history.
    fetch_failures
        ``FetchFailed`` events of the same part of the log
        (:func:`lossledger.sources.history.fetch_failures`): they explain ``gap`` rows.
    previous
        The reconciliation of an earlier part of the same log: only the dates the newer
        observations can affect are reconciled again (:mod:`lossledger.reconcile.window`).
    """
    reports = _report_frame(parsed)
    # Undated figures (and those whose completed year the series contradicts) get the day their
    # totals pin; figures far off the series are doubted.
    candidates, unpinned = infer_dates(
        undate_contradicted(_observation_candidates(reports, parsed)))
    candidates, implausible = implausible_figures(candidates)
    # The parsed observations are in the candidates now (the frame was emptied in place: the
    # caller's reference to ``parsed``, held for the length of this call, would otherwise
    # keep every parsed observation alive while validation and reconciliation peak).
    # Validation may copy the candidates (when some fail): memory peaks here.
    valid, invalid = _validated_observations(candidates)
    del candidates
    if unpinned.height or implausible.height:
        invalid = pl.concat([invalid, unpinned, implausible], how="diagonal_relaxed")
    invalid = enums_as_text(invalid)
    retracted = decisions.retractions.get_column("event_id")
    # Filtering copies every column; with nothing retracted (the usual case) skip the copy.
    in_consensus = (
        valid.filter(~pl.col("event_id").is_in(retracted.implode())) if retracted.len() else valid
    )
    windowed = reconcile_incremental(
        in_consensus.select(OBSERVATIONS_SCHEMA.names()),
        previous=previous.reconciliation if previous else None,
        after_seq=previous.seq if previous else None,
        decisions_changed=previous.decisions_changed if previous else False,
        overrides=decisions.overrides,
        policy=policy,
    )
    reconciled = windowed.reconciliation
    del in_consensus
    quarantine = _quarantine_frame(reports, parsed, invalid)
    return WarehouseTables(
        reports=_published_reports(reports, valid, quarantine, decisions),
        observations=_published_observations(valid, retracted),
        daily_totals=reconciled.daily_totals.select(table_schema("daily_totals").names()),
        discrepancies=explain_gaps(reconciled.discrepancies, fetch_failures)
        .select(table_schema("discrepancies").names()),
        quarantine=quarantine,
        disagreement_runs=reconciled.disagreement_runs.select(
            table_schema("disagreement_runs").names()
        ),
        sources=reconciled.sources.select(table_schema("sources").names()),
        reconciled=windowed.mode if windowed.mode == "unchanged" else
        f"{windowed.mode} ({windowed.reason})",
    )


def _report_frame(parsed: ParsedBatch) -> pl.DataFrame:
    return (
        parsed.events.join(parsed.reports.unique("sha256"), on="sha256", how="left")
        # A report given no source name is known by the format it came in.
        .with_columns(pl.coalesce("source", "parser", pl.lit("unknown")).alias("source"))
    )


def _observation_candidates(reports: pl.DataFrame, parsed: ParsedBatch) -> pl.DataFrame:
    """Every parsed figure with its event's columns, ordered by (seq, date, category).

    ``parsed.observations`` is consumed (emptied). The event's text columns
    (:data:`_EVENT_TEXT`) and the figures' columns of :data:`_FIGURE_TEXT` come as enums of
    their sorted values: one code per figure instead of one string (text again in the
    published files).
    """
    meta = reports.filter(pl.col("parser").is_not_null()).select(
        "sha256", "event_id", "seq", "source", "source_kind", "received_at", "parser",
        "parser_version",
    )
    if meta.get_column("sha256").is_duplicated().any():
        observations = parsed.observations.with_columns(pl.col("sha256").cast(pl.String))
        parsed.observations.clear()
        joined = meta.join(observations, on="sha256", how="inner")
        return (
            joined.select(_CANDIDATE_COLUMNS)
            .sort("seq", "date", "category", maintain_order=True)
            .with_columns(_coded(joined, name) for name in (*_EVENT_TEXT, *_FIGURE_TEXT))
        )
    # One event per content (the store's rule): each observation's event is a row of ``meta``.
    # Its row number, found by one enum cast, lets the observations be put in order and the
    # event's columns be gathered once, instead of joining and then sorting a million rows on
    # a 64-character key: the same frame with about half the peak memory.
    events = pl.Enum(meta.get_column("sha256"))
    observations = parsed.observations
    event = observations.get_column("sha256").cast(events, strict=False).to_physical()
    known = event.is_not_null()
    kept = None if known.all() else known.arg_true()
    if kept is not None:
        event = event.gather(kept)
    category = observations.get_column("category")
    category = category if kept is None else category.gather(kept)
    date = observations.get_column("date")
    # Enum codes of the sorted names sort as the names do, several times faster.
    categories = pl.Enum(category.drop_nulls().unique().sort())
    order = _order_by(
        meta.get_column("seq").gather(event), date if kept is None else date.gather(kept),
        category.cast(categories).to_physical(),
    )
    at = order if kept is None else kept.gather(order)
    del category, date
    # Column by column, each moved out of the parsed frame before its ordered copy is made:
    # the parsed figures are not held twice.
    observations.drop_in_place("sha256")
    ordered = {}
    for name in list(observations.columns):
        column = observations.drop_in_place(name)
        if name in _FIGURE_TEXT:
            column = column.cast(sorted_enum(column))
        ordered[name] = column.gather(at)
    of_event = meta.drop("sha256").with_columns(_coded(meta, name) for name in _EVENT_TEXT)[
        event.gather(order)
    ]
    return pl.concat([of_event, pl.DataFrame(ordered)], how="horizontal").select(
        _CANDIDATE_COLUMNS
    )


#: Event columns carried on every figure as enums during the projection.
_EVENT_TEXT = ("event_id", "source", "source_kind", "parser", "parser_version")
#: A figure's own text columns with few distinct values, carried as enums too (``category``
#: stays text: the projection's rules rewrite it).
_FIGURE_TEXT = ("qualifier", "label", "date_source", "date_text")


def _coded(frame: pl.DataFrame, name: str) -> pl.Expr:
    """Column ``name`` as an enum of its sorted distinct values (codes sort as the text)."""
    return pl.col(name).cast(sorted_enum(frame.get_column(name)))


def _order_by(seq: pl.Series, date: pl.Series, code: pl.Series) -> pl.Series:
    """The stable order of rows by (``seq``, ``date``, ``code``), nulls first.

    The three are folded into one Int64 when they fit (a null as the smallest value of its
    field): one integer sorts several times faster than three columns.
    """
    days = date.cast(pl.Int32).cast(pl.Int64)
    codes = code.cast(pl.Int64)
    if seq.len() and seq.null_count() == 0 and int(seq.min()) >= 0:  # type: ignore[arg-type]
        low = int(days.min()) if days.null_count() < days.len() else 0  # type: ignore[arg-type]
        day_bits = (int(days.max() or low) - low + 2).bit_length()  # type: ignore[operator]
        code_bits = (int(codes.max() or 0) + 2).bit_length()  # type: ignore[operator]
        if int(seq.max()).bit_length() + day_bits + code_bits <= 62:  # type: ignore[arg-type]
            key = (
                seq.cast(pl.Int64) * 2 ** (day_bits + code_bits)
                + (days - low + 1).fill_null(0) * 2**code_bits
                + (codes + 1).fill_null(0)
            )
            return key.alias("key").to_frame().select(
                pl.arg_sort_by("key", maintain_order=True)
            ).to_series()
    return pl.DataFrame({"seq": seq, "date": date, "code": code}).select(
        pl.arg_sort_by("seq", "date", "code", maintain_order=True)
    ).to_series()


_CANDIDATE_COLUMNS = (
    "event_id", "seq", "source", "source_kind", "received_at", "parser", "parser_version",
    "date", "category", "total", "stated_delta", "qualifier", "label", "span_start", "span_end",
    "confidence", "date_source", "date_text",
)


def _validated_observations(candidates: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split observations into those that pass :class:`ObservationSchema` and the rest.

    The rest come back one row per failed check, with a reason naming the check. When some
    fail, ``candidates`` is consumed: its columns move into the valid rows' frame.
    """
    indexed = candidates.with_row_index("_row")
    found = []
    # In slices: pandera's masks and failure cases of millions of rows would set the peak.
    for offset in range(0, indexed.height, _VALIDATE_ROWS):
        try:
            ObservationSchema.validate(
                enums_as_text(indexed.slice(offset, _VALIDATE_ROWS)), lazy=True
            )
        except pa_errors.SchemaErrors as errors:
            found.append(_failure_reasons(errors.failure_cases, offset=offset))
    if not found:
        return candidates, indexed.head(0).with_columns(reason=pl.lit(None, pl.String))
    failures = pl.concat(found)
    invalid = indexed.join(failures, left_on="_row", right_on="index", how="inner")
    del indexed
    keep = ~pl.int_range(candidates.height, dtype=pl.UInt32, eager=True).is_in(
        failures.get_column("index").implode()
    )
    # Column by column, each moved out of ``candidates`` before its filtered copy is made: the
    # peak holds one copy of one column, not a second copy of the whole frame.
    valid = pl.DataFrame(
        [candidates.drop_in_place(name).filter(keep) for name in list(candidates.columns)]
    )
    return valid, invalid.drop("_row")


def _failure_reasons(failure_cases: pl.DataFrame, *, offset: int = 0) -> pl.DataFrame:
    cases = failure_cases.filter(pl.col("index").is_not_null())
    described = cases.select(
        (pl.col("index") + offset).cast(pl.UInt32),
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
    counts = enums_as_text(
        valid.group_by("event_id").agg(n_observations=pl.len().cast(pl.Int64))
    )
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
    # ``valid`` is consumed: its columns move into the table (enum-coded text stays coded).
    published = pl.DataFrame([valid.drop_in_place(name) for name in list(valid.columns)])
    return published.with_columns(
        retracted=pl.col("event_id").is_in(retracted.implode())
    ).select(table_schema("observations").names())
