"""A scorecard of the sources: how each one fared against the published series."""

from __future__ import annotations

import polars as pl

from lossledger.reconcile.reliability import Truth

__all__ = ["SOURCES_SCHEMA", "source_activity", "source_scorecard"]

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


def source_activity(votes: pl.DataFrame) -> pl.DataFrame:
    """Return what the scorecard needs of the votes, one row per source: ``source``, ``kind``
    (the first of its kinds by name), ``cells`` (votes), ``first_date`` and ``last_date``.

    Taken apart from :func:`source_scorecard` so that the million votes need not be kept
    until the scorecard is made.
    """
    # Grouped on the integer source code when there is one (``src``), each group's name
    # gathered from one of its rows.
    key = "src" if "src" in votes.columns else "source"
    per_source = (
        votes.select(
            key, "source_kind", "date", pl.int_range(pl.len(), dtype=pl.UInt32).alias("_at")
        )
        .group_by(key)
        .agg(
            pl.col("source_kind").min().alias("kind"),
            pl.len().cast(pl.Int64).alias("cells"),
            pl.col("date").min().alias("first_date"),
            pl.col("date").max().alias("last_date"),
            pl.col("_at").first(),
        )
    )
    if key != "source":
        per_source = pl.concat(
            [per_source, votes.select("source")[per_source.get_column("_at")]],
            how="horizontal",
        )
    # Names may come as enums of the sorted names (their minimum is the names'): text now.
    return per_source.select(
        pl.col("source").cast(pl.String), pl.col("kind").cast(pl.String), "cells",
        "first_date", "last_date",
    )


def source_scorecard(
    activity: pl.DataFrame,
    conflicts: pl.DataFrame,
    runs: pl.DataFrame,
    truth: Truth,
    lags: pl.DataFrame,
) -> pl.DataFrame:
    """Return one row per source (:data:`SOURCES_SCHEMA`), sorted by source.

    ``activity``: :func:`source_activity` of the votes. ``cells``: (date, category) cells it
    currently states; ``agreement``: the share of them equal to the published total
    (``conflicts``: its ``source_conflict`` rows); ``slips``: its one-day ``slip`` runs;
    ``stale_days``: days in its ``stale`` runs; ``lag_days``: 1 a day late, -1 a day early,
    null when on time; ``runs``: its disagreement runs; ``reliability``: its learned accuracy;
    ``copies_of``: the sources it was found to copy.
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
    copies = truth.copies.group_by("source").agg(
        pl.col("original").sort().str.join(", ").alias("copies_of")
    )
    return (
        per_source.join(by_runs, on="source", how="left")
        .join(lags.select("source", "lag_days"), on="source", how="left")
        .join(truth.source_accuracy.rename({"accuracy": "reliability"}), on="source", how="left")
        .join(copies, on="source", how="left")
        .with_columns(pl.col("slips", "stale_days", "runs").fill_null(0))
        .select(SOURCES_SCHEMA.names())
        .cast(dict(SOURCES_SCHEMA))
        .sort("source")
    )
