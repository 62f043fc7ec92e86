"""The ``pipeline`` flow under Prefect (one temporary server for the session)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import polars as pl
import pytest

import lossledger
from tests.conftest import GS_EN_0130, GS_EN_0131, SEED, drop
from tests.test_warehouse import snapshot

pytestmark = pytest.mark.usefixtures("prefect_env")


def read_artifact(key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def latest() -> str:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                limit=1,
                sort="CREATED_DESC",
            )
            return str(found[0].data)

    return asyncio.run(latest())


def test_flow_ingests_publishes_reports_and_then_rests(tmp_path: Path, inbox: Path) -> None:
    from flows.pipeline import pipeline

    drop(inbox, "ticker.en", SEED)
    drop(inbox, "generalstaff.en", GS_EN_0130, GS_EN_0131)
    home = tmp_path / "home"
    summary = pipeline(home=str(home), inbox=str(inbox))
    assert summary["ingested"] == {"files": 3, "new": 3, "duplicates": 0}
    assert summary["watermark_after"] == 3
    assert summary["discrepancies"] == {"source_conflict": 1}
    for table in ("reports", "observations", "daily_totals", "discrepancies"):
        assert lossledger.scan(table, home=home).collect().height > 0
    special = (
        lossledger.scan("daily_totals", home=home)
        .filter(pl.col("category") == "special_equipment")
        .sort("date").collect()
    )
    assert special["total"].to_list() == [1448, 1452]
    markdown = read_artifact("lossledger-run-summary")
    assert "ingested: 3 new, 0 duplicates" in markdown
    assert "| source_conflict | 1 |" in markdown
    assert "ticker.en" in read_artifact("lossledger-new-discrepancies")
    # The run refreshed the HTML report; the artifact links it, headline figures inline.
    report = (home / "report" / "index.html").resolve()
    assert summary["report"]["path"] == str(report)
    assert f"[{report}](file://{report})" in markdown
    assert "| special_equipment | 1,452 |" in markdown
    assert 'data-category="special_equipment" data-total="1452"' in report.read_text()

    before = snapshot(home)  # the link is not followed: the versions are in it
    published = snapshot(home / "warehouse")
    again = pipeline(home=str(home), inbox=str(inbox))
    assert again["nothing_new"] is True
    assert again["ingested"] == {"files": 3, "new": 0, "duplicates": 3}
    after = snapshot(home)
    changed = {k for k in after if before.get(k) != after[k]}
    assert not any(k.startswith(("warehouse", "cache")) for k in changed)

    replayed = pipeline(home=str(home), replay=True)
    assert replayed["partitions_written"] == 0
    assert snapshot(home / "warehouse") == published
