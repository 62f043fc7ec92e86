"""How long Prefect's ephemeral server outlives a ``kill -9``ed run: ``python -m bench.killed_run``.

Starts ``lossledger run --inbox data/samples`` on a fresh home with a fresh ``PREFECT_HOME``
(so Prefect starts its ephemeral server), holds the store's lock so that the run waits for it with
its server up, kills the run with SIGKILL and measures how long its server child lives on (up
to ``--patience`` s). ``--untied`` runs the flow without lossledger's watchdog,
as before it existed, for comparison. Prints one JSON line per trial.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

__all__ = ["ephemeral_server", "main"]

REPO = Path(__file__).resolve().parents[1]
UNTIED = ("import sys; from flows.pipeline import pipeline; "
          "pipeline(home=sys.argv[1], inbox=sys.argv[2])")


def trial(untied: bool, patience: float) -> dict[str, object]:
    from lossledger.pipeline import RunSettings

    root = Path(tempfile.mkdtemp(prefix="killed-run-"))
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOSSLEDGER_", "PREFECT_"))}
    env.update({"PREFECT_HOME": str(root / "prefect"), "DO_NOT_TRACK": "1",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"})
    samples = str(REPO / "data" / "samples")
    command = ([sys.executable, "-c", UNTIED, str(home), samples] if untied else
               [sys.executable, "-m", "lossledger", "run", "--home", str(home), "--inbox",
                samples])
    server = None
    # The store's lock is held here, so the run waits for it (its server up) until killed.
    with RunSettings.resolve(home).store() as store, store.lock("pipeline"):
        run = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            while server is None or not _healthy(server):
                if run.poll() is not None:
                    return {"error": f"the run ended ({run.returncode}) before it was killed"}
                server = server or ephemeral_server(run.pid)
                time.sleep(0.05)
            run.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            run.wait()
            _, alive = psutil.wait_procs([server], timeout=patience)
            lived = time.monotonic() - killed
            return {"untied": untied, "server_outlived_s": None if alive else round(lived, 2),
                    "server_alive_after_patience": bool(alive), "patience_s": patience}
        finally:
            if run.poll() is None:
                run.kill()
            if server is not None and server.is_running():
                server.kill()
            shutil.rmtree(root, ignore_errors=True)


def _healthy(server: psutil.Process) -> bool:
    """Whether the server listens (it is up, not just started)."""
    try:
        return any(c.status == psutil.CONN_LISTEN for c in server.net_connections("tcp"))
    except psutil.Error:
        return False


def ephemeral_server(pid: int) -> psutil.Process | None:
    """The Prefect server a process (``pid``) started as its child, if any."""
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if "prefect.server.api.server:create_app" in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.killed_run")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--patience", type=float, default=30.0)
    parser.add_argument("--untied", action="store_true", help="without the watchdog")
    args = parser.parse_args(argv)
    for _ in range(args.trials):
        print(json.dumps(trial(args.untied, args.patience)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
