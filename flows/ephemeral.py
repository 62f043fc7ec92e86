"""Prefect's ephemeral server, tied to the process that started it.

Without ``PREFECT_API_URL``, Prefect 3.9 starts a temporary API server as a child process
(``prefect.server.api.server.SubprocessASGIServer``) and stops it at exit; after ``kill -9``
of the parent nothing stops it, and it runs on, orphaned. Prefect offers no hook on that
child's ``Popen``, but every caller asks the class for its one instance per port, so a subclass
registered first is the one Prefect uses: it starts, beside the server, a tiny watchdog process
that waits for the parent to disappear and then stops the server (SIGTERM, then SIGKILL).
A watchdog rather than ``PR_SET_PDEATHSIG``: Prefect may start the server from a thread, and
the death signal follows the thread that forked, not the process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

__all__ = ["WATCHDOG", "tie_ephemeral_server_to_this_process"]

#: The watchdog: ``python -S -c WATCHDOG <parent pid> <server pid>``; stdlib only.
WATCHDOG = """
import os, signal, sys, time
parent, server = int(sys.argv[1]), int(sys.argv[2])
def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
while os.getppid() == parent and alive(server):
    time.sleep(0.2)
for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
    if not alive(server):
        break
    try:
        os.kill(server, sig)
    except ProcessLookupError:
        break
    deadline = time.monotonic() + grace
    while alive(server) and time.monotonic() < deadline:
        time.sleep(0.1)
"""


def tie_ephemeral_server_to_this_process() -> bool:
    """Make the ephemeral server Prefect may start from now on die with this process.

    Returns whether it will (``False`` with ``PREFECT_API_URL`` set: there is no ephemeral
    server then, or when Prefect already made its server instance).
    """
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return False  # a server of its own: nothing ephemeral to tie (and no server import)
    from prefect.server.api.server import SubprocessASGIServer

    if None in SubprocessASGIServer._instances:
        return False

    class TiedServer(SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            server = super()._run_uvicorn_command()
            subprocess.Popen(
                [sys.executable, "-S", "-c", WATCHDOG, str(os.getpid()), str(server.pid)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                close_fds=True,
            )
            return server

    TiedServer()  # registered as the instance for "any port", the one Prefect asks for
    return True
