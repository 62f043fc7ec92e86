"""What was fetched and what failed, read back from the event log (and the fetch state).

Everything here reads: the log's ``ReportReceived`` events that carry fetch provenance, its
``FetchFailed`` events, and ``<home>/fetch-state.json`` (the validators of each URL and each
source's last fetch, including the fetches that changed nothing and so left no event).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from lossledger.store.base import EventStore
from lossledger.store.events import FetchFailed, ReportReceived

__all__ = [
    "FETCH_FAILURES_SCHEMA",
    "FetchHistory",
    "FetchState",
    "explain_gaps",
    "fetch_failures",
    "fetch_failures_on",
    "read_history",
]

FETCH_FAILURES_SCHEMA = pl.Schema({
    "event_id": pl.String,
    "seq": pl.Int64,
    "source": pl.String,
    "url": pl.String,
    "date": pl.Date,
    "status": pl.Int64,
    "error": pl.String,
    "attempts": pl.Int64,
    "failed_at": pl.Datetime("us", "UTC"),
    "detail": pl.String,
})
STATE_FILE = "fetch-state.json"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A report fetched and kept: its event and the provenance that matters for fetching."""

    event_id: str
    seq: int
    source: str | None
    url: str
    etag: str | None
    last_modified: str | None
    fetched_at: str | None
    bytes: int | None


@dataclass(frozen=True, slots=True)
class FetchHistory:
    """The fetch-related part of the log, in sequence order."""

    fetched: tuple[Fetched, ...]
    failures: tuple[tuple[int, FetchFailed], ...]

    def urls_held(self) -> set[str]:
        """Every URL (as asked) whose response the log keeps."""
        return {f.url for f in self.fetched}

    def latest_by_url(self) -> dict[str, Fetched]:
        return {f.url: f for f in self.fetched}


def read_history(store: EventStore) -> FetchHistory:
    """Fetched reports and fetch failures, without reading any report's bytes."""
    fetched: list[Fetched] = []
    failures: list[tuple[int, FetchFailed]] = []
    for recorded in store.read(kinds=[ReportReceived.kind, FetchFailed.kind], with_body=False):
        if recorded.kind == FetchFailed.kind:
            event = recorded.to_domain()
            assert isinstance(event, FetchFailed)
            failures.append((recorded.seq, event))
            continue
        fields = recorded.fields()
        meta = fields.get("metadata") or {}
        if "url" not in meta:
            continue
        size = meta.get("bytes")
        fetched.append(Fetched(
            recorded.event_id, recorded.seq, fields.get("source"), meta["url"],
            meta.get("etag"), meta.get("last_modified"), meta.get("fetched_at"),
            int(size) if size and str(size).isdigit() else None,
        ))
    return FetchHistory(tuple(fetched), tuple(failures))


def _failures(store: EventStore, upto: int | None) -> Iterator[tuple[int, FetchFailed]]:
    for recorded in store.read(kinds=[FetchFailed.kind], upto=upto, with_body=False):
        event = recorded.to_domain()
        assert isinstance(event, FetchFailed)
        yield recorded.seq, event


def fetch_failures(
    store: EventStore,
    *,
    on: dt.date | None = None,
    source: str | None = None,
    upto: int | None = None,
) -> pl.DataFrame:
    """Every ``FetchFailed`` event (of one day, of one source, up to a seq) as a frame.

    ``detail`` is the sentence people read: ``statistics-api answered 503 on 2026-11-24``.
    """
    rows = [
        (e.event_id, seq, e.source, e.url, e.date, e.status, e.error, e.attempts,
         e.received_at, e.describe())
        for seq, e in _failures(store, upto)
        if (on is None or e.date == on) and (source is None or e.source == source)
    ]
    return pl.DataFrame(rows, schema=FETCH_FAILURES_SCHEMA, orient="row")


def fetch_failures_on(store: EventStore, day: dt.date) -> list[FetchFailed]:
    """The fetch failures of one day, oldest first: why a day may be missing.

    For ``explain`` and ``status``; each has :meth:`FetchFailed.describe`.
    """
    return [e for _, e in _failures(store, None) if e.date == day]


def explain_gaps(discrepancies: pl.DataFrame, failures: pl.DataFrame | None) -> pl.DataFrame:
    """Say in each ``gap`` row which fetches of that day failed, and trace it to their events.

    A gap's detail becomes ``no report; statistics-api answered 503 on 2026-11-24`` (every
    failure of the day, each source once, latest first); the failures' event ids join the
    row's lineage and its ``seq`` becomes the highest of them all. Other rows are untouched.

    >>> gaps = pl.DataFrame({"date": [dt.date(2026, 11, 24)], "kind": ["gap"],
    ...                      "detail": ["no report"], "event_ids": [["e1"]], "seq": [3]})
    >>> failed = pl.DataFrame([("f1", 5, "api", "u", dt.date(2026, 11, 24), 503, "HTTP 503", 4,
    ...     None, "api answered 503 on 2026-11-24")], schema=FETCH_FAILURES_SCHEMA, orient="row")
    >>> explain_gaps(gaps, failed).row(0)
    (datetime.date(2026, 11, 24), 'gap', 'no report; api answered 503 on 2026-11-24', ['e1', 'f1'], 5)
    """  # noqa: E501
    if failures is None or failures.is_empty() or discrepancies.is_empty():
        return discrepancies
    per_day = (
        failures.sort("seq", descending=True)
        .unique(["date", "source"], keep="first", maintain_order=True)
        .group_by("date", maintain_order=True)
        .agg(
            pl.col("detail").str.join("; ").alias("_why"),
            pl.col("event_id").alias("_ids"),
            pl.col("seq").max().alias("_seq"),
        )
    )
    columns = discrepancies.columns
    joined = discrepancies.join(per_day, on="date", how="left")
    is_gap = (pl.col("kind") == "gap") & pl.col("_why").is_not_null()
    return joined.with_columns(
        pl.when(is_gap).then(pl.format("{}; {}", "detail", "_why")).otherwise("detail")
        .alias("detail"),
        pl.when(is_gap).then(pl.concat_list("event_ids", "_ids").list.unique().list.sort())
        .otherwise("event_ids").alias("event_ids"),
        pl.when(is_gap).then(pl.max_horizontal("seq", "_seq")).otherwise("seq").alias("seq"),
    ).select(columns)


class FetchState:
    """``<home>/fetch-state.json``: each URL's validators, each source's last fetch.

    Operational, like the ``runs`` table: losing it costs one unconditional request per URL
    (validators fall back to the provenance of the events), never data.
    """

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / STATE_FILE

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"urls": {}, "sources": {}}
        data.setdefault("urls", {})
        data.setdefault("sources", {})
        return data

    @contextlib.contextmanager
    def update(self) -> Iterator[dict[str, Any]]:
        """Read, let the caller change, write back atomically (one writer at a time)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_name(STATE_FILE + ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self.read()
                yield data
                tmp = self.path.with_name(f"{STATE_FILE}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
                tmp.replace(self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
