"""A real Prefect server, work pool, deployments and workers for integration tests.

Everything runs from the repository checkout with the interpreter running the tests (the
venv), binds 127.0.0.1 only, tells nobody anything, and lives in one temporary directory:

- ``<root>/prefect-home``: the ``PREFECT_HOME`` of every process started here, holding the
  server's own SQLite database;
- ``<root>/logs/*.log``: the output of every process and CLI command started here; printed
  when the block (or, through :func:`serve_for_tests`, a test using it) fails.

Every process starts in its own process group and is stopped with its whole group and its
descendants (flow runs a process worker spawns run in sessions of their own), also when the
block fails or times out.

Use it as a context manager::

    with running_prefect_server(tmp_path, workers=2, env={"LOSSLEDGER_STORE": url}) as server:
        run = server.run_deployment("pipeline/daily", home=str(home), inbox=str(inbox))
        assert run.state == "COMPLETED", run.output

or as a module-scoped fixture whose logs are printed when a test using it fails::

    @pytest.fixture(scope="module")
    def server(request, tmp_path_factory) -> Iterator[PrefectServer]:
        yield from serve_for_tests(request, tmp_path_factory, workers=2)

(``prefect_server`` below is that fixture with one worker, for modules that list this module
in ``pytest_plugins``.)

Starting costs ~15-20 s (server) + ~6-8 s (``prefect deploy``; the workers start meanwhile);
a deployment run then takes ~10-15 s (the worker polls every second; each flow run is a fresh
process that imports Prefect, polars and the parsers). Runs requested together overlap.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

__all__ = [
    "POOL",
    "REPO",
    "DeploymentRun",
    "PrefectServer",
    "prefect_server",
    "running_prefect_server",
    "serve_for_tests",
]

REPO = Path(__file__).resolve().parents[1]
POOL = "lossledger"
#: Console scripts of the venv running the tests (``.venv/bin``), so children use its Python.
BIN = Path(sys.executable).parent

_STOP_GRACE_S = 10.0
_FLOW_RUN_ID = re.compile(r"UUID: ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


@dataclass
class ManagedProcess:
    """A long-running child (server or worker) with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace_s: float = _STOP_GRACE_S) -> None:
        """SIGTERM the process group and every descendant; SIGKILL what is left after grace."""
        family = _family(self.popen.pid)
        _signal_all(self.popen.pid, family, signal.SIGTERM)
        _, alive = psutil.wait_procs(family, timeout=grace_s)
        if alive or self.alive():
            _signal_all(self.popen.pid, alive, signal.SIGKILL)
            psutil.wait_procs(alive, timeout=grace_s)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=grace_s)


@dataclass(frozen=True)
class DeploymentRun:
    """The outcome of ``prefect deployment run ... --watch``."""

    flow_run_id: str
    state: str
    """The flow run's state type as the server has it: ``COMPLETED``, ``FAILED``, ..."""
    output: str
    """What the CLI printed (the watched states and events)."""


@dataclass
class PrefectServer:
    """A running Prefect server, and the processes and commands started against it."""

    root: Path
    api_url: str
    env: dict[str, str]
    """Environment for any process talking to this server (CLI, workers, flows)."""
    processes: list[ManagedProcess] = field(default_factory=list)
    _commands: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    def prefect(
        self, *args: str, timeout: float = 120, check: bool = True,
        env: Mapping[str, str] | None = None, cwd: Path = REPO,
    ) -> subprocess.CompletedProcess[str]:
        """Run one ``prefect`` CLI command against this server; its output is also logged."""
        return self.run(
            [str(BIN / "prefect"), *args], timeout=timeout, check=check, env=env, cwd=cwd
        )

    def run(
        self, command: Sequence[str], *, timeout: float = 120, check: bool = True,
        env: Mapping[str, str] | None = None, cwd: Path = REPO,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command with this server's environment, in its own process group.

        Safe to call from several threads at once (e.g. to start deployment runs side by side).
        """
        log = self.log_dir / f"cmd-{next(self._commands):02d}-{Path(command[0]).name}.log"
        with log.open("w") as out:
            out.write(f"$ {' '.join(command)}\n")
            out.flush()
            popen = subprocess.Popen(
                command, cwd=cwd, env={**self.env, **(env or {})}, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
            process = ManagedProcess(log.stem, popen, log)
            try:
                popen.wait(timeout=timeout)
            finally:
                process.stop(grace_s=2)  # a timed-out command leaves no orphans behind
        output = log.read_text(errors="replace")
        result = subprocess.CompletedProcess(list(command), popen.returncode, output, "")
        if check and popen.returncode != 0:
            raise AssertionError(f"command failed ({popen.returncode}): {output}")
        return result

    def start(self, name: str, command: Sequence[str], *,
              env: Mapping[str, str] | None = None, cwd: Path = REPO) -> ManagedProcess:
        """Start a long-running child in its own process group; it is stopped on exit."""
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                list(command), cwd=cwd, env={**self.env, **(env or {})}, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        process = ManagedProcess(name, popen, log)
        self.processes.append(process)
        return process

    def create_work_pool(self, pool: str = POOL) -> None:
        """What ``prefect work-pool create <pool> --type process`` does, without the ~5 s of
        starting the CLI."""
        from prefect.client.schemas.actions import WorkPoolCreate
        from prefect.workers.process import ProcessWorker

        template = ProcessWorker.get_default_base_job_template()
        with self.client() as client:
            client.create_work_pool(
                WorkPoolCreate(name=pool, type="process", base_job_template=template),
                overwrite=True,
            )

    def deploy(self, *names: str) -> None:
        """``prefect deploy`` from the checkout: every deployment, or those named."""
        selection = [arg for name in names for arg in ("--name", name)] or ["--all"]
        self.prefect("--no-prompt", "deploy", *selection, timeout=180)

    def start_worker(self, name: str, *, pool: str = POOL,
                     env: Mapping[str, str] | None = None) -> ManagedProcess:
        """A process worker started as ``prefect deploy`` tells one to: ``prefect worker start
        --pool <pool>``, without ``LOSSLEDGER_CHECKOUT``, and not in the checkout (flow runs
        find it through the path ``prefect deploy`` recorded)."""
        return self.start(
            name,
            [str(BIN / "prefect"), "worker", "start", "--pool", pool, "--name", name,
             "--type", "process"],
            env=env, cwd=self.root,
        )

    def run_deployment(self, deployment: str, *, timeout: float = 120,
                       **parameters: Any) -> DeploymentRun:
        """``prefect deployment run <flow>/<deployment> --param k=v ... --watch``."""
        params = [arg for key, value in parameters.items()
                  for arg in ("--param", f"{key}={json.dumps(value)}")]
        result = self.prefect(
            "deployment", "run", deployment, *params, "--watch", "--watch-interval", "1",
            "--watch-timeout", str(int(timeout)), timeout=timeout + 30, check=False,
        )
        found = _FLOW_RUN_ID.search(result.stdout)
        if found is None:
            raise AssertionError(f"no flow run created for {deployment}: {result.stdout}")
        with self.client() as client:
            flow_run = client.read_flow_run(found.group(1))
        state = flow_run.state.type.value if flow_run.state else "UNKNOWN"
        return DeploymentRun(found.group(1), state, result.stdout)

    @contextlib.contextmanager
    def client(self) -> Iterator[SyncPrefectClient]:
        """A Prefect client bound to this server, whatever the test process's own settings."""
        from prefect.client.orchestration import SyncPrefectClient

        with SyncPrefectClient(api=self.api_url) as client:
            yield client

    def logs(self) -> str:
        """Every log file of this server's processes and commands, oldest first."""
        files = sorted(self.log_dir.glob("*.log"), key=lambda p: p.stat().st_mtime)
        return "\n".join(
            f"----- {path.name} -----\n{path.read_text(errors='replace')}" for path in files
        )

    def stop(self) -> None:
        """Stop workers first (they hand back their runs), the server last."""
        for process in reversed(self.processes):
            process.stop()


@contextlib.contextmanager
def running_prefect_server(
    root: Path,
    *,
    workers: int = 1,
    deploy: bool | Sequence[str] = True,
    pool: str = POOL,
    env: Mapping[str, str] | None = None,
    startup_timeout_s: float = 90,
) -> Iterator[PrefectServer]:
    """Start a server, create the work pool, deploy from ``prefect.yaml``, start workers.

    Parameters
    ----------
    root
        An empty temporary directory for the Prefect home, its database and the logs.
    workers
        Process workers to start on ``pool`` (named ``worker-1``, ``worker-2``, ...).
    deploy
        ``True``: ``prefect deploy --all``; a list of names: only those; ``False``: nothing.
        The work pool is created either way.
    env
        Extra environment for every process (e.g. ``LOSSLEDGER_STORE`` for a shared store).
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    server = PrefectServer(root, api_url, _environment(root / "prefect-home", api_url, env))
    try:
        server.start("server", [
            str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
            str(port), "--no-ui", "--analytics-off",
        ])
        _wait_healthy(server, timeout_s=startup_timeout_s)
        server.create_work_pool(pool)
        # Workers take seconds to import; start them while deploying.
        for n in range(1, workers + 1):
            server.start_worker(f"worker-{n}", pool=pool)
        if deploy:
            server.deploy(*([] if deploy is True else deploy))
        yield server
    except BaseException:
        print(server.logs(), file=sys.stderr)
        raise
    finally:
        server.stop()


def serve_for_tests(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, **options: Any
) -> Iterator[PrefectServer]:
    """Body of a fixture: a :func:`running_prefect_server` whose logs are printed when a test
    that used it failed (pytest otherwise hides a fixture's output after setup)."""
    failed_before = request.session.testsfailed
    with running_prefect_server(tmp_path_factory.mktemp("prefect-server"), **options) as server:
        yield server
        if request.session.testsfailed > failed_before:
            _print_to_terminal(request, f"Prefect server logs ({server.root})", server.logs())


@pytest.fixture(scope="module")
def prefect_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrefectServer]:
    """A server with ``prefect.yaml`` deployed and one process worker, per test module."""
    yield from serve_for_tests(request, tmp_path_factory, workers=1)


def _environment(home: Path, api_url: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    # Nothing from the test process's own Prefect or lossledger configuration leaks in.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "LOSSLEDGER_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update({
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'server.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "false",
        # The scheduler would only fill the daily deployment's next weeks; nobody runs them.
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        # Events reach the database within a second, so tests can read them back soon.
        "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_CLI_COLORS": "false",
        "PREFECT_CLI_WRAP_LINES": "false",
        "COLUMNS": "200",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(server: PrefectServer, *, timeout_s: float) -> None:
    process = server.processes[0]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"the Prefect server exited ({process.popen.returncode})")
        with contextlib.suppress(OSError, urllib.error.URLError), urllib.request.urlopen(
            f"{server.api_url}/health", timeout=2
        ) as response:
            if response.status == 200:
                return
        time.sleep(0.3)
    raise TimeoutError(f"the Prefect server was not healthy within {timeout_s:.0f} s")


def _family(pid: int) -> list[psutil.Process]:
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal_all(group: int, processes: Sequence[psutil.Process], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(sig)


def _print_to_terminal(request: pytest.FixtureRequest, title: str, text: str) -> None:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        print(f"{title}\n{text}", file=sys.stderr)
        return
    reporter.ensure_newline()
    reporter.section(title, sep="-")
    reporter.write_line(text)
