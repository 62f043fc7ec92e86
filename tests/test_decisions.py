"""Decisions are events: override, retract, revert, and publishing as of an earlier event."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from lossledger.pipeline import RunSettings
from lossledger.store.events import DecisionReverted, ReportRetracted, TotalOverridden
from tests.conftest import GS_EN_0130, GS_EN_0131, SEED
from tests.helpers import build, ingest

JAN31 = dt.date(2024, 1, 31)


def append(home: Path, decision) -> int:
    with RunSettings.resolve(home).store() as store:
        return store.append([decision]).recorded[0].seq


def special_equipment(tables) -> dict:
    return tables.daily_totals.filter(
        (pl.col("date") == JAN31) & (pl.col("category") == "special_equipment")
    ).row(0, named=True)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    ingest(tmp_path, SEED, source="ticker.en")
    ingest(tmp_path, GS_EN_0130, GS_EN_0131, source="generalstaff.en")
    return tmp_path


def official_0131_event(tables) -> str:
    return tables.reports.filter(pl.col("file_name") == GS_EN_0131.name)["event_id"].item()


def test_override_sets_the_total_and_revert_undoes_it(home: Path) -> None:
    override = TotalOverridden(date=JAN31, category="special_equipment", total=1450,
                               reason="checked with the source", actor="analyst")
    seq = append(home, override)
    overridden = special_equipment(build(home))
    assert (overridden["total"], overridden["status"]) == (1450, "overridden")
    assert override.event_id in overridden["event_ids"]
    assert overridden["seq"] == seq
    append(home, DecisionReverted(target_event_id=override.event_id, reason="wrong",
                                  actor="analyst"))
    restored = special_equipment(build(home))
    # Issue 11: the official delta (1448 + 4) pins the total: the series decides.
    assert (restored["total"], restored["status"]) == (1452, "series")


def test_retracting_a_report_removes_it_from_the_consensus(home: Path) -> None:
    tables = build(home)
    official = official_0131_event(tables)
    retraction = ReportRetracted(target_event_id=official, reason="bad copy", actor="analyst")
    append(home, retraction)
    after = build(home)
    chosen = special_equipment(after)
    assert (chosen["total"], chosen["status"]) == (1448, "single_source")
    assert official not in chosen["event_ids"]
    report = after.reports.filter(pl.col("event_id") == official).row(0, named=True)
    assert report["status"] == "retracted"
    kept = after.observations.filter(pl.col("event_id") == official)
    assert kept.height == 14 and kept["retracted"].all()  # still visible, flagged
    append(home, DecisionReverted(target_event_id=retraction.event_id, reason="was fine",
                                  actor="analyst"))
    assert special_equipment(build(home))["total"] == 1452


def test_as_of_publishes_what_was_known_then(home: Path, tmp_path: Path) -> None:
    now = build(home, publish_to=tmp_path / "now")
    then = build(home, as_of=1, publish_to=tmp_path / "then")
    assert special_equipment(now)["total"] == 1452
    assert special_equipment(then)["total"] == 1448
    assert then.reports.height == 1
    assert then.daily_totals["date"].unique().to_list() == [JAN31]
    assert then.discrepancies.is_empty()
    assert (now.daily_totals["seq"].max(), then.daily_totals["seq"].max()) == (3, 1)
    published_then = pl.read_parquet(tmp_path / "then" / "daily_totals" / "**/*.parquet")
    assert published_then.height == then.daily_totals.height
