"""Refreshing the home's HTML report: unchanged charts from the SVG cache, and the refresh a run
leaves to a process of its own, waited for through its lock. Real processes, real files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lossledger.report.background import outcome_file, start_refresh, wait_for_refresh
from lossledger.report.html import write_report
from tests.conftest import GS_EN_0130, GS_EN_0131, SEED
from tests.helpers import build, ingest

_GENERATED = re.compile(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[^<\"]*")
#: Vega numbers gradients in the order a process draws them: ids, not drawing.
_GRADIENT = re.compile(r"gradient_\d+")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    ingest(home, SEED, source="ticker.en")
    ingest(home, GS_EN_0130, GS_EN_0131, source="generalstaff.en")
    build(home, publish_to=home / "warehouse")
    return home


def _page(path: Path) -> str:
    """The page without its generation time and gradient numbers (what differs between writes)."""
    page = _GENERATED.sub("<time>", path.read_text(encoding="utf-8"))
    return _GRADIENT.sub("gradient", page)


def test_unchanged_charts_come_from_the_cache_and_draw_the_same_page(
    published: Path, tmp_path: Path
) -> None:
    uncached = write_report(published / "warehouse", tmp_path / "plain" / "index.html")
    assert not (tmp_path / "plain" / ".charts").exists()
    target = tmp_path / "cached" / "index.html"
    first = write_report(published / "warehouse", target, cache_charts=True)
    cached = sorted((target.parent / ".charts").glob("*.svg"))
    assert len(cached) == len(first.charts) == len(uncached.charts) > 0
    assert _page(target) == _page(uncached.path)

    # A second write takes every chart from the cache: a mark left in one shows in the page.
    cached[0].write_text(cached[0].read_text().replace("</svg>", "<!-- from the cache --></svg>"))
    stale = target.parent / ".charts" / f"{'0' * 64}.svg"
    stale.write_text("<svg></svg>")
    write_report(published / "warehouse", target, cache_charts=True)
    assert "<!-- from the cache -->" in target.read_text()
    assert not stale.exists()  # only the charts of the page written are kept


def _lossledger(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOSSLEDGER_")}
    return subprocess.run([sys.executable, "-m", "lossledger", *args], capture_output=True,
                          text=True, timeout=300, check=False, env={**env, "COLUMNS": "200"})


def test_a_background_refresh_is_waited_for_and_says_how_it_went(
    published: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(published, home, symlinks=True)
    # The home's report, refreshed from its warehouse by a process of its own.
    assert start_refresh(home, home / "warehouse") > 0
    outcome = wait_for_refresh(home)
    assert outcome is not None and outcome["ok"], outcome
    page = (home / "report" / "index.html").read_text()
    assert 'data-category="special_equipment" data-total="1452"' in page
    assert page.count('class="chart"') == len(list((home / "report" / ".charts").glob("*.svg")))
    said = _lossledger("report", "--wait", "--home", str(home))
    assert said.returncode == 0, said.stderr
    assert f"report: {(home / 'report' / 'index.html').resolve()} (refreshed in" in said.stdout

    # A refresh that fails leaves the page as it was and says why; waiting reports it.
    other = tmp_path / "other"
    (other / "report").mkdir(parents=True)
    (other / "report" / "index.html").write_text(page)
    start_refresh(other, other / "warehouse")  # nothing published there
    outcome = wait_for_refresh(other, timeout_s=300)
    assert outcome is not None and not outcome["ok"]
    assert "nothing published" in outcome["error"]
    assert (other / "report" / "index.html").read_text() == page
    said = _lossledger("report", "--wait", "--home", str(other))
    assert said.returncode == 2
    assert "background refresh failed" in said.stderr and "report.log" in said.stderr
    assert "Traceback" in (other / "logs" / "report.log").read_text()


def test_waiting_without_a_background_refresh_returns_at_once(tmp_path: Path) -> None:
    assert wait_for_refresh(tmp_path / "home") is None
    assert not outcome_file(tmp_path / "home").exists()
    said = _lossledger("report", "--wait", "--home", str(tmp_path / "home"))
    assert said.returncode == 2
    assert "no report at" in said.stderr
