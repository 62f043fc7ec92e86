"""The shared event store: one PostgreSQL database (psycopg 3).

Same log, same guarantees as :mod:`lossledger.store.sqlite`, for several processes on several
machines. Appends serialise on a transaction-scoped advisory lock, so the head an append chains
to cannot move under it and sequence numbers stay gap-free; the unique constraints on
``content_sha256`` and ``event_id`` are the backstop. ``recorded_at`` is stored as the same ISO
text SQLite stores (the hash chain hashes that string), taken from the server's clock so that
every client agrees on the order of time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict

from lossledger.store.base import (
    GENESIS_HASH,
    AppendResult,
    EventStore,
    PendingRow,
    RunRecord,
    StoreError,
)
from lossledger.store.events import DomainEvent, RecordedEvent

__all__ = ["PostgresEventStore"]

_MARKER = "lossledger-event-store"
_SCHEMA_VERSION = "1"
# Text timestamps compare as text: the "C" collation keeps that byte order whatever the
# database's locale (a linguistic collation may ignore the punctuation in ISO strings).
_SCHEMA = f"""
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO meta VALUES ('format', '{_MARKER}'), ('schema_version', '{_SCHEMA_VERSION}');
CREATE TABLE events (
    seq bigint PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    kind text NOT NULL,
    recorded_at text COLLATE "C" NOT NULL,
    content_sha256 text UNIQUE,
    payload text NOT NULL,
    body bytea,
    prev_hash text NOT NULL,
    hash text NOT NULL
);
CREATE INDEX events_recorded_at ON events (recorded_at);
CREATE INDEX events_kind ON events (kind);
CREATE FUNCTION lossledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'lossledger events are immutable: % refused', TG_OP;
END $$;
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION lossledger_refuse_change();
CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION lossledger_refuse_change();
CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION lossledger_refuse_change();
{{_SEQUENCE_GUARD}}
CREATE TABLE runs (
    run_id text PRIMARY KEY,
    started_at text COLLATE "C" NOT NULL,
    finished_at text,
    status text NOT NULL,
    watermark_before bigint NOT NULL,
    watermark_after bigint NOT NULL,
    summary text NOT NULL
);
"""
# Upserts (ON CONFLICT DO UPDATE) and MERGE fire the UPDATE/DELETE triggers above; an insert
# must also be the next seq, so no row can be slipped in before the head or after a gap.
_SEQUENCE_GUARD = """
CREATE OR REPLACE FUNCTION lossledger_refuse_out_of_sequence() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq IS DISTINCT FROM (SELECT coalesce(max(seq), 0) + 1 FROM events) THEN
        RAISE EXCEPTION 'lossledger events are immutable: insert out of sequence refused';
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER events_refuse_out_of_sequence BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION lossledger_refuse_out_of_sequence();
"""
_SCHEMA = _SCHEMA.replace("{_SEQUENCE_GUARD}", _SEQUENCE_GUARD)
_COLUMNS = "seq, event_id, kind, recorded_at, content_sha256, payload, {body}, prev_hash, hash"
_INSERT = "INSERT INTO events VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
# The newest event's link and the server's clock, read after the append lock is held.
_HEAD_LINK = """
SELECT e.seq, e.hash, e.recorded_at, clock_timestamp()
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (SELECT seq, hash, recorded_at FROM events ORDER BY seq DESC LIMIT 1) AS e
    ON true
"""
_HOLDERS = "SELECT content_sha256, event_id FROM events WHERE content_sha256 = ANY(%s)"
_READ_BATCH = 500
_CONNECT_TIMEOUT_S = 10


class PostgresEventStore(EventStore):
    """The event log in one PostgreSQL database (its current schema), shared by many processes.

    Parameters
    ----------
    url
        ``postgresql://user[:password]@host[:port]/dbname[?param=value]``; any libpq
        parameter is accepted. The database must exist; the store creates its tables.
    """

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        self.url = url
        self.read_only = read_only
        self._conninfo = _libpq_url(url)
        self._db = _connect(self._conninfo)
        try:
            if read_only:
                self._db.execute("SET default_transaction_read_only = on")
            self._schema = _ensure_schema(self._db, read_only=read_only)
        except BaseException:
            self._db.close()
            raise
        self._append_key = _lock_key(self._schema, "append")

    @classmethod
    def from_url(cls, url: str, *, read_only: bool = False) -> Self:
        scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
        if scheme not in ("postgresql", "postgres"):
            raise StoreError(f"expected postgresql://USER@HOST:PORT/DB, got {_redact(url)!r}")
        return cls(url, read_only=read_only)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_redact(self.url)!r})"

    def append(self, events: Sequence[DomainEvent]) -> AppendResult:
        if self.read_only:
            raise StoreError(f"the event store {_redact(self.url)} is opened read-only: "
                             "cannot append")
        if not events:
            return AppendResult()
        rows = [PendingRow.of(event) for event in events]
        try:
            return self._append_locked(events, rows)
        except errors.UniqueViolation as exc:
            # Unreachable for content or seq while every writer takes the append lock; left
            # is an event id appended twice, which is the caller's bug, not a duplicate report.
            raise StoreError(f"append refused: {exc.diag.message_detail or exc}") from exc

    def read(
        self,
        *,
        after: int = 0,
        upto: int | None = None,
        kinds: Iterable[str] | None = None,
        with_body: bool = True,
    ) -> Iterator[RecordedEvent]:
        # Keyset pages rather than a server-side cursor: no transaction stays open while the
        # caller iterates (a cursor would need one, and an append made meanwhile on this
        # connection would then not commit until the iteration ended). Fixing ``upto`` first
        # makes the pages one consistent prefix of the log: appends commit in seq order.
        upto = self.head() if upto is None else upto
        kinds = list(kinds) if kinds is not None else None
        sql = f"SELECT {_COLUMNS.format(body='body' if with_body else 'NULL::bytea')} "
        sql += "FROM events WHERE seq > %s AND seq <= %s"
        if kinds is not None:
            sql += " AND kind = ANY(%s)"
        sql += f" ORDER BY seq LIMIT {_READ_BATCH}"
        last = after
        while last < upto:
            params: list[Any] = [last, upto] + ([kinds] if kinds is not None else [])
            # Binary results: bytea arrives as raw bytes, not as hex text twice its size.
            with self._db.cursor(binary=True) as cursor:
                batch = cursor.execute(sql, params).fetchall()
            yield from map(_recorded, batch)
            if len(batch) < _READ_BATCH:
                return
            last = batch[-1][0]

    def head(self) -> int:
        return self._scalar("SELECT coalesce(max(seq), 0) FROM events")

    def seq_at(self, moment: dt.datetime) -> int:
        return self._scalar(
            "SELECT coalesce(max(seq), 0) FROM events WHERE recorded_at <= %s",
            (moment.astimezone(dt.UTC).isoformat(),),
        )

    def count_by_kind(self) -> dict[str, int]:
        rows = self._db.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall()
        return {kind: count for kind, count in rows}

    def lock(self, name: str, *, on_wait: Any = None) -> AbstractContextManager[None]:
        return _advisory_lock(self._conninfo, _lock_key(self._schema, f"lock:{name}"), on_wait)

    def record_run(self, run: RunRecord) -> None:
        self._db.execute(
            """
            INSERT INTO runs VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (run_id) DO UPDATE SET
                started_at = excluded.started_at, finished_at = excluded.finished_at,
                status = excluded.status, watermark_before = excluded.watermark_before,
                watermark_after = excluded.watermark_after, summary = excluded.summary
            """,
            run.as_row(),
        )

    def last_run(self) -> RunRecord | None:
        row = self._db.execute(
            "SELECT * FROM runs ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        return None if row is None else RunRecord.from_row(row)

    def close(self) -> None:
        self._db.close()

    def _append_locked(
        self, events: Sequence[DomainEvent], rows: list[PendingRow]
    ) -> AppendResult:
        recorded: list[RecordedEvent] = []
        duplicates: list[tuple[DomainEvent, str]] = []
        wanted = sorted({r.content_sha256 for r in rows if r.content_sha256 is not None})
        # Pipelined: lock, head and known content go out in one round trip, the inserts and
        # COMMIT in a second. Each statement still takes its own READ COMMITTED snapshot once
        # the one before it has finished, so the head is read after the lock was granted and
        # sees every append that committed before ours.
        with self._db.pipeline(), self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s::bigint)", (self._append_key,))
            head = self._db.execute(_HEAD_LINK)
            known = self._db.execute(_HOLDERS, (wanted,))
            seq, prev_hash, recorded_at = _head_link(head.fetchone())
            holders: dict[str, str] = dict(known.fetchall())
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
            if inserts:
                self._db.cursor().executemany(_INSERT, inserts)
        return AppendResult(tuple(recorded), tuple(duplicates))

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._db.execute(sql, params).fetchone()
        assert row is not None
        return row[0]


def _libpq_url(url: str) -> str:
    """The URL libpq accepts: ``postgresql+psycopg://`` and friends lose the driver suffix."""
    scheme, rest = url.split(":", 1)
    return f"postgresql:{rest}" if "+" in scheme or scheme.lower() == "postgres" else url


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _connect(conninfo: str) -> psycopg.Connection[Any]:
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise StoreError(f"invalid PostgreSQL URL: {str(exc).strip()}") from exc
    timeout = {} if "connect_timeout" in params else {"connect_timeout": _CONNECT_TIMEOUT_S}
    try:
        db = psycopg.connect(conninfo, autocommit=True, **timeout)
    except psycopg.OperationalError as exc:
        raise StoreError(_connect_problem(params, exc)) from exc
    # Explicit, whatever the server's default: the append relies on per-statement snapshots.
    db.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
    # clock_timestamp() must come back in UTC, the zone every recorded_at is written in.
    db.execute("SET TIME ZONE 'UTC'")
    return db


def _connect_problem(params: dict[str, Any], exc: Exception) -> str:
    host = params.get("host") or params.get("hostaddr") or "the default socket"
    where = f"{host}:{params.get('port') or 5432}/{params.get('dbname') or '(default db)'}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # libpq prefixes every reason with where it tried; we say that once, ourselves.
    reason = re.sub(r"^(connection failed: )?(connection to server .*? failed: )?(FATAL: +)?",
                    "", first)
    return f"cannot connect to PostgreSQL at {where}: {reason}"


def _ensure_schema(db: psycopg.Connection[Any], *, read_only: bool = False) -> str:
    """Create the tables on first use; refuse a database that holds someone else's tables."""
    encoding = db.info.parameter_status("server_encoding")
    if encoding != "UTF8":
        # Payloads are arbitrary Unicode; SQL_ASCII would even hand text back as bytes.
        raise StoreError(f"database encoding is {encoding}; lossledger needs UTF8")
    with db.transaction():
        schema = db.execute("SELECT current_schema()").fetchone()[0]
        if schema is None:
            raise StoreError("no schema to create tables in (check search_path)")
        # Two processes opening a fresh database at once must not both create the tables.
        db.execute("SELECT pg_advisory_xact_lock(%s::bigint)", (_lock_key(schema, "schema"),))
        tables = {row[0] for row in db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}
        if tables and "meta" not in tables:
            raise StoreError(f"database schema {schema!r} has tables but no lossledger marker")
        if "meta" in tables:
            _check_marker(db)
            if not read_only:
                _upgrade_schema(db)
        elif read_only:
            raise StoreError(f"no lossledger event store in database schema {schema!r}")
        else:
            _create_schema(db)
    return schema


def _check_marker(db: psycopg.Connection[Any]) -> None:
    marker = dict(db.execute(
        "SELECT key, value FROM meta WHERE key IN ('format', 'schema_version')").fetchall())
    if marker.get("format") != _MARKER:
        raise StoreError("database is not marked as a lossledger event store")
    if marker.get("schema_version") != _SCHEMA_VERSION:
        raise StoreError(f"unsupported lossledger schema version {marker.get('schema_version')}")


def _upgrade_schema(db: psycopg.Connection[Any]) -> None:
    """Add the guards a store created by an older lossledger lacks."""
    present = db.execute(
        "SELECT 1 FROM pg_trigger WHERE tgname = 'events_refuse_out_of_sequence' "
        "AND tgrelid = 'events'::regclass"
    ).fetchone()
    if present is None:
        try:
            db.execute(_SEQUENCE_GUARD)
        except errors.InsufficientPrivilege as exc:
            raise StoreError(f"cannot add the lossledger sequence guard: {exc}") from exc


def _create_schema(db: psycopg.Connection[Any]) -> None:
    try:
        db.execute(_SCHEMA)  # no parameters, so several statements may go in one execute
    except errors.InsufficientPrivilege as exc:
        raise StoreError(f"cannot create the lossledger tables: {exc}") from exc


def _lock_key(schema: str, name: str) -> int:
    """A signed 64-bit advisory-lock key (advisory locks are already per database)."""
    digest = hashlib.sha256(f"lossledger:{schema}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _head_link(row: Any) -> tuple[int, str, str]:
    """The newest seq and hash, and the recorded_at for this append, from ``_HEAD_LINK``.

    The server's clock, so every client agrees; never earlier than the newest event, so
    ``seq_at`` stays monotonic even if that clock steps back.
    """
    seq, link, last_at, now = row
    moment = now.astimezone(dt.UTC)
    if last_at is not None:
        moment = max(moment, dt.datetime.fromisoformat(last_at))
    if seq is None:
        return 0, GENESIS_HASH, moment.isoformat()
    return seq, link, moment.isoformat()


def _recorded(row: Sequence[Any]) -> RecordedEvent:
    seq, event_id, kind, recorded_at, content_sha256, payload, body, prev_hash, link = row
    return RecordedEvent(
        seq, event_id, kind, dt.datetime.fromisoformat(recorded_at), content_sha256,
        payload, bytes(body) if body is not None else None, prev_hash, link,
    )


@contextmanager
def _advisory_lock(conninfo: str, key: int, on_wait: Any) -> Iterator[None]:
    # A connection of its own: the lock lives exactly as long as it does (a crashed holder
    # frees it), and waiting for it does not stall the store's own connection.
    with _connect(conninfo) as db:
        got = db.execute("SELECT pg_try_advisory_lock(%s::bigint)", (key,)).fetchone()
        if not (got and got[0]):
            if on_wait is not None:
                on_wait()
            db.execute("SELECT pg_advisory_lock(%s::bigint)", (key,))
        try:
            yield
        finally:
            # Closing alone frees the lock too, but only once the server notices; unlocking
            # first means the next holder need not wait. A dead connection holds nothing.
            with suppress(psycopg.OperationalError):
                db.execute("SELECT pg_advisory_unlock(%s::bigint)", (key,))
