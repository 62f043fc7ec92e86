"""Fetching sources from a real HTTP server on 127.0.0.1: events, failures, retries, politeness.

The server (pytest-httpserver, threaded) plays every kind of source the issue lists. Retries
sleep through a recording ``sleep`` that waits nothing, so the delays asked for (backoff,
``Retry-After``) are asserted without timing anything.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from lossledger.pipeline import RunSettings
from lossledger.sources import fetch_failures, fetch_failures_on, fetch_sources, load_sources
from lossledger.sources.config import SourcesConfigError
from lossledger.store.events import FetchFailed, ReportReceived
from tests.conftest import FIXTURES
from tests.helpers import build

API_FIXTURE = json.loads((FIXTURES / "api_2024-01-31.json").read_text())
DAY1, DAY2, DAY3 = dt.date(2024, 1, 29), dt.date(2024, 1, 30), dt.date(2024, 1, 31)


def api_day(day: dt.date) -> bytes:
    """The fixture's API document moved to ``day``: every total lower by the days before."""
    document = json.loads(json.dumps(API_FIXTURE))
    back = (DAY3 - day).days
    document["data"]["date"] = day.isoformat()
    stats, increase = document["data"]["stats"], document["data"]["increase"]
    for key in stats:
        stats[key] -= back * increase[key]
    return json.dumps(document, indent=1).encode()


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    http = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    http.start()
    yield http
    http.clear()
    if http.is_running():
        http.stop()


class Recorder:
    """Stands in for ``time.sleep`` in the fetcher: remembers each delay, waits none."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def write_sources(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "sources.toml").write_text(text)


def events(home: Path, kind: str) -> list:
    with RunSettings.resolve(home).store() as store:
        return [e.to_domain() for e in store.read(kinds=[kind])]


def test_json_per_date_is_kept_with_its_provenance(tmp_path: Path, server: HTTPServer) -> None:
    asked: list[Request] = []

    def api(request: Request) -> Response:
        asked.append(request)
        day = dt.date.fromisoformat(request.path.rsplit("/", 1)[1].removesuffix(".json"))
        etag = f'"{day}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(api_day(day), content_type="application/json",
                        headers={"ETag": etag, "Last-Modified": "Wed, 31 Jan 2024 08:00:00 GMT"})

    server.expect_request("/api/v2/statistics/2024-01-29.json").respond_with_handler(api)
    server.expect_request("/api/v2/statistics/2024-01-30.json").respond_with_handler(api)
    server.expect_request("/api/v2/statistics/2024-01-31.json").respond_with_handler(api)
    home = tmp_path / "home"
    write_sources(home, f'''
        [[sources]]
        name = "statistics-api"
        url = "{server.url_for('/api/v2/statistics/{date}.json')}"
    ''')

    report = fetch_sources(home, since=DAY1, until=DAY3)
    assert report.counts() == {"new": 3, "duplicate": 0, "unchanged": 0, "failed": 0}
    received = events(home, ReportReceived.kind)
    assert sorted(e.file_name for e in received) == [
        f"statistics-api_{d}.json" for d in (DAY1, DAY2, DAY3)]
    meta = next(e for e in received if e.file_name.endswith("2024-01-31.json")).metadata
    assert meta["url"] == meta["final_url"] == server.url_for(
        "/api/v2/statistics/2024-01-31.json")
    assert meta["status"] == "200" and meta["etag"] == '"2024-01-31"'
    assert meta["content_type"] == "application/json" and meta["requested_date"] == "2024-01-31"
    assert meta["last_modified"] == "Wed, 31 Jan 2024 08:00:00 GMT" and "date" in meta
    assert dt.datetime.fromisoformat(meta["fetched_at"]).tzinfo is not None
    assert all(r.headers["User-Agent"].startswith("lossledger/") for r in asked)

    # Days already held are not asked again; asked again on purpose, they cost a 304.
    asked.clear()
    assert fetch_sources(home, since=DAY1, until=DAY3).outcomes == []
    assert asked == []
    again = fetch_sources(home, since=DAY1, until=DAY3, refresh=True)
    assert again.counts()["unchanged"] == 3
    assert sorted(r.headers.get("If-None-Match") for r in asked) == [
        f'"{d}"' for d in (DAY1, DAY2, DAY3)]
    assert len(events(home, ReportReceived.kind)) == 3

    # And what was fetched is parsed: the API's three days are published.
    tables = build(home)
    tanks = tables.daily_totals.filter(pl.col("category") == "tanks").sort("date")
    assert tanks["total"].to_list() == [6290, 6300, 6310]


def test_a_changing_page_is_new_when_changed_and_costs_a_304_when_not(
    tmp_path: Path, server: HTTPServer
) -> None:
    page = {"body": b"<html><body><p>Panzer: 6310 (+10)</p></body></html>", "etag": '"v1"'}
    conditional: list[str | None] = []

    def ticker(request: Request) -> Response:
        conditional.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == page["etag"]:
            return Response(status=304)
        return Response(page["body"], content_type="text/html; charset=utf-8",
                        headers={"ETag": page["etag"]})

    server.expect_request("/ticker.html").respond_with_handler(ticker)
    home = tmp_path / "home"
    write_sources(home, f'''
        [[sources]]
        name = "ticker-de"
        url = "{server.url_for('/ticker.html')}"
    ''')
    assert fetch_sources(home).counts()["new"] == 1
    with RunSettings.resolve(home).store() as store:
        head = store.head()
    assert fetch_sources(home).counts()["unchanged"] == 1
    with RunSettings.resolve(home).store() as store:
        assert store.head() == head  # a second fetch of an unchanged page adds nothing

    page.update(body=page["body"].replace(b"6310 (+10)", b"6320 (+10)"), etag='"v2"')
    assert fetch_sources(home).counts()["new"] == 1
    # The same bytes under a new validator are a duplicate, as for files: no event.
    page.update(body=page["body"].replace(b"6320 (+10)", b"6310 (+10)"), etag='"v3"')
    assert fetch_sources(home).counts()["duplicate"] == 1
    assert conditional == [None, '"v1"', '"v1"', '"v2"']
    assert len(events(home, ReportReceived.kind)) == 2
    # The fetch state lost, the validators come back from the events' provenance.
    (home / "fetch-state.json").unlink()
    assert fetch_sources(home).counts()["duplicate"] == 1
    assert conditional[-1] == '"v2"'


def test_failures_are_events_and_only_transient_ones_are_retried(
    tmp_path: Path, server: HTTPServer
) -> None:
    calls: dict[str, int] = {}

    def counted(name: str, respond) -> None:
        def handler(request: Request) -> Response:
            calls[name] = calls.get(name, 0) + 1
            return respond(calls[name])
        server.expect_request(f"/{name}").respond_with_handler(handler)

    counted("missing", lambda n: Response("no such page", status=404))
    counted("flaky", lambda n: Response("busy", status=500) if n == 1 else
            Response(api_day(DAY3), content_type="application/json"))
    counted("throttled", lambda n: Response("slow down", status=429,
                                            headers={"Retry-After": "3"}) if n == 1 else
            Response(api_day(DAY2), content_type="application/json"))
    counted("down", lambda n: Response("down", status=503))
    counted("slow", lambda n: time.sleep(1.5) or Response(b"late"))
    counted("huge", lambda n: Response(b"x" * 5_000, content_type="text/plain"))
    counted("stream", lambda n: Response(iter([b"y" * 1_000] * 5), content_type="text/plain"))
    counted("loop", lambda n: Response(status=302, headers={"Location": "/loop"}))
    home = tmp_path / "home"
    url = server.url_for
    write_sources(home, f'''
        [[sources]]
        name = "missing"
        url = "{url('/missing')}"
        [[sources]]
        name = "flaky"
        url = "{url('/flaky')}"
        backoff_s = 0.1
        [[sources]]
        name = "throttled"
        url = "{url('/throttled')}"
        [[sources]]
        name = "down"
        url = "{url('/down')}"
        retries = 2
        backoff_s = 0.5
        [[sources]]
        name = "slow"
        url = "{url('/slow')}"
        timeout_s = 0.3
        retries = 1
        backoff_s = 0.2
        [[sources]]
        name = "huge"
        url = "{url('/huge')}"
        max_bytes = 1000
        [[sources]]
        name = "stream"
        url = "{url('/stream')}"
        max_bytes = 1000
        [[sources]]
        name = "loop"
        url = "{url('/loop')}"
    ''')
    sleep = Recorder()
    report = fetch_sources(home, sleep=sleep)
    outcome = {o.source: o for o in report.outcomes}
    assert {name: o.result for name, o in outcome.items()} == {
        "missing": "failed", "flaky": "new", "throttled": "new", "down": "failed",
        "slow": "failed", "huge": "failed", "stream": "failed", "loop": "failed",
    }
    assert {name: o.attempts for name, o in outcome.items()} == {
        "missing": 1, "flaky": 2, "throttled": 2, "down": 3, "slow": 2, "huge": 1,
        "stream": 1, "loop": 1,
    }
    assert calls["missing"] == 1 and calls["huge"] == 1 and calls["down"] == 3
    assert calls["loop"] == 6  # the first request and 5 redirects, then refused
    # Each source's backoff (doubling for 503 twice), and 429 waited as Retry-After asked.
    assert sorted(sleep.delays) == pytest.approx([0.1, 0.2, 0.5, 1.0, 3.0], rel=0.11)

    failed = {e.source: e for e in events(home, FetchFailed.kind)}
    assert set(failed) == {"missing", "down", "slow", "huge", "stream", "loop"}
    assert (failed["missing"].status, failed["missing"].error) == (404, "HTTP 404")
    assert failed["down"].describe() == f"down answered 503 on {failed['down'].date}"
    assert failed["down"].attempts == 3
    assert failed["slow"].status is None and "timed out" in failed["slow"].error
    assert "max_bytes" in failed["huge"].error and "max_bytes" in failed["stream"].error
    assert "too many redirects" in failed["loop"].error
    kept = {e.source: e for e in events(home, ReportReceived.kind)}
    assert set(kept) == {"flaky", "throttled"} and kept["flaky"].metadata["attempts"] == "2"

    # Failures are asked for again next time; nothing else is new, and the failures add up.
    before = calls.copy()
    again = fetch_sources(home, sleep=Recorder())
    assert again.counts()["failed"] == 6 and calls["flaky"] == before["flaky"] + 1
    with RunSettings.resolve(home).store() as store:
        assert fetch_failures(store).height == 12
        assert fetch_failures(store, source="down")["attempts"].to_list() == [3, 3]


def test_a_server_going_away_is_a_failure_not_a_crash(tmp_path: Path, server: HTTPServer
                                                      ) -> None:
    server.expect_request("/ok").respond_with_data(b"Tank: 6310 (+10)", content_type="text/plain")
    home = tmp_path / "home"
    write_sources(home, f'''
        [[sources]]
        name = "gone"
        url = "http://127.0.0.1:9/nothing-listens-here"
        retries = 1
        backoff_s = 0.01
        [[sources]]
        name = "ok"
        url = "{server.url_for('/ok')}"
    ''')
    report = fetch_sources(home)
    assert {o.source: o.result for o in report.outcomes} == {"gone": "failed", "ok": "new"}
    gone = events(home, FetchFailed.kind)[0]
    assert gone.attempts == 2 and gone.status is None and "ConnectError" in gone.error


def test_content_types_wrong_missing_and_a_non_utf8_charset(
    tmp_path: Path, server: HTTPServer
) -> None:
    german = (FIXTURES / "ticker_de_2024-03-15.cp1252.txt").read_bytes()
    server.expect_request("/json-as-html").respond_with_data(
        api_day(DAY3), content_type="text/html")
    untyped = Response(b"<html><body><p>Tank: 6310 (+10)</p></body></html>")
    del untyped.headers["Content-Type"]
    server.expect_request("/no-type").respond_with_response(untyped)
    server.expect_request("/cp1252").respond_with_data(
        german, content_type="text/plain; charset=windows-1252")
    server.expect_request("/cyrillic").respond_with_data(
        "<p>Танки: 6310 (+10)</p>".encode("windows-1251"),
        content_type="text/html; charset=windows-1251")
    home = tmp_path / "home"
    write_sources(home, "\n".join(
        f'[[sources]]\nname = "{name}"\nurl = "{server.url_for("/" + name)}"'
        for name in ("json-as-html", "no-type", "cp1252", "cyrillic")
    ))
    assert fetch_sources(home).counts()["new"] == 4
    kept = {e.source: e for e in events(home, ReportReceived.kind)}
    assert kept["json-as-html"].media_type == "application/json"
    assert kept["json-as-html"].metadata["content_type"] == "text/html"
    assert kept["json-as-html"].metadata["media_type_from"] == "content"
    assert kept["no-type"].media_type == "text/html"
    assert "content_type" not in kept["no-type"].metadata
    assert kept["cyrillic"].media_type == "text/html; charset=windows-1251"
    assert kept["cyrillic"].metadata["charset"] == "windows-1251"
    assert kept["cp1252"].body == german  # bytes as received, never re-encoded
    reports = build(home).reports
    status = dict(zip(reports["source"], reports["status"], strict=True))
    assert status["cp1252"] == "parsed" and status["json-as-html"] == "parsed"


def test_a_missing_day_is_explained_in_gap_rows(tmp_path: Path, server: HTTPServer) -> None:
    for day in (DAY1, DAY3):
        server.expect_request(f"/api/{day}").respond_with_data(
            api_day(day), content_type="application/json")
    server.expect_request(f"/api/{DAY2}").respond_with_data("busy", status=503)
    home = tmp_path / "home"
    write_sources(home, f'''
        [[sources]]
        name = "statistics-api"
        url = "{server.url_for('/api/{date}')}"
        retries = 0
    ''')
    report = fetch_sources(home, since=DAY1, until=DAY3)
    assert report.counts() == {"new": 2, "duplicate": 0, "unchanged": 0, "failed": 1}
    with RunSettings.resolve(home).store() as store:
        on_day2 = fetch_failures_on(store, DAY2)
        assert fetch_failures_on(store, DAY1) == []
    assert [e.describe() for e in on_day2] == ["statistics-api answered 503 on 2024-01-30"]
    gaps = build(home).discrepancies.filter(pl.col("kind") == "gap")
    assert gaps.height > 0 and set(gaps["date"]) == {DAY2}
    assert set(gaps["detail"]) == {
        "inferred from 2024-01-31 stated delta; statistics-api answered 503 on 2024-01-30"}
    assert all(on_day2[0].event_id in ids for ids in gaps["event_ids"])


def test_sources_toml_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    cases = {
        '[[sources]]\nname = "a"\nurl = "https://h/x"\ntimeout = 3': "sources[1].timeout: unknown",
        '[[sources]]\nname = "a"\nurl = "h/x"': "sources[1].url: must be an http(s) URL",
        '[[sources]]\nname = "a"\nurl = "https://h/{day}"': "sources[1].url: the only placeholder",
        '[[sources]]\nname = "a"\nurl = "https://h/x"\nkind = "xml"': "sources[1].kind: one of",
        '[[sources]]\nname = "a"\nurl = "https://h/x"\n[[sources]]\nname = "a"\n'
        'url = "https://h/y"': "sources.name: 'a' is used twice",
        '[[sources]]\nname = "a"\nurl = "https://h/x"\nevery = "often"': "sources[1].every:",
        '[[sources]]\nname = "a"\nurl = "https://h/x"\nsince = "yesterday"': "sources[1].since",
        '[[sources]]\nurl = "https://h/x"': "sources[1].name: required",
        'per_host = 0': "per_host: must be an integer > 0",
        '[[sources]\n': "cannot read",
    }
    for text, expected in cases.items():
        write_sources(tmp_path, text)
        with pytest.raises(SourcesConfigError) as raised:
            load_sources(tmp_path)
        message = str(raised.value)
        assert message.startswith(str(tmp_path / "sources.toml")), message
        assert expected in message and "\n" not in message, message


def test_the_example_configuration_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "sources.example.toml"
    home = example.parent / "tmp-does-not-exist"
    text = example.read_text()
    import tomllib

    from lossledger.sources.config import parse_sources

    config = parse_sources(tomllib.loads(text), path=example)
    assert [s.name for s in config.sources] and not home.exists()
    assert all(s.url.startswith("https://") for s in config.sources)


def test_the_commands_fetch_list_and_report_failures(tmp_path: Path, server: HTTPServer) -> None:
    from tests.test_cli import lossledger

    server.expect_request("/api/2024-01-30").respond_with_data(
        api_day(DAY2), content_type="application/json", headers={"ETag": '"a"'})
    server.expect_request("/api/2024-01-31").respond_with_data("busy", status=503)
    home = tmp_path / "home"
    write_sources(home, f'''
        [[sources]]
        name = "statistics-api"
        url = "{server.url_for('/api/{date}')}"
        retries = 0
    ''')
    fetched = lossledger("fetch", "--since", "2024-01-30", "--until", "2024-01-31", home=home)
    assert "new statistics-api 2024-01-30" in fetched.stdout
    assert "failed statistics-api 2024-01-31: HTTP 503 (1 attempts)" in fetched.stdout
    assert "2 requests: 1 new, 0 duplicate, 0 unchanged, 1 failed" in fetched.stdout
    listed = lossledger("sources", home=home).stdout
    assert "statistics-api" in listed and "503" in listed, listed
    status = lossledger("status", home=home).stdout
    assert "statistics-api answered 503 on 2024-01-31" in status, status

    write_sources(home, '[[sources]]\nname = "x"\nurl = "https://h/{date}"\ntimeout_s = -1\n')
    broken = lossledger("fetch", home=home, check=False)
    assert broken.returncode == 2
    assert broken.stderr.strip() == (f"error: {home / 'sources.toml'}: sources[1].timeout_s: "
                                     "must be a number > 0, got -1")


def test_every_and_enabled_keep_a_source_quiet_unless_named(
    tmp_path: Path, server: HTTPServer
) -> None:
    server.expect_request("/page").respond_with_data(b"Tank: 6310 (+10)",
                                                     content_type="text/plain")
    home = tmp_path / "home"
    write_sources(home, f'''
        [[sources]]
        name = "hourly"
        url = "{server.url_for('/page')}"
        every = "1h"
        [[sources]]
        name = "off"
        url = "{server.url_for('/page')}"
        enabled = false
    ''')
    first = fetch_sources(home)
    assert [o.source for o in first.outcomes] == ["hourly"] and first.skipped == {
        "off": "disabled"}
    second = fetch_sources(home)
    assert second.outcomes == [] and second.skipped["hourly"].startswith("fetched at ")
    named = fetch_sources(home, only="off")  # asked by name, a source is fetched anyway
    assert [(o.source, o.result) for o in named.outcomes] == [("off", "duplicate")]
    assert len(server.log) == 2
