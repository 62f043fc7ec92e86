"""``lossledger run`` as a person at a terminal meets it: against a running Prefect server, without
one, and with ``lossledger server`` keeping one. Real processes, real servers on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GS_EN_0130, GS_EN_0131, SEED, drop
from tests.prefect_server import _free_port

_INFO_LINE = re.compile(r"\|\s*(INFO|DEBUG)\s*\|")
_FLOW_RUN = re.compile(r"flow run: (http://127\.0\.0\.1:\d+/runs/flow-run/([0-9a-f-]{36}))")


def lossledger(*args: str, env: dict[str, str], timeout: float = 300,
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lossledger", *args], capture_output=True, text=True, env=env,
        timeout=timeout, check=False,
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "LOSSLEDGER_"))}
    env.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                "COLUMNS": "200"})
    env.update(extra)
    return env


@pytest.fixture
def two_days(inbox: Path) -> Path:
    drop(inbox, "generalstaff.en", GS_EN_0130, GS_EN_0131)
    drop(inbox, "ticker.en", SEED)
    return inbox


@pytest.mark.usefixtures("prefect_env")
def test_a_run_against_a_running_server_prints_the_summary_not_prefect_logs(
    tmp_path: Path, two_days: Path
) -> None:
    from prefect.settings import PREFECT_API_URL

    api_url = str(PREFECT_API_URL.value())  # the session's real server
    home = tmp_path / "home"
    env = clean_env(PREFECT_API_URL=api_url, PREFECT_HOME=str(tmp_path / "prefect-home"))
    result = lossledger("run", "--inbox", str(two_days), "--home", str(home), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "# lossledger run" in result.stdout
    assert "temporary" not in output  # a server was there: nothing to warn about
    assert not _INFO_LINE.search(output), output
    found = _FLOW_RUN.search(result.stdout)
    assert found, result.stdout
    # Prefect's lines went to the log file and to the API instead.
    log = (home / "logs" / "prefect.log").read_text()
    assert "Finished in state Completed" in log
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with SyncPrefectClient(api=api_url) as client:
        flow_run = client.read_flow_run(found.group(2))
        assert flow_run.state.type.value == "COMPLETED"
        # The run's parameters are recorded as given (plain JSON, without Prefect's encoder).
        assert flow_run.parameters["home"] == str(home)
        assert flow_run.parameters["ingested"]["new"] == 3
        logs = _wait_for(lambda: client.read_logs(LogFilter(
            flow_run_id=LogFilterFlowRunId(any_=[found.group(2)]))))
    assert any("parsed 3 reports" in entry.message for entry in logs)
    # The run did not wait for its HTML report; `report --wait` does, then the page is there.
    assert f"to wait: lossledger report --wait --home {home.resolve()}" in result.stdout
    waited = lossledger("report", "--wait", "--home", str(home), env=env)
    assert waited.returncode == 0, waited.stderr
    page = (home / "report" / "index.html").read_text()
    assert 'data-category="special_equipment" data-total="1452"' in page


def test_without_a_server_the_run_says_once_how_to_avoid_the_temporary_one(
    tmp_path: Path, two_days: Path
) -> None:
    home = tmp_path / "home"
    env = clean_env(PREFECT_HOME=str(tmp_path / "prefect-home"),
                    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120")
    result = lossledger("run", "--inbox", str(two_days), "--home", str(home), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.count("starting a temporary one") == 1
    assert "lossledger server" in result.stderr and "export PREFECT_API_URL=" in result.stderr
    assert "# lossledger run" in result.stdout
    assert not _INFO_LINE.search(result.stdout + result.stderr)
    assert "Starting temporary server" not in result.stdout + result.stderr


@pytest.fixture
def lossledger_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """``lossledger server`` as a user starts it; stopped with SIGTERM by the test."""
    home, port = tmp_path / "home", _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lossledger", "server", "--port", str(port), "--home", str(home)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=clean_env(),
        start_new_session=True,
    )
    try:
        yield server, f"http://127.0.0.1:{port}/api", home
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


@pytest.mark.server
def test_lossledger_server_keeps_one_running_for_the_runs(
    lossledger_server: tuple[subprocess.Popen[str], str, Path], two_days: Path
) -> None:
    server, api_url, home = lossledger_server
    assert server.stdout is not None
    said = ""
    deadline = time.monotonic() + 120
    while f"export PREFECT_API_URL={api_url}" not in said and time.monotonic() < deadline:
        line = server.stdout.readline()
        assert line or server.poll() is None, f"the server exited: {said}"
        said += line
    assert f"export PREFECT_API_URL={api_url}" in said, said
    assert str(home.resolve() / ".prefect") in said  # lossledger's PREFECT_HOME

    run = lossledger("run", "--inbox", str(two_days), "--home", str(home),
                     env=clean_env(PREFECT_API_URL=api_url))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "temporary" not in run.stderr and f"flow run: {api_url[:-4]}" in run.stdout
    assert (home / ".prefect").is_dir()

    port = api_url.rsplit(":", 1)[1].split("/")[0]
    busy = lossledger("server", "--port", port, "--home", str(home), env=clean_env())
    assert busy.returncode == 2 and "in use" in busy.stderr

    os.killpg(server.pid, signal.SIGTERM)
    assert server.wait(timeout=60) == 0


def _wait_for(read: object, timeout_s: float = 20) -> list:  # type: ignore[type-arg]
    """Logs reach the server's database within a few seconds of being sent."""
    deadline = time.monotonic() + timeout_s
    while True:
        entries = read()  # type: ignore[operator]
        if entries or time.monotonic() > deadline:
            return entries
        time.sleep(0.5)


def test_parameters_that_are_not_plain_json_still_go_through_prefects_encoder() -> None:
    import datetime as dt

    from flows.interactive import _plain_json_parameters

    class Flow:
        def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
            return {"encoded by": "prefect"}

    flow = Flow()
    _plain_json_parameters(flow)
    plain = {"home": "data", "dask_workers": 0, "ingested": {"new": 3, "skipped": []}}
    assert flow.serialize_parameters(plain) == plain
    assert flow.serialize_parameters({"fetch_since": dt.date(2024, 1, 31)}) == {
        "encoded by": "prefect"}
    assert flow.serialize_parameters({"ratio": float("nan")}) == {"encoded by": "prefect"}
