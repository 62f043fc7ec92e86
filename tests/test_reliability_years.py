"""A year is decided by the record up to its end: reports of later years never change it.

Source reliability is learned year by year (:func:`lossledger.reconcile.reliability.
truth_discovery`): each year's contested cells are weighed with what the sources got right up
to that year, never with what they did later. So the published past stays as it was decided
when a new year's reports arrive, and an incremental run need not look back beyond the year
its new reports fall in.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from lossledger.reconcile.consensus import ReconcilePolicy, Reconciliation, reconcile_totals
from tests.reconcile_frames import observation, observations

SOURCES = ("ticker.a", "ticker.b", "ticker.c")
CATEGORIES = ("tanks", "drones")
#: The first year's reports fall in its last weeks; the next year's start well after the
#: series evidence window (7 days) and the stale look-back (3 days) could reach back.
YEAR_END = dt.date(2024, 12, 10)
NEXT_YEAR = dt.date(2025, 1, 12)


def truth(day: dt.date, category: int) -> int:
    return 5000 + 1000 * category + 11 * (day - YEAR_END).days


report = st.tuples(
    st.integers(0, len(SOURCES) - 1),
    st.integers(0, 9),                                  # day
    st.integers(0, len(CATEGORIES) - 1),
    st.sampled_from([0, 0, 0, 0, 1, -2, 5, 40]),        # off the true total by
)


def frame(first: list[tuple[int, int, int, int]], later: list[tuple[int, int, int, int]]
          ) -> pl.DataFrame:
    rows = []
    for seq, (source, day, category, off) in enumerate([*first, *later], start=1):
        start = YEAR_END if seq <= len(first) else NEXT_YEAR
        date = start + dt.timedelta(days=day)
        rows.append(observation(
            f"e{seq}", seq, SOURCES[source], "ticker", date, CATEGORIES[category],
            truth(date, category) + off,
        ))
    return observations(*rows)


def first_year(
    result: Reconciliation, reported: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of each category up to its last day ``reported`` in the first year: the days
    after it are a gap the next year's reports close (inferred totals, ``gap`` rows)."""

    def early(frame: pl.DataFrame) -> pl.DataFrame:
        return (
            frame.with_columns(pl.col("category").cast(pl.String).alias("_c"))
            .join(reported, left_on="_c", right_on="category")
            .filter(pl.col("date") <= pl.col("last"))
            .drop("category", "last")
            .rename({"_c": "category"})
            .sort(pl.all())
        )

    return early(result.daily_totals), early(result.discrepancies)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(report, min_size=2, max_size=40),
    later=st.lists(report, min_size=1, max_size=60),
)
def test_reports_of_a_later_year_never_change_an_earlier_one(
    first: list[tuple[int, int, int, int]], later: list[tuple[int, int, int, int]]
) -> None:
    policy = ReconcilePolicy()
    alone = reconcile_totals(frame(first, []), policy=policy)
    with_later = reconcile_totals(frame(first, later), policy=policy)
    reported = (
        alone.daily_totals.filter(pl.col("status") != "inferred")
        .group_by(pl.col("category").cast(pl.String))
        .agg(pl.col("date").max().alias("last"))
    )
    for before, after in zip(
        first_year(alone, reported), first_year(with_later, reported), strict=True
    ):
        assert_frame_equal(before, after)


def test_a_coin_toss_stays_where_its_year_left_it() -> None:
    # Year one: ticker.a and ticker.b split on one tanks cell with nothing to separate them,
    # and agree with ticker.c elsewhere. Year two: ticker.a slips every other day, where b
    # and c hold the series. Weighed with year two's record, a would lose the old cell; it
    # is weighed with year one's only.
    first = [(s, d, 0, 0) for d in range(9) for s in (0, 1, 2)]
    first += [(0, 9, 0, 0), (1, 9, 0, 1)]
    later = [(s, d, 0, 0) for d in range(10) for s in (1, 2)]
    later += [(0, d, 0, 40 if d % 2 else 0) for d in range(10)]
    alone = reconcile_totals(frame(first, []))
    with_later = reconcile_totals(frame(first, later))
    cell = pl.col("date") == YEAR_END + dt.timedelta(days=9)
    old = alone.daily_totals.filter(cell).row(0, named=True)
    assert old["status"] == "contested"
    assert with_later.daily_totals.filter(cell).row(0, named=True)["total"] == old["total"]
    # The later year did teach something: ticker.a's reliability over its whole record fell.
    reliability = {
        name: dict(r.sources.select("source", "reliability").iter_rows())["ticker.a"]
        for name, r in (("alone", alone), ("with_later", with_later))
    }
    assert reliability["with_later"] < reliability["alone"]
