"""The parse stage with worker processes: the same frames, row for row, as in one process.

The reports are the real-world corpus (our own words around real figures), stored in a real
SQLite event store, plus the awkward cases: the same content twice, binary bytes, a report over
the size limit.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import lossledger.parse.stage as stage
from lossledger.parse.parsers import PARSERS, ParsedObservation, Parser, ParseResult
from lossledger.store.base import open_store
from lossledger.store.events import RecordedEvent, ReportReceived
from tests.corpus_real.generate import build_corpus

RECEIVED = dt.datetime(2024, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[RecordedEvent]:
    reports = build_corpus(seed=3)
    received = [
        ReportReceived(source=f"corpus.{i}", file_name=r.file_name, media_type=r.media_type,
                       body=r.body, received_at=r.received_at)
        for i, r in enumerate(reports)
    ]
    received += [
        ReportReceived(source="junk", file_name="x.bin", media_type="application/octet-stream",
                       body=bytes(range(256)) * 4, received_at=RECEIVED),
        ReportReceived(source="big", file_name="big.txt", media_type="text/plain",
                       body=b"Panzer: 6310\n" * 2_000, received_at=RECEIVED),
    ]
    home = tmp_path_factory.mktemp("parallel")
    store = open_store(f"sqlite:///{Path(home) / 'events.sqlite'}")
    try:
        store.append(received)
        return list(store.read())
    finally:
        store.close()


def test_workers_give_the_same_frames_as_one_process(
    events: list[RecordedEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small chunks and a low threshold, so that a corpus of 200 reports goes out in many.
    monkeypatch.setattr(stage, "PARALLEL_MIN_REPORTS", 16)
    monkeypatch.setattr(stage, "_CHUNK_REPORTS", 8)
    here: list[int] = []
    original = stage._parse_chunk

    def counted(chunk: list[RecordedEvent], *args: object) -> list[object]:
        here.append(len(chunk))  # recorded in this process only (a worker has its own copy)
        return original(chunk, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(stage, "_parse_chunk", counted)
    events = [*events, events[5]]  # the same content twice: parsed once
    one = stage.parse_events(events, parsers=PARSERS, max_report_bytes=20_000, workers=1)
    serial_calls = len(here)
    here.clear()
    two = stage.parse_events(events, parsers=PARSERS, max_report_bytes=20_000, workers=2)
    for name, frame in one.frames().items():
        assert_frame_equal(frame, two.frames()[name])
    assert one.events.height == len(events) - 1
    assert one.observations.height > 1_500
    reasons = one.problems["reason"].to_list()
    assert any(r.startswith("report too large") for r in reasons)
    assert any(r.startswith("undecodable") for r in reasons)
    assert serial_calls == 0  # one process: no chunks
    # with a worker, this process parsed only part of the chunks
    assert 0 < sum(here) < one.events.height


def test_a_small_batch_stays_in_this_process(
    events: list[RecordedEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    here: list[int] = []
    original = stage._parse_chunk

    def counted(chunk: list[RecordedEvent], *args: object) -> list[object]:
        here.append(len(chunk))
        return original(chunk, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(stage, "_parse_chunk", counted)
    batch = stage.parse_events(events[:20], parsers=PARSERS, workers=2)
    assert batch.events.height == 20
    assert here == [20]  # below PARALLEL_MIN_REPORTS: parsed here, in one piece


def test_parse_workers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(stage.PARSE_WORKERS_ENV, "3")
    assert stage.parse_workers() == 3
    monkeypatch.setenv(stage.PARSE_WORKERS_ENV, "0")
    assert stage.parse_workers() == 1
    monkeypatch.setenv(stage.PARSE_WORKERS_ENV, "many")
    with pytest.raises(ValueError, match="whole number"):
        stage.parse_workers()


def test_parse_workers_default_to_the_usable_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(stage.PARSE_WORKERS_ENV, raising=False)
    monkeypatch.setattr(stage.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert stage.parse_workers() == 3
    monkeypatch.setenv(stage.PARSE_WORKERS_ENV, " Auto ")
    assert stage.parse_workers() == 3
    monkeypatch.setattr(stage.os, "sched_getaffinity", lambda pid: set(range(64)))
    assert stage.parse_workers() == stage.DEFAULT_MAX_WORKERS  # capped unless asked
    monkeypatch.setenv(stage.PARSE_WORKERS_ENV, "12")
    assert stage.parse_workers() == 12


def test_pages_go_in_chunks_of_their_own_that_this_process_takes_last(
    events: list[RecordedEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTML pages and plain text never share a chunk; the chunk parsed before the workers
    fork is plain text (so this process does not load the page libraries for them), and the
    frames still come back in the reports' order."""
    monkeypatch.setattr(stage, "PARALLEL_MIN_REPORTS", 16)
    monkeypatch.setattr(stage, "_CHUNK_REPORTS", 8)
    parent = os.getpid()
    original = stage._parse_chunk
    here: list[set[bool]] = []

    def noted(chunk: list[RecordedEvent], *args: object) -> list[object]:
        if os.getpid() == parent:
            here.append({stage._looks_like_markup(recorded) for recorded in chunk})
        return original(chunk, *args)  # type: ignore[arg-type]

    pages = [e for e in events if stage._looks_like_markup(e)]
    assert 10 < len(pages) < len(events) / 2
    one = stage.parse_events(events, parsers=PARSERS, max_report_bytes=20_000, workers=1)
    monkeypatch.setattr(stage, "_parse_chunk", noted)
    two = stage.parse_events(events, parsers=PARSERS, max_report_bytes=20_000, workers=2)
    for name, frame in one.frames().items():
        assert_frame_equal(frame, two.frames()[name])
    assert here[0] == {False}  # the first chunk, before the fork: plain text
    assert all(len(kinds) == 1 for kinds in here)  # no chunk mixes pages and text


def test_a_worker_that_dies_loses_no_report(
    events: list[RecordedEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed in the middle of its share: the chunks it took are parsed here, and
    the frames are those of one process."""
    monkeypatch.setattr(stage, "PARALLEL_MIN_REPORTS", 16)
    monkeypatch.setattr(stage, "_CHUNK_REPORTS", 8)
    parent = os.getpid()
    original = stage._parse_chunk
    taken_in_worker: list[int] = []

    def dying(chunk: list[RecordedEvent], *args: object) -> list[object]:
        if os.getpid() != parent:
            taken_in_worker.append(len(chunk))
            if len(taken_in_worker) == 2:  # the worker's second chunk: it dies on it
                os._exit(3)
        return original(chunk, *args)  # type: ignore[arg-type]

    one = stage.parse_events(events, parsers=PARSERS, max_report_bytes=20_000, workers=1)
    monkeypatch.setattr(stage, "_parse_chunk", dying)
    two = stage.parse_events(events, parsers=PARSERS, max_report_bytes=20_000, workers=2)
    for name, frame in one.frames().items():
        assert_frame_equal(frame, two.frames()[name])


_AFTER_POLARS = """
import pickle, sys
import polars as pl
import lossledger.parse.stage as stage
from lossledger.parse.parsers import PARSERS
# polars' thread pool is up in this process before the workers are forked
pl.DataFrame({"a": range(200_000)}).group_by(pl.col("a") % 7).agg(pl.len())
stage.PARALLEL_MIN_REPORTS, stage._CHUNK_REPORTS = 16, 8
events = pickle.load(open(sys.argv[1], "rb"))
batch = stage.parse_events(events, parsers=PARSERS, max_report_bytes=20_000, workers=2)
print(batch.events.height, batch.observations.height)
"""


def test_workers_fork_safely_after_polars_ran(
    events: list[RecordedEvent], tmp_path: Path
) -> None:
    """A fork copies polars' thread pool without its threads: a worker that ran a parallel
    polars operation would wait for them forever. The workers run none (the parent makes
    the frames), so a process that used polars before still parses with them."""
    import pickle
    import subprocess
    import sys

    saved = tmp_path / "events.pickle"
    saved.write_bytes(pickle.dumps(events))
    done = subprocess.run([sys.executable, "-c", _AFTER_POLARS, str(saved)],
                          capture_output=True, text=True, timeout=300, check=False,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    reports, observations = map(int, done.stdout.split())
    assert reports == len({e.content_sha256 for e in events})
    assert observations > 1_500


class _Unfit(Parser):
    """A buggy parser: its figures' span is text, which no frame column holds."""

    name = "unfit"
    version = "1"
    source_kind = "ticker"

    def claims(self, text: str, *, media_type: str) -> bool:
        return "tank" in text.casefold()

    def parse(self, text: str, *, media_type: str) -> ParseResult:
        bad = ParsedObservation(dt.date(2024, 1, 31), "tanks", 6310,
                                span_start="somewhere")  # type: ignore[arg-type]
        return ParseResult(self.name, self.version, self.source_kind, dt.date(2024, 1, 31),
                           (bad,))


def test_output_that_fits_no_frame_quarantines_its_report_alone_in_any_process(
    events: list[RecordedEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report whose rows do not fit the frames (a parser bug) is quarantined alone, whichever
    process parsed it."""
    monkeypatch.setattr(stage, "PARALLEL_MIN_REPORTS", 16)
    monkeypatch.setattr(stage, "_CHUNK_REPORTS", 8)
    parsers = [_Unfit()]
    one = stage.parse_events(events, parsers=parsers, max_report_bytes=20_000, workers=1)
    two = stage.parse_events(events, parsers=parsers, max_report_bytes=20_000, workers=2)
    for name, frame in one.frames().items():
        assert_frame_equal(frame, two.frames()[name])
    unfit = one.problems.filter(pl.col("reason").str.starts_with("parser output unusable"))
    claimed = sum("tank" in (e.body or b"").decode("utf-8", "replace").casefold()
                  for e in {e.content_sha256: e for e in events}.values()
                  if len(e.body or b"") <= 20_000)
    assert unfit.height == claimed > 20  # every claimed report, each alone
    assert one.observations.filter(pl.col("sha256").is_in(unfit["sha256"].implode())).is_empty()
    assert one.observations.height > 0  # the general reader's reports are kept


def test_workers_that_sent_their_results_are_reaped_by_a_later_batch(
    events: list[RecordedEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch does not wait for its workers to exit once they sent their results; the next
    batch joins them (no process is left behind unreaped)."""
    monkeypatch.setattr(stage, "PARALLEL_MIN_REPORTS", 16)
    monkeypatch.setattr(stage, "_CHUNK_REPORTS", 8)
    stage.parse_events(events, parsers=PARSERS, max_report_bytes=20_000, workers=2)
    first = list(stage._exiting)
    assert first, "the batch's worker should be left to exit on its own"
    for process in first:
        process.join(timeout=30)  # it has exited (or does now): the next batch reaps it
    stage.parse_events(events, parsers=PARSERS, max_report_bytes=20_000, workers=2)
    assert all(process.exitcode == 0 for process in first)
    assert not set(first) & set(stage._exiting)


def _published(home: Path) -> dict[str, pl.DataFrame]:
    """The published tables, without what differs between two homes (event ids, times)."""
    import lossledger

    keep = {
        "observations": ["source", "date", "category", "total", "stated_delta", "label",
                         "span_start", "span_end", "confidence", "date_source", "date_text"],
        "daily_totals": ["date", "category", "total", "status", "confidence"],
        "quarantine": ["source", "category", "reason"],
        "discrepancies": ["date", "category", "kind"],
    }
    return {
        table: lossledger.scan(table, home=home).collect().select(columns).sort(columns,
                                                                              nulls_last=True)
        for table, columns in keep.items()
    }


@pytest.mark.usefixtures("prefect_env")
def test_workers_forked_inside_a_flow_run_publish_the_same_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline flow with two parse processes: the worker is forked from a process whose
    Prefect threads (API client, log and event workers) are alive; the published tables are
    those of a run with one process, and the worker did parse part of the reports."""
    from flows.pipeline import pipeline

    inbox = tmp_path / "inbox"
    for i, report in enumerate(build_corpus(seed=4)):
        folder = inbox / f"corpus.{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / report.file_name).write_bytes(report.body)
    monkeypatch.setattr(stage, "PARALLEL_MIN_REPORTS", 16)
    monkeypatch.setattr(stage, "_CHUNK_REPORTS", 8)
    here: list[int] = []
    original = stage._parse_chunk

    def counted(chunk: list[RecordedEvent], *args: object) -> list[object]:
        here.append(len(chunk))  # this process only: a worker has its own copy
        return original(chunk, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(stage, "_parse_chunk", counted)
    published = {}
    for workers in (1, 2):
        monkeypatch.setenv(stage.PARSE_WORKERS_ENV, str(workers))
        here.clear()
        summary = pipeline(home=str(tmp_path / f"home{workers}"), inbox=str(inbox))
        published[workers] = _published(tmp_path / f"home{workers}")
        reports = summary["ingested"]["new"]
    assert reports > 150
    assert 0 < sum(here) < reports  # with two: the worker parsed the other chunks
    assert published[1]["observations"].height > 1_500
    for table, frame in published[1].items():
        assert_frame_equal(frame, published[2][table], check_row_order=True)
