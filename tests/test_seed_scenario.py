"""The foundation's acceptance scenario: the seed page, then the General Staff posts beside it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import GS_EN_0130, GS_EN_0131, SEED
from tests.helpers import build, ingest

JAN31 = dt.date(2024, 1, 31)


def total_row(tables, category: str, date: dt.date = JAN31) -> dict:
    rows = tables.daily_totals.filter(
        (pl.col("date") == date) & (pl.col("category") == category)
    ).to_dicts()
    assert len(rows) <= 1
    return rows[0] if rows else {}


@pytest.fixture
def seed_home(tmp_path: Path) -> Path:
    ingest(tmp_path, SEED, source="ticker.en")
    return tmp_path


def test_seed_alone_publishes_each_figure_on_its_own_category(seed_home: Path) -> None:
    tables = build(seed_home)
    personnel = total_row(tables, "personnel")
    assert (personnel["total"], personnel["stated_delta"]) == (385230, 1090)
    assert personnel["status"] == "single_source"
    tanks = total_row(tables, "tanks")
    assert (tanks["total"], tanks["stated_delta"]) == (6310, 10)
    assert total_row(tables, "mlrs") == {}
    air_defense = total_row(tables, "air_defense")
    assert (air_defense["total"], air_defense["stated_delta"]) == (663, None)
    special = total_row(tables, "special_equipment")
    assert (special["total"], special["stated_delta"]) == (1448, 5)
    assert set(tables.daily_totals["date"]) == {JAN31}
    assert tables.daily_totals.height == 13


def test_seed_observations_carry_their_qualifier_and_trace_to_the_event(seed_home: Path) -> None:
    tables = build(seed_home)
    (event_id,) = tables.reports["event_id"].to_list()
    personnel = tables.observations.filter(pl.col("category") == "personnel").row(0, named=True)
    assert personnel["qualifier"] == "around"
    assert personnel["event_id"] == event_id
    assert personnel["parser"] == "ticker_en"
    assert all(ids == [event_id] for ids in tables.daily_totals["event_ids"].to_list())
    report = tables.reports.row(0, named=True)
    assert report["report_date"] == JAN31
    assert report["source"] == "ticker.en"
    assert report["status"] == "parsed"


def test_previous_day_post_exposes_the_stale_delta(seed_home: Path) -> None:
    ingest(seed_home, GS_EN_0130, source="generalstaff.en")
    tables = build(seed_home)
    mismatch = tables.discrepancies.filter(
        (pl.col("kind") == "delta_mismatch") & (pl.col("category") == "special_equipment")
    ).to_dicts()
    assert len(mismatch) == 1
    assert mismatch[0]["date"] == JAN31
    assert (mismatch[0]["observed"], mismatch[0]["expected"]) == (5, 0)


def test_same_day_official_post_wins_and_the_seed_conflicts(seed_home: Path) -> None:
    ingest(seed_home, GS_EN_0130, GS_EN_0131, source="generalstaff.en")
    tables = build(seed_home)
    special = total_row(tables, "special_equipment")
    assert special["total"] == 1452
    assert special["stated_delta"] == 4
    # Issue 11: decided by the official post's stated delta, before priority is asked.
    assert (special["status"], special["evidence"]) == ("series", "stated_delta")
    conflict = tables.discrepancies.filter(
        (pl.col("kind") == "source_conflict") & (pl.col("category") == "special_equipment")
    ).to_dicts()
    assert len(conflict) == 1
    assert conflict[0]["source"] == "ticker.en"
    assert (conflict[0]["expected"], conflict[0]["observed"]) == (1452, 1448)
    assert conflict[0]["detail"].startswith("stale")
    # The seed's MLRS line is missing; the official post supplies it.
    assert total_row(tables, "mlrs")["total"] == 974
    # Every figure the two agree on is confirmed by both.
    tanks = total_row(tables, "tanks")
    assert (tanks["status"], tanks["n_sources"]) == ("confirmed", 2)
