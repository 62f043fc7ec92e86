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

Ways of reading the README promises (``MODES``; they decide the exit status): ``pinned``
(``lossledger.open_version``, all five tables), ``resolved`` (the link resolved once with
``os.path.realpath``, then polars globs under it, all five tables), ``glob`` (the README's
polars glob under the resolved link, ``daily_totals``), ``duckdb`` (the README's SQL: the
version named by ``warehouse.versions/CURRENT`` in a variable, then ``read_parquet`` under it,
``discrepancies``), ``pyarrow`` (``pyarrow.dataset`` under the resolved link, ``reports``),
``checked`` (the polars glob through the link itself, between two reads of
``<warehouse>/_state.json``'s version, read again when they differ; ``retries`` counts those).

Measured, not promised (``LINK_MODES``): ``glob-link``, ``duckdb-link``, ``pyarrow-link``, the
same plain readers through the unresolved link, unchecked. Their missing files are classified
(``missing_files``). ``--names stable`` makes the publisher keep one file name per partition
(an experiment: what content-derived names prevent). Results: ``bench/readers.json`` and a
table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["ALL_MODES", "LINK_MODES", "MODES", "main"]

REPO = Path(__file__).resolve().parents[1]
#: The ways of reading the README promises: each reads one whole version, every time.
MODES: dict[str, tuple[str, ...]] = {
    "pinned": ("reports", "observations", "daily_totals", "discrepancies", "quarantine"),
    "resolved": ("reports", "observations", "daily_totals", "discrepancies", "quarantine"),
    "glob": ("daily_totals",),
    "duckdb": ("discrepancies",),
    "pyarrow": ("reports",),
    "checked": ("daily_totals",),
}
#: Plain readers through the unresolved link: measured, not promised (a switch between two of
#: the path resolutions of one read makes it fail, or in principle read neither version).
LINK_MODES: dict[str, tuple[str, ...]] = {
    "glob-link": ("daily_totals",),
    "duckdb-link": ("discrepancies",),
    "pyarrow-link": ("reports",),
}
ALL_MODES = {**MODES, **LINK_MODES}
#: How many times the ``checked`` reader tries before it counts an error.
CHECKED_TRIES = 20


def fingerprint(frame: Any) -> list[int]:
    import polars as pl

    if "seq" not in frame.columns:  # the tables no reader of this bench reads
        return [frame.height, 0]
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


def publisher(work: Path, setup: dict[str, Any], slow_rename_ms: float, stop: Path,
              names: str = "content") -> None:
    import polars as pl

    from lossledger.projection import TABLES, WarehouseTables
    from lossledger.publish import warehouse
    from lossledger.publish.warehouse import publish_tables

    if names == "stable":
        # The experiment: every partition's file keeps one name in every version (its bytes
        # change under the same path), instead of a name derived from its content.
        warehouse._part_name = lambda content_hash, watermark: "part-0.parquet"  # type: ignore

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
    missing: Counter[str] = Counter()
    mixed, seen, retries = 0, Counter(), 0
    started = time.perf_counter()
    for _ in range(reads):
        try:
            if mode == "checked":
                prints, tries = _read_checked(link, pl)
                retries += tries - 1
            else:
                prints = _read(mode, home, link, pl, duckdb, ds, lossledger)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # every failure counts, polars' panics (BaseException) too
            errors[f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"] += 1
            if isinstance(exc, FileNotFoundError) or "Cannot open file" in str(exc):
                missing[_why_missing(str(exc), home)] += 1
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
    print(json.dumps({"mode": mode, "tables": ALL_MODES[mode], "reads": reads,
                      "errors": sum(errors.values()), "error_kinds": dict(errors),
                      "missing_files": dict(missing), "retries": retries,
                      "mixed": mixed, "versions_seen": dict(seen),
                      "seconds": time.perf_counter() - started}))


def _why_missing(message: str, home: Path) -> str:
    """What a file a reader did not find was: the old name of a partition that changed, a
    partition the next version lacks, or a file of a version that is gone."""
    found = re.search(r"warehouse/([\w=/.-]+?part-[0-9a-f]+\.parquet)", message)
    if found is None:
        return "unknown path"
    relative = Path(found.group(1))
    versions = [p for p in (home / "warehouse.versions").iterdir() if p.name.isdigit()]
    holders = [v for v in versions if (v / relative).exists()]
    if not holders:
        return "in no version left (removed)"
    if all((v / relative.parent).is_dir() for v in versions):
        return "a changed partition's old name (the partition is in every version)"
    return "a partition some version lacks"


def _read_checked(link: Path, pl: Any) -> tuple[dict[str, list[int]], int]:
    """The README's polars glob through the link, between two reads of the published
    version's number (``<warehouse>/_state.json``): equal numbers mean no switch in between
    (numbers only grow), so the read is one whole version; otherwise it is read again."""
    tables = MODES["checked"]
    for attempt in range(1, CHECKED_TRIES + 1):
        before = json.loads((link / "_state.json").read_text())["version"]
        try:
            prints = {t: fingerprint(pl.scan_parquet(link / t / "**/*.parquet",
                                                     hive_partitioning=True).collect())
                      for t in tables}
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            prints = None
        after = json.loads((link / "_state.json").read_text())["version"]
        if before == after:
            if prints is None:  # no switch, and still a failure: a real error
                raise RuntimeError(f"the read failed within version {before}")
            return prints, attempt
    raise RuntimeError(f"no read without a switch in {CHECKED_TRIES} tries")


def _read(mode: str, home: Path, link: Path, pl: Any, duckdb: Any, ds: Any,
          lossledger: Any) -> dict[str, list[int]]:
    tables = ALL_MODES[mode]
    if mode == "pinned":
        version = lossledger.open_version(home)
        return {t: fingerprint(version.scan(t).collect()) for t in tables}
    # The README's ways: the link resolved once (``os.path.realpath``), then a plain glob.
    # The ``-link`` modes glob through the link itself.
    root = link if mode.endswith("-link") else Path(os.path.realpath(link))
    if mode in ("resolved", "glob", "glob-link"):
        return {t: fingerprint(pl.scan_parquet(root / t / "**/*.parquet",
                                               hive_partitioning=True).collect())
                for t in tables}
    if mode == "duckdb":  # in SQL alone: the version named by the pointer file, pinned
        versions = home / "warehouse.versions"
        con = duckdb.connect()
        con.sql(f"SET VARIABLE warehouse = (SELECT '{versions}/' || rtrim(content, chr(10)) "
                f"FROM read_text('{versions}/CURRENT'))")
        return {t: fingerprint(con.sql(
            f"SELECT seq FROM read_parquet(getvariable('warehouse') || '/{t}/**/*.parquet', "
            "hive_partitioning=true, hive_types={'year': INTEGER, 'month': INTEGER})").pl())
            for t in tables}
    if mode == "duckdb-link":
        return {t: fingerprint(duckdb.sql(
            f"SELECT seq FROM read_parquet('{root / t}/**/*.parquet', hive_partitioning=true, "
            "hive_types={'year': INTEGER, 'month': INTEGER})").pl()) for t in tables}
    return {t: fingerprint(pl.from_arrow(
        ds.dataset(root / t, format="parquet", partitioning="hive").to_table(columns=["seq"])))
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


def trial(work: Path, setup_file: Path, reads: int, slow_rename_ms: float,
          modes: Sequence[str] = tuple(ALL_MODES), names: str = "content") -> dict[str, Any]:
    setup = json.loads(setup_file.read_text())
    stop = work / "readers-stop"
    stop.unlink(missing_ok=True)
    # One first publish, so that readers never start before there is a warehouse.
    shutil.rmtree(Path(setup["home"]) / "warehouse.versions", ignore_errors=True)
    Path(setup["home"], "warehouse").unlink(missing_ok=True)
    first = _child("publish-once", str(work), str(setup_file), names)
    _last_json(first)
    publishing = _child("publisher", str(work), str(setup_file), str(slow_rename_ms), str(stop),
                        names)
    readers = {mode: _child("reader", mode, str(reads), str(setup_file)) for mode in modes}
    try:
        results = {mode: _last_json(process) for mode, process in readers.items()}
    finally:  # never leave a publisher or reader running
        stop.touch()
        for process in readers.values():
            if process.poll() is None:
                process.kill()
    return {"slow_rename_ms": slow_rename_ms, "names": names,
            "publisher": _last_json(publishing), "readers": results}


def markdown(trials: list[dict[str, Any]]) -> str:
    lines = ["| renames slowed by | file names | reader | promised | tables | reads | errors "
             "| mixed | retries | versions seen | publishes meanwhile |",
             "|---|---|---|---|---|---:|---:|---:|---:|---|---:|"]
    for result in trials:
        for mode, r in result["readers"].items():
            lines.append(
                f"| {result['slow_rename_ms']:g} ms | {result.get('names', 'content')} "
                f"| {mode} | {'yes' if mode in MODES else 'no'} | {', '.join(r['tables'])} "
                f"| {r['reads']} | {r['errors']} | {r['mixed']} | {r.get('retries', 0)} | "
                f"{', '.join(f'{k}: {v}' for k, v in sorted(r['versions_seen'].items()))} "
                f"| {result['publisher']['publishes']} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "publisher":
        work, setup_file, slow, stop, names = argv[1:6]
        publisher(Path(work), json.loads(Path(setup_file).read_text()), float(slow), Path(stop),
                  names)
        return 0
    if argv and argv[0] == "publish-once":
        stop = Path(argv[1]) / "readers-stop-once"
        stop.touch()  # the loop below runs exactly once (A then B)
        publisher(Path(argv[1]), json.loads(Path(argv[2]).read_text()), 0, stop, argv[3])
        return 0
    if argv and argv[0] == "reader":
        reader(argv[1], int(argv[2]), json.loads(Path(argv[3]).read_text()))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.readers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--slow-rename-ms", default="0,50",
                        help="comma-separated delays before each rename, one trial each")
    parser.add_argument("--modes", default=",".join(ALL_MODES),
                        help="comma-separated readers (default: all, "
                             "the promised ones and the -link ones)")
    parser.add_argument("--names", choices=("content", "stable"), default="content",
                        help="file names of the publisher: derived from the content (as "
                             "lossledger does) or, as an experiment, one name per partition")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "corpus")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "readers.json")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if unknown := [m for m in modes if m not in ALL_MODES]:
        parser.error(f"unknown reader(s) {', '.join(unknown)}; known: {', '.join(ALL_MODES)}")
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"preparing the x{args.scale} home and the two versions ...", file=sys.stderr)
    setup_file = work / "readers-setup.json"
    setup_file.write_text(json.dumps(prepare(work, args.scale)))
    trials = []
    for slow in (float(s) for s in args.slow_rename_ms.split(",")):
        print(f"trial: renames slowed by {slow:g} ms, {args.reads} reads per reader",
              file=sys.stderr)
        trials.append(trial(work, setup_file, args.reads, slow, modes, args.names))
        args.results.write_text(json.dumps(trials, indent=2) + "\n")
    print(markdown(trials))
    # Only the promised ways of reading decide the exit status; the -link ones are measured.
    failed = sum(r["errors"] + r["mixed"] for t in trials
                 for mode, r in t["readers"].items() if mode in MODES)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
