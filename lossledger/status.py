"""What ``lossledger status`` shows: the log, the warehouse, the last run."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich.table import Table

from lossledger.pipeline import RunSettings
from lossledger.publish.warehouse import read_state, scan
from lossledger.store.base import EventStore

__all__ = ["status_tables"]


def status_tables(store: EventStore, settings: RunSettings) -> list[Table]:
    """Rich tables describing the store and the published warehouse."""
    tables = [_overview(store, settings)]
    home = settings.warehouse.parent
    if settings.warehouse == home / "warehouse" and read_state(settings.warehouse) is not None:
        tables += [_discrepancies(home), _quarantine_reasons(home), _scorecard(home)]
    return tables


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


def _scorecard(home: Path) -> Table:
    """The ``sources`` table: how each source fared against the published series."""
    sources = scan("sources", home=home).collect().sort("source")
    table = Table(
        "source", "kind", "cells", "agreement", "slips", "stale days", "lag", "runs",
        "reliability", "copies", "first", "last",
        title="sources", title_justify="left",
    )
    for row in sources.iter_rows(named=True):
        lag = row["lag_days"]
        table.add_row(
            row["source"],
            row["kind"],
            str(row["cells"]),
            f"{row['agreement']:.2%}",
            str(row["slips"]),
            str(row["stale_days"]),
            "-" if lag is None else (f"{lag} day late" if lag > 0 else f"{-lag} day early"),
            str(row["runs"]),
            f"{row['reliability']:.4f}",
            row["copies_of"] or "-",
            str(row["first_date"]),
            str(row["last_date"]),
        )
    return table
