"""Bad input never crashes a run and is never lost: it is stored, quarantined and reported."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from lossledger.pipeline import RunSettings
from tests.conftest import GS_EN_0131
from tests.helpers import build, ingest_bytes


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (bytes(range(256)) * 4, "undecodable"),
        (b"The weather in Kyiv was mild today. Nothing to report.", "no parser"),
        (b"<html><body><p>Breaking news</p></body></html>", "no parser"),
    ],
)
def test_a_report_with_no_figures_is_quarantined_and_kept(
    tmp_path: Path, body: bytes, reason: str
) -> None:
    event_id = ingest_bytes(tmp_path, body, name="junk.txt")
    tables = build(tmp_path)
    quarantined = tables.quarantine.filter(pl.col("event_id") == event_id)
    assert quarantined.height >= 1
    assert reason in " ".join(quarantined["reason"]).lower()
    assert tables.reports.filter(pl.col("event_id") == event_id)["status"].to_list() == [
        "quarantined"
    ]
    assert tables.daily_totals.is_empty()
    with RunSettings.resolve(tmp_path).store() as store:
        assert [e.body for e in store.read()] == [body]


def test_failed_checks_quarantine_the_row_and_keep_the_rest(tmp_path: Path) -> None:
    post = GS_EN_0131.read_text(encoding="utf-8")
    future = post.replace("to 31.01.24", "to 31.01.99")  # dated 2099: after it was received
    ingest_bytes(tmp_path, future.encode(), name="future.txt", source="gs")
    negative_delta = post.replace("tanks ‒ 6310 (+10)", "tanks ‒ 6310 (-10)")
    event_id = ingest_bytes(tmp_path, negative_delta.encode(), name="neg.txt", source="gs2")
    tables = build(tmp_path)
    reasons = tables.quarantine.filter(pl.col("stage") == "validate")["reason"].to_list()
    assert sum("report date after the day it was received" in r for r in reasons) == 14
    bad_tank = tables.quarantine.filter(
        (pl.col("event_id") == event_id) & (pl.col("stage") == "validate")
    )
    assert bad_tank["category"].to_list() == ["tanks"]
    assert "stated_delta" in bad_tank["reason"][0]
    # The other 13 figures of that report go on.
    published = tables.daily_totals.filter(pl.col("date").dt.year() == 2024)
    assert published.height == 13 and "tanks" not in published["category"].to_list()
    statuses = dict(tables.reports.select("event_id", "status").iter_rows())
    assert statuses[event_id] == "partial"
