"""What ``lossledger status`` shows: the log, the warehouse, the last run."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
from pathlib import Path

import polars as pl
from rich.table import Table

from lossledger.pipeline import RunSettings
from lossledger.publish.warehouse import read_state, scan
from lossledger.sources.listing import fetch_status_table
from lossledger.store.base import EventStore, RunRecord

__all__ = ["abandon_stale_run", "run_in_progress", "running_record", "status_tables"]

ABANDONED = "abandoned"


class _Busy(Exception):
    """The pipeline lock is held by someone else."""


def running_record(run_id: str, started: dt.datetime, *, watermark_before: int,
                   upto: int) -> RunRecord:
    """The record of a run that starts now, with what tells later whether it is still alive."""
    return RunRecord(run_id, started, None, "running", watermark_before, upto,
                     {"pid": os.getpid(), "host": socket.gethostname()})


def run_in_progress(store: EventStore, run: RunRecord) -> bool:
    """Whether ``run`` (recorded as running) still is: the pipeline lock is held, or, where the
    lock cannot be tried (a read-only home), its process on this host is alive."""
    def busy() -> None:
        raise _Busy

    try:
        with store.lock("pipeline", on_wait=busy):
            return False
    except _Busy:
        return True
    except OSError:
        pid, host = run.summary.get("pid"), run.summary.get("host")
        if not isinstance(pid, int) or host != socket.gethostname():
            return True  # cannot tell: say what the record says
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def abandon_stale_run(store: EventStore, *, lock_held: bool = False) -> RunRecord | None:
    """Record the last run as abandoned if it says running but no longer is (killed).

    ``lock_held``: the caller holds the pipeline lock, so no other run can be going on.
    Returns the updated record, or ``None`` if there was nothing to settle. On a store that
    cannot be written, the record is returned (for display) but not saved.
    """
    run = store.last_run()
    if run is None or run.status != "running":
        return None
    if not lock_held and run_in_progress(store, run):
        return None
    abandoned = RunRecord(
        run.run_id, run.started_at, dt.datetime.now(dt.UTC), ABANDONED, run.watermark_before,
        run.watermark_before,
        {**run.summary, "error": "abandoned: its process ended before the run finished "
                                 "(killed?); nothing it did was published"},
    )
    with contextlib.suppress(Exception):  # read-only: shown, saved by the next run
        store.record_run(abandoned)
    return abandoned


def status_tables(store: EventStore, settings: RunSettings) -> list[Table]:
    """Rich tables describing the store and the published warehouse."""
    tables = [_overview(store, settings)]
    fetch_failures = fetch_status_table(settings.home, store)
    if fetch_failures is not None:
        tables.append(fetch_failures)
    home = settings.warehouse.parent
    if settings.warehouse == home / "warehouse" and read_state(settings.warehouse) is not None:
        tables += [_discrepancies(home), _quarantine_reasons(home), _scorecard(home)]
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
    run = abandon_stale_run(store) or store.last_run()
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


def _scorecard(home: Path) -> Table:
    """The ``sources`` table: how each source fared against the published series.

    The lag and copy columns are shown only when some source has one, so the table fits a log.
    """
    sources = scan("sources", home=home).collect().sort("source")
    lagging = sources.get_column("lag_days").is_not_null().any()
    copying = sources.get_column("copies_of").is_not_null().any()
    columns = ["source", "kind", "cells", "agreement", "slips", "stale days", "runs",
               "reliability", *(["lag"] if lagging else []), *(["copies"] if copying else []),
               "first", "last"]
    table = Table(*columns, title="sources", title_justify="left")
    for row in sources.iter_rows(named=True):
        lag = row["lag_days"]
        lag_text = "-" if lag is None else (f"{lag} day late" if lag > 0 else f"{-lag} day early")
        table.add_row(
            row["source"],
            row["kind"],
            str(row["cells"]),
            f"{row['agreement']:.2%}",
            str(row["slips"]),
            str(row["stale_days"]),
            str(row["runs"]),
            f"{row['reliability']:.4f}",
            *([lag_text] if lagging else []),
            *([row["copies_of"] or "-"] if copying else []),
            str(row["first_date"]),
            str(row["last_date"]),
        )
    return table
