"""The report's charts: pure functions from published tables to Vega-Lite specs (Altair).

Each ``*_chart`` function takes polars frames and returns an Altair chart, or ``None`` when there
is nothing to draw; :func:`to_svg` renders a chart to static SVG with vl-convert (no browser, no
network). The frames are reduced first (one row per point drawn) so the SVG stays small.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from lossledger.parse.ontology import CATEGORY_CODES
from lossledger.report.headline import MARKED_STATUSES
from lossledger.report.svg import SvgCache, render_svg

__all__ = [
    "agreement_frame",
    "agreement_heatmap",
    "delta_chart",
    "quarantine_chart",
    "runs_chart",
    "runs_frame",
    "series_chart",
    "to_svg",
]

_WIDTH = 250
_ORDER = list(CATEGORY_CODES)
_STATUS_COLOURS = {
    "contested": "#d62728",
    "series": "#2ca02c",
    "priority": "#ff7f0e",
    "majority": "#bcbd22",
    "overridden": "#9467bd",
    "inferred": "#17becf",
}


def to_svg(chart: alt.TopLevelMixin, *, cache: SvgCache | None = None) -> str:
    """Render a chart to a standalone SVG string with vl-convert (through ``cache`` if given)."""
    # The specs are built by the functions below, so Altair's schema validation of every inline
    # data row (seconds on a multi-year series) is skipped.
    return render_svg(chart.to_dict(format="vega-lite", validate=False), cache=cache)


def _inline(frame: pl.DataFrame) -> alt.InlineData:
    """The frame as inline data: one JSON string (dates as ``YYYY-MM-DD``) that Vega parses.

    As a string, Altair neither validates nor walks the rows one by one (as a list of records
    that took seconds per report); the rendered chart is the same.
    """
    dated = frame.with_columns(
        [pl.col(c).dt.strftime("%Y-%m-%d") for c, t in frame.schema.items() if t == pl.Date]
    )
    return alt.InlineData(values=dated.write_json(), format=alt.DataFormat(type="json"))


def series_chart(totals: pl.DataFrame) -> alt.FacetChart | None:
    """Per-category cumulative totals, one small panel each, with the doubtful days marked.

    Markers: days whose status is not a plain agreement (:data:`MARKED_STATUSES`), coloured by
    status; a red marker is a contested day.
    """
    if totals.is_empty():
        return None
    # One point a week draws the same line at this width; every marked day is kept.
    line = totals.select("date", "category", "total", "status").filter(
        (pl.col("date").dt.weekday() == 7)
        | pl.col("status").is_in(MARKED_STATUSES)
        | (pl.col("date") == pl.col("date").max().over("category"))
        | (pl.col("date") == pl.col("date").min().over("category"))
    )
    base = alt.Chart().encode(
        x=alt.X("date:T", title=None, axis=alt.Axis(format="%Y", tickCount="year")),
        y=alt.Y("total:Q", title=None),
    )
    statuses = [s for s in MARKED_STATUSES if s in set(line["status"].to_list())]
    layers = [base.mark_line(strokeWidth=1.2, color="#1f77b4")]
    if statuses:
        layers.append(
            base.mark_point(size=18, filled=True, opacity=0.9)
            .encode(color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=statuses, range=[_STATUS_COLOURS[s] for s in statuses]),
                legend=alt.Legend(title="day decided by", orient="top"),
            ))
            .transform_filter(alt.FieldOneOfPredicate(field="status", oneOf=statuses))
        )
    return (
        alt.layer(*layers, data=_inline(line))
        .properties(width=_WIDTH, height=110)
        .facet(facet=alt.Facet("category:N", sort=_ORDER, title=None), columns=3)
        .resolve_scale(y="independent")
    )


def delta_chart(totals: pl.DataFrame) -> alt.FacetChart | None:
    """Mean daily change per week (implied by consecutive totals), per category.

    A week whose mean is negative holds a restatement.
    """
    frame = (
        totals.drop_nulls("delta")
        .group_by("category", pl.col("date").dt.truncate("1w"))
        .agg(pl.col("delta").mean().round(1))
        .sort("category", "date")
    )
    if frame.is_empty():
        return None
    return (
        alt.Chart(_inline(frame))
        .mark_area(line={"color": "#2c7fb8", "strokeWidth": 0.8}, color="#a6cee3", opacity=0.8)
        .encode(
            x=alt.X("date:T", title=None, axis=alt.Axis(format="%Y", tickCount="year")),
            y=alt.Y("delta:Q", title=None),
        )
        .properties(width=_WIDTH, height=80)
        .facet(facet=alt.Facet("category:N", sort=_ORDER, title=None), columns=3)
        .resolve_scale(y="independent")
    )


def agreement_frame(observations: pl.DataFrame, totals: pl.DataFrame) -> pl.DataFrame:
    """Per source and month: the share of its figures that equal the published total.

    >>> import datetime as dt
    >>> obs = pl.DataFrame({"source": ["a", "a", "b"], "date": [dt.date(2024, 1, 1)] * 3,
    ...     "category": ["tanks", "mlrs", "tanks"], "total": [5, 7, 6], "retracted": [False] * 3})
    >>> tot = pl.DataFrame({"date": [dt.date(2024, 1, 1)] * 2, "category": ["tanks", "mlrs"],
    ...     "total": [5, 7]})
    >>> agreement_frame(obs, tot).select("source", "agreement").rows()
    [('a', 1.0), ('b', 0.0)]
    """
    published = totals.select("date", "category", pl.col("total").alias("published"))
    return (
        observations.filter(~pl.col("retracted"))
        .join(published, on=["date", "category"], how="inner")
        .with_columns(month=pl.col("date").dt.truncate("1mo"))
        .group_by("source", "month")
        .agg(
            agreement=(pl.col("total") == pl.col("published")).mean(),
            figures=pl.len(),
            disagreeing=(pl.col("total") != pl.col("published")).sum(),
        )
        .sort("source", "month")
    )


def agreement_heatmap(agreement: pl.DataFrame) -> alt.Chart | None:
    """Sources by month, coloured by the share of their figures the published series agrees with."""
    if agreement.is_empty():
        return None
    frame = agreement.rename({"month": "date"})
    return (
        alt.Chart(_inline(frame))
        .mark_rect()
        .encode(
            x=alt.X("yearmonth(date):O", title=None,
                    axis=alt.Axis(format="%b %y", labelAngle=-60, labelOverlap=True)),
            y=alt.Y("source:N", title=None),
            color=alt.Color("agreement:Q", title="agreement",
                            scale=alt.Scale(domain=[0.8, 1], scheme="redyellowgreen",
                                            clamp=True),
                            legend=alt.Legend(format=".0%")),
        )
        .properties(width=820, height=alt.Step(18))
    )


def runs_frame(discrepancies: pl.DataFrame) -> pl.DataFrame:
    """Disagreement runs: consecutive days on which one source conflicts on one category.

    Used when the warehouse has no ``disagreement_runs`` table of its own.

    >>> import datetime as dt
    >>> d = pl.DataFrame({"date": [dt.date(2024, 1, d) for d in (1, 2, 5)], "category": ["tanks"]
    ...     * 3, "kind": ["source_conflict"] * 3, "source": ["x"] * 3})
    >>> runs_frame(d).select("start", "end", "days").rows()
    [(datetime.date(2024, 1, 1), datetime.date(2024, 1, 2), 2), (datetime.date(2024, 1, 5), datetime.date(2024, 1, 5), 1)]
    """  # noqa: E501
    conflicts = discrepancies.filter(pl.col("kind") == "source_conflict").drop_nulls("source")
    return (
        conflicts.select("source", "category", "date").unique().sort("source", "category", "date")
        .with_columns(
            run=(pl.col("date").diff().over("source", "category") != pl.duration(days=1))
            .fill_null(True).cum_sum()
        )
        .group_by("source", "category", "run")
        .agg(start=pl.col("date").min(), end=pl.col("date").max(), days=pl.len())
        .drop("run")
        .sort("start", "source", "category")
    )


def runs_chart(runs: pl.DataFrame) -> alt.Chart | None:
    """A timeline of disagreement runs: one bar per run, a row per category, coloured by source."""
    if runs.is_empty():
        return None
    frame = runs.with_columns(
        (pl.col("end") + pl.duration(days=1)).alias("end")  # a one-day run gets a width
    ).select("source", "category", "start", "end", "days")
    return (
        alt.Chart(_inline(frame))
        .mark_bar(height=8)
        .encode(
            x=alt.X("start:T", title=None, axis=alt.Axis(format="%b %Y")),
            x2="end:T",
            y=alt.Y("category:N", sort=_ORDER, title=None),
            color=alt.Color("source:N", legend=alt.Legend(orient="top", title="source")),
        )
        .properties(width=820, height=alt.Step(14))
    )


def quarantine_chart(quarantine: pl.DataFrame) -> alt.Chart | None:
    """Quarantined rows by reason (the 15 commonest), coloured by the stage that set them aside."""
    if quarantine.is_empty():
        return None
    counted = (
        quarantine.with_columns(
            reason=pl.when(pl.col("reason").str.len_chars() > 70)
            .then(pl.col("reason").str.slice(0, 69) + "…")
            .otherwise(pl.col("reason"))
        )
        .group_by("stage", "reason").len()
        # Ties broken by the reason, so the same warehouse always draws the same 15.
        .sort(["len", "stage", "reason"], descending=[True, False, False]).head(15)
    )
    return (
        alt.Chart(_inline(counted))
        .mark_bar()
        .encode(
            x=alt.X("len:Q", title="rows", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("reason:N", sort="-x", title=None, axis=alt.Axis(labelLimit=420)),
            color=alt.Color("stage:N", legend=alt.Legend(orient="top")),
        )
        .properties(width=360, height=alt.Step(16))
    )
