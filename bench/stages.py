"""One measurement, run in a fresh interpreter: ``python -m bench.stages TASK 'JSON ARGS'``.

:mod:`bench.run` starts one process per measurement so that each run's peak RSS is its own and
no run profits from another's warm imports or caches. The process imports everything first
(reported as ``import_s``), times only the task itself, and prints one line
``BENCH-RESULT {...}`` with the seconds, a breakdown by phase and the peak RSS.

Phases are timed by wrapping lossledger's functions in this process only (nothing is edited):
the stages still run exactly as :mod:`lossledger.pipeline` wires them.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import cProfile  # noqa: E402
import functools  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

__all__ = ["TASKS", "Timers", "main"]

RESULT_PREFIX = "BENCH-RESULT "
BASELINE_SQL = Path(__file__).with_name("baseline.sql")


class Timers:
    """Accumulated seconds per phase label, fed by wrapped functions."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.missing: list[str] = []
        self.active: list[str] = []
        """Labels of the phases running now (the RSS sampler charges them)."""
        self.peak_rss_mb: dict[str, float] = defaultdict(float)

    def wrap(self, owner: Any, name: str, label: str) -> None:
        """Time every call of ``owner.name`` under ``label`` (skipped if it does not exist)."""
        original = getattr(owner, name, None)
        if original is None:
            self.missing.append(f"{getattr(owner, '__name__', owner)}.{name}")
            return

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(label):
                return original(*args, **kwargs)

        setattr(owner, name, timed)

    @contextmanager
    def phase(self, label: str) -> Iterator[None]:
        started = time.perf_counter()
        self.active.append(label)
        try:
            yield
        finally:
            self.seconds[label] += time.perf_counter() - started
            self.active.remove(label)

    def sample_rss(self, stop: threading.Event, interval: float = 0.02) -> None:
        """Until ``stop``: charge the current RSS to every running phase (a sampler thread)."""
        page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
        with open("/proc/self/statm") as statm:
            while not stop.wait(interval):
                statm.seek(0)
                rss = int(statm.read().split()[1]) * page_mb
                for label in tuple(self.active):
                    self.peak_rss_mb[label] = max(self.peak_rss_mb[label], rss)

    def as_dict(self) -> dict[str, float]:
        return {label: round(seconds, 4) for label, seconds in sorted(self.seconds.items())}


def _instrument(timers: Timers) -> None:
    """Wrap the functions whose time the report breaks down."""
    import lossledger.parse.stage as parsing
    import lossledger.pipeline as pipeline
    import lossledger.projection as projection
    import lossledger.publish.warehouse as warehouse
    import lossledger.store.ingest as ingest
    from lossledger.parse.cache import FigureCache, ParseCache, ReconcileCache
    from lossledger.store.sqlite import SQLiteEventStore

    for owner, name, label in (
        (ingest, "report_files", "ingest.list_files"),
        (ingest, "_received", "ingest.read_files"),
        (SQLiteEventStore, "append", "ingest.append"),
        (pipeline, "parse_events", "parse.read_and_parse"),
        (parsing, "parse_report", "parse.parsers"),
        (ParseCache, "add", "parse.cache_write"),
        (ParseCache, "load", "project.cache_load"),
        (FigureCache, "load", "project.figures_load"),
        (FigureCache, "save", "project.figures_save"),
        (ReconcileCache, "load", "project.reconciled_load"),
        (projection, "_figures_since", "project.figures"),
        (projection, "_published_reports", "project.reports"),
        (pipeline, "active_decisions", "project.active_decisions"),
        (projection, "_validated_observations", "project.validate_observations"),
        (projection, "reconcile_incremental", "project.reconcile"),
        (projection.WarehouseTables, "validated", "project.validate_tables"),
        (warehouse, "_partition_hashes", "publish.content_hash"),
        (warehouse, "_stored_hash", "publish.stored_hash"),
    ):
        timers.wrap(owner, name, label)


# --- tasks --------------------------------------------------------------------------------


def _ingest(home: str, inbox: str, timers: Timers) -> dict[str, Any]:
    from lossledger.pipeline import RunSettings
    from lossledger.store import ingest

    settings = RunSettings.resolve(home)
    with timers.phase("ingest"), settings.store() as store:
        summary = ingest.ingest_files(store, ingest.report_files([Path(inbox)]))
    return {"files": summary.files, "new": summary.new, "duplicates": summary.duplicates}


def _build(home: str, timers: Timers) -> dict[str, Any]:
    """What the flow does after ingesting, through the plain stage functions."""
    from lossledger.pipeline import RunSettings, parse_range, plan_run, project_tables, publish

    settings = RunSettings.resolve(home)
    with timers.phase("plan"):
        plan = plan_run(settings)
    parsed = 0
    with timers.phase("parse"):
        for first, last in plan.parse_ranges:
            parsed += parse_range(settings, first, last)
    with timers.phase("project"):
        tables = project_tables(settings, upto=plan.upto, save_in_background=True)
    with timers.phase("publish"):
        published = publish(settings, tables, watermark=plan.upto)
    return {
        "parsed": parsed,
        "events": plan.upto,
        "rows": {name: frame.height for name, frame in tables.items()},
        "partitions_written": len(published.written),
        "partitions_unchanged": published.unchanged,
    }


def task_ingest(args: dict[str, Any], timers: Timers) -> dict[str, Any]:
    """Ingest the whole corpus into an empty home."""
    return _ingest(args["home"], args["inbox"], timers)


def task_rebuild(args: dict[str, Any], timers: Timers) -> dict[str, Any]:
    """From an event log with no parse cache and no warehouse to a published warehouse."""
    return _build(args["home"], timers)


def task_incremental(args: dict[str, Any], timers: Timers) -> dict[str, Any]:
    """Ingest one new day of reports into an up-to-date home and bring the warehouse up."""
    ingested = _ingest(args["home"], args["inbox"], timers)
    return {"ingested": ingested, **_build(args["home"], timers)}


def task_nothing_new(args: dict[str, Any], timers: Timers) -> dict[str, Any]:
    """What the flow does when nothing is new: lock, (re-ingest the inbox), plan, stop."""
    from lossledger.pipeline import RunSettings, plan_run
    from lossledger.store import ingest

    settings = RunSettings.resolve(args["home"])
    summary = None
    with settings.store() as store, store.lock("pipeline"):
        if args.get("inbox"):
            with timers.phase("ingest"):
                summary = ingest.ingest_files(store, ingest.report_files([Path(args["inbox"])]))
        with timers.phase("plan"):
            plan = plan_run(settings)
    if not plan.nothing_new:
        raise RuntimeError(f"expected nothing new, got {plan}")
    return {"duplicates": summary.duplicates if summary else 0}


def task_duckdb(args: dict[str, Any], timers: Timers) -> dict[str, Any]:
    """The DuckDB baseline: bench/baseline.sql over the published observations, to Parquet."""
    import duckdb

    observations = Path(args["warehouse"]) / "observations" / "**" / "*.parquet"
    out = Path(args["out"])
    out.mkdir(parents=True, exist_ok=True)
    with timers.phase("duckdb"):
        db = duckdb.connect()
        db.execute(f"SET threads = {int(args.get('threads', 2))}")
        db.execute(
            "CREATE VIEW published_observations AS SELECT * FROM "
            f"read_parquet('{observations}', hive_partitioning = true)"
        )
        with timers.phase("duckdb.reconcile"):
            db.execute(BASELINE_SQL.read_text())
        with timers.phase("duckdb.write"):
            for table in ("daily_totals", "discrepancies"):
                db.execute(
                    f"COPY (SELECT *, year(date) AS year, month(date) AS month "
                    f"FROM baseline_{table} ORDER BY ALL) TO '{out / table}' "
                    "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (year, month), "
                    "OVERWRITE_OR_IGNORE)"
                )
    rows = {t: db.sql(f"SELECT count(*) FROM baseline_{t}").fetchall()[0][0]
            for t in ("daily_totals", "discrepancies")}
    return {"rows": rows, "agreement": _agreement(db, Path(args["warehouse"]))}


def _agreement(db: Any, warehouse: Path) -> dict[str, Any]:
    """How far the baseline's daily totals agree with lossledger's (a sanity check)."""
    published = warehouse / "daily_totals" / "**" / "*.parquet"
    row = db.sql(f"""
        SELECT count(*) AS cells,
               count(*) FILTER (b.total = l.total) AS same_total,
               count(*) FILTER (b.status = l.status) AS same_status,
               count(*) FILTER (b.delta IS NOT DISTINCT FROM l.delta) AS same_delta
        FROM read_parquet('{published}', hive_partitioning = true) l
        FULL JOIN baseline_daily_totals b USING (date, category)
    """).fetchall()[0]
    discrepancies = warehouse / "discrepancies" / "**" / "*.parquet"
    kinds = db.sql(f"""
        WITH l AS (SELECT kind, count(*) AS n
                   FROM read_parquet('{discrepancies}', hive_partitioning = true) GROUP BY kind),
             b AS (SELECT kind, count(*) AS n FROM baseline_discrepancies GROUP BY kind)
        SELECT kind, l.n, b.n FROM l FULL JOIN b USING (kind) ORDER BY kind
    """).fetchall()
    cells, same_total, same_status, same_delta = row
    return {
        "cells": cells, "same_total": same_total, "same_status": same_status,
        "same_delta": same_delta,
        "discrepancies_by_kind": {kind: {"lossledger": ll, "duckdb": dk} for kind, ll, dk in kinds},
    }


def task_prefect_startup(args: dict[str, Any], timers: Timers) -> dict[str, Any]:
    """A trivial flow: the first call starts the ephemeral server, the second finds it up."""
    from prefect import flow

    @flow(name="bench-trivial")
    def trivial() -> int:
        return 1

    with timers.phase("first_flow"):
        trivial()
    with timers.phase("second_flow"):
        trivial()
    return {}


def task_flow(args: dict[str, Any], timers: Timers) -> dict[str, Any]:
    """The ``pipeline`` flow end to end on a fresh home, then once more with nothing new."""
    import flows.pipeline as flows_pipeline
    from flows.pipeline import pipeline

    for name, label in (
        ("ingest_files", "flow.ingest"),
        ("plan_run", "flow.plan"),
        ("parse_range", "flow.parse"),
        ("project_tables", "flow.project"),
        ("publish", "flow.publish"),
        ("run_summary", "flow.report"),
        ("discrepancy_rows", "flow.report"),
        ("create_markdown_artifact", "flow.report"),
        ("create_table_artifact", "flow.report"),
        ("emit_event", "flow.report"),
    ):
        timers.wrap(flows_pipeline, name, label)
    import lossledger.report.html as html_report

    # Imported by the task when it runs, so the wrapped function is the one it calls.
    timers.wrap(html_report, "refresh_home_report", "flow.html_report")
    with timers.phase("flow_full"):
        summary = pipeline(home=args["home"], inbox=args["inbox"])
    with timers.phase("flow_nothing_new"):
        again = pipeline(home=args["home"])
    return {"watermark": summary.get("watermark_after"), "nothing_new": again.get("nothing_new")}


TASKS: dict[str, Callable[[dict[str, Any], Timers], dict[str, Any]]] = {
    "ingest": task_ingest,
    "rebuild": task_rebuild,
    "incremental": task_incremental,
    "nothing_new": task_nothing_new,
    "nothing_new_rescan": task_nothing_new,
    "duckdb": task_duckdb,
    "prefect_startup": task_prefect_startup,
    "flow": task_flow,
}
_PREFECT_TASKS = {"prefect_startup", "flow"}


# --- the process --------------------------------------------------------------------------


def _import_everything(task: str) -> None:
    from lossledger._startup import without_data_synthesis

    without_data_synthesis()  # as the console command does (see lossledger._startup)
    import lossledger.pipeline
    import lossledger.store.sqlite  # noqa: F401

    if task == "duckdb":
        import duckdb  # noqa: F401
    if task in _PREFECT_TASKS:
        import prefect  # noqa: F401
    if task == "flow":
        import flows.pipeline  # noqa: F401


def _cpu_seconds() -> float:
    """CPU time of this process, all threads: unlike wall time, barely moved by a busy host."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> dict[str, float]:
    """This process's peak RSS (and its children's, e.g. Prefect's server).

    ``VmHWM``, not ``ru_maxrss``: Linux carries ``ru_maxrss`` over fork and exec, so a child
    would report its parent's size whenever the parent is bigger.
    """
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        status = Path("/proc/self/status").read_text()
        own = next(int(line.split()[1]) for line in status.splitlines()
                   if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        pass
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mb": round(own, 1), "peak_rss_children_mb": round(children, 1)}


def _profile_text(profile: cProfile.Profile, limit: int = 30) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    for order in ("cumulative", "tottime"):
        out.write(f"\n=== by {order} ===\n")
        stats.sort_stats(order).print_stats(limit)
    return out.getvalue()


def _profile_top(profile: cProfile.Profile, limit: int = 25) -> dict[str, list[dict[str, Any]]]:
    """The project's own functions that cost most, by own and by cumulative time."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    root = str(Path(__file__).resolve().parents[1]) + "/"
    rows = [
        {"function": f"{file.removeprefix(root)}:{line}({name})", "calls": calls,
         "tottime": round(tottime, 4), "cumtime": round(cumtime, 4)}
        for (file, line, name), (_, calls, tottime, cumtime, _) in stats.items()
        if file.startswith(root) and "/.venv/" not in file and "/bench/" not in file
    ]
    return {
        order: sorted(rows, key=lambda row: row[order], reverse=True)[:limit]
        for order in ("tottime", "cumtime")
    }


def run(task: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one task in this process and return its measurement."""
    _import_everything(task)
    from lossledger.parse.stage import wait_for_workers

    import_s = time.perf_counter() - _STARTED
    timers = Timers()
    _instrument(timers)
    profile = cProfile.Profile() if args.get("profile") else None
    stop = threading.Event()
    sampler = threading.Thread(target=timers.sample_rss, args=(stop,), daemon=True)
    if profile is None and sys.platform == "linux":
        sampler.start()
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    if profile is not None:
        profile.enable()
    details = TASKS[task](args, timers)
    if profile is not None:
        profile.disable()
    seconds = time.perf_counter() - started
    wait_for_workers()  # parse workers exit on their own: joined, their CPU time counts
    cpu = _cpu_seconds() - cpu_started
    stop.set()
    extra: dict[str, Any] = {}
    if profile is not None:
        Path(args["profile"]).write_text(_profile_text(profile))
        extra["profile_top"] = _profile_top(profile)
    return {
        "task": task,
        "seconds": round(seconds, 4),
        "cpu_s": round(cpu, 4),
        "import_s": round(import_s, 4),
        "phases": timers.as_dict(),
        "phase_peak_rss_mb": {k: round(v, 1) for k, v in sorted(timers.peak_rss_mb.items())},
        "not_instrumented": timers.missing,
        **_peak_rss_mb(),
        **details,
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    task, raw = (argv if argv is not None else sys.argv[1:])[:2]
    result = run(task, json.loads(raw))
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
