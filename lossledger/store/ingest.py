"""Ingest: raw report files into ReportReceived events, as received, byte for byte."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lossledger.store.base import EventStore
from lossledger.store.events import ReportReceived

__all__ = [
    "IngestError",
    "IngestSummary",
    "ReportFile",
    "ReportFiles",
    "Skipped",
    "ingest_files",
    "printable_name",
    "read_regular_file",
    "report_files",
    "validate_source",
]

#: File suffix -> media type recorded on the event (parsers detect the format from content).
MEDIA_TYPES = {
    ".json": "application/json",
    ".csv": "text/csv",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
}


class IngestError(Exception):
    """A path or source name given to ingest that cannot be used."""


#: Events appended per transaction at most, by count and by raw bytes (memory stays bounded
#: however large the files are).
BATCH_FILES = 2_048
BATCH_BYTES = 64_000_000

_SOURCE_MAX_CHARS = 200


def validate_source(name: str) -> str:
    """A source name, checked: a short, printable name that can be one path segment.

    Raises
    ------
    IngestError
        Saying why the name cannot be a source.

    Examples
    --------
    >>> validate_source("ticker.en")
    'ticker.en'
    >>> validate_source("a/b")
    Traceback (most recent call last):
    ...
    lossledger.store.ingest.IngestError: invalid source name 'a/b': it contains '/'
    """
    reason = None
    if not name.strip():
        reason = "it is empty"
    elif name != name.strip():
        reason = "it starts or ends with white space"
    elif name in (".", ".."):
        reason = "it is a path, not a name"
    elif "/" in name or "\\" in name:
        reason = f"it contains {'/' if '/' in name else chr(92)!r}"
    elif any(not ch.isprintable() for ch in name):
        bad = next(ch for ch in name if not ch.isprintable())
        reason = f"it contains the control character U+{ord(bad):04X}"
    elif len(name) > _SOURCE_MAX_CHARS:
        reason = f"it is {len(name)} characters long (at most {_SOURCE_MAX_CHARS})"
    if reason is not None:
        raise IngestError(f"invalid source name {name!r}: {reason}")
    return name


def printable_name(name: str) -> str:
    r"""A file or directory name as text that can be stored and shown: bytes that are not
    UTF-8 (kept by Python as surrogates) become ``\xNN`` escapes, control characters
    ``\uNNNN`` ones.

    >>> printable_name("caf\udce9.txt")
    'caf\\xe9.txt'
    >>> printable_name("a\nb")
    'a\\u000ab'
    """
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


@dataclass(frozen=True, slots=True)
class ReportFile:
    """A file to ingest and the source it comes from (``None``: known by its format)."""

    path: Path
    source: str | None


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry that was not ingested, and why."""

    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass(slots=True)
class IngestSummary:
    """What an ingest did."""

    files: int = 0
    new: int = 0
    duplicates: int = 0
    event_ids: list[str] = field(default_factory=list)
    duplicate_files: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    """Entries that could not be read (named with the reason); every other file was read."""

    def as_dict(self) -> dict[str, Any]:
        """Counts, and ``skipped`` (path and reason of each) when an entry was skipped."""
        counts: dict[str, Any] = {
            "files": self.files, "new": self.new, "duplicates": self.duplicates
        }
        if self.skipped:
            counts["skipped"] = [entry.as_dict() for entry in self.skipped]
        return counts


class ReportFiles(list[ReportFile]):
    """The files found to ingest, and the entries found that cannot be (``skipped``)."""

    skipped: list[Skipped]

    def __init__(self, files: Iterable[ReportFile] = (), skipped: Iterable[Skipped] = ()):
        super().__init__(files)
        self.skipped = list(skipped)


def report_files(paths: Iterable[Path | str], *, source: str | None = None) -> ReportFiles:
    """Every report file under ``paths`` (recursively, hidden files skipped), in a stable order.

    Without ``source``, a file in a sub-directory of a given directory takes that
    sub-directory's name as its source (``inbox/<source>/<report>``). Entries that cannot be
    walked (an unreadable directory, a symbolic link to a directory) are listed in the
    result's ``skipped`` with the reason; whether a file can be read is found when it is.

    Raises
    ------
    IngestError
        When ``source`` is not a valid name, or a path given does not exist.
    """
    if source is not None:
        validate_source(source)
    found = ReportFiles()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files, skipped = _files_under(path)
            found += (ReportFile(f, source or _source_below(path, f)) for f in files)
            found.skipped += skipped
        elif os.path.lexists(path):
            found.append(ReportFile(path, source))  # read (or refused) when ingested
        else:
            raise IngestError(f"no such file or directory: {path}")
    return found


def ingest_files(
    store: EventStore,
    files: Sequence[ReportFile],
    *,
    batch_size: int = BATCH_FILES,
    batch_bytes: int = BATCH_BYTES,
    on_progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Append one ReportReceived event per file whose bytes the store does not hold yet.

    Only regular files are read (a FIFO or a device is named and skipped, never opened for
    a blocking read); a file that cannot be read is named with its reason in the summary's
    ``skipped``, and every other file is ingested.
    """
    summary = IngestSummary(files=len(files))
    summary.skipped += getattr(files, "skipped", [])
    pending: list[ReportReceived] = []
    pending_bytes = 0

    def flush() -> None:
        nonlocal pending, pending_bytes
        if pending:
            result = store.append(pending)
            summary.new += len(result.recorded)
            summary.duplicates += len(result.duplicates)
            summary.event_ids += [e.event_id for e in result.recorded]
            summary.duplicate_files += [
                e.file_name for e, _ in result.duplicates  # type: ignore[union-attr]
            ]
        pending, pending_bytes = [], 0

    for file in files:
        try:
            event = _received(file)
        except _Unreadable as problem:
            summary.skipped.append(Skipped(printable_name(str(file.path)), str(problem)))
        else:
            pending.append(event)
            pending_bytes += len(event.body)
            if len(pending) >= batch_size or pending_bytes >= batch_bytes:
                flush()
        if on_progress is not None:
            on_progress(1)
    flush()
    return summary


class _Unreadable(Exception):
    """Why one entry cannot be ingested."""


def _received(file: ReportFile) -> ReportReceived:
    return ReportReceived(
        source=printable_name(file.source) if file.source is not None else None,
        file_name=printable_name(file.path.name),
        media_type=MEDIA_TYPES.get(file.path.suffix.lower(), "application/octet-stream"),
        body=read_regular_file(file.path),
    )


def read_regular_file(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file (symbolic links followed).

    Opened without blocking, then checked: a FIFO, socket or device is refused, never read
    (a FIFO nobody writes to would block forever).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _Unreadable(_os_reason(path, exc)) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _Unreadable(f"not a regular file ({_file_kind(info.st_mode)})")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError as exc:
        raise _Unreadable(_os_reason(path, exc)) from exc
    finally:
        os.close(fd)


def _os_reason(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return "dangling symbolic link"
    if exc.errno == errno.EISDIR:
        return "a directory"
    return exc.strerror or type(exc).__name__


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISDIR, "a directory"))
    return next((name for test, name in kinds if test(mode)), "not a file")


def _files_under(directory: Path) -> tuple[list[Path], list[Skipped]]:
    """Files below ``directory``, hidden ones and those in hidden directories left out, and
    the entries that cannot be walked."""
    found: list[tuple[str, ...]] = []
    skipped: list[Skipped] = []

    def unwalkable(error: OSError) -> None:
        where = printable_name(str(error.filename or directory))
        skipped.append(Skipped(where, f"cannot list the directory: {error.strerror}"))

    for folder, subfolders, names in os.walk(directory, onerror=unwalkable):
        relative = Path(folder).relative_to(directory).parts
        visible = [d for d in subfolders if not d.startswith(".")]
        subfolders[:] = []
        for name in visible:
            path = Path(folder, name)
            if path.is_symlink():
                # Not followed: a link may loop back up the tree, or lead anywhere.
                skipped.append(Skipped(printable_name(str(path)),
                                       "symbolic link to a directory (not followed)"))
            else:
                subfolders.append(name)
        found += ((*relative, name) for name in names if not name.startswith("."))
    # Sorted on path parts, so a directory's files come in the same order on every machine.
    return [directory.joinpath(*parts) for parts in sorted(found)], skipped


def _source_below(root: Path, file: Path) -> str | None:
    parts = file.relative_to(root).parts
    return parts[0] if len(parts) > 1 else None
