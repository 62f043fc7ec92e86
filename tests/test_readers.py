"""Plain readers during a switch, step by step (no timing): why the README resolves the link.

A plain glob resolves ``<home>/warehouse`` once per directory it lists and once per file it
opens. Each step below is one of those resolutions, with a whole publish put between two of
them, where a switch can fall in a real reader.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest

import lossledger
from lossledger.projection import TABLES
from lossledger.publish.warehouse import publish_tables
from tests.helpers import build
from tests.test_publishing import a_month_restated, published_january


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The three January reports published (version A)."""
    return published_january(tmp_path)


def walk_and_read(top: Path, between: object = None) -> pl.DataFrame:
    """Read ``<top>/daily_totals/**/*.parquet`` as a glob does: list each directory, then open
    the files; ``between`` (a callable) runs after the months are listed, before their files."""
    years = sorted((top / "daily_totals").iterdir())
    months = [month for year in years for month in sorted(year.iterdir())]
    if callable(between):
        between()
    files = [f for month in months for f in sorted(month.glob("*.parquet"))]
    return whole_rows(pl.concat([pl.read_parquet(f) for f in files]))


def whole_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column but the partition keys, in one order, rows sorted: comparable."""
    frame = frame.drop("year", "month", strict=False)
    frame = frame.select(sorted(frame.columns))
    return frame.sort([c for c, t in frame.schema.items() if not t.is_nested()],
                      nulls_last=True)


def published_version(warehouse: Path) -> int:
    """The published version's number, read through the link (the README's check)."""
    return json.loads((warehouse / "_state.json").read_text())["version"]


def test_a_glob_through_the_link_can_read_neither_version_but_one_under_the_resolved_link_cannot(
    home: Path, tmp_path: Path
) -> None:
    warehouse = home / "warehouse"
    version_a = whole_rows(lossledger.scan("daily_totals", home=home).collect())
    tables_a = build(home)
    january = "daily_totals/year=2024/month=01"
    [a_january] = (warehouse / january).glob("*.parquet")

    def publish_b() -> None:  # a new month, and January restated
        a_month_restated(home, tmp_path)
        build(home, publish_to=warehouse)

    # Through the link: the years and months are listed in A, January's file in B; February
    # (new in B) was never listed. The read raises nothing and is neither A nor B. Had the
    # glob listed January's file in A too, it would find it gone: an error, not a mix.
    before = published_version(warehouse)
    mixed = walk_and_read(warehouse, between=publish_b)
    after = published_version(warehouse)
    [b_january] = (warehouse / january).glob("*.parquet")
    assert b_january.name != a_january.name, "January did not change: the test proves nothing"
    version_b = whole_rows(lossledger.scan("daily_totals", home=home).collect())
    assert not version_b.equals(version_a)
    assert not mixed.equals(version_a)
    assert not mixed.equals(version_b)
    assert set(mixed["date"].dt.month()) == {1} and set(version_b["date"].dt.month()) == {1, 2}
    # ... which the published version's number, read before and after, reveals: it only
    # grows, so equal numbers mean no switch in between, and different ones, read again.
    assert after > before
    assert walk_and_read(warehouse).equals(version_b)

    # Under the link resolved once, the same steps around a switch (back to A's tables) read
    # one whole version: the one resolved.
    resolved = Path(os.path.realpath(warehouse))
    whole = walk_and_read(resolved, between=lambda: publish_tables(tables_a, warehouse,
                                                                   watermark=3))
    assert published_version(warehouse) > after
    assert whole.equals(version_b)
    assert walk_and_read(warehouse).equals(version_a)


def test_the_published_version_number_only_grows(home: Path, tmp_path: Path) -> None:
    """Old versions are removed (grace 0) and a publish that changes nothing makes none: the
    number read through the link never goes back nor repeats, so equal numbers before and after
    a read mean the link pointed at one version all along."""
    warehouse = home / "warehouse"
    numbers = [published_version(warehouse)]
    tables = {0: build(home)}
    a_month_restated(home, tmp_path)
    tables[1] = build(home)
    for step in range(6):
        publish_tables(tables[step % 2], warehouse, watermark=3 + 2 * (step % 2), grace_s=0)
        numbers.append(published_version(warehouse))
        # The replaced versions are gone at once, the published one never.
        kept = [p.name for p in (home / "warehouse.versions").iterdir() if p.name.isdigit()]
        assert kept == [f"{numbers[-1]:06d}"]
    publish_tables(tables[1], warehouse, watermark=5, grace_s=0)  # nothing changed
    numbers.append(published_version(warehouse))
    assert numbers == [*sorted(set(numbers)), numbers[-1]]
    assert len(set(numbers)) == 7
    assert {t: lossledger.scan(t, home=home).collect().height for t in TABLES} == \
        {t: frame.height for t, frame in tables[1].items()}


def test_the_readmes_ways_read_the_version_they_resolved_across_a_publish(
    home: Path, tmp_path: Path
) -> None:
    """polars and pyarrow under ``os.path.realpath``, DuckDB under the version ``CURRENT``
    names (set in SQL alone), as "Reading them" shows: resolved before a publish, read after."""
    warehouse = home / "warehouse"
    version_a = lossledger.open_version(home)
    resolved = os.path.realpath(warehouse)
    con = duckdb.connect()
    con.sql(f"""SET VARIABLE warehouse = (SELECT '{home}/warehouse.versions/' ||
                rtrim(content, chr(10)) FROM read_text('{home}/warehouse.versions/CURRENT'))""")
    a_month_restated(home, tmp_path)
    build(home, publish_to=warehouse)
    assert lossledger.open_version(home).path != version_a.path
    by_polars = pl.scan_parquet(f"{resolved}/discrepancies/**/*.parquet",
                                hive_partitioning=True).collect()
    by_duckdb = con.sql(
        "SELECT * FROM read_parquet(getvariable('warehouse') || '/discrepancies/**/*.parquet', "
        "hive_partitioning = true, hive_types = {'year': INTEGER, 'month': INTEGER})").pl()
    by_arrow = pl.from_arrow(ds.dataset(f"{resolved}/discrepancies", format="parquet",
                                        partitioning="hive").to_table())
    expected = whole_rows(version_a.scan("discrepancies").collect())
    now = whole_rows(lossledger.scan("discrepancies", home=home).collect())
    assert not now.equals(expected), "the publish changed nothing: the test proves nothing"
    for frame in (by_polars, by_duckdb, by_arrow):
        assert whole_rows(frame).equals(expected)
