"""File-system helpers shared by the modules that write files (cache, warehouse)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["current_umask", "link_or_copy", "make_readable"]


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows.

    Linux shows it in ``/proc/self/status``; elsewhere it is set and restored at once.

    >>> 0 <= current_umask() <= 0o777
    True
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_readable(path: Path) -> None:
    """Give a file the mode a plain ``open()`` would have (0644 under umask 0022).

    Temporary files (``tempfile``) are created 0600; renamed into place as published files,
    they must be readable by whoever the umask lets read them.
    """
    os.chmod(path, 0o666 & ~current_umask())


def link_or_copy(source: Path | str, target: Path | str) -> None:
    """``target`` as a hard link to ``source``: the same bytes, not written again (a copy on
    another file system, or one without hard links)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
