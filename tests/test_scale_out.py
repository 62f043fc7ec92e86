"""Scale-out: two Prefect workers on one ``process`` pool sharing one PostgreSQL store.

Both run the backfill deployment over the same inbox at the same time (as two workers of a
newsroom would); the store's advisory lock serialises the runs and the tables end exactly as
one run leaves them.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import lossledger
from lossledger.store.base import open_store
from tests.conftest import GS_EN_0130, GS_EN_0131, SEED, drop
from tests.helpers import build, ingest
from tests.prefect_server import PrefectServer, serve_for_tests
from tests.test_store_postgres import PG_URL, new_database

pytestmark = [
    pytest.mark.server,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="set LOSSLEDGER_TEST_PG=postgresql://... to run the "
                       "two-worker PostgreSQL test (eval \"$(bash .ci/postgres.sh start)\")"),
]

TOTALS = ["date", "category", "total", "delta", "stated_delta", "status", "n_sources", "sources"]
DISCREPANCIES = ["date", "category", "kind", "source", "expected", "observed", "detail"]


@pytest.fixture(scope="module")
def two_workers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrefectServer]:
    yield from serve_for_tests(request, tmp_path_factory, workers=2, deploy=["backfill"])


@pytest.fixture
def shared_store() -> Iterator[str]:
    created: list[str] = []
    url = new_database(created)
    yield url
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{created[0]}" WITH (FORCE)')


def test_two_workers_one_postgres_store_end_as_one_run(
    two_workers: PrefectServer, shared_store: str, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "ticker.en", SEED)
    drop(inbox, "generalstaff.en", GS_EN_0130, GS_EN_0131)
    home = tmp_path / "shared-home"
    params = {"home": str(home), "inbox": str(inbox), "store": shared_store}
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(
            lambda _: two_workers.run_deployment("pipeline/backfill", **params), range(2)
        ))
    assert [r.state for r in runs] == ["COMPLETED", "COMPLETED"], [r.output for r in runs]

    with open_store(shared_store) as store:
        assert store.count_by_kind() == {"ReportReceived": 3}
        assert store.verify().ok
        assert store.last_run() is not None and store.last_run().status == "completed"

    alone = tmp_path / "one-run"
    ingest(alone, inbox)
    expected = build(alone, publish_to=alone / "warehouse")
    published = {t: lossledger.scan(t, home=home).collect() for t in ("daily_totals",
                                                                        "discrepancies")}
    assert published["daily_totals"].select(TOTALS).sort("date", "category").equals(
        expected.daily_totals.select(TOTALS).sort("date", "category"))
    assert published["discrepancies"].select(DISCREPANCIES).sort(DISCREPANCIES).equals(
        expected.discrepancies.select(DISCREPANCIES).sort(DISCREPANCIES))
    assert published["daily_totals"].height == 28
    worker_logs = "".join(p.read_text(errors="replace")
                          for p in two_workers.log_dir.glob("worker-*.log"))
    assert all(r.flow_run_id in worker_logs for r in runs)
