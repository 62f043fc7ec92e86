"""Readers during publishes: ``python -m bench.readers [--reads 1000] [--slow-rename-ms 0,50]``.

Ingests the x1 bench corpus (built by :mod:`bench.corpus` if missing) into a fresh home and
projects its tables twice: as of the middle of the log (version A) and as of its head (B);
they differ in about half of their partitions. A publisher process then publishes A, B, A, B,
... into ``<home>/warehouse`` with :func:`lossledger.publish.warehouse.publish_tables`, without
pause, while one reader process per way of reading reads ``--reads`` times. Every read is
checked against the fingerprints (rows, sum of ``seq``) of A and B:

- an **error** is any exception (a missing or partial file, a bad footer ...);
- a read is **mixed** when one of its tables is neither A nor B, or (for readers of several
  tables) its tables are not all from the same version.

With ``--slow-rename-ms N`` the publisher sleeps N ms before each ``os.rename``/``os.replace``
(it makes every switch slow, and a reader more likely to arrive in the middle of one).

Ways of reading (``MODES``): ``pinned`` (``lossledger.open_version``, all five tables),
``resolved`` (the link resolved once, then the README's polars globs, all five tables),
``glob`` (the README's polars glob through the link, ``daily_totals``), ``duckdb``
(``read_parquet`` through the link, ``discrepancies``), ``pyarrow`` (``pyarrow.dataset`` on the
directory through the link, ``reports``). Results: ``bench/readers.json`` and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["MODES", "main"]

REPO = Path(__file__).resolve().parents[1]
MODES: dict[str, tuple[str, ...]] = {
    "pinned": ("reports", "observations", "daily_totals", "discrepancies", "quarantine"),
    "resolved": ("reports", "observations", "daily_totals", "discrepancies", "quarantine"),
    "glob": ("daily_totals",),
    "duckdb": ("discrepancies",),
    "pyarrow": ("reports",),
}


def fingerprint(frame: Any) -> list[int]:
    import polars as pl

    row = frame.select(pl.len(), pl.col("seq").cast(pl.Int64).sum()).row(0)
    return [int(row[0]), int(row[1] or 0)]


# --- the parts, each in its own process -------------------------------------------------------


def prepare(work: Path, scale: int) -> dict[str, Any]:
    """The home, the two versions' tables on disk, and their fingerprints."""
    from bench.corpus import MANIFEST, generate
    from lossledger.pipeline import RunSettings, parse_range, plan_run, project_tables
    from lossledger.store.ingest import ingest_files, report_files

    inbox = work / f"x{scale}" / "inbox"
    if not (inbox / MANIFEST).exists():
        generate(inbox, scale=scale, seed=0)
    home = work / "readers-home"
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(work / "readers-tables", ignore_errors=True)
    settings = RunSettings.resolve(home)
    with settings.store() as store:
        ingest_files(store, report_files([inbox]))
    plan = plan_run(settings)
    for first, last in plan.parse_ranges:
        parse_range(settings, first, last)
    versions: dict[str, Any] = {}
    for name, upto in (("A", plan.upto // 2), ("B", plan.upto)):
        tables = project_tables(settings, upto=upto)
        directory = work / "readers-tables" / name
        directory.mkdir(parents=True)
        for table, frame in tables.items():
            frame.write_parquet(directory / f"{table}.parquet")
        versions[name] = {
            "upto": upto,
            "fingerprints": {table: fingerprint(frame) for table, frame in tables.items()},
        }
    return {"home": str(home), "versions": versions}


def publisher(work: Path, setup: dict[str, Any], slow_rename_ms: float, stop: Path) -> None:
    import polars as pl

    from lossledger.projection import TABLES, WarehouseTables
    from lossledger.publish.warehouse import publish_tables

    if slow_rename_ms:
        for name in ("rename", "replace"):
            original = getattr(os, name)

            def slow(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                time.sleep(slow_rename_ms / 1000)
                return _original(*args, **kwargs)

            setattr(os, name, slow)
    tables = {
        name: WarehouseTables(**{t: pl.read_parquet(work / "readers-tables" / name / f"{t}.parquet")
                                 for t in TABLES})
        for name in ("A", "B")
    }
    root = Path(setup["home"]) / "warehouse"
    published, written, seconds = 0, 0, 0.0
    while True:  # at least once: A, then B
        for name in ("A", "B"):
            started = time.perf_counter()
            result = publish_tables(tables[name], root, watermark=setup["versions"][name]["upto"],
                                    grace_s=30)
            seconds += time.perf_counter() - started
            published += 1
            written += len(result.written)
        if stop.exists():
            break
    print(json.dumps({"publishes": published, "partitions_written": written,
                      "publish_s_mean": seconds / max(published, 1)}))


def reader(mode: str, reads: int, setup: dict[str, Any]) -> None:
    import duckdb
    import polars as pl
    import pyarrow.dataset as ds

    import lossledger

    home = Path(setup["home"])
    link = home / "warehouse"
    known = {name: version["fingerprints"] for name, version in setup["versions"].items()}
    errors: Counter[str] = Counter()
    mixed, seen = 0, Counter()
    started = time.perf_counter()
    for _ in range(reads):
        try:
            prints = _read(mode, home, link, pl, duckdb, ds, lossledger)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # every failure counts, polars' panics (BaseException) too
            errors[f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"] += 1
            continue
        matches = [
            {name for name in known if known[name][table] == value}
            for table, value in prints.items()
        ]
        common = set.intersection(*matches) if matches else set()
        if not common:
            mixed += 1
        else:
            seen[sorted(common)[0]] += 1
    print(json.dumps({"mode": mode, "tables": MODES[mode], "reads": reads,
                      "errors": sum(errors.values()), "error_kinds": dict(errors),
                      "mixed": mixed, "versions_seen": dict(seen),
                      "seconds": time.perf_counter() - started}))


def _read(mode: str, home: Path, link: Path, pl: Any, duckdb: Any, ds: Any,
          lossledger: Any) -> dict[str, list[int]]:
    tables = MODES[mode]
    if mode == "pinned":
        version = lossledger.open_version(home)
        return {t: fingerprint(version.scan(t).collect()) for t in tables}
    if mode == "resolved":
        root = Path(os.path.realpath(link))
        return {t: fingerprint(pl.scan_parquet(root / t / "**/*.parquet",
                                               hive_partitioning=True).collect())
                for t in tables}
    if mode == "glob":
        return {t: fingerprint(pl.scan_parquet(link / t / "**/*.parquet",
                                               hive_partitioning=True).collect())
                for t in tables}
    if mode == "duckdb":
        return {t: fingerprint(duckdb.sql(
            f"SELECT seq FROM read_parquet('{link / t}/**/*.parquet', hive_partitioning=true, "
            "hive_types={'year': INTEGER, 'month': INTEGER})").pl()) for t in tables}
    return {t: fingerprint(pl.from_arrow(
        ds.dataset(link / t, format="parquet", partitioning="hive").to_table(columns=["seq"])))
        for t in tables}


# --- the driver -------------------------------------------------------------------------------


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bench.readers", *args], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)


def _last_json(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = process.communicate()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"{process.args} failed ({process.returncode}): {out[-2000:]}")
    return json.loads(lines[-1])


def trial(work: Path, setup_file: Path, reads: int, slow_rename_ms: float) -> dict[str, Any]:
    setup = json.loads(setup_file.read_text())
    stop = work / "readers-stop"
    stop.unlink(missing_ok=True)
    # One first publish, so that readers never start before there is a warehouse.
    shutil.rmtree(Path(setup["home"]) / "warehouse.versions", ignore_errors=True)
    Path(setup["home"], "warehouse").unlink(missing_ok=True)
    first = _child("publish-once", str(work), str(setup_file))
    _last_json(first)
    publishing = _child("publisher", str(work), str(setup_file), str(slow_rename_ms), str(stop))
    readers = {mode: _child("reader", mode, str(reads), str(setup_file)) for mode in MODES}
    try:
        results = {mode: _last_json(process) for mode, process in readers.items()}
    finally:  # never leave a publisher or reader running
        stop.touch()
        for process in readers.values():
            if process.poll() is None:
                process.kill()
    return {"slow_rename_ms": slow_rename_ms, "publisher": _last_json(publishing),
            "readers": results}


def markdown(trials: list[dict[str, Any]]) -> str:
    lines = ["| renames slowed by | reader | tables | reads | errors | mixed | versions seen "
             "| publishes meanwhile |", "|---|---|---|---:|---:|---:|---|---:|"]
    for result in trials:
        for mode, r in result["readers"].items():
            lines.append(
                f"| {result['slow_rename_ms']:g} ms | {mode} | {', '.join(r['tables'])} "
                f"| {r['reads']} | {r['errors']} | {r['mixed']} | "
                f"{', '.join(f'{k}: {v}' for k, v in sorted(r['versions_seen'].items()))} "
                f"| {result['publisher']['publishes']} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "publisher":
        work, setup_file, slow, stop = argv[1:5]
        publisher(Path(work), json.loads(Path(setup_file).read_text()), float(slow), Path(stop))
        return 0
    if argv and argv[0] == "publish-once":
        stop = Path(argv[1]) / "readers-stop-once"
        stop.touch()  # the loop below runs exactly once (A then B)
        publisher(Path(argv[1]), json.loads(Path(argv[2]).read_text()), 0, stop)
        return 0
    if argv and argv[0] == "reader":
        reader(argv[1], int(argv[2]), json.loads(Path(argv[3]).read_text()))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.readers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--slow-rename-ms", default="0,50",
                        help="comma-separated delays before each rename, one trial each")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "corpus")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "readers.json")
    args = parser.parse_args(argv)
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"preparing the x{args.scale} home and the two versions ...", file=sys.stderr)
    setup_file = work / "readers-setup.json"
    setup_file.write_text(json.dumps(prepare(work, args.scale)))
    trials = []
    for slow in (float(s) for s in args.slow_rename_ms.split(",")):
        print(f"trial: renames slowed by {slow:g} ms, {args.reads} reads per reader",
              file=sys.stderr)
        trials.append(trial(work, setup_file, args.reads, slow))
        args.results.write_text(json.dumps(trials, indent=2) + "\n")
    print(markdown(trials))
    failed = sum(r["errors"] + r["mixed"] for t in trials for r in t["readers"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
