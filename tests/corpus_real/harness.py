"""Run the real-world corpus through the real pipeline and score what it reads.

A temporary home gets the petroivaniuk history (the reference series: it dates undated reports
and judges plausibility) and every corpus report as its own source (``corpus.<id>``), each
received a few hours or days after its day, as a fetched page would be. Then the pipeline's own
stages run (:func:`lossledger.pipeline.plan_run`, ``parse_range``, ``project_tables``) and the
published ``observations`` table is compared with each report's expectation:

- **precision**: of the distinct (category, total) figures read from corpus reports, the share
  that the report really states; a figure on the wrong category, with a wrong total, or taken
  from a distractor (Oryx, US/UK estimates, Russia's claims, monthly or rounded numbers, cut
  numbers) counts against it;
- **recall**: of the figures the reports state, the share read;
- **dates right**: reports whose observations all carry the report's date, with a
  ``date_source`` the expectation accepts (a report with no observation has no date right);
- **deltas right**: of the figures read, the share with the stated change.

    python -m tests.corpus_real.harness [--seed 0] [--home DIR] [--json FILE] [--examples 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from tests.corpus_real.days import SHARED
from tests.corpus_real.generate import CorpusReport, build_corpus

__all__ = [
    "HISTORY_FILES",
    "TARGETS",
    "ReportScore",
    "Scores",
    "ingest_corpus",
    "read_corpus",
    "run_corpus",
    "score",
]

HISTORY_FILES = (SHARED / "russia_losses_equipment.json", SHARED / "russia_losses_personnel.json")
SOURCE_PREFIX = "corpus."
#: Issue 10's bar.
TARGETS = {"precision": 0.995, "recall": 0.95, "dates_right": 0.99}


@dataclass(slots=True)
class ReportScore:
    """How one report was read."""

    report: CorpusReport
    found: list[dict[str, Any]]
    status: str | None
    problems: list[str]
    true_positives: int = 0
    false_positives: list[tuple[str, int, str]] = field(default_factory=list)
    """(category, total, why): wrong_category, wrong_total, distractor, spurious."""
    missed: list[tuple[str, int]] = field(default_factory=list)
    deltas_right: int = 0
    dates: list[str] = field(default_factory=list)
    date_sources: list[str | None] = field(default_factory=list)

    @property
    def date_right(self) -> bool:
        return bool(self.found) and self.dates == [self.report.date.isoformat()] and all(
            s in self.report.date_sources for s in self.date_sources)

    @property
    def date_value_right(self) -> bool:
        return bool(self.found) and self.dates == [self.report.date.isoformat()]

    def as_dict(self) -> dict[str, Any]:
        r = self.report
        return {
            "id": r.id, "file": r.file_name, "language": r.language, "layout": r.layout,
            "features": list(r.features), "status": self.status,
            "expected_date": r.date.isoformat(), "expected_date_sources": list(r.date_sources),
            "dates": self.dates, "date_sources": self.date_sources,
            "date_right": self.date_right, "expected": len(r.figures),
            "read": self.true_positives, "false_positives": self.false_positives,
            "missed": self.missed, "problems": self.problems[:5],
        }


@dataclass(slots=True)
class Scores:
    """The corpus's scores and every report's."""

    reports: list[ReportScore]
    seconds: dict[str, float] = field(default_factory=dict)

    def _sum(self, attr: str, subset: Sequence[ReportScore] | None = None) -> int:
        rows = self.reports if subset is None else subset
        return sum(getattr(r, attr) if not isinstance(getattr(r, attr), list)
                   else len(getattr(r, attr)) for r in rows)

    def totals(self, subset: Sequence[ReportScore] | None = None) -> dict[str, Any]:
        rows = self.reports if subset is None else subset
        tp = sum(r.true_positives for r in rows)
        fp = sum(len(r.false_positives) for r in rows)
        expected = sum(len(r.report.figures) for r in rows)
        return {
            "reports": len(rows),
            "reports_read": sum(1 for r in rows if r.found),
            "figures_expected": expected,
            "figures_read_right": tp,
            "false_positives": fp,
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / expected if expected else None,
            "dates_right": sum(r.date_right for r in rows) / len(rows) if rows else None,
            "date_values_right": (sum(r.date_value_right for r in rows) / len(rows)
                                  if rows else None),
            "deltas_right": sum(r.deltas_right for r in rows) / tp if tp else None,
        }

    def breakdown(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Totals per feature value (``lang``, ``layout``, ``numbers``, ``date``, ...)."""
        groups: dict[str, list[ReportScore]] = defaultdict(list)
        for row in self.reports:
            for feature in row.report.features:
                if feature.startswith(prefix + ":"):
                    groups[feature.split(":", 1)[1]].append(row)
        return {key: self.totals(rows) for key, rows in sorted(groups.items())}

    def false_positive_kinds(self) -> Counter[str]:
        return Counter(why for r in self.reports for *_, why in r.false_positives)

    def as_dict(self) -> dict[str, Any]:
        return {
            "totals": self.totals(),
            "targets": TARGETS,
            "false_positive_kinds": dict(self.false_positive_kinds()),
            "by": {p: self.breakdown(p) for p in ("lang", "layout", "numbers", "date",
                                                  "deltas", "distractor", "truncated")},
            "seconds": self.seconds,
            "reports": [r.as_dict() for r in self.reports],
        }


# --- running ----------------------------------------------------------------------------


def ingest_corpus(home: Path, corpus: Sequence[CorpusReport], *, reference: bool = True) -> int:
    """Append the reference history (optional) and every report; returns the log's head."""
    from lossledger.pipeline import RunSettings
    from lossledger.store.events import ReportReceived
    from lossledger.store.ingest import ingest_files, report_files

    settings = RunSettings.resolve(home)
    with settings.store() as store:
        if reference:
            ingest_files(store, report_files(HISTORY_FILES, source="petroivaniuk"))
        store.append([
            ReportReceived(source=SOURCE_PREFIX + r.id, file_name=r.file_name,
                           media_type=r.media_type, body=r.body, received_at=r.received_at)
            for r in corpus
        ])
        return store.head()


def read_corpus(home: Path) -> Any:
    """Parse what is new and project the tables (the pipeline's own stages)."""
    from lossledger.pipeline import RunSettings, parse_range, plan_run, project_tables

    settings = RunSettings.resolve(home)
    plan = plan_run(settings)
    for first, last in plan.parse_ranges:
        parse_range(settings, first, last)
    return project_tables(settings, upto=plan.upto)


def run_corpus(corpus: Sequence[CorpusReport] | None = None, *, home: Path | None = None,
               reference: bool = True) -> Scores:
    """Ingest, read and score the corpus in ``home`` (a temporary one by default)."""
    import time

    corpus = list(build_corpus() if corpus is None else corpus)
    with tempfile.TemporaryDirectory(prefix="realcorpus-") as scratch:
        where = Path(home) if home is not None else Path(scratch)
        started = time.perf_counter()
        ingest_corpus(where, corpus, reference=reference)
        ingested = time.perf_counter()
        tables = read_corpus(where)
        done = time.perf_counter()
        scores = score(corpus, tables)
    scores.seconds = {"ingest": round(ingested - started, 3), "read": round(done - ingested, 3)}
    return scores


# --- scoring ----------------------------------------------------------------------------


def score(corpus: Sequence[CorpusReport], tables: Any) -> Scores:
    """Compare the projected tables with the corpus's expectations."""
    observations: pl.DataFrame = tables.observations
    if "retracted" in observations.columns:
        observations = observations.filter(~pl.col("retracted"))
    # Held as enums in memory (see WarehouseTables): text for the string test.
    observations = observations.filter(
        pl.col("source").cast(pl.String).str.starts_with(SOURCE_PREFIX)
    )
    has_source = "date_source" in observations.columns
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in observations.iter_rows(named=True):
        by_source[row["source"]].append(row)
    reports: pl.DataFrame = tables.reports.filter(pl.col("source").str.starts_with(SOURCE_PREFIX))
    status = dict(zip(reports["source"].to_list(), reports["status"].to_list(), strict=True))
    problems: dict[str, list[str]] = defaultdict(list)
    quarantine: pl.DataFrame = tables.quarantine
    for row in quarantine.filter(pl.col("source").str.starts_with(SOURCE_PREFIX)).iter_rows(
            named=True):
        problems[row["source"]].append(row["reason"])
    rows = []
    for report in corpus:
        source = SOURCE_PREFIX + report.id
        found = by_source.get(source, [])
        result = ReportScore(report, found, status.get(source), problems.get(source, []))
        _score_figures(result)
        result.dates = sorted({_iso(r["date"]) for r in found})
        result.date_sources = sorted({r.get("date_source") if has_source else None
                                      for r in found}, key=str)
        rows.append(result)
    return Scores(rows)


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _score_figures(result: ReportScore) -> None:
    expected = {(f.category, f.total): f for f in result.report.figures}
    expected_totals = {f.total: f.category for f in result.report.figures}
    expected_categories = {f.category for f in result.report.figures}
    distractors = {d.value for d in result.report.distractors}
    deltas: dict[tuple[str, int], list[int | None]] = defaultdict(list)
    for row in result.found:
        deltas[(row["category"], row["total"])].append(row.get("stated_delta"))
    for key, stated in sorted(deltas.items()):
        if key in expected:
            result.true_positives += 1
            if any(expected[key].delta_ok(d) for d in stated):
                result.deltas_right += 1
            continue
        category, total = key
        if total in distractors:
            why = "distractor"
        elif total in expected_totals:
            why = "wrong_category"
        elif category in expected_categories:
            why = "wrong_total"
        else:
            why = "spurious"
        result.false_positives.append((category, total, why))
    result.missed = sorted(k for k in expected if k not in deltas)


# --- report -----------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def markdown(scores: Scores, *, examples: int = 3) -> str:
    """The scores as a short markdown report, with examples of each class of miss."""
    t = scores.totals()
    lines = [
        "## Real-world corpus (tests/corpus_real)", "",
        f"{t['reports']} reports ({t['reports_read']} gave at least one figure), "
        f"{t['figures_expected']} figures stated.", "",
        "| measure | value | target |", "|---|---|---|",
        f"| precision | {_pct(t['precision'])} | >= {_pct(TARGETS['precision'])} |",
        f"| recall | {_pct(t['recall'])} | >= {_pct(TARGETS['recall'])} |",
        f"| dates right (date and date_source) | {_pct(t['dates_right'])} | "
        f">= {_pct(TARGETS['dates_right'])} |",
        f"| dates right (date only) | {_pct(t['date_values_right'])} | |",
        f"| deltas right (of figures read) | {_pct(t['deltas_right'])} | |",
        "", f"false positives by kind: {dict(scores.false_positive_kinds()) or 'none'}", "",
    ]
    for prefix in ("lang", "layout", "numbers", "date"):
        lines += [f"**by {prefix}**", "", "| value | reports | read | recall | precision | "
                  "dates right |", "|---|---|---|---|---|---|"]
        for key, row in scores.breakdown(prefix).items():
            lines.append(f"| {key} | {row['reports']} | {row['reports_read']} | "
                         f"{_pct(row['recall'])} | {_pct(row['precision'])} | "
                         f"{_pct(row['dates_right'])} |")
        lines.append("")
    missed = Counter((r.report.language, category) for r in scores.reports
                     for category, _ in r.missed)
    reasons = Counter(_reason_class(reason) for r in scores.reports for reason in r.problems)
    lines += ["**biggest classes of misses**", "",
              "missed figures by language and category: "
              + (", ".join(f"{lang}/{cat} {n}" for (lang, cat), n in missed.most_common(10))
                 or "none"),
              "", "reasons given for what was quarantined: "
              + ("; ".join(f"{why} ({n})" for why, n in reasons.most_common(8)) or "none"), ""]
    lines += ["**examples of misses**", ""]
    shown: Counter[str] = Counter()
    for row in scores.reports:
        for category, total, why in row.false_positives:
            if shown[why] < examples:
                shown[why] += 1
                lines.append(f"- {why}: {row.report.file_name} read {category}={total}")
        if not row.found and shown["unread"] < examples:
            shown["unread"] += 1
            reason = row.problems[0] if row.problems else row.status
            lines.append(f"- unread: {row.report.file_name} ({reason})")
        elif row.missed and shown["missed"] < examples:
            shown["missed"] += 1
            lines.append(f"- missed: {row.report.file_name} {row.missed[:4]}")
        if row.found and not row.date_right and shown["date"] < examples:
            shown["date"] += 1
            lines.append(f"- date: {row.report.file_name} expected {row.report.date} "
                         f"{row.report.date_sources}, got {row.dates} {row.date_sources}")
    return "\n".join(lines) + "\n"


def _reason_class(reason: str) -> str:
    """A quarantine reason without its figures, so that alike reasons count together.

    >>> _reason_class("conflicting figures for tanks: 'Panzer' 31 (None), 'Kampfpanzer' 269")
    'conflicting figures for tanks'
    >>> _reason_class("weakly matched label 'żołnierzy i' (nearest 'żołnierzy', score 0.90)")
    'weakly matched label'
    """
    head = reason.split(":", 1)[0]
    words = []
    for word in head.split():
        if any(ch.isdigit() for ch in word) or word.startswith(("'", '"', "(")):
            break
        words.append(word)
    return " ".join(words) or head[:40]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.corpus_real.harness",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", type=Path, default=None, help="keep the home here (fresh dir)")
    parser.add_argument("--json", type=Path, default=None, help="write every score here")
    parser.add_argument("--examples", type=int, default=3)
    args = parser.parse_args(argv)
    scores = run_corpus(build_corpus(seed=args.seed), home=args.home)
    if args.json:
        args.json.write_text(json.dumps(scores.as_dict(), indent=1, ensure_ascii=False,
                                        default=str) + "\n", encoding="utf-8")
    sys.stdout.write(markdown(scores, examples=args.examples))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
