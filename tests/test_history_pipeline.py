"""The two shared history series through the whole pipeline: ingest, parse, reconcile.

Expected rows are computed independently, with plain polars over the raw files
(``tests/reconcile_frames.py``), never through lossledger's parsers.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import SHARED
from tests.helpers import build, ingest
from tests.reconcile_frames import minfin_series, petroivaniuk_series
from tests.test_reconcile_shared_data import _decreases_in_equipment_file

PETROIVANIUK = SHARED / "data" / "petroivaniuk"
MINFIN = SHARED / "data" / "minfin" / "russia_losses.csv"
EQUIPMENT = PETROIVANIUK / "russia_losses_equipment.json"
PERSONNEL = PETROIVANIUK / "russia_losses_personnel.json"
KEY = ["date", "category"]

pytestmark = pytest.mark.skipif(not MINFIN.exists(), reason=f"shared data not found at {SHARED}")


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("histories")
    ingest(home, EQUIPMENT, PERSONNEL, source="petroivaniuk")
    ingest(home, MINFIN, source="minfin")
    return build(home)


def test_each_history_file_is_one_event_with_one_observation_per_cell(two_sources) -> None:
    reports = two_sources.reports.sort("seq")
    assert reports["parser"].to_list() == [
        "history_petroivaniuk", "history_petroivaniuk", "history_minfin"
    ]
    assert set(reports["status"]) == {"parsed"}
    expected = petroivaniuk_series().height + minfin_series().height
    assert two_sources.observations.height == expected


def test_source_conflicts_are_exactly_the_cells_where_the_series_differ(two_sources) -> None:
    petroivaniuk, minfin = petroivaniuk_series(), minfin_series()
    differing = (
        petroivaniuk.join(minfin, on=KEY, suffix="_minfin")
        .filter(pl.col("total") != pl.col("total_minfin"))
        .select(*KEY, low=pl.min_horizontal("total", "total_minfin"),
                high=pl.max_horizontal("total", "total_minfin"))
        .sort(KEY)
    )
    conflicts = two_sources.discrepancies.filter(pl.col("kind") == "source_conflict")
    assert differing.height == 143
    # Each conflict pairs the published value with the other file's (issue 11: which one is
    # published follows from the evidence, not from which file came last).
    assert conflicts.select(
        *KEY,
        low=pl.min_horizontal("expected", "observed"),
        high=pl.max_horizontal("expected", "observed"),
    ).sort(KEY).equals(differing)
    assert set(conflicts["source"]) == {"petroivaniuk", "minfin"}
    assert conflicts["run_id"].is_not_null().all()


def _by_content(tables, name: str) -> pl.DataFrame:
    """A published table with event ids replaced by their reports' content hashes and the
    log positions (``seq``) dropped: what must not depend on ingest order."""
    sha = dict(tables.reports.select("event_id", "sha256").iter_rows())
    frame = getattr(tables, name)
    if "event_ids" in frame.columns:
        frame = frame.with_columns(
            pl.col("event_ids").list.eval(pl.element().replace_strict(sha)).list.sort()
        )
    return frame.drop("seq", strict=False)


def test_the_published_tables_do_not_depend_on_ingest_order(
    two_sources, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 11: the same two real files ingested the other way round."""
    home = tmp_path_factory.mktemp("histories-reversed")
    ingest(home, MINFIN, source="minfin")
    ingest(home, EQUIPMENT, PERSONNEL, source="petroivaniuk")
    reversed_ = build(home)
    for name in ("daily_totals", "discrepancies", "disagreement_runs", "sources"):
        assert _by_content(reversed_, name).equals(_by_content(two_sources, name)), name
    assert two_sources.disagreement_runs.height == 90
    assert two_sources.sources["source"].to_list() == ["minfin", "petroivaniuk"]


def test_the_equipment_series_decreases_are_its_restatements(tmp_path: Path) -> None:
    ingest(tmp_path, EQUIPMENT, source="petroivaniuk")
    restatements = (
        build(tmp_path).discrepancies.filter(pl.col("kind") == "restatement")
        .select(*KEY, "expected", "observed").sort(KEY).rows()
    )
    decreases = _decreases_in_equipment_file()
    assert len(decreases) == 13
    assert restatements == decreases


def test_a_newer_version_of_a_history_file_speaks_for_its_source(tmp_path: Path) -> None:
    rows = json.loads(EQUIPMENT.read_text(encoding="utf-8"))
    revised_day = next(r for r in rows if r["date"] == "2024-01-31")
    revised_day["tank"] = 6311
    newer = tmp_path / "v2" / EQUIPMENT.name
    newer.parent.mkdir()
    newer.write_text(json.dumps(rows), encoding="utf-8")
    home = tmp_path / "home"
    ingest(home, EQUIPMENT, source="petroivaniuk")
    ingest(home, newer, source="petroivaniuk")
    tables = build(home)
    old_id, new_id = tables.reports.sort("seq")["event_id"].to_list()
    revisions = tables.discrepancies.filter(pl.col("kind") == "revision")
    assert revisions.select(*KEY, "expected", "observed", "source").rows() == [
        (dt.date(2024, 1, 31), "tanks", 6311, 6310, "petroivaniuk")
    ]
    assert sorted(revisions["event_ids"][0]) == sorted([old_id, new_id])
    tank = tables.daily_totals.filter(
        (pl.col("date") == dt.date(2024, 1, 31)) & (pl.col("category") == "tanks")
    ).row(0, named=True)
    assert (tank["total"], tank["status"], tank["event_ids"]) == (6311, "single_source", [new_id])


def test_status_shows_the_scorecard_of_the_sources(tmp_path: Path) -> None:
    from rich.console import Console

    from lossledger.pipeline import RunSettings
    from lossledger.status import status_tables

    home = tmp_path / "home"
    ingest(home, MINFIN, source="minfin")
    build(home, publish_to=home / "warehouse")
    settings = RunSettings.resolve(home)
    console = Console(width=200, record=True)
    with settings.store() as store:
        for table in status_tables(store, settings):
            console.print(table)
    text = console.export_text()
    assert "sources" in text
    line = next(line for line in text.splitlines() if line.lstrip("│ ").startswith("minfin"))
    cells = [cell.strip() for cell in line.strip("│ ").split("│")]
    assert cells[:5] == ["minfin", "history", str(minfin_series().height), "100.00%", "0"]
    assert cells[-2:] == ["2022-02-24", "2026-08-22"]
