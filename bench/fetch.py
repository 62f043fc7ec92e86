"""Fetch throughput: 1,000 daily URLs from a local HTTP server (``make bench`` runs it too).

    python -m bench.fetch [--days 1000] [--latency-ms 50] [--per-host 2,8] [--workdir DIR]

A stdlib threaded HTTP server in its own process serves one JSON document per day under
``/api/<date>`` on 127.0.0.1, each after ``--latency-ms`` (the round trip of a real site) and
with an ETag. For each per-host limit, lossledger fetches every day into a fresh SQLite home
(``cold``: 1,000 new events), fetches the range again (``held``: every day already held, no
request) and asks again with ``--refresh`` (``304``: every day unchanged, no event). The bound
a per-host limit sets is ``per_host / latency`` requests per second; ``of bound`` says how
close lossledger comes to it (the target: bounded by the limit, not by lossledger). A last run
with no latency shows lossledger's own ceiling on this machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import shutil
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["fetch_bench", "main", "markdown"]

FIRST_DAY = dt.date(2024, 1, 1)


def _document(day: dt.date) -> bytes:
    n = (day - FIRST_DAY).days
    return json.dumps({"data": {"date": day.isoformat(), "stats": {
        "personnel_units": 300_000 + 1_000 * n, "tanks": 6_000 + 10 * n,
        "artillery_systems": 9_000 + 20 * n}, "increase": {
        "personnel_units": 1_000, "tanks": 10, "artillery_systems": 20}}}).encode()


def _serve(port_box: Any, latency_s: float) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms ACK wait

        def do_GET(self) -> None:
            day = dt.date.fromisoformat(self.path.rsplit("/", 1)[-1])
            etag = f'"{day}"'
            time.sleep(latency_s)
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = _document(day)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_box.value = server.server_address[1]
    server.serve_forever()


def _one(workdir: Path, port: int, days: int, per_host: int) -> dict[str, Any]:
    from lossledger.sources import fetch_sources

    home = Path(tempfile.mkdtemp(prefix=f"fetch-{per_host}-", dir=workdir))
    (home / "sources.toml").write_text(
        f'per_host = {per_host}\n[[sources]]\nname = "bench-api"\n'
        f'url = "http://127.0.0.1:{port}/api/{{date}}"\n'
    )
    last = FIRST_DAY + dt.timedelta(days=days - 1)
    result: dict[str, Any] = {"per_host": per_host, "days": days}
    for phase, refresh in (("cold", False), ("held", False), ("304", True)):
        started = time.perf_counter()
        report = fetch_sources(home, since=FIRST_DAY, until=last, refresh=refresh)
        seconds = time.perf_counter() - started
        result[phase] = {"s": round(seconds, 3), "requests": len(report.outcomes),
                         **report.counts(),
                         "req_per_s": round(len(report.outcomes) / seconds, 1)}
    shutil.rmtree(home, ignore_errors=True)
    return result


def fetch_bench(workdir: Path, *, days: int = 1_000, latency_ms: float = 50.0,
                per_hosts: tuple[int, ...] = (2, 8)) -> dict[str, Any]:
    """Run the measurements; returns the results (also what :func:`markdown` prints)."""
    workdir.mkdir(parents=True, exist_ok=True)
    runs = []
    for latency in (latency_ms, 0.0):
        port = mp.Value("i", 0)
        server = mp.Process(target=_serve, args=(port, latency / 1000), daemon=True)
        server.start()
        try:
            while port.value == 0:
                time.sleep(0.05)
            for per_host in (per_hosts if latency else (max(per_hosts),)):
                run = _one(workdir, port.value, days, per_host)
                run["latency_ms"] = latency
                run["bound_req_per_s"] = round(per_host / (latency / 1000), 1) if latency else None
                runs.append(run)
        finally:
            server.terminate()
            server.join(5)
    return {"finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "runs": runs}


def markdown(results: dict[str, Any]) -> str:
    lines = ["## Fetch throughput (local HTTP server, one JSON per day)", "",
             "| per_host | latency | days | cold: new events/s | bound | of bound | "
             "held: s | 304: req/s |", "|---|---|---|---|---|---|---|---|"]
    for run in results["runs"]:
        bound = run["bound_req_per_s"]
        cold = run["cold"]["req_per_s"]
        share = f"{100 * cold / bound:.0f} %" if bound else "-"
        lines.append(
            f"| {run['per_host']} | {run['latency_ms']:g} ms | {run['days']} | {cold} "
            f"({run['cold']['new']} new) | {bound or '-'} | {share} | {run['held']['s']} "
            f"({run['held']['requests']} requests) | {run['304']['req_per_s']} "
            f"({run['304']['unchanged']} unchanged) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fetch",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=1_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--per-host", default="2,8", help="comma-separated limits (default 2,8)")
    parser.add_argument("--workdir", type=Path,
                        default=Path(__file__).resolve().parent / "corpus" / "fetch")
    args = parser.parse_args(argv)
    results = fetch_bench(args.workdir, days=args.days, latency_ms=args.latency_ms,
                          per_hosts=tuple(int(n) for n in args.per_host.split(",")))
    (args.workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
