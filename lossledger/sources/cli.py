"""What ``lossledger fetch`` prints: progress, each failure, one summary line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rich.console import Console

from lossledger.sources.config import load_sources
from lossledger.sources.fetch import FetchOutcome, FetchReport, fetch_sources

__all__ = ["run_fetch"]


def run_fetch(
    home: Path,
    *,
    store_url: str,
    only: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    refresh: bool = False,
    console: Console | None = None,
) -> FetchReport:
    """Fetch (see :func:`fetch_sources`), telling the console what happens as it happens."""
    console = console or Console()
    config = load_sources(home)
    if not config.sources:
        console.print(f"no sources configured: {config.path} is missing or empty "
                      "(see sources.example.toml)")
        return FetchReport()

    def say(outcome: FetchOutcome) -> None:
        day = f" {outcome.date}" if outcome.date else ""
        if outcome.result == "failed":
            console.print(f"[red]failed[/] {outcome.source}{day}: {outcome.error} "
                          f"({outcome.attempts} attempts)", highlight=False)
        elif outcome.result == "new":
            console.print(f"new {outcome.source}{day}: {outcome.bytes} bytes", highlight=False)

    report = fetch_sources(home, store_url=store_url, only=only, since=since, until=until,
                           refresh=refresh, config=config, on_outcome=say)
    for name, why in report.skipped.items():
        console.print(f"skipped {name}: {why}", highlight=False)
    for name, error in report.crashed.items():
        console.print(f"[red]stopped[/] {name}: {error}", highlight=False)
    console.print(report.summary(), highlight=False)
    return report
