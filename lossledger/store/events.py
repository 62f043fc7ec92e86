"""Domain events: plain frozen records of what happened.

A raw report arriving is an event; so is every decision a person makes about the data (an
override, a retraction, the revert of either). Events carry no behaviour: projections read them.
The store wraps each one in a :class:`RecordedEvent` with its position in the log.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

__all__ = [
    "DECISION_KINDS",
    "Decision",
    "DecisionReverted",
    "DomainEvent",
    "FetchFailed",
    "RecordedEvent",
    "ReportReceived",
    "ReportRetracted",
    "TamperedEvent",
    "TotalOverridden",
    "UnreadableEvent",
    "decode_event",
    "event_kinds",
    "new_event_id",
    "utc_now",
]


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC, to the microsecond."""
    return dt.datetime.now(dt.UTC)


def new_event_id() -> str:
    """A fresh, globally unique event id."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportReceived:
    """A raw report, stored exactly as received.

    >>> e = ReportReceived(source="ticker.en", file_name="a.txt", media_type="text/plain",
    ...                    body=b"x")
    >>> e.sha256[:12]
    '2d711642b726'

    A fetched report also says where and when it came from (``metadata``: strings only; see
    :mod:`lossledger.sources`); a file ingested from disk has none, and neither have the
    events stored before the field existed.
    """

    kind: ClassVar[str] = "ReportReceived"
    source: str | None
    file_name: str
    media_type: str
    body: bytes = field(repr=False)
    received_at: dt.datetime = field(default_factory=utc_now)
    event_id: str = field(default_factory=new_event_id)
    metadata: Mapping[str, str] | None = None
    """Provenance of a fetched report: url, final_url, status, content_type, charset, etag,
    last_modified, date (the response's Date header), fetched_at, ..."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def content_key(self) -> str | None:
        """Two events with the same content key are one: the store keeps the first."""
        return self.sha256


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What every decision a person makes carries: why, who, when."""

    reason: str
    actor: str
    received_at: dt.datetime = field(default_factory=utc_now)
    event_id: str = field(default_factory=new_event_id)
    content_key: ClassVar[None] = None
    """Decisions are never duplicates of each other, even with the same words."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TotalOverridden(Decision):
    """A person sets the published total of one category on one date."""

    kind: ClassVar[str] = "TotalOverridden"
    date: dt.date
    category: str
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportRetracted(Decision):
    """A person withdraws a report: its observations leave the consensus."""

    kind: ClassVar[str] = "ReportRetracted"
    target_event_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionReverted(Decision):
    """A person undoes an earlier decision (an override or a retraction)."""

    kind: ClassVar[str] = "DecisionReverted"
    target_event_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchFailed:
    """A source that did not deliver: what was asked, when, and what went wrong.

    >>> e = FetchFailed(source="statistics-api", url="https://example.org/2026-11-24",
    ...                 date=dt.date(2026, 11, 24), status=503, error="HTTP 503", attempts=4)
    >>> e.describe()
    'statistics-api answered 503 on 2026-11-24'
    """

    kind: ClassVar[str] = "FetchFailed"
    source: str
    url: str
    date: dt.date | None
    """The day asked for (a ``{date}`` URL), else the day of the attempt (UTC)."""
    status: int | None
    """The last HTTP status received, ``None`` when no response came (timeout, refused...)."""
    error: str
    attempts: int
    received_at: dt.datetime = field(default_factory=utc_now)
    """When the last attempt failed."""
    event_id: str = field(default_factory=new_event_id)
    content_key: ClassVar[None] = None
    """Every failure is its own event, even when the same URL fails the same way again."""

    def describe(self) -> str:
        """One line for people: ``<source> answered <status> on <date>`` or the error."""
        day = (self.date or self.received_at.date()).isoformat()
        if self.status is not None:
            return f"{self.source} answered {self.status} on {day}"
        return f"{self.source} failed on {day}: {self.error}"


DomainEvent: TypeAlias = (
    ReportReceived | TotalOverridden | ReportRetracted | DecisionReverted | FetchFailed
)

_KINDS: dict[str, type[Any]] = {
    cls.kind: cls
    for cls in (ReportReceived, TotalOverridden, ReportRetracted, DecisionReverted, FetchFailed)
}


#: The kinds of the events that record a person's decision.
DECISION_KINDS: tuple[str, ...] = tuple(
    kind for kind, cls in _KINDS.items() if issubclass(cls, Decision)
)


def event_kinds() -> tuple[str, ...]:
    """The names of every event kind the log may hold."""
    return tuple(_KINDS)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as the store holds it: its place in the log and its hash-chain link."""

    seq: int
    event_id: str
    kind: str
    recorded_at: dt.datetime
    content_sha256: str | None
    payload: str
    """JSON of the event's fields, body excluded."""
    body: bytes | None
    prev_hash: str
    hash: str

    def to_domain(self) -> DomainEvent:
        try:
            return decode_event(self.kind, self.payload, self.body)
        except (ValueError, KeyError, TypeError) as exc:
            raise _unreadable(self, exc) from exc

    def fields(self) -> dict[str, Any]:
        """The payload's fields as stored (body excluded), without rebuilding the event."""
        try:
            return json.loads(self.payload)
        except ValueError as exc:
            raise _unreadable(self, exc) from exc


class UnreadableEvent(ValueError):
    """A stored event that no longer decodes: the store was altered or damaged."""


class TamperedEvent(UnreadableEvent):
    """A stored event whose bytes no longer match its hash: nothing may be built from it."""


def _unreadable(event: RecordedEvent, cause: Exception) -> UnreadableEvent:
    # A plain message argument keeps the exception picklable (Dask, Prefect states).
    return UnreadableEvent(
        f"event seq {event.seq} ({event.kind} {event.event_id}) cannot be read: {cause}; "
        "the store may have been altered (run `lossledger verify`)"
    )


def encode_payload(event: DomainEvent) -> str:
    """The event's fields as canonical JSON (body excluded: the store keeps it as bytes)."""
    fields = {
        f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "body"
    }
    # An event without provenance is stored exactly as before the field existed.
    if fields.get("metadata", ...) is None:
        del fields["metadata"]
    return json.dumps(fields, default=_json_default, sort_keys=True, ensure_ascii=False)


def decode_event(kind: str, payload: str, body: bytes | None) -> DomainEvent:
    """Rebuild a domain event from its stored form."""
    cls = _KINDS[kind]
    fields = json.loads(payload)
    for name in ("received_at",):
        fields[name] = dt.datetime.fromisoformat(fields[name])
    if fields.get("date") is not None:
        fields["date"] = dt.date.fromisoformat(fields["date"])
    if body is not None and kind == ReportReceived.kind:
        fields["body"] = body
    return cls(**fields)


def _json_default(value: object) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot encode {type(value).__name__} in an event payload")
