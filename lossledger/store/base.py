"""The event store: an append-only, hash-chained log behind a narrow interface.

:class:`EventStore` is the contract every backend honours (one module per backend:
``lossledger.store.sqlite``, ``lossledger.store.postgres``); :func:`open_store` picks the
backend from the store URL's scheme. Callers never see SQL.

Guarantees every backend gives:

- one event per distinct content (``content_key``): appending known bytes again adds nothing
  and reports a duplicate, also under concurrent appends;
- gap-free sequence numbers, each event chained to the previous one by hash;
- no UPDATE, DELETE, REPLACE or upsert of an event, and no insert out of sequence (refused by
  the database itself, by triggers);
- :meth:`EventStore.verify` walks the chain and names the first event that does not match;
  :func:`require_intact` checks one event's bytes against its hashes before anything reads it;
- :meth:`EventStore.hash_at` gives the chain hash at any seq, so a copy of the head kept
  elsewhere (the warehouse state) shows whether the log was truncated or rewritten since.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from lossledger.store.events import DomainEvent, RecordedEvent, TamperedEvent, encode_payload

__all__ = [
    "GENESIS_HASH",
    "AppendResult",
    "EventStore",
    "RunRecord",
    "StoreError",
    "VerifyResult",
    "chain_hash",
    "open_store",
    "require_intact",
    "store_url_for_home",
]

GENESIS_HASH = "0" * 64

#: URL scheme -> "module:Class" of the backend; adding a backend is one line here.
BACKENDS: dict[str, str] = {
    "sqlite": "lossledger.store.sqlite:SQLiteEventStore",
    "postgresql": "lossledger.store.postgres:PostgresEventStore",
    "postgres": "lossledger.store.postgres:PostgresEventStore",
}


class StoreError(Exception):
    """A store that cannot be used: missing, not a lossledger store, unreachable."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did: the events it recorded and those it found already there."""

    recorded: tuple[RecordedEvent, ...] = ()
    duplicates: tuple[tuple[DomainEvent, str], ...] = ()
    """Each duplicate with the id of the event that already holds its content."""


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of walking the hash chain."""

    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One pipeline run, kept for ``lossledger status`` (operational, not an event)."""

    run_id: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str
    watermark_before: int
    watermark_after: int
    summary: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> tuple[Any, ...]:
        """The record as a row of the backends' ``runs`` table."""
        finished = self.finished_at.isoformat() if self.finished_at else None
        return (self.run_id, self.started_at.isoformat(), finished, self.status,
                self.watermark_before, self.watermark_after,
                json.dumps(self.summary, default=str))

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Self:
        """The record from a row of the backends' ``runs`` table."""
        run_id, started, finished, status, before, after, summary = row
        return cls(
            run_id, dt.datetime.fromisoformat(started),
            dt.datetime.fromisoformat(finished) if finished else None,
            status, before, after, json.loads(summary),
        )


def chain_hash(
    prev_hash: str,
    *,
    seq: int,
    event_id: str,
    kind: str,
    recorded_at: str,
    content_sha256: str | None,
    payload: str,
    body: bytes | None,
) -> str:
    """The hash linking one event to the previous one.

    >>> chain_hash(GENESIS_HASH, seq=1, event_id="e", kind="K", recorded_at="t",
    ...            content_sha256=None, payload="{}", body=None)[:16]
    'c406ccaf79ef0960'
    """
    body_hash = hashlib.sha256(body).hexdigest() if body is not None else "-"
    parts = (prev_hash, str(seq), event_id, kind, recorded_at, content_sha256 or "-", payload)
    digest = hashlib.sha256("\x1f".join(parts).encode())
    digest.update(body_hash.encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class PendingRow:
    """An event encoded for storage, before the store gives it a place in the log."""

    event_id: str
    kind: str
    content_sha256: str | None
    payload: str
    body: bytes | None

    @classmethod
    def of(cls, event: DomainEvent) -> Self:
        body = getattr(event, "body", None)
        return cls(event.event_id, event.kind, event.content_key, encode_payload(event), body)

    def link(self, *, seq: int, recorded_at: str, prev_hash: str) -> str:
        return chain_hash(
            prev_hash,
            seq=seq,
            event_id=self.event_id,
            kind=self.kind,
            recorded_at=recorded_at,
            content_sha256=self.content_sha256,
            payload=self.payload,
            body=self.body,
        )


class EventStore(ABC):
    """An append-only, hash-chained event log."""

    url: str

    @abstractmethod
    def append(self, events: Sequence[DomainEvent]) -> AppendResult:
        """Record the events in order, atomically; known content is reported, not added."""

    @abstractmethod
    def read(
        self,
        *,
        after: int = 0,
        upto: int | None = None,
        kinds: Iterable[str] | None = None,
        with_body: bool = True,
    ) -> Iterator[RecordedEvent]:
        """Events with ``after < seq <= upto`` in sequence order."""

    @abstractmethod
    def head(self) -> int:
        """The sequence number of the newest event (0 for an empty log)."""

    @abstractmethod
    def seq_at(self, moment: dt.datetime) -> int:
        """The newest sequence number recorded at or before ``moment`` (0 if none)."""

    @abstractmethod
    def count_by_kind(self) -> dict[str, int]:
        """How many events of each kind the log holds."""

    @abstractmethod
    def lock(self, name: str, *, on_wait: Any = None) -> AbstractContextManager[None]:
        """An exclusive lock shared by every process using this store.

        ``on_wait`` is called once (with no arguments) if the lock is held by someone else,
        before waiting for it.
        """

    @abstractmethod
    def record_run(self, run: RunRecord) -> None:
        """Insert or update the operational record of one run."""

    @abstractmethod
    def last_run(self) -> RunRecord | None:
        """The most recently started run, if any."""

    @abstractmethod
    def close(self) -> None: ...

    def hash_at(self, seq: int) -> str | None:
        """The chain hash of event ``seq`` (``GENESIS_HASH`` for 0; ``None`` if there is none).

        With the seq, it pins the whole log up to there: any change to an earlier event, or
        a log cut short and grown again, gives another hash at that seq.
        """
        if seq == 0:
            return GENESIS_HASH
        for event in self.read(after=seq - 1, upto=seq, with_body=False):
            return event.hash
        return None

    def head_link(self) -> tuple[int, str]:
        """The newest event's seq and chain hash (``(0, GENESIS_HASH)`` for an empty log)."""
        head = self.head()
        link = self.hash_at(head)
        return head, link if link is not None else GENESIS_HASH

    def verify(self) -> VerifyResult:
        """Walk the log from the start, recomputing every link of the hash chain."""
        prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
        for event in self.read(with_body=True):
            problem = _link_problem(event, prev_hash=prev_hash, expected_seq=expected_seq)
            if problem is not None:
                return VerifyResult(checked, first_bad_seq=event.seq, problem=problem)
            prev_hash, expected_seq, checked = event.hash, event.seq + 1, checked + 1
        return VerifyResult(checked)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _link_problem(event: RecordedEvent, *, prev_hash: str, expected_seq: int) -> str | None:
    if event.seq != expected_seq:
        return f"sequence jumps from {expected_seq - 1} to {event.seq}"
    if event.prev_hash != prev_hash:
        return "previous-hash link does not match the event before it"
    body_sha = hashlib.sha256(event.body).hexdigest() if event.body is not None else None
    if event.content_sha256 is not None and body_sha not in (None, event.content_sha256):
        return "raw bytes do not match their sha256"
    if _recomputed_hash(event, prev_hash) != event.hash:
        return "event hash does not match its content"
    return None


def require_intact(event: RecordedEvent) -> RecordedEvent:
    """The event, if its raw bytes and fields still match the hashes stored with it.

    Call it on every event before using what it says: a row altered in the database (one
    byte of a report, a source name) raises :class:`TamperedEvent` naming the seq. An event
    read without its body (``with_body=False``) can only be checked if it has none.

    Raises
    ------
    TamperedEvent
        When the bytes or the fields do not match.
    """
    if event.body is not None and event.content_sha256 is not None:
        if hashlib.sha256(event.body).hexdigest() != event.content_sha256:
            raise _tampered(event, "its raw bytes do not match their sha256")
    elif event.content_sha256 is not None:
        return event  # read without its body: verify() checks the rest
    if _recomputed_hash(event, event.prev_hash) != event.hash:
        raise _tampered(event, "its fields do not match its hash")
    return event


def _recomputed_hash(event: RecordedEvent, prev_hash: str) -> str:
    """The chain hash ``event`` should carry after ``prev_hash``, from its stored fields."""
    return chain_hash(
        prev_hash,
        seq=event.seq,
        event_id=event.event_id,
        kind=event.kind,
        recorded_at=event.recorded_at.isoformat(),
        content_sha256=event.content_sha256,
        payload=event.payload,
        body=event.body,
    )


def _tampered(event: RecordedEvent, problem: str) -> TamperedEvent:
    return TamperedEvent(
        f"event seq {event.seq} ({event.kind} {event.event_id}) cannot be read: {problem}; "
        "the event store was altered; nothing was published (run `lossledger verify`)"
    )


def store_url_for_home(home: Path) -> str:
    """The default, embedded store of a lossledger home directory."""
    return f"sqlite:///{(home / 'events.sqlite').resolve()}"


def open_store(url: str, *, read_only: bool = False) -> EventStore:
    """Open (creating if needed) the event store at ``url``.

    ``sqlite:///path/to/events.sqlite`` or ``postgresql://user@host:port/db``. ``read_only``
    opens an existing store without writing anything (for ``verify`` and ``status`` on a
    read-only home); it never creates one.
    """
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    target = BACKENDS.get(scheme)
    if target is None:
        known = ", ".join(sorted(BACKENDS))
        raise StoreError(f"unknown store URL scheme {scheme!r} in {url!r} (known: {known})")
    module_name, _, class_name = target.partition(":")
    backend = getattr(importlib.import_module(module_name), class_name)
    return backend.from_url(url, read_only=read_only)
