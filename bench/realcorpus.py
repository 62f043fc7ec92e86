"""The real-world corpus in ``make bench``: how well lossledger reads it, and how fast.

    python -m bench.realcorpus [--seed 0] [--throughput-reports 4000] [--repeat 3] [--json FILE]

**Accuracy** runs the corpus of ``tests/corpus_real`` (~180 reports in 8 languages and 13
layouts around real days, with distractors; see ``tests/corpus_real/generate.py``) through the
pipeline (:func:`tests.corpus_real.harness.run_corpus`: the petroivaniuk history as the
reference series, each report its own source) and scores precision, recall, dates right and
deltas right against each report's expectation.

**Throughput** renders the same corpus with more seeds until it holds ``--throughput-reports``
reports, prepares a home holding the reference history already parsed (not timed), then times,
in a fresh interpreter per run, the ingest of those reports (one ``ReportReceived`` each),
their parse (``parse_range``) and the validation inside ``project_tables`` (the observation and
table schemas); reports/s = reports / (ingest + parse + validate). The whole ``project_tables``
(reconcile included) is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["THROUGHPUT_TARGET", "accuracy", "main", "throughput"]

REPO = Path(__file__).resolve().parents[1]
RESULT_PREFIX = "REALCORPUS-RESULT "
#: reports/s for ingest + parse + validate (issue 10 keeps the pipeline's bar).
THROUGHPUT_TARGET = 2000.0


def accuracy(seed: int = 0) -> dict[str, Any]:
    """Precision, recall, dates and deltas on the corpus, with breakdowns and examples."""
    from tests.corpus_real.generate import build_corpus
    from tests.corpus_real.harness import markdown, run_corpus

    scores = run_corpus(build_corpus(seed=seed))
    result = scores.as_dict()
    result["markdown"] = markdown(scores)
    return result


def _corpus(count: int) -> list[Any]:
    from tests.corpus_real.generate import build_corpus

    reports: list[Any] = []
    seed = 0
    while len(reports) < count:
        reports += build_corpus(seed=seed)
        seed += 1
    return reports[:count]


def _prepare(home: Path) -> None:
    """A home with the reference history ingested and parsed (the state a daily run meets)."""
    from tests.corpus_real.harness import ingest_corpus, read_corpus

    ingest_corpus(home, [], reference=True)
    read_corpus(home)


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the parse stage's workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _timed_run(home: Path, count: int) -> dict[str, Any]:
    """One measured run (in this process): ingest, parse, project with validation timed."""
    import lossledger.projection as projection
    from bench.stages import Timers
    from lossledger.parse.stage import parse_workers, wait_for_workers
    from lossledger.pipeline import RunSettings, parse_range, plan_run, project_tables
    from lossledger.store.events import ReportReceived
    from tests.corpus_real.harness import SOURCE_PREFIX

    reports = _corpus(count)
    timers = Timers()
    timers.wrap(projection, "_validated_observations", "validate.observations")
    timers.wrap(projection.WarehouseTables, "validated", "validate.tables")
    settings = RunSettings.resolve(home)
    events = [ReportReceived(source=f"{SOURCE_PREFIX}{i}", file_name=r.file_name,
                             media_type=r.media_type, body=r.body, received_at=r.received_at)
              for i, r in enumerate(reports)]
    cpu_started = _cpu_seconds()
    with timers.phase("ingest"), settings.store() as store:
        appended = store.append(events)
    with timers.phase("parse"):
        plan = plan_run(settings)
        parsed = sum(parse_range(settings, first, last) for first, last in plan.parse_ranges)
    with timers.phase("project"):
        tables = project_tables(settings, upto=plan.upto)
    wait_for_workers()  # the last batch's workers exit on their own: joined, their CPU counts
    cpu = _cpu_seconds() - cpu_started
    seconds = timers.as_dict()
    validate = seconds.get("validate.observations", 0.0) + seconds.get("validate.tables", 0.0)
    core = seconds["ingest"] + seconds["parse"] + validate
    return {
        "reports": len(reports), "new_events": len(appended.recorded), "parsed": parsed,
        "observations": tables.observations.height, "seconds": seconds,
        "ingest_parse_validate_s": round(core, 4),
        "reports_per_s": round(len(reports) / core, 1) if core else None,
        "with_project_reports_per_s": round(
            len(reports) / (seconds["ingest"] + seconds["parse"] + seconds["project"]), 1),
        "cpu_s": round(cpu, 3),
        "parse_workers": parse_workers(),
        "cpu_reports_per_s": round(len(reports) / cpu, 1) if cpu else None,
    }


def throughput(count: int = 4000, repeat: int = 3) -> dict[str, Any]:
    """``repeat`` fresh-process runs of the timed ingest + parse + validate."""
    samples = []
    with tempfile.TemporaryDirectory(prefix="realcorpus-bench-") as scratch:
        template = Path(scratch) / "template"
        _prepare(template)
        for i in range(repeat):
            home = Path(scratch) / f"run-{i}"
            shutil.copytree(template, home)
            os.sync()  # a home at rest: its log's first checkpoint writes only the new events
            load = os.getloadavg()[0]
            done = subprocess.run(
                [sys.executable, "-m", "bench.realcorpus", "--_timed", str(home),
                 "--throughput-reports", str(count)],
                cwd=REPO, capture_output=True, text=True, check=False)
            line = next((x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX)),
                        None)
            if line is None:
                samples.append({"error": (done.stderr or done.stdout)[-2000:]})
            else:
                samples.append({**json.loads(line.removeprefix(RESULT_PREFIX)),
                                "load_before": round(load, 2)})
            shutil.rmtree(home, ignore_errors=True)
    rates = [s["reports_per_s"] for s in samples if s.get("reports_per_s")]
    return {"reports": count, "samples": samples,
            "reports_per_s_median": statistics.median(rates) if rates else None,
            "target": THROUGHPUT_TARGET}


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The section of the bench report: the accuracy table, throughput and the verdicts."""
    from tests.corpus_real.harness import TARGETS

    lines = [result["accuracy"]["markdown"].rstrip(), ""]
    speed = result.get("throughput") or {}
    rate = speed.get("reports_per_s_median")
    ok = [s for s in speed.get("samples", []) if "seconds" in s]
    if ok:
        phases = {k: statistics.median(s["seconds"].get(k, 0) for s in ok)
                  for k in ("ingest", "parse", "validate.observations", "validate.tables",
                            "project")}
        lines += [f"**throughput** ({speed['reports']} corpus reports, median of {len(ok)} "
                  f"fresh-process runs): ingest {phases['ingest']:.2f} s, parse "
                  f"{phases['parse']:.2f} s, validate "
                  f"{phases['validate.observations'] + phases['validate.tables']:.2f} s → "
                  f"**{rate:,.0f} reports/s** (whole project_tables incl. reconcile: "
                  f"{phases['project']:.2f} s); per CPU-second (workers included) of ingest "
                  f"+ parse + the whole project_tables: "
                  f"{statistics.median(s['cpu_reports_per_s'] for s in ok):,.0f}"
                  f" reports/s (less sensitive to a busy machine; load before the runs: "
                  f"{[s.get('load_before') for s in ok]})", ""]
    totals = result["accuracy"]["totals"]
    rows = [("precision", totals["precision"], TARGETS["precision"], "%"),
            ("recall", totals["recall"], TARGETS["recall"], "%"),
            ("dates right", totals["dates_right"], TARGETS["dates_right"], "%"),
            ("ingest+parse+validate", rate, THROUGHPUT_TARGET, "reports/s")]
    lines += ["| real-corpus target | measured | target | result |", "|---|---|---|---|"]
    for name, value, limit, unit in rows:
        verdict = "n/a" if value is None else ("PASS" if value >= limit else "MISS")
        shown = "—" if value is None else (
            f"{100 * value:.1f} %" if unit == "%" else f"{value:,.0f} {unit}")
        wanted = f">= {100 * limit:.1f} %" if unit == "%" else f">= {limit:,.0f} {unit}"
        lines.append(f"| {name} | {shown} | {wanted} | {verdict} |")
    return lines


def run(*, seed: int = 0, count: int = 4000, repeat: int = 3) -> dict[str, Any]:
    started = time.perf_counter()
    result = {"accuracy": accuracy(seed), "throughput": throughput(count, repeat)}
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.realcorpus",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--throughput-reports", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--_timed", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._timed is not None:
        from lossledger._startup import without_data_synthesis

        without_data_synthesis()  # as the console command does (see lossledger._startup)
        print(RESULT_PREFIX + json.dumps(_timed_run(args._timed, args.throughput_reports)))
        return 0
    result = run(seed=args.seed, count=args.throughput_reports, repeat=args.repeat)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str, ensure_ascii=False)
                             + "\n", encoding="utf-8")
    print("\n".join(summary_lines(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
