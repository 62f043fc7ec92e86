"""Time ``reconcile_totals`` alone and check that a change leaves its four frames identical.

::

    python -m bench.reconcile_check save  OBS.parquet OUT_DIR      # reference frames
    python -m bench.reconcile_check check OBS.parquet OUT_DIR [-n 5]

``OBS.parquet`` holds the observations a rebuild reconciles (what
``lossledger.projection.reconcile_incremental`` receives; save them once from a bench home).
``check`` compares every frame of the :class:`~lossledger.reconcile.consensus.Reconciliation`
exactly (``assert_frame_equal(check_exact=True)``) and prints min / median wall and CPU
seconds over ``-n`` runs and the peak RSS the reconciliation added.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from lossledger.reconcile.consensus import reconcile_totals

__all__ = ["FRAMES", "main"]

FRAMES = ("daily_totals", "discrepancies", "disagreement_runs", "sources")


def _hwm_mb() -> float:
    """This process's peak RSS (``VmHWM``) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("save", "check"))
    parser.add_argument("observations", type=Path)
    parser.add_argument("frames", type=Path)
    parser.add_argument("-n", type=int, default=3, help="timed runs (default 3)")
    args = parser.parse_args(argv)
    observations = pl.read_parquet(args.observations)
    rss_before = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf(
        "SC_PAGE_SIZE"
    ) / 2**20
    walls, cpus, result = [], [], None
    for _ in range(max(args.n, 1)):
        wall, cpu = time.perf_counter(), time.process_time()
        result = reconcile_totals(observations)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    assert result is not None
    differences = 0
    for name in FRAMES:
        frame, path = getattr(result, name), args.frames / f"{name}.parquet"
        if args.mode == "save":
            path.parent.mkdir(parents=True, exist_ok=True)
            frame.write_parquet(path)
            continue
        try:
            assert_frame_equal(frame, pl.read_parquet(path), check_exact=True)
        except AssertionError as error:
            differences += 1
            print(f"{name} differs: {str(error)[:400]}", file=sys.stderr)
    print(
        f"{observations.height} observations: wall min {min(walls):.3f} median "
        f"{statistics.median(walls):.3f} s, CPU min {min(cpus):.3f} median "
        f"{statistics.median(cpus):.3f} s, peak RSS +{_hwm_mb() - rss_before:.0f} MB"
    )
    if args.mode == "check":
        print("identical" if not differences else f"{differences} frame(s) differ")
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
