"""How lossledger reads real pages you collected: figures right, wrong, missed; dates.

    python -m bench.realpages DIR [--shared DIR] [--json FILE] [--quiet]

``DIR`` holds pages as ``DIR/<lang>/<nn>.txt`` (or ``.html``), each with a sidecar
``<nn>.json``: ``{"url": ..., "lang": ...}`` and optionally ``"received"`` (ISO time the page
was fetched; now when absent) and ``"published"`` (the page's own date, ``YYYY-MM-DD``, passed
as metadata as an HTTP header would be). Pages are third-party text: they are never shipped
with lossledger; collect your own.

Each page goes the way ingestion takes a raw report: :func:`lossledger.parse.parsers.
parse_report` (bytes, media type, received time, metadata; the source named after the URL's
host), then the projection's doubt against the series (:func:`lossledger.reconcile.dating.
infer_dates` for undated figures, :func:`~lossledger.reconcile.dating.implausible_figures`),
with petroivaniuk's history (``../shared/data/petroivaniuk``) as the other source, as the
pipeline's reference series. Scores are against the same series, read here with the standard
library and the tests' own key table (never through lossledger's parsers); the General Staff's
report of day D is petroivaniuk's row D, as in ``tests/corpus_real``.

- **right**: a figure whose total is the series' total for its (date, category);
- **wrong**: ``wrong_category`` (the total is another category's that day), ``wrong_date``
  (the category's total on another day), ``distractor`` (in the series nowhere near: an
  Oryx count, an estimate, a daily change read as a total...);
- **gold**: the series' totals of the page's day whose number the text holds in any separator
  form ("385,230", "385.230", "385 230", NBSP, thin space, "385230"). The page's day is the day
  whose totals (of three digits or more) the text holds most; a tie keeps every tied day (the
  page cannot tell them apart) and the reader's date is right when it is one of them;
- **recall**: gold figures read right / gold figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

__all__ = ["load_pages", "load_series", "main", "score_page", "score_pages"]

_NUMBER = re.compile(r"(?<![\d.,])\d{1,3}(?:[ ,.\u00a0\u202f\u2009\u2007](?=\d{3})\d{3})+"
                     r"(?![\d])|(?<![\d.,])\d+(?![\d])")
_SEPARATORS = re.compile(r"[ ,.\u00a0\u202f\u2009\u2007]")


def load_series(shared: Path) -> dict[dt.date, dict[str, int]]:
    """petroivaniuk's daily totals by date and lossledger category code."""
    from tests.corpus_real.days import PETROIVANIUK_KEYS

    series: dict[dt.date, dict[str, int]] = {}
    for name in ("russia_losses_equipment.json", "russia_losses_personnel.json"):
        for record in json.loads((shared / name).read_text(encoding="utf-8")):
            row = series.setdefault(dt.date.fromisoformat(record["date"]), {})
            for key, value in record.items():
                if key in PETROIVANIUK_KEYS and isinstance(value, int):
                    row[PETROIVANIUK_KEYS[key]] = value
    return series


def load_pages(directory: Path) -> list[dict[str, Any]]:
    """Every page of ``directory/<lang>/`` with its sidecar, in a stable order."""
    pages = []
    for path in sorted(directory.glob("*/*")):
        if path.suffix not in (".txt", ".html", ".htm"):
            continue
        sidecar = path.with_suffix(".json")
        meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else {}
        pages.append({"id": f"{path.parent.name}/{path.stem}", "path": path,
                      "lang": meta.get("lang", path.parent.name), "url": meta.get("url", ""),
                      "received": meta.get("received"), "published": meta.get("published")})
    return pages


def _numbers(text: str) -> set[int]:
    """Every number the text writes, in any separator form, as an integer."""
    found = set()
    for match in _NUMBER.finditer(text):
        found.add(int(_SEPARATORS.sub("", match.group())))
    return found


def _gold(text: str, series: Mapping[dt.date, Mapping[str, int]]) -> tuple[
    list[dt.date], dict[str, int]
]:
    """The page's days (tied best matches) and the gold figures of the first of them."""
    numbers = _numbers(text)
    best: list[dt.date] = []
    best_count = 1  # at least two distinctive totals pin a day
    for date, totals in series.items():
        count = sum(1 for v in totals.values() if v >= 100 and v in numbers)
        if count > best_count:
            best, best_count = [date], count
        elif count == best_count and best:
            best.append(date)
    if not best:
        return [], {}
    gold = {c: v for c, v in series[best[0]].items() if v in numbers}
    return best, gold


def _classify(category: str, total: int, date: dt.date | None, days: list[dt.date],
              series: Mapping[dt.date, Mapping[str, int]]) -> str:
    if date is not None and series.get(date, {}).get(category) == total:
        return "right"
    around = [days[0]] if days else []
    if date is not None:
        around.append(date)
    for day in around:
        if total in {v for c, v in series.get(day, {}).items() if c != category}:
            return "wrong_category"
    if date is None:
        return "undated"
    lo, hi = date - dt.timedelta(days=60), date + dt.timedelta(days=60)
    for day, totals in series.items():
        if lo <= day <= hi and totals.get(category) == total:
            return "wrong_date"
    return "distractor"


def _series_frame(series: Mapping[dt.date, Mapping[str, int]]) -> Any:
    import polars as pl

    rows = [(d, c, v) for d, totals in series.items() for c, v in totals.items()]
    return pl.DataFrame(
        {"event_id": ["series"] * len(rows), "parser": ["history_petroivaniuk"] * len(rows),
         "date": [r[0] for r in rows], "category": [r[1] for r in rows],
         "total": [r[2] for r in rows], "date_source": ["stated"] * len(rows),
         "span_start": [None] * len(rows)},
        schema={"event_id": pl.String, "parser": pl.String, "date": pl.Date,
                "category": pl.String, "total": pl.Int64, "date_source": pl.String,
                "span_start": pl.Int64},
    )


def score_page(page: Mapping[str, Any], series: Mapping[dt.date, Mapping[str, int]],
               series_frame: Any) -> dict[str, Any]:
    """Read one page as ingestion does and score it against the series."""
    import polars as pl

    from lossledger.parse.parsers import parse_report
    from lossledger.reconcile.dating import implausible_figures, infer_dates, undate_contradicted

    path: Path = page["path"]
    body = path.read_bytes()
    text = body.decode("utf-8", errors="replace")
    received = (dt.datetime.fromisoformat(page["received"]) if page.get("received")
                else dt.datetime.now(dt.UTC))
    metadata = {"published": page["published"]} if page.get("published") else {}
    media_type = "text/html" if path.suffix in (".html", ".htm") else "text/plain"
    result = parse_report(body, media_type=media_type, file_name=page["id"],
                          received_at=received, metadata=metadata)
    problems = [p.reason for p in result.problems]
    observations = list(result.observations)
    kept: list[dict[str, Any]] = []
    if observations:
        page_rows = pl.DataFrame(
            {"event_id": [page["id"]] * len(observations),
             "parser": [result.parser] * len(observations),
             "date": [o.date for o in observations],
             "category": [o.category for o in observations],
             "total": [o.total for o in observations],
             "date_source": [o.date_source for o in observations],
             "span_start": [o.span_start for o in observations]},
            schema=series_frame.schema)
        candidates, unpinned = infer_dates(
            undate_contradicted(pl.concat([series_frame, page_rows])))
        candidates, implausible = implausible_figures(candidates)
        for frame in (unpinned, implausible):
            for row in frame.filter(pl.col("event_id") == page["id"]).iter_rows(named=True):
                problems.append(f"{row['reason']} ({row['category']} {row['total']})")
        kept = candidates.filter(pl.col("event_id") == page["id"]).to_dicts()
    days, gold = _gold(text, series)
    figures = []
    for row in kept:
        kind = _classify(row["category"], row["total"], row["date"], days, series)
        figures.append({"category": row["category"], "total": row["total"],
                        "date": row["date"].isoformat() if row["date"] else None,
                        "date_source": row["date_source"], "kind": kind})
    read_right = {(f["category"], f["total"]) for f in figures if f["kind"] == "right"}
    dates = sorted({f["date"] for f in figures if f["date"]})
    tied = {d.isoformat() for d in days}
    return {
        "id": page["id"], "lang": page["lang"], "source": urlparse(page["url"]).hostname or "",
        "url": page["url"], "parser": result.parser, "read": bool(figures),
        "gold": len(gold), "gold_days": sorted(tied)[:3] + (["..."] if len(tied) > 3 else []),
        "gold_hit": sum(1 for item in gold.items() if item in read_right),
        "right": sum(f["kind"] == "right" for f in figures),
        "wrong": Counter(f["kind"] for f in figures if f["kind"] != "right"),
        "dates": dates,
        "date_right": (bool(dates) and bool(tied) and set(dates) <= tied) if gold else None,
        "date_sources": sorted({f["date_source"] for f in figures}),
        "problems": problems, "figures": figures,
        "missed": sorted(f"{c} {v}" for c, v in gold.items() if (c, v) not in read_right),
    }


def score_pages(directory: Path, shared: Path) -> dict[str, Any]:
    """Every page of ``directory`` scored, with the totals."""
    series = load_series(shared)
    frame = _series_frame(series)
    started = time.perf_counter()
    pages = [score_page(page, series, frame) for page in load_pages(directory)]
    with_gold = [p for p in pages if p["gold"]]
    wrong: Counter[str] = Counter()
    for page in pages:
        wrong.update(page["wrong"])
    right = sum(p["right"] for p in pages)
    reasons: Counter[str] = Counter()
    for page in pages:
        if not page["read"]:
            reasons[_reason_class(page["problems"][0] if page["problems"] else "nothing read")]\
                += 1
    gold = sum(p["gold"] for p in pages)
    hit = sum(p["gold_hit"] for p in pages)
    return {
        "directory": str(directory), "measured": dt.date.today().isoformat(),
        "seconds": round(time.perf_counter() - started, 2),
        "totals": {
            "pages": len(pages), "languages": len({p["lang"] for p in pages}),
            "pages_with_gold": len(with_gold),
            "pages_read": sum(p["read"] for p in pages),
            "pages_with_gold_read": sum(p["read"] for p in with_gold),
            "pages_quarantined": sum(not p["read"] for p in pages),
            "quarantine_reasons": dict(reasons.most_common()),
            "figures_right": right, "figures_wrong": sum(wrong.values()),
            "wrong_by_kind": dict(wrong), "gold": gold, "gold_read": hit,
            "recall": round(hit / gold, 4) if gold else None,
            "precision": round(right / (right + sum(wrong.values())), 4)
            if right + sum(wrong.values()) else None,
            "dates_right": sum(bool(p["date_right"]) for p in with_gold),
            "dates_right_share": round(sum(bool(p["date_right"]) for p in with_gold)
                                       / len(with_gold), 4) if with_gold else None,
            "date_sources": dict(Counter(s for p in pages for s in p["date_sources"])),
        },
        "pages": pages,
    }


def _reason_class(reason: str) -> str:
    reason = re.sub(r"'[^']*'", "'…'", reason)
    reason = re.sub(r"\d[\d,.]*", "N", reason)
    return reason[:90]


def table(result: Mapping[str, Any]) -> list[str]:
    """The per-page table and the totals, as markdown."""
    lines = ["| page | source | gold | read right | wrong | recall | date | ok | date_source "
             "| first problem |", "|---|---|---|---|---|---|---|---|---|---|"]
    for page in result["pages"]:
        wrong = ", ".join(f"{k} {v}" for k, v in page["wrong"].items()) or "0"
        recall = f"{page['gold_hit']}/{page['gold']}" if page["gold"] else "—"
        ok = {True: "yes", False: "NO", None: "—"}[page["date_right"]]
        problem = (page["problems"][0][:60] if page["problems"] else "")
        lines.append(f"| {page['id']} | {page['source'][:28]} | {page['gold']} | "
                     f"{page['right']} | {wrong} | {recall} | {','.join(page['dates']) or '—'} "
                     f"| {ok} | {','.join(page['date_sources']) or '—'} | {problem} |")
    t = result["totals"]
    lines += [
        "",
        f"pages {t['pages']} ({t['languages']} languages; {t['pages_with_gold']} with General "
        f"Staff figures): read {t['pages_read']} ({t['pages_with_gold_read']} of those with "
        f"figures), quarantined {t['pages_quarantined']}",
        f"figures right {t['figures_right']}, wrong {t['figures_wrong']} {t['wrong_by_kind']}"
        f" (precision {t['precision']})",
        f"recall {t['gold_read']}/{t['gold']} = {t['recall']}; dates right "
        f"{t['dates_right']}/{t['pages_with_gold']} = {t['dates_right_share']}; date_source "
        f"{t['date_sources']}",
        f"quarantine reasons: {t['quarantine_reasons']}",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    from tests.corpus_real.days import SHARED

    parser = argparse.ArgumentParser(prog="python -m bench.realpages",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--shared", type=Path, default=SHARED,
                        help="the petroivaniuk directory (default: ../shared/data/petroivaniuk)")
    parser.add_argument("--json", type=Path, default=None, help="write the full result here")
    parser.add_argument("--quiet", action="store_true", help="totals only")
    args = parser.parse_args(argv)
    result = score_pages(args.directory, args.shared)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str, ensure_ascii=False)
                             + "\n", encoding="utf-8")
    lines = table(result)
    print("\n".join(lines[-4:] if args.quiet else lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
