"""Evidence from the cumulative series itself: which candidates of a disagreeing cell fit.

A cell (date, category) whose sources give more than one value is *conflicting*; its values
are *candidates*. A cell with one value is *settled*. Three pieces of series evidence are
weighed here, in this order (each only removes candidates when at least one other candidate
survives it):

1. ``series_fit``: a cumulative total never falls and never overtakes a later one. A candidate
   below the nearest settled total before it, or above the nearest settled total after it
   (each looked for at most ``window_days`` away), loses to one that fits.
2. ``stated_delta``: a stated delta pins a total. ``total(d) = total(d+1) - stated(d+1)`` for
   every observation of day d+1 that states a delta (whatever its source), and
   ``total(d) = total(d-1) + stated(d)`` for every observation of day d that states one, when
   day d-1 is settled. A candidate some delta pins beats one none pins.
3. ``stale``: a candidate equal to the settled total of the day before, in a category that
   (in the same calendar month) almost never stays unchanged from one day to the next, is a
   stale copy and loses.

All of this depends only on the cell's candidates, on the days at most ``window_days``
before and after it, and on how often its category stood still in its calendar month. So a
new observation on day d can change these verdicts on days d - window_days .. d + window_days
and, through the month's zero-change rate, on the other days of d's month (and of the months
that window touches).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

__all__ = [
    "EVIDENCE_KINDS",
    "delta_pins",
    "evidence_verdicts",
    "series_bounds",
    "settled_totals",
    "zero_change_rates",
]

EVIDENCE_KINDS = ("series_fit", "stated_delta", "stale")
_ONE_DAY = dt.timedelta(days=1)
_DAY = 2**32  # one day in the integer cell key (see consensus._cell)


def settled_totals(candidates: pl.DataFrame) -> pl.DataFrame:
    """Return (category, date, cell, total) of every cell whose sources all agree."""
    return (
        candidates.lazy()
        .select("category", "date", "cell", "total")
        .filter(pl.len().over("cell") == 1)
        .sort("date")
        .collect()
    )


def series_bounds(
    conflicting: pl.DataFrame, settled: pl.DataFrame, *, window_days: int
) -> pl.DataFrame:
    """Return ``conflicting`` with the nearest settled total before (``lower``,
    ``lower_date``) and after (``upper``, ``upper_date``) each cell, within ``window_days``."""
    tolerance = dt.timedelta(days=window_days)
    reference = settled.select(
        "category", "date", pl.col("total").alias("ref_total"), pl.col("date").alias("ref_date")
    )
    cells = conflicting.select("cell", "category", "date").unique("cell").sort("date")
    before = cells.join_asof(
        reference, on="date", by="category", strategy="backward", tolerance=tolerance,
        check_sortedness=False,
    ).select(
        "cell", pl.col("ref_total").alias("lower"), pl.col("ref_date").alias("lower_date")
    )
    after = cells.join_asof(
        reference, on="date", by="category", strategy="forward", tolerance=tolerance,
        check_sortedness=False,
    ).select(
        "cell", pl.col("ref_total").alias("upper"), pl.col("ref_date").alias("upper_date")
    )
    return conflicting.join(before, on="cell", how="left").join(after, on="cell", how="left")


def delta_pins(
    votes: pl.DataFrame, settled: pl.DataFrame, conflict_cells: pl.Series
) -> pl.DataFrame:
    """Return distinct (cell, total) pairs some stated delta pins (see the module docstring),
    for the ``conflict_cells`` only (the only cells a pin can decide)."""
    cells = conflict_cells.implode()
    # A vote pins a conflicting cell of its own day or of the day before.
    reach = pl.concat([conflict_cells, conflict_cells + _DAY]).unique().implode()
    stating = votes.select("cell", "total", "stated_delta").filter(
        pl.col("stated_delta").is_not_null() & pl.col("cell").is_in(reach)
    )
    from_next_day = stating.select(
        (pl.col("cell") - _DAY).alias("cell"),
        (pl.col("total") - pl.col("stated_delta")).alias("total"),
    )
    day_before = settled.select(
        (pl.col("cell") + _DAY).alias("cell"), pl.col("total").alias("prev")
    )
    from_same_day = stating.join(day_before, on="cell").select(
        "cell", (pl.col("prev") + pl.col("stated_delta")).alias("total")
    )
    return (
        pl.concat([from_next_day, from_same_day])
        .filter(pl.col("cell").is_in(cells))
        .unique()
        .with_columns(pl.lit(True).alias("pinned"))
    )


def zero_change_rates(settled: pl.DataFrame) -> pl.DataFrame:
    """Return, per (category, month), the share of settled consecutive-day pairs whose total
    did not change (``zero_rate``) and how many pairs were seen (``pairs``)."""
    series = settled.sort("category", "date").with_columns(
        pl.col("date").shift().over("category").alias("prev_date"),
        pl.col("total").shift().over("category").alias("prev_total"),
    )
    return (
        series.filter(pl.col("prev_date") == pl.col("date") - _ONE_DAY)
        .group_by("category", pl.col("date").dt.truncate("1mo").alias("month"))
        .agg(
            (pl.col("total") == pl.col("prev_total")).mean().alias("zero_rate"),
            pl.len().alias("pairs"),
        )
    )


def evidence_verdicts(
    conflicting: pl.DataFrame,
    settled: pl.DataFrame,
    pins: pl.DataFrame,
    *,
    window_days: int,
    stale_max_zero_rate: float,
    stale_min_pairs: int = 5,
) -> pl.DataFrame:
    """Return the conflicting candidates with their series verdicts.

    Added columns: ``lower``/``lower_date``/``upper``/``upper_date`` (see
    :func:`series_bounds`), ``fits``, ``pinned``, ``stale`` (bool), ``survives`` (bool: not
    eliminated by any series evidence), ``eliminated_by`` (the evidence that removed it, or
    null) and, per cell, ``series_decided`` (the evidence that left one candidate, or null).
    """
    rates = zero_change_rates(settled)
    day_before = settled.select(
        (pl.col("cell") + _DAY).alias("cell"), pl.col("total").alias("prev_settled")
    )
    frame = (
        series_bounds(conflicting, settled, window_days=window_days)
        .join(pins, on=["cell", "total"], how="left")
        .join(day_before, on="cell", how="left")
        .with_columns(pl.col("date").dt.truncate("1mo").alias("month"))
        .join(rates, on=["category", "month"], how="left")
    )
    fits = (pl.col("lower").is_null() | (pl.col("total") >= pl.col("lower"))) & (
        pl.col("upper").is_null() | (pl.col("total") <= pl.col("upper"))
    )
    stale = (
        (pl.col("total") == pl.col("prev_settled"))
        & (pl.col("pairs") >= stale_min_pairs)
        & (pl.col("zero_rate") <= stale_max_zero_rate)
    ).fill_null(False)
    frame = frame.with_columns(
        fits.alias("fits"), pl.col("pinned").fill_null(False), stale.alias("stale")
    )
    s1 = pl.col("fits") | ~pl.col("fits").any().over("cell")
    frame = frame.with_columns(s1.alias("_s1"))
    s2 = pl.col("_s1") & (pl.col("pinned") | ~(pl.col("pinned") & pl.col("_s1")).any().over("cell"))
    frame = frame.with_columns(s2.alias("_s2"))
    s3 = pl.col("_s2") & (~pl.col("stale") | ~(~pl.col("stale") & pl.col("_s2")).any().over("cell"))
    frame = frame.with_columns(s3.alias("survives"))
    n1, n2, n3 = (pl.col(c).sum().over("cell") for c in ("_s1", "_s2", "survives"))
    return frame.with_columns(
        pl.when(~pl.col("_s1"))
        .then(pl.lit("series_fit"))
        .when(~pl.col("_s2"))
        .then(pl.lit("stated_delta"))
        .when(~pl.col("survives"))
        .then(pl.lit("stale"))
        .alias("eliminated_by"),
        pl.when(n1 == 1)
        .then(pl.lit("series_fit"))
        .when(n2 == 1)
        .then(pl.lit("stated_delta"))
        .when(n3 == 1)
        .then(pl.lit("stale"))
        .alias("series_decided"),
    ).drop("_s1", "_s2", "month", "zero_rate", "pairs")
