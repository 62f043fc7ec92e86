"""The deployments of ``prefect.yaml`` on a real Prefect server, run by a process worker.

One server per module (see ``tests/prefect_server.py``): ``prefect deploy --all`` from the
checkout, one worker started as an operator would start it, and each test drives a deployment
with ``prefect deployment run ... --watch`` as a user would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import polars as pl
import pytest
from pytest_httpserver import HTTPServer

import lossledger
from lossledger.pipeline import RunSettings
from lossledger.publish.warehouse import read_state
from lossledger.store.events import FetchFailed
from tests.conftest import FIXTURES, GS_EN_0130, GS_EN_0131, SEED, drop
from tests.helpers import build, ingest
from tests.prefect_server import BIN, REPO, DeploymentRun, PrefectServer, serve_for_tests
from tests.test_fetch import DAY3, api_day
from tests.test_warehouse import snapshot

pytestmark = pytest.mark.server

DISCREPANCY_EVENT = "lossledger.discrepancy.detected"


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrefectServer]:
    yield from serve_for_tests(request, tmp_path_factory, workers=1)


@pytest.fixture(scope="module")
def web() -> Iterator[HTTPServer]:
    """The sources the daily deployment fetches: an API answering any day with the fixture's
    2024-01-31 document, and a ticker that is down."""
    http = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    http.start()
    http.expect_request(re.compile(r"^/api/\d{4}-\d\d-\d\d$")).respond_with_data(
        api_day(DAY3), content_type="application/json")
    http.expect_request("/ticker").respond_with_data("down for maintenance", status=503)
    yield http
    http.clear()
    http.stop()


@dataclass(frozen=True)
class Scenario:
    """One home per deployment, and the run each deployment made of it."""

    daily_home: Path
    backfill_home: Path
    rebuild_home: Path
    published_before_rebuild: dict[str, tuple[int, bytes]]
    runs: dict[str, DeploymentRun]


@pytest.fixture(scope="module")
def scenario(
    server: PrefectServer, web: HTTPServer, tmp_path_factory: pytest.TempPathFactory
) -> Scenario:
    """Every deployment run of this module, requested at once so the worker runs them side by
    side (each is a fresh process paying seconds of imports; sequentially they take minutes)."""
    root = tmp_path_factory.mktemp("homes")
    daily_home, backfill_home, rebuild_home = root / "daily", root / "backfill", root / "rebuild"
    archive = past_reports_tree(root / "archive")
    # The seed scenario's three reports, as an inbox (data/samples/ now holds years of them).
    samples = root / "samples"
    drop(samples, "ticker.en", SEED)
    drop(samples, "generalstaff.en", GS_EN_0130, GS_EN_0131)
    daily_home.mkdir()
    (daily_home / "sources.toml").write_text(
        f'[[sources]]\nname = "statistics-api"\nurl = "{web.url_for("/api/{date}")}"\n'
        f'[[sources]]\nname = "ticker-down"\nurl = "{web.url_for("/ticker")}"\nretries = 1\n'
        'backoff_s = 0.1\n'
    )
    ingest(rebuild_home, SEED, source="ticker.en")
    ingest(rebuild_home, GS_EN_0130, GS_EN_0131, source="generalstaff.en")
    build(rebuild_home, publish_to=rebuild_home / "warehouse")
    published = partitions(rebuild_home / "warehouse")
    requests: dict[str, tuple[str, dict[str, Any]]] = {
        "daily": ("pipeline/daily", {"home": str(daily_home), "inbox": str(samples)}),
        "backfill": ("pipeline/backfill", {"home": str(backfill_home), "inbox": str(archive)}),
        "rebuild": ("pipeline/rebuild", {"home": str(rebuild_home)}),
        "rebuild_as_of": ("pipeline/rebuild", {
            "home": str(rebuild_home), "as_of": 2,
            "warehouse": str(rebuild_home / "warehouse-as-of-2"),
        }),
    }
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        futures = {
            key: pool.submit(server.run_deployment, name, **params)
            for key, (name, params) in requests.items()
        }
        runs = {key: future.result() for key, future in futures.items()}
    return Scenario(daily_home, backfill_home, rebuild_home, published, runs)


def test_prefect_yaml_deploys_daily_backfill_and_rebuild(server: PrefectServer) -> None:
    with server.client() as client:
        daily, backfill, rebuild = (
            client.read_deployment_by_name(f"pipeline/{name}")
            for name in ("daily", "backfill", "rebuild")
        )
    assert {d.work_pool_name for d in (daily, backfill, rebuild)} == {"lossledger"}
    assert [(s.schedule.cron, s.schedule.timezone) for s in daily.schedules] == [
        ("30 9 * * *", "Europe/Kyiv")
    ]
    assert backfill.schedules == [] and rebuild.schedules == []
    assert daily.parameters == {"home": "data", "inbox": "data/inbox", "fetch": True}
    assert backfill.parameters["fetch_since"] is None
    with server.client() as client:
        fetch = client.read_deployment_by_name("fetch-sources/fetch")
    assert fetch.parameters == {"home": "data"} and fetch.schedules == []
    assert rebuild.parameters["replay"] is True
    # Deployed without LOSSLEDGER_CHECKOUT: the checkout it was deployed from is recorded.
    assert daily.pull_steps == [{"flows.checkout.enter_checkout": {"recorded": str(REPO)}}]


def test_daily_publishes_the_samples_and_reports_to_prefect(
    server: PrefectServer, scenario: Scenario
) -> None:
    run, home = scenario.runs["daily"], scenario.daily_home
    assert run.state == "COMPLETED", run.output

    # Fetched first (the API's document and the ticker's failure), then the inbox ingested.
    with RunSettings.resolve(home).store() as store:
        assert store.count_by_kind() == {"ReportReceived": 4, "FetchFailed": 1}
        failed = next(e.to_domain() for e in store.read(kinds=[FetchFailed.kind]))
    assert (failed.source, failed.status, failed.attempts) == ("ticker-down", 503, 2)
    reports = lossledger.scan("reports", home=home).collect()
    assert "statistics-api" in set(reports["source"])

    totals = lossledger.scan("daily_totals", home=home).collect()
    assert totals.height == 29
    tanks = totals.filter(pl.col("category") == "tanks").sort("date")
    assert tanks["total"].to_list() == [6300, 6310]

    summary = latest_artifact(server, run.flow_run_id, "lossledger-run-summary")
    assert "ingested: 3 new, 0 duplicates" in summary
    assert "| source_conflict | 1 |" in summary

    events = discrepancy_events(server, run.flow_run_id, expected=1)
    assert [e.resource.id for e in events] == [
        "lossledger.discrepancy.2024-01-31.special_equipment"
    ]
    assert events[0].payload["kind"] == "source_conflict"

    status = lossledger_cli("status", "--home", str(home))
    assert "completed" in status and "watermark 0 -> 5" in status, status
    assert "ticker-down answered 503" in status, status


def test_backfill_ingests_a_tree_of_past_reports(scenario: Scenario) -> None:
    run, home = scenario.runs["backfill"], scenario.backfill_home
    assert run.state == "COMPLETED", run.output
    with RunSettings.resolve(home).store() as store:
        assert store.count_by_kind() == {"ReportReceived": 6}
    reports = lossledger.scan("reports", home=home).collect()
    # The source is the first directory below the inbox, however deep the report lies.
    assert sorted(set(reports["source"])) == ["generalstaff.en", "generalstaff.uk", "ticker.de"]
    assert set(reports["status"]) == {"parsed"}
    months = sorted(p.parent.relative_to(home / "warehouse" / "daily_totals").as_posix()
                    for p in (home / "warehouse" / "daily_totals").rglob("*.parquet"))
    assert months == ["year=2022/month=04", "year=2024/month=01", "year=2024/month=03"]
    assert read_state(home / "warehouse").watermark == 6


def test_rebuild_replays_in_place_and_publishes_as_of_elsewhere(
    server: PrefectServer, scenario: Scenario
) -> None:
    replay, as_of = scenario.runs["rebuild"], scenario.runs["rebuild_as_of"]
    assert replay.state == "COMPLETED", replay.output
    assert as_of.state == "COMPLETED", as_of.output
    home = scenario.rebuild_home
    # Same parsers, same log: every partition is derived again and found equal, none rewritten.
    assert partitions(home / "warehouse") == scenario.published_before_rebuild
    assert read_state(home / "warehouse").watermark == 3
    assert "- partitions: 0 written, 0 removed" in latest_artifact(
        server, replay.flow_run_id, "lossledger-run-summary")
    assert read_state(home / "warehouse-as-of-2").watermark == 2
    assert pl.read_parquet(home / "warehouse-as-of-2" / "reports" / "**" / "*.parquet").height == 2


def past_reports_tree(root: Path) -> Path:
    """An archive as an operator would keep it: ``<source>/<year>/<month>/<report>``."""
    for folder, name in [
        ("generalstaff.en/2022/04", "generalstaff_en_2022-04-10.txt"),
        ("generalstaff.en/2024/01", "generalstaff_en_2024-01-30.txt"),
        ("generalstaff.en/2024/01", "generalstaff_en_2024-01-31.txt"),
        ("generalstaff.uk/2024/01", "generalstaff_uk_2024-01-31.txt"),
        ("ticker.de/2024/01", "ticker_de_2024-01-31.txt"),
        ("ticker.de/2024/03", "ticker_de_2024-03-15.cp1252.txt"),
    ]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / name, root / folder / name)
    return root


def partitions(warehouse: Path) -> dict[str, tuple[int, bytes]]:
    return {k: v for k, v in snapshot(warehouse).items()
            if k not in ("_state.json", "_manifest.json")}


def latest_artifact(server: PrefectServer, flow_run_id: str, key: str) -> str:
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with server.client() as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run_id)]),
            ),
        )
    assert found, f"no artifact {key!r} for flow run {flow_run_id}"
    return str(found[0].data)


def discrepancy_events(
    server: PrefectServer, flow_run_id: str, *, expected: int, timeout_s: float = 30
) -> list[object]:
    """The flow run's discrepancy events, as the server stored them.

    Events are persisted in batches, a moment after the flow run finished; poll for them.
    """
    from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter

    event_filter = EventFilter(
        event=EventNameFilter(name=[DISCREPANCY_EVENT]),
        related=EventRelatedFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
    )
    deadline = time.monotonic() + timeout_s
    with server.client() as client:
        while True:
            # The client asks for 100 by default; the 3.9 server refuses more than 50.
            events = client.read_events(filter=event_filter, limit=50).events
            if len(events) >= expected or time.monotonic() > deadline:
                return events
            time.sleep(0.5)


def lossledger_cli(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LOSSLEDGER_"))}
    result = subprocess.run(
        [str(BIN / "lossledger"), *args], capture_output=True, text=True, timeout=60,
        env={**env, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
