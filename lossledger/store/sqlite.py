"""The embedded default event store: one SQLite file (stdlib ``sqlite3``)."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

from lossledger.store.base import (
    GENESIS_HASH,
    AppendResult,
    EventStore,
    PendingRow,
    RunRecord,
    StoreError,
)
from lossledger.store.events import DomainEvent, RecordedEvent, utc_now

__all__ = ["SQLiteEventStore"]

_MARKER = "lossledger-event-store"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('format', '{_MARKER}'), ('schema_version', '1');
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    content_sha256 TEXT UNIQUE,
    payload TEXT NOT NULL,
    body BLOB,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_recorded_at ON events (recorded_at);
-- Decisions and fetch failures are read by kind on every run: a few rows among many reports.
CREATE INDEX IF NOT EXISTS events_kind_seq ON events (kind, seq);
CREATE TRIGGER IF NOT EXISTS events_refuse_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'lossledger events are immutable: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_refuse_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'lossledger events are immutable: DELETE refused'); END;
-- INSERT OR REPLACE (and REPLACE) deletes the row it collides with without firing the DELETE
-- trigger; refusing any insert that collides, or that is not the next seq, closes that door.
CREATE TRIGGER IF NOT EXISTS events_refuse_replace BEFORE INSERT ON events
WHEN EXISTS (SELECT 1 FROM events WHERE seq = NEW.seq OR event_id = NEW.event_id
             OR content_sha256 = NEW.content_sha256)
BEGIN SELECT RAISE(ABORT, 'lossledger events are immutable: REPLACE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_refuse_out_of_sequence BEFORE INSERT ON events
WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM events)
BEGIN SELECT RAISE(ABORT, 'lossledger events are immutable: insert out of sequence refused');
END;
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    watermark_before INTEGER NOT NULL,
    watermark_after INTEGER NOT NULL,
    summary TEXT NOT NULL
);
"""
_COLUMNS = "seq, event_id, kind, recorded_at, content_sha256, payload, {body}, prev_hash, hash"


class SQLiteEventStore(EventStore):
    """The event log in a single SQLite file, safe for several processes on one machine."""

    def __init__(
        self, path: Path, *, timeout_s: float = 60.0, read_only: bool = False
    ) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        _refuse_foreign_file(self.path)
        # A store we may not write (a read-only home, another user's file) is still readable.
        self.read_only = read_only or (self.path.exists() and not _writable(self.path))
        if self.read_only:
            self._db = _connect_read_only(self.path, timeout_s)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
        except (OSError, sqlite3.OperationalError) as exc:
            raise StoreError(f"cannot open or create the event store {self.path}: {exc}") from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
            _ensure_schema(self._db)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(_database_problem(self.path, exc)) from exc

    @classmethod
    def from_url(cls, url: str, *, read_only: bool = False) -> Self:
        prefix = "sqlite:///"
        if not url.startswith(prefix):
            raise StoreError(f"expected sqlite:///PATH, got {url!r}")
        return cls(Path(url.removeprefix(prefix)), read_only=read_only)

    def append(self, events: Sequence[DomainEvent]) -> AppendResult:
        if self.read_only:
            raise StoreError(f"the event store {self.path} is read-only here: cannot append")
        try:
            return self._append(events)
        except sqlite3.OperationalError as exc:
            # "database or disk is full", "attempt to write a readonly database", I/O errors.
            raise StoreError(_database_problem(self.path, exc)) from exc

    def _append(self, events: Sequence[DomainEvent]) -> AppendResult:
        rows = [PendingRow.of(event) for event in events]
        recorded: list[RecordedEvent] = []
        duplicates: list[tuple[DomainEvent, str]] = []
        wanted = sorted({r.content_sha256 for r in rows if r.content_sha256 is not None})
        with self._write_transaction() as db:
            seq, prev_hash = _head_link(db)
            # The contents the log holds already, asked once for the batch (not once a row),
            # and one time of recording for the batch, as one transaction records it.
            holders = _holders(db, wanted)
            recorded_at = utc_now().isoformat()
            inserts: list[tuple[Any, ...]] = []
            for event, row in zip(events, rows, strict=True):
                if row.content_sha256 is not None and row.content_sha256 in holders:
                    duplicates.append((event, holders[row.content_sha256]))
                    continue
                seq += 1
                link = row.link(seq=seq, recorded_at=recorded_at, prev_hash=prev_hash)
                values = (seq, row.event_id, row.kind, recorded_at, row.content_sha256,
                          row.payload, row.body, prev_hash, link)
                inserts.append(values)
                recorded.append(_recorded(values))
                if row.content_sha256 is not None:
                    holders[row.content_sha256] = row.event_id
                prev_hash = link
            try:
                db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", inserts)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"append refused: {exc}") from exc
        return AppendResult(tuple(recorded), tuple(duplicates))

    def read(
        self,
        *,
        after: int = 0,
        upto: int | None = None,
        kinds: Iterable[str] | None = None,
        with_body: bool = True,
    ) -> Iterator[RecordedEvent]:
        sql = f"SELECT {_COLUMNS.format(body='body' if with_body else 'NULL')} FROM events "
        sql += "WHERE seq > ? AND seq <= ?"
        params: list[Any] = [after, upto if upto is not None else 2**62]
        if kinds is not None:
            kinds = list(kinds)
            sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
            params += kinds
        cursor = self._db.execute(sql + " ORDER BY seq", params)
        while batch := cursor.fetchmany(512):
            yield from map(_recorded, batch)

    def head(self) -> int:
        return self._db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]

    def seq_at(self, moment: dt.datetime) -> int:
        row = self._db.execute(
            "SELECT coalesce(max(seq), 0) FROM events WHERE recorded_at <= ?",
            (moment.astimezone(dt.UTC).isoformat(),),
        ).fetchone()
        return row[0]

    def count_by_kind(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT kind, count(*) FROM events GROUP BY kind"))

    def lock(self, name: str, *, on_wait: Any = None) -> AbstractContextManager[None]:
        return _file_lock(self.path.with_name(f"{self.path.name}.{name}.lock"), on_wait)

    def record_run(self, run: RunRecord) -> None:
        if self.read_only:
            raise StoreError(f"the event store {self.path} is read-only here: cannot record a run")
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                run.as_row(),
            )
        except sqlite3.OperationalError as exc:
            raise StoreError(_database_problem(self.path, exc)) from exc

    def last_run(self) -> RunRecord | None:
        row = self._db.execute(
            "SELECT * FROM runs ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        return None if row is None else RunRecord.from_row(row)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write_transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so the head we chain to cannot move.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def _writable(path: Path) -> bool:
    """Whether we may write the database and create its journal files beside it."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def _connect_read_only(path: Path, timeout_s: float) -> sqlite3.Connection:
    """A connection that writes nothing: ``mode=ro``, else ``immutable=1`` when even the
    WAL's shared-memory file cannot be created (a read-only directory)."""
    if not path.exists():
        raise StoreError(f"no event store at {path}")
    uri = f"file:{quote(str(path.resolve()))}"
    problem: Exception | None = None
    for options in ("mode=ro", "mode=ro&immutable=1"):
        try:
            db = sqlite3.connect(f"{uri}?{options}", uri=True, timeout=timeout_s,
                                 isolation_level=None)
            _check_marker(db)
            return db
        except sqlite3.DatabaseError as exc:
            problem = exc
    raise StoreError(_database_problem(path, problem))


def _database_problem(path: Path, exc: Exception | None) -> str:
    text = str(exc)
    if "full" in text:
        return f"the disk holding {path} is full ({text}); free some space and run again"
    if "readonly" in text or "read-only" in text:
        return f"the event store {path} is read-only here ({text})"
    if "file is not a database" in text or "malformed" in text:
        return f"{path} is not a lossledger event store ({text})"
    return f"event store {path}: {text}"


def _check_marker(db: sqlite3.Connection) -> None:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "meta" not in tables:
        raise StoreError("database has no lossledger marker")
    marker = db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
    if marker is None or marker[0] != _MARKER:
        raise StoreError("database is not marked as a lossledger event store")


def _refuse_foreign_file(path: Path) -> None:
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a lossledger event store")
    if path.exists() and path.stat().st_size > 0:
        with path.open("rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                raise StoreError(f"{path} is not a lossledger event store (not SQLite)")


def _ensure_schema(db: sqlite3.Connection) -> None:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and "meta" not in tables:
        raise StoreError("database has tables but no lossledger marker")
    if "meta" in tables:
        marker = db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        if marker is None or marker[0] != _MARKER:
            raise StoreError("database is not marked as a lossledger event store")
    db.executescript(_SCHEMA)


def _head_link(db: sqlite3.Connection) -> tuple[int, str]:
    row = db.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, GENESIS_HASH) if row is None else (row[0], row[1])


#: Contents asked about in one query (SQLite allows 32,766 parameters; fewer keep it cheap).
_HOLDERS_AT_ONCE = 500


def _holders(db: sqlite3.Connection, content_sha256s: Sequence[str]) -> dict[str, str]:
    """The event holding each of ``content_sha256s`` that the log has (content -> event id)."""
    found: dict[str, str] = {}
    for start in range(0, len(content_sha256s), _HOLDERS_AT_ONCE):
        chunk = content_sha256s[start:start + _HOLDERS_AT_ONCE]
        found.update(db.execute(
            "SELECT content_sha256, event_id FROM events WHERE content_sha256 IN "
            f"({', '.join('?' * len(chunk))})", chunk))
    return found


def _recorded(row: Sequence[Any]) -> RecordedEvent:
    seq, event_id, kind, recorded_at, content_sha256, payload, body, prev_hash, link = row
    if isinstance(body, str):  # only a tampered row holds text here; let verify() see it
        body = body.encode()
    return RecordedEvent(
        seq, event_id, kind, dt.datetime.fromisoformat(recorded_at), content_sha256,
        payload, bytes(body) if body is not None else None, prev_hash, link,
    )


@contextmanager
def _file_lock(path: Path, on_wait: Any) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
