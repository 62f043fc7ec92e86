"""``lossledger report``: one self-contained static HTML page of the published warehouse.

Every chart is static SVG rendered by vl-convert from an Altair spec (:mod:`charts`), inlined in
the page with the tables and a small JSON block of headline figures: the page needs no network
and no script to display, prints cleanly, and opens from a mail attachment.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from lossledger.parse.ontology import CATEGORY_CODES
from lossledger.publish.warehouse import read_state
from lossledger.report import charts
from lossledger.report._tables import read_table, require_published
from lossledger.report.headline import headline
from lossledger.report.svg import SvgCache

__all__ = ["BuiltReport", "headline", "refresh_home_report", "report_html", "write_report"]

_CSS = """
:root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; }
body { max-width: 1100px; margin: 0 auto; padding: 1rem 1.5rem 3rem; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
.meta { color: #555; font-size: .9rem; }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; margin: 1rem 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .5rem .8rem; min-width: 9rem; }
.card b { display: block; font-size: 1.3rem; }
figure { margin: .5rem 0; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
figcaption, .note { color: #555; font-size: .85rem; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid #eee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.doubt td { background: #fff4e5; } tr.contested td { background: #fde2e1; }
nav a { margin-right: .8rem; }
@media print {
  nav { display: none; } body { max-width: none; padding: 0; }
  section { break-inside: avoid-page; } h2 { break-after: avoid; }
}
"""


@dataclass(frozen=True, slots=True)
class BuiltReport:
    """A written report: where, how big, how long it took."""

    path: Path
    size_bytes: int
    seconds: float
    charts: tuple[str, ...]


def _uniquify_ids(svg: str, prefix: str) -> str:
    """Give one inline SVG's ids (clip paths, gradients) a prefix: ids are page-global."""
    svg = re.sub(r"^<\?xml[^>]*>\s*", "", svg)
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", svg)
    return re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', svg)


def _figure(name: str, chart: Any, caption: str, cache: SvgCache | None = None) -> str:
    if chart is None:
        return f'<p class="note" data-empty="{name}">Nothing to show yet.</p>'
    svg = _uniquify_ids(charts.to_svg(chart, cache=cache), name)
    return (f'<figure class="chart" data-chart="{name}">{svg}'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _latest_table(totals: pl.DataFrame) -> str:
    if totals.is_empty():
        return '<p class="note">Nothing published yet.</p>'
    latest = totals["date"].max()
    order = {code: i for i, code in enumerate(CATEGORY_CODES)}
    day = totals.filter(pl.col("date") == latest).with_columns(
        _order=pl.col("category").replace_strict(order, default=99)
    ).sort("_order")
    has_confidence = "confidence" in day.columns
    head = ["category", "total", "change", "stated change", "status"]
    head += ["confidence"] if has_confidence else []
    head += ["sources"]
    rows = []
    for row in day.to_dicts():
        status = row["status"]
        css = "contested" if status == "contested" else (
            "doubt" if status in charts.MARKED_STATUSES else "")
        cells = [
            f"<td>{html.escape(row['category'])}</td>",
            f'<td class="num total">{row["total"]:,}</td>',
            f'<td class="num">{_signed(row["delta"])}</td>',
            f'<td class="num">{_signed(row["stated_delta"])}</td>',
            f'<td class="status">{html.escape(status)}</td>',
        ]
        if has_confidence:
            value = row.get("confidence")
            shown = "-" if value is None else (
                f"{value:.2f}" if isinstance(value, float) else html.escape(str(value)))
            cells.append(f'<td class="num">{shown}</td>')
        cells.append(f"<td>{html.escape(', '.join(row['sources']))}</td>")
        rows.append(f'<tr class="{css}" data-category="{row["category"]}" '
                    f'data-total="{row["total"]}">{"".join(cells)}</tr>')
    header = "".join(f"<th>{h}</th>" for h in head)
    return (f'<table id="latest-day" data-date="{latest.isoformat()}"><thead><tr>{header}</tr>'
            f"</thead><tbody>{''.join(rows)}</tbody></table>")


def _signed(value: int | None) -> str:
    return "-" if value is None else f"{value:+,}"


def report_html(
    warehouse: Path, *, generated_at: dt.datetime | None = None, cache: SvgCache | None = None
) -> str:
    """The report page for the warehouse at ``warehouse``, as one HTML string.

    ``cache`` keeps the charts' SVGs: a chart whose spec (data included) did not change since
    it was rendered is not rendered again.

    Raises
    ------
    NotPublished
        When nothing was published at ``warehouse``.
    """
    require_published(warehouse)
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    empty = {name: pl.DataFrame(schema=schema) for name, schema in {
        "daily_totals": {"date": pl.Date, "category": pl.String, "total": pl.Int64,
                         "delta": pl.Int64, "stated_delta": pl.Int64, "status": pl.String,
                         "sources": pl.List(pl.String)},
        "observations": {"source": pl.String, "date": pl.Date, "category": pl.String,
                         "total": pl.Int64, "retracted": pl.Boolean},
        "discrepancies": {"date": pl.Date, "category": pl.String, "kind": pl.String,
                          "source": pl.String},
        "quarantine": {"stage": pl.String, "reason": pl.String},
    }.items()}
    # The observations are the one big table: only the columns the charts use are read.
    tables = {name: read_table(warehouse, name, columns=empty[name].columns
                               if name == "observations" else None)
              for name in empty}
    totals, observations, discrepancies, quarantine = (
        frame if frame is not None else empty[name] for name, frame in tables.items()
    )
    runs = read_table(warehouse, "disagreement_runs")
    runs_from = "the warehouse's disagreement_runs table"
    if runs is None or not {"source", "category", "start", "end"} <= set(runs.columns):
        runs, runs_from = charts.runs_frame(discrepancies), "consecutive source conflicts"
    figures = headline(warehouse)
    state = read_state(warehouse)
    latest = figures.get("latest_date") or "-"
    cards = [
        ("series", f"{figures.get('first_date') or '-'} → {latest}"),
        ("published cells", f"{figures['cells']:,}"),
        ("cells not plainly agreed", f"{figures.get('doubtful_cells', 0):,}"),
        ("discrepancy rows", f"{figures['discrepancies']:,}"),
        ("quarantined rows", f"{figures['quarantined']:,}"),
        ("sources", f"{observations['source'].n_unique():,}"),
    ]
    sections = [
        ("latest", f"Latest day: {latest}", _latest_table(totals),
         "Rows shaded orange were decided by the series, majority, priority, inference or "
         "override; red "
         "rows are contested. `lossledger explain DATE CATEGORY` tells why."),
        ("series", "Cumulative totals per category", _figure(
            "series", charts.series_chart(totals),
            "Published series; markers show days not every source agreed on, by the rule "
            "that decided them.", cache), ""),
        ("deltas", "Daily change per category (weekly mean)", _figure(
            "deltas", charts.delta_chart(totals),
            "Change implied by consecutive published totals; dips below zero are "
            "restatements.", cache), ""),
        ("agreement", "Agreement per source over time", _figure(
            "agreement", charts.agreement_heatmap(agreement_frame := charts.agreement_frame(
                observations, totals)),
            "Share of each source's figures per month that equal the published total.", cache), ""),
        ("runs", "Disagreement runs", _figure(
            "runs", charts.runs_chart(runs),
            f"Stretches of days a source disagreed on a category (from {runs_from}).", cache), ""),
        ("quarantine", "Quarantine by reason", _figure(
            "quarantine", charts.quarantine_chart(quarantine),
            "What could not be used, by the stage that set it aside and why.", cache), ""),
    ]
    del agreement_frame
    data = {"generated_at": generated_at.isoformat(timespec="seconds"), **figures}
    nav = "".join(f'<a href="#{key}">{html.escape(title.split(":")[0])}</a>'
                  for key, title, _, _ in sections)
    body = "".join(
        f'<section id="s-{key}"><h2 id="{key}">{html.escape(title)}</h2>{content}'
        + (f'<p class="note">{html.escape(note)}</p>' if note else "") + "</section>"
        for key, title, content, note in sections
    )
    card_html = "".join(f'<div class="card">{html.escape(k)}<b>{html.escape(v)}</b></div>'
                        for k, v in cards)
    watermark = state.watermark if state else "-"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>lossledger report, {latest}</title><style>{_CSS}</style></head><body>"
        "<h1>lossledger: daily losses, reconciled</h1>"
        f'<p class="meta" id="meta">Event-log watermark <b id="watermark">{watermark}</b> · '
        f"published {html.escape(state.published_at if state else '-')} · report generated "
        f'<time id="generated">{generated_at.isoformat(timespec="seconds")}</time></p>'
        f'<div class="cards">{card_html}</div><nav>{nav}</nav>{body}'
        f'<script type="application/json" id="lossledger-data">'
        f"{html.escape(json.dumps(data), quote=False)}</script>"
        "</body></html>\n"
    )


def write_report(warehouse: Path, target: Path, *, cache_charts: bool = False) -> BuiltReport:
    """Write :func:`report_html` to ``target`` atomically; returns size and build time.

    With ``cache_charts``, the charts' SVGs are kept beside it in ``.charts/`` (only this
    report's), and unchanged charts are not rendered again on the next write.
    """
    started = time.perf_counter()
    cache = SvgCache(target.parent / ".charts") if cache_charts else None
    page = report_html(warehouse, cache=cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    aside = target.with_name(f".{target.name}.tmp")
    aside.write_text(page, encoding="utf-8")
    aside.replace(target)
    if cache is not None:
        cache.keep_only(cache.used)
    names = tuple(re.findall(r'data-chart="([^"]+)"', page))
    return BuiltReport(target, target.stat().st_size, time.perf_counter() - started, names)


def refresh_home_report(home: Path, warehouse: Path) -> dict[str, Any] | None:
    """Rewrite ``<home>/report/index.html`` after a publish to the home's main warehouse.

    Returns what the run summary shows (path, size, build time, headline figures), or ``None``
    when ``warehouse`` is not the home's main one (an as-of or elsewhere publish leaves the
    home's report alone).
    """
    if Path(warehouse).resolve() != (Path(home) / "warehouse").resolve():
        return None
    built = write_report(warehouse, Path(home) / "report" / "index.html", cache_charts=True)
    return {
        "path": str(built.path.resolve()),
        "size_bytes": built.size_bytes,
        "seconds": round(built.seconds, 2),
        "headline": headline(warehouse),
    }
