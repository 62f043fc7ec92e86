"""The parse cache and the settled figures: conveniences keyed on content and code, never the
truth."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from lossledger._text import enums_as_text
from lossledger.parse import cache as cache_module
from lossledger.parse.cache import ParseCache
from lossledger.parse.parsers import PARSERS_FINGERPRINT
from lossledger.projection import WarehouseTables
from tests.conftest import FIXTURES, GS_EN_0130, GS_EN_0131, REPO, SEED
from tests.helpers import build, ingest


def test_each_run_parses_only_what_is_new(tmp_path: Path) -> None:
    ingest(tmp_path, SEED, source="ticker.en")
    build(tmp_path)
    cache = ParseCache(tmp_path, PARSERS_FINGERPRINT)
    assert cache.covered_seq() == 1
    ingest(tmp_path, GS_EN_0130, GS_EN_0131, source="generalstaff.en")
    build(tmp_path)
    assert cache.covered_seq() == 3
    assert sorted(p.name for p in cache.directory.glob("*.reports.parquet")) == [
        "batch-000000000001-000000000001.reports.parquet",
        "batch-000000000002-000000000003.reports.parquet",
    ]


def test_many_small_batches_are_compacted_without_changing_results(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(cache_module, "_MAX_BATCHES", 2)
    for file in (SEED, GS_EN_0130, GS_EN_0131):
        ingest(tmp_path, file, source=file.stem)
        tables = build(tmp_path)
    cache = ParseCache(tmp_path, PARSERS_FINGERPRINT)
    build(tmp_path)  # the load that finds three batches compacts them
    assert len(list(cache.directory.glob("*.reports.parquet"))) == 1
    again = build(tmp_path)
    assert again.daily_totals.equals(tables.daily_totals)
    assert again.observations.height == tables.observations.height == 41


KILLED_CACHE_WRITE = textwrap.dedent("""
    import os, signal, sys
    from lossledger.parse import cache
    from tests.helpers import build

    def dying(path):  # the reconciliation written in full under its temporary name: kill -9
        if "reconciled" in str(path):
            os.kill(os.getpid(), signal.SIGKILL)
    cache.make_readable = dying
    build(sys.argv[1])
""")


def test_a_killed_cache_write_is_cleaned_up_by_the_next_run(tmp_path: Path) -> None:
    from lossledger.pipeline import RunSettings, plan_run

    ingest(tmp_path, SEED, GS_EN_0131, source="mixed")
    killed = subprocess.run([sys.executable, "-c", KILLED_CACHE_WRITE, str(tmp_path)],
                            cwd=REPO, capture_output=True, timeout=120, check=False)
    assert killed.returncode == -9, killed.stderr
    left = list((tmp_path / "cache").rglob(".tmp-*"))
    assert left, "the write was not cut short: the test killed nothing"
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as writer:
        try:  # a write of a process still running is none of the next run's business
            alive = left[0].with_name(f".tmp-{writer.pid}-inflight")
            alive.write_bytes(b"half")
            plan_run(RunSettings.resolve(tmp_path))
            assert list((tmp_path / "cache").rglob(".tmp-*")) == [alive]
        finally:
            writer.kill()
    writer.wait()
    plan_run(RunSettings.resolve(tmp_path))
    assert not list((tmp_path / "cache").rglob(".tmp-*"))
    assert build(tmp_path).daily_totals.height > 0


def test_a_deleted_cache_is_rebuilt_from_the_log(tmp_path: Path) -> None:
    ingest(tmp_path, SEED, GS_EN_0131, source="mixed")
    first = build(tmp_path)
    ParseCache(tmp_path, PARSERS_FINGERPRINT).clear()
    from lossledger.pipeline import RunSettings, plan_run

    assert plan_run(RunSettings.resolve(tmp_path)).parse_ranges == ((1, 2),)
    again = build(tmp_path)
    assert again.daily_totals.drop("seq").equals(first.daily_totals.drop("seq"))
    assert pl.concat([first.reports, again.reports]).unique("event_id").height == 2


# --- the settled figures (issue 13) ----------------------------------------------------------


def _segments(home: Path) -> list[str]:
    return sorted(p.name.removesuffix(".json")
                  for p in (home / "cache" / "figures").glob("*/segment-*.json"))


def _copy_log(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in source.glob("events.sqlite*"):
        shutil.copy2(path, target / path.name)


def _same_tables(got: WarehouseTables, want: WarehouseTables) -> None:
    for name, frame in want.items():
        assert_frame_equal(enums_as_text(getattr(got, name)), enums_as_text(frame),
                           check_exact=True)


def test_each_run_adds_the_settled_figures_of_its_new_reports(
    tmp_path: Path, monkeypatch
) -> None:
    daily, fresh = tmp_path / "daily", tmp_path / "fresh"
    ingest(daily, SEED, source="ticker.en")
    first = build(daily)
    assert first.figures is not None and first.figures.checked_upto == -1
    assert _segments(daily) == ["segment-000000000001-000000000001"]
    ingest(daily, GS_EN_0130, GS_EN_0131, source="generalstaff.en")
    second = build(daily)
    # The second run took the first one's figures and checked only the new reports' own.
    assert second.figures is not None and second.figures.checked_upto == 1
    assert _segments(daily) == ["segment-000000000001-000000000001",
                                "segment-000000000002-000000000003"]
    # A home with the same log and no cache builds the same tables.
    _copy_log(daily, fresh)
    _same_tables(second, build(fresh))
    # Many segments are merged into one, and the next run reads that one.
    monkeypatch.setattr(cache_module, "_MAX_SEGMENTS", 2)
    ingest(daily, FIXTURES / "generalstaff_uk_2024-01-31.txt", source="generalstaff.uk")
    third = build(daily)
    assert _segments(daily) == ["segment-000000000001-000000000004"]
    fourth = build(daily)
    assert fourth.figures is not None and fourth.figures.checked_upto == 4
    _same_tables(fourth, third)


def test_the_settled_figures_columns_are_chunked_alike(tmp_path: Path) -> None:
    # Columns chunked unlike each other are copied whole by every later filter or select of
    # the history's figures (``lossledger._chunks``): the columns recoded into a run's enums
    # (one gather each, one chunk) are cut where the segments' other columns are.
    from lossledger import projection
    from lossledger.parse.cache import FigureCache
    from lossledger.pipeline import RunSettings

    for file in (SEED, GS_EN_0130, GS_EN_0131):
        ingest(tmp_path, file, source=file.stem)
        build(tmp_path)
    assert len(_segments(tmp_path)) == 3
    settings = RunSettings.resolve(tmp_path)
    with settings.store(read_only=True) as store:
        settled = FigureCache(tmp_path, settings.registry().fingerprint).load(
            upto=store.head(), hash_at=store.hash_at)
    assert settled is not None
    # A newer report's figures, with an event id of their own, as the projection gets them.
    newer = dict(settled.valid.schema)
    for name in projection._ENUM_COLUMNS:
        newer[name] = pl.Enum(pl.concat([settled.dictionary[name].head(1),
                                         pl.Series(["~newer"] if name == "event_id" else [])]))
    schema, added = projection._union_schema(pl.Schema(newer), settled.dictionary)
    known = projection._known_figures(settled, schema, projection._Palettes(schema, added=added))
    layouts = {tuple(column.chunk_lengths()) for column in known.valid.get_columns()}
    assert len(layouts) == 1 and len(next(iter(layouts))) == 3, layouts
    assert known.valid.get_column("event_id").cast(pl.String).is_in(
        settled.dictionary["event_id"].implode()).all()


def test_figures_of_a_rewritten_log_are_never_taken(tmp_path: Path) -> None:
    home, other = tmp_path / "home", tmp_path / "other"
    ingest(home, GS_EN_0130, GS_EN_0131, source="generalstaff.en")
    build(home)
    assert _segments(home) == ["segment-000000000001-000000000002"]
    # The same seqs, other events: the log the cached figures came from is gone.
    ingest(other, SEED, GS_EN_0131, source="rewritten")
    for path in home.glob("events.sqlite*"):
        path.unlink()
    _copy_log(other, home)
    got = build(home)
    assert got.figures is not None and got.figures.checked_upto == -1
    _same_tables(got, build(other))
    assert _segments(home) == ["segment-000000000001-000000000002"]


def test_a_run_as_of_an_earlier_event_takes_no_later_figures(tmp_path: Path) -> None:
    ingest(tmp_path, SEED, GS_EN_0130, GS_EN_0131, source="mixed")
    build(tmp_path)
    early = build(tmp_path, as_of=2)
    assert early.figures is not None and early.figures.checked_upto == -1
    assert early.observations.get_column("seq").max() <= 2


def test_a_damaged_segment_is_built_again(tmp_path: Path) -> None:
    ingest(tmp_path, SEED, GS_EN_0130, GS_EN_0131, source="mixed")
    first = build(tmp_path)
    (segment,) = (tmp_path / "cache" / "figures").glob("*/segment-*.valid.parquet")
    segment.write_bytes(segment.read_bytes()[:100])
    again = build(tmp_path)
    assert again.figures is not None and again.figures.checked_upto == -1
    _same_tables(again, first)
    # The damaged segment was written anew: the next run takes it.
    third = build(tmp_path)
    assert third.figures is not None and third.figures.checked_upto == 3


def test_a_parse_batch_holds_its_events_for_each_parsing_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default a batch feeds every parsing process (each ends a batch at a cost); a run on
    Dask asks for one process's batch."""
    import lossledger.pipeline as pipeline

    ingest(tmp_path, SEED, GS_EN_0130, GS_EN_0131, source="mixed")
    settings = pipeline.RunSettings.resolve(tmp_path)
    monkeypatch.setattr(pipeline, "PARSE_BATCH_EVENTS", 1)
    monkeypatch.setenv("LOSSLEDGER_PARSE_WORKERS", "2")
    assert pipeline.plan_run(settings).parse_ranges == ((1, 2), (3, 3))
    monkeypatch.setenv("LOSSLEDGER_PARSE_WORKERS", "1")
    assert pipeline.plan_run(settings).parse_ranges == ((1, 1), (2, 2), (3, 3))
    assert pipeline.plan_run(settings, batch_size=3).parse_ranges == ((1, 3),)


def test_the_daily_totals_before_the_split_are_linked_while_a_window_keeps_them(
    tmp_path: Path,
) -> None:
    """The cached daily totals are two files split at the first of January of the year before
    their last day. A run whose window keeps every row before that day (``totals_kept_until``
    of the reconciliation it was given) links the first file; one that does not, or was given
    none, writes it. Either way the totals read back are the ones saved."""
    import datetime as dt

    from lossledger.reconcile.consensus import ReconcilePolicy, reconcile_totals
    from tests.reconcile_frames import history_observations, minfin_series

    series = minfin_series().filter(pl.col("date") <= dt.date(2024, 1, 31))
    reconciliation = reconcile_totals(history_observations(
        series, source="hist.minfin", event_id="e1", seq=1,
        received_at=dt.datetime(2024, 2, 1, tzinfo=dt.UTC),
    ))
    open_cells = pl.DataFrame(schema={"category": pl.String, "date": pl.Date})
    memo = cache_module.ReconcileCache(tmp_path, "parsers", ReconcilePolicy())
    split = dt.date(2023, 1, 1)

    def before_file(seq: int) -> Path:
        return memo.directory / f"{seq}.daily_totals_before.parquet"

    def save(seq: int, **hint: object) -> int:
        memo.save(reconciliation, open_cells, seq=seq, log_hash=f"h{seq}", **hint)  # type: ignore[arg-type]
        loaded = memo.load(upto=seq, hash_at=lambda at: f"h{at}")
        assert loaded is not None and loaded[0] == seq
        assert_frame_equal(loaded[1].daily_totals, reconciliation.daily_totals)
        first = pl.read_parquet(before_file(seq)).get_column("date")
        assert first.max() < split <= pl.read_parquet(  # type: ignore[operator]
            memo.directory / f"{seq}.daily_totals.parquet").get_column("date").min()
        return before_file(seq).stat().st_ino

    written = save(10)
    # The same reconciliation kept again (published elsewhere, say): the file stays, alone.
    assert save(10, based_on=10, totals_kept_until=dt.date(2024, 1, 31)) == written
    assert not [path.name for path in memo.directory.iterdir() if path.name.startswith(".")]
    assert save(11, based_on=10, totals_kept_until=split - dt.timedelta(days=1)) == written
    assert not before_file(10).exists()  # the older reconciliation is forgotten
    # A window that replaced a row before the split: written again.
    assert save(12, based_on=11, totals_kept_until=split - dt.timedelta(days=2)) != written
    rewritten = before_file(12).stat().st_ino
    # No reconciliation given, or not the one this file belongs to: written again.
    unhinted = save(13, totals_kept_until=dt.date(2024, 1, 31))
    assert unhinted != rewritten
    assert save(14, based_on=12, totals_kept_until=dt.date(2024, 1, 31)) != unhinted


@given(
    known=st.sets(st.text(alphabet="abcdef", max_size=4), max_size=40),
    added=st.sets(st.text(alphabet="abcdef", max_size=4), max_size=10),
)
def test_a_settled_figures_code_moves_by_the_new_values_sorted_before_it(
    known: set[str], added: set[str]
) -> None:
    """The settled figures' codes into the cache's sorted values become codes into those
    values with a new day's merged in: each moves by the new values before it, as a search of
    the merged values finds it."""
    from lossledger.projection import _merged_positions, _sorted_union

    values = pl.Series(sorted(known), dtype=pl.String)
    union, new = _sorted_union(values, pl.Series([*added, None], dtype=pl.String))
    assert union.to_list() == sorted(known | added)
    assert _merged_positions(values, new).to_list() == union.search_sorted(values).to_list()


def test_a_projection_runs_with_the_collector_off_and_gives_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No garbage collection while the tables are projected (it cost a new day some 30 ms at
    x10); the collector is on, and nothing left frozen, once they are."""
    import gc

    from lossledger import pipeline

    seen: list[tuple[bool, int]] = []
    projected = pipeline._projected_tables

    def spy(*args: object, **kwargs: object) -> object:
        seen.append((gc.isenabled(), gc.get_freeze_count()))
        return projected(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "_projected_tables", spy)
    ingest(tmp_path, SEED, source="ticker.en")
    build(tmp_path)
    assert len(seen) == 1 and seen[0][0] is False and seen[0][1] > 0
    assert gc.isenabled() and gc.get_freeze_count() == 0
