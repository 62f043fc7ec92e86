"""Issue 13: an incremental run publishes what a full rebuild of the same log publishes.

Random event streams (reports of several sources and formats, unreadable ones, overrides,
retractions and reverts) arrive in random batches; after each batch the pipeline brings the
warehouse up to date as a daily run does (parse only what is new, project with the previous
reconciliation at hand, publish only the partitions that changed). The published tables must
then equal, exactly, those of a fresh home that replays the same log once.

The reconciliation itself still runs in full on every run (its source reliabilities are
global: ``tests/test_window.py``); what is incremental, and judged here, is everything around
it: the parse cache, the settled figures built and checked by earlier runs (news pages read
by the general reader, undated or with no year, stay open to the dating rules; figures
received before their date fail the checks), the decisions in force, the watermark and the
partitions kept as they were.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import shutil
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from lossledger.pipeline import RunSettings
from lossledger.projection import TABLES
from lossledger.publish.warehouse import open_version
from lossledger.store.events import (
    DecisionReverted,
    ReportReceived,
    ReportRetracted,
    TotalOverridden,
)
from tests.helpers import build

#: Real totals of 31 January 2024 (../shared/data/petroivaniuk), the series' first day here.
BASE = {"tanks": 6310, "planes": 332, "uav_systems": 7100}
DAILY = {"tanks": 10, "planes": 1, "uav_systems": 16}
CATEGORY = {"tanks": "tanks", "planes": "aircraft", "uav_systems": "uav"}
SOURCES = ("api.one", "api.two", "gs.en", "news.uk")
#: The Ukrainian labels of the news pages (the general reader's).
NEWS_LABEL = {"tanks": "танки", "planes": "літаки",
              "uav_systems": "БпЛА оперативно-тактичного рівня"}
MONTHS_UK = ("січня", "лютого")
DAY0 = dt.date(2024, 1, 31)
RECEIVED0 = dt.datetime(2024, 1, 31, 7, tzinfo=dt.UTC)

report = st.tuples(
    st.integers(0, len(SOURCES) - 1),                # source
    st.integers(0, 8),                               # day
    st.sampled_from([0, 0, 0, 0, 1, -4, 30, -6000]), # tanks off the true total by
    st.sampled_from([0, 0, 0, 2, -1]),               # drones off the true total by
    st.booleans(),                                   # states the daily changes
    st.integers(0, 19),                              # 0: an unreadable report
    st.sampled_from(["full", "full", "no year", "none"]),  # how a news page dates itself
    st.sampled_from([False, False, False, True]),    # received the day before its date
)
decision = st.one_of(
    st.tuples(st.just("override"), st.integers(0, 8), st.sampled_from(sorted(BASE)),
              st.integers(0, 40)),
    st.tuples(st.just("retract"), st.integers(0, 40)),
    st.tuples(st.just("revert"), st.integers(0, 40)),
)
item = st.one_of(report.map(lambda r: ("report", r)), decision.map(lambda d: ("decision", d)))


def _true(name: str, day: int) -> int:
    return BASE[name] + DAILY[name] * day


def _body(source: str, day: int, tanks_off: int, drones_off: int, deltas: bool,
          dated: str = "full") -> bytes:
    date = DAY0 + dt.timedelta(days=day)
    totals = {name: _true(name, day) for name in BASE}
    totals["tanks"] += tanks_off
    totals["uav_systems"] += drones_off
    if source.startswith("news"):
        # A news page in our own words: dated in full, without the year, or not at all.
        heading = {
            "full": f"Втрати ворога станом на {date.day} {MONTHS_UK[date.month - 1]} "
                    f"{date.year} року:",
            "no year": f"Втрати ворога станом на {date.day} {MONTHS_UK[date.month - 1]}:",
            "none": "Втрати ворога, свіже зведення:",
        }[dated]
        lines = [heading]
        for name, label in NEWS_LABEL.items():
            change = f" (+{DAILY[name]})" if deltas else ""
            lines.append(f"{label} — {totals[name]}{change}")
        return ("\n".join(lines) + "\n").encode()
    if source.startswith("gs"):
        lines = [f"Combat losses of the enemy from 24.02.22 to {date:%d.%m.%y} (our wording):"]
        for name, label in (("tanks", "tanks"), ("planes", "aircraft"),
                            ("uav_systems", "UAV operational-tactical level")):
            change = f" (+{DAILY[name]})" if deltas else ""
            lines.append(f"{label} ‒ {totals[name]}{change},")
        return ("\n".join(lines) + "\n").encode()
    payload: dict[str, object] = {"date": date.isoformat(), "stats": totals}
    if deltas:
        payload["increase"] = dict(DAILY)
    return json.dumps({"data": payload}).encode()


def _events(stream: list[tuple[str, tuple]], reports_so_far: list[str],
            decisions_so_far: list[str], bodies: set[bytes], start: int) -> list[object]:
    """The stream's items as events; ids of reports and decisions, and the reports' bodies,
    are remembered as made (the log keeps one event per body: a repeat is a duplicate)."""
    events: list[object] = []
    for offset, (kind, spec) in enumerate(stream):
        received = RECEIVED0 + dt.timedelta(hours=start + offset)
        if kind == "report":
            source_i, day, tanks_off, drones_off, deltas, readable, dated, early = spec
            source = SOURCES[source_i]
            body = (_body(source, day, tanks_off, drones_off, deltas, dated) if readable
                    else f"nothing to read here ({start + offset})".encode())
            event = ReportReceived(
                source=source, file_name=f"{source}-{start + offset}.txt",
                media_type="application/json" if source.startswith("api") else "text/plain",
                body=body, received_at=received + dt.timedelta(days=day - early),
            )
            reports_so_far.append(event.event_id)
            bodies.add(body)
        elif spec[0] == "override":
            _, day, name, off = spec
            event = TotalOverridden(
                date=DAY0 + dt.timedelta(days=day), category=CATEGORY[name],
                total=_true(name, day) + off, reason="checked", actor="test",
            )
            decisions_so_far.append(event.event_id)
        elif spec[0] == "retract":
            if not reports_so_far:
                continue
            event = ReportRetracted(target_event_id=reports_so_far[spec[1] % len(reports_so_far)],
                                    reason="wrong page", actor="test")
            decisions_so_far.append(event.event_id)
        else:
            if not decisions_so_far:
                continue
            event = DecisionReverted(
                target_event_id=decisions_so_far[spec[1] % len(decisions_so_far)],
                reason="second look", actor="test",
            )
        events.append(event)
    return events


def _published(home: Path) -> dict[str, pl.DataFrame]:
    version = open_version(home)
    return {name: version.scan(name).collect() for name in TABLES}


# No shrinking: an example is several pipeline runs, and shrinking one took minutes; a failure
# prints its whole stream, which is short.
@settings(max_examples=12, deadline=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(items=st.lists(item, min_size=1, max_size=24),
       cuts=st.lists(st.integers(1, 23), max_size=3))
@example(  # the same report twice, in two batches: the log keeps it once
    items=[("report", (1, 5, -4, 2, True, 17, "full", False)),
           ("report", (1, 5, -4, 2, True, 17, "full", False))],
    cuts=[1],
)
@example(  # news pages dated by their figures, before and after the figures that date them;
    # one far off the series; a report received before its date
    items=[("report", (3, 2, 0, 0, True, 5, "none", False)),
           ("report", (3, 3, 0, 0, False, 5, "no year", False)),
           ("report", (0, 2, 0, 0, True, 5, "full", False)),
           ("report", (0, 4, 0, 0, True, 5, "full", True)),
           ("report", (3, 4, -6000, 0, True, 5, "full", False)),
           ("report", (1, 3, 0, 0, True, 5, "full", False)),
           ("report", (3, 5, 0, 0, True, 5, "none", False))],
    cuts=[1, 3, 5],
)
def test_incremental_runs_publish_what_a_rebuild_publishes(
    tmp_path: Path, items: list[tuple[str, tuple]], cuts: list[int]
) -> None:
    root = tmp_path / f"case-{len(list(tmp_path.iterdir()))}"
    daily, fresh = root / "daily", root / "fresh"
    bounds = sorted({0, len(items), *(c for c in cuts if c < len(items))})
    reports: list[str] = []
    decisions: list[str] = []
    bodies: set[bytes] = set()
    runs = 0
    head = 0
    for first, last in itertools.pairwise(bounds):
        events = _events(items[first:last], reports, decisions, bodies, first)
        if events:
            with RunSettings.resolve(daily).store() as store:
                store.append(events)  # type: ignore[arg-type]
        tables = build(daily, publish_to=daily / "warehouse")
        # Each run takes the settled figures of the log the run before it projected.
        assert tables.figures is not None
        assert tables.figures.checked_upto == (head if head else -1)
        with RunSettings.resolve(daily).store() as store:
            head = store.head()
        runs += 1
    # A second home with the same log and nothing else: no parse cache, no warehouse.
    fresh.mkdir(parents=True)
    for path in daily.glob("events.sqlite*"):
        shutil.copy2(path, fresh / path.name)
    build(fresh, publish_to=fresh / "warehouse")

    got, want = _published(daily), _published(fresh)
    assert runs == len(bounds) - 1
    for name in TABLES:
        try:
            assert_frame_equal(got[name], want[name], check_exact=True)
        except AssertionError as exc:
            raise AssertionError(f"table {name}: {exc}") from None
    # The stream made something to compare: every distinct report is a published report row.
    assert got["reports"].height == len(bodies)
