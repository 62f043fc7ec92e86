"""Human-readable accounts of a run: the markdown summary and the new-discrepancy rows."""

from __future__ import annotations

from typing import Any

import polars as pl

__all__ = ["discrepancy_rows", "report_markdown", "run_markdown"]


def discrepancy_rows(discrepancies: pl.DataFrame, *, after_seq: int) -> list[dict[str, Any]]:
    """Discrepancies that depend on an event newer than ``after_seq``, as plain dicts.

    >>> import datetime as dt
    >>> frame = pl.DataFrame({"date": [dt.date(2024, 1, 31)], "category": ["tanks"],
    ...     "kind": ["gap"], "source": [None], "expected": [None], "observed": [None],
    ...     "detail": ["no report"], "event_ids": [["e1"]], "seq": [3]})
    >>> discrepancy_rows(frame, after_seq=2)[0]["date"]
    '2024-01-31'
    """
    new = discrepancies.filter(pl.col("seq") > after_seq)
    return (
        new.select(
            pl.col("date").cast(pl.String), "category", "kind", "source", "expected",
            "observed", "detail", pl.col("event_ids").list.join(","),
        ).to_dicts()
    )


def run_markdown(summary: dict[str, Any]) -> str:
    """The run summary as a markdown page."""
    lines = ["# lossledger run", ""]
    ingested = summary.get("ingested")
    if ingested:
        lines.append(
            f"- ingested: {ingested['new']} new, {ingested['duplicates']} duplicates "
            f"({ingested['files']} files)"
        )
        for entry in ingested.get("skipped") or ():
            lines.append(f"- skipped `{entry['path']}`: {entry['reason']}")
    lines += [
        f"- watermark: {summary['watermark_before']} -> {summary['watermark_after']}",
        f"- reports: {summary['reports']} ({summary['quarantined_reports']} quarantined); "
        f"quarantine rows: {summary['quarantine_rows']}",
        f"- observations: {summary['observations']}; daily totals: {summary['daily_totals']}",
        f"- partitions: {summary['partitions_written']} written, "
        f"{summary['partitions_removed']} removed, {summary['partitions_unchanged']} unchanged",
        f"- new discrepancies: {summary['new_discrepancies']}",
        *([f"- reconciled: {summary['reconciled']}"] if summary.get("reconciled") else []),
        "",
        "| discrepancy kind | rows |",
        "| --- | ---: |",
        *(f"| {kind} | {n} |" for kind, n in summary["discrepancies"].items()),
        "",
        "| source | discrepancies |",
        "| --- | ---: |",
        *(f"| {source} | {n} |" for source, n in summary["discrepancies_by_source"].items()),
    ]
    report = summary.get("report")
    if report:
        lines += ["", *report_markdown(report)]
    return "\n".join(lines) + "\n"


def report_markdown(report: dict[str, Any]) -> list[str]:
    """Markdown lines linking the run's HTML report, with its headline figures inline.

    >>> lines = report_markdown({"path": "/h/report/index.html", "size_bytes": 480000,
    ...     "seconds": 2.5, "headline": {"latest_date": "2024-01-31", "cells": 28,
    ...     "discrepancies": 1, "quarantined": 0, "latest": {"tanks": 6310}}})
    >>> lines[2]
    'report: [/h/report/index.html](file:///h/report/index.html) (0.48 MB, built in 2.5 s)'
    >>> report_markdown({"path": "/h/report/index.html", "background": True, "home": "/h",
    ...     "headline": {}})[2]
    'report: [/h/report/index.html](file:///h/report/index.html) (refreshing; to wait: lossledger report --wait --home /h)'
    """  # noqa: E501
    figures = report.get("headline", {})
    path = report["path"]
    if report.get("background"):
        built = f"refreshing; to wait: lossledger report --wait --home {report.get('home')}"
    else:
        built = f"{report['size_bytes'] / 1e6:.2f} MB, built in {report['seconds']} s"
    lines = [
        "## Report",
        "",
        f"report: [{path}](file://{path}) ({built})",
        "",
        f"- series: {figures.get('first_date', '-')} to {figures.get('latest_date', '-')}, "
        f"{figures.get('cells', 0)} published cells "
        f"({figures.get('doubtful_cells', 0)} not plainly agreed)",
        f"- discrepancy rows: {figures.get('discrepancies', 0)}; "
        f"quarantined rows: {figures.get('quarantined', 0)}",
    ]
    latest = figures.get("latest") or {}
    if latest:
        lines += ["", f"| {figures.get('latest_date')} | total |", "| --- | ---: |"]
        lines += [f"| {category} | {total:,} |" for category, total in latest.items()]
    return lines
