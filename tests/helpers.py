"""Run the pipeline's stages in-process, without Prefect, for tests of the core."""

from __future__ import annotations

from pathlib import Path

from lossledger.pipeline import RunSettings, parse_range, plan_run, project_tables, publish
from lossledger.projection import WarehouseTables
from lossledger.store.events import ReportReceived
from lossledger.store.ingest import IngestSummary, ingest_files, report_files


def ingest(home: Path, *paths: Path, source: str | None = None) -> IngestSummary:
    settings = RunSettings.resolve(home)
    with settings.store() as store:
        return ingest_files(store, report_files(paths, source=source))


def ingest_bytes(home: Path, body: bytes, *, name: str, source: str = "test") -> str:
    settings = RunSettings.resolve(home)
    with settings.store() as store:
        result = store.append([ReportReceived(
            source=source, file_name=name, media_type="text/plain", body=body)])
    return result.recorded[0].event_id


def build(home: Path, *, as_of: int | None = None, publish_to: Path | None = None
          ) -> WarehouseTables:
    """Parse what is new, project the tables, and (optionally) publish them."""
    settings = RunSettings.resolve(home, warehouse=publish_to)
    plan = plan_run(settings, as_of=as_of)
    for first, last in plan.parse_ranges:
        parse_range(settings, first, last)
    tables = project_tables(settings, upto=plan.upto)
    if publish_to is not None:
        publish(settings, tables, watermark=plan.upto)
    return tables
