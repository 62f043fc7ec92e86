"""The likely cause of a source's disagreement with the chosen total: stale, typo or other."""

from __future__ import annotations

import polars as pl

from lossledger.reconcile._utils import signed

__all__ = ["likely_cause", "stale_matches"]


def stale_matches(
    conflicts: pl.DataFrame, series: pl.DataFrame, lookback_days: int
) -> pl.DataFrame:
    """Return, per conflict, the latest of the previous ``lookback_days`` days whose chosen
    total equals the conflicting value (conflicts with no such day are absent)."""
    earlier_totals = series.select(
        "category", pl.col("date").alias("earlier"), pl.col("total")
    )
    return (
        conflicts.select("conflict", "category", "date", "total")
        .with_columns(pl.int_ranges(1, lookback_days + 1).alias("back"))
        .explode("back")
        .with_columns((pl.col("date") - pl.duration(days=pl.col("back"))).alias("earlier"))
        .join(earlier_totals, on=["category", "earlier", "total"])
        .group_by("conflict")
        .agg(pl.col("earlier").max().alias("stale_date"))
    )


def likely_cause() -> pl.Expr:
    """Return the cause a ``source_conflict`` detail starts with: ``stale`` (needs a
    ``stale_date`` column), ``typo`` (a ``slip`` column) or ``other``."""
    return (
        pl.when(pl.col("stale_date").is_not_null())
        .then(pl.format("stale: equals {} total", "stale_date"))
        .when(pl.col("slip").is_not_null())
        .then(pl.format("typo: {} ({} vs {})", "slip", "total", "chosen_total"))
        .otherwise(
            pl.format("other: differs by {}", signed(pl.col("total") - pl.col("chosen_total")))
        )
    )
