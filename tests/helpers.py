"""Run the pipeline's stages in-process, without Prefect, for tests of the core."""

from __future__ import annotations

from pathlib import Path

from lossledger.pipeline import RunSettings, bring_up_to_date
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
    return bring_up_to_date(settings, as_of=as_of, publish_tables_too=publish_to is not None)[1]
