"""Publishing under faults: whole versions for readers, empty tables on disk, leftovers of a
killed publish, old versions, schema metadata, and a log that no longer matches the warehouse."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import lossledger
from lossledger.pipeline import LogMismatchError, RunSettings, plan_run
from lossledger.projection import TABLES
from lossledger.publish import warehouse
from lossledger.publish.warehouse import publish_tables, read_state
from lossledger.store.events import ReportRetracted
from schemas import table_schema
from tests.conftest import GS_EN_0130, GS_EN_0131, REPO, SEED
from tests.helpers import build, ingest
from tests.test_warehouse import next_month_post

HIVE = {"year": pl.Int64, "month": pl.Int64}


def published_january(tmp_path: Path) -> Path:
    """A home with the three January reports published."""
    home = tmp_path / "home"
    ingest(home, SEED, source="ticker.en")
    ingest(home, GS_EN_0130, GS_EN_0131, source="generalstaff.en")
    build(home, publish_to=home / "warehouse")
    return home


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return published_january(tmp_path)


def files_of(root: Path) -> dict[str, list[Path]]:
    """Every table's files, listed as a glob lists them: by path under ``root``."""
    return {table: sorted((root / table).glob("**/*.parquet")) for table in TABLES}


def read_listed(files: dict[str, list[Path]]) -> dict[str, pl.DataFrame]:
    return {table: pl.concat([pl.read_parquet(f) for f in paths], how="diagonal_relaxed")
            for table, paths in files.items()}


def a_month_restated(home: Path, tmp_path: Path) -> None:
    """A new month, plus a restated January total: January partitions change too."""
    ingest(home, next_month_post(tmp_path), source="generalstaff.en")
    restated = GS_EN_0131.read_text(encoding="utf-8").replace("6310", "6311")
    path = tmp_path / "restated.txt"
    path.write_text(restated, encoding="utf-8")
    ingest(home, path, source="generalstaff.uk")


# --- defect 3: readers see one whole version --------------------------------------------------


def test_a_reader_that_resolved_the_warehouse_reads_one_whole_version_across_a_publish(
    home: Path, tmp_path: Path
) -> None:
    warehouse = home / "warehouse"
    old = {t: lossledger.scan(t, home=home).collect() for t in TABLES}
    # A reader resolves the warehouse and lists every table's files, as a glob does ...
    listed = files_of(Path(os.path.realpath(warehouse)))
    a_month_restated(home, tmp_path)
    build(home, publish_to=warehouse)
    # ... and reads them after the publish: every file is still there, and all of them are
    # the version it listed, in every table (not January new and February missing).
    seen = read_listed(listed)
    for table in TABLES:
        key = seen[table].columns
        expected = old[table].drop("year", "month").select(key)
        assert seen[table].sort(key).equals(expected.sort(key)), table
    # A reader arriving now sees the new version whole, through the same plain glob.
    new = pl.scan_parquet(warehouse / "daily_totals/**/*.parquet", hive_partitioning=True)
    tanks = new.filter(pl.col("category") == "tanks").sort("date").collect()
    assert tanks["date"].dt.month().to_list() == [1, 1, 2]
    assert warehouse.is_symlink()


def test_a_path_through_the_link_never_names_other_bytes_after_a_switch(
    home: Path, tmp_path: Path
) -> None:
    """A plain glob lists paths through the link, then opens them: after a switch in between,
    each path it listed is gone or holds exactly the bytes it held (never a mix, never a file
    whose footer it read before and whose bytes changed since: polars panics on that)."""
    listed = [p for paths in files_of(home / "warehouse").values() for p in paths]
    assert all(".versions" not in str(p) for p in listed)
    bytes_then = {p: p.read_bytes() for p in listed}
    a_month_restated(home, tmp_path)
    build(home, publish_to=home / "warehouse")
    gone = [p for p in listed if not p.exists()]
    assert gone, "the publish changed no listed partition: the test proves nothing"
    for path in listed:
        if path.exists():
            assert path.read_bytes() == bytes_then[path], path


def test_open_version_pins_every_table_to_one_publish(home: Path, tmp_path: Path) -> None:
    pinned = lossledger.open_version(home)
    before = {t: pinned.scan(t).collect() for t in TABLES}
    a_month_restated(home, tmp_path)
    build(home, publish_to=home / "warehouse")
    assert pinned.state.watermark == 3
    for table in TABLES:
        assert pinned.scan(table).collect().equals(before[table]), table
    assert lossledger.open_version(home).state.watermark == 5
    assert lossledger.scan("reports", home=home).collect().height == 5


def test_unchanged_partitions_are_hard_links_and_old_versions_go_after_the_grace(
    home: Path, tmp_path: Path
) -> None:
    versions = home / "warehouse.versions"
    january = "observations/year=2024/month=01"
    ingest(home, next_month_post(tmp_path), source="generalstaff.en")
    tables = build(home)
    settings = RunSettings.resolve(home)
    publish_tables(tables, settings.warehouse, watermark=4, grace_s=3600)
    [old] = (versions / "000001" / january).glob("*.parquet")
    [new] = (versions / "000002" / january).glob("*.parquet")
    assert old.name == new.name and old.stat().st_ino == new.stat().st_ino
    assert (versions / "CURRENT").read_text().strip() == "000002"
    assert os.readlink(home / "warehouse") == "warehouse.versions/000002"
    # Within the grace period the old version stays for readers that resolved it ...
    assert (versions / "000001").is_dir()
    # ... and once it has passed, the next publish removes it (never the published one).
    restated = GS_EN_0131.read_text(encoding="utf-8").replace("6310", "6311")
    (tmp_path / "r.txt").write_text(restated, encoding="utf-8")
    ingest(home, tmp_path / "r.txt", source="generalstaff.uk")
    publish_tables(build(home), settings.warehouse, watermark=5, grace_s=0)
    assert sorted(p.name for p in versions.iterdir() if p.name.isdigit()) == ["000003"]
    assert read_state(home / "warehouse").watermark == 5


def test_a_warehouse_from_before_versions_becomes_version_zero(home: Path) -> None:
    """Upgrading: a plain directory warehouse is moved aside as version 000000."""
    legacy = home / "legacy"
    (home / "warehouse.versions" / "000001").rename(legacy)
    (home / "warehouse").unlink()
    (home / "warehouse.versions" / "CURRENT").unlink()
    legacy.rename(home / "warehouse")
    (home / "warehouse" / "daily_totals" / "year=2024" / "month=01" / ".tmp-abc").write_bytes(b"x")
    rows = lossledger.scan("daily_totals", home=home).collect().height
    publish_tables(build(home), home / "warehouse", watermark=3, grace_s=3600)
    assert (home / "warehouse").is_symlink()
    assert (home / "warehouse.versions" / "000000").is_dir()
    assert not list((home / "warehouse.versions").rglob(".tmp-*"))
    assert lossledger.scan("daily_totals", home=home).collect().height == rows


def test_every_file_records_its_schema_and_older_files_read_with_nulls(home: Path) -> None:
    for table in TABLES:
        for path in (home / "warehouse" / table).rglob("*.parquet"):
            metadata = pq.read_metadata(path).metadata
            assert metadata[b"lossledger.schema_version"] == str(len(table_schema(table))).encode()
            assert metadata[b"lossledger.columns"].decode().startswith("[")
    # A version written before a column existed: read with today's columns, as nulls.
    older = build(home)
    older = type(older)(**{t: f.drop("qualifier") if t == "observations" else f
                           for t, f in older.items()})
    publish_tables(older, home / "warehouse", watermark=3)
    observations = lossledger.scan("observations", home=home).collect()
    assert observations.height > 0 and observations["qualifier"].null_count() == observations.height
    assert list(observations.schema) == [*table_schema("observations"), "year", "month"]


# --- defect 7: empty tables exist on disk -----------------------------------------------------


def test_an_empty_table_is_read_with_its_schema_by_polars_duckdb_and_pyarrow(home: Path) -> None:
    root = home / "warehouse" / "quarantine"  # nothing is quarantined in these three reports
    expected = [*table_schema("quarantine"), "year", "month"]
    by_polars = pl.scan_parquet(root / "**/*.parquet", hive_partitioning=True).collect()
    by_duckdb = duckdb.sql(
        f"SELECT * FROM read_parquet('{root}/**/*.parquet', hive_partitioning=true, "
        "hive_types={'year': INTEGER, 'month': INTEGER})"
    ).pl()
    by_arrow = pl.from_arrow(ds.dataset(root, format="parquet", partitioning="hive").to_table())
    for frame in (by_polars, by_duckdb, by_arrow):
        assert frame.height == 0
        assert sorted(frame.columns) == sorted(expected)
    assert by_polars.schema["received_at"] == table_schema("quarantine")["received_at"]
    assert lossledger.scan("quarantine", home=home).collect().schema == {
        **table_schema("quarantine"), **HIVE}


# --- defect 8: leftovers of a killed publish --------------------------------------------------

KILLED_PUBLISH = textwrap.dedent("""
    import os, signal, sys
    import polars as pl
    from lossledger.pipeline import RunSettings
    from tests.helpers import build

    original, calls = pl.DataFrame.write_parquet, []
    def dying_write(frame, where, **options):
        calls.append("warehouse.versions" in str(where))  # the caches are written so too
        if sum(calls) == 3:  # half a file on disk, then kill -9
            with open(where, "wb") as handle:
                handle.write(b"PAR1 half a file")
            os.kill(os.getpid(), signal.SIGKILL)
        return original(frame, where, **options)
    pl.DataFrame.write_parquet = dying_write
    home = sys.argv[1]
    build(home, publish_to=RunSettings.resolve(home).warehouse)
""")


def test_a_killed_publish_leaves_readers_whole_and_the_next_run_cleans_up(
    home: Path, tmp_path: Path
) -> None:
    a_month_restated(home, tmp_path)
    killed = subprocess.run([sys.executable, "-c", KILLED_PUBLISH, str(home)], cwd=REPO,
                            capture_output=True, timeout=120, check=False)
    assert killed.returncode == -9, killed.stderr
    leftovers = [p for p in home.rglob(".tmp-*")]
    assert leftovers, "the killed publish left nothing behind: the test did not kill it mid-way"
    # Directory-form reads still see the published version, whole.
    root = home / "warehouse" / "daily_totals"
    assert ds.dataset(root, format="parquet", partitioning="hive").to_table().num_rows == 28
    assert pl.scan_parquet(root, hive_partitioning=True).collect().height == 28
    assert read_state(home / "warehouse").watermark == 3
    # The next run, even before it publishes anything, removes every leftover.
    plan_run(RunSettings.resolve(home))
    assert not list(home.rglob(".tmp-*"))
    build(home, publish_to=home / "warehouse")
    assert read_state(home / "warehouse").watermark == 5


# --- a daily run hashes what it can change, not the history ---------------------------------


def observation_partitions_hashed(
    monkeypatch: pytest.MonkeyPatch, table: str = "observations"
) -> list[list[str]]:
    """Per publish from now on: the partitions of ``table`` whose rows were hashed."""
    hashed: list[list[str]] = []
    original = warehouse._stage_table

    def spy(name: str, frame: pl.DataFrame, *args: object, **kwargs: object) -> object:
        if name != table:
            return original(name, frame, *args, **kwargs)  # type: ignore[arg-type]
        inner = warehouse._partition_hashes

        def record(
            rows: pl.DataFrame, rows_of: dict[str, pl.Series], **kwargs: str | None
        ) -> dict[str, bytes]:
            hashed.append(sorted(rows_of))
            return inner(rows, rows_of, **kwargs)

        monkeypatch.setattr(warehouse, "_partition_hashes", record)
        try:
            return original(name, frame, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            monkeypatch.setattr(warehouse, "_partition_hashes", inner)

    monkeypatch.setattr(warehouse, "_stage_table", spy)
    return hashed


def assert_published_as_by_a_rebuild(home: Path, fresh: Path) -> None:
    """A rebuild of the home's log in ``fresh`` publishes the same rows and content hashes."""
    fresh.mkdir()
    for path in home.glob("events.sqlite*"):
        shutil.copy2(path, fresh / path.name)
    build(fresh, publish_to=fresh / "warehouse")
    # File names carry the watermark a partition was written at: compared by partition.
    daily, rebuilt = (
        {key: {str(Path(f).parent): v for f, v in manifest(h)[key].items()}  # type: ignore[attr-defined]
         for key in ("hashes", "rows")} for h in (home, fresh)
    )
    assert daily == rebuilt
    for name in TABLES:
        got = lossledger.scan(name, home=home).collect()
        assert got.equals(lossledger.scan(name, home=fresh).collect()), name


def manifest(home: Path) -> dict[str, object]:
    return json.loads((home / "warehouse" / "_manifest.json").read_text())


def test_a_daily_run_hashes_only_the_months_it_can_change(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """January's settled figures are the rows January's partition was published with: a run
    that adds February hashes February's observations only, and publishes what a fresh
    rebuild of the same log publishes."""
    hashed = observation_partitions_hashed(monkeypatch)
    ingest(home, next_month_post(tmp_path), source="generalstaff.en")
    tables = build(home, publish_to=home / "warehouse")
    assert tables.kept is not None and tables.kept.upto == 3
    assert tables.kept.changed_months == {202402}
    assert hashed == [["year=2024/month=02"]]
    assert_published_as_by_a_rebuild(home, tmp_path / "fresh")
    assert hashed[1:] == [["year=2024/month=01", "year=2024/month=02"]]  # a rebuild hashes all


def test_a_partitions_hash_is_that_of_its_rows_alone() -> None:
    """Hashed with the whole table or alone, a partition's rows give one hash: the one
    published files carry (its row hashes, in order, hashed as bytes)."""
    frame = pl.DataFrame({"id": ["b", None, "a", "c", "a"], "n": [1, 2, 3, 4, 5]}).with_columns(
        pl.col("id").cast(pl.Enum(["a", "b", "c"])))
    rows_of = {"year=2024/month=01": pl.Series([0, 3], dtype=pl.UInt32),
               "year=2024/month=02": pl.Series([1, 2, 4], dtype=pl.UInt32)}
    whole = warehouse._partition_hashes(frame, rows_of)
    as_text = warehouse.enums_as_text(frame)
    for partition, rows in rows_of.items():
        alone = warehouse._partition_hashes(frame, {partition: rows})
        digest = hashlib.sha256(
            warehouse._row_hashes(as_text).gather(rows).to_numpy().tobytes()).hexdigest()
        assert whole[partition] == alone[partition] == warehouse._content_hash(
            as_text.head(0), digest)
    assert whole["year=2024/month=01"] != whole["year=2024/month=02"]


def test_a_month_with_figures_the_dating_rules_may_move_is_hashed_again(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A news page read by the general reader stays open to the dating rules (its day may
    move as the series grows, within its month too): its month is hashed on every run."""
    news = tmp_path / "news.txt"
    news.write_text("Втрати ворога станом на 31 січня 2024 року (наш переказ):\n"
                    "танки — 6310 (+10)\n", encoding="utf-8")  # the real total of that day
    ingest(home, news, source="news.uk")
    build(home, publish_to=home / "warehouse")
    hashed = observation_partitions_hashed(monkeypatch)
    reports_hashed = observation_partitions_hashed(monkeypatch, "reports")
    ingest(home, next_month_post(tmp_path), source="generalstaff.en")
    tables = build(home, publish_to=home / "warehouse")
    assert tables.kept is not None
    assert tables.kept.changed_months == {202401, 202402}
    assert hashed == [["year=2024/month=01", "year=2024/month=02"]]
    # The news page's row in the reports table follows its figures: its month too.
    assert reports_hashed == [["year=2024/month=01", "year=2024/month=02"]]
    assert lossledger.scan("observations", home=home).filter(
        pl.col("parser") == "text").collect().get_column("total").to_list() == [6310]


def test_a_retraction_since_the_last_run_hashes_every_month_again(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decision since the last run may flag rows of any month as retracted: no hint."""
    hashed = observation_partitions_hashed(monkeypatch)
    official = lossledger.scan("observations", home=home).filter(
        pl.col("parser") == "gs_en").collect().get_column("event_id")[0]
    with RunSettings.resolve(home).store() as store:
        store.append([ReportRetracted(target_event_id=official, reason="bad copy", actor="t")])
    ingest(home, next_month_post(tmp_path), source="generalstaff.en")
    tables = build(home, publish_to=home / "warehouse")
    assert tables.kept is None
    assert hashed == [["year=2024/month=01", "year=2024/month=02"]]
    flagged = lossledger.scan("observations", home=home).filter(pl.col("retracted")).collect()
    assert set(flagged.get_column("event_id")) == {official}


def test_a_published_version_from_other_code_or_rows_is_hashed_again(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hint is taken only from a version the same code made from the same log, with the
    same rows: another basis, or a row count that differs, and the partition is hashed."""
    hashed = observation_partitions_hashed(monkeypatch)
    version = (home / "warehouse").resolve()
    listed = json.loads((version / "_manifest.json").read_text())
    january = next(f for f in listed["rows"] if f.startswith("observations/year=2024/month=01"))
    listed["basis"] = "made by other code"
    (version / "_manifest.json").write_text(json.dumps(listed))
    ingest(home, next_month_post(tmp_path), source="generalstaff.en")
    build(home, publish_to=home / "warehouse")
    assert hashed == [["year=2024/month=01", "year=2024/month=02"]]

    version = (home / "warehouse").resolve()
    listed = json.loads((version / "_manifest.json").read_text())
    assert listed["basis"] != "made by other code"
    january = next(f for f in listed["rows"] if f.startswith("observations/year=2024/month=01"))
    listed["rows"][january] += 1
    (version / "_manifest.json").write_text(json.dumps(listed))
    march = next_month_post(tmp_path).read_text(encoding="utf-8").replace(
        "to 01.02.24", "to 01.03.24")
    (tmp_path / "mar.txt").write_text(march, encoding="utf-8")
    ingest(home, tmp_path / "mar.txt", source="generalstaff.en")
    build(home, publish_to=home / "warehouse")
    assert hashed[1] == ["year=2024/month=01", "year=2024/month=03"]


# --- defect 2, warehouse side: a log behind or unlike the published one -----------------------


def drop_last_event(home: Path) -> None:
    """Truncate the log past its triggers (a throwaway home)."""
    with sqlite3.connect(home / "events.sqlite") as db:
        db.execute("DROP TRIGGER events_refuse_delete")
        db.execute("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)")


def test_a_truncated_log_is_refused_by_run_and_named_by_verify(home: Path) -> None:
    state = read_state(home / "warehouse")
    assert state.watermark == 3 and len(state.log_hash) == 64
    drop_last_event(home)
    with pytest.raises(LogMismatchError, match=r"truncated.*up to seq 3.*ends at seq 2"):
        plan_run(RunSettings.resolve(home))
    verify = lossledger_cli("verify", home=home)
    assert verify.returncode == 1
    assert "truncated" in verify.stderr and "seq 3" in verify.stderr
    run = lossledger_cli("run", home=home)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "refusing to run" in run.stderr, run.stderr
    assert read_state(home / "warehouse").watermark == 3


def test_a_log_rewritten_at_the_published_head_is_refused(home: Path, tmp_path: Path) -> None:
    drop_last_event(home)
    ingest(home, next_month_post(tmp_path), source="generalstaff.en")  # a new event at seq 3
    with pytest.raises(LogMismatchError, match=r"rewritten: event seq 3"):
        plan_run(RunSettings.resolve(home))
    rebuild = lossledger_cli("rebuild", home=home)
    assert rebuild.returncode == 2 and "rewritten" in rebuild.stderr, rebuild.stderr


def lossledger_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOSSLEDGER_")}
    return subprocess.run(
        [sys.executable, "-m", "lossledger", *args, "--home", str(home)],
        capture_output=True, text=True, env={**env, "COLUMNS": "300"}, timeout=120, cwd=REPO,
    )


def test_a_daily_run_hashes_the_daily_totals_of_the_window_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over a history of years, a new day's window starts with the year before it: the
    daily totals of the months before its earliest anchor are the rows published then, not
    hashed again, and the run still publishes what a fresh rebuild of the same log does."""
    from tests.conftest import SHARED

    history = tmp_path / "history" / "russia_losses.csv"
    history.parent.mkdir()
    minfin = pl.read_csv(SHARED / "data" / "minfin" / "russia_losses.csv", infer_schema=False)
    minfin.filter(pl.col("date") <= "2024-01-31").write_csv(history)
    home = tmp_path / "home"
    ingest(home, history, source="hist.minfin")
    build(home, publish_to=home / "warehouse")
    hashed = observation_partitions_hashed(monkeypatch, "daily_totals")
    reports_hashed = observation_partitions_hashed(monkeypatch, "reports")

    def cached_totals_before() -> list[int]:
        """The inode of the cached reconciliation's daily totals before 2023."""
        return [path.stat().st_ino
                for path in (home / "cache" / "reconciled").glob("*/*.daily_totals_before.*")]

    first = cached_totals_before()
    ingest(home, next_month_post(tmp_path), source="generalstaff.en")
    tables = build(home, publish_to=home / "warehouse")
    assert tables.kept is not None and tables.kept.totals_until is not None
    assert tables.kept.totals_until < dt.date(2024, 1, 1)
    # Nor written to the reconciliation's cache again: its file is linked.
    assert len(first) == 1 and cached_totals_before() == first
    months = {name for partition in hashed for name in partition}
    assert "year=2024/month=02" in months
    assert "year=2023/month=06" not in months and len(months) <= 4  # not the 24 months before
    # The reports table: the new report's month only (the history file's row is as it was).
    assert reports_hashed == [["year=2024/month=02"]]

    assert_published_as_by_a_rebuild(home, tmp_path / "fresh")
