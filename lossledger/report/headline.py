"""The report's headline figures: what a run's summary shows of the published warehouse.

Apart from :mod:`lossledger.report.html` so that a run whose report is refreshed in the
background (:mod:`lossledger.report.background`) shows them without importing Altair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from lossledger.parse.ontology import CATEGORY_CODES
from lossledger.publish.warehouse import read_state
from lossledger.report._tables import read_table

__all__ = ["MARKED_STATUSES", "headline"]

#: Statuses drawn as markers on the series: the days the sources did not simply agree.
MARKED_STATUSES = ("contested", "series", "priority", "majority", "overridden", "inferred")


def headline(warehouse: Path) -> dict[str, Any]:
    """Headline figures of a published warehouse (also shown in the run's Prefect artifact)."""
    totals = read_table(warehouse, "daily_totals")
    discrepancies = read_table(warehouse, "discrepancies")
    quarantine = read_table(warehouse, "quarantine")
    state = read_state(warehouse)
    latest = totals["date"].max() if totals is not None and not totals.is_empty() else None
    figures: dict[str, Any] = {
        "watermark": state.watermark if state else None,
        "first_date": totals["date"].min().isoformat() if latest else None,  # type: ignore[union-attr]
        "latest_date": latest.isoformat() if latest else None,  # type: ignore[union-attr]
        "cells": totals.height if totals is not None else 0,
        "discrepancies": discrepancies.height if discrepancies is not None else 0,
        "quarantined": quarantine.height if quarantine is not None else 0,
    }
    if latest is not None and totals is not None:
        day = dict(totals.filter(pl.col("date") == latest).select("category", "total").rows())
        figures["latest"] = {code: day[code] for code in CATEGORY_CODES if code in day}
        doubtful = totals.filter(pl.col("status").is_in(MARKED_STATUSES))
        figures["doubtful_cells"] = doubtful.height
    return figures
