"""Refreshing the home's HTML report in a process of its own, so that a run need not wait.

Rendering the report costs a run more than anything but Prefect's import (x1: ~0.4 s to import
Altair, ~0.8 s to start vl-convert's JavaScript runtime, ~0.5 s to read the warehouse back and
render the charts that changed); vl-convert holds the GIL, so none of it overlaps the run's
other work in its process. ``lossledger run`` therefore publishes, prints its summary and
exits, and a detached process (:func:`start_refresh`) rewrites ``<home>/report/index.html``,
atomically as ever: until it is done, the page is the previous run's, complete.

Waiting is deterministic: :func:`start_refresh` takes an exclusive ``flock`` on
``<home>/report/.refresh.lock`` *before* it starts the process and hands the lock to it, so the
lock is held from before the run returns until the page is written (or the refresh failed).
:func:`wait_for_refresh` (``lossledger report --wait``) takes the same lock shared, and reads
the outcome the process left in ``<home>/report/.refresh.json``. A refresh started while
another is going on waits for it first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

__all__ = ["lock_file", "outcome_file", "start_refresh", "wait_for_refresh"]


def lock_file(home: Path) -> Path:
    """The lock a background refresh of ``home``'s report holds while it works."""
    return Path(home).resolve() / "report" / ".refresh.lock"


def outcome_file(home: Path) -> Path:
    """Where the last background refresh of ``home``'s report says how it went."""
    return Path(home).resolve() / "report" / ".refresh.json"


def _log_file(home: Path) -> Path:
    return Path(home).resolve() / "logs" / "report.log"


def start_refresh(home: Path, warehouse: Path) -> int:
    """Start a detached process that rewrites ``<home>/report/index.html``; returns its pid.

    The lock is taken here (after any refresh still going on) and held by the process until
    it ends, so :func:`wait_for_refresh` called any time after this returns waits for it.
    Its output goes to ``<home>/logs/report.log``.
    """
    lock = lock_file(home)
    lock.parent.mkdir(parents=True, exist_ok=True)
    log = _log_file(home)
    log.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        outcome_file(home).unlink(missing_ok=True)  # this refresh's outcome, not the last one's
        with log.open("ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "lossledger.report.background", str(Path(home).resolve()),
                 str(Path(warehouse).resolve()), str(descriptor)],
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                pass_fds=(descriptor,), start_new_session=True,
            )
    finally:
        os.close(descriptor)  # the process's copy keeps the lock
    return process.pid


def wait_for_refresh(home: Path, *, timeout_s: float | None = None) -> dict[str, Any] | None:
    """Wait until no background refresh of ``home``'s report is going on.

    Returns the outcome the last one left (``{"ok": bool, "seconds": ..., "error": ...}``), or
    ``None`` when there is none (no refresh ran in the background, or it was killed).

    Raises
    ------
    TimeoutError
        When ``timeout_s`` passed first.
    """
    lock = lock_file(home)
    if lock.exists():
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        descriptor = os.open(lock, os.O_RDONLY)
        try:
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_SH | (fcntl.LOCK_NB if deadline else 0))
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() > deadline:
                        message = f"the report of {home} is still being refreshed"
                        raise TimeoutError(message) from None
                    time.sleep(0.05)
        finally:
            os.close(descriptor)
    try:
        return json.loads(outcome_file(home).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def _refresh(home: Path, warehouse: Path) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        from lossledger.report.html import refresh_home_report

        built = refresh_home_report(home, warehouse)
    except Exception as exc:
        traceback.print_exc()
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                "seconds": round(time.perf_counter() - started, 2)}
    return {"ok": True, "seconds": round(time.perf_counter() - started, 2),
            **({"size_bytes": built["size_bytes"]} if built else {})}


def main(argv: list[str]) -> int:
    """The detached process: ``python -m lossledger.report.background HOME WAREHOUSE FD``."""
    home, warehouse, descriptor = Path(argv[0]), Path(argv[1]), int(argv[2])
    try:
        outcome = _refresh(home, warehouse)
        outcome["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        target = outcome_file(home)
        aside = target.with_name(f"{target.name}.tmp")
        aside.write_text(json.dumps(outcome), encoding="utf-8")
        aside.replace(target)
    finally:
        with contextlib.suppress(OSError):
            os.close(descriptor)  # the lock: waiters go on
    return 0 if outcome["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
