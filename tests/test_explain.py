"""``lossledger explain``: every number traced to its sources, raw lines and rule."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lossledger.cli import app
from lossledger.pipeline import RunSettings
from lossledger.report.explain import explain_cell
from lossledger.store.events import FetchFailed, TotalOverridden
from tests.conftest import GS_EN_0130, GS_EN_0131, REPO, SEED
from tests.helpers import build, ingest

JAN31 = dt.date(2024, 1, 31)
SAMPLE_GS_0129 = REPO / "data" / "samples" / "inbox" / "generalstaff.en" / "2024-01-29.txt"
runner = CliRunner()


def publish(home: Path) -> None:
    build(home, publish_to=home / "warehouse")


def explain(home: Path, date: dt.date, category: str) -> dict:
    settings = RunSettings.resolve(home)
    with settings.store() as store:
        return explain_cell(store, settings.warehouse, date=date, category=category)


def cli(*args: str) -> str:
    """The command's output with rich's wrapping and box lines undone (one line of words)."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    if "--json" in args:
        return result.output
    return " ".join(result.output.replace("│", " ").split())


@pytest.fixture
def seed_home(tmp_path: Path) -> Path:
    ingest(tmp_path, SEED, source="ticker.en")
    ingest(tmp_path, GS_EN_0130, GS_EN_0131, source="generalstaff.en")
    publish(tmp_path)
    return tmp_path


def test_seed_cell_shows_both_sources_their_raw_lines_and_the_rule(seed_home: Path) -> None:
    doc = explain(seed_home, JAN31, "special_equipment")
    assert doc["published"]["total"] == 1452
    # The official post's own stated change (+4 on 1448 the day before) pins 1452: the series
    # decides, not the ranking of source kinds (issue 11).
    assert doc["published"]["status"] == "series"
    assert doc["rule"].startswith("series:") and "evidence: stated_delta" in doc["rule"]
    by_source = {o["source"]: o for o in doc["observations"]}
    assert set(by_source) == {"ticker.en", "generalstaff.en"}
    ticker, official = by_source["ticker.en"], by_source["generalstaff.en"]
    assert (ticker["total"], official["total"]) == (1448, 1452)
    assert ticker["file_name"] == SEED.name and official["file_name"] == GS_EN_0131.name
    assert ticker["parser"] == "ticker_en" and official["parser"] == "gs_en"
    # The exact lines of the stored raw reports, the figure marked within them.
    for row, raw in ((ticker, SEED), (official, GS_EN_0131)):
        line = row["raw_line"]
        assert line["text"] == raw.read_text(encoding="utf-8").splitlines()[line["line_no"] - 1]
    assert ticker["raw_line"]["text"].endswith("Special equipment: 1448 (+5)")
    assert official["raw_line"]["text"] == "special equipment ‒ 1452 (+4)."
    for row, figure in ((ticker, "1448"), (official, "1452")):
        line = row["raw_line"]
        assert line["text"][line["figure_start"]:line["figure_end"]] == figure
    (conflict,) = doc["discrepancies"]
    assert conflict["kind"] == "source_conflict" and conflict["source"] == "ticker.en"
    assert conflict["detail"].startswith("stale")
    assert "decided by stated delta" in conflict["detail"]
    assert set(doc["event_ids"]) == {ticker["event_id"], official["event_id"]}
    assert [n["date"] for n in doc["neighbours"]] == ["2024-01-30", "2024-01-31"]


def test_cli_prints_the_lines_and_the_rule_and_json_carries_the_same(seed_home: Path) -> None:
    text = cli("explain", "2024-01-31", "special_equipment", "--home", str(seed_home))
    assert "Special equipment: 1448 (+5)" in text
    assert "special equipment ‒ 1452 (+4)." in text
    assert "series:" in text and "stale: equals 2024-01-30 total" in text
    doc = json.loads(cli("explain", "2024-01-31", "special_equipment", "--json",
                         "--home", str(seed_home)))
    assert doc["published"]["total"] == 1452
    assert sorted(o["total"] for o in doc["observations"]) == [1448, 1452]


def test_overridden_cell_names_the_decision_and_keeps_the_sources(seed_home: Path) -> None:
    override = TotalOverridden(date=JAN31, category="special_equipment", total=1450,
                               reason="checked with the ministry", actor="analyst")
    with RunSettings.resolve(seed_home).store() as store:
        store.append([override])
    publish(seed_home)
    doc = explain(seed_home, JAN31, "special_equipment")
    assert (doc["published"]["total"], doc["published"]["status"]) == (1450, "overridden")
    assert doc["rule"].startswith("overridden:")
    (decision,) = doc["overrides"]
    assert decision["event_id"] == override.event_id
    assert decision["reason"] == "checked with the ministry"
    assert sorted(o["total"] for o in doc["observations"]) == [1448, 1452]
    assert override.event_id in doc["event_ids"]
    text = cli("explain", "2024-01-31", "special_equipment", "--home", str(seed_home))
    assert "override" in text and "checked with the ministry" in text


def test_inferred_cell_says_how_it_was_inferred(tmp_path: Path) -> None:
    ingest(tmp_path, SAMPLE_GS_0129, GS_EN_0131, source="generalstaff.en")
    publish(tmp_path)
    doc = explain(tmp_path, dt.date(2024, 1, 30), "tanks")
    assert doc["published"]["status"] == "inferred"
    assert doc["published"]["total"] == 6310 - 10
    assert doc["rule"].startswith("inferred:")
    assert doc["observations"] == []
    (gap,) = doc["discrepancies"]
    assert gap["kind"] == "gap" and gap["detail"] == "inferred from 2024-01-31 stated delta"
    assert doc["fetch_failures"] == []
    assert [n["date"] for n in doc["neighbours"]] == ["2024-01-29", "2024-01-30", "2024-01-31"]


def test_a_cell_without_data_says_so(seed_home: Path) -> None:
    doc = explain(seed_home, dt.date(2023, 5, 1), "tanks")
    assert doc["published"] is None and doc["observations"] == []
    text = cli("explain", "2023-05-01", "tanks", "--home", str(seed_home))
    assert "No published total for tanks on 2023-05-01" in text


def test_a_gap_names_the_fetch_failures_of_that_day(seed_home: Path) -> None:
    failure = FetchFailed(source="statistics-api", url="http://127.0.0.1:1/2024-02-01",
                          date=dt.date(2024, 2, 1), status=503, error="HTTP 503", attempts=3)
    with RunSettings.resolve(seed_home).store() as store:
        store.append([failure])
    publish(seed_home)
    doc = explain(seed_home, dt.date(2024, 2, 1), "tanks")
    assert doc["published"] is None
    assert [f["event_id"] for f in doc["fetch_failures"]] == [failure.event_id]
    text = cli("explain", "2024-02-01", "tanks", "--home", str(seed_home))
    assert "statistics-api answered 503 on 2024-02-01" in text
    assert explain(seed_home, JAN31, "tanks")["fetch_failures"] == []


def test_explain_before_any_run_is_a_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["explain", "2024-01-31", "tanks", "--home", str(tmp_path)])
    assert result.exit_code != 0
    assert "nothing published" in str(result.exception)
