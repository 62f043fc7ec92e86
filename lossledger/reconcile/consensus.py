"""Reconciliation: one published series from many disagreeing observations.

Input ``observations`` (polars DataFrame, valid rows only, retracted reports already removed):
    event_id: str, seq: Int64, source: str, source_kind: str ("official"|"api"|"ticker"|"history"),
    received_at: Datetime(us, UTC), parser: str, date: Date, category: str, total: Int64,
    stated_delta: Int64 (nullable), qualifier: str (nullable)

Input ``overrides`` (polars DataFrame, active TotalOverridden decisions only):
    event_id: str, seq: Int64, date: Date, category: str, total: Int64, reason: str, actor: str

Output :class:`Reconciliation` with four frames:
    daily_totals: date, category, total, delta, stated_delta, status, n_sources,
                  event_ids (List[str]), sources (List[str]), seq (Int64),
                  confidence (Float64, 0..1), evidence (str, :data:`EVIDENCE`)
    discrepancies: date, category, kind, source, expected (Int64), observed (Int64),
                   detail (str), event_ids (List[str]), seq (Int64), run_id (str)
    disagreement_runs: :data:`lossledger.reconcile.runs.RUNS_SCHEMA`
    sources: :data:`lossledger.reconcile.scorecard.SOURCES_SCHEMA`

Rules (one function below per rule):

* Per source, the observation of its newest event (highest ``seq``) speaks for it on a
  (date, category); older differing values become ``revision`` discrepancies.
* Across distinct sources (issue 11), evidence in this order decides, and ``evidence`` says
  which: (1) the cumulative series and stated deltas (:mod:`lossledger.reconcile.evidence`:
  ``series_fit``, ``stated_delta``, ``stale``; status ``series``); (2) agreement of at least
  two independent sources whose reliability-weighted probability reaches
  :attr:`ReconcilePolicy.decide_probability` (:mod:`lossledger.reconcile.reliability`, copies
  discounted by :mod:`lossledger.reconcile.copying`; status ``majority``); (3) the best source
  kind in :attr:`ReconcilePolicy.priority` when it is unique (``priority``); otherwise the
  cell is ``contested`` (confidence ``1 / candidates``; the likelier value by reliability, then
  the smaller total, is published). Nothing depends on ``seq`` or ``received_at`` except which
  event of one source is its newest. ``confirmed`` when all (>= 2) sources agree,
  ``single_source`` when only one reports. The latest active override replaces the total
  (``overridden``).
* Which days a new observation on day d can change: the decisions of days d - w .. d + w
  (w = :attr:`ReconcilePolicy.series_window_days`: series bounds and delta pins look at most
  that far) and of the days of the calendar months those touch (the month's zero-change rate
  says whether repeating yesterday is ``stale``), the lines of days d and d + 1 along the
  category (delta, gaps, inference), and, through the source reliabilities (one cheap
  global step over per-(source, category, year) counts), the probabilities of ``majority``
  cells and the pick among a ``contested`` cell's candidates anywhere. A window run
  recomputes the reliabilities globally, then decides only its window's cells from (their
  candidates, the days within w, the reliabilities).
* Disagreeing sources' consecutive days form ``disagreement_runs``
  (:mod:`lossledger.reconcile.runs`); :mod:`lossledger.reconcile.scorecard` scores each source.
* Every source that disagrees with the chosen total is a ``source_conflict`` whose detail starts
  with its likely cause (``stale``, ``typo`` or ``other``) and names the deciding rule.
* Along each category: ``delta``, ``delta_mismatch``, ``restatement``, ``gap``; a missing day
  is ``inferred`` from the next day's stated delta.

Status vocabulary (:data:`STATUSES`): ``confirmed``, ``single_source``, ``series``,
``majority``, ``priority``, ``contested``, ``overridden``, ``inferred``.

Discrepancy kinds (:data:`DISCREPANCY_KINDS`), with ``expected``/``observed``, ``source`` and
``detail``:

* ``source_conflict``: chosen / the source's value; that source;
  ``"<cause>; <rule>"`` where cause is ``stale: equals <date> total``,
  ``typo: one digit changed (<observed> vs <expected>)``,
  ``typo: adjacent digits swapped (<observed> vs <expected>)`` or ``other: differs by <±n>``,
  and rule is ``decided by series fit (settled <t> on <date> before, <t> on <date> after)``,
  ``decided by stated delta (...)``, ``decided by series: the other value repeats the day
  before's total``, ``chosen by majority (<k> of <n> sources)``, ``chosen by reliability
  (p=<p>)``, ``chosen by priority (<kind>)``, ``contested: no evidence separates <v> (<sources>)
  and <v> (<sources>); published the likelier (p=<p>)``, ``chosen by override: <reason> (<actor>)``
  (``confirmed by <n> sources`` / ``chosen as the only source`` cannot disagree).
* ``revision``: newer / older value; the source;
  ``revised from <old> to <new> (event <old id> superseded by <new id>)``.
* ``delta_mismatch``: implied / stated delta; the chosen observation's source;
  ``stated <±s> but totals imply <±d> (<previous total> on <previous date> to <total>)``.
* ``restatement``: previous / new total; the chosen observation's source (null when inferred
  or overridden without an agreeing source);
  ``total fell from <previous> on <previous date> to <total> (<-n>)``.
* ``gap``: null / null; null; ``inferred from <next date> stated delta`` or ``no report``.

Lineage (``event_ids`` sorted and distinct; ``seq`` = the highest seq among them):

* daily total: every observation of the agreeing sources stating the chosen value (older
  events of those sources included) plus the winning override; an inferred day takes the
  next day's row's lineage.
* ``source_conflict``: the disagreeing observation plus the chosen total's lineage;
  ``revision``: the older and the newer observation; ``delta_mismatch`` and ``restatement``:
  both days' lineage; ``gap``: the lineage of the row that closes the gap.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import polars as pl
import polars.selectors as cs

from lossledger.parse.parsers.base import SOURCE_KINDS
from lossledger.reconcile._utils import conform, digit_slip, signed, sorted_ids
from lossledger.reconcile.causes import likely_cause, stale_matches
from lossledger.reconcile.copying import LAG_COUNTS_SCHEMA, lag_counts, lags_from_counts
from lossledger.reconcile.evidence import delta_pins, evidence_verdicts, settled_totals
from lossledger.reconcile.reliability import Learned, Truth, truth_discovery
from lossledger.reconcile.runs import RUNS_SCHEMA, disagreement_runs, with_run_ids
from lossledger.reconcile.scorecard import (
    ACTIVITY_SCHEMA,
    SOURCES_SCHEMA,
    monthly_activity,
    source_activity,
    source_scorecard,
)

__all__ = [
    "DAILY_TOTALS_SCHEMA",
    "DISCREPANCIES_SCHEMA",
    "DISCREPANCY_KINDS",
    "EVIDENCE",
    "OBSERVATIONS_SCHEMA",
    "OVERRIDES_SCHEMA",
    "RUNS_SCHEMA",
    "SOURCES_SCHEMA",
    "STATUSES",
    "VOTE_MONTHS_SCHEMA",
    "ReconcilePolicy",
    "ReconciledParts",
    "Reconciliation",
    "reconcile_totals",
    "reconciled_parts",
    "source_summaries",
    "vote_months",
]

OBSERVATIONS_SCHEMA = pl.Schema(
    {
        "event_id": pl.String,
        "seq": pl.Int64,
        "source": pl.String,
        "source_kind": pl.String,
        "received_at": pl.Datetime("us", "UTC"),
        "parser": pl.String,
        "date": pl.Date,
        "category": pl.String,
        "total": pl.Int64,
        "stated_delta": pl.Int64,
        "qualifier": pl.String,
    }
)
OVERRIDES_SCHEMA = pl.Schema(
    {
        "event_id": pl.String,
        "seq": pl.Int64,
        "date": pl.Date,
        "category": pl.String,
        "total": pl.Int64,
        "reason": pl.String,
        "actor": pl.String,
    }
)
DAILY_TOTALS_SCHEMA = pl.Schema(
    {
        "date": pl.Date,
        "category": pl.String,
        "total": pl.Int64,
        "delta": pl.Int64,
        "stated_delta": pl.Int64,
        "status": pl.String,
        "n_sources": pl.Int64,
        "event_ids": pl.List(pl.String),
        "sources": pl.List(pl.String),
        "seq": pl.Int64,
        "confidence": pl.Float64,
        "evidence": pl.String,
    }
)
DISCREPANCIES_SCHEMA = pl.Schema(
    {
        "date": pl.Date,
        "category": pl.String,
        "kind": pl.String,
        "source": pl.String,
        "expected": pl.Int64,
        "observed": pl.Int64,
        "detail": pl.String,
        "event_ids": pl.List(pl.String),
        "seq": pl.Int64,
        "run_id": pl.String,
    }
)
_LAG_COUNTS = [name for name in LAG_COUNTS_SCHEMA.names() if name not in ("source", "month")]
#: :attr:`Reconciliation.vote_months`: per source and calendar month, what the scorecard
#: (:data:`~lossledger.reconcile.scorecard.ACTIVITY_SCHEMA`) and the lags
#: (:data:`~lossledger.reconcile.copying.LAG_COUNTS_SCHEMA`) sum.
VOTE_MONTHS_SCHEMA = pl.Schema({**ACTIVITY_SCHEMA, **LAG_COUNTS_SCHEMA})
STATUSES = (
    "confirmed",
    "single_source",
    "series",
    "majority",
    "priority",
    "contested",
    "overridden",
    "inferred",
)
EVIDENCE = (
    "single_source",
    "unanimous",
    "series_fit",
    "stated_delta",
    "stale",
    "agreement",
    "priority",
    "none",
    "override",
    "inference",
)
DISCREPANCY_KINDS = ("source_conflict", "revision", "delta_mismatch", "restatement", "gap")

_KEY = ["date", "category"]
# Internal keys: ``cell`` encodes (date, category), ``src`` the source (see :func:`_cell`).
_SOURCE_KEY = ["cell", "src"]
_VALUE_KEY = ["cell", "total"]
_ONE_DAY = dt.timedelta(days=1)
_DAY = 2**32  # one day in the integer cell key (see _cell)


def _no_ids(frame: pl.DataFrame, name: str) -> pl.Expr:
    """An empty list of the type of ``frame``'s list column ``name`` (text or enum codes).

    Cut from one of the column's own lists when it has one: a literal built from the type
    hands every one of an enum's values from Python to polars (0.03 s for the 80,000 event
    ids of x10, 0.2 s for 450,000), where the column's own list costs nothing.

    >>> frame = pl.DataFrame({"ids": [None, ["b", "a"]]}, schema={"ids": pl.List(pl.String)})
    >>> frame.select(pl.col("ids").fill_null(_no_ids(frame, "ids"))).get_column("ids").to_list()
    [[], ['b', 'a']]
    """
    own = frame.get_column(name).drop_nulls().head(1)
    if own.is_empty():
        return pl.lit([], dtype=frame.schema[name])
    return pl.lit(own.list.head(0)).first()


@dataclass(frozen=True, slots=True)
class ReconcilePolicy:
    """How consensus is chosen when sources disagree."""

    priority: tuple[str, ...] = SOURCE_KINDS
    """Source kinds, highest priority first (unlisted kinds rank below all listed ones)."""

    stale_lookback_days: int = 3
    """How many earlier days a disagreeing value is compared with to call it ``stale``."""

    series_window_days: int = 7
    """How far (days) series evidence looks for a settled total before and after a cell."""

    stale_max_zero_rate: float = 0.05
    """A value repeating the day before's total loses only in a category whose settled total
    stayed unchanged on at most this share of days that month."""

    prior_accuracy: float = 0.8
    """Accuracy assumed for a source before the data says otherwise."""

    smoothing: float = 10.0
    """Pseudo-observations shrinking a group's accuracy towards the level above it."""

    false_values: int = 10
    """Plausible false values per cell (Dong et al.'s ``n``): how unlikely two independent
    sources are to give the same wrong value."""

    decide_probability: float = 0.9
    """Reliability-weighted agreement decides a cell only when its candidate's probability
    reaches this; below it the cell goes to priority, then ``contested``."""

    copy_min_shared: float = 3.0
    """Expected shared false values from which two sources may be dependent."""

    copy_min_share: float = 0.5
    """Share of a pair's differing-or-shared-false cells that must be shared false values."""

    lag_min_days: int = 3
    """Days a source must equal the day before's (after's) total to be called late (early)."""

    lag_min_share: float = 0.5
    """Share of the days the total changed on which it must do so."""

    def __post_init__(self) -> None:
        if self.stale_lookback_days < 1:
            raise ValueError("stale_lookback_days must be at least 1")
        if self.series_window_days < 1:
            raise ValueError("series_window_days must be at least 1")
        if not 0.5 < self.decide_probability <= 1:
            raise ValueError("decide_probability must be in (0.5, 1]")


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The reconciled series (:data:`DAILY_TOTALS_SCHEMA`), what disagreed
    (:data:`DISCREPANCIES_SCHEMA`), sustained disagreements (:data:`RUNS_SCHEMA`) and a
    scorecard of the sources (:data:`SOURCES_SCHEMA`)."""

    daily_totals: pl.DataFrame
    discrepancies: pl.DataFrame
    disagreement_runs: pl.DataFrame
    sources: pl.DataFrame
    learned: Learned
    """What the source reliabilities learned per year (not published: an incremental run
    starts from it, see :mod:`lossledger.reconcile.window`)."""
    vote_months: pl.DataFrame
    """The votes' activity and lag counts per source and month (:data:`VOTE_MONTHS_SCHEMA`;
    not published: the scorecard and the lags are their sums)."""


# --- inputs -------------------------------------------------------------------------------


def category_codes(observations: pl.DataFrame, overrides: pl.DataFrame) -> pl.Enum:
    """Return one enum over every category of the observations and overrides, so that both
    encode a category with the same integer (see :func:`_cell`)."""
    names = pl.concat([observations["category"].cast(pl.String), overrides["category"]])
    return pl.Enum(names.drop_nulls().unique().sort())


def _cell(date: pl.Expr, category: pl.Expr, categories: pl.Enum) -> pl.Expr:
    """One Int64 per (date, category): grouping and joining millions of rows on a date and a
    string is several times slower than on one integer. Enum codes are below 2**32, which
    makes ``days * 2**32 + code`` unique for every date."""
    code = category.cast(categories).to_physical().cast(pl.Int64)
    return date.cast(pl.Int32).cast(pl.Int64) * 2**32 + code


def ranked_observations(
    observations: pl.DataFrame, policy: ReconcilePolicy, categories: pl.Enum
) -> pl.DataFrame:
    """Return the observations that state a total, with integer keys (``cell``, ``src``),
    ``rank`` (0 = highest priority kind) and ``row`` (position).

    ``event_id``, ``source``, ``source_kind`` and ``category`` come as enums whose categories
    are the sorted names (they sort and compare as the names do): one code per row instead of
    a string. What leaves the votes for a result is text again.
    """
    ranks = {kind: rank for rank, kind in enumerate(policy.priority)}
    # Distinct first, then text: the names may come as categoricals (see the projection).
    sources = pl.Enum(observations["source"].drop_nulls().unique().cast(pl.String).sort())
    kinds = pl.Enum(observations["source_kind"].drop_nulls().unique().cast(pl.String).sort())
    rank_of_kind = pl.Series(
        [ranks.get(kind, len(ranks)) for kind in kinds.categories], dtype=pl.Int64
    )
    ranked = observations.select(
        "event_id",
        pl.col("seq").cast(pl.Int64),
        pl.col("source").cast(sources),
        pl.col("source_kind").cast(kinds),
        pl.col("date").cast(pl.Date),
        pl.col("category").cast(categories),
        pl.col("total").cast(pl.Int64),
        pl.col("stated_delta").cast(pl.Int64),
    ).filter(pl.col("total").is_not_null())
    return (
        ranked.with_columns(
            _event_codes(ranked.select("seq", "event_id")).alias("event_id"),
            _cell(pl.col("date"), pl.col("category"), categories).alias("cell"),
            pl.col("source").alias("source_code"),
            rank_of_kind.gather(ranked.get_column("source_kind").to_physical()).alias("rank"),
        )
        .with_columns(pl.col("source_code").to_physical().alias("src"))
        .with_row_index("row")
    )


def _as_text(*names: str) -> list[pl.Expr]:
    """The named enum columns of the votes as text (for frames leaving the votes)."""
    return [pl.col(name).cast(pl.String) for name in names]


def active_overrides(overrides: pl.DataFrame | None) -> pl.DataFrame:
    """Return the overrides in the contract's schema (empty when there are none)."""
    if overrides is None:
        return OVERRIDES_SCHEMA.to_frame()
    return conform(overrides, OVERRIDES_SCHEMA)


def latest_overrides(overrides: pl.DataFrame, categories: pl.Enum) -> pl.DataFrame:
    """Return the override that wins per (date, category): the one with the highest ``seq``."""
    return (
        overrides.sort("seq", "event_id")
        .unique(_KEY, keep="last")
        .select(
            _cell(pl.col("date"), pl.col("category"), categories).alias("cell"),
            *_KEY,
            pl.col("total").alias("override_total"),
            pl.col("event_id").alias("override_event_id"),
            pl.col("seq").alias("override_seq"),
            pl.format(
                "chosen by override: {} ({})",
                pl.col("reason").fill_null("no reason given"),
                pl.col("actor").fill_null("unknown actor"),
            ).alias("override_rule"),
        )
    )


# --- per source -----------------------------------------------------------------------------


def source_votes(ranked: pl.DataFrame) -> pl.DataFrame:
    """Return one row per (date, category, source): the observation of its newest event.

    Two rows of the same event (same ``seq``) for one cell are a parser fault; the first
    listed then speaks.
    """
    is_vote = _is_vote(ranked)
    return ranked if is_vote is None else ranked.filter(is_vote)


def _is_vote(ranked: pl.DataFrame) -> pl.Series | None:
    """Which rows of ``ranked`` are votes (see :func:`source_votes`); ``None``: all."""
    # Usually every source states each cell once, and repeated keys are few (older events of
    # a source): only those rows are grouped, every other row is kept as it is.
    repeated = _is_duplicated(ranked.select(_source_key(ranked)).to_series())
    if not repeated.any():
        return None
    newest = (
        ranked.select(*_SOURCE_KEY, "row", "seq")
        .filter(repeated)
        .group_by(_SOURCE_KEY)
        .agg(pl.col("row").get(pl.col("seq").arg_max()))
    )
    return ranked.select(
        ~repeated | pl.col("row").is_in(newest["row"].implode())
    ).to_series()


def votes_and_superseded(ranked: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`source_votes` and :func:`superseded_observations` at once, consuming
    ``ranked`` (it is empty afterwards): its columns move into the votes one at a time, so
    that the observations are not held twice at the peak."""
    is_vote = _is_vote(ranked)
    if is_vote is None:
        votes = ranked.clone()
        ranked.clear()
        return votes, superseded_observations(votes.head(0), votes.head(0))
    older = ranked.filter(~is_vote)
    votes = pl.DataFrame(
        [ranked.drop_in_place(name).filter(is_vote) for name in list(ranked.columns)]
    )
    return votes, superseded_observations(older, votes, all_older=True)


def _is_duplicated(keys: pl.Series) -> pl.Series:
    """``keys.is_duplicated()`` through one sort: cheaper than hashing a million keys."""
    if keys.dtype == pl.Struct:
        return keys.is_duplicated()
    order = keys.arg_sort()
    ordered = keys.gather(order)
    repeats = ((ordered == ordered.shift(1)) | (ordered == ordered.shift(-1))).fill_null(False)
    return pl.repeat(False, keys.len(), eager=True).scatter(order.filter(repeats), True)


def _source_key(ranked: pl.DataFrame) -> pl.Expr:
    """One integer per (cell, src): hashing one Int64 is cheaper than a struct of two."""
    n_sources = int(ranked.get_column("src").max() or 0) + 1
    bound = max(abs(int(ranked.get_column("cell").min() or 0)),
                abs(int(ranked.get_column("cell").max() or 0)))
    if bound >= 2**62 // n_sources:
        return pl.struct(_SOURCE_KEY)
    return pl.col("cell") * n_sources + pl.col("src").cast(pl.Int64)


def superseded_observations(
    ranked: pl.DataFrame, votes: pl.DataFrame, *, all_older: bool = False
) -> pl.DataFrame:
    """Return the observations an older event of a source gave, with that source's current
    ``vote_total``, ``vote_event_id`` and ``vote_seq`` (``all_older``: ``ranked`` holds the
    older observations only)."""
    if not all_older:
        # ``row`` is the position in ``ranked``, so marking the votes' positions finds the
        # rest.
        is_vote = pl.repeat(False, ranked.height, eager=True).scatter(votes["row"], True)
        ranked = ranked.filter(~is_vote)
    return ranked.join(
        votes.select(
            *_SOURCE_KEY,
            pl.col("total").alias("vote_total"),
            pl.col("event_id").alias("vote_event_id"),
            pl.col("seq").alias("vote_seq"),
        ),
        on=_SOURCE_KEY,
    ).with_columns(_as_text("source", "source_kind", "category"))


def revisions(superseded: pl.DataFrame) -> pl.DataFrame:
    """Return a ``revision`` row for every older value a source's newest event replaced."""
    return superseded.filter(pl.col("total") != pl.col("vote_total")).select(
        *_KEY,
        pl.lit("revision").alias("kind"),
        "source",
        pl.col("vote_total").alias("expected"),
        pl.col("total").alias("observed"),
        pl.format(
            "revised from {} to {} (event {} superseded by {})",
            "total",
            "vote_total",
            "event_id",
            "vote_event_id",
        ).alias("detail"),
        sorted_ids(pl.concat_list("event_id", "vote_event_id")).alias("event_ids"),
        pl.max_horizontal("seq", "vote_seq").alias("seq"),
    )


# --- consensus ------------------------------------------------------------------------------


def value_candidates(votes: pl.DataFrame, superseded: pl.DataFrame) -> pl.DataFrame:
    """Return one row per (date, category, total) some source currently states.

    ``n_agree`` counts the sources giving it; the ``lead_*`` columns describe its best source
    (highest priority, then one stating a delta, then the first source name), whose
    observation speaks for
    the value; ``event_ids``/``seq`` cover every observation of those sources stating it,
    older events included.
    """
    # Content, never arrival order: the best kind, then a source that states a delta, then
    # the source name (one vote per source, so the name settles it).
    # One integer key (``src`` codes follow the sorted source names): an arg-min per group is
    # several times cheaper than a multi-column sort per group.
    lead_key = (
        pl.col("rank").cast(pl.Int64) * 2**34
        + pl.col("stated_delta").is_null().cast(pl.Int64) * 2**33
        + pl.col("src").cast(pl.Int64)
    )
    # Names as enums whose categories are sorted: the lists are gathered and sorted as
    # integer codes (an enum sorts in its categories' order, here the names'), and turned
    # into text once.
    event_ids = _event_codes(votes.select("seq", "event_id"))
    values = (
        votes.select(
            *_VALUE_KEY,
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("_pos"),
            "seq",
            lead_key.alias("_lead"),
            pl.col("source_code").alias("source"),
            event_ids,
        )
        .group_by(_value_key(votes))
        .agg(
            pl.len().cast(pl.Int64).alias("n_agree"),
            pl.col("_pos").get(pl.col("_lead").arg_min()).alias("_lead_pos"),
            pl.col("source").alias("sources"),
            # One vote per source, so the ids are already distinct.
            pl.col("event_id").alias("event_ids"),
            pl.col("seq").max(),
        )
        .select(
            "n_agree",
            "_lead_pos",
            # Lists of enum codes (sorted as the names): text only in the published tables.
            pl.col("sources", "event_ids").list.sort(),
            "seq",
        )
    )
    # Gathering the lead rows afterwards is cheaper than carrying every column through the
    # group-by; the lead vote gives its value's key too.
    lead = votes[values.get_column("_lead_pos")]
    values = pl.concat([lead.select(_VALUE_KEY), values.drop("_lead_pos")], how="horizontal")
    lead = lead.select(
        "date",
        pl.col("category").cast(pl.String),
        pl.col("source").cast(pl.String).alias("lead_source"),
        pl.col("source_kind").cast(pl.String).alias("lead_kind"),
        pl.col("rank").alias("lead_rank"),
        pl.col("stated_delta").alias("lead_stated_delta"),
    )
    return with_older_support(pl.concat([values, lead], how="horizontal"), superseded)


def _value_key(votes: pl.DataFrame) -> pl.Expr | list[str]:
    """One Int64 per (cell, total) when the grid of (day, category, total) fits one
    (hashing one integer is cheaper than two), else the two columns."""
    if votes.is_empty():
        return _VALUE_KEY
    day = votes.get_column("cell") // _DAY
    low_day, high_day = int(day.min()), int(day.max())  # type: ignore[arg-type]
    n_codes = int((votes.get_column("cell") - day * _DAY).max()) + 1  # type: ignore[arg-type]
    low, high = votes.get_column("total").min(), votes.get_column("total").max()
    width = int(high) - int(low) + 1  # type: ignore[arg-type]
    if (high_day - low_day + 1) * n_codes * width >= 2**62:
        return _VALUE_KEY
    days = pl.col("cell") // _DAY
    place = (days - low_day) * n_codes + (pl.col("cell") - days * _DAY)
    return (place * width + (pl.col("total") - low)).alias("_value")


def _event_codes(events: pl.DataFrame) -> pl.Series:
    """Return ``events["event_id"]`` as an enum whose categories are the sorted ids.

    An event has one ``seq``: its id is coded once and handed to each of its rows by
    position (rows come in runs of one event), rather than hashed row by row.
    """
    ids = events.get_column("event_id")
    dtype = ids.dtype  # once: each call hands an enum's values to Python
    if isinstance(dtype, pl.Enum) and dtype.categories.is_sorted():
        # Coded already, and the codes sort as the ids do (the projection's enums).
        return ids
    starts = (pl.int_range(pl.len()) == 0) | pl.any_horizontal(
        pl.col(name) != pl.col(name).shift() for name in ("seq", "event_id")
    )
    runs = events.filter(starts).unique().with_columns(pl.col("event_id").cast(pl.String))
    codes = pl.Enum(runs.get_column("event_id").drop_nulls().unique().sort())
    top = runs.get_column("seq").max()
    if (
        runs.get_column("seq").null_count()
        or runs.get_column("seq").n_unique() != runs.height
        or top is None
        or runs.get_column("seq").min() < 0  # type: ignore[operator]
        or top > 4 * events.height + 1_000_000  # type: ignore[operator]
    ):
        # Two ids share a ``seq`` (hand-made frames), or the numbers are unusable as positions.
        return ids.cast(codes)
    # Where each event's id sits in ``runs``, by seq; then each row's id by its seq.
    size = int(top) + 1  # type: ignore[arg-type]
    position = pl.repeat(None, size, dtype=pl.UInt32, eager=True).scatter(
        runs.get_column("seq"), pl.int_range(runs.height, dtype=pl.UInt32, eager=True)
    )
    coded = runs.get_column("event_id").cast(codes)
    return coded.gather(position.gather(events.get_column("seq")))


def with_older_support(candidates: pl.DataFrame, superseded: pl.DataFrame) -> pl.DataFrame:
    """Return ``candidates`` with the older events of agreeing sources that stated the same
    value added to ``event_ids`` and ``seq`` (a history file's earlier versions, say)."""
    older = superseded.filter(pl.col("total") == pl.col("vote_total"))
    if older.is_empty():
        return candidates
    support = older.group_by(_VALUE_KEY).agg(
        pl.col("event_id").alias("older_ids"), pl.col("seq").max().alias("older_seq")
    )
    # Few candidates have older support: merge the lists of those only (the others' ids are
    # already sorted and distinct, see value_candidates).
    merged = (
        candidates.select(*_VALUE_KEY, "event_ids", "seq")
        .join(support, on=_VALUE_KEY)
        .select(
            *_VALUE_KEY,
            sorted_ids(pl.concat_list("event_ids", "older_ids")).alias("older_ids"),
            pl.max_horizontal("seq", "older_seq").alias("older_seq"),
        )
    )
    return (
        candidates.join(merged, on=_VALUE_KEY, how="left", maintain_order="left")
        .with_columns(
            pl.coalesce("older_ids", "event_ids").alias("event_ids"),
            pl.coalesce("older_seq", "seq").alias("seq"),
        )
        .drop("older_ids", "older_seq")
    )


def decided_totals(
    candidates: pl.DataFrame,
    votes: pl.DataFrame,
    policy: ReconcilePolicy,
    *,
    learned: Learned | None = None,
    learn_from: int | None = None,
) -> tuple[pl.DataFrame, Truth]:
    """Return the value chosen per (date, category), its ``status``, ``rule``, ``evidence``
    and ``confidence``, and the source reliability learned on the way.

    Every cell is decided from its own candidates, its neighbouring days (series evidence,
    at most :attr:`ReconcilePolicy.series_window_days` away) and the reliability weights
    (:func:`lossledger.reconcile.reliability.truth_discovery`); never from the order the
    events arrived in. With ``learned`` (of an earlier run over the same years before
    ``learn_from``), the years before ``learn_from`` are decided as that run decided them.
    """
    settled = settled_totals(candidates)
    n_values = pl.len().over("cell")
    conflicting = candidates.filter(n_values > 1)
    conflict_cells = conflicting.get_column("cell").unique()
    verdicts = evidence_verdicts(
        conflicting,
        settled,
        delta_pins(votes, settled, conflict_cells),
        window_days=policy.series_window_days,
        stale_max_zero_rate=policy.stale_max_zero_rate,
    )
    year = pl.col("date").dt.year().alias("year")
    in_conflict = pl.col("cell").is_in(conflict_cells.implode())
    keyed_votes = (
        votes.select("cell", "source", "rank", "category", year, "total")
        .filter(in_conflict)
        .with_columns(_as_text("source", "category"))
    )
    settled_counts = settled_vote_counts(votes, keyed_votes)
    truth = truth_discovery(
        settled_counts,
        keyed_votes.join(
            verdicts.select("cell", "total", "survives", "series_decided"),
            on=["cell", "total"],
        ),
        prior=policy.prior_accuracy,
        smoothing=policy.smoothing,
        false_values=policy.false_values,
        copy_min_shared=policy.copy_min_shared,
        copy_min_share=policy.copy_min_share,
        decide_probability=policy.decide_probability,
        before=learned,
        learn_from=learn_from,
    )
    agreed = (
        candidates.lazy()
        .select("cell", *_KEY, "total", "n_agree", n_values.alias("_n_values"))
        .filter(pl.col("_n_values") == 1)
        .with_columns(
            support_confidence(pl.col("n_agree"), policy.prior_accuracy).alias("confidence")
        )
        .collect()
    )
    single = agreed.select(
        "cell",
        *_KEY,
        "total",
        pl.col("n_agree").alias("n_sources"),
        pl.when(pl.col("n_agree") == 1)
        .then(pl.lit("single_source"))
        .otherwise(pl.lit("confirmed"))
        .alias("status"),
        pl.when(pl.col("n_agree") == 1)
        .then(pl.lit("chosen as the only source"))
        .otherwise(pl.format("confirmed by {} sources", "n_agree"))
        .alias("rule"),
        pl.when(pl.col("n_agree") == 1)
        .then(pl.lit("single_source"))
        .otherwise(pl.lit("unanimous"))
        .alias("evidence"),
        "confidence",
    )
    contested = conflict_decisions(verdicts, truth.posteriors, policy)
    return pl.concat([single, contested.select(single.columns)]), truth


def settled_vote_counts(votes: pl.DataFrame, conflict_votes: pl.DataFrame) -> pl.DataFrame:
    """Return (source, category, year, n): the votes in settled cells, as all votes less those
    in conflicting cells (grouping every vote on integer keys is the cheap way round)."""
    keys = [
        pl.col("src"),
        (pl.col("cell") % 2**32).alias("code"),
        pl.col("date").dt.year().alias("year"),
    ]
    # Integer keys only in the million-row group-by (folded into one integer when they fit);
    # the keys and names of each group are gathered from one of its rows afterwards.
    frame = votes.select(*keys, pl.int_range(pl.len(), dtype=pl.UInt32).alias("_at"))
    every = frame.group_by(_one_key(frame, ["src", "code", "year"])).agg(
        pl.len().alias("n"), pl.col("_at").first()
    )
    every = pl.concat(
        [
            every.select("n"),
            votes[every.get_column("_at")].select(*keys, *_as_text("source", "category")),
        ],
        how="horizontal",
    )
    conflicting = conflict_votes.group_by("source", "category", "year").agg(
        pl.len().alias("n_conflict")
    )
    return (
        every.join(conflicting, on=["source", "category", "year"], how="left")
        .select(
            "source",
            "category",
            "year",
            (pl.col("n") - pl.col("n_conflict").fill_null(0)).alias("n"),
        )
    )


def _one_key(frame: pl.DataFrame, names: list[str]) -> pl.Expr | list[str]:
    """One Int64 key from integer columns whose ranges fit 21 bits each (source and category
    codes, years), else the columns: hashing one integer is cheaper than several."""
    bits = 21
    lows = frame.select(pl.col(names).min()).row(0)
    highs = frame.select(pl.col(names).max()).row(0)
    if len(names) * bits > 63 or any(
        low is None or high - low >= 2**bits for low, high in zip(lows, highs, strict=True)
    ):
        return names
    key = pl.lit(0, pl.Int64)
    for name, low in zip(names, lows, strict=True):
        key = key * 2**bits + (pl.col(name).cast(pl.Int64) - low)
    return key.alias("_key")


def support_confidence(n_sources: pl.Expr, accuracy: float) -> pl.Expr:
    """Return the chance that not all of ``n_sources`` sources of ``accuracy`` are wrong,
    ``1 - (1 - accuracy) ** n``.

    The policy's prior accuracy, not the learned one: a settled cell's confidence then changes
    only when its own sources do, so a new report does not rewrite every published partition
    (learned reliabilities move a little with every observation).
    """
    return (1 - (1 - accuracy) ** n_sources).round(6)


def conflict_decisions(
    verdicts: pl.DataFrame,
    posteriors: pl.DataFrame,
    policy: ReconcilePolicy,
) -> pl.DataFrame:
    """Return the decision for every cell whose sources disagree (see the module docstring
    for the order of evidence)."""
    listed = pl.format(
        "{} ({})", "total", pl.col("sources").cast(pl.List(pl.String)).list.join(", ")
    )
    ordered = (
        verdicts.join(
            posteriors.select("cell", "total", "posterior", "independent"), on=["cell", "total"]
        )
        .with_columns(
            listed.alias("_listed"),
            pl.when("survives").then("lead_rank").otherwise(2**40).alias("_rk"),
        )
        .sort(
            "cell", "survives", "posterior", "lead_rank", "total",
            descending=[False, True, True, False, False],
        )
    )
    alive = pl.col("survives")
    by_rank = pl.col("total").sort_by("_rk", "total")
    cells = ordered.group_by("cell").agg(
        pl.col("date").first(),
        pl.col("category").first(),
        pl.col("total").first().alias("top_total"),
        pl.col("posterior").first().alias("top_posterior"),
        pl.col("independent").first().alias("top_independent"),
        # The series that ruled out the other candidates counts as one more witness.
        support_confidence(pl.col("n_agree") + 1, policy.prior_accuracy).first().alias(
            "top_support"
        ),
        pl.col("n_agree").first().alias("top_n"),
        pl.col("n_agree").filter(alive).get(1, null_on_oob=True).alias("runner_n"),
        pl.col("n_agree").sum().alias("n_sources"),
        pl.col("series_decided").first(),
        pl.col("lower").first(),
        pl.col("lower_date").first(),
        pl.col("upper").first(),
        pl.col("upper_date").first(),
        by_rank.first().alias("rank_total"),
        pl.col("posterior").sort_by("_rk", "total").first().alias(
            "rank_posterior"
        ),
        pl.col("lead_rank").filter(alive).sort().first().alias("best_rank"),
        pl.col("lead_rank").filter(alive).sort().get(1, null_on_oob=True).alias("second_rank"),
        pl.col("lead_kind").sort_by("_rk", "total").first().alias(
            "rank_kind"
        ),
        pl.col("_listed").filter(alive).sort().str.join(" and ").alias("alive_listed"),
        alive.sum().alias("n_alive"),
    )
    series = pl.col("series_decided").is_not_null()
    # Agreement needs agreeing sources: one source's record alone, however good, does not
    # outvote another source (two history files with no separating evidence are contested).
    agreement = (pl.col("top_posterior") >= policy.decide_probability) & (
        pl.col("top_independent") >= 2
    )
    priority = pl.col("best_rank") < pl.col("second_rank")
    status = (
        pl.when(series).then(pl.lit("series"))
        .when(agreement).then(pl.lit("majority"))
        .when(priority).then(pl.lit("priority"))
        .otherwise(pl.lit("contested"))
    )
    evidence = (
        pl.when(series).then("series_decided")
        .when(agreement).then(pl.lit("agreement"))
        .when(priority).then(pl.lit("priority"))
        .otherwise(pl.lit("none"))
    )
    bounds = pl.concat_str(
        pl.when(pl.col("lower").is_not_null()).then(
            pl.format("{} on {} before", "lower", "lower_date")
        ),
        pl.when(pl.col("upper").is_not_null()).then(
            pl.format("{} on {} after", "upper", "upper_date")
        ),
        separator=", ",
        ignore_nulls=True,
    )
    series_rule = (
        pl.when(pl.col("series_decided") == "series_fit")
        .then(pl.format("decided by series fit (settled {})", bounds))
        .when(pl.col("series_decided") == "stated_delta")
        .then(pl.lit("decided by stated delta (a source's delta pins the total)"))
        .otherwise(pl.lit("decided by series: the other value repeats the day before's total"))
    )
    agreement_rule = (
        pl.when(pl.col("top_n") > pl.col("runner_n").fill_null(0))
        .then(pl.format("chosen by majority ({} of {} sources)", "top_n", "n_sources"))
        .otherwise(
            pl.format(
                "chosen by reliability (p={})", pl.col("top_posterior").round(2).cast(pl.String)
            )
        )
    )
    rule = (
        pl.when(series).then(series_rule)
        .when(agreement).then(agreement_rule)
        .when(priority).then(pl.format("chosen by priority ({})", "rank_kind"))
        .otherwise(
            pl.format(
                "contested: no evidence separates {}; published the likelier (p={})",
                "alive_listed",
                pl.col("top_posterior").round(2).cast(pl.String),
            )
        )
    )
    # A contested cell claims no more than a coin toss among the candidates left standing:
    # the reliability that picked the published one is named in the rule, not claimed here.
    # A cell priority decided claims less than agreement would have: one source's learned
    # record can reach the deciding probability, but without a second independent source it
    # did not decide the cell, so its confidence stays below that probability.
    below_agreement = math.floor(policy.decide_probability * 100 - 1e-9) / 100
    confidence = (
        pl.when(series).then("top_support")
        # Two decimals: learned probabilities move a little with every new observation.
        .when(agreement).then(pl.col("top_posterior").round(2))
        .when(priority).then(
            pl.min_horizontal(pl.col("rank_posterior").round(2), pl.lit(below_agreement))
        )
        .otherwise(1 / pl.col("n_alive"))
    )
    return cells.select(
        "cell",
        *_KEY,
        pl.when(~series & ~agreement & priority)
        .then("rank_total")
        .otherwise("top_total")
        .alias("total"),
        "n_sources",
        status.alias("status"),
        rule.alias("rule"),
        evidence.alias("evidence"),
        confidence.clip(0.0, 1.0).round(6).alias("confidence"),
    )


def chosen_totals(
    decided: pl.DataFrame, overrides: pl.DataFrame, candidates: pl.DataFrame
) -> pl.DataFrame:
    """Return the chosen total per (date, category) after overrides, with its lineage.

    An override on a (date, category) no source reports still yields a row (``n_sources`` 0).
    """
    with_overrides = decided.join(overrides, on="cell", how="full", coalesce=True).select(
        "cell",
        pl.coalesce("date", "date_right").alias("date"),
        pl.coalesce("category", "category_right").alias("category"),
        pl.coalesce("override_total", "total").alias("total"),
        pl.when(pl.col("override_total").is_not_null())
        .then(pl.lit("overridden"))
        .otherwise("status")
        .alias("status"),
        pl.coalesce("override_rule", "rule").alias("rule"),
        pl.when(pl.col("override_total").is_not_null())
        .then(pl.lit("override"))
        .otherwise("evidence")
        .alias("evidence"),
        pl.when(pl.col("override_total").is_not_null())
        .then(pl.lit(1.0))
        .otherwise("confidence")
        .alias("confidence"),
        pl.col("n_sources").fill_null(0),
        "override_event_id",
        "override_seq",
    )
    lineage = candidates.select(
        "cell", "total", "lead_source", "lead_stated_delta", "sources", "event_ids", "seq"
    )
    event_ids = pl.col("event_ids").fill_null(_no_ids(lineage, "event_ids"))
    if not overrides.is_empty():
        # Merging lists costs more than the rest of this function; skip it when idle.
        event_ids = sorted_ids(
            pl.concat_list(event_ids.cast(pl.List(pl.String)), "override_event_id")
        )
    return with_overrides.join(lineage, on=["cell", "total"], how="left").select(
        *_KEY,
        "total",
        pl.col("lead_stated_delta").alias("stated_delta"),
        "status",
        "rule",
        "n_sources",
        pl.col("lead_source").alias("chosen_source"),
        pl.col("sources").fill_null(_no_ids(lineage, "sources")),
        event_ids.alias("event_ids"),
        pl.max_horizontal("seq", "override_seq").alias("seq"),
        "confidence",
        "evidence",
        "cell",
    )


# --- along each category --------------------------------------------------------------------


def _with_previous_row(
    frame: pl.DataFrame,
    *,
    where: pl.Expr | None = None,
    day_before_only: bool = False,
    order: list[str] | None = None,
) -> pl.DataFrame:
    """Return ``frame`` sorted by (category, date) with the previous row's columns.

    ``where`` keeps only the rows it holds for; ``day_before_only`` nulls the previous row's
    columns unless it is the calendar day before; ``order`` sorts the result by other columns.
    The order and the filter are found on the scalar columns; the list columns (lineage) are
    gathered once, for the rows kept only.
    """
    # A selector: the schema would hand the lineage's enum types (every event id) to Python.
    lists = frame.select(cs.list()).columns
    previous = [
        pl.col(name).shift().over("category").alias(f"prev_{name}")
        for name in ("date", "total", "seq", "_at")
    ]
    thin = frame.drop(lists).with_row_index("_at").sort("category", "date").with_columns(previous)
    if day_before_only:
        day_before = pl.col("prev_date") == pl.col("date") - _ONE_DAY
        thin = thin.with_columns(
            pl.when(day_before).then(pl.col(name)).alias(name)
            for name in ("prev_date", "prev_total", "prev_seq", "prev__at")
        )
    if where is not None:
        thin = thin.filter(where)
    if order is not None:
        thin = thin.sort(order)
    at, prev_at = thin.get_column("_at"), thin.get_column("prev__at")
    return pl.concat(
        [
            thin.drop("_at", "prev__at"),
            frame.select(lists)[at],
            frame.select(pl.col("event_ids").alias("prev_event_ids"))[prev_at],
        ],
        how="horizontal",
    ).select(*frame.columns, "prev_date", "prev_total", "prev_event_ids", "prev_seq")


def inferred_totals(chosen: pl.DataFrame) -> pl.DataFrame:
    """Return rows for missing days whose next day's stated delta gives their total.

    Only the day right before a reported day can be inferred; chaining further back would
    compound guesses, so earlier days of a longer gap stay missing.
    """
    return (
        _with_previous_row(chosen, where=_gap_closes_here() & _infers_day_before())
        .select(
            (pl.col("date") - _ONE_DAY).alias("date"),
            "category",
            (pl.col("total") - pl.col("stated_delta")).alias("total"),
            pl.lit(None, pl.Int64).alias("stated_delta"),
            pl.lit("inferred").alias("status"),
            pl.lit(None, pl.String).alias("rule"),
            pl.lit(0, pl.Int64).alias("n_sources"),
            pl.lit(None, pl.String).alias("chosen_source"),
            _no_ids(chosen, "sources").alias("sources"),
            "event_ids",
            "seq",
            # The next day's confidence, no more: the inference rests on its stated delta.
            "confidence",
            pl.lit("inference").alias("evidence"),
            # The cell key of the day before: one day is 2**32 apart (see _cell).
            (pl.col("cell") - 2**32).alias("cell"),
        )
    )


def _gap_closes_here() -> pl.Expr:
    return pl.col("prev_date").is_not_null() & (pl.col("prev_date") < pl.col("date") - _ONE_DAY)


def _infers_day_before() -> pl.Expr:
    # A stated delta larger than the total would infer a negative cumulative total: a fault
    # in the report, not a figure to publish.
    return pl.col("stated_delta").is_not_null() & (pl.col("total") >= pl.col("stated_delta"))


def daily_series(chosen: pl.DataFrame, inferred: pl.DataFrame) -> pl.DataFrame:
    """Return chosen and inferred totals along each category, with ``delta`` and the previous
    day's total and lineage (null unless the previous calendar day has a row)."""
    # Sorted by (date, category) already, the published order (see daily_totals).
    series = _with_previous_row(
        pl.concat([chosen, inferred.select(chosen.columns)]), day_before_only=True, order=_KEY
    )
    return series.with_columns((pl.col("total") - pl.col("prev_total")).alias("delta"))


def daily_totals(series: pl.DataFrame) -> pl.DataFrame:
    """Return the published series in the contract's shape, sorted by (date, category)."""
    order = series.select(pl.arg_sort_by(_KEY)).to_series()
    if not order.equals(pl.int_range(series.height, dtype=order.dtype, eager=True),
                        check_names=False):
        # Moving the lineage lists is the cost of a sort: skip it when the rows are in order.
        series = series[order]
    return conform(series, DAILY_TOTALS_SCHEMA)


def _with_day_before(kind: str, detail: pl.Expr) -> list[pl.Expr]:
    """Columns of a discrepancy that involves a day's total and the day before's."""
    return [
        *_KEY,
        pl.lit(kind).alias("kind"),
        pl.col("chosen_source").alias("source"),
        detail.alias("detail"),
        sorted_ids(pl.concat_list("event_ids", "prev_event_ids")).alias("event_ids"),
        pl.max_horizontal("seq", "prev_seq").alias("seq"),
    ]


def delta_mismatches(series: pl.DataFrame) -> pl.DataFrame:
    """Return a ``delta_mismatch`` where the chosen stated delta disagrees with the totals."""
    return series.filter(
        pl.col("stated_delta").is_not_null()
        & pl.col("delta").is_not_null()
        & (pl.col("stated_delta") != pl.col("delta"))
    ).select(
        pl.col("delta").alias("expected"),
        pl.col("stated_delta").alias("observed"),
        *_with_day_before(
            "delta_mismatch",
            pl.format(
                "stated {} but totals imply {} ({} on {} to {})",
                signed(pl.col("stated_delta")),
                signed(pl.col("delta")),
                "prev_total",
                "prev_date",
                "total",
            ),
        ),
    )


def restatements(series: pl.DataFrame) -> pl.DataFrame:
    """Return a ``restatement`` where a cumulative total fell from the day before."""
    return series.filter(pl.col("delta") < 0).select(
        pl.col("prev_total").alias("expected"),
        pl.col("total").alias("observed"),
        *_with_day_before(
            "restatement",
            pl.format(
                "total fell from {} on {} to {} ({})",
                "prev_total",
                "prev_date",
                "total",
                signed(pl.col("delta")),
            ),
        ),
    )


def gaps(chosen: pl.DataFrame) -> pl.DataFrame:
    """Return a ``gap`` per day with no report inside a category's reported range.

    Each carries the lineage of the row that closes the gap; the day just before a row with
    a stated delta says it was inferred (see :func:`inferred_totals`).
    """
    closing = _with_previous_row(chosen, where=_gap_closes_here())
    missing = closing.with_columns(
        pl.date_ranges(pl.col("prev_date") + _ONE_DAY, pl.col("date") - _ONE_DAY).alias(
            "missing"
        )
    ).explode("missing")
    inferred = (pl.col("missing") == pl.col("date") - _ONE_DAY) & _infers_day_before()
    return missing.select(
        pl.col("missing").alias("date"),
        "category",
        pl.lit("gap").alias("kind"),
        pl.lit(None, pl.String).alias("source"),
        pl.lit(None, pl.Int64).alias("expected"),
        pl.lit(None, pl.Int64).alias("observed"),
        pl.when(inferred)
        .then(pl.format("inferred from {} stated delta", "date"))
        .otherwise(pl.lit("no report"))
        .alias("detail"),
        "event_ids",
        "seq",
    )


# --- disagreeing sources --------------------------------------------------------------------


def source_conflicts(
    votes: pl.DataFrame,
    chosen: pl.DataFrame,
    series: pl.DataFrame,
    lookback_days: int,
    *,
    candidates: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Return a ``source_conflict`` per source whose current value differs from the chosen.

    With ``candidates`` (:func:`value_candidates`), only the votes of cells where a candidate
    other than the chosen total stands are joined (a few thousand of a million votes).
    """
    if candidates is not None:
        losing = candidates.select("cell", "total").join(
            chosen.select("cell", "total"), on=["cell", "total"], how="anti"
        )
        votes = votes.filter(pl.col("cell").is_in(losing.get_column("cell").unique().implode()))
    conflicting = (
        votes.select("cell", "source", "event_id", "seq", "total")
        .join(chosen.select("cell", pl.col("total").alias("chosen_total")), on="cell")
        .filter(pl.col("total") != pl.col("chosen_total"))
    )
    conflicts = conflicting.join(
        chosen.select(
            "cell",
            *_KEY,
            "rule",
            pl.col("event_ids").cast(pl.List(pl.String)).alias("chosen_event_ids"),
            pl.col("seq").alias("chosen_seq"),
        ),
        on="cell",
    ).with_row_index("conflict")
    stale = stale_matches(conflicts, series, lookback_days)
    return (
        conflicts.join(stale, on="conflict", how="left")
        .with_columns(digit_slip(pl.col("total"), pl.col("chosen_total")).alias("slip"))
        .select(
            *_KEY,
            pl.lit("source_conflict").alias("kind"),
            "source",
            pl.col("chosen_total").alias("expected"),
            pl.col("total").alias("observed"),
            pl.format("{}; {}", likely_cause(), "rule").alias("detail"),
            sorted_ids(pl.concat_list("event_id", "chosen_event_ids")).alias("event_ids"),
            pl.max_horizontal("seq", "chosen_seq").alias("seq"),
        )
    )


def discrepancies(*parts: pl.DataFrame) -> pl.DataFrame:
    """Return all discrepancy rows in the contract's shape and a deterministic order."""
    frames = [
        conform(
            part if "run_id" in part.columns
            else part.with_columns(pl.lit(None, pl.String).alias("run_id")),
            DISCREPANCIES_SCHEMA,
        )
        for part in parts
    ]
    frame = pl.concat(frames)
    ordered = frame.sort(_DISCREPANCY_ORDER, nulls_last=True)
    if not ordered.select(pl.struct(_DISCREPANCY_ORDER).is_duplicated().any()).item():
        # No two rows alike in those: their event ids would not change the order (joined as
        # text for every row, x30's lists of some 60 ids took three quarters of the sort).
        return ordered
    return (
        frame.with_columns(pl.col("event_ids").list.join(",").alias("_ids"))
        .sort(*_DISCREPANCY_ORDER, "_ids", nulls_last=True)
        .drop("_ids")
    )


#: The order of discrepancy rows, then their event ids (:func:`discrepancies`).
_DISCREPANCY_ORDER = ["date", "category", "kind", "source", "observed", "expected", "seq"]


# --- entry point ----------------------------------------------------------------------------


def reconcile_totals(
    observations: pl.DataFrame,
    *,
    overrides: pl.DataFrame | None = None,
    policy: ReconcilePolicy | None = None,
    learned: Learned | None = None,
    learn_from: int | None = None,
) -> Reconciliation:
    """Reconcile observations from many sources into one daily series per category.

    Parameters
    ----------
    observations
        Valid observations (:data:`OBSERVATIONS_SCHEMA`); rows with a null total are ignored.
    overrides
        Active ``TotalOverridden`` decisions (:data:`OVERRIDES_SCHEMA`); the highest ``seq``
        per (date, category) replaces the chosen total.
    policy
        Source-kind priority and the stale look-back; :class:`ReconcilePolicy` by default.
    learned, learn_from
        What an earlier reconciliation learned of the years before ``learn_from``
        (:attr:`Reconciliation.learned`): the observations of those years may then be a part
        (the years from ``learn_from`` must be whole); their cells are decided as that
        reconciliation decided them (:mod:`lossledger.reconcile.window`).

    Returns
    -------
    Reconciliation
        ``daily_totals`` sorted by (date, category) and ``discrepancies`` sorted by
        (date, category, kind, source).

    Examples
    --------
    >>> from datetime import date, datetime, timezone
    >>> observations = pl.DataFrame(
    ...     {
    ...         "event_id": ["gs-30", "gs-31", "tk-31"],
    ...         "seq": [1, 2, 3],
    ...         "source": ["generalstaff.en", "generalstaff.en", "ticker.en"],
    ...         "source_kind": ["official", "official", "ticker"],
    ...         "received_at": [datetime(2024, 1, d, tzinfo=timezone.utc) for d in (30, 31, 31)],
    ...         "parser": ["generalstaff", "generalstaff", "ticker"],
    ...         "date": [date(2024, 1, 30), date(2024, 1, 31), date(2024, 1, 31)],
    ...         "category": ["special_equipment"] * 3,
    ...         "total": [1448, 1452, 1448],
    ...         "stated_delta": [5, 4, 5],
    ...         "qualifier": [None, None, None],
    ...     },
    ...     schema=OBSERVATIONS_SCHEMA,
    ... )
    >>> result = reconcile_totals(observations)
    >>> totals = result.daily_totals.select("date", "total", "delta", "status", "event_ids")
    >>> totals.rows()  # doctest: +NORMALIZE_WHITESPACE
    [(datetime.date(2024, 1, 30), 1448, None, 'single_source', ['gs-30']),
     (datetime.date(2024, 1, 31), 1452, 4, 'series', ['gs-31'])]
    >>> result.discrepancies.select("kind", "source", "observed", "expected").rows()
    [('source_conflict', 'ticker.en', 1448, 1452)]
    >>> result.discrepancies["detail"][0]
    "stale: equals 2024-01-30 total; decided by stated delta (a source's delta pins the total)"
    """
    policy = policy or ReconcilePolicy()
    parts = reconciled_parts(
        observations, overrides=overrides, policy=policy, learned=learned, learn_from=learn_from
    )
    months = vote_months(parts.activity, lag_counts(parts.lag_votes, parts.series))
    runs, sources = source_summaries(
        months, parts.series, parts.conflicts, parts.truth.source_accuracy, parts.truth.copies,
        policy,
    )
    return Reconciliation(
        daily_totals=daily_totals(parts.series),
        discrepancies=parts.discrepancies,
        disagreement_runs=runs,
        sources=sources,
        learned=parts.truth.learned,
        vote_months=months,
    )


@dataclass(frozen=True, slots=True)
class ReconciledParts:
    """What :func:`reconcile_totals` decides before the summaries over the whole history
    (lags, runs, the scorecard): a window of dates is merged with the rows before it here
    (:mod:`lossledger.reconcile.window`)."""

    series: pl.DataFrame
    """The published series with its integer ``cell`` keys (in :attr:`categories`)."""
    discrepancies: pl.DataFrame
    conflicts: pl.DataFrame
    """The ``source_conflict`` rows, with run ids."""
    activity: pl.DataFrame
    """:func:`~lossledger.reconcile.scorecard.monthly_activity` of the votes."""
    lag_votes: pl.DataFrame
    """The votes' ``src``, ``cell``, ``total`` and ``source`` (for the lags)."""
    categories: pl.Enum
    truth: Truth


def reconciled_parts(
    observations: pl.DataFrame,
    *,
    overrides: pl.DataFrame | None,
    policy: ReconcilePolicy,
    learned: Learned | None = None,
    learn_from: int | None = None,
) -> ReconciledParts:
    """The decisions of :func:`reconcile_totals` (same parameters), before its summaries."""
    overrides = active_overrides(overrides)
    categories = category_codes(observations, overrides)
    ranked = ranked_observations(observations, policy, categories)
    votes, superseded = votes_and_superseded(ranked)
    del ranked
    candidates = value_candidates(votes, superseded)
    decided, truth = decided_totals(
        candidates, votes, policy, learned=learned, learn_from=learn_from
    )
    latest = latest_overrides(overrides, categories)
    # The later steps read little of the million votes: per source and month (the
    # scorecard), three integer columns (the lags), and the votes of cells where a value
    # other than the chosen one may stand (a conflict, or an override). Taken now, the
    # votes' memory goes.
    activity = monthly_activity(votes)
    lag_votes = votes.select("src", "cell", "total", pl.col("source_code").alias("source"))
    disputed = pl.concat([
        candidates.filter(pl.len().over("cell") > 1).get_column("cell"), latest.get_column("cell")
    ]).unique()
    disputed_votes = votes.filter(pl.col("cell").is_in(disputed.implode())).select(
        "cell", *_as_text("source", "event_id"), "seq", "total"
    )
    del votes
    chosen = chosen_totals(decided, latest, candidates)
    # Their lineage is the chosen totals' now; the conflicts need only the values.
    candidates = candidates.select("cell", "total")
    series = daily_series(chosen, inferred_totals(chosen))
    conflicts = with_run_ids(
        source_conflicts(
            disputed_votes, chosen, series, policy.stale_lookback_days, candidates=candidates
        )
    )
    return ReconciledParts(
        series=series,
        discrepancies=discrepancies(
            conflicts,
            revisions(superseded),
            delta_mismatches(series),
            restatements(series),
            gaps(chosen),
        ),
        conflicts=conflicts,
        activity=activity,
        lag_votes=lag_votes,
        categories=categories,
        truth=truth,
    )


def vote_months(activity: pl.DataFrame, lags: pl.DataFrame) -> pl.DataFrame:
    """One row per source and calendar month (:data:`VOTE_MONTHS_SCHEMA`):
    :func:`~lossledger.reconcile.scorecard.monthly_activity` beside
    :func:`~lossledger.reconcile.copying.lag_counts`."""
    return (
        activity.join(lags, on=["source", "month"], how="left")
        .with_columns(cs.by_name(*_LAG_COUNTS).fill_null(0))
        .select(VOTE_MONTHS_SCHEMA.names())
        .cast(dict(VOTE_MONTHS_SCHEMA))
        .sort("source", "month")
    )


def source_summaries(
    months: pl.DataFrame,
    series: pl.DataFrame,
    conflicts: pl.DataFrame,
    source_accuracy: pl.DataFrame,
    copies: pl.DataFrame,
    policy: ReconcilePolicy,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The disagreement runs and the sources' scorecard, from the votes' months
    (:func:`vote_months`), the published series, its ``source_conflict`` rows (with their run
    ids) and the sources' learned reliability."""
    lags = lags_from_counts(
        months.select("source", "month", *_LAG_COUNTS),
        min_days=policy.lag_min_days, min_share=policy.lag_min_share,
    )
    runs = disagreement_runs(conflicts, series, lags)
    activity = source_activity(months.select(ACTIVITY_SCHEMA.names()))
    return runs, source_scorecard(activity, conflicts, runs, source_accuracy, copies, lags)
