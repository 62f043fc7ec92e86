"""Fetching: the sources of ``sources.toml`` fetched over HTTP into the event log.

:mod:`lossledger.sources.config` reads and checks ``<home>/sources.toml``;
:mod:`lossledger.sources.fetch` asks each source (politely: per-host limits, conditional
requests, retries only for transient failures) and records every response kept as a
``ReportReceived`` event with its provenance and every failure as a ``FetchFailed`` event;
:mod:`lossledger.sources.history` reads back what was fetched and what failed (for
``lossledger sources``, ``status``, gap rows and ``explain``). No Prefect here.
"""

from __future__ import annotations

from lossledger.sources.config import SourceConfig, SourcesConfig, SourcesConfigError, load_sources
from lossledger.sources.fetch import FetchOutcome, FetchReport, fetch_sources
from lossledger.sources.history import fetch_failures, fetch_failures_on

__all__ = [
    "FetchOutcome",
    "FetchReport",
    "SourceConfig",
    "SourcesConfig",
    "SourcesConfigError",
    "fetch_failures",
    "fetch_failures_on",
    "fetch_sources",
    "load_sources",
]
