"""Doubt against the series: dates inferred from figures, figures implausible for their date.

Both are pure functions on the observation candidates of the projection (one row per figure,
with ``event_id``, ``parser``, ``date``, ``category``, ``total``). Each returns the rows it
keeps and the rows it quarantines, with a reason.
"""

from __future__ import annotations

import polars as pl

from lossledger.parse.extract.report import MERGED_INTO
from lossledger.parse.ontology import CATEGORIES

__all__ = ["PLAUSIBLE_RATIO", "implausible_figures", "infer_dates", "undate_contradicted"]

#: A figure further than this factor (and 20 units) from every other source's total of the
#: category on the nearest day (within a week) that other sources report is implausible.
PLAUSIBLE_RATIO = 1.5
_WINDOW_DAYS = 7
#: Parsers whose figures are checked against the series (the general reader of real pages).
CHECKED_PARSERS = ("text",)


def infer_dates(candidates: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Give undated figures the day their report's totals pin in the other reports' series.

    The day chosen is the one on which the most of the report's figures equal a total another
    report states for that category; it must be unique and match at least two figures (or the
    only one). Otherwise the figures are quarantined: "no date and figures do not pin a day".

    >>> import datetime as dt
    >>> rows = {"event_id": ["a", "a", "b", "b"], "parser": ["gs_en", "gs_en", "text", "text"],
    ...         "date": [dt.date(2024, 1, 31), dt.date(2024, 1, 31), None, None],
    ...         "category": ["tanks", "uav", "tanks", "uav"], "total": [6310, 7100, 6310, 7100],
    ...         "date_source": ["stated", "stated", "inferred", "inferred"]}
    >>> kept, dropped = infer_dates(pl.DataFrame(rows))
    >>> kept.filter(pl.col("event_id") == "b")["date"].to_list(), dropped.height
    ([datetime.date(2024, 1, 31), datetime.date(2024, 1, 31)], 0)
    """
    undated_mask = pl.col("date").is_null()
    undated = candidates.filter(undated_mask)
    if undated.is_empty():
        return candidates, candidates.head(0).with_columns(reason=pl.lit(None, pl.String))
    series = candidates.filter(~undated_mask).select("category", "total", "date").unique()
    sizes = undated.group_by("event_id").agg(n=pl.len())
    votes = (
        undated.select("event_id", "category", "total")
        .join(series, on=["category", "total"], how="inner")
        .group_by("event_id", "date")
        .agg(matches=pl.col("category").n_unique())
        .join(sizes, on="event_id")
        .filter((pl.col("matches") >= 2) | (pl.col("n") == 1))
    )
    best = votes.filter(pl.col("matches") == pl.col("matches").max().over("event_id"))
    pinned = (
        best.group_by("event_id")
        .agg(pl.col("date").first().alias("_pinned"), pl.len().alias("_ties"))
        .filter(pl.col("_ties") == 1)
        .select("event_id", "_pinned")
    )
    filled = (
        undated.drop("date").join(pinned, on="event_id", how="left").rename({"_pinned": "date"})
        .with_columns(category=_merged_category())
        .select(candidates.columns)
    )
    unpinned = filled.filter(pl.col("date").is_null()).with_columns(
        reason=pl.lit("no date and figures do not pin a day")
    )
    kept = pl.concat(
        [candidates.filter(~undated_mask), filled.filter(pl.col("date").is_not_null())]
    )
    return kept, unpinned


def undate_contradicted(candidates: pl.DataFrame) -> pl.DataFrame:
    """Forget a completed year the series contradicts: those figures get their date inferred.

    A date written without a year ("від 24.02 до 07.12") takes the received time's year when
    the day falls in the week before it. A copy of an older year fetched in the same week of
    the calendar gets a year its figures cannot belong to: totals only grow, so a figure far
    below (by :data:`PLAUSIBLE_RATIO` and 20 units) a total the series reached on or before
    that date, or far above one it reached on or after it, contradicts the year. When most
    of a report's completed figures that the series can judge contradict it, all of them
    lose the date (``date_source`` becomes ``inferred``), and :func:`infer_dates` pins the day
    their totals match, or quarantines them.

    >>> import datetime as dt
    >>> rows = {"event_id": ["h", "h", "p", "p"], "parser": ["gs_en", "gs_en", "text", "text"],
    ...         "date": [dt.date(2026, 8, 1), dt.date(2026, 8, 1), dt.date(2026, 12, 7),
    ...                  dt.date(2026, 12, 7)],
    ...         "category": ["tanks", "uav", "tanks", "uav"], "total": [11900, 90000, 2935, 540],
    ...         "date_source": ["stated", "stated", "completed", "completed"]}
    >>> undate_contradicted(pl.DataFrame(rows)).filter(pl.col("event_id") == "p").select(
    ...     "date", "date_source").rows()
    [(None, 'inferred'), (None, 'inferred')]
    """
    if "date_source" not in candidates.columns:
        return candidates
    completed_mask = (pl.col("date_source") == "completed") & pl.col("date").is_not_null() \
        & pl.col("parser").is_in(CHECKED_PARSERS)
    completed = candidates.filter(completed_mask)
    if completed.is_empty():
        return candidates
    series = (
        candidates.filter(~completed_mask & pl.col("date").is_not_null())
        .group_by("category", "date").agg(_ref=pl.col("total").median())
        .sort("date")
    )
    rows = completed.select("event_id", "category", "date", "total").sort("date")
    judged = (
        rows.join_asof(series.rename({"_ref": "_before"}), on="date", by="category",
                       strategy="backward", check_sortedness=False)
        .join_asof(series.rename({"_ref": "_after"}), on="date", by="category",
                   strategy="forward", check_sortedness=False)
        .with_columns(
            _judged=pl.col("_before").is_not_null() | pl.col("_after").is_not_null(),
            _against=(pl.col("total") < pl.col("_before") / PLAUSIBLE_RATIO - 20).fill_null(False)
            | (pl.col("total") > pl.col("_after") * PLAUSIBLE_RATIO + 20).fill_null(False),
        )
        .group_by("event_id")
        .agg(_judged=pl.col("_judged").sum(), _against=pl.col("_against").sum())
        .filter(2 * pl.col("_against") > pl.col("_judged"))
    )
    if judged.is_empty():
        return candidates
    undated = pl.col("event_id").is_in(judged.get_column("event_id").implode()) & completed_mask
    source = candidates.get_column("date_source")
    dtype = source.dtype
    if isinstance(dtype, pl.Enum) and "inferred" not in dtype.categories.to_list():
        # The column is an enum of its sorted values: it gains one.
        values = sorted({*dtype.categories.to_list(), "inferred"})
        dtype = pl.Enum(values)
        candidates = candidates.with_columns(pl.col("date_source").cast(pl.String).cast(dtype))
    return candidates.with_columns(
        date=pl.when(undated).then(None).otherwise(pl.col("date")),
        date_source=pl.when(undated).then(pl.lit("inferred", dtype=dtype))
        .otherwise(pl.col("date_source")),
    )


def _merged_category() -> pl.Expr:
    """Categories the General Staff merged, read as the merged one after the merge date."""
    expression = pl.col("category")
    for code, category in CATEGORIES.items():
        if category.valid_to is not None and code in MERGED_INTO:
            expression = pl.when(
                (pl.col("category") == code) & (pl.col("date") > category.valid_to)
            ).then(pl.lit(MERGED_INTO[code])).otherwise(expression)
    return expression


def implausible_figures(candidates: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split off figures far from the other sources' totals of the category around that date.

    Only figures of :data:`CHECKED_PARSERS` are checked; a figure with no other source within
    a week is kept (nothing to compare with).

    >>> import datetime as dt
    >>> day = dt.date(2024, 1, 31)
    >>> rows = {"event_id": ["a", "b", "b"], "parser": ["gs_en", "text", "text"],
    ...         "date": [day, day, day], "category": ["uav", "uav", "tanks"],
    ...         "total": [7100, 20, 6310]}
    >>> kept, dropped = implausible_figures(pl.DataFrame(rows))
    >>> dropped["reason"].to_list()
    ['implausible against the series: 20 where other sources state about 7100 around 2024-01-31']
    """
    empty = candidates.head(0).with_columns(reason=pl.lit(None, pl.String))
    checked_mask = pl.col("parser").is_in(CHECKED_PARSERS) & pl.col("date").is_not_null()
    checked = candidates.filter(checked_mask)
    if checked.is_empty():
        return candidates, empty
    indexed = candidates.with_row_index("_row")
    # One total per (category, date, event) of every report, then each checked figure looks at
    # the days around its own (an exact-key join per day offset: no category-wide cross join).
    reference = (
        indexed.filter(pl.col("date").is_not_null())
        .group_by("category", "date", "event_id")
        .agg(_ref_total=pl.col("total").median())
        .rename({"event_id": "_ref_event", "date": "_ref_date"})
    )
    offsets = pl.DataFrame({"_gap": list(range(-_WINDOW_DAYS, _WINDOW_DAYS + 1))})
    medians = (
        indexed.filter(checked_mask)
        .select("_row", "event_id", "category", "date", "total")
        .join(offsets, how="cross")
        .with_columns(_ref_date=pl.col("date") + pl.duration(days=pl.col("_gap")),
                      _gap=pl.col("_gap").abs())
        .join(reference, on=["category", "_ref_date"], how="inner")
        .filter(pl.col("_ref_event") != pl.col("event_id"))
        # The nearest days only: early in the war totals grew fast within a week.
        .filter(pl.col("_gap") == pl.col("_gap").min().over("_row"))
        .group_by("_row")
        .agg(
            _median=pl.col("_ref_total").median(),
            # Plausible when close to any other source: one bad copy must not condemn a good one.
            _close=(
                (pl.col("total") <= pl.col("_ref_total") * PLAUSIBLE_RATIO + 20)
                & (pl.col("total") >= pl.col("_ref_total") / PLAUSIBLE_RATIO - 20)
            ).any(),
        )
    )
    flagged = (
        indexed.join(medians.filter(~pl.col("_close")), on="_row", how="inner")
        .with_columns(reason=pl.format(
            "implausible against the series: {} where other sources state about {} around {}",
            "total", pl.col("_median").round(0).cast(pl.Int64), "date",
        ))
    )
    if flagged.is_empty():
        return candidates, empty
    kept = indexed.join(flagged.select("_row"), on="_row", how="anti").drop("_row")
    return kept, flagged.drop("_row", "_median", "_close")
