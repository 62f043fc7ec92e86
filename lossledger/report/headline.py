"""The report's headline figures: what a run's summary shows of the published warehouse.

Apart from :mod:`lossledger.report.html` so that a run whose report is refreshed in the
background (:mod:`lossledger.report.background`) shows them without importing Altair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from lossledger.parse.ontology import CATEGORY_CODES
from lossledger.publish.warehouse import WarehouseState, read_state
from lossledger.report._tables import read_table

__all__ = ["MARKED_STATUSES", "headline"]

#: Statuses drawn as markers on the series: the days the sources did not simply agree.
MARKED_STATUSES = ("contested", "series", "priority", "majority", "overridden", "inferred")


def headline(warehouse: Path) -> dict[str, Any]:
    """Headline figures of a published warehouse (also shown in the run's Prefect artifact).

    The daily totals' four columns it shows are read, not their lineage lists (x10: 0.07 s
    against 0.015 for the whole headline); the other tables are counted by the rows the
    publish recorded.
    """
    state = read_state(warehouse)
    totals = read_table(warehouse, "daily_totals", columns=["date", "category", "total", "status"])
    latest = totals["date"].max() if totals is not None and not totals.is_empty() else None
    figures: dict[str, Any] = {
        "watermark": state.watermark if state else None,
        "first_date": totals["date"].min().isoformat() if latest else None,  # type: ignore[union-attr]
        "latest_date": latest.isoformat() if latest else None,  # type: ignore[union-attr]
        "cells": totals.height if totals is not None else 0,
        "discrepancies": _rows(warehouse, "discrepancies", state),
        "quarantined": _rows(warehouse, "quarantine", state),
    }
    if latest is not None and totals is not None:
        day = dict(totals.filter(pl.col("date") == latest).select("category", "total").rows())
        figures["latest"] = {code: day[code] for code in CATEGORY_CODES if code in day}
        doubtful = totals.filter(pl.col("status").is_in(MARKED_STATUSES))
        figures["doubtful_cells"] = doubtful.height
    return figures


def _rows(warehouse: Path, table: str, state: WarehouseState | None) -> int:
    """The rows of ``table`` as its publish recorded them (read and counted when it did not)."""
    if state is not None and table in state.rows:
        return state.rows[table]
    frame = read_table(warehouse, table)
    return frame.height if frame is not None else 0
