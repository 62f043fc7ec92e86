"""Measure the HTML report on the bundled samples (multi-year history): size and build time.

``python -m bench.report [--home DIR] [--repeat N]``: publishes ``data/samples/inbox`` into a
temporary home (without Prefect) unless ``--home`` names a published one, then builds the report
``N`` times in fresh processes' worth of work (one process, charts rebuilt each time) and prints
JSON: size in bytes and MB, build seconds (min / median / max), the charts drawn.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from lossledger.pipeline import RunSettings, bring_up_to_date
from lossledger.report.html import write_report
from lossledger.store.ingest import ingest_files, report_files

__all__ = ["measure", "publish_samples"]

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples" / "inbox"


def publish_samples(home: Path, inbox: Path = SAMPLES) -> float:
    """Ingest, parse, project and publish ``inbox`` into ``home``; returns the seconds taken."""
    started = time.perf_counter()
    settings = RunSettings.resolve(home)
    with settings.store() as store:
        ingest_files(store, report_files([inbox]))
    bring_up_to_date(settings)
    return time.perf_counter() - started


def measure(home: Path, *, repeat: int = 3) -> dict[str, object]:
    """Build the report of ``home``'s warehouse ``repeat`` times; size and timings."""
    seconds, cpu = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(repeat):
            cpu_start = time.process_time()
            built = write_report(RunSettings.resolve(home).warehouse, Path(scratch) / "r.html")
            seconds.append(built.seconds)
            cpu.append(time.process_time() - cpu_start)
    return {
        "size_bytes": built.size_bytes,
        "size_mb": round(built.size_bytes / 1e6, 2),
        "build_seconds": {"min": round(min(seconds), 2),
                          "median": round(statistics.median(seconds), 2),
                          "max": round(max(seconds), 2)},
        "cpu_seconds_median": round(statistics.median(cpu), 2),
        "charts": list(built.charts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, help="a published lossledger home")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.home is not None:
        print(json.dumps(measure(args.home, repeat=args.repeat), indent=2))
        return
    with tempfile.TemporaryDirectory() as home:
        published = publish_samples(Path(home))
        result = {"publish_seconds": round(published, 2),
                  **measure(Path(home), repeat=args.repeat)}
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
