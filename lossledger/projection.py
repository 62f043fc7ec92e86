"""The warehouse as a projection of the event log: pure functions from events to tables.

Nothing here reads or writes files. Given the log's events (or the part of it up to some
sequence number) and what the parsers made of the raw reports, :func:`warehouse_tables`
returns the published tables; replaying the same events always gives the same tables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandera.errors as pa_errors
import polars as pl

from lossledger._chunks import aligned
from lossledger._text import enums_as_text, sorted_enum
from lossledger.parse.stage import ParsedBatch
from lossledger.reconcile.consensus import (
    OBSERVATIONS_SCHEMA,
    OVERRIDES_SCHEMA,
    ReconcilePolicy,
    Reconciliation,
)
from lossledger.reconcile.dating import (
    CHECKED_PARSERS,
    implausible_figures,
    infer_dates,
    undate_contradicted,
)
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
    "FigureState",
    "KeptRows",
    "Previous",
    "SettledFigures",
    "WarehouseTables",
    "active_decisions",
    "pandera_queries",
    "settled_figure_mask",
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
    figures: FigureState | None = None
    """Which observations are settled figures, and the rest of what the next run reuses."""
    reconciliation: Reconciliation | None = None
    """The reconciliation the tables were made from, for the next run's window."""
    open_cells: pl.DataFrame | None = None
    """category, date: the cells of figures the dating rules may still move (not settled)."""
    kept: KeptRows | None = None
    """The observations' partitions an earlier run's tables held as they are (a hint)."""
    totals_kept_until: dt.date | None = None
    """The daily totals up to this day are the rows of the earlier reconciliation the run was
    given (``previous``), as they were (``None``: none is known to be)."""

    def items(self) -> Iterable[tuple[str, pl.DataFrame]]:
        return ((name, getattr(self, name)) for name in TABLES)

    def validated(self) -> WarehouseTables:
        """Check every table against its published schema; raise if one does not hold.

        Settled figures of an earlier run (:class:`SettledFigures`) were checked as rows of
        this table then, by the same code (the cache is keyed on it), and a row's checks read
        only the row: they are not checked again.
        """
        for name, frame in self.items():
            if name == "observations" and self.figures is not None:
                frame = frame.filter(~self.figures.checked_rows(frame))
            # The observations' checks are all of one row at a time: in slices, pandera's
            # masks for millions of rows never set the run's peak.
            step = _VALIDATE_ROWS if name in _ROW_CHECKS_ONLY else max(frame.height, 1)
            for offset in range(0, max(frame.height, 1), step):
                with pandera_queries():
                    TABLE_MODELS[name].validate(
                        enums_as_text(frame.slice(offset, step)), lazy=True
                    )
        return self


@dataclass(frozen=True, slots=True)
class SettledFigures:
    """What the projection made of the settled figures of the reports up to ``seq``.

    A figure is settled (:func:`settled_figure_mask`) when no rule of the projection that
    reads other reports can change it: it is dated, and its parser's figures are not checked
    against the series (:mod:`lossledger.reconcile.dating`). Its row depends only on its report, and
    whether it passes :class:`~schemas.ObservationSchema` (and the observations table's
    schema, whose checks are all of one row) only on the row. A later run of the same log
    reuses them, rather than building and checking every figure of the history again; it
    builds and checks only the newer reports' figures.

    The other figures are kept as built (``open``): the dating rules run on them, with every
    figure as their reference, on every run. A cache, like the parse cache: an equal result
    with or without it (``tests/test_incremental_rebuild.py``).
    """

    seq: int
    valid: pl.DataFrame
    """Settled figures that passed the observation checks (the candidates' columns)."""
    invalid: pl.DataFrame
    """Settled figures that failed them, with the ``reason``."""
    open: pl.DataFrame
    """Figures not settled, as built, before the dating rules."""
    dictionary: dict[str, pl.Series]
    """The sorted values of each enum-coded column of the figures (see :class:`WarehouseTables`)
    when they were built: the values of every figure, kept or not. A column of the frames may
    hold the codes of these values (``UInt32``) rather than the enum."""


@dataclass(frozen=True, slots=True)
class FigureState:
    """Beside the published tables: which observation rows are settled figures, and what a
    :class:`SettledFigures` for the next run needs besides them."""

    settled: pl.Series
    """Per observations row: a settled figure."""
    received_at: pl.Series
    """Of each settled figure, in order, its report's ``received_at`` (not a column of the
    observations table)."""
    checked_upto: int
    """Settled figures of reports up to this ``seq`` were checked by an earlier run."""
    invalid: pl.DataFrame
    open: pl.DataFrame
    dictionary: dict[str, pl.Series]

    def checked_rows(self, observations: pl.DataFrame) -> pl.Series:
        """Per row of ``observations``: checked as a table row by an earlier run."""
        return self.settled & (observations.get_column("seq") <= self.checked_upto)

    def settled_figures(
        self, observations: pl.DataFrame, *, seq: int, after: int = 0
    ) -> SettledFigures:
        """The settled figures of the log up to ``seq`` (these tables' log), for a later run:
        those of reports after ``after`` only (a cache that holds the rest)."""
        newer = pl.col("seq") > after
        if after > 0:
            # Only the few newest rows: not a copy of every settled figure first.
            seq_column = observations.get_column("seq")
            valid = observations.filter(self.settled & (seq_column > after)).with_columns(
                self.received_at.filter(seq_column.filter(self.settled) > after))
        elif self.settled.all():
            # Every figure settled (the usual case): the table's own columns, not a copy.
            valid = observations.with_columns(self.received_at)
        else:
            valid = observations.filter(self.settled).with_columns(self.received_at)
        return SettledFigures(
            seq=seq,
            valid=valid.select(_CANDIDATE_COLUMNS),
            invalid=self.invalid.filter(newer),
            open=self.open.filter(newer),
            dictionary=self.dictionary,
        )


@dataclass(frozen=True, slots=True)
class KeptRows:
    """Which partitions of the observations, daily totals and reports tables hold the rows
    the tables of an earlier part of the same log held there, in the same order: a hint for
    the publisher, which then need not hash what it published then
    (:func:`~lossledger.publish.warehouse.publish_tables`).

    Every month is kept but ``changed_months``: those of the figures of reports after
    ``upto``, and of the figures not settled then or now (the dating rules may move them).
    Settled figures of reports up to ``upto`` are the rows they were (:class:`SettledFigures`),
    the rows of a month are in (seq, date, category) order, and with no decision taken since
    ``upto`` none was retracted since. Given only when the reconciliation and the settled
    figures of the same earlier run were both used.
    """

    upto: int
    """The last ``seq`` of that earlier part of the log."""
    changed_months: frozenset[int]
    """``year * 100 + month`` of each partition that may differ."""
    totals_until: dt.date | None = None
    """The daily totals up to this day are the earlier run's rows, in the same order (the
    window reconciled only after it: :mod:`lossledger.reconcile.window`); ``None``: no
    day's are known to be."""
    changed_reports: pl.Series | None = None
    """The event ids of the reports whose rows of the reports table may differ: those after
    ``upto``, and those with a figure the dating rules may move (their counts and status
    follow it). Every other report's row is the one it was, and the table is in ``seq``
    order; ``None``: any may differ."""


def settled_figure_mask(figures: pl.DataFrame) -> pl.Series:
    """Per figure, whether it is settled: dated, and from a parser the dating rules do not
    check (they only date undated figures, and re-date or doubt figures of
    :data:`~lossledger.reconcile.dating.CHECKED_PARSERS`).

    >>> import datetime as dt
    >>> figures = pl.DataFrame({"date": [dt.date(2024, 1, 31), None, dt.date(2024, 1, 31)],
    ...                         "parser": ["gs_en", "gs_en", "text"]})
    >>> settled_figure_mask(figures).to_list()
    [True, False, False]
    """
    parser = figures.get_column("parser")
    checked = pl.Series(list(CHECKED_PARSERS), dtype=pl.String)
    if isinstance(parser.dtype, pl.Enum):
        # Compared by code: no row's text is made.
        present = checked.filter(checked.is_in(parser.dtype.categories.implode()))
        checked = present.cast(parser.dtype)
    return (figures.get_column("date").is_not_null() & ~parser.is_in(checked.implode())).alias(
        "settled"
    )


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
    open_cells: pl.DataFrame | None = None
    """category, date: the cells of figures that were not settled then (their date or
    validity may have moved since)."""


def warehouse_tables(
    parsed: ParsedBatch,
    decisions: Decisions,
    *,
    policy: ReconcilePolicy | None = None,
    fetch_failures: pl.DataFrame | None = None,
    previous: Previous | None = None,
    settled: SettledFigures | None = None,
) -> WarehouseTables:
    """Project the published tables from the parsed reports and the decisions in force.

    Parameters
    ----------
    parsed
        Every raw report event to take into account (``parsed.events``) and what the parsers
        made of them (keyed by content sha256; rows of other contents are ignored). With
        ``settled``, only the observations of reports after ``settled.seq`` are needed (those
        of earlier reports are ignored). ``parsed.observations`` is consumed: the frame is
        empty when this returns.
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
    settled
        The settled figures of an earlier part of the same log (``tables.figures`` of an
        earlier run): built and checked then, not again.
    """
    reports = _report_frame(parsed)
    # No name here holds the candidates: each step consumes them (validation may copy them,
    # and a second reference would keep every figure twice through the reconciliation).
    valid, invalid, figures = (
        _every_figure(_observation_candidates(reports, parsed)) if settled is None
        else _figures_since(settled, _observation_candidates(reports, parsed, after=settled.seq))
    )
    retracted = decisions.retractions.get_column("event_id")
    # Filtering copies every column; with nothing retracted (the usual case) skip the copy.
    in_consensus = (
        valid.filter(~pl.col("event_id").is_in(retracted.implode())) if retracted.len() else valid
    )
    # Figures not settled may be dated or judged otherwise as the series grows: their cells,
    # then and now, are reconciled again.
    open_cells = valid.filter(~figures.settled).select(
        pl.col("category").cast(pl.String), "date"
    ).unique()
    also_dirty = (
        pl.concat([open_cells, previous.open_cells])
        if previous is not None and previous.open_cells is not None else open_cells
    )
    kept_months = None
    if (settled is not None and previous is not None and previous.seq == settled.seq
            and not previous.decisions_changed and previous.open_cells is not None):
        newer = valid.get_column("date").filter(valid.get_column("seq") > settled.seq)
        kept_months = _months(newer, also_dirty.get_column("date"))
    windowed = reconcile_incremental(
        in_consensus.select(OBSERVATIONS_SCHEMA.names()),
        previous=previous.reconciliation if previous else None,
        after_seq=previous.seq if previous else None,
        decisions_changed=previous.decisions_changed if previous else False,
        overrides=decisions.overrides,
        policy=policy,
        also_dirty=also_dirty,
    )
    reconciled = windowed.reconciliation
    del in_consensus
    kept = None if kept_months is None or settled is None else KeptRows(
        settled.seq, kept_months, windowed.totals_kept_until,
        pl.concat([
            reports.filter(pl.col("seq") > settled.seq).get_column("event_id"),
            figures.open.get_column("event_id").cast(pl.String),
        ]).unique())
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
        figures=figures,
        reconciliation=reconciled,
        open_cells=open_cells,
        kept=kept,
        totals_kept_until=windowed.totals_kept_until,
    )


def _months(*dates: pl.Series) -> frozenset[int]:
    """The ``year * 100 + month`` of the dates (the warehouse's partitions).

    >>> import datetime as dt
    >>> sorted(_months(pl.Series([dt.date(2024, 1, 31), None]), pl.Series([dt.date(2023, 12, 1)])))
    [202312, 202401]
    """
    return frozenset(
        month for series in dates
        for month in (series.dt.year().cast(pl.Int32) * 100 + series.dt.month().cast(pl.Int32))
        .drop_nulls().unique().to_list()
    )


def _every_figure(
    candidates: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame, FigureState]:
    """Every figure through the dating rules and the observation checks at once.

    Returns the valid figures, the invalid ones with a reason (failed checks, figures no day
    pins, implausible ones) and the :class:`FigureState` for the next run. ``candidates`` is
    consumed.
    """
    schema = candidates.schema  # once: each schema hands every enum's values to Python again
    dictionary = {name: _categories(schema[name]) for name in _ENUM_COLUMNS}
    candidates = candidates.with_columns(settled_figure_mask(candidates).alias("_settled"))
    open_figures = candidates.filter(~pl.col("_settled")).drop("_settled")
    # Undated figures (and those whose completed year the series contradicts) get the day
    # their totals pin; figures far off the series are doubted.
    candidates, unpinned = infer_dates(undate_contradicted(candidates))
    candidates, implausible = implausible_figures(candidates)
    # Validation may copy the candidates (when some fail): memory peaks here.
    valid, failed = _validated_observations(candidates)
    del candidates
    settled_mask = valid.drop_in_place("_settled")
    figures = FigureState(
        settled=settled_mask,
        received_at=valid.get_column("received_at").filter(settled_mask),
        checked_upto=-1,
        invalid=failed.filter(pl.col("_settled")).drop("_settled"),
        open=open_figures,
        dictionary=dictionary,
    )
    invalid = pl.concat(
        [enums_as_text(part.drop("_settled")) for part in (failed, unpinned, implausible)],
        how="diagonal_relaxed",
    )
    return valid, invalid, figures


def _figures_since(
    settled: SettledFigures, candidates: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, FigureState]:
    """As :func:`_every_figure`, with the figures of the reports up to ``settled.seq`` taken
    from ``settled``: only newer reports' settled figures are checked, and the dating rules
    run only when some figure is open (on every figure, as they read them all)."""
    # A batch of the parse cache can hold reports on both sides of ``settled.seq``.
    schema, added = _union_schema(candidates.schema, settled.dictionary)
    palettes = _Palettes(schema, added=added)
    fresh = _recoded(candidates.filter(pl.col("seq") > settled.seq), schema, palettes=palettes)
    del candidates
    old = _known_figures(settled, schema, palettes)
    dictionary = {name: _categories(schema[name]) for name in _ENUM_COLUMNS}
    is_settled = settled_figure_mask(fresh)
    new_valid, new_invalid = _validated_observations(fresh.filter(is_settled))
    open_figures = pl.concat([old.open, fresh.filter(~is_settled)])
    del fresh, is_settled
    stable_valid = pl.concat([old.valid, new_valid])
    stable_invalid = pl.concat([old.invalid, new_invalid])
    del old, new_valid, new_invalid
    if open_figures.is_empty():
        # The dating rules only change figures that are not settled: with none, they have
        # nothing to do, and the settled figures are the observations as they are.
        valid, invalid = stable_valid, enums_as_text(stable_invalid)
        settled_mask = pl.repeat(True, valid.height, dtype=pl.Boolean, eager=True)
    else:
        valid, invalid, settled_mask = _dated_figures(stable_valid, stable_invalid, open_figures)
    del stable_valid
    figures = FigureState(
        settled=settled_mask,
        received_at=valid.get_column("received_at").filter(settled_mask),
        checked_upto=settled.seq,
        invalid=stable_invalid,
        open=open_figures,
        dictionary=dictionary,
    )
    return valid, invalid, figures


#: The figures' enum-coded columns (:data:`_EVENT_TEXT` and :data:`_FIGURE_TEXT`).
_ENUM_COLUMNS = ("event_id", "source", "source_kind", "parser", "parser_version", "qualifier",
                 "label", "date_source", "date_text")


def _known_figures(
    settled: SettledFigures, schema: pl.Schema, palettes: _Palettes
) -> SettledFigures:
    """``settled`` with each enum column in the enum of ``schema`` (a superset of its own).

    ``settled.valid`` is consumed (emptied): each of its columns is freed as its recoded copy
    is made, so the history's figures are not held twice.
    """
    valid = settled.valid
    columns = [valid.drop_in_place(name) for name in list(valid.columns)]
    recode = functools.partial(_recoded, schema=schema, dictionary=settled.dictionary,
                               palettes=palettes)
    return SettledFigures(
        seq=settled.seq,
        # The recoded columns cut where the others are: one gather makes one chunk.
        valid=aligned(recode(pl.DataFrame(columns), consume=True)),
        invalid=recode(settled.invalid),
        open=recode(settled.open),
        dictionary=settled.dictionary,
    )


def _categories(dtype: pl.DataType) -> pl.Series:
    assert isinstance(dtype, pl.Enum)
    return dtype.categories


def _union_schema(
    schema: pl.Schema, dictionary: dict[str, pl.Series]
) -> tuple[pl.Schema, dict[str, tuple[pl.Series, pl.Series]]]:
    """``schema`` with each enum column's values joined by those of ``dictionary``: sorted,
    so that codes still sort as the text does. And per column, its values in ``dictionary``
    (the very series) with the sorted values ``schema`` added to them
    (:meth:`_Palettes.codes`)."""
    union = dict(schema)
    added = {}
    for name in _ENUM_COLUMNS:
        known = dictionary.get(name)
        if known is not None:
            values, new = _sorted_union(known.cast(pl.String), _categories(schema[name]))
            union[name] = pl.Enum(values)
            added[name] = (known, new)
    return pl.Schema(union), added


def _sorted_union(known: pl.Series, values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """The sorted distinct values of ``known`` (sorted, distinct: a cache's dictionary) and
    ``values``: the few new ones merged in, not the history's values sorted again (x10's
    80,000 event ids); and those new ones, sorted.

    >>> union, new = _sorted_union(pl.Series(["a", "c", "e"]), pl.Series(["d", "a", None]))
    >>> union.to_list(), new.to_list()
    (['a', 'c', 'd', 'e'], ['d'])
    >>> [part.to_list() for part in _sorted_union(pl.Series(["b"]), pl.Series(["c", "a"]))]
    [['a', 'b', 'c'], ['a', 'c']]
    """
    distinct = values.drop_nulls().unique()
    if known.is_empty():
        new = distinct.sort()
    else:
        # A binary search of the few values in the sorted ``known``: ``is_in`` would hash
        # every known value first (x10's 80,000 event ids: 12 ms).
        at = known.search_sorted(distinct, side="left")
        found = known.gather(at.clip(upper_bound=known.len() - 1))
        new = distinct.filter((at >= known.len()) | (found != distinct)).sort()
    if new.is_empty():
        return known, new
    return known.to_frame("value").merge_sorted(new.to_frame("value"), key="value") \
        .get_column("value"), new


def _merged_positions(known: pl.Series, new: pl.Series) -> pl.Series:
    """The position of each of ``known`` (sorted, distinct) among the sorted union of
    ``known`` and ``new`` (sorted, none of them in ``known``): its own position, plus the new
    values before it. A search of the few new values, not of every known one (x10's 80,000
    event ids: 10 ms).

    >>> _merged_positions(pl.Series(["a", "c", "e"]), pl.Series(["b", "d", "f"])).to_list()
    [0, 2, 4]
    """
    places = known.search_sorted(new, side="left")
    own = pl.int_range(0, known.len(), dtype=pl.UInt32, eager=True)
    return (own + places.search_sorted(own.cast(places.dtype), side="right").cast(pl.UInt32))


class _Palettes:
    """Per enum column of ``schema``: every value of its enum, as a column of that enum, in
    code order. A column of codes becomes the enum by gathering from it.

    Handing an enum type to polars (a cast, ``cat.to``) makes polars build the type's lookup
    of its values again: 0.07 s for the 230,000 event ids of x30, each time. A palette is
    built once per type, and a gather keeps the type it gathers from.
    """

    def __init__(
        self, schema: pl.Schema, *, added: dict[str, tuple[pl.Series, pl.Series]] | None = None
    ) -> None:
        self.schema = schema
        self._made: dict[str, pl.Series] = {}
        self._added = added or {}
        self._codes: dict[str, tuple[pl.Series, pl.Series]] = {}

    def codes(self, name: str, values: pl.Series) -> pl.Series:
        """The code in ``name``'s enum of each of ``values`` (sorted, distinct, all in it),
        worked out once per column for the same ``values``: from where the new values went
        when ``values`` are those :func:`_union_schema` merged them into, else by a search."""
        made = self._codes.get(name)
        if made is not None and made[0] is values:
            return made[1]
        added = self._added.get(name)
        if added is not None and added[0] is values:
            codes = _merged_positions(values, added[1])
        else:
            target = self.schema[name]
            assert isinstance(target, pl.Enum)
            codes = target.categories.search_sorted(values.cast(pl.String)).cast(pl.UInt32)
        self._codes[name] = (values, codes)
        return codes

    def __getitem__(self, name: str) -> pl.Series:
        palette = self._made.get(name)
        if palette is None:
            target = self.schema[name]
            assert isinstance(target, pl.Enum)
            palette = pl.int_range(0, target.categories.len(), dtype=pl.UInt32, eager=True) \
                .to_frame(name).select(pl.col(name).cat.to(target)).to_series()
            self._made[name] = palette
        return palette


def _recoded(
    frame: pl.DataFrame, schema: pl.Schema, dictionary: dict[str, pl.Series] | None = None,
    *, consume: bool = False, palettes: _Palettes | None = None,
) -> pl.DataFrame:
    """``frame``'s enum-coded columns in the enums of ``schema`` (supersets of theirs).

    A column may be an enum of sorted values, text, or the codes (``UInt32``) of the sorted
    values in ``dictionary``. Its values are looked up once in the superset's sorted values
    (not a string per row), and its rows take the superset's codes by one gather from the
    column's :class:`_Palettes` entry (no cast hands the superset's type to polars again). With
    ``consume``, ``frame`` is emptied and its columns are recoded in turn, each one's old
    codes freed as its new ones are made (the history's figures are not held twice).
    """
    palettes = palettes if palettes is not None else _Palettes(schema)
    current = frame.schema  # once: a schema hands every enum's values to Python
    names = [name for name in _ENUM_COLUMNS if current[name] != schema[name]]
    if not names:
        return frame

    def recoded(name: str, column: pl.Series) -> pl.Series:
        dtype, target = current[name], schema[name]
        assert isinstance(target, pl.Enum)
        if isinstance(dtype, pl.Enum) or (dictionary is not None and dtype == pl.UInt32):
            values = (
                dtype.categories if isinstance(dtype, pl.Enum)
                else dictionary[name]  # type: ignore[index]
            )
            if values.len() == target.categories.len():  # a superset as large: the same
                at = column.to_physical()
            else:
                at = palettes.codes(name, values).gather(column.to_physical())
        else:
            text = column.cast(pl.String)
            values = target.categories
            found = values.search_sorted(text.fill_null("")).cast(pl.UInt32)
            at = pl.select(pl.when(text.is_null()).then(None).otherwise(found)).to_series()
            # A value the enum lacks would take its neighbour's code: refused, as a cast does.
            inside = at.is_null() | (at < values.len())
            if not inside.all() or not (
                values.gather(at.filter(at < values.len())) == text.filter(at < values.len())
            ).all():
                raise ValueError(f"values of {name!r} outside the enum they are recoded into")
        return palettes[name].gather(at).alias(name)

    if consume:
        columns = {name: frame.drop_in_place(name) for name in list(frame.columns)}

        def recode_in_place(name: str) -> None:
            columns[name] = recoded(name, columns.pop(name))

        # Two columns at a time: a gather of a million codes runs without the interpreter's
        # lock, and no more than two old columns are held beside their new codes.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="lossledger-recode") as pool:
            list(pool.map(recode_in_place, names))
        return pl.DataFrame([columns[name] for name in schema.names()])
    return frame.with_columns(recoded(name, frame.get_column(name)) for name in names)


def _dated_figures(
    stable_valid: pl.DataFrame, stable_invalid: pl.DataFrame, open_figures: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series]:
    """The dating rules over every figure, then the checks of the figures they may change.

    Returns the valid figures (in the order every figure built and checked at once would
    give), the invalid ones with a reason (settled ones, failed checks, figures no day pins,
    implausible ones), and per valid figure whether it is settled.
    """
    # Every figure in the order they were built (by seq, date, category): the dating rules
    # read the settled ones, valid or not, as the series. Rows of one (seq, date, category)
    # are all settled or all open (one report, one parser; dated or not), so the stable sort
    # keeps each set's own order.
    state = pl.col("_state")
    frame = pl.concat([
        stable_valid.with_columns(_state=pl.lit(0, pl.UInt8)),
        stable_invalid.drop("reason").with_columns(_state=pl.lit(1, pl.UInt8)),
        open_figures.with_columns(_state=pl.lit(2, pl.UInt8)),
    ])
    del stable_valid
    categories = pl.Enum(frame.get_column("category").drop_nulls().unique().sort())
    frame = frame[
        _order_by(frame.get_column("seq"), frame.get_column("date"),
                  frame.get_column("category").cast(categories).to_physical())
    ]
    candidates, unpinned = infer_dates(undate_contradicted(frame))
    del frame
    candidates, implausible = implausible_figures(candidates)
    candidates = candidates.with_row_index("_at")
    opened, failed = _validated_observations(candidates.filter(state == 2))
    keep = (state == 0) | pl.col("_at").is_in(opened.get_column("_at").implode())
    valid = candidates.filter(keep)
    settled_mask = valid.get_column("_state") == 0
    invalid = pl.concat(
        [enums_as_text(part) for part in (
            stable_invalid, failed.drop("_at", "_state"), unpinned.drop("_state"),
            implausible.drop("_state"),
        )],
        how="diagonal_relaxed",
    )
    return valid.drop("_at", "_state"), invalid, settled_mask.alias("settled")


def _report_frame(parsed: ParsedBatch) -> pl.DataFrame:
    return (
        parsed.events.join(parsed.reports.unique("sha256"), on="sha256", how="left")
        # A report given no source name is known by the format it came in.
        .with_columns(pl.coalesce("source", "parser", pl.lit("unknown")).alias("source"))
    )


def _observation_candidates(
    reports: pl.DataFrame, parsed: ParsedBatch, *, after: int = -1
) -> pl.DataFrame:
    """Every parsed figure of the reports after seq ``after`` with its event's columns, ordered
    by (seq, date, category).

    ``parsed.observations`` is consumed (emptied). The event's text columns
    (:data:`_EVENT_TEXT`) and the figures' columns of :data:`_FIGURE_TEXT` come as enums of
    their sorted values: one code per figure instead of one string (text again in the
    published files).
    """
    # Only the newer reports: an incremental run's figures are a day's, not the history's (the
    # enums below would otherwise hold every report's values, to be gathered for a few rows).
    meta = reports.filter(pl.col("parser").is_not_null() & (pl.col("seq") > after)).select(
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
            with pandera_queries():
                ObservationSchema.validate(
                    enums_as_text(indexed.slice(offset, _VALIDATE_ROWS)), lazy=True
                )
        except pa_errors.SchemaErrors as errors:
            found.append(_failure_reasons(errors.failure_cases, offset=offset))
    if not found:
        return candidates, candidates.head(0).with_columns(reason=pl.lit(None, pl.String))
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


@contextlib.contextmanager
def pandera_queries() -> Iterator[None]:
    """Polars' in-memory engine for the queries of the block (pandera's checks).

    pandera runs one lazy query per check (some 230 for the seven tables). With polars 2.1 a
    lazy query goes to the streaming engine unless told otherwise, and each then costs some
    0.33 ms before it reads a row, against 0.02 ms in memory: 0.06 s of the 0.13 s the tables'
    checks took at x10, the same on 100 rows as on 22,000. For 500,000 observations the
    in-memory engine was as fast (2026-12-07, the 2-core bench machine).
    """
    with pl.Config(engine_affinity="in-memory"):
        yield


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
    counts = _observations_per_seq(valid.get_column("seq"))
    problems = quarantine.group_by("event_id").agg(n_problems=pl.len().cast(pl.Int64))
    retracted = decisions.retractions.rename({"seq": "retracted_seq"})
    return (
        reports.join(counts, on="seq", how="left")
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


def _observations_per_seq(seq: pl.Series) -> pl.DataFrame:
    """seq, n_observations: the rows of each report's seq (one per event, as its id is).

    By the report's seq, not its id (enum codes made text, then joined as text: x10's
    22 ms against 13); as runs of equal values when the figures are in seq order, as they
    are but for the dating rules' (x10's 1.1 million: 3-4 ms against 19-29 for a group-by).

    >>> _observations_per_seq(pl.Series("seq", [3, 3, 5])).rows()
    [(3, 2), (5, 1)]
    >>> _observations_per_seq(pl.Series("seq", [5, 3, 5])).sort("seq").rows()
    [(3, 1), (5, 2)]
    """
    if seq.is_sorted():
        runs = seq.rle().struct.unnest()
        return runs.select(
            pl.col("value").alias("seq"), pl.col("len").cast(pl.Int64).alias("n_observations")
        )
    return seq.to_frame("seq").group_by("seq").agg(n_observations=pl.len().cast(pl.Int64))


def _published_observations(valid: pl.DataFrame, retracted: pl.Series) -> pl.DataFrame:
    # ``valid`` is consumed: its columns move into the table (enum-coded text stays coded).
    published = pl.DataFrame([valid.drop_in_place(name) for name in list(valid.columns)])
    return published.with_columns(
        retracted=pl.col("event_id").is_in(retracted.implode())
    ).select(table_schema("observations").names())
