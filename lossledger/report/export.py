"""``lossledger export``: the published daily totals in the forms spreadsheets expect.

Wide by default (one row per date, one column per category, like the public datasets); ``long``
gives the tidy form (one row per date and category). CSV and JSON go to a file or stdout; XLSX
is written with polars' ``write_excel`` (xlsxwriter), a frozen header and a date format.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import IO, Literal

import polars as pl

from lossledger.parse.ontology import CATEGORY_CODES
from lossledger.report._tables import read_table, require_published

__all__ = ["FORMATS", "ExportError", "export_totals", "totals_frame"]

FORMATS = ("csv", "json", "xlsx")
ExportFormat = Literal["csv", "json", "xlsx"]


class ExportError(ValueError):
    """An export the user asked for that cannot be written (unknown format, xlsx to stdout)."""


def totals_frame(
    daily_totals: pl.DataFrame,
    *,
    long: bool = False,
    with_status: bool = False,
    since: dt.date | None = None,
    until: dt.date | None = None,
    categories: list[str] | None = None,
) -> pl.DataFrame:
    """The daily totals as an export table.

    Wide: ``date`` then one column per category (in the ontology's order), and with
    ``with_status`` a ``<category>_status`` (and ``<category>_confidence``) column beside each.
    Long: ``date, category, total, delta, stated_delta`` (+ ``status``, ``confidence``).

    Examples
    --------
    >>> totals = pl.DataFrame({"date": [dt.date(2024, 1, 31)] * 2,
    ...     "category": ["tanks", "personnel"], "total": [6310, 385230],
    ...     "delta": [10, 1090], "stated_delta": [10, 1090], "status": ["confirmed"] * 2})
    >>> totals_frame(totals).columns
    ['date', 'personnel', 'tanks']
    >>> totals_frame(totals, long=True, with_status=True)["status"].to_list()
    ['confirmed', 'confirmed']
    """
    frame = daily_totals
    if since is not None:
        frame = frame.filter(pl.col("date") >= since)
    if until is not None:
        frame = frame.filter(pl.col("date") <= until)
    if categories:
        frame = frame.filter(pl.col("category").is_in(categories))
    extra = [c for c in ("status", "confidence") if with_status and c in frame.columns]
    order = {code: i for i, code in enumerate(CATEGORY_CODES)}
    if long:
        return (
            frame.with_columns(_order=pl.col("category").replace_strict(order, default=99))
            .sort("date", "_order")
            .select("date", "category", "total", "delta", "stated_delta", *extra)
        )
    present = sorted(set(frame["category"].to_list()), key=lambda c: order.get(c, 99))
    wide = frame.pivot(on="category", index="date", values="total").sort("date")
    columns: list[str] = []
    for code in present:
        columns.append(code)
        columns += [f"{code}_{name}" for name in extra]
    if extra:
        for name in extra:
            side = frame.pivot(on="category", index="date", values=name).rename(
                {code: f"{code}_{name}" for code in present}
            )
            wide = wide.join(side, on="date", how="left")
    return wide.select("date", *columns)


def export_totals(
    warehouse: Path,
    *,
    fmt: str = "csv",
    out: Path | None = None,
    long: bool = False,
    with_status: bool = False,
    since: dt.date | None = None,
    until: dt.date | None = None,
    categories: list[str] | None = None,
    stdout: IO[str] | None = None,
) -> pl.DataFrame:
    """Write the published daily totals as CSV, JSON or XLSX to ``out`` (default: stdout).

    Returns the exported frame.

    Raises
    ------
    ExportError
        An unknown format, or XLSX without a file to write.
    NotPublished
        When nothing was published at ``warehouse``.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "xlsx" and out is None:
        raise ExportError("xlsx is a binary format: give --out FILE.xlsx")
    require_published(warehouse)
    totals = read_table(warehouse, "daily_totals")
    if totals is None:
        totals = pl.DataFrame(schema={"date": pl.Date, "category": pl.String,
                                      "total": pl.Int64, "delta": pl.Int64,
                                      "stated_delta": pl.Int64, "status": pl.String})
    frame = totals_frame(totals, long=long, with_status=with_status, since=since, until=until,
                         categories=categories)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "xlsx":
        assert out is not None
        frame.write_excel(
            out, worksheet="daily_totals", autofit=True, freeze_panes=(1, 1),
            dtype_formats={pl.Date: "yyyy-mm-dd"},
        )
        return frame
    text = frame.write_csv() if fmt == "csv" else frame.write_json() + "\n"
    if out is not None:
        out.write_text(text, encoding="utf-8")
    else:
        (stdout or sys.stdout).write(text)
    return frame
