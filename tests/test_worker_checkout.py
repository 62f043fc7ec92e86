"""A worker started exactly as Prefect prints it, without ``LOSSLEDGER_CHECKOUT``, in another
directory: the deployments still run, from the checkout recorded at ``prefect deploy``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import lossledger
from tests.prefect_server import BIN, POOL, PrefectServer, serve_for_tests

pytestmark = pytest.mark.server

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrefectServer]:
    yield from serve_for_tests(request, tmp_path_factory, workers=0, deploy=["daily"])


def test_a_worker_started_as_prefect_prints_runs_the_daily_deployment(
    server: PrefectServer, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # `prefect worker start --pool 'lossledger'`, from a directory that is not the checkout,
    # with no LOSSLEDGER_* variable (the server's environment has none).
    server.start("plain-worker", [str(BIN / "prefect"), "worker", "start", "--pool", POOL],
                 cwd=elsewhere)
    home = tmp_path / "home"
    run = server.run_deployment("pipeline/daily", home=str(home), inbox=str(SAMPLES),
                                timeout=180)
    assert run.state == "COMPLETED", run.output
    assert lossledger.scan("daily_totals", home=home).collect().height == 28
