"""What ``lossledger status`` shows: the log, the warehouse, the last run."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich.table import Table

from lossledger.pipeline import RunSettings
from lossledger.publish.warehouse import read_state, scan
from lossledger.sources.listing import fetch_status_table
from lossledger.store.base import EventStore

__all__ = ["status_tables"]


def status_tables(store: EventStore, settings: RunSettings) -> list[Table]:
    """Rich tables describing the store and the published warehouse."""
    tables = [_overview(store, settings)]
    fetch_failures = fetch_status_table(settings.home, store)
    if fetch_failures is not None:
        tables.append(fetch_failures)
    home = settings.warehouse.parent
    if settings.warehouse == home / "warehouse" and read_state(settings.warehouse) is not None:
        tables += [_discrepancies(home), _quarantine_reasons(home)]
    formats = _declared_formats(settings)
    if formats is not None:
        tables.append(formats)
    return tables


def _declared_formats(settings: RunSettings) -> Table | None:
    """The declared formats the home reads with, and the format files it cannot use."""
    registry = settings.registry()
    if not registry.declared and not registry.errors:
        return None
    table = Table("format", "file", "kind", "version", title="declared formats",
                  title_justify="left")
    for parser in registry.declared:
        declared = parser.declared
        table.add_row(declared.name, str(declared.path), declared.kind, declared.digest)
    for error in registry.errors:
        table.add_row("[red]not used[/red]", error, "", "")
    return table


def _overview(store: EventStore, settings: RunSettings) -> Table:
    table = Table("what", "value", title="lossledger", title_justify="left")
    table.add_row("store", store.url)
    for kind, n in sorted(store.count_by_kind().items()):
        table.add_row(f"events: {kind}", str(n))
    table.add_row("log head (seq)", str(store.head()))
    state = read_state(settings.warehouse)
    table.add_row("watermark", "nothing published" if state is None else str(state.watermark))
    if state is not None:
        for name, rows in state.rows.items():
            table.add_row(f"rows: {name}", str(rows))
    run = store.last_run()
    if run is not None:
        finished = run.finished_at.isoformat(timespec="seconds") if run.finished_at else "-"
        table.add_row("last run", f"{run.status}, finished {finished}, "
                      f"watermark {run.watermark_before} -> {run.watermark_after}")
        if run.summary.get("error"):
            table.add_row("last error", str(run.summary["error"]))
        for entry in (run.summary.get("ingested") or {}).get("skipped") or ():
            table.add_row("skipped", f"{entry['path']}: {entry['reason']}")
    return table


def _discrepancies(home: Path) -> Table:
    counts = (
        scan("discrepancies", home=home)
        .group_by("kind", pl.col("source").fill_null("-"))
        .len()
        .sort("kind", "source")
        .collect()
    )
    table = Table("kind", "source", "rows", title="discrepancies", title_justify="left")
    for kind, source, n in counts.iter_rows():
        table.add_row(kind, source, str(n))
    return table


def _quarantine_reasons(home: Path) -> Table:
    quarantine = scan("quarantine", home=home).collect()
    by_reason = (
        quarantine.group_by("stage", "reason").len().sort("len", descending=True).head(20)
    )
    table = Table("stage", "reason", "rows", title=f"quarantine ({quarantine.height} rows)",
                  title_justify="left")
    for stage, reason, n in by_reason.iter_rows():
        table.add_row(stage, reason, str(n))
    return table
