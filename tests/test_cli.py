"""The command line as a user meets it: real processes, real files, exit codes and messages."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import lossledger as lossledger_api
from tests.conftest import GS_EN_0130, GS_EN_0131, SEED


def lossledger(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "lossledger", *args, "--home", str(home)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    (path / "ticker.en").mkdir(parents=True)
    (path / "generalstaff.en").mkdir()
    shutil.copy(SEED, path / "ticker.en")
    shutil.copy(GS_EN_0130, path / "generalstaff.en")
    shutil.copy(GS_EN_0131, path / "generalstaff.en")
    return path


def test_ingesting_the_same_files_twice_adds_nothing(tmp_path: Path, inbox: Path) -> None:
    home = tmp_path / "home"
    first = lossledger("ingest", str(inbox), home=home)
    assert "3 files: 3 new, 0 duplicate" in first.stdout
    again = lossledger("ingest", str(inbox / "ticker.en" / SEED.name), home=home)
    assert "1 files: 0 new, 1 duplicate" in again.stdout
    with sqlite3.connect(home / "events.sqlite") as db:
        sources = db.execute("SELECT payload FROM events ORDER BY seq").fetchall()
    assert len(sources) == 3
    assert '"source": "ticker.en"' in sources[-1][0] or any(
        '"source": "ticker.en"' in s[0] for s in sources
    )


def test_verify_passes_then_names_the_first_tampered_event(tmp_path: Path, inbox: Path) -> None:
    home = tmp_path / "home"
    lossledger("ingest", str(inbox), home=home)
    assert "ok: 3 events" in lossledger("verify", home=home).stdout
    copy = tmp_path / "tampered"
    copy.mkdir()
    shutil.copy(home / "events.sqlite", copy / "events.sqlite")
    with sqlite3.connect(copy / "events.sqlite") as db:
        db.execute("DROP TRIGGER events_refuse_update")
        db.execute("UPDATE events SET body = replace(body, '6310', '6311') WHERE seq = 2")
    result = lossledger("verify", home=copy, check=False)
    assert result.returncode == 1
    assert "verify failed at seq 2" in result.stderr
    assert lossledger("verify", home=home).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "/nonexistent/reports"], "no such file or directory: /nonexistent/reports"),
        (["override", "2024-13-01", "tanks", "1", "--reason", "x"], "not a date"),
        (["override", "2024-01-31", "tankz", "1", "--reason", "x"], "unknown category 'tankz'"),
        (["retract", "feedbeef", "--reason", "x"], "no event 'feedbeef'"),
        (["rebuild", "--as-of", "yesterday"], "--as-of takes a sequence number"),
    ],
)
def test_user_errors_print_one_line_and_no_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = lossledger(*args, home=tmp_path / "home", check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "events.sqlite").write_text("my shopping list")
    result = lossledger("status", home=home, check=False)
    assert result.returncode == 2
    assert "is not a lossledger event store" in result.stderr


@pytest.mark.usefixtures("prefect_env")
def test_override_and_revert_from_the_command_line(tmp_path: Path, inbox: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    os.environ["PREFECT_API_URL"] = str(PREFECT_API_URL.value())  # the session's server
    try:
        home = tmp_path / "home"
        assert "source_conflict" in lossledger("run", "--inbox", str(inbox), home=home).stdout
        decided = lossledger("override", "2024-01-31", "tanks", "6312", "--reason",
                             "checked against the post", home=home).stdout
        event_id = decided.split()[2]
        lossledger("run", home=home)
        assert published_tanks(home) == (6312, "overridden")
        lossledger("revert", event_id[:8], "--reason", "my mistake", home=home)
        lossledger("run", home=home)
        assert published_tanks(home) == (6310, "confirmed")
        again = lossledger("revert", event_id, home=home, check=False)
        assert again.returncode == 2 and "already reverted" in again.stderr
        assert "nothing new" in lossledger("run", home=home).stdout
    finally:
        os.environ.pop("PREFECT_API_URL")


def published_tanks(home: Path) -> tuple[int, str]:
    row = (
        lossledger_api.scan("daily_totals", home=home)
        .filter((pl.col("date") == dt.date(2024, 1, 31)) & (pl.col("category") == "tanks"))
        .collect()
        .row(0, named=True)
    )
    return row["total"], row["status"]
