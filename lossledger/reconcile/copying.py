"""Copy and lag detection: agreement that is not independent evidence.

* Two sources that share *false* values (values the consensus does not hold) far more than
  independent sources would are dependent (Dong, Berti-Equille and Srivastava, VLDB 2009:
  sharing a true value is expected, sharing the same wrong value is not). The copier is the one
  with the lower configured priority, then the later source name: a property of the content,
  never of the order events arrived in. A copier's vote for a value its original also gives
  does not count again.
* A source whose value equals the published total of the day before (after the total changed)
  on most days it could is a day late; one equal to the next day's total, a day early. Its lag
  is named in the ``sources`` table and its runs get the ``lag`` pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = [
    "LAG_COUNTS_SCHEMA",
    "CopyPairs",
    "PairCounts",
    "copy_pairs",
    "lag_counts",
    "lags_from_counts",
    "source_lags",
    "value_ids",
]

_DAY = 2**32
#: The rank of a source not seen yet (any real rank is lower).
_NO_RANK = 2**62


def copy_pairs(
    conflict_votes: pl.DataFrame, *, min_shared: float, min_share: float
) -> pl.DataFrame:
    """Return (``source``, ``original``) for every source found to copy another.

    Parameters
    ----------
    conflict_votes
        One row per (cell, source) of conflicting cells: ``cell``, ``source``, ``rank``,
        ``total`` and ``p_true`` (the current probability that this value is the truth).
    min_shared
        Expected number of shared false values from which a pair can be dependent.
    min_share
        Share of the pair's disagreements-or-shared-false cells that must be shared false.
    """
    votes = conflict_votes.with_columns(value_ids())
    return CopyPairs(votes).find(
        votes.get_column("value_id"), votes.get_column("p_true"),
        min_shared=min_shared, min_share=min_share,
    )


def value_ids() -> pl.Expr:
    """An expression numbering the distinct (``cell``, ``total``) of a frame from 0."""
    return (pl.struct("cell", "total").rank("dense") - 1).cast(pl.Int64).alias("value_id")


@dataclass(frozen=True, slots=True)
class PairCounts:
    """What pairs of sources had in common over some cells, as sums that carry from one
    period to the next (arrays over the source codes of one :class:`pl.Enum` of names)."""

    names: pl.Enum
    both: np.ndarray
    """Per pair, the cells both report."""
    differ: np.ndarray
    """Per pair, the cells on which their values differ."""
    shared_false: np.ndarray
    """Per pair, the expected number of false values both give."""
    rank: np.ndarray
    """Per source, its best rank (its kind's priority) so far; ``_NO_RANK`` when unseen."""

    @classmethod
    def empty(cls, names: pl.Enum) -> PairCounts:
        n = len(names.categories)
        return cls(names, np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n)),
                   np.full(n, _NO_RANK, dtype=np.int64))

    def copies(self, *, min_shared: float, min_share: float) -> pl.DataFrame:
        """Return (``source``, ``original``) for every pair these counts show dependent."""
        n = self.rank.size
        a, b = np.triu_indices(n, k=1)
        shared = self.shared_false[a, b]
        dependent = (
            (self.both[a, b] > 0)
            & (shared >= min_shared)
            & (shared >= min_share * (shared + self.differ[a, b]))
        )
        a, b = a[dependent], b[dependent]
        # The copier: the lower priority (higher rank), then the later name.
        a_copies = (self.rank[a] > self.rank[b]) | (
            (self.rank[a] == self.rank[b]) & (a > b)
        )
        names = self.names.categories
        copier = np.where(a_copies, a, b)
        original = np.where(a_copies, b, a)
        return pl.DataFrame(
            {
                "source": names.gather(pl.Series(copier, dtype=pl.Int64)),
                "original": names.gather(pl.Series(original, dtype=pl.Int64)),
            },
            schema={"source": pl.String, "original": pl.String},
        ).sort("source", "original")


class CopyPairs:
    """Which source pairs share false values, prepared once for a truth-discovery run.

    Only the probabilities of the values change from one iteration to the next, so what the
    pairs of sources have in common is counted once, as matrix products over a source x cell
    and a source x value incidence matrix: per pair, on how many cells both report and how
    often their values differ. Per iteration the expected number of false values a pair
    shares is one more product, weighted by each value's current probability of being false.
    Counts of earlier periods (``before``) are added to this period's.

    The work grows with the votes times the number of sources, never with the pairs of votes
    meeting on a cell (a self-join of the votes on the cell grows with the square of the
    sources reporting each cell: 2.3M rows at x10, half a billion at x30).
    """

    __slots__ = ("before", "both", "differ", "names", "rank", "voted")

    def __init__(
        self, votes: pl.DataFrame, *, names: pl.Enum | None = None,
        before: PairCounts | None = None,
    ) -> None:
        """``votes``: one row per (``cell``, ``source``) with ``rank``, ``total`` and
        ``value_id`` (see :func:`value_ids`); ``names``: every source name (by default the
        votes'), which ``before`` (counts of earlier periods) must share."""
        # Integer source codes in the order of the names, so ``a < b`` is the names' order.
        names = names or pl.Enum(votes.get_column("source").unique().sort())
        self.names = names
        self.before = before or PairCounts.empty(names)
        keys = votes.select(
            pl.col("source").cast(names).to_physical().cast(pl.Int64).alias("src"),
            (pl.col("cell").rank("dense") - 1).cast(pl.Int64).alias("cell"),
            pl.col("value_id").cast(pl.Int64).alias("value"),
            pl.col("rank").cast(pl.Int64),
        )
        n = len(names.categories)
        src = keys.get_column("src").to_numpy()
        cell = keys.get_column("cell").to_numpy()
        value = keys.get_column("value").to_numpy()
        cells = np.zeros((n, int(cell.max()) + 1 if cell.size else 0))
        cells[src, cell] = 1.0
        voted = np.zeros((n, int(value.max()) + 1 if value.size else 0))
        voted[src, value] = 1.0
        # Counts below 2**53 are exact in float64 products.
        both = cells @ cells.T
        self.both = self.before.both + both
        self.differ = self.before.differ + both - voted @ voted.T
        self.voted = voted
        # A source's rank is its kind's: the best one it reports under, should it have two.
        rank = self.before.rank.copy()
        ranks = keys.group_by("src").agg(pl.col("rank").min())
        at = ranks.get_column("src").to_numpy()
        rank[at] = np.minimum(rank[at], ranks.get_column("rank").to_numpy())
        self.rank = rank

    def counts(self, value_id: pl.Series, p_true: pl.Series) -> PairCounts:
        """The pair counts up to and including this period, given each vote's value number
        and that value's probability ``p_true``."""
        false = np.zeros(self.voted.shape[1])
        false[value_id.cast(pl.Int64).to_numpy()] = 1.0 - p_true.cast(pl.Float64).to_numpy()
        shared_false = self.before.shared_false + (self.voted * false) @ self.voted.T
        return PairCounts(self.names, self.both, self.differ, shared_false, self.rank)

    def find(
        self, value_id: pl.Series, p_true: pl.Series, *, min_shared: float, min_share: float
    ) -> pl.DataFrame:
        """Return (``source``, ``original``) for every source found to copy another, given
        each vote's value number and that value's current probability ``p_true``."""
        return self.counts(value_id, p_true).copies(min_shared=min_shared, min_share=min_share)


def _look_up_cells(frame: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """``frame.join(table, on="cell")`` for a small ``table`` with one row per cell.

    Cells span a dense grid of (day, category code): when the grid is not much larger than
    the frames, the table's columns are laid out on it and gathered by grid position, which
    is several times cheaper than hashing a million keys. Rows whose cell the table lacks
    are dropped, as by the join.
    """
    cells = pl.concat([frame.get_column("cell"), table.get_column("cell")])
    if cells.is_empty():
        return frame.join(table, on="cell")
    day = cells // _DAY
    lo, hi = day.min(), day.max()
    n_codes = int((cells - day * _DAY).max()) + 1  # type: ignore[operator]
    size = (int(hi) - int(lo) + 1) * n_codes  # type: ignore[arg-type]
    if size > 4 * cells.len() + 1_000_000:
        return frame.join(table, on="cell")

    def position(name: str = "cell") -> pl.Expr:
        days = pl.col(name) // _DAY
        return ((days - lo) * n_codes + (pl.col(name) - days * _DAY)).cast(pl.UInt32)

    at = table.select(position()).to_series()
    grid = pl.DataFrame([
        pl.repeat(None, size, dtype=dtype, eager=True).alias(name).scatter(at, table[name])
        for name, dtype in table.schema.items() if name != "cell"
    ])
    present = pl.repeat(False, size, eager=True).scatter(at, True)
    here = frame.select(position()).to_series()
    return pl.concat([frame, grid[here]], how="horizontal").filter(present.gather(here))


#: :func:`lag_counts`: one row per source and calendar month.
LAG_COUNTS_SCHEMA = pl.Schema(
    {
        "source": pl.String,
        "month": pl.Date,
        "late": pl.Int64,
        "late_possible": pl.Int64,
        "early": pl.Int64,
        "early_possible": pl.Int64,
    }
)


def lag_counts(votes: pl.DataFrame, published: pl.DataFrame) -> pl.DataFrame:
    """Count per source and calendar month (of the vote's day) the days the published total
    changed from the day before (``late_possible``) and to the day after (``early_possible``),
    and of them the days the source gave the day before's total (``late``) or the day
    after's (``early``). Summed over the months by :func:`lags_from_counts`.

    ``votes`` and ``published`` have integer ``cell`` keys (date * 2**32 + category code, see
    consensus._cell); rows whose cell is null or not published are not counted.
    """
    # One day is 2**32. The neighbours are looked up on the small published series, then
    # joined to the votes once.
    # The two columns first: a filter of the whole series would copy every row's lineage.
    totals = published.select("cell", pl.col("total").alias("pub")).filter(
        pl.col("cell").is_not_null()
    )
    before = (pl.col("cell") + _DAY).alias("cell")
    after = (pl.col("cell") - _DAY).alias("cell")
    neighbours = (
        totals.join(
            totals.select(before, pl.col("pub").alias("pub_before")), on="cell", how="left"
        ).join(totals.select(after, pl.col("pub").alias("pub_after")), on="cell", how="left")
    )
    # Grouped on the integer source code when there is one (``src``, see
    # consensus.ranked_observations), the names gathered from one row of each group.
    key = "src" if "src" in votes.columns else "source"
    frame = votes.select(
        key, "cell", "total", pl.int_range(pl.len(), dtype=pl.UInt32).alias("_at")
    )
    frame = _look_up_cells(frame, neighbours)
    changed_before = pl.col("pub") != pl.col("pub_before")
    changed_after = pl.col("pub") != pl.col("pub_after")
    month = (pl.col("cell") // _DAY).cast(pl.Int32).cast(pl.Date).dt.month_start()
    counts = frame.group_by(key, month.alias("month")).agg(
        pl.col("_at").first(),
        (changed_before & (pl.col("total") == pl.col("pub_before"))).sum().alias("late"),
        changed_before.sum().alias("late_possible"),
        (changed_after & (pl.col("total") == pl.col("pub_after"))).sum().alias("early"),
        changed_after.sum().alias("early_possible"),
    )
    if key != "source":
        counts = pl.concat(
            [counts, votes.select(pl.col("source"))[counts.get_column("_at")]],
            how="horizontal",
        )
    return (
        counts.with_columns(pl.col("source").cast(pl.String))
        .select(LAG_COUNTS_SCHEMA.names())
        .cast(dict(LAG_COUNTS_SCHEMA))
        .sort("source", "month")
    )


def lags_from_counts(
    counts: pl.DataFrame, *, min_days: int, min_share: float
) -> pl.DataFrame:
    """Return (``source``, ``lag_days``, ``lag_share``) for every source a day late (1) or
    early (-1) on at least ``min_days`` days and ``min_share`` of the days the total changed,
    from :func:`lag_counts` rows (of any months)."""
    summed = counts.group_by("source").agg(
        pl.col("late", "late_possible", "early", "early_possible").sum()
    )
    late_share = pl.col("late") / pl.col("late_possible")
    early_share = pl.col("early") / pl.col("early_possible")
    late = (pl.col("late") >= min_days) & (late_share >= min_share)
    early = (pl.col("early") >= min_days) & (early_share >= min_share)
    return (
        summed.filter(late | early)
        .select(
            "source",
            pl.when(late).then(1).otherwise(-1).cast(pl.Int64).alias("lag_days"),
            pl.when(late).then(late_share).otherwise(early_share).alias("lag_share"),
        )
        .sort("source")
    )


def source_lags(
    votes: pl.DataFrame, published: pl.DataFrame, *, min_days: int, min_share: float
) -> pl.DataFrame:
    """Return (``source``, ``lag_days``, ``lag_share``) for every source a day late (1) or
    early (-1) on at least ``min_days`` days and ``min_share`` of the days the total changed
    (:func:`lags_from_counts` of :func:`lag_counts`).
    """
    return lags_from_counts(
        lag_counts(votes, published), min_days=min_days, min_share=min_share
    )
