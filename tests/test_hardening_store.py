"""Hardening, the store and ingest half (issue 16): hostile input, tampering, odd files.

Every test here failed on main at bd11581 and is fast: real SQLite, real files, real FIFOs,
the real command line (no Prefect: each command checked here stops or finishes before one).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import polars as pl
import pytest

from lossledger.parse.parsers import MAX_PROBLEMS_PER_REPORT, parse_report
from lossledger.parse.parsers._utils import MAX_HISTORY_ROWS
from lossledger.parse.stage import parse_events
from lossledger.pipeline import RunSettings, check_events, plan_run
from lossledger.store.base import StoreError, open_store
from lossledger.store.events import ReportReceived, ReportRetracted, TamperedEvent
from lossledger.store.ingest import IngestError, ingest_files, report_files, validate_source
from lossledger.store.sqlite import SQLiteEventStore
from tests.conftest import GS_EN_0130, GS_EN_0131, REPO
from tests.helpers import build, ingest, ingest_bytes

# A General Staff post in our own words, around the real figures of 31 January 2024, with
# the tanks line replaced by a 20-digit figure no count can be.
HUGE_TOTAL_POST = """Update from the General Staff.
The total combat losses of the enemy from 24.02.22 to 31.01.24 were approximately:
personnel ‒ about 385230 (+1090) persons,
tanks ‒ 12345678901234567890 (+10),
artillery systems – 9195 (+51),
special equipment ‒ 1452 (+4).
""".encode()


def cli_process(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The command line in a process of its own (for what could hang)."""
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "lossledger", *args],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO,
    )


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """The command line's entry point, run in this process (it saves seconds of imports per
    call): exit status, stdout and stderr as a completed process would give them."""
    from lossledger.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("LOSSLEDGER_HOME", raising=False)
    monkeypatch.delenv("LOSSLEDGER_STORE", raising=False)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["lossledger", *args])
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 0
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)

    return run


def events_db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "events.sqlite")


def files_under(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*")) if p.is_file()
    }


# -- 1. one event never wedges a run ----------------------------------------------------------

def test_a_20_digit_total_is_a_quarantined_figure_and_the_rest_publishes(tmp_path: Path) -> None:
    bad = ingest_bytes(tmp_path, HUGE_TOTAL_POST, name="huge.txt", source="generalstaff.en")
    ingest(tmp_path, GS_EN_0130, source="generalstaff.en")
    tables = build(tmp_path, publish_to=tmp_path / "warehouse")

    reasons = tables.quarantine.filter(pl.col("event_id") == bad)["reason"].to_list()
    assert reasons == ["figure out of range for 'tanks': 12345678901234567890"]
    # The bad report's other figures, and the other report, are published.
    bad_figures = tables.observations.filter(pl.col("event_id") == bad)
    assert sorted(bad_figures["category"]) == ["artillery", "personnel", "special_equipment"]
    assert tables.daily_totals.filter(pl.col("date").dt.day() == 30).height == 14

    # Later runs and a retraction of the bad report run through as well.
    with RunSettings.resolve(tmp_path).store() as store:
        store.append([ReportRetracted(target_event_id=bad, reason="absurd", actor="qa")])
    again = build(tmp_path, publish_to=tmp_path / "warehouse")
    status = again.reports.filter(pl.col("event_id") == bad)["status"].to_list()
    assert status == ["retracted"]


def test_a_parser_output_the_frames_cannot_hold_is_that_reports_quarantine(
    tmp_path: Path,
) -> None:
    # A JSON API document whose total overflows 64 bits: caught, figure by figure.
    body = json.dumps({"date": "2024-01-31", "stats": {"tanks": 2**70, "mlrs": 974}})
    ingest_bytes(tmp_path, body.encode(), name="api.json", source="api")
    ingest(tmp_path, GS_EN_0131, source="generalstaff.en")
    with RunSettings.resolve(tmp_path).store() as store:
        batch = parse_events(store.read())
    assert batch.events.height == 2
    assert batch.observations.filter(pl.col("category") == "mlrs").height == 2
    assert any("figure out of range for 'tanks'" in r for r in batch.problems["reason"])


def test_one_report_never_has_more_than_the_cap_of_problems() -> None:
    records = [{"date": f"2024-13-{n}", "tank": 1} for n in range(5_000)]
    result = parse_report(json.dumps(records).encode(), media_type="application/json",
                          file_name="h.json")
    assert len(result.problems) == MAX_PROBLEMS_PER_REPORT
    assert "more problems in this report" in result.problems[-1].reason


# -- 2. tampering stops publication; no SQL path alters an event; cache pinned to the log ----

def _tamper_body(home: Path, seq: int) -> None:
    with events_db(home) as db:
        db.execute("DROP TRIGGER events_refuse_update")
        db.execute("UPDATE events SET body = CAST(replace(body, '6310', '6311') AS BLOB) "
                   "WHERE seq = ?", (seq,))


def test_tampered_bytes_stop_the_run_before_anything_is_published(tmp_path: Path, cli) -> None:
    ingest(tmp_path, GS_EN_0130, source="generalstaff.en")
    build(tmp_path, publish_to=tmp_path / "warehouse")
    ingest(tmp_path, GS_EN_0131, source="generalstaff.en")
    _tamper_body(tmp_path, seq=2)
    before = files_under(tmp_path / "warehouse")

    with pytest.raises(TamperedEvent, match=r"event seq 2 .*raw bytes do not match"):
        build(tmp_path, publish_to=tmp_path / "warehouse")
    assert files_under(tmp_path / "warehouse") == before

    # The command line says it in one line, naming the seq and `verify`, and publishes nothing.
    for command in ("run", "rebuild"):
        result = cli(command, "--home", str(tmp_path))
        assert result.returncode == 1, result
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert "run stopped: event seq 2" in lines[0] and "lossledger verify" in lines[0]
        assert files_under(tmp_path / "warehouse") == before


def test_a_reused_seq_never_picks_up_another_events_parse(tmp_path: Path) -> None:
    ingest(tmp_path, GS_EN_0130, source="generalstaff.en")
    ingest(tmp_path, GS_EN_0131, source="generalstaff.en")
    build(tmp_path)
    # Someone cuts the last event off the log (past the trigger) and a new report arrives.
    with events_db(tmp_path) as db:
        db.execute("DROP TRIGGER events_refuse_delete")
        db.execute("DELETE FROM events WHERE seq = 2")
    new = ingest_bytes(tmp_path, HUGE_TOTAL_POST, name="new.txt", source="generalstaff.en")
    assert plan_run(RunSettings.resolve(tmp_path)).parse_ranges == ((1, 2),)
    tables = build(tmp_path)
    assert tables.reports.filter(pl.col("seq") == 2)["event_id"].to_list() == [new]
    assert tables.reports["file_name"].to_list() == [GS_EN_0130.name, "new.txt"]


def test_head_link_and_hash_at_pin_the_log(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'e.sqlite'}") as store:
        assert store.head_link() == (0, "0" * 64)
        recorded = store.append([ReportReceived(source="s", file_name="a", media_type="t",
                                                body=b"a")]).recorded
        assert store.head_link() == (1, recorded[0].hash)
        assert store.hash_at(1) == recorded[0].hash and store.hash_at(2) is None


# -- 4. memory: size limit, history caps --------------------------------------------------------

def test_a_report_over_the_size_limit_is_stored_and_quarantined_as_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOSSLEDGER_MAX_REPORT_BYTES", "600")
    ingest(tmp_path, GS_EN_0131, source="generalstaff.en")  # 628 bytes: over the limit
    ingest_bytes(tmp_path, b"tanks: 1", name="small.txt")
    tables = build(tmp_path)
    with RunSettings.resolve(tmp_path).store() as store:
        assert store.head() == 2  # stored as received
    too_large = tables.quarantine.filter(pl.col("reason").str.starts_with("report too large"))
    assert too_large["file_name"].to_list() == [GS_EN_0131.name]
    assert "limit 600" in too_large["reason"][0]


def test_history_files_beyond_any_real_size_are_refused_with_a_reason() -> None:
    rows = "\n".join(f"2023-01-01,1,{n}" for n in range(MAX_HISTORY_ROWS + 1))
    csv = parse_report(f"date,day,personnel\n{rows}\n".encode(), media_type="text/csv",
                       file_name="h.csv")
    assert csv.observations == () and "more than 20,000 rows" in csv.problems[0].reason
    records = [{"date": "2023-01-01", "tank": n} for n in range(MAX_HISTORY_ROWS + 1)]
    js = parse_report(json.dumps(records).encode(), media_type="application/json",
                      file_name="h.json")
    assert js.observations == () and "more than 20,000" in js.problems[0].reason
    big = b"[" + b'{"date": "2023-01-01", "tank": 1},' * 120_000 + b"{}]"
    assert "text of 4,080,004 characters not parsed: over the limit of 4,000,000" in (
        parse_report(big, media_type="application/json", file_name="big.json").problems[0].reason
    )
    text = b"31.01.2024\nTank: 6310 (+10)\n" * 150_000
    assert "text of 4,200,000 characters not parsed" in parse_report(
        text, media_type="text/plain", file_name="big.txt").problems[0].reason


def test_quarantine_of_absurd_dates_is_filed_under_the_received_date(tmp_path: Path) -> None:
    records = [{"date": f"{year}-01-01", "tank": 5} for year in (2023, 4760, 9999)]
    ingest_bytes(tmp_path, json.dumps(records).encode(), name="h.json", source="history")
    tables = build(tmp_path, publish_to=tmp_path / "warehouse")
    assert tables.quarantine.height == 2
    years = {p.name for p in (tmp_path / "warehouse" / "quarantine").glob("year=*")}
    assert years == {f"year={tables.quarantine['received_at'][0].year}"}


# -- 5, 6. odd entries in an inbox -------------------------------------------------------------

def test_a_fifo_and_other_bad_entries_are_named_and_skipped_never_block(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox" / "generalstaff.en"
    inbox.mkdir(parents=True)
    (inbox / GS_EN_0130.name).write_bytes(GS_EN_0130.read_bytes())
    os.mkfifo(inbox / "pipe.txt")
    os.symlink("loop.txt", inbox / "loop.txt")
    os.symlink("missing.txt", inbox / "dangling.txt")
    os.symlink(tmp_path / "inbox", inbox / "up")  # a directory link back up the tree
    name = os.fsencode(inbox) + b"/caf\xe9.txt"  # not UTF-8
    with open(name, "wb") as handle:
        handle.write(GS_EN_0131.read_bytes())

    home = tmp_path / "home"
    result = cli_process("ingest", str(tmp_path / "inbox"), "--home", str(home), timeout=60)
    assert result.returncode == 0, result
    assert "5 files: 2 new, 0 duplicate, 4 skipped" in result.stdout
    for entry, reason in [("pipe.txt", "not a regular file (a FIFO)"),
                          ("loop.txt", "symbolic link loop"),
                          ("dangling.txt", "dangling symbolic link"),
                          ("up", "symbolic link to a directory (not followed)")]:
        assert f"{entry}: {reason}" in result.stderr, result.stderr
    with events_db(home) as db:
        names = [json.loads(p)["file_name"] for (p,) in db.execute("SELECT payload FROM events")]
    assert sorted(names) == sorted([GS_EN_0130.name, "caf\\xe9.txt"])


def test_skipped_entries_reach_the_summary_dict(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    os.mkfifo(inbox / "pipe.txt")
    (inbox / "a.txt").write_bytes(GS_EN_0130.read_bytes())
    with RunSettings.resolve(tmp_path).store() as store:
        summary = ingest_files(store, report_files([inbox]))
    assert summary.as_dict()["skipped"] == [
        {"path": str(inbox / "pipe.txt"), "reason": "not a regular file (a FIFO)"}
    ]
    from lossledger.report.run_summary import run_markdown

    page = run_markdown({
        "ingested": summary.as_dict(), "watermark_before": 0, "watermark_after": 1,
        "reports": 1, "quarantined_reports": 0, "quarantine_rows": 0, "observations": 1,
        "daily_totals": 1, "partitions_written": 1, "partitions_removed": 0,
        "partitions_unchanged": 0, "discrepancies": {}, "discrepancies_by_source": {},
        "new_discrepancies": 0, "finished_at": "now",
    })
    assert f"skipped `{inbox / 'pipe.txt'}`: not a regular file (a FIFO)" in page


# -- 9. files and errors ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "reason"),
    [("", "it is empty"), ("/", "contains '/'"), ("a\nb", "control character U+000A"),
     ("..", "a path"), (" x", "white space"), ("a\x1bb", "control character U+001B")],
)
def test_source_names_are_validated_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(IngestError, match=re.escape(reason)):
        validate_source(name)


def test_the_cli_refuses_a_bad_source_in_one_line(tmp_path: Path, cli) -> None:
    result = cli("ingest", str(GS_EN_0130), "--source", "a\nb", "--home", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: invalid source name 'a\\nb': it contains the control character U+000A"
    )
    assert not (tmp_path / "events.sqlite").exists()


def test_published_and_cached_files_are_readable_under_umask_0022(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        ingest(tmp_path, GS_EN_0131, source="generalstaff.en")
        build(tmp_path, publish_to=tmp_path / "warehouse")
    finally:
        os.umask(old)
    written = [p for p in (tmp_path / "warehouse").rglob("*") if p.is_file()]
    written += [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(written) > 5
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written}
    assert set(modes.values()) == {"0o644"}, modes


def test_a_full_disk_during_ingest_is_one_clear_error(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.sqlite")
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # the disk is (nearly) full
    files = report_files([GS_EN_0130])
    big = tmp_path / "big.txt"
    big.write_bytes(os.urandom(100_000))
    with pytest.raises(StoreError, match=r"the disk holding .* is full"):
        ingest_files(store, [*files, *report_files([big])])
    store.close()
    with open_store(f"sqlite:///{tmp_path / 'events.sqlite'}") as again:
        assert again.head() == 0 and again.verify().ok  # nothing half-written


def test_a_full_disk_is_one_line_on_the_command_line(tmp_path: Path, cli) -> None:
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    home.mkdir()
    inbox.mkdir()
    for n in range(6):
        (inbox / f"r{n}.txt").write_bytes(os.urandom(100_000))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(home)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root with mount rights)")
    try:
        result = cli("ingest", str(inbox), "--home", str(home))
    finally:
        subprocess.run(["umount", "--lazy", str(home)], check=True)
    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if not line.startswith("ingesting")]
    assert len(problems) == 1 and problems[0].startswith("error: the disk holding"), problems
    assert "is full" in problems[0] and "Traceback" not in result.stderr


def test_a_read_only_store_can_be_verified_but_not_written(tmp_path: Path, cli) -> None:
    ingest(tmp_path, GS_EN_0130, source="generalstaff.en")
    database = tmp_path / "events.sqlite"
    before = database.read_bytes()
    with open_store(f"sqlite:///{database}", read_only=True) as store:
        assert store.verify().ok and store.head() == 1
        with pytest.raises(StoreError, match="read-only"):
            store.append([ReportReceived(source="s", file_name="a", media_type="t", body=b"x")])
    for command in ("verify", "status"):
        assert cli(command, "--home", str(tmp_path)).returncode == 0
    assert database.read_bytes() == before
    # Read-only never creates a store where there is none (verify of a mistyped home).
    result = cli("verify", "--home", str(tmp_path / "typo"))
    assert result.returncode == 2 and "no event store at" in result.stderr
    assert not (tmp_path / "typo").exists()


@pytest.fixture
def read_only_mount(tmp_path: Path):
    """``tmp_path/ro``: a read-only bind mount of ``tmp_path/home`` (root with mount rights
    only, as in CI; elsewhere skipped). Root ignores file modes, so only a mount is real."""
    home, view = tmp_path / "home", tmp_path / "ro"
    home.mkdir()
    view.mkdir()
    steps = [["mount", "--bind", str(home), str(view)],
             ["mount", "-o", "remount,bind,ro", str(view)]]
    for step in steps:
        if subprocess.run(step, capture_output=True).returncode != 0:
            subprocess.run(["umount", str(view)], capture_output=True)
            pytest.skip("cannot make a read-only mount here (needs root with mount rights)")
    yield home, view
    # Lazy: a file the reader mapped (Parquet) may keep the mount busy until it is collected.
    subprocess.run(["umount", "--lazy", str(view)], check=True)


def test_verify_and_status_work_in_a_read_only_home(read_only_mount, cli) -> None:
    home, view = read_only_mount
    ingest(home, GS_EN_0130, source="generalstaff.en")
    build(home, publish_to=home / "warehouse")
    for command in ("verify", "status"):
        result = cli(command, "--home", str(view))
        assert result.returncode == 0, result
    assert "ok: 1 events" in cli("verify", "--home", str(view)).stdout
    ingest_refused = cli("ingest", str(GS_EN_0131), "--home", str(view))
    assert ingest_refused.returncode == 2
    assert "read-only" in ingest_refused.stderr and "Traceback" not in ingest_refused.stderr


# -- 10. Python versions ----------------------------------------------------------------------

def test_python_3_11_to_3_13_are_admitted_and_locked() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    assert lock["requires-python"] == ">=3.11, <3.14"


# -- 12. shared options before the command ----------------------------------------------------

def test_home_and_store_work_before_the_command_too(tmp_path: Path, cli) -> None:
    ingest(tmp_path, GS_EN_0130, source="generalstaff.en")
    before = cli("--home", str(tmp_path), "verify")
    assert before.returncode == 0 and "ok: 1 events" in before.stdout, before
    url = f"sqlite:///{tmp_path / 'events.sqlite'}"
    assert "ok: 1 events" in cli(f"--store={url}", "verify").stdout
    # Given twice, the one after the command wins (as with git -C, the later one counts).
    after = cli("--home", str(tmp_path / "nowhere"), "verify", "--home", str(tmp_path))
    assert "ok: 1 events" in after.stdout, after
    assert "--home" in cli("--help").stdout


def test_check_events_names_the_first_altered_event(tmp_path: Path) -> None:
    ingest(tmp_path, GS_EN_0130, GS_EN_0131, source="generalstaff.en")
    assert check_events(RunSettings.resolve(tmp_path)) == 2
    with events_db(tmp_path) as db:
        db.execute("DROP TRIGGER events_refuse_update")
        db.execute("UPDATE events SET payload = replace(payload, 'generalstaff', 'evil')")
    with pytest.raises(TamperedEvent, match=r"event seq 1 .*fields do not match"):
        check_events(RunSettings.resolve(tmp_path))
