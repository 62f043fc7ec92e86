"""Runs, not cells: consecutive days on which one source disagrees in one category.

A run is a maximal stretch of consecutive days with a ``source_conflict`` of the same source
and category. Its ``pattern`` says what the disagreement looks like:

* ``stale``: the source repeats one value, the published total of the day before the run;
* ``lag``: two or more days on each of which the source gives the published total of the
  day before (a day late) or of the day after (a day early); also a single such day of a
  source whose lag :func:`lossledger.reconcile.copying.source_lags` detected;
* ``offset``: two or more days the source differs by the same amount, or by varying amounts
  (``typical_offset`` is then the median);
* ``slip``: a single day that is none of the above (a keying slip, a wrong figure).

``run_id`` is ``<source>/<category>/<first date>``: a function of the content only.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

__all__ = ["RUNS_SCHEMA", "RUN_PATTERNS", "disagreement_runs", "with_run_ids"]

RUN_PATTERNS = ("offset", "stale", "lag", "slip")
RUNS_SCHEMA = pl.Schema(
    {
        "run_id": pl.String,
        "source": pl.String,
        "category": pl.String,
        "first_date": pl.Date,
        "last_date": pl.Date,
        "days": pl.Int64,
        "pattern": pl.String,
        "typical_offset": pl.Int64,
        "detail": pl.String,
        "event_ids": pl.List(pl.String),
        "seq": pl.Int64,
    }
)
_ONE_DAY = dt.timedelta(days=1)


def with_run_ids(conflicts: pl.DataFrame) -> pl.DataFrame:
    """Return ``source_conflict`` rows with the ``run_id`` of the run each belongs to."""
    ordered = conflicts.sort("source", "category", "date")
    key = ["source", "category"]
    starts = (pl.col("date").shift().over(key) != pl.col("date") - _ONE_DAY).fill_null(True)
    first = pl.when(starts).then(pl.col("date")).forward_fill().over(key)
    return ordered.with_columns(
        pl.format("{}/{}/{}", "source", "category", first).alias("run_id")
    )


def _every_known_day(matches: pl.Expr) -> pl.Expr:
    """True when ``matches`` holds on every day where it is known, and on at least one (the
    day before the first report, or after the last, has no published total)."""
    return matches.fill_null(True).all() & matches.fill_null(False).any()


def disagreement_runs(
    conflicts: pl.DataFrame, series: pl.DataFrame, lags: pl.DataFrame
) -> pl.DataFrame:
    """Return one row per run (:data:`RUNS_SCHEMA`), sorted by (source, category, first_date).

    Parameters
    ----------
    conflicts
        :func:`with_run_ids` output.
    series
        The published series (category, date, total).
    lags
        source, lag_days (see :func:`lossledger.reconcile.copying.source_lags`).
    """
    published = series.select("category", "date", "total")
    before = published.select(
        "category", (pl.col("date") + _ONE_DAY).alias("date"), pl.col("total").alias("before")
    )
    after = published.select(
        "category", (pl.col("date") - _ONE_DAY).alias("date"), pl.col("total").alias("after")
    )
    frame = (
        conflicts.join(before, on=["category", "date"], how="left")
        .join(after, on=["category", "date"], how="left")
        .with_columns((pl.col("observed") - pl.col("expected")).alias("offset"))
        .sort("run_id", "date")
    )
    runs = frame.group_by("run_id").agg(
        pl.col("source").first(),
        pl.col("category").first(),
        pl.col("date").min().alias("first_date"),
        pl.col("date").max().alias("last_date"),
        pl.len().cast(pl.Int64).alias("days"),
        pl.col("observed").n_unique().alias("n_observed"),
        pl.col("observed").first().alias("first_observed"),
        pl.col("before").first().alias("before_run"),
        _every_known_day(pl.col("observed") == pl.col("before")).alias("all_late"),
        _every_known_day(pl.col("observed") == pl.col("after")).alias("all_early"),
        pl.col("offset").n_unique().alias("n_offsets"),
        pl.col("offset").median().round().cast(pl.Int64).alias("typical_offset"),
        pl.col("event_ids")
        .list.explode(keep_nulls=False, empty_as_null=False)
        .unique()
        .sort()
        .alias("event_ids"),
        pl.col("seq").max(),
    ).join(lags.select("source", "lag_days"), on="source", how="left")
    stale = (pl.col("n_observed") == 1) & (pl.col("first_observed") == pl.col("before_run"))
    lag = (pl.col("days") >= 2) & (pl.col("all_late") | pl.col("all_early"))
    lag = lag | (pl.col("lag_days").is_not_null() & (pl.col("all_late") | pl.col("all_early")))
    pattern = (
        pl.when(stale).then(pl.lit("stale"))
        .when(lag).then(pl.lit("lag"))
        .when(pl.col("days") >= 2).then(pl.lit("offset"))
        .otherwise(pl.lit("slip"))
    )
    runs = runs.with_columns(pattern.alias("pattern"))
    signed_offset = (
        pl.when(pl.col("typical_offset") >= 0)
        .then(pl.format("+{}", "typical_offset"))
        .otherwise(pl.col("typical_offset").cast(pl.String))
    )
    detail = (
        pl.when(pl.col("pattern") == "stale")
        .then(pl.format("{} repeats {} for {} day(s)", "source", "first_observed", "days"))
        .when(pl.col("pattern") == "lag")
        .then(
            pl.format(
                "{} gives the {} day's total for {} day(s)",
                "source",
                pl.when(pl.col("all_late")).then(pl.lit("previous")).otherwise(pl.lit("next")),
                "days",
            )
        )
        .when((pl.col("pattern") == "offset") & (pl.col("n_offsets") == 1))
        .then(pl.format("{} {} on {} for {} days", "source", signed_offset, "category", "days"))
        .when(pl.col("pattern") == "offset")
        .then(
            pl.format(
                "{} off by {} (median, varying) on {} for {} days",
                "source", signed_offset, "category", "days",
            )
        )
        .otherwise(pl.format("{} {} on {} for one day", "source", signed_offset, "category"))
    )
    return (
        runs.with_columns(detail.alias("detail"))
        .select(RUNS_SCHEMA.names())
        .cast(dict(RUNS_SCHEMA))
        .sort("source", "category", "first_date")
    )
