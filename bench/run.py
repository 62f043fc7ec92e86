"""The lossledger benchmark (``make bench``): pipeline stages, orchestration and a DuckDB baseline.

    python -m bench.run [--scales 1,3,10] [--repeat 3] [--quick] [--profile] [--workdir DIR]

For each scale the corpus (:mod:`bench.corpus`) is built once under ``<workdir>/x<N>/inbox``;
then every measurement runs ``--repeat`` times, each in a fresh interpreter
(:mod:`bench.stages`) on its own copy of a prepared home, so that its peak RSS is its own.
Stages are driven through the plain functions of :mod:`lossledger.pipeline` (no Prefect);
the Prefect start-up (a trivial flow, ephemeral server) and one end-to-end flow run per scale
are measured apart. Results go to ``bench/results.json`` and a markdown report to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import realcorpus
from bench.corpus import MANIFEST, NEXT_DAY, generate
from bench.stages import RESULT_PREFIX

__all__ = ["TARGETS", "Bench", "main"]

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results.json"
GIB_MB = 1024.0
#: Largest log-log slope of cost against reports still called linear.
LINEAR_EXPONENT = 1.15


# --- running one measurement ----------------------------------------------------------------


def child_env(prefect_home: Path) -> dict[str, str]:
    """The environment of every measured process: Prefect in ephemeral mode, as ``make``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PREFECT_API_URL", "LOSSLEDGER_HOME", "LOSSLEDGER_STORE")}
    env.update({
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PYTHONHASHSEED": "0",
    })
    return env


def measure(task: str, args: dict[str, Any], env: dict[str, str],
            timeout: float = 3600) -> dict[str, Any]:
    """Run one task in a fresh interpreter; its result plus the wall time seen from here."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.stages", task, json.dumps(args)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
    wall = time.perf_counter() - started
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line.removeprefix(RESULT_PREFIX))
            return {**result, "wall_s": round(wall, 3), "load_before": round(load, 2)}
    tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
    print(f"  ! {task} failed (exit {done.returncode}):\n    " + "\n    ".join(tail),
          file=sys.stderr)
    return {"task": task, "error": "\n".join(tail), "wall_s": round(wall, 3)}


def summary(values: Sequence[float]) -> dict[str, float] | None:
    """min / median / max of the samples (``None`` without samples)."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values),
            "n": len(values)}


def _report_ready_s(home: Path, started_at: float, *, fallback: float) -> float:
    """Seconds from ``started_at`` (epoch) until the background report refresh finished."""
    try:
        outcome = json.loads((home / "report" / ".refresh.json").read_text())
        finished = dt.datetime.fromisoformat(outcome["finished_at"]).timestamp()
    except (OSError, ValueError, KeyError):
        return fallback
    return finished - started_at


def _copy_home(template: Path, target: Path) -> Path:
    """A copy of ``template`` at rest, as a daily run finds its home.

    Flushed to disk before it is used: a copy just made is all dirty pages, and the first
    checkpoint of its event log (when a run's ingest closes the store) would write all of
    them, not the day's (0.1 s more at x10 on the bench machine).
    """
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(template, target, symlinks=True)  # the warehouse is a link
    os.sync()
    return target


# --- one scale --------------------------------------------------------------------------------


@dataclass
class ScaleRun:
    """The samples of every measurement at one scale."""

    scale: int
    root: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    corpus_s: float | None = None

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def homes(self) -> Path:
        return self.root / "homes"

    def ok(self, task: str) -> list[dict[str, Any]]:
        return [s for s in self.samples.get(task, []) if "error" not in s]


@dataclass
class Bench:
    """The benchmark's settings and what it measured."""

    workdir: Path
    repeat: int
    seed: int
    profile: bool = False
    flow: bool = True
    fresh_corpus: bool = False
    keep: bool = False
    runs: dict[int, ScaleRun] = field(default_factory=dict)
    prefect: list[dict[str, Any]] = field(default_factory=list)
    prefect_cold: dict[str, Any] | None = None
    _server: tuple[subprocess.Popen[bytes], str] | None = None
    real_corpus: dict[str, Any] | None = None
    """Accuracy and throughput on the real-world corpus (:mod:`bench.realcorpus`)."""

    @property
    def env(self) -> dict[str, str]:
        return child_env(self.workdir / "prefect-home")

    def log(self, message: str) -> None:
        print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)

    # corpus ------------------------------------------------------------------------------

    def corpus(self, run: ScaleRun) -> None:
        manifest_path = run.inbox / MANIFEST
        if not self.fresh_corpus and manifest_path.exists():
            manifest = json.loads(manifest_path.read_text())
            if (manifest.get("scale"), manifest.get("seed")) == (run.scale, self.seed):
                self.log(f"x{run.scale}: reusing the corpus in {run.inbox}")
                run.manifest = manifest
                return
        self.log(f"x{run.scale}: generating the corpus")
        started = time.perf_counter()
        run.manifest = generate(run.inbox, scale=run.scale, seed=self.seed)
        run.corpus_s = time.perf_counter() - started
        self.log(f"x{run.scale}: {run.manifest['files']} files in {run.corpus_s:.1f} s")

    # measurements --------------------------------------------------------------------------

    def repeated(self, run: ScaleRun, task: str,
                 prepare: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
        """``repeat`` fresh-process runs of ``task``; ``prepare(i)`` gives run i's args."""
        samples = []
        for i in range(self.repeat):
            args = prepare(i)
            sample = measure(task, args, self.env)
            samples.append(sample)
            self.log(f"x{run.scale}: {task} #{i + 1}: {sample.get('seconds', 'FAILED')} s, "
                     f"peak {sample.get('peak_rss_mb', '?')} MB")
            if not self.keep and args.get("home") and i > 0:
                shutil.rmtree(args["home"], ignore_errors=True)
        run.samples[task] = samples
        return samples

    def scale(self, scale: int) -> ScaleRun:
        run = ScaleRun(scale, self.workdir / f"x{scale}")
        self.runs[scale] = run
        self.corpus(run)
        shutil.rmtree(run.homes, ignore_errors=True)
        run.homes.mkdir(parents=True)
        inbox = str(run.inbox)
        logged = run.homes / "ingest-0"  # the first ingest's home: an event log, nothing else
        self.repeated(run, "ingest", lambda i: {"home": str(run.homes / f"ingest-{i}"),
                                                "inbox": inbox})
        built = run.homes / "rebuild-0"
        self.repeated(run, "rebuild", lambda i: {
            "home": str(_copy_home(logged, run.homes / f"rebuild-{i}"))})
        self.repeated(run, "incremental", lambda i: {
            "home": str(_copy_home(built, run.homes / f"incremental-{i}")),
            "inbox": str(run.inbox / NEXT_DAY)})
        self.repeated(run, "nothing_new", lambda i: {
            "home": str(_copy_home(built, run.homes / f"nothing-new-{i}"))})
        self.repeated(run, "nothing_new_rescan", lambda i: {
            "home": str(_copy_home(built, run.homes / f"rescan-{i}")), "inbox": inbox})
        self.repeated(run, "duckdb", lambda i: {
            "warehouse": str(built / "warehouse"), "out": str(run.homes / f"duckdb-{i}")})
        if self.flow:
            self.flow_run(run)
            self.interactive(run, built)
        if self.profile:
            self.profiles(run, logged, built)
        if not self.keep:
            shutil.rmtree(run.homes, ignore_errors=True)
        return run

    def flow_run(self, run: ScaleRun) -> None:
        home = run.homes / "flow"
        sample = measure("flow", {"home": str(home), "inbox": str(run.inbox)}, self.env)
        run.samples["flow"] = [sample]
        self.log(f"x{run.scale}: flow: {sample.get('seconds', 'FAILED')} s")

    def interactive(self, run: ScaleRun, built: Path) -> None:
        """``lossledger run --inbox <next day>`` as a process, against a running Prefect server
        (``prefect server start`` on 127.0.0.1, started once): the wall time a person waits."""
        server = self.prefect_server()
        if server is None:
            return
        samples = []
        for i in range(self.repeat):
            home = _copy_home(built, run.homes / f"interactive-{i}")
            env = {**self.env, "PREFECT_API_URL": server, "PREFECT_LOGGING_LEVEL": "INFO"}
            started, started_at = time.perf_counter(), time.time()
            done = subprocess.run(
                [str(Path(sys.executable).with_name("lossledger")), "run", "--home", str(home),
                 "--inbox", str(run.inbox / NEXT_DAY)],
                cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
            )
            wall = time.perf_counter() - started
            # The run leaves the HTML report to a process of its own: wait for it (it must not
            # overlap the next sample) and say when the page was written (the refresh's own
            # clock: `report --wait` adds its start-up).
            subprocess.run(
                [str(Path(sys.executable).with_name("lossledger")), "report", "--wait", "--home",
                 str(home)], cwd=REPO, env=env, capture_output=True, timeout=600, check=False,
            )
            ready = _report_ready_s(home, started_at, fallback=time.perf_counter() - started)
            sample: dict[str, Any] = {"seconds": round(wall, 3), "exit": done.returncode,
                                      "report_ready_s": round(ready, 3),
                                      "load_before": round(os.getloadavg()[0], 2),
                                      "prefect_lines": done.stdout.count("| INFO")
                                      + done.stderr.count("| INFO")}
            if done.returncode != 0:
                sample["error"] = (done.stderr or done.stdout)[-2000:]
            samples.append(sample)
            self.log(f"x{run.scale}: lossledger run (server up) #{i + 1}: {wall:.2f} s")
        run.samples["interactive"] = samples

    def prefect_server(self) -> str | None:
        """The API URL of a Prefect server started for the bench (``None`` if it fails)."""
        if self._server is not None:
            return self._server[1]
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}/api"
        log = (self.workdir / "prefect-server.log").open("wb")
        popen = subprocess.Popen(
            [str(Path(sys.executable).with_name("prefect")), "server", "start", "--host",
             "127.0.0.1", "--port", str(port), "--no-ui", "--analytics-off"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and popen.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        self._server = (popen, url)
                        return url
            except OSError:
                time.sleep(0.5)
        self.log("the Prefect server for the interactive runs did not start")
        os.killpg(popen.pid, signal.SIGTERM)
        return None

    def stop_server(self) -> None:
        if self._server is not None:
            popen = self._server[0]
            os.killpg(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)
            self._server = None

    def profiles(self, run: ScaleRun, logged: Path, built: Path) -> None:
        directory = self.workdir / "profiles"
        directory.mkdir(parents=True, exist_ok=True)
        cases = {
            "ingest": {"home": str(run.homes / "profile-ingest"), "inbox": str(run.inbox)},
            "rebuild": {"home": str(_copy_home(logged, run.homes / "profile-rebuild"))},
            "incremental": {"home": str(_copy_home(built, run.homes / "profile-incremental")),
                            "inbox": str(run.inbox / NEXT_DAY)},
        }
        for task, args in cases.items():
            args["profile"] = str(directory / f"x{run.scale}-{task}.txt")
            sample = measure(task, args, self.env)
            run.samples[f"profile_{task}"] = [sample]
            self.log(f"x{run.scale}: profiled {task} -> {args['profile']}")

    def prefect_startup(self) -> None:
        shutil.rmtree(self.workdir / "prefect-home", ignore_errors=True)
        self.prefect_cold = measure("prefect_startup", {}, self.env)
        self.log(f"prefect (fresh PREFECT_HOME): {self.prefect_cold.get('seconds')} s")
        for i in range(self.repeat):
            sample = measure("prefect_startup", {}, self.env)
            self.prefect.append(sample)
            self.log(f"prefect #{i + 1}: {sample.get('seconds')} s")


# --- metrics ----------------------------------------------------------------------------------


def _phase(samples: list[dict[str, Any]], name: str) -> list[float]:
    return [s["phases"].get(name, 0.0) for s in samples]


def _sum(*series: list[float]) -> list[float]:
    return [sum(values) for values in zip(*series, strict=True)]


def scale_metrics(run: ScaleRun) -> dict[str, Any]:
    """Every metric of one scale, as min/median/max over its samples."""
    ingest, rebuild = run.ok("ingest"), run.ok("rebuild")
    files = run.manifest.get("files", 0)
    events = rebuild[0]["events"] if rebuild else None
    ingest_s = [s["seconds"] for s in ingest]
    parse_validate_s = _sum(
        _phase(rebuild, "parse"),
        _phase(rebuild, "project.validate_observations"),
        _phase(rebuild, "project.validate_tables"),
    )
    project_publish_s = _sum(_phase(rebuild, "project"), _phase(rebuild, "publish"))
    reconcile_publish_s = _sum(_phase(rebuild, "project.reconcile"), _phase(rebuild, "publish"))
    duckdb_s = [s["seconds"] for s in run.ok("duckdb")]
    metrics: dict[str, Any] = {
        "ingest_s": summary(ingest_s),
        "ingest_reports_per_s": summary([files / s for s in ingest_s]),
        "parse_validate_s": summary(parse_validate_s),
        "parse_validate_reports_per_s": summary([events / s for s in parse_validate_s if events]),
        "rebuild_s": summary([s["seconds"] for s in rebuild]),
        "rebuild_cpu_s": summary([s["cpu_s"] for s in rebuild if "cpu_s" in s]),
        "ingest_cpu_s": summary([s["cpu_s"] for s in ingest if "cpu_s" in s]),
        "incremental_cpu_s": summary(
            [s["cpu_s"] for s in run.ok("incremental") if "cpu_s" in s]),
        "project_publish_s": summary(project_publish_s),
        "reconcile_publish_s": summary(reconcile_publish_s),
        "incremental_s": summary([s["seconds"] for s in run.ok("incremental")]),
        "nothing_new_s": summary([s["seconds"] for s in run.ok("nothing_new")]),
        "nothing_new_rescan_s": summary([s["seconds"] for s in run.ok("nothing_new_rescan")]),
        "duckdb_s": summary(duckdb_s),
        "import_s": summary([s["import_s"] for s in ingest + rebuild]),
        "interactive_s": summary([s["seconds"] for s in run.ok("interactive")]),
        "interactive_report_ready_s": summary(
            [s["report_ready_s"] for s in run.ok("interactive") if "report_ready_s" in s]),
    }
    metrics["ingest_parse_reports_per_s"] = _combined_rate(files, metrics)
    metrics["ratio_project_publish_vs_duckdb"] = _ratio(metrics, "project_publish_s")
    metrics["ratio_reconcile_publish_vs_duckdb"] = _ratio(metrics, "reconcile_publish_s")
    metrics["peak_rss_mb"] = {
        task: summary([s["peak_rss_mb"] for s in run.ok(task)])
        for task in ("ingest", "rebuild", "incremental", "nothing_new", "nothing_new_rescan",
                     "duckdb", "flow")
    }
    return metrics


def _median(metrics: dict[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    return value["median"] if value else None


def _combined_rate(files: int, metrics: dict[str, Any]) -> float | None:
    ingest, parse = _median(metrics, "ingest_s"), _median(metrics, "parse_validate_s")
    return files / (ingest + parse) if ingest and parse else None


def _ratio(metrics: dict[str, Any], name: str) -> float | None:
    ours, baseline = _median(metrics, name), _median(metrics, "duckdb_s")
    return ours / baseline if ours and baseline else None


def phase_medians(samples: list[dict[str, Any]], key: str = "phases") -> dict[str, float]:
    names = sorted({name for s in samples for name in s.get(key, {})})
    return {name: statistics.median([s[key][name] for s in samples if name in s.get(key, {})])
            for name in names}


def linearity(bench: Bench, metrics: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The log-log slope of each cost against the number of files, smallest to largest scale."""
    scales = sorted(s for s in metrics if metrics[s].get("rebuild_s"))
    if len(scales) < 2:
        return {}
    low, high = scales[0], scales[-1]
    files = {s: bench.runs[s].manifest["files"] for s in scales}
    slopes = {}
    for name in ("ingest_s", "parse_validate_s", "rebuild_s", "project_publish_s",
                 "incremental_s", "duckdb_s"):
        points = [(math.log(files[s]), math.log(v)) for s in scales
                  if (v := _median(metrics[s], name))]
        if len(points) >= 2:
            slopes[name] = _slope(points)
    return {"from": low, "to": high, "exponents": slopes,
            "fit": "least squares of log(cost) on log(files) over every scale run",
            "files": {str(s): files[s] for s in scales}}


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y on x.

    >>> round(_slope([(0.0, 1.0), (1.0, 2.0), (2.0, 3.1)]), 2)
    1.05
    """
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    num = sum((x - mean_x) * (y - mean_y) for x, y in points)
    den = sum((x - mean_x) ** 2 for x, _ in points)
    return num / den


# --- targets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    metric: str
    limit: float
    higher_is_better: bool = False
    scales: tuple[int, ...] | None = None
    """Scales the target applies to (``None``: every scale)."""
    unit: str = "s"


TARGETS = (
    Target("full rebuild at x1", "rebuild_s", 15.0, scales=(1,)),
    Target("ingest+parse throughput", "ingest_parse_reports_per_s", 2000.0,
           higher_is_better=True, unit="reports/s"),
    Target("incremental one-day run", "incremental_s", 2.0),
    Target("incremental one-day run at x10", "incremental_s", 1.0, scales=(10,)),
    Target("incremental one-day run, x10 / x1", "incremental_ratio_to_x1", 1.3, scales=(10,),
           unit="x"),
    Target("`lossledger run`, one new day, server up (wall, process)", "interactive_s", 3.0),
    Target("nothing-new run", "nothing_new_s", 0.5),
    Target("reconcile+publish vs DuckDB (project_tables+publish)",
           "ratio_project_publish_vs_duckdb", 3.0, unit="x"),
    Target("peak RSS at x10", "peak_rss_max_mb", GIB_MB, scales=(10,), unit="MB"),
    Target("peak RSS at x30", "peak_rss_max_mb", 1.5 * GIB_MB, scales=(30,), unit="MB"),
)
#: The full rebuild must stay linear in the reports (issue 13).
REBUILD_EXPONENT = 1.05


def _value(metrics: dict[str, Any], metric: str) -> float | None:
    if metric == "peak_rss_max_mb":
        # lossledger's own processes: the DuckDB baseline's peak is reported, not judged.
        peaks = [v["max"] for task, v in metrics["peak_rss_mb"].items()
                 if v and task != "duckdb"]
        return max(peaks) if peaks else None
    value = metrics.get(metric)
    return value["median"] if isinstance(value, dict) else value


def evaluate(metrics: dict[int, dict[str, Any]], linear: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    one = _median(metrics.get(1, {}), "incremental_s")
    for scale in metrics:
        mine = _median(metrics[scale], "incremental_s")
        metrics[scale]["incremental_ratio_to_x1"] = mine / one if mine and one else None
    for target in TARGETS:
        for scale in sorted(metrics):
            if target.scales and scale not in target.scales:
                continue
            value = _value(metrics[scale], target.metric)
            passed = None if value is None else (
                value >= target.limit if target.higher_is_better else value <= target.limit)
            rows.append({"target": target.name, "scale": scale, "value": value,
                         "limit": target.limit, "unit": target.unit,
                         "higher_is_better": target.higher_is_better, "pass": passed})
        if target.scales and not any(s in metrics for s in target.scales):
            rows.append({"target": target.name, "scale": target.scales[0], "value": None,
                         "limit": target.limit, "unit": target.unit, "pass": None,
                         "note": "scale not run"})
    for name, exponent in linear.get("exponents", {}).items():
        limit = REBUILD_EXPONENT if name == "rebuild_s" else LINEAR_EXPONENT
        if name in ("ingest_s", "parse_validate_s", "rebuild_s", "incremental_s"):
            rows.append({"target": f"linear cost: {name}", "scale": linear["to"],
                         "value": exponent, "limit": limit, "unit": "exponent",
                         "pass": exponent <= limit})
    return rows


# --- report -----------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _triple(value: dict[str, float] | None) -> str:
    if not value:
        return "—"
    return f"{_fmt(value['median'])} ({_fmt(value['min'])}–{_fmt(value['max'])})"


_ROWS = (
    ("files ingested (reports delivered)", None),
    ("ingest (s)", "ingest_s"),
    ("ingest (reports/s)", "ingest_reports_per_s"),
    ("  CPU time of the ingest (s)", "ingest_cpu_s"),
    ("parse+validate (s)", "parse_validate_s"),
    ("parse+validate (reports/s)", "parse_validate_reports_per_s"),
    ("ingest+parse+validate (reports/s)", "ingest_parse_reports_per_s"),
    ("full rebuild from the log (s)", "rebuild_s"),
    ("  CPU time of the rebuild (s)", "rebuild_cpu_s"),
    ("  of which project_tables+publish (s)", "project_publish_s"),
    ("  of which reconcile_totals+publish (s)", "reconcile_publish_s"),
    ("DuckDB baseline (s)", "duckdb_s"),
    ("project_tables+publish / DuckDB", "ratio_project_publish_vs_duckdb"),
    ("reconcile_totals+publish / DuckDB", "ratio_reconcile_publish_vs_duckdb"),
    ("incremental, one new day (s)", "incremental_s"),
    ("  CPU time of the incremental run (s)", "incremental_cpu_s"),
    ("`lossledger run`, one new day, Prefect server up (s, process wall)", "interactive_s"),
    ("  until its HTML report is written (s, wall)", "interactive_report_ready_s"),
    ("nothing new (s)", "nothing_new_s"),
    ("nothing new, re-scanning the inbox (s)", "nothing_new_rescan_s"),
    ("interpreter imports per process (s)", "import_s"),
)


def markdown(bench: Bench, results: dict[str, Any]) -> str:
    scales = sorted(bench.runs)
    metrics = {s: results["scales"][str(s)]["metrics"] for s in scales}
    head = "| metric | " + " | ".join(f"x{s}" for s in scales) + " |"
    lines = ["## Results: median (min–max)", "", head,
             "|---|" + "---|" * len(scales)]
    for label, name in _ROWS:
        if name is None:
            cells = [str(bench.runs[s].manifest.get("files")) for s in scales]
        else:
            cells = [_triple(m.get(name)) if isinstance(m.get(name), dict) or m.get(name) is None
                     else _fmt(m[name]) for m in metrics.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for task in ("ingest", "rebuild", "incremental", "nothing_new", "duckdb", "flow"):
        cells = [_triple(metrics[s]["peak_rss_mb"].get(task)) for s in scales]
        lines.append(f"| peak RSS {task} (MB) | " + " | ".join(cells) + " |")
    lines += ["", *_orchestration_lines(results, scales), "", *_phase_lines(results, scales),
              "", *_target_lines(results)]
    if results.get("real_corpus"):
        lines += ["", *realcorpus.summary_lines(results["real_corpus"])]
    return "\n".join(lines) + "\n"


def _orchestration_lines(results: dict[str, Any], scales: list[int]) -> list[str]:
    prefect = results["prefect"]
    lines = ["## Orchestration (Prefect, ephemeral server)", "",
             f"- import prefect + flows: {_triple(prefect.get('import_s'))} s",
             f"- trivial flow, first call (starts the server): "
             f"{_triple(prefect.get('first_flow_s'))} s; "
             f"with a fresh PREFECT_HOME: {_fmt(prefect.get('cold_first_flow_s'))} s",
             f"- trivial flow, second call (server up): {_triple(prefect.get('second_flow_s'))} s",
             ""]
    lines += ["| scale | flow end to end (s) | plain ingest+rebuild (s) | start-up (s) | "
              "overhead beyond start-up (s) | flow, nothing new, server up (s) |",
              "|---|---|---|---|---|---|"]
    for s in scales:
        flow = results["scales"][str(s)].get("flow") or {}
        lines.append(f"| x{s} | {_fmt(flow.get('flow_full_s'))} | {_fmt(flow.get('plain_s'))} | "
                     f"{_fmt(flow.get('startup_s'))} | {_fmt(flow.get('overhead_s'))} | "
                     f"{_fmt(flow.get('flow_nothing_new_s'))} |")
    return lines


def _phase_lines(results: dict[str, Any], scales: list[int]) -> list[str]:
    lines = ["## Where the time goes (medians: seconds, and peak RSS in MB while the phase ran)",
             ""]
    for task in ("ingest", "rebuild", "incremental"):
        phases = {s: results["scales"][str(s)]["phases"].get(task, {}) for s in scales}
        peaks = {s: results["scales"][str(s)].get("phase_peak_rss_mb", {}).get(task, {})
                 for s in scales}
        names = sorted({n for p in phases.values() for n in p}, key=_phase_order)
        lines += [f"**{task}**", "",
                  "| phase | " + " | ".join(f"x{s} s | x{s} MB" for s in scales) + " |",
                  "|---|" + "---|---|" * len(scales)]
        for name in names:
            label = ("&nbsp;&nbsp;" if "." in name else "") + name
            cells = [f"{_fmt(phases[s].get(name), 3)} | {_fmt(peaks[s].get(name), 0)}"
                     for s in scales]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _phase_order(name: str) -> tuple[int, str]:
    order = ("ingest", "plan", "parse", "project", "publish")
    top = name.split(".")[0]
    return (order.index(top) if top in order else len(order), name)


def _target_lines(results: dict[str, Any]) -> list[str]:
    lines = ["## Targets (pipeline time: no interpreter, no Prefect start-up)", "",
             "| target | scale | measured | target | result |", "|---|---|---|---|---|"]
    for row in results["targets"]:
        sign = ">=" if row.get("higher_is_better") else "<="
        verdict = {True: "PASS", False: "MISS", None: row.get("note", "n/a")}[row["pass"]]
        lines.append(f"| {row['target']} | x{row['scale']} | {_fmt(row['value'])} {row['unit']} "
                     f"| {sign} {_fmt(row['limit'])} | {verdict} |")
    return lines


# --- assembling results -----------------------------------------------------------------------


def prefect_metrics(bench: Bench) -> dict[str, Any]:
    ok = [s for s in bench.prefect if "error" not in s]
    cold = bench.prefect_cold or {}
    return {
        "import_s": summary([s["import_s"] for s in ok]),
        "first_flow_s": summary(_phase(ok, "first_flow")),
        "second_flow_s": summary(_phase(ok, "second_flow")),
        "wall_s": summary([s["wall_s"] for s in ok]),
        "cold_first_flow_s": cold.get("phases", {}).get("first_flow"),
        "samples": bench.prefect,
        "cold_sample": bench.prefect_cold,
    }


def flow_metrics(run: ScaleRun, metrics: dict[str, Any], startup: float | None) -> dict[str, Any]:
    flows = run.ok("flow")
    if not flows:
        return {"error": (run.samples.get("flow") or [{}])[0].get("error")}
    flow = flows[0]
    plain = (_median(metrics, "ingest_s") or 0) + (_median(metrics, "rebuild_s") or 0)
    full = flow["phases"]["flow_full"]
    return {
        "flow_full_s": full,
        "flow_nothing_new_s": flow["phases"]["flow_nothing_new"],
        "plain_s": plain,
        "startup_s": startup,
        "overhead_s": full - plain - (startup or 0),
        "import_s": flow["import_s"],
        "wall_s": flow["wall_s"],
        "peak_rss_mb": flow["peak_rss_mb"],
    }


def results_of(bench: Bench) -> dict[str, Any]:
    prefect = prefect_metrics(bench)
    startup = _median(prefect, "first_flow_s")
    scales: dict[str, Any] = {}
    metrics: dict[int, dict[str, Any]] = {}
    for scale, run in sorted(bench.runs.items()):
        metrics[scale] = scale_metrics(run)
        scales[str(scale)] = {
            "corpus": {k: v for k, v in run.manifest.items() if k != "sources"},
            "corpus_generation_s": run.corpus_s,
            "metrics": metrics[scale],
            "phases": {task: phase_medians(run.ok(task))
                       for task in ("ingest", "rebuild", "incremental", "nothing_new",
                                    "nothing_new_rescan", "duckdb")},
            "phase_peak_rss_mb": {task: phase_medians(run.ok(task), "phase_peak_rss_mb")
                                  for task in ("ingest", "rebuild", "incremental")},
            "flow": flow_metrics(run, metrics[scale], startup),
            "samples": run.samples,
        }
    linear = linearity(bench, metrics)
    return {
        "meta": _meta(bench),
        "prefect": prefect,
        "scales": scales,
        "linearity": linear,
        "targets": evaluate(metrics, linear),
        "real_corpus": bench.real_corpus,
    }


def _meta(bench: Bench) -> dict[str, Any]:
    import duckdb
    import polars

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                          capture_output=True, text=True, check=False).stdout.strip()
    return {
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_head": head,
        "repeat": bench.repeat,
        "seed": bench.seed,
        "python": platform.python_version(),
        "polars": polars.__version__,
        "duckdb": duckdb.__version__,
        "cpus": os.cpu_count(),
        "load_after": os.getloadavg(),
    }


# --- entry point ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--scales", default="1,3,10", help="comma-separated (default 1,3,10)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (default 3)")
    parser.add_argument("--quick", action="store_true", help="x1 only, one run each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "corpus")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--profile", action="store_true",
                        help="also profile ingest/rebuild/incremental (cProfile) at each scale")
    parser.add_argument("--no-flow", action="store_true", help="skip the Prefect measurements")
    parser.add_argument("--no-fetch", action="store_true",
                        help="skip the fetch throughput measurement (bench/fetch.py)")
    parser.add_argument("--fresh-corpus", action="store_true", help="regenerate the corpora")
    parser.add_argument("--keep", action="store_true", help="keep every run's home")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other scales (and, with --no-flow, Prefect) of the "
                             "existing results file")
    parser.add_argument("--no-real-corpus", action="store_true",
                        help="skip the real-world corpus section (accuracy + throughput)")
    parser.add_argument("--real-corpus-only", action="store_true",
                        help="run only the real-world corpus section (keeps other results)")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: print the report of the existing results file")
    args = parser.parse_args(argv)
    if args.quick:
        args.scales, args.repeat = "1", 1
    if args.real_corpus_only:
        args.merge, args.no_flow, args.scales = True, True, ""
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args.workdir.resolve(), args.repeat, args.seed, profile=args.profile,
                  flow=not args.no_flow, fresh_corpus=args.fresh_corpus, keep=args.keep)
    bench.workdir.mkdir(parents=True, exist_ok=True)
    if args.merge or args.report_only:
        restore(bench, args.results, keep_prefect=not bench.flow or args.report_only)
    if args.report_only:
        print(markdown(bench, results_of(bench)))
        return 0
    if bench.flow:
        bench.prefect_startup()
    try:
        for scale in (int(s) for s in args.scales.split(",") if s):
            bench.scale(scale)
            _write(bench, args.results)  # partial results survive an interrupted long run
    finally:
        bench.stop_server()
    if not args.no_real_corpus:
        bench.log("real-world corpus: accuracy and throughput")
        bench.real_corpus = realcorpus.run(seed=args.seed, repeat=bench.repeat)
    results = _write(bench, args.results)
    print(markdown(bench, results))
    if not args.no_fetch:
        from bench import fetch

        fetch.main(["--workdir", str(bench.workdir / "fetch")])
    return 0


def restore(bench: Bench, path: Path, *, keep_prefect: bool) -> None:
    """Load the samples of an earlier results file into ``bench``."""
    if not path.exists():
        return
    earlier = json.loads(path.read_text())
    for key, scale in earlier.get("scales", {}).items():
        bench.runs[int(key)] = ScaleRun(
            int(key), bench.workdir / f"x{key}", manifest=scale["corpus"],
            samples=scale["samples"], corpus_s=scale.get("corpus_generation_s"))
    bench.real_corpus = earlier.get("real_corpus")
    if keep_prefect:
        bench.prefect = earlier["prefect"].get("samples", [])
        bench.prefect_cold = earlier["prefect"].get("cold_sample")


def _write(bench: Bench, path: Path) -> dict[str, Any]:
    results = results_of(bench)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return results


if __name__ == "__main__":
    raise SystemExit(main())
