"""The ``fetch-sources`` flow and the pipeline's fetch step, on Prefect's test server, against a
real HTTP server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from pytest_httpserver import HTTPServer

import lossledger
from lossledger.pipeline import RunSettings
from lossledger.store.events import FetchFailed, ReportReceived
from tests.test_fetch import DAY2, DAY3, api_day, write_sources

pytestmark = pytest.mark.usefixtures("prefect_env")


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    http = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    http.start()
    yield http
    http.clear()
    http.stop()


def test_pipeline_fetches_then_publishes_and_a_failing_source_stops_nobody(
    tmp_path: Path, server: HTTPServer
) -> None:
    from flows.fetch import fetch_sources_flow
    from flows.pipeline import pipeline

    for day in (DAY2, DAY3):
        server.expect_request(f"/api/{day}").respond_with_data(
            api_day(day), content_type="application/json")
    server.expect_request("/broken").respond_with_data("gone", status=410)
    home = tmp_path / "home"
    write_sources(home, f'''
        [[sources]]
        name = "statistics-api"
        url = "{server.url_for('/api/{date}')}"
        [[sources]]
        name = "broken"
        url = "{server.url_for('/broken')}"
    ''')
    summary = pipeline(home=str(home), fetch_since=DAY2, fetch_until=DAY3)
    assert summary["reports"] == 2
    tanks = lossledger.scan("daily_totals", home=home).filter(pl.col("category") == "tanks")
    assert tanks.sort("date").collect()["total"].to_list() == [6300, 6310]
    with RunSettings.resolve(home).store() as store:
        assert store.count_by_kind() == {ReportReceived.kind: 2, FetchFailed.kind: 1}

    # The flow on its own: days held are not asked again; the broken source fails again.
    again = fetch_sources_flow(home=str(home), since=DAY2, until=DAY3)
    assert (again["requests"], again["new"], again["failed"]) == (1, 0, 1)
    only = fetch_sources_flow(home=str(home), source="statistics-api",
                              since=dt.date(2024, 1, 29))
    assert (only["requests"], only["failed"]) == (1, 1)  # 2024-01-29 is not served: 404
