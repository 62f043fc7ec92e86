"""Progress on long work: a rich bar on a terminal, plain log lines elsewhere (CI)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

__all__ = ["bar"]

logger = logging.getLogger("lossledger")


@contextmanager
def bar(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; shows a bar on a terminal, else logs about every tenth."""
    if sys.stderr.isatty():
        with Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), transient=True,
        ) as progress:
            task = progress.add_task(description, total=total)
            yield lambda n: progress.advance(task, n)
        return
    done, next_report = 0, max(total // 10, 1)

    def advance(n: int) -> None:
        nonlocal done, next_report
        done += n
        if done >= next_report or done == total:
            print(f"{description}: {done}/{total}", file=sys.stderr, flush=True)
            next_report = done + max(total // 10, 1)

    yield advance
