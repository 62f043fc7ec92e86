"""The parse cache: a convenience keyed on content and parser versions, never the truth."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from lossledger.parse import cache as cache_module
from lossledger.parse.cache import ParseCache
from lossledger.parse.parsers import PARSERS_FINGERPRINT
from tests.conftest import GS_EN_0130, GS_EN_0131, SEED
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


def test_a_deleted_cache_is_rebuilt_from_the_log(tmp_path: Path) -> None:
    ingest(tmp_path, SEED, GS_EN_0131, source="mixed")
    first = build(tmp_path)
    ParseCache(tmp_path, PARSERS_FINGERPRINT).clear()
    from lossledger.pipeline import RunSettings, plan_run

    assert plan_run(RunSettings.resolve(tmp_path)).parse_ranges == ((1, 2),)
    again = build(tmp_path)
    assert again.daily_totals.drop("seq").equals(first.daily_totals.drop("seq"))
    assert pl.concat([first.reports, again.reports]).unique("event_id").height == 2
