"""The flow when runs repeat, overlap or fail: what it leaves on disk.

Flows run in-process against the session's temporary Prefect server (``prefect_env``); the
two concurrent runs are separate OS processes (``python -m lossledger run``) pointed at that
same server through ``PREFECT_API_URL``, so neither pays for an ephemeral server of its own.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest

import lossledger
from lossledger.pipeline import RunSettings
from lossledger.projection import TABLES
from lossledger.publish.warehouse import read_state
from lossledger.store.events import UnreadableEvent
from tests.conftest import GS_EN_0130, GS_EN_0131, REPO, SEED, drop
from tests.helpers import ingest
from tests.test_warehouse import block_next_version, next_month_post, rewritten, snapshot

pytestmark = pytest.mark.usefixtures("prefect_env")

WAITING = "another lossledger run holds the lock; waiting"
FEBRUARY = [
    f"{table}/year=2024/month=02"
    for table in ("reports", "observations", "daily_totals", "discrepancies")
]


@pytest.fixture
def published(tmp_path: Path, inbox: Path) -> Path:
    """A home the flow published from an inbox of the three January reports."""
    from flows.pipeline import pipeline

    drop(inbox, "ticker.en", SEED)
    drop(inbox, "generalstaff.en", GS_EN_0130, GS_EN_0131)
    home = tmp_path / "home"
    assert pipeline(home=str(home), inbox=str(inbox))["watermark_after"] == 3
    return home


def test_a_second_run_with_nothing_new_changes_no_file(published: Path, inbox: Path) -> None:
    from flows.pipeline import pipeline

    before = snapshot(published)
    summary = pipeline(home=str(published), inbox=str(inbox))
    assert summary["nothing_new"] is True
    # The whole home: store, lock, parse cache, warehouse and its state; bytes and mtimes.
    assert snapshot(published) == before


def test_one_new_report_rewrites_only_its_months_partitions(
    published: Path, inbox: Path, tmp_path: Path
) -> None:
    from flows.pipeline import pipeline

    drop(inbox, "generalstaff.en", next_month_post(tmp_path))
    before = snapshot(published / "warehouse")
    summary = pipeline(home=str(published), inbox=str(inbox))
    assert summary["ingested"]["new"] == 1
    after = snapshot(published / "warehouse")
    # Issue 11: the re-dated post's 1 Feb delta pins 31 Jan too (see test_warehouse), so
    # January's totals and discrepancies change with it, and the scorecard counts the cells.
    january = [
        f"{table}/year=2024/month=01" for table in ("daily_totals", "discrepancies", "sources")
    ]
    assert rewritten(before, after) == sorted(["_state.json", "_manifest.json", *FEBRUARY,
                                               *january])
    # No partition disappears (a changed one's file has a new, content-derived name).
    assert {str(Path(k).parent) for k in before} <= {str(Path(k).parent) for k in after}


def test_two_runs_at_once_store_each_report_once_and_publish_as_one(
    tmp_path: Path, inbox: Path
) -> None:
    from flows.pipeline import pipeline

    drop(inbox, "ticker.en", SEED)
    drop(inbox, "generalstaff.en", GS_EN_0130, GS_EN_0131)
    home = tmp_path / "home"
    # Hold the store's run lock, as a run in progress would, until both runs wait for it:
    # then they are truly concurrent, whatever the machine's speed.
    with holding_run_lock(home):
        runs = [start_cli_run(home, inbox, tmp_path / f"run-{n}.log") for n in (1, 2)]
        wait_for_line(runs, WAITING)
    outputs = [finish(process, log) for process, log in runs]

    assert sum("nothing new" in out for out in outputs) == 1, outputs
    with RunSettings.resolve(home).store() as store:
        assert store.count_by_kind() == {"ReportReceived": 3}
        assert store.verify().ok
        assert store.last_run().status == "completed"
    reference = tmp_path / "single"
    pipeline(home=str(reference), inbox=str(inbox))
    for table in TABLES:
        assert comparable(table, home).equals(comparable(table, reference)), table


def test_an_unreadable_event_fails_the_run_and_leaves_the_warehouse(
    published: Path, tmp_path: Path
) -> None:
    from flows.pipeline import pipeline

    ingest(published, next_month_post(tmp_path), source="generalstaff.en")
    tamper_payload(published / "events.sqlite", seq=4)
    before = snapshot(published / "warehouse")
    with pytest.raises(UnreadableEvent, match=r"event seq 4 \(ReportReceived .*cannot be read"):
        pipeline(home=str(published))
    assert snapshot(published / "warehouse") == before
    with RunSettings.resolve(published).store() as store:
        last = store.last_run()
    assert last.status == "failed"
    assert "run `lossledger verify`" in last.summary["error"]


def test_an_unwritable_warehouse_fails_the_run_and_leaves_it_as_it_was(
    published: Path, inbox: Path, tmp_path: Path
) -> None:
    from flows.pipeline import pipeline

    drop(inbox, "generalstaff.en", next_month_post(tmp_path))
    # Root ignores permissions, so block the publish another way: a file where the new
    # version's directory must go. Every partition of it is written aside before the failure;
    # none of them may reach the warehouse.
    blocker = block_next_version(published)
    before = snapshot(published / "warehouse")
    with pytest.raises(OSError, match="000002"):
        pipeline(home=str(published), inbox=str(inbox))
    assert snapshot(published / "warehouse") == before
    assert read_state(published / "warehouse").watermark == 3
    assert not list((published / "warehouse.versions").glob(".tmp-*"))

    blocker.unlink()
    assert pipeline(home=str(published), inbox=str(inbox))["watermark_after"] == 4


@contextmanager
def holding_run_lock(home: Path) -> Iterator[None]:
    with RunSettings.resolve(home).store() as store, store.lock("pipeline"):
        yield


def start_cli_run(home: Path, inbox: Path, log: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """``python -m lossledger run`` in its own process, on the session's Prefect server."""
    from prefect.settings import PREFECT_API_URL

    prefect_home = log.with_suffix(".prefect")
    prefect_home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LOSSLEDGER_"))}
    env.update({
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    })
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lossledger", "run", "--home", str(home),
             "--inbox", str(inbox)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    return process, log


def wait_for_line(
    runs: list[tuple[subprocess.Popen[bytes], Path]], line: str, timeout_s: float = 90
) -> None:
    """Until every run printed ``line``; fails early if one exits first."""
    deadline = time.monotonic() + timeout_s
    while not all(line in log.read_text(errors="replace") for _, log in runs):
        exited = [log for process, log in runs if process.poll() is not None]
        if exited or time.monotonic() > deadline:
            for process, _ in runs:
                process.kill()
            logs = "\n".join(log.read_text(errors="replace") for _, log in runs)
            pytest.fail(f"not every run printed {line!r} (exited: {exited}):\n{logs}")
        time.sleep(0.2)


def finish(process: subprocess.Popen[bytes], log: Path, timeout_s: float = 120) -> str:
    try:
        process.wait(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
    output = log.read_text(errors="replace")
    assert process.returncode == 0, output
    return output


def comparable(table: str, home: Path) -> pl.DataFrame:
    """A table without what differs between two stores of the same reports: event ids and
    arrival times."""
    frame = lossledger.scan(table, home=home).collect()
    frame = frame.drop(c for c in ("event_id", "event_ids", "received_at") if c in frame.columns)
    return frame.sort(frame.columns)


def tamper_payload(database: Path, *, seq: int) -> None:
    """Make one stored event unreadable, as damage or a hand edit would: past the trigger that
    refuses updates (this home is a throwaway copy; the real store is never touched)."""
    db = sqlite3.connect(database)
    try:
        db.execute("DROP TRIGGER events_refuse_update")
        db.execute("UPDATE events SET payload = ? WHERE seq = ?", ("{not json", seq))
        db.commit()
    finally:
        db.close()
