"""Ingest: raw report files into ReportReceived events, as received, byte for byte."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lossledger.store.base import EventStore
from lossledger.store.events import ReportReceived

__all__ = ["IngestError", "IngestSummary", "ReportFile", "ingest_files", "report_files"]

#: File suffix -> media type recorded on the event (parsers detect the format from content).
MEDIA_TYPES = {
    ".json": "application/json",
    ".csv": "text/csv",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
}


class IngestError(Exception):
    """A path given to ingest that cannot be read."""


@dataclass(frozen=True, slots=True)
class ReportFile:
    """A file to ingest and the source it comes from (``None``: known by its format)."""

    path: Path
    source: str | None


@dataclass(slots=True)
class IngestSummary:
    """What an ingest did."""

    files: int = 0
    new: int = 0
    duplicates: int = 0
    event_ids: list[str] = field(default_factory=list)
    duplicate_files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"files": self.files, "new": self.new, "duplicates": self.duplicates}


def report_files(paths: Iterable[Path | str], *, source: str | None = None) -> list[ReportFile]:
    """Every report file under ``paths`` (recursively, hidden files skipped), in a stable order.

    Without ``source``, a file in a sub-directory of a given directory takes that
    sub-directory's name as its source (``inbox/<source>/<report>``).
    """
    found: list[ReportFile] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(ReportFile(path, source))
        elif path.is_dir():
            found += (
                ReportFile(f, source or _source_below(path, f)) for f in _files_under(path)
            )
        else:
            raise IngestError(f"no such file or directory: {path}")
    return found


def ingest_files(
    store: EventStore,
    files: Sequence[ReportFile],
    *,
    batch_size: int = 2_048,
    on_progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Append one ReportReceived event per file whose bytes the store does not hold yet."""
    summary = IngestSummary(files=len(files))
    for start in range(0, len(files), batch_size):
        batch = files[start : start + batch_size]
        events = [_received(f) for f in batch]
        result = store.append(events)
        summary.new += len(result.recorded)
        summary.duplicates += len(result.duplicates)
        summary.event_ids += [e.event_id for e in result.recorded]
        summary.duplicate_files += [e.file_name for e, _ in result.duplicates]  # type: ignore[union-attr]
        if on_progress is not None:
            on_progress(len(batch))
    return summary


def _received(file: ReportFile) -> ReportReceived:
    try:
        body = file.path.read_bytes()
    except OSError as exc:
        raise IngestError(f"cannot read {file.path}: {exc.strerror}") from exc
    return ReportReceived(
        source=file.source,
        file_name=file.path.name,
        media_type=MEDIA_TYPES.get(file.path.suffix.lower(), "application/octet-stream"),
        body=body,
    )


def _files_under(directory: Path) -> list[Path]:
    """Files below ``directory``, hidden ones and those in hidden directories left out."""
    found: list[tuple[str, ...]] = []
    for folder, subfolders, names in os.walk(directory):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        relative = Path(folder).relative_to(directory).parts
        found += ((*relative, name) for name in names if not name.startswith("."))
    # Sorted on path parts, so a directory's files come in the same order on every machine.
    return [directory.joinpath(*parts) for parts in sorted(found)]


def _source_below(root: Path, file: Path) -> str | None:
    parts = file.relative_to(root).parts
    return parts[0] if len(parts) > 1 else None
