"""The ``pipeline`` flow run from a terminal (``lossledger run`` / ``rebuild``), and a local server.

An interactive run should cost what its work costs. With a Prefect server already running
(``PREFECT_API_URL``), a run is a few API calls; without one, Prefect starts a temporary server
in the process (~8-10 s), which :func:`run_pipeline` says once, with how to avoid it
(:func:`serve`, i.e. ``lossledger server``). Prefect's own log lines go to the API (the UI
shows them with the flow run) and to ``<home>/logs/prefect.log``, not to the terminal: the
terminal gets lossledger's summary.

Nothing here is imported before it is needed: Prefect costs ~1.5 s to import, so the CLI
imports this module only once it knows there is work to do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_PORT",
    "FlowOutcome",
    "log_file",
    "prefect_home",
    "run_pipeline",
    "serve",
    "temporary_server_notice",
]

DEFAULT_PORT = 4200
#: Loggers whose console handlers are replaced by the log file during an interactive run.
_CONSOLE_LOGGERS = ("", "uvicorn", "fastapi", "prefect._internal")


@dataclass(frozen=True, slots=True)
class FlowOutcome:
    """What an interactive flow run returned, and where to see it in Prefect."""

    summary: dict[str, Any]
    flow_run_url: str | None
    log_file: Path
    temporary_server: bool
    """Whether Prefect ran a temporary server in this process for the run."""


def prefect_home(home: Path, *, environ: Mapping[str, str] | None = None) -> Path:
    """lossledger's ``PREFECT_HOME``: the environment's if set, else ``<home>/.prefect``.

    >>> prefect_home(Path("/srv/ll"), environ={}).as_posix()
    '/srv/ll/.prefect'
    >>> prefect_home(Path("/srv/ll"), environ={"PREFECT_HOME": "/opt/p"}).as_posix()
    '/opt/p'
    """
    configured = (os.environ if environ is None else environ).get("PREFECT_HOME")
    return Path(configured).expanduser() if configured else Path(home).resolve() / ".prefect"


def log_file(home: Path) -> Path:
    """Where an interactive run's Prefect log lines go: ``<home>/logs/prefect.log``."""
    return Path(home).resolve() / "logs" / "prefect.log"


def temporary_server_notice(port: int = DEFAULT_PORT) -> str:
    """The one message a run without a Prefect server prints before Prefect starts one."""
    return (
        "no Prefect server configured (PREFECT_API_URL is not set): starting a temporary one "
        "for this run, which costs ~10 s.\n"
        "  To avoid it, keep one running: `lossledger server` (or `prefect server start "
        f"--host 127.0.0.1 --port {port}`),\n"
        f"  then `export PREFECT_API_URL=http://127.0.0.1:{port}/api`."
    )


def run_pipeline(*, notify: Callable[[str], None], **parameters: Any) -> FlowOutcome:
    """Run the ``pipeline`` flow in this process, its Prefect logs to the API and a file.

    Parameters
    ----------
    notify
        Called once, before Prefect starts a temporary server, with :func:`temporary_server_notice`.
    parameters
        The flow's parameters; ``home`` (the lossledger home) also says where ``logs/`` go.

    Raises whatever the flow raised (its traceback is in the log file).
    """
    home = Path(parameters.get("home") or os.environ.get("LOSSLEDGER_HOME") or "data")
    os.environ.setdefault("PREFECT_HOME", str(prefect_home(home)))
    temporary = False
    if not os.environ.get("PREFECT_API_URL"):
        # A profile may still name a server; only Prefect's settings know (read after import).
        from prefect.settings import PREFECT_API_URL

        temporary = not PREFECT_API_URL.value()
        if temporary:
            notify(temporary_server_notice())
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.pipeline import pipeline

    target = log_file(home)
    _logs_to_file(target)
    _plain_json_parameters(pipeline)
    with temporary_settings(
        # Heartbeats find crashed flow runs of workers; a terminal sees its run end, and the
        # heartbeat thread would hold every run's end for up to a second.
        updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    ):
        state = pipeline(**parameters, return_state=True)
        url = _flow_run_url(state.state_details.flow_run_id)
        summary = state.result()
    return FlowOutcome(summary, url, target, temporary)


def _plain_json_parameters(flow: Any) -> None:
    """Let ``flow`` record parameters that are plain JSON as they are.

    Prefect encodes a flow run's parameters with FastAPI's ``jsonable_encoder``, which imports
    FastAPI: 0.1 s of a terminal run that starts no server (measured on the 2-core machine).
    The CLI's parameters are strings, numbers, booleans and the ingest's summary, already
    JSON; anything else still goes through Prefect's encoder.
    """
    encode = flow.serialize_parameters

    def serialize(parameters: dict[str, Any]) -> dict[str, Any]:
        try:
            return json.loads(json.dumps(parameters, allow_nan=False))
        except (TypeError, ValueError):
            return encode(parameters)

    flow.serialize_parameters = serialize


def _logs_to_file(path: Path) -> None:
    """From now on, send Prefect's log lines to ``path`` (its API handlers stay), and only
    warnings and errors to the console. For the rest of the process: a temporary server says
    it stops at exit."""
    from prefect.logging.formatters import PrefectFormatter
    from prefect.logging.handlers import PrefectConsoleHandler

    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(PrefectFormatter(
        "%(asctime)s | %(levelname)-7s | %(name)s - %(message)s",
        flow_run_fmt="%(asctime)s | %(levelname)-7s | Flow run %(flow_run_name)r - %(message)s",
        task_run_fmt="%(asctime)s | %(levelname)-7s | Task run %(task_run_name)r - %(message)s",
    ))
    for name in _CONSOLE_LOGGERS:
        logger = logging.getLogger(name)
        for console in [h for h in logger.handlers if _is_console(h, PrefectConsoleHandler)]:
            # Warnings (a run waiting for another's lock, an inbox created empty) and errors
            # still reach the terminal; INFO lines only the file and the API.
            console.setLevel(max(console.level, logging.WARNING))
        if logger.propagate is False or name == "":
            logger.addHandler(handler)
    # The run's own INFO lines (flow and task runs) reach the file as they reach the API.
    logging.getLogger("prefect").setLevel(logging.INFO)


def _is_console(handler: logging.Handler, console_type: type) -> bool:
    return isinstance(handler, console_type) or (
        type(handler) is logging.StreamHandler
        and getattr(handler, "stream", None) in (sys.stderr, sys.stdout)
    ) or type(handler).__name__ == "_SafeStreamHandler"


def _flow_run_url(flow_run_id: Any) -> str | None:
    from prefect.settings import PREFECT_UI_URL

    ui = PREFECT_UI_URL.value()
    return f"{ui}/runs/flow-run/{flow_run_id}" if ui and flow_run_id else None


# --- a server that stays ----------------------------------------------------------------------


def serve(
    home: Path,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    say: Callable[[str], None] = print,
    ready_timeout_s: float = 120,
) -> int:
    """Run ``prefect server start`` on ``host:port`` with lossledger's ``PREFECT_HOME`` until
    interrupted; say the ``export PREFECT_API_URL=...`` line once it answers.

    Returns the server's exit status (0 after Ctrl-C or SIGTERM).
    """
    if _port_taken(host, port):
        raise OSError(f"{host}:{port} is in use (a server already running? try --port)")
    home_dir = prefect_home(home)
    home_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PREFECT_HOME": str(home_dir),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    env.pop("PREFECT_API_URL", None)  # the server is the API; it must not call another one
    api_url = f"http://{host}:{port}/api"
    prefect = Path(sys.executable).with_name("prefect")
    command = [str(prefect) if prefect.exists() else "prefect", "server", "start",
               "--host", host, "--port", str(port), "--analytics-off"]
    say(f"starting a Prefect server on {host}:{port} (PREFECT_HOME={home_dir}); Ctrl-C stops it")
    server = subprocess.Popen(command, env=env, start_new_session=True)
    forwarded = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def stop(signum: int, _frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)

    for sig in forwarded:
        signal.signal(sig, stop)
    try:
        if _wait_healthy(api_url, server, ready_timeout_s):
            say(f"ready. In the shell of your runs:\n  export PREFECT_API_URL={api_url}\n"
                f"UI: http://{host}:{port}")
        code = server.wait()
    finally:
        for sig, handler in forwarded.items():
            signal.signal(sig, handler)
        if server.poll() is None:
            stop(signal.SIGTERM, None)
            server.wait(timeout=30)
    # Stopped by a signal we forwarded: that is the normal end.
    return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT, 130, 143) else code


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _wait_healthy(api_url: str, server: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        with contextlib.suppress(OSError, urllib.error.URLError), urllib.request.urlopen(
            f"{api_url}/health", timeout=2
        ) as response:
            if response.status == 200:
                return True
        time.sleep(0.3)
    return False
