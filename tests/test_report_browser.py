"""The HTML report as a person sees it: opened offline in a real headless Chromium."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest

import lossledger
from lossledger.report.html import write_report
from tests.browser import chromium_path, open_page
from tests.conftest import GS_EN_0130, GS_EN_0131, REPO, SEED
from tests.helpers import build, ingest

INBOX = REPO / "data" / "samples" / "inbox"
CHARTS = ("series", "deltas", "agreement", "runs", "quarantine")
# Vega's SVG renderer draws each mark group as <g class="mark-<type> ...">.
COUNT_MARKS = """
Object.fromEntries([...document.querySelectorAll('figure[data-chart]')].map(f => [
  f.dataset.chart,
  [...f.querySelectorAll('g.mark-line path, g.mark-area path, g.mark-symbol path,'
      + ' g.mark-rect path')].filter(p => (p.getAttribute('d') || '').length > 2).length,
]))
"""
LATEST_ROWS = """
({date: document.querySelector('#latest-day').dataset.date,
  rows: [...document.querySelectorAll('#latest-day tbody tr')].map(tr => [
    tr.dataset.category, tr.querySelector('td.total').textContent,
    tr.querySelector('td.status').textContent])})
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        if os.environ.get("LOSSLEDGER_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required here (LOSSLEDGER_REQUIRE_CHROMIUM) but not found")
        pytest.skip("chromium not installed: `apt-get install chromium` (.ci/run installs it)")
    return path


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed scenario, four weeks of sample reports and the minfin history, published."""
    home = tmp_path_factory.mktemp("home")
    ingest(home, SEED, source="ticker.en")
    ingest(home, GS_EN_0130, GS_EN_0131, source="generalstaff.en")
    for source in ("ticker.de", "api.losses", "generalstaff.uk", "history.minfin"):
        ingest(home, INBOX / source, source=source)
    build(home, publish_to=home / "warehouse")
    return home


def test_report_opens_offline_with_every_chart_drawn_and_the_latest_day(
    chromium: str, published: Path, tmp_path: Path
) -> None:
    built = write_report(published / "warehouse", tmp_path / "index.html")
    assert set(built.charts) == set(CHARTS)
    with open_page(built.path.as_uri(), executable=chromium) as page:
        marks = page.evaluate(COUNT_MARKS)
        latest = page.evaluate(LATEST_ROWS)
        watermark = page.evaluate("document.querySelector('#watermark').textContent")
        shot = page.screenshot(tmp_path / "report.png")
        errors, requests = page.console_errors, page.requests

    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert set(marks) == set(CHARTS)
    assert all(n > 0 for n in marks.values()), marks
    # The latest day is the minfin file's last row; its figures are in the table.
    totals = lossledger.scan("daily_totals", home=published).collect()
    last = totals["date"].max()
    assert isinstance(latest, dict), latest
    assert latest["date"] == last.isoformat() == dt.date(2026, 8, 22).isoformat()
    expected = totals.filter(pl.col("date") == last)
    shown = {category: (int(total.replace(",", "")), status)
             for category, total, status in latest["rows"]}
    assert shown == {r["category"]: (r["total"], r["status"]) for r in expected.to_dicts()}
    assert shown["tanks"] == (12292, "single_source")
    assert shown["personnel"][0] == 1475270
    assert int(watermark) > 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
