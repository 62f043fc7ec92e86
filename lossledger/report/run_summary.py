"""Human-readable accounts of a run: the markdown summary and the new-discrepancy rows."""

from __future__ import annotations

from typing import Any

import polars as pl

__all__ = ["discrepancy_rows", "run_markdown"]


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
    return "\n".join(lines) + "\n"
