"""``lossledger explain DATE CATEGORY``: why one published number is what it is.

:func:`explain_cell` gathers, for one (date, category) cell of ``daily_totals``, everything that
decided it: every source's observation with its report and the exact line of the stored raw
report it was read from, older values of each source (revisions), the rule and evidence that
chose the total, the discrepancy rows and disagreement runs it belongs to, the neighbouring
days, and every event id involved. :func:`render_explanation` prints the same with rich.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from lossledger.parse.parsers._utils import (
    UndecodableReport,
    decode_report,
    html_to_text,
    looks_like_html,
)
from lossledger.publish.warehouse import read_state
from lossledger.report._tables import read_table, require_published
from lossledger.store.base import EventStore
from lossledger.store.events import DECISION_KINDS, TotalOverridden

__all__ = ["RawLine", "explain_cell", "find_line", "render_explanation"]

#: How each status was decided, in words.
RULES: dict[str, str] = {
    "confirmed": "confirmed: every source that reports this cell gives the same total",
    "single_source": "single source: only one source reports this cell",
    "majority": "majority: the total most sources give wins",
    "series": "series: the cumulative series decides (a total that falls, overtakes a later "
    "one, repeats a stale day, or disagrees with a stated change loses)",
    "priority": "priority: nothing in the data separates the candidates, so the total of the "
    "highest-ranked source kind (official > api > ticker > history by default) wins",
    "overridden": "overridden: a person set this total by a TotalOverridden decision",
    "inferred": "inferred: no source reports this day; the total is the next day's total "
    "minus that day's stated change",
    "contested": "contested: the sources disagree and the evidence does not decide between them",
}
#: What each piece of evidence in ``daily_totals.evidence`` means.
EVIDENCE_TEXT: dict[str, str] = {
    "series_fit": "a candidate does not fit the settled totals around it",
    "stated_delta": "a source's stated change pins the total (total(d) = total(d+1) - "
    "stated(d+1), or total(d-1) + stated(d))",
    "stale": "a candidate repeats the day before's total in a category that moved every day",
    "agreement": "independent sources, weighted by their learned reliability, agree",
    "unanimous": "every source gives the same total",
    "single_source": "only one source reports the cell",
    "priority": "the configured priority of source kinds",
    "none": "nothing separates the candidates",
    "override": "a person's decision",
    "inference": "the next day's total minus its stated change",
}
_NEIGHBOURS = 3
_SEPARATORS = "[ ,.\u00a0\u202f'’]?"
_ANY_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def _rule(status: str | None, evidence: str | None) -> str | None:
    """The deciding rule in words, with the evidence that decided when it is recorded."""
    if not status:
        return None
    rule = RULES.get(status, status)
    if evidence:
        rule += f"; evidence: {evidence} ({EVIDENCE_TEXT.get(evidence, evidence)})"
    return rule


@dataclass(frozen=True, slots=True)
class RawLine:
    """The line of a raw report a figure was read from."""

    line_no: int
    """1-based line number in the decoded text."""
    text: str
    start: int
    """Offset of the figure within ``text``."""
    end: int
    how: str
    """``span`` (offsets the parser recorded) or ``search`` (found by label and figure)."""

    def as_dict(self) -> dict[str, Any]:
        return {"line_no": self.line_no, "text": self.text, "figure_start": self.start,
                "figure_end": self.end, "found_by": self.how}


def _figure_pattern(total: int) -> re.Pattern[str]:
    """A regex for ``total`` written with or without thousands separators.

    >>> bool(_figure_pattern(385230).search("Persons: around 385,230 (+1090)"))
    True
    >>> bool(_figure_pattern(1452).search("12231 (+40) 11452"))
    False
    """
    digits = str(total)
    head = len(digits) % 3 or 3
    groups = [digits[:head]] + [digits[i:i + 3] for i in range(head, len(digits), 3)]
    return re.compile(r"(?<![\d.,])" + _SEPARATORS.join(groups) + r"(?!\d)(?![.,]\d)")


def _line_at(text: str, start: int, end: int, how: str) -> RawLine:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    return RawLine(text.count("\n", 0, start) + 1, text[line_start:line_end],
                   start - line_start, end - line_start, how)


def find_line(
    text: str,
    *,
    total: int,
    label: str | None = None,
    date: dt.date | None = None,
    span: tuple[int, int] | None = None,
) -> RawLine | None:
    """The line of ``text`` that states ``total`` (under ``label``, for ``date``).

    Recorded character offsets (``span``) are used when given. Otherwise, when the text names
    several dates (history files), the search is narrowed to the part after ``date``; a line
    with the label and the figure is preferred to a line with the figure alone.

    Examples
    --------
    >>> text = "Tanks: 6310 (+10)\\nSpecial equipment: 1448 (+5)\\n"
    >>> find_line(text, total=1448, label="special equipment")
    RawLine(line_no=2, text='Special equipment: 1448 (+5)', start=19, end=23, how='search')
    >>> find_line(text, total=1, label="tanks") is None
    True
    """
    if span is not None and 0 <= span[0] < span[1] <= len(text):
        # The recorded span is the item the figure was read from; the figure is marked in it.
        # A span that does not hold the figure (offsets into a page's extracted main text,
        # not its raw bytes) is not trusted: the line is searched for instead.
        figure = _figure_pattern(total).search(text, span[0], span[1])
        if figure is not None:
            return _line_at(text, figure.start(), figure.end(), "span")
    lo, hi = 0, len(text)
    if date is not None:
        iso = date.isoformat()
        at = text.find(iso)
        if at >= 0 and len(_ANY_ISO_DATE.findall(text, 0, min(len(text), 20_000))) > 1:
            lo = at
            following = _ANY_ISO_DATE.search(text, at + len(iso))
            hi = following.start() if following else len(text)
    wanted = (label or "").casefold().replace("_", " ")
    column = _csv_column(text, lo, wanted, total) if lo else None
    if column is not None:
        return column
    fallback: RawLine | None = None
    for match in _figure_pattern(total).finditer(text, lo, hi):
        found = _line_at(text, match.start(), match.end(), "search")
        before = found.text[: found.start].casefold().replace("_", " ")
        if wanted and wanted in before:
            return found
        if fallback is None:
            fallback = found
    return fallback


def _csv_column(text: str, row_start: int, label: str, total: int) -> RawLine | None:
    """In a CSV history, the cell under the column headed ``label`` of the row at ``row_start``.

    >>> _csv_column("date,tanks,mlrs\\n2024-01-31,6310,974\\n", 16, "mlrs", 974).text
    '2024-01-31,6310,974'
    """
    header = text[: text.find("\n")].casefold().replace("_", " ").split(",")
    if label not in header or text.rfind("\n", 0, row_start) + 1 != row_start:
        return None
    end = text.find("\n", row_start)
    row = text[row_start: end if end >= 0 else len(text)]
    fields = row.split(",")
    index = header.index(label)
    if index >= len(fields) or fields[index].strip() != str(total):
        return None
    offset = sum(len(f) + 1 for f in fields[:index])
    return _line_at(text, row_start + offset, row_start + offset + len(fields[index]), "search")


def _decoded(body: bytes, media_type: str) -> str | None:
    try:
        text = decode_report(body)
    except UndecodableReport:
        return None
    return html_to_text(text) if looks_like_html(text, media_type) else text


def _cell(frame: pl.DataFrame | None, date: dt.date, category: str) -> pl.DataFrame:
    if frame is None or frame.is_empty():
        return pl.DataFrame()
    return frame.filter((pl.col("date") == date) & (pl.col("category") == category))


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [_plain(row) for row in frame.to_dicts()] if not frame.is_empty() else []


def _runs_for(runs: pl.DataFrame | None, date: dt.date, category: str) -> list[dict[str, Any]]:
    """Disagreement runs (another stage's table) that cover the cell, whatever their columns."""
    if runs is None or runs.is_empty():
        return []
    frame = runs
    if "category" in frame.columns:
        frame = frame.filter(pl.col("category") == category)
    dates = [c for c, t in frame.schema.items() if t == pl.Date]
    starts = [c for c in dates if "start" in c or "first" in c or c == "from"]
    ends = [c for c in dates if "end" in c or "last" in c or c == "to"]
    if starts and ends:
        frame = frame.filter((pl.col(starts[0]) <= date) & (pl.col(ends[0]) >= date))
    elif "date" in frame.columns:
        frame = frame.filter(pl.col("date") == date)
    else:
        return []
    return _rows(frame)


def _fetch_failures(store: EventStore, date: dt.date) -> list[dict[str, Any]]:
    """FetchFailed events (when the log has any) for the day: asked for it, or failed on it."""
    if "FetchFailed" not in store.count_by_kind():
        return []
    iso = date.isoformat()
    found = []
    for event in store.read(kinds=["FetchFailed"], with_body=False):
        fields = event.fields()
        day = fields.get("date") or event.recorded_at.date().isoformat()
        if day != iso:
            continue
        status = fields.get("status")
        found.append({
            "event_id": event.event_id, "seq": event.seq,
            "recorded_at": event.recorded_at.isoformat(),
            "describe": f"{fields.get('source')} answered {status} on {day}" if status
            else f"{fields.get('source')} failed on {day}: {fields.get('error')}",
            **_plain(fields),
        })
    return found


def _overrides(store: EventStore, date: dt.date, category: str, ids: set[str]) -> list[dict]:
    found = []
    for event in store.read(kinds=DECISION_KINDS, with_body=False):
        if event.event_id not in ids or event.kind != TotalOverridden.kind:
            continue
        decision = event.to_domain()
        assert isinstance(decision, TotalOverridden)
        if decision.date == date and decision.category == category:
            found.append({"event_id": event.event_id, "seq": event.seq, "total": decision.total,
                          "reason": decision.reason, "actor": decision.actor,
                          "recorded_at": event.recorded_at.isoformat()})
    return found


def explain_cell(
    store: EventStore, warehouse: Path, *, date: dt.date, category: str
) -> dict[str, Any]:
    """Everything that decided the published total of one (date, category) cell.

    Parameters
    ----------
    store
        The event log (raw report bytes are read from it).
    warehouse
        The published warehouse directory (``<home>/warehouse``).
    date, category
        The cell.

    Returns
    -------
    dict
        A JSON-ready document: ``published`` (``None`` when the cell has no data),
        ``rule``, ``observations`` (each with ``raw_line``), ``revisions``,
        ``discrepancies``, ``disagreement_runs``, ``sources``, ``overrides``,
        ``neighbours``, ``fetch_failures``, ``event_ids``, ``watermark``.

    Raises
    ------
    NotPublished
        When nothing was published at ``warehouse``.
    """
    require_published(warehouse)
    totals = read_table(warehouse, "daily_totals")
    observations = read_table(warehouse, "observations")
    reports = read_table(warehouse, "reports")
    discrepancies = read_table(warehouse, "discrepancies")
    cell = _cell(totals, date, category)
    published = _rows(cell.drop("seq"))[0] if not cell.is_empty() else None
    if published is not None:
        published["seq"] = cell["seq"][0]
    seen = _cell(observations, date, category)
    if not seen.is_empty() and reports is not None:
        seen = seen.join(
            reports.select("event_id", "file_name", "media_type", "received_at"),
            on="event_id", how="left",
        )
    observed = _observations_with_lines(store, seen)
    latest_by_source: dict[str, dict[str, Any]] = {}
    for row in sorted(observed, key=lambda r: r["seq"]):
        latest_by_source[row["source"]] = row
    current = sorted(latest_by_source.values(), key=lambda r: r["source"])
    revisions = [r for r in observed if latest_by_source[r["source"]] is not r]
    cell_ids = set(published["event_ids"]) if published else set()
    overrides = _overrides(store, date, category, cell_ids)
    rows = _cell(discrepancies, date, category)
    status = published["status"] if published else None
    neighbours = pl.DataFrame()
    if totals is not None and not totals.is_empty():
        span = dt.timedelta(days=_NEIGHBOURS)
        neighbours = totals.filter(
            (pl.col("category") == category)
            & pl.col("date").is_between(date - span, date + span)
        ).sort("date")
        keep = [c for c in ("date", "total", "delta", "stated_delta", "status", "confidence",
                            "n_sources") if c in neighbours.columns]
        neighbours = neighbours.select(keep)
    sources_table = read_table(warehouse, "sources")
    involved = {r["source"] for r in observed}
    source_rows = (
        _rows(sources_table.filter(pl.col("source").is_in(sorted(involved))))
        if sources_table is not None and "source" in sources_table.columns else []
    )
    ids = cell_ids | {r["event_id"] for r in observed}
    if not rows.is_empty():
        ids |= {i for row_ids in rows["event_ids"].to_list() for i in row_ids}
    state = read_state(warehouse)
    return {
        "date": date.isoformat(),
        "category": category,
        "published": published,
        "rule": _rule(status, published.get("evidence") if published else None),
        "observations": current,
        "revisions": revisions,
        "discrepancies": _rows(rows.drop("seq") if not rows.is_empty() else rows),
        "disagreement_runs": _runs_for(read_table(warehouse, "disagreement_runs"), date,
                                       category),
        "sources": source_rows,
        "overrides": overrides,
        "neighbours": _rows(neighbours),
        "fetch_failures": _fetch_failures(store, date) if published is None
        or status == "inferred" else [],
        "event_ids": sorted(ids),
        "watermark": state.watermark if state is not None else None,
    }


def _observations_with_lines(store: EventStore, seen: pl.DataFrame) -> list[dict[str, Any]]:
    if seen.is_empty():
        return []
    texts: dict[int, str | None] = {}
    for seq in sorted(set(seen["seq"].to_list())):
        for event in store.read(after=seq - 1, upto=seq):
            media = event.fields().get("media_type", "text/plain")
            texts[seq] = _decoded(event.body or b"", media)
    result = []
    for row in seen.sort("source", "seq").to_dicts():
        text = texts.get(row["seq"])
        span = None
        if row.get("span_start") is not None and row.get("span_end") is not None:
            span = (int(row["span_start"]), int(row["span_end"]))
        line = None if text is None else find_line(
            text, total=row["total"], label=row.get("label"), date=row["date"], span=span)
        plain = {k: _plain(v) for k, v in row.items() if k not in ("date", "category")}
        plain["raw_line"] = line.as_dict() if line else None
        result.append(plain)
    return result


def render_explanation(doc: dict[str, Any], console: Console) -> None:
    """Print an :func:`explain_cell` document with rich: panels, tables, highlighted lines."""
    title = f"{doc['category']} on {doc['date']}"
    published = doc["published"]
    if published is None:
        lines = [Text(f"No published total for {title}.", style="bold red")]
        if doc["observations"]:
            lines.append(Text("Sources state figures for it, but none was published "
                              "(see the discrepancies below)."))
        else:
            lines.append(Text("No source reports this cell, and it could not be inferred."))
        for row in doc["discrepancies"]:
            lines.append(Text(f"{row['kind']}: {row['detail']}"))
        if doc["fetch_failures"]:
            lines.append(Text(f"{len(doc['fetch_failures'])} fetch failure(s) that day:"))
            for failure in doc["fetch_failures"]:
                lines.append(Text(f"  {failure['describe']} (event {failure['event_id']}, "
                                  f"{failure.get('attempts', '?')} attempts)"))
        if doc["neighbours"]:
            lines.append(Text("Neighbouring days: " + ", ".join(
                f"{n['date']}={n['total']}" for n in doc["neighbours"])))
        console.print(Panel(Group(*lines), title=title, title_align="left"))
        return
    head = Table.grid(padding=(0, 2))
    head.add_row("total", Text(f"{published['total']:,}", style="bold"))
    head.add_row("status", published["status"])
    if published.get("confidence") is not None:
        head.add_row("confidence", f"{published['confidence']}")
    head.add_row("delta (implied)", _signed(published.get("delta")))
    head.add_row("stated delta", _signed(published.get("stated_delta")))
    head.add_row("sources", ", ".join(published["sources"]) or "-")
    head.add_row("rule", doc["rule"] or "-")
    console.print(Panel(head, title=title, title_align="left"))
    for override in doc["overrides"]:
        console.print(f"[bold]override[/] {override['total']:,} by {override['actor']}: "
                      f"{override['reason']} (event {override['event_id']}, "
                      f"{override['recorded_at']})")
    _print_observations(console, "what each source says", doc["observations"],
                        published["total"])
    if doc["revisions"]:
        _print_observations(console, "revisions (older values, superseded)", doc["revisions"],
                            published["total"])
    if doc["discrepancies"]:
        table = Table("kind", "source", "expected", "observed", "detail",
                      title="evidence: discrepancy rows", title_justify="left")
        for row in doc["discrepancies"]:
            table.add_row(row["kind"], row["source"] or "-", _num(row["expected"]),
                          _num(row["observed"]), row["detail"])
        console.print(table)
    if doc["disagreement_runs"]:
        table = Table(*doc["disagreement_runs"][0].keys(), title="disagreement runs",
                      title_justify="left")
        for row in doc["disagreement_runs"]:
            table.add_row(*(str(v) for v in row.values()))
        console.print(table)
    if doc["sources"]:
        table = Table(*doc["sources"][0].keys(), title="sources", title_justify="left")
        for row in doc["sources"]:
            table.add_row(*(str(v) for v in row.values()))
        console.print(table)
    if doc["neighbours"]:
        table = Table(*doc["neighbours"][0].keys(), title="neighbouring days",
                      title_justify="left")
        for row in doc["neighbours"]:
            style = "bold" if row["date"] == doc["date"] else None
            table.add_row(*(_num(v) if isinstance(v, int) else str(v) for v in row.values()),
                          style=style)
        console.print(table)
    console.print(f"event ids: {', '.join(doc['event_ids'])}", soft_wrap=True)
    console.print(f"watermark: {doc['watermark']}")


def _print_observations(
    console: Console, title: str, rows: list[dict[str, Any]], chosen: int
) -> None:
    console.rule(f"[bold]{title}[/]", align="left")
    for row in rows:
        mark = "[green]agrees[/]" if row["total"] == chosen else "[red]differs[/]"
        retracted = " [yellow](retracted)[/]" if row.get("retracted") else ""
        console.print(
            f"[bold]{row['source']}[/] ({row['source_kind']}): "
            f"{row['total']:,} {_signed(row.get('stated_delta'))} {mark}{retracted}"
        )
        console.print(f"  report {row.get('file_name')} · parser {row['parser']} "
                      f"{row['parser_version']} · received {row.get('received_at')} · "
                      f"event {row['event_id']} (seq {row['seq']})", soft_wrap=True)
        line = row.get("raw_line")
        if line is None:
            console.print("  [dim](the figure's line could not be located in the raw report)[/]")
            continue
        text = Text(f"  line {line['line_no']}: ", style="dim")
        body = Text(line["text"])
        body.stylize("bold black on yellow", line["figure_start"], line["figure_end"])
        text.append_text(body)
        console.print(text, soft_wrap=True)


def _signed(value: int | None) -> str:
    return "-" if value is None else f"{value:+,}"


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)
