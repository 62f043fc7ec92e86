"""lossledger: an event-sourced pipeline for the daily loss reports.

Raw reports are stored as immutable events; everything published (observations, daily totals,
discrepancies, quarantine) is a projection of that log, rebuildable by replay. Downstream
readers use :func:`scan` or read the hive-partitioned Parquet directly.
"""

from __future__ import annotations

from lossledger.publish.warehouse import open_version, scan

__all__ = ["__version__", "open_version", "scan"]

__version__ = "0.1.0"
