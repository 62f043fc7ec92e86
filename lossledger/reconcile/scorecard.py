"""A scorecard of the sources: how each one fared against the published series."""

from __future__ import annotations

import polars as pl

__all__ = [
    "ACTIVITY_SCHEMA", "SOURCES_SCHEMA", "monthly_activity", "source_activity", "source_scorecard",
]

#: :func:`monthly_activity`: one row per source and calendar month.
ACTIVITY_SCHEMA = pl.Schema(
    {
        "source": pl.String,
        "month": pl.Date,
        "kind": pl.String,
        "cells": pl.Int64,
        "first_date": pl.Date,
        "last_date": pl.Date,
    }
)

SOURCES_SCHEMA = pl.Schema(
    {
        "source": pl.String,
        "kind": pl.String,
        "cells": pl.Int64,
        "agreement": pl.Float64,
        "slips": pl.Int64,
        "stale_days": pl.Int64,
        "lag_days": pl.Int64,
        "runs": pl.Int64,
        "reliability": pl.Float64,
        "copies_of": pl.String,
        "first_date": pl.Date,
        "last_date": pl.Date,
    }
)


def monthly_activity(votes: pl.DataFrame) -> pl.DataFrame:
    """Return what the scorecard needs of the votes, one row per source and calendar month
    (:data:`ACTIVITY_SCHEMA`): ``kind`` (the first of its kinds by name), ``cells`` (votes),
    ``first_date`` and ``last_date``. Summed by :func:`source_activity`.

    By month, so that a reconciliation of the months from some date on can be joined to the
    activity of the months before it (:mod:`lossledger.reconcile.window`); and taken apart
    from :func:`source_scorecard` so that the million votes need not be kept until the
    scorecard is made.

    >>> import datetime as dt
    >>> votes = pl.DataFrame({
    ...     "source": ["a", "a", "b"], "source_kind": ["ticker", "news", "news"],
    ...     "date": [dt.date(2024, 1, 30), dt.date(2024, 2, 1), dt.date(2024, 2, 1)]})
    >>> monthly_activity(votes).select("source", "month", "kind", "cells").rows()
    [('a', datetime.date(2024, 1, 1), 'ticker', 1), ('a', datetime.date(2024, 2, 1), 'news', 1), \
('b', datetime.date(2024, 2, 1), 'news', 1)]
    """
    # Grouped on the integer source code when there is one (``src``), each group's name
    # gathered from one of its rows.
    key = "src" if "src" in votes.columns else "source"
    per_month = (
        votes.select(
            key, "source_kind", "date", pl.col("date").dt.month_start().alias("month"),
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("_at"),
        )
        .group_by(key, "month")
        .agg(
            pl.col("source_kind").min().alias("kind"),
            pl.len().cast(pl.Int64).alias("cells"),
            pl.col("date").min().alias("first_date"),
            pl.col("date").max().alias("last_date"),
            pl.col("_at").first(),
        )
    )
    if key != "source":
        per_month = pl.concat(
            [per_month, votes.select("source")[per_month.get_column("_at")]],
            how="horizontal",
        )
    # Names may come as enums of the sorted names (their minimum is the names'): text now.
    return per_month.select(
        pl.col("source").cast(pl.String), "month", pl.col("kind").cast(pl.String), "cells",
        "first_date", "last_date",
    ).sort("source", "month")


def source_activity(months: pl.DataFrame) -> pl.DataFrame:
    """One row per source of :func:`monthly_activity` rows: ``source``, ``kind``, ``cells``,
    ``first_date`` and ``last_date`` over all its months."""
    return months.group_by("source").agg(
        pl.col("kind").min(),
        pl.col("cells").sum(),
        pl.col("first_date").min(),
        pl.col("last_date").max(),
    )


def source_scorecard(
    activity: pl.DataFrame,
    conflicts: pl.DataFrame,
    runs: pl.DataFrame,
    source_accuracy: pl.DataFrame,
    copies: pl.DataFrame,
    lags: pl.DataFrame,
) -> pl.DataFrame:
    """Return one row per source (:data:`SOURCES_SCHEMA`), sorted by source.

    ``activity``: :func:`source_activity` of the votes' months. ``cells``: (date, category) cells it
    currently states; ``agreement``: the share of them equal to the published total
    (``conflicts``: its ``source_conflict`` rows); ``slips``: its one-day ``slip`` runs;
    ``stale_days``: days in its ``stale`` runs; ``lag_days``: 1 a day late, -1 a day early,
    null when on time; ``runs``: its disagreement runs; ``reliability``: its learned accuracy
    (``source_accuracy``: source, accuracy); ``copies_of``: the sources it was found to copy
    (``copies``: source, original).
    """
    # One ``source_conflict`` per vote that differs from the published total: counting them
    # spares joining every vote to the series.
    lost = conflicts.group_by("source").agg(pl.len().alias("lost"))
    per_source = (
        activity.join(lost, on="source", how="left")
        .with_columns(
            (1 - pl.col("lost").fill_null(0) / pl.col("cells")).alias("agreement")
        )
    )
    by_runs = runs.group_by("source").agg(
        (pl.col("pattern") == "slip").sum().cast(pl.Int64).alias("slips"),
        pl.col("days").filter(pl.col("pattern") == "stale").sum().cast(pl.Int64).alias(
            "stale_days"
        ),
        pl.len().cast(pl.Int64).alias("runs"),
    )
    copied = copies.group_by("source").agg(
        pl.col("original").sort().str.join(", ").alias("copies_of")
    )
    return (
        per_source.join(by_runs, on="source", how="left")
        .join(lags.select("source", "lag_days"), on="source", how="left")
        .join(source_accuracy.rename({"accuracy": "reliability"}), on="source", how="left")
        .join(copied, on="source", how="left")
        .with_columns(pl.col("slips", "stale_days", "runs").fill_null(0))
        .select(SOURCES_SCHEMA.names())
        .cast(dict(SOURCES_SCHEMA))
        .sort("source")
    )
