"""The ``pipeline`` flow parses on a local Dask cluster and publishes what it does in-process.

Both runs start from copies of one event log (a few hundred reports rendered by
:mod:`bench.corpus`), so event ids, sequence numbers and receipt times agree and the published
tables can be compared whole, every column, row for row. The plan is cut into small batches so
that the Dask run really spreads several parse tasks over its two worker processes.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import lossledger
from bench.corpus import generate
from lossledger.projection import TABLES
from tests.helpers import ingest

pytestmark = pytest.mark.usefixtures("prefect_env")

#: Reports per parse task: the ~300-report log becomes several batches.
BATCH_SIZE = 64
#: Each table's key, then every other plain column, so that ties cannot reorder rows.
KEYS: dict[str, list[str]] = {
    "reports": ["seq", "event_id"],
    "observations": ["event_id", "date", "category", "label"],
    "daily_totals": ["date", "category"],
    "discrepancies": ["date", "category", "kind", "source", "observed", "expected", "seq"],
    "quarantine": ["seq", "event_id", "date", "category", "reason"],
    "disagreement_runs": ["run_id"],
    "sources": ["source"],
}


@pytest.fixture(scope="module")
def event_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home holding only an event log: 60 days of the five formats, with defects and junk."""
    corpus = tmp_path_factory.mktemp("corpus")
    generate(corpus, scale=1, seed=7, days=60, history=False)
    home = tmp_path_factory.mktemp("event-log")
    summary = ingest(home, corpus)
    assert 250 <= summary.new <= 400, summary.as_dict()
    return home


def published(home: Path) -> dict[str, pl.DataFrame]:
    """Every published table, sorted by its key and then by its other plain columns."""
    tables = {}
    for table in TABLES:
        frame = lossledger.scan(table, home=home).collect()
        rest = [c for c, t in frame.schema.items()
                if c not in KEYS[table] and not isinstance(t, pl.List)]
        tables[table] = frame.sort([*KEYS[table], *rest], nulls_last=True)
    return tables


def run_flow(log: Path, home: Path, **options: Any) -> dict[str, Any]:
    from flows.pipeline import pipeline

    shutil.copytree(log, home)
    summary = pipeline(home=str(home), **options)
    # The run's time and its report's path and build time differ; its headline figures do not.
    summary["report"] = summary["report"]["headline"]
    return {k: v for k, v in summary.items() if k != "finished_at"}


def test_dask_run_publishes_the_same_tables_as_a_sequential_one(
    event_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.pipeline
    import lossledger.pipeline

    # Small batches, on Dask (one worker's batch) and here (one process's: no forked workers).
    monkeypatch.setattr(flows.pipeline, "PARSE_BATCH_EVENTS", BATCH_SIZE)
    monkeypatch.setattr(lossledger.pipeline, "PARSE_BATCH_EVENTS", BATCH_SIZE)
    monkeypatch.setenv("LOSSLEDGER_PARSE_WORKERS", "1")
    # Counts the parse tasks run in this process; a Dask worker imports its own, unpatched copy.
    local_batches: list[tuple[int, int]] = []
    original_parse_range = flows.pipeline.parse_range

    def counted_parse_range(settings: Any, first: int, last: int) -> int:
        local_batches.append((first, last))
        return original_parse_range(settings, first, last)

    monkeypatch.setattr(flows.pipeline, "parse_range", counted_parse_range)

    sequential = run_flow(event_log, tmp_path / "sequential")
    batches = len(local_batches)
    assert batches >= 4, "the log should be cut into several parse batches"

    on_dask = run_flow(event_log, tmp_path / "dask", dask_workers=2)
    assert len(local_batches) == batches, "the Dask run parsed in this process, not on workers"
    cached = sorted((tmp_path / "dask" / "cache" / "parsed").rglob("batch-*.reports.parquet"))
    assert len(cached) == batches

    assert on_dask == sequential
    expected, actual = published(tmp_path / "sequential"), published(tmp_path / "dask")
    assert expected["observations"].height > 1_000
    for table in TABLES:
        assert_frame_equal(actual[table], expected[table], check_row_order=True)
