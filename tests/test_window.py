"""The incremental reconciliation is judged against a full rebuild, on random event streams
over a turn of the year (source reliability is learned year by year)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from lossledger.pipeline import RunSettings
from lossledger.reconcile.consensus import (
    OBSERVATIONS_SCHEMA,
    OVERRIDES_SCHEMA,
    ReconcilePolicy,
    Reconciliation,
    reconcile_totals,
)
from lossledger.reconcile.window import (
    dirty_cells,
    reconcile_incremental,
    reconcile_window,
)
from lossledger.store.events import TotalOverridden
from tests.conftest import GS_EN_0130, GS_EN_0131, SEED, SHARED
from tests.helpers import build, ingest

MINFIN = SHARED / "data" / "minfin" / "russia_losses.csv"
SOURCES = (("gs.en", "official"), ("api.1", "api"), ("ticker.de", "ticker"), ("hist", "history"))
CATEGORIES = ("tanks", "aircraft", "drones")
#: The streams span a turn of the year: reliability is learned per year.
DAY0 = dt.date(2024, 12, 10)
RECEIVED0 = dt.datetime(2024, 12, 10, tzinfo=dt.UTC)
DAYS = 60
FRAMES = ("daily_totals", "discrepancies", "disagreement_runs", "sources", "vote_months")

observation = st.tuples(
    st.integers(0, len(SOURCES) - 1),          # source
    st.integers(0, DAYS),                      # day
    st.integers(0, len(CATEGORIES) - 1),       # category
    st.sampled_from([0, 0, 0, 0, 1, -3, -6, 9, 30]),  # off the true total by
    st.sampled_from([None, 3, 3, 4, 0, 12]),   # stated delta
)
override = st.tuples(st.integers(0, DAYS), st.integers(0, len(CATEGORIES) - 1),
                     st.integers(0, 200))


def observations(rows: list[tuple[int, int, int, int, int | None]]) -> pl.DataFrame:
    records = []
    for seq, (source, day, category, off, delta) in enumerate(rows, start=1):
        name, kind = SOURCES[source]
        records.append((
            f"e{seq:03d}", seq, name, kind, RECEIVED0 + dt.timedelta(minutes=seq), "p",
            DAY0 + dt.timedelta(days=day), CATEGORIES[category], 100 + 3 * day + off, delta,
            None,
        ))
    return pl.DataFrame(records, schema=OBSERVATIONS_SCHEMA, orient="row")


def overrides_frame(rows: list[tuple[int, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(f"o{i}", 10_000 + i, DAY0 + dt.timedelta(days=day), CATEGORIES[c], total, "r", "a")
         for i, (day, c, total) in enumerate(rows)],
        schema=OVERRIDES_SCHEMA, orient="row",
    )


def assert_same(incremental: Reconciliation, full: Reconciliation) -> None:
    """Every published frame exactly; what was learned up to float sums' order."""
    for name in FRAMES:
        assert_frame_equal(getattr(incremental, name), getattr(full, name), check_exact=True)
    for name in ("counts", "accuracy", "copies", "pairs"):
        key = [c for c in ("year", "source", "category", "other", "original")
               if c in getattr(full.learned, name).columns]
        assert_frame_equal(getattr(incremental.learned, name).sort(key),
                           getattr(full.learned, name).sort(key), abs_tol=1e-9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(observation, min_size=1, max_size=80),
    split=st.floats(0, 1),
    decided=st.lists(override, max_size=2),
    lookback=st.integers(1, 3),
)
def test_an_incremental_run_equals_a_full_rebuild(
    rows: list[tuple[int, int, int, int, int | None]],
    split: float,
    decided: list[tuple[int, int, int]],
    lookback: int,
) -> None:
    everything = observations(rows)
    after_seq = int(split * len(rows))
    policy = ReconcilePolicy(stale_lookback_days=lookback)
    decisions = overrides_frame(decided)
    before = reconcile_totals(
        everything.filter(pl.col("seq") <= after_seq), overrides=decisions, policy=policy
    )
    incremental = reconcile_window(
        everything, previous=before, dirty=dirty_cells(everything, after_seq=after_seq),
        overrides=decisions, policy=policy,
    ).reconciliation
    assert_same(incremental, reconcile_totals(everything, overrides=decisions, policy=policy))


def test_a_new_day_reconciles_its_year_not_the_history() -> None:
    # 60 days of two agreeing sources over the turn of the year, then day 61: the years
    # before the new day's are kept.
    rows = [(s, day, 0, 0, 3) for day in range(DAYS) for s in (0, 2)]
    old = observations(rows)
    new = observations([*rows, (0, DAYS, 0, 0, 3), (2, DAYS, 0, 9, 3)])
    before = reconcile_totals(old)
    result = reconcile_incremental(new, previous=before, after_seq=old.height,
                                   decisions_changed=False)
    assert result.mode == "window", result.reason
    # New day 2025-02-08: decisions from 2025-01-01; the last present day of 2024 is 12-31,
    # its look-back 12-28, so observations from 11-24 (December's evidence) are read again.
    assert result.reason == (
        "decisions from 2025-01-01, 0 of 122 observations before 2024-11-01 kept"
    )
    assert_same(result.reconciliation, reconcile_totals(new))
    conflict = result.reconciliation.discrepancies.filter(pl.col("kind") == "source_conflict")
    assert conflict["date"].to_list() == [DAY0 + dt.timedelta(days=DAYS)]


def test_decisions_since_the_previous_result_mean_a_full_reconcile() -> None:
    rows = [(0, day, 0, 0, 3) for day in range(5)]
    before = reconcile_totals(observations(rows[:4]))
    result = reconcile_incremental(observations(rows), previous=before, after_seq=4,
                                   decisions_changed=True)
    assert result.mode == "full" and "decisions" in result.reason
    nothing_new = reconcile_incremental(observations(rows[:4]), previous=before, after_seq=4,
                                        decisions_changed=False)
    assert nothing_new.mode == "unchanged"
    assert nothing_new.reconciliation is before


@pytest.mark.skipif(not MINFIN.exists(), reason=f"shared data not found at {SHARED}")
def test_the_pipeline_reconciles_a_window_and_publishes_what_a_rebuild_would(
    tmp_path: Path,
) -> None:
    # A history file of 2022-2026, then the posts and the ticker of 2024-01-30/31: the years
    # before 2024 are kept as they were decided.
    home = tmp_path / "home"
    ingest(home, MINFIN, source="minfin")
    assert build(home).reconciled.startswith("full")
    ingest(home, GS_EN_0130, GS_EN_0131, source="generalstaff.en")
    ingest(home, SEED, source="ticker.en")
    incremental = build(home)
    assert incremental.reconciled.startswith("window (decisions from 2024-01-01"), (
        incremental.reconciled
    )
    shutil.rmtree(home / "cache" / "reconciled")
    rebuilt = build(home)
    assert rebuilt.reconciled.startswith("full")
    for name in FRAMES:
        assert_frame_equal(
            getattr(incremental.reconciliation, name), getattr(rebuilt.reconciliation, name)
        )
    for name in FRAMES[:4]:  # and as published
        assert_frame_equal(getattr(incremental, name), getattr(rebuilt, name))
    # A decision taken since the last run: the window is not used.
    settings = RunSettings.resolve(home)
    with settings.store() as store:
        store.append([TotalOverridden(date=dt.date(2024, 1, 31), category="tanks", total=6312,
                                      reason="checked", actor="test")])
    decided = build(home)
    assert decided.reconciled.startswith("full (decisions"), decided.reconciled
    assert decided.daily_totals.filter(pl.col("status") == "overridden").height == 1
    # Nothing new since: the reconciliation is taken as it was.
    assert build(home).reconciled == "unchanged"


def test_a_cache_that_cannot_be_kept_is_logged_and_the_run_publishes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The caches are written by threads while the run publishes: a failure there is a
    # warning, not an error raised into a run that has published (the cache is a
    # convenience). Here ``cache/reconciled`` is a file, so no directory can be made in it.
    home = tmp_path / "home"
    ingest(home, GS_EN_0130, source="generalstaff.en")
    (home / "cache").mkdir(parents=True)
    (home / "cache" / "reconciled").write_text("not a directory")
    with caplog.at_level("WARNING", logger="lossledger"):
        first = build(home, publish_to=home / "warehouse")
    assert first.reconciled.startswith("full"), first.reconciled
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        "could not keep the cache" in message and "reconciled" in message
        for message in warnings
    ), warnings
    published = pl.read_parquet(home / "warehouse" / "daily_totals" / "**" / "*.parquet")
    assert published.height == first.daily_totals.height > 0
    # Nothing was kept, so the next run reconciles in full again, and keeps it this time.
    (home / "cache" / "reconciled").unlink()
    ingest(home, GS_EN_0131, source="generalstaff.en")
    second = build(home, publish_to=home / "warehouse")
    assert second.reconciled.startswith("full (no previous"), second.reconciled
    # The second run's reconciliation was kept: the third starts from it (all three days
    # lie in one year with nothing before it, so the window is the whole history).
    ingest(home, SEED, source="ticker.en")
    third = build(home, publish_to=home / "warehouse").reconciled
    assert third == "full (no present day before the window)", third


def test_a_damaged_reconcile_cache_means_a_full_reconcile(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ingest(home, GS_EN_0130, source="generalstaff.en")
    build(home)
    [totals] = (home / "cache" / "reconciled").glob("*/*.daily_totals.parquet")
    totals.write_bytes(b"PAR1 not a parquet file PAR1")
    ingest(home, GS_EN_0131, source="generalstaff.en")
    again = build(home)
    assert again.reconciled == "full (no previous reconciliation)", again.reconciled
    assert again.daily_totals.height > 0


def test_the_kept_totals_merge_with_the_window_as_a_sort_of_both_would() -> None:
    """The previous rows up to the earliest anchor are taken as they are; the rest is sorted
    with the window's rows, and a category's previous rows after its anchor go (even those
    the window does not give again)."""
    from lossledger.reconcile.window import _merged_totals, _outside

    days = [DAY0 + dt.timedelta(days=i) for i in range(6)]
    previous = pl.DataFrame({
        "date": [d for d in days for _ in CATEGORIES],
        "category": [c for _ in days for c in CATEGORIES],
        "total": list(range(len(days) * len(CATEGORIES))),
    }).sort("date", "category")  # as every daily totals frame is
    bounds = pl.DataFrame({"category": list(CATEGORIES),
                           "anchor": [days[3], days[1], days[4]]})
    # The window gives drones from its anchor on, tanks only from its anchor's second day on.
    inside = pl.DataFrame({
        "date": [days[5], days[2], days[3], days[4], days[5]],
        "category": ["tanks", "aircraft", "aircraft", "aircraft", "aircraft"],
        "total": [-1, -2, -3, -4, -5],
    })
    merged, until = _merged_totals(previous, inside, bounds)
    assert until == days[1]  # aircraft's anchor: the earliest
    assert_frame_equal(
        merged, pl.concat([_outside(previous, bounds), inside]).sort("date", "category"))
    assert ("tanks", days[4]) not in set(zip(merged["category"], merged["date"], strict=True))
    # Kept: tanks up to day 3, aircraft up to day 1, drones up to day 4.
    assert merged.height == 4 + 2 + 5 + inside.height


def test_a_category_without_an_anchor_keeps_none_of_its_rows_in_the_merge() -> None:
    """A category new since the window's year has no anchor: its previous rows all go, and
    the rows kept as they are end before its first one."""
    from lossledger.reconcile.window import _merged_totals, _outside

    days = [DAY0 + dt.timedelta(days=i) for i in range(6)]
    previous = pl.DataFrame({
        "date": [d for d in days for _ in CATEGORIES],
        "category": [c for _ in days for c in CATEGORIES],
        "total": list(range(len(days) * len(CATEGORIES))),
    }).filter((pl.col("category") != "drones") | (pl.col("date") >= days[2])
              ).sort("date", "category")
    bounds = pl.DataFrame({"category": list(CATEGORIES),
                           "anchor": [days[4], days[4], None]})
    inside = pl.DataFrame({"date": [days[2], days[3], days[5], days[5]],
                           "category": ["drones", "drones", "drones", "tanks"],
                           "total": [-1, -2, -3, -4]})
    merged, until = _merged_totals(previous, inside, bounds)
    assert until == days[1]
    assert_frame_equal(
        merged, pl.concat([_outside(previous, bounds), inside]).sort("date", "category"))
