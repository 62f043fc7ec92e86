"""The sources as people see them: ``lossledger sources`` and the fetch part of ``status``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from lossledger.sources.config import SourcesConfig, load_sources
from lossledger.sources.history import FetchState, fetch_failures
from lossledger.store.base import EventStore

__all__ = ["fetch_status_table", "source_rows", "sources_table"]


def source_rows(home: Path, store: EventStore, *, config: SourcesConfig | None = None
                ) -> list[dict[str, Any]]:
    """One row per configured source: its URL and its last fetch.

    Keys: ``name``, ``url``, ``enabled``, ``last_fetch`` (ISO time or None), ``result``
    (``new``/``duplicate``/``unchanged``/``failed``/``never``), ``statuses`` (HTTP),
    ``bytes``, ``new``, ``unchanged``, ``failed`` (counts of the last fetch),
    ``failures`` (every ``FetchFailed`` of the source in the log), ``last_error``.
    """
    config = config or load_sources(home)
    state = FetchState(home).read()["sources"]
    failures = fetch_failures(store)
    rows = []
    for source in config.sources:
        last = state.get(source.name, {})
        rows.append({
            "name": source.name,
            "url": source.url,
            "enabled": source.enabled,
            "last_fetch": last.get("at"),
            "result": last.get("last_result", "never"),
            "statuses": last.get("statuses", []),
            "bytes": last.get("bytes", 0),
            "new": last.get("new", 0),
            "duplicate": last.get("duplicate", 0),
            "unchanged": last.get("unchanged", 0),
            "failed": last.get("failed", 0),
            "failures": failures.filter(failures["source"] == source.name).height,
            "last_error": last.get("last_error"),
        })
    return rows


def sources_table(home: Path, store: EventStore) -> Table:
    """``lossledger sources``: every source and what its last fetch did."""
    config = load_sources(home)
    table = Table("source", "url", "last fetch", "HTTP", "bytes", "new", "dup", "unchanged",
                  "failed", "last error", title=f"sources ({config.path})",
                  title_justify="left")
    for row in source_rows(home, store, config=config):
        when = (row["last_fetch"] or "never")[:19].replace("T", " ")
        status = ", ".join(map(str, row["statuses"])) or "-"
        if not row["enabled"]:
            status += " (disabled)"
        table.add_row(row["name"], row["url"], when, status, str(row["bytes"]),
                      str(row["new"]), str(row["duplicate"]), str(row["unchanged"]),
                      str(row["failed"]), row["last_error"] or "")
    return table


def fetch_status_table(home: Path, store: EventStore, *, limit: int = 10) -> Table | None:
    """The latest fetch failures (newest first), or ``None`` when nothing ever failed."""
    failures = fetch_failures(store)
    if failures.is_empty():
        return None
    table = Table("date", "source", "what happened", "attempts", title=(
        f"fetch failures ({failures.height}, latest {min(limit, failures.height)})"),
        title_justify="left")
    for row in failures.sort("seq", descending=True).head(limit).iter_rows(named=True):
        table.add_row(str(row["date"]), row["source"], f"{row['detail']} ({row['error']})",
                      str(row["attempts"]))
    return table
