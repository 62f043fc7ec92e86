"""What a killed ``lossledger run`` leaves: no Prefect server running on, no run "running"
forever. (Leftover files of a killed publish: ``tests/test_publishing.py``.)"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bench.killed_run import ephemeral_server
from lossledger.pipeline import RunSettings
from lossledger.status import abandon_stale_run, running_record
from tests.conftest import REPO

SAMPLES = REPO / "data" / "samples"


def record_running(home: Path, *, pid: int) -> None:
    with RunSettings.resolve(home).store() as store:
        record = running_record("r1", dt.datetime.now(dt.UTC), watermark_before=0, upto=3)
        store.record_run(dataclasses.replace(record, summary={**record.summary, "pid": pid}))


def status(home: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOSSLEDGER_", "PREFECT_"))}
    done = subprocess.run([sys.executable, "-m", "lossledger", "status", "--home", str(home)],
                          capture_output=True, text=True, env={**env, "COLUMNS": "300"},
                          timeout=120, cwd=REPO, check=True)
    return done.stdout


def test_a_run_whose_process_is_gone_is_shown_and_recorded_abandoned(tmp_path: Path) -> None:
    home = tmp_path / "home"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    record_running(home, pid=int(gone.stdout))
    # While a run holds the pipeline lock, it is running, whatever its pid says.
    with RunSettings.resolve(home).store() as store, store.lock("pipeline"):
        assert abandon_stale_run(store) is None
        assert store.last_run().status == "running"
    shown = status(home)
    assert "abandoned" in shown and "running" not in shown, shown
    # status reads the store read-only (it must work on a read-only home): it shows the run
    # abandoned; the record is saved by the next writer (a run, under its lock, or this).
    with RunSettings.resolve(home).store() as store:
        assert store.last_run().status == "running"
        assert abandon_stale_run(store) is not None
        last = store.last_run()
    assert last.status == "abandoned" and last.finished_at is not None
    assert last.watermark_after == last.watermark_before == 0


@pytest.mark.server
def test_kill_9_of_a_run_stops_its_ephemeral_prefect_server(tmp_path: Path) -> None:
    """A real ``lossledger run`` with Prefect's ephemeral server, killed while it waits for the
    store's lock (held here, so the run cannot finish before it is killed)."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOSSLEDGER_", "PREFECT_"))}
    env.update({"PREFECT_HOME": str(tmp_path / "prefect"), "DO_NOT_TRACK": "1",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"})
    server = None
    with RunSettings.resolve(home).store() as store, store.lock("pipeline"):
        run = subprocess.Popen(
            [sys.executable, "-m", "lossledger", "run", "--home", str(home), "--inbox",
             str(SAMPLES)],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while server is None:
                assert run.poll() is None, "the run ended before it could be killed"
                assert time.monotonic() < deadline, "no ephemeral server within 120 s"
                server = ephemeral_server(run.pid)
                time.sleep(0.1)
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=10)
            gone, alive = psutil.wait_procs([server], timeout=30)
            assert gone and not alive, "the ephemeral server outlived the killed run"
        finally:
            if run.poll() is None:
                run.kill()
            if server is not None and server.is_running():
                server.kill()
