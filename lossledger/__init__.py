"""lossledger: an event-sourced pipeline for the daily loss reports.

Raw reports are stored as immutable events; everything published (observations, daily totals,
discrepancies, quarantine) is a projection of that log, rebuildable by replay. Downstream
readers use :func:`scan` or read the hive-partitioned Parquet directly.
"""

from __future__ import annotations

import os

# Polars allocates through jemalloc, which by default keeps freed pages for ten seconds:
# a projection's short-lived intermediate frames then add up in the process's resident
# memory. Returning them within a quarter of a second bounds a run's peak (issue 13): at x30
# the projection and publish peak at 1,498 MB against 1,591 MB with one second, at x10 at
# 684 against 709 MB, for the same CPU time (2026-12-06: x10 three runs each, x30 one);
# returning them at once (``dirty_decay_ms:0``) costs about 20 % more CPU. jemalloc reads
# this when polars first allocates, so it applies only if polars was not imported before
# lossledger; a value already set in the environment wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:250,muzzy_decay_ms:0")

from lossledger.publish.warehouse import open_version, scan

__all__ = ["__version__", "open_version", "scan"]

__version__ = "0.1.0"
