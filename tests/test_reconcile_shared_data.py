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


def _two_histories(petroivaniuk: pl.DataFrame, minfin: pl.DataFrame, first: str) -> Reconciliation:
    """Both series as one history event each, ``first`` ingested (and received) first."""
    series = {"petroivaniuk": petroivaniuk, "minfin": minfin}
    order = [first, *(name for name in series if name != first)]
    return reconcile_totals(
        pl.concat(
            history_observations(
                series[name],
                source=name,
                event_id=f"{name}-file",
                seq=seq,
                received_at=dt.datetime(2026, 8, 8 + seq, tzinfo=dt.UTC),
            )
            for seq, name in enumerate(order, start=1)
        )
    )


@pytest.fixture(scope="module")
def histories(petroivaniuk: pl.DataFrame, minfin: pl.DataFrame) -> dict[str, Reconciliation]:
    return {
        first: _two_histories(petroivaniuk, minfin, first) for first in ("petroivaniuk", "minfin")
    }


@pytest.fixture(scope="module")
def differing(petroivaniuk: pl.DataFrame, minfin: pl.DataFrame) -> pl.DataFrame:
    """(date, category, petroivaniuk, minfin) wherever the two files disagree."""
    return (
        petroivaniuk.join(minfin, on=KEY, suffix="_minfin")
        .filter(pl.col("total") != pl.col("total_minfin"))
        .select(*KEY, pl.col("total").alias("petroivaniuk"), pl.col("total_minfin").alias("minfin"))
        .sort(KEY)
    )


def _cell(result: Reconciliation, day: str, category: str) -> dict[str, object]:
    rows = result.daily_totals.filter(date=dt.date.fromisoformat(day), category=category)
    assert rows.height == 1
    return rows.row(0, named=True)


def _conflict(result: Reconciliation, day: str, category: str) -> dict[str, object]:
    rows = result.discrepancies.filter(
        kind="source_conflict", date=dt.date.fromisoformat(day), category=category
    )
    assert rows.height == 1
    return rows.row(0, named=True)


def test_two_histories_publish_the_same_tables_in_either_order(
    histories: dict[str, Reconciliation],
) -> None:
    """Issue 11: ingesting the files the other way round flipped all 143 cells; now nothing
    changes but ``seq`` (which by definition records the position in the log)."""
    a, b = histories["petroivaniuk"], histories["minfin"]
    for name in ("daily_totals", "discrepancies", "disagreement_runs"):
        assert getattr(a, name).drop("seq").equals(getattr(b, name).drop("seq")), name
    assert a.sources.equals(b.sources)
    assert_publishable(a)


def test_two_histories_conflict_exactly_where_they_differ(
    histories: dict[str, Reconciliation],
    differing: pl.DataFrame,
    petroivaniuk: pl.DataFrame,
    minfin: pl.DataFrame,
) -> None:
    result = histories["petroivaniuk"]
    assert differing.height == 143
    conflicts = result.discrepancies.filter(kind="source_conflict").sort(KEY)
    assert conflicts.select(KEY).equals(differing.select(KEY))
    # Each conflict pairs the two files' values: the published one and the other.
    pairs = conflicts.join(differing, on=KEY)
    assert pairs.select(
        (pl.min_horizontal("expected", "observed") == pl.min_horizontal("petroivaniuk", "minfin"))
        & (pl.max_horizontal("expected", "observed") == pl.max_horizontal("petroivaniuk", "minfin"))
    ).to_series().all()

    paired = petroivaniuk.join(minfin, on=KEY)
    n_alone = petroivaniuk.height + minfin.height - 2 * paired.height
    totals = result.daily_totals
    statuses = dict(totals.group_by("status").len().iter_rows())
    # No cell is confidently chosen without evidence: 41 decided by the series, the other
    # 102 contested (two sources, no deltas: nothing else can separate them).
    assert statuses == {
        "confirmed": paired.height - 143,
        "single_source": n_alone,
        "series": 41,
        "contested": 102,
    }
    decided = totals.join(differing.select(KEY), on=KEY)
    assert dict(decided.group_by("evidence").len().iter_rows()) == {
        "series_fit": 31,
        "stale": 10,
        "none": 102,
    }
    contested = totals.filter(status="contested")
    assert (contested["confidence"] == 0.5).all()
    assert (totals.filter(status="series")["confidence"] > 0.95).all()
    # A contested conflict names both sides.
    details = result.discrepancies.filter(kind="source_conflict").join(
        contested.select(KEY), on=KEY
    )["detail"]
    assert details.str.contains("contested: no evidence separates").all()
    assert details.str.contains(r"\(petroivaniuk\)").all()
    assert details.str.contains(r"\(minfin\)").all()


def test_the_issues_cases_are_decided_the_way_the_evidence_points(
    histories: dict[str, Reconciliation],
) -> None:
    result = histories["minfin"]
    # 2022-07-04 armored vehicles: petroivaniuk repeats Jul 3's 3744 in a category that
    # changed every day that month; minfin's 3754 (+10) stands.
    row = _cell(result, "2022-07-04", "armored_vehicles")
    assert (row["total"], row["status"], row["evidence"]) == (3754, "series", "stale")
    conflict = _conflict(result, "2022-07-04", "armored_vehicles")
    assert (conflict["source"], conflict["observed"]) == ("petroivaniuk", 3744)
    assert conflict["detail"].startswith("stale: equals 2022-07-03 total; decided by series")
    # Slips that break the cumulative series lose, whichever file has them.
    for day, category, total, slip, source in [
        ("2025-01-21", "vehicles_fuel_tanks", 34682, 36682, "minfin"),
        ("2023-05-09", "vehicles_fuel_tanks", 5969, 5669, "minfin"),
        ("2023-12-17", "mlrs", 923, 932, "minfin"),
        ("2022-10-12", "armored_vehicles", 5165, 5181, "petroivaniuk"),
    ]:
        row = _cell(result, day, category)
        assert (row["total"], row["status"], row["evidence"]) == (total, "series", "series_fit")
        conflict = _conflict(result, day, category)
        assert (conflict["source"], conflict["observed"]) == (source, slip)
        assert "decided by series fit (settled " in conflict["detail"]
    assert _conflict(result, "2025-01-21", "vehicles_fuel_tanks")["detail"] == (
        "typo: one digit changed (36682 vs 34682); decided by series fit "
        "(settled 34488 on 2025-01-20 before, 34837 on 2025-01-22 after)"
    )
    # 2022-10-12: only armored vehicles break the series; petroivaniuk's ships and special
    # equipment repeat Oct 11, but those categories often stand still, so that proves nothing.
    day = result.daily_totals.filter(date=dt.date(2022, 10, 12))
    assert dict(
        day.filter(pl.col("status") != "confirmed").group_by("status").len().iter_rows()
    ) == {"series": 1, "contested": 7}
    assert _cell(result, "2022-10-12", "ships")["status"] == "contested"
    # An offset with no settled day near enough to break it stays contested.
    helicopters = result.daily_totals.filter(
        pl.col("date").is_between(dt.date(2026, 3, 22), dt.date(2026, 4, 29)),
        category="helicopters",
    )
    assert helicopters.height == 39
    assert set(helicopters["status"]) == {"contested"}


def test_sustained_disagreements_are_runs(histories: dict[str, Reconciliation]) -> None:
    result = histories["petroivaniuk"]
    runs = result.disagreement_runs
    conflicts = result.discrepancies.filter(kind="source_conflict")
    # Every conflict points at a run, and the runs' days add up to the conflicts.
    assert conflicts["run_id"].is_not_null().all()
    assert set(conflicts["run_id"]) == set(runs["run_id"])
    assert runs["days"].sum() == conflicts.height == 143
    expected = {
        "petroivaniuk/helicopters/2026-03-22": (
            "petroivaniuk", dt.date(2026, 4, 29), 39, "offset", 1,
            "petroivaniuk +1 on helicopters for 39 days",
        ),
        "minfin/armored_vehicles/2025-10-14": (
            "minfin", dt.date(2025, 10, 15), 2, "offset", 28,
            "minfin +28 on armored_vehicles for 2 days",
        ),
        "petroivaniuk/special_equipment/2025-09-24": (
            "petroivaniuk", dt.date(2025, 10, 2), 9, "offset", 7,
            "petroivaniuk off by +7 (median, varying) on special_equipment for 9 days",
        ),
        "minfin/vehicles_fuel_tanks/2025-01-21": (
            "minfin", dt.date(2025, 1, 21), 1, "slip", 2000,
            "minfin +2000 on vehicles_fuel_tanks for one day",
        ),
        "petroivaniuk/armored_vehicles/2022-07-04": (
            "petroivaniuk", dt.date(2022, 7, 4), 1, "stale", -10,
            "petroivaniuk repeats 3744 for 1 day(s)",
        ),
    }
    by_id = {
        row["run_id"]: (
            row["source"], row["last_date"], row["days"], row["pattern"], row["typical_offset"],
            row["detail"],
        )
        for row in runs.iter_rows(named=True)
    }
    for run_id, values in expected.items():
        assert by_id[run_id] == values, run_id
    helicopter_run = runs.filter(run_id="petroivaniuk/helicopters/2026-03-22").row(0, named=True)
    assert helicopter_run["event_ids"] == ["minfin-file", "petroivaniuk-file"]
    assert dict(runs.group_by("pattern").len().iter_rows()) == {
        "slip": 71, "stale": 14, "offset": 5,
    }


def test_scorecard_of_the_two_histories(
    histories: dict[str, Reconciliation], petroivaniuk: pl.DataFrame, minfin: pl.DataFrame
) -> None:
    sources = histories["petroivaniuk"].sources
    assert sources["source"].to_list() == ["minfin", "petroivaniuk"]
    rows = {row["source"]: row for row in sources.iter_rows(named=True)}
    for name, series in (("minfin", minfin), ("petroivaniuk", petroivaniuk)):
        row = rows[name]
        assert (row["kind"], row["cells"]) == ("history", series.height)
        assert (row["first_date"], row["last_date"]) == (series["date"].min(), series["date"].max())
        assert row["lag_days"] is None and row["copies_of"] is None
    # Cells where the published total is not the file's own value.
    conflicts = histories["petroivaniuk"].discrepancies.filter(kind="source_conflict")
    lost = dict(conflicts.group_by("source").len().iter_rows())
    for name in rows:
        assert rows[name]["agreement"] == pytest.approx(1 - lost[name] / rows[name]["cells"])
    assert {name: (r["slips"], r["stale_days"], r["runs"]) for name, r in rows.items()} == {
        "minfin": (36, 9, 46),
        "petroivaniuk": (35, 5, 44),
    }
    assert lost == {"minfin": 47, "petroivaniuk": 96}
    assert rows["minfin"]["reliability"] == pytest.approx(0.999, abs=5e-4)
    assert rows["petroivaniuk"]["reliability"] == pytest.approx(0.999, abs=5e-4)


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
