"""Reconciliation on the real shared history series (../shared/data, read only)."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import polars as pl
import pytest

from lossledger.reconcile.consensus import Reconciliation, reconcile_totals
from schemas.tables import DailyTotalSchema, DiscrepancySchema
from tests.reconcile_frames import (
    PETROIVANIUK_CODES,
    SHARED_DATA,
    history_observations,
    minfin_series,
    observation,
    observations,
    petroivaniuk_series,
    received,
)

pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "petroivaniuk").is_dir() or not (SHARED_DATA / "minfin").is_dir(),
    reason="shared data not mounted",
)

KEY = ["date", "category"]


def assert_publishable(result: Reconciliation) -> None:
    """The frames pass the published tables' pandera models (types, vocabulary, ranges)."""
    DailyTotalSchema.validate(result.daily_totals)
    DiscrepancySchema.validate(result.discrepancies)


@pytest.fixture(scope="module")
def petroivaniuk() -> pl.DataFrame:
    return petroivaniuk_series()


@pytest.fixture(scope="module")
def minfin() -> pl.DataFrame:
    return minfin_series()


# --- two independent history series ---------------------------------------------------------


@pytest.mark.parametrize("later", ["minfin", "petroivaniuk"])
def test_two_histories_conflict_exactly_where_they_differ(
    petroivaniuk: pl.DataFrame, minfin: pl.DataFrame, later: str
) -> None:
    shared = set(petroivaniuk["category"]) & set(minfin["category"])
    series = {
        "petroivaniuk": petroivaniuk.filter(pl.col("category").is_in(shared)),
        "minfin": minfin.filter(pl.col("category").is_in(shared)),
    }
    earlier = next(name for name in series if name != later)
    received_at = {earlier: dt.datetime(2026, 8, 9, tzinfo=dt.UTC)}
    received_at[later] = dt.datetime(2026, 8, 23, tzinfo=dt.UTC)
    frame = pl.concat(
        history_observations(
            rows, source=name, event_id=f"{name}-file", seq=seq, received_at=received_at[name]
        )
        for seq, (name, rows) in enumerate(series.items(), start=1)
    )

    result = reconcile_totals(frame)
    assert_publishable(result)

    # Both are history files, so a disagreement ties on count and kind: the later file wins.
    paired = series[earlier].join(series[later], on=KEY, suffix="_later")
    differing = (
        paired.filter(pl.col("total") != pl.col("total_later"))
        .select(
            *KEY,
            pl.lit(earlier).alias("source"),
            pl.col("total_later").alias("expected"),
            pl.col("total").alias("observed"),
        )
        .sort(KEY)
    )
    conflicts = result.discrepancies.filter(kind="source_conflict")
    assert differing.height > 100
    assert conflicts.select(differing.columns).equals(differing)
    assert conflicts["detail"].str.ends_with(f"; chosen by latest received ({later})").all()

    n_agreeing = paired.height - differing.height
    n_alone = sum(rows.join(paired, on=KEY, how="anti").height for rows in series.values())
    statuses = dict(result.daily_totals.group_by("status").len().iter_rows())
    assert statuses == {
        "confirmed": n_agreeing,
        "priority": differing.height,
        "single_source": n_alone,
    }


# --- one history series ---------------------------------------------------------------------


def _decreases_in_equipment_file() -> list[tuple[dt.date, str, int, int]]:
    """(date, category, previous total, total) wherever a figure falls from one row to the
    next, read with plain Python from the JSON."""
    rows = json.loads(
        (SHARED_DATA / "petroivaniuk" / "russia_losses_equipment.json").read_text("utf-8")
    )
    rows.sort(key=lambda row: row["date"])
    found = []
    for before, after in itertools.pairwise(rows):
        for name, code in PETROIVANIUK_CODES.items():
            old, new = before.get(name), after.get(name)
            if isinstance(old, int) and isinstance(new, int) and new < old:
                found.append((dt.date.fromisoformat(after["date"]), code, old, new))
    return sorted(found)


def test_decreases_of_a_lone_history_are_its_restatements() -> None:
    equipment = petroivaniuk_series(personnel=False)
    decreases = _decreases_in_equipment_file()
    assert len(decreases) == 13

    result = reconcile_totals(
        history_observations(
            equipment,
            source="petroivaniuk",
            event_id="petroivaniuk-file",
            seq=1,
            received_at=dt.datetime(2026, 8, 9, tzinfo=dt.UTC),
        )
    )

    assert_publishable(result)
    assert set(result.discrepancies["kind"]) == {"restatement"}
    restatements = result.discrepancies.select(*KEY, "expected", "observed").rows()
    assert restatements == decreases
    assert set(result.daily_totals["status"]) == {"single_source"}
    assert result.daily_totals.select(*KEY, "total").equals(
        equipment.select(*KEY, "total").sort(KEY)
    )


# --- many sources over a few days -----------------------------------------------------------

GS, API, TICKER, HISTORY = "generalstaff.en", "api.example", "ticker.en", "petroivaniuk"
CATEGORIES = ("cruise_missiles", "special_equipment", "tanks", "uav")
MAR = {day: dt.date(2024, 3, day) for day in range(9, 16)}


def _report(
    event_id: str,
    seq: int,
    source: str,
    kind: str,
    day: int,
    totals: dict[str, int],
    deltas: dict[str, int] | None,
    *,
    received_at: dt.datetime | None = None,
) -> list[dict[str, object]]:
    return [
        observation(
            event_id,
            seq,
            source,
            kind,
            MAR[day],
            category,
            total,
            None if deltas is None else deltas[category],
            received_at=received_at,
        )
        for category, total in totals.items()
    ]


@pytest.fixture(scope="module")
def march(petroivaniuk: pl.DataFrame) -> dict[int, dict[str, int]]:
    """The petroivaniuk totals for 2024-03-09..15 by day and category."""
    rows = petroivaniuk.filter(
        pl.col("date").is_between(MAR[9], MAR[15]), pl.col("category").is_in(CATEGORIES)
    )
    table: dict[int, dict[str, int]] = {}
    for day, category, total in rows.iter_rows():
        table.setdefault(day.day, {})[category] = total
    return table


def _changes(march: dict[int, dict[str, int]], day: int) -> dict[str, int]:
    return {c: march[day][c] - march[day - 1][c] for c in CATEGORIES}


def test_many_sources_over_a_few_days(march: dict[int, dict[str, int]]) -> None:
    """Official, API, ticker and history copies of 2024-03-10..15 with the usual faults.

    * Mar 11: no source has a report (the day is inferred from Mar 12's stated deltas).
    * Mar 13: cruise missiles fall 1920 -> 1919 (a real restatement); the history file
      received that evening still has 1920 and is replaced by a newer version (revision).
    * Mar 14: the ticker republishes Mar 13's figures (stale); the API swaps two tank digits.
    * Mar 15: the API drops a digit and changes another; the official post mistypes a delta.
    """
    assert (march[12]["cruise_missiles"], march[13]["cruise_missiles"]) == (1920, 1919)
    changes = {day: _changes(march, day) for day in range(10, 16)}
    evening = {day: received(MAR[day], 20) for day in MAR}
    api_14 = march[14] | {"tanks": 6775}
    api_15 = march[15] | {"cruise_missiles": 192, "special_equipment": 1741}
    gs_15_deltas = changes[15] | {"uav": 43}
    history_v1 = [
        (day, march[day] | ({"cruise_missiles": 1920} if day == 13 else {}))
        for day in (10, 12, 13)
    ]
    rows = [
        *_report("gs-10", 1, GS, "official", 10, march[10], changes[10]),
        *_report("gs-12", 2, GS, "official", 12, march[12], changes[12]),
        *_report("api-12", 3, API, "api", 12, march[12], changes[12]),
        *_report("gs-13", 4, GS, "official", 13, march[13], changes[13]),
        *_report("api-13", 5, API, "api", 13, march[13], changes[13]),
        *_report("tk-13", 6, TICKER, "ticker", 13, march[13], changes[13]),
        *(
            row
            for day, totals in history_v1
            for row in _report(
                "hist-v1", 7, HISTORY, "history", day, totals, None, received_at=evening[13]
            )
        ),
        *_report("gs-14", 8, GS, "official", 14, march[14], changes[14]),
        *_report("api-14", 9, API, "api", 14, api_14, changes[14]),
        *_report("tk-14", 10, TICKER, "ticker", 14, march[13], changes[13]),
        *(
            row
            for day in (10, 12, 13, 14)
            for row in _report(
                "hist-v2", 11, HISTORY, "history", day, march[day], None, received_at=evening[14]
            )
        ),
        *_report("gs-15", 12, GS, "official", 15, march[15], gs_15_deltas),
        *_report("api-15", 13, API, "api", 15, api_15, changes[15]),
    ]

    result = reconcile_totals(observations(*rows))
    assert_publishable(result)

    totals = result.daily_totals
    # The consensus recovers the General Staff's own series, the missing day included.
    assert {(d.day, c): t for d, c, t in totals.select(*KEY, "total").iter_rows()} == {
        (day, c): march[day][c] for day in range(10, 16) for c in CATEGORIES
    }
    statuses = {
        (d.day, c): (s, n)
        for d, c, s, n in totals.select(*KEY, "status", "n_sources").iter_rows()
    }
    expected_statuses = {
        10: ("confirmed", 2),
        11: ("inferred", 0),
        12: ("confirmed", 3),
        13: ("confirmed", 4),
        # Issue 11: the official and API deltas pin Mar 14 before the sources are counted.
        14: ("series", 4),
    }
    for day, status in expected_statuses.items():
        for category in CATEGORIES:
            assert statuses[day, category] == status, (day, category)
    assert {c: statuses[15, c] for c in CATEGORIES} == {
        # Issue 11: 192 falls below Mar 13's settled 1919, so the series decides.
        "cruise_missiles": ("series", 2),
        "special_equipment": ("priority", 2),
        "tanks": ("confirmed", 2),
        "uav": ("confirmed", 2),
    }
    inferred = totals.filter(status="inferred")
    assert inferred.select("category", "total", "delta").rows() == [
        ("cruise_missiles", 1919, 0),
        ("special_equipment", 1686, 14),
        ("tanks", 6739, 8),
        ("uav", 8141, 59),
    ]
    # An inferred day carries the lineage of the day whose stated delta gave it.
    mar_12 = totals.filter(date=MAR[12])
    assert inferred["event_ids"].to_list() == mar_12["event_ids"].to_list()
    assert inferred["event_ids"][0].to_list() == ["api-12", "gs-12", "hist-v1", "hist-v2"]
    assert inferred["seq"].to_list() == [11] * 4
    tanks_14 = totals.filter(date=MAR[14], category="tanks").row(0, named=True)
    assert (tanks_14["event_ids"], tanks_14["sources"], tanks_14["seq"]) == (
        ["gs-14", "hist-v2"],
        [GS, HISTORY],
        11,
    )

    majority_3 = majority_2 = "decided by stated delta (a source's delta pins the total)"
    by_priority = "chosen by priority (official)"
    by_series = "decided by series fit (settled 1919 on 2024-03-13 before)"
    gap = "inferred from 2024-03-12 stated delta"
    stale = "stale: equals 2024-03-13 total; "
    assert result.discrepancies.select(
        "date", "category", "kind", "source", "expected", "observed", "detail"
    ).rows() == [
        (MAR[11], "cruise_missiles", "gap", None, None, None, gap),
        (MAR[11], "special_equipment", "gap", None, None, None, gap),
        (MAR[11], "tanks", "gap", None, None, None, gap),
        (MAR[11], "uav", "gap", None, None, None, gap),
        (
            MAR[13], "cruise_missiles", "restatement", GS, 1920, 1919,
            "total fell from 1920 on 2024-03-12 to 1919 (-1)",
        ),
        (
            MAR[13], "cruise_missiles", "revision", HISTORY, 1919, 1920,
            "revised from 1920 to 1919 (event hist-v1 superseded by hist-v2)",
        ),
        (MAR[14], "cruise_missiles", "source_conflict", TICKER, 1920, 1919, stale + majority_3),
        (MAR[14], "special_equipment", "source_conflict", TICKER, 1708, 1699, stale + majority_3),
        (
            MAR[14], "tanks", "source_conflict", API, 6757, 6775,
            "typo: adjacent digits swapped (6775 vs 6757); " + majority_2,
        ),
        (MAR[14], "tanks", "source_conflict", TICKER, 6757, 6752, stale + majority_2),
        (MAR[14], "uav", "source_conflict", TICKER, 8220, 8205, stale + majority_3),
        (
            MAR[15], "cruise_missiles", "source_conflict", API, 1920, 192,
            "other: differs by -1728; " + by_series,
        ),
        (
            MAR[15], "special_equipment", "source_conflict", API, 1711, 1741,
            "typo: one digit changed (1741 vs 1711); " + by_priority,
        ),
        (
            MAR[15], "uav", "delta_mismatch", GS, 34, 43,
            "stated +43 but totals imply +34 (8220 on 2024-03-14 to 8254)",
        ),
    ]
