"""Fetching the configured sources with httpx, politely, into the event log.

For each source (:mod:`lossledger.sources.config`) the URLs to ask are planned first: a
``{date}`` URL once per day not yet held (today, the source's ``since`` onwards, or a given
range), any other URL as is. Each request then:

- waits for a slot of its host (``per_host`` requests in flight per host, all sources together);
- is conditional when the URL was fetched before (``If-None-Match`` / ``If-Modified-Since``
  from ``<home>/fetch-state.json``, else from the provenance of the newest event of that URL):
  a ``304`` costs nothing more and records no event;
- follows redirects up to ``max_redirects``, times out after ``timeout_s`` (connecting, each
  read, and the whole body), and streams the body, refusing it past ``max_bytes``;
- is retried with exponential backoff only for transient failures: connection errors and
  timeouts, ``429`` (honouring ``Retry-After``) and ``5xx``; never for other ``4xx``.

A response kept becomes a ``ReportReceived`` event with its provenance (``metadata``); the
same bytes again are a duplicate, as for files. A request that fails for good becomes a
``FetchFailed`` event. One source failing, even crashing, never stops the others.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import mimetypes
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from lossledger.sources.config import KINDS, SourceConfig, SourcesConfig, load_sources
from lossledger.sources.history import FetchHistory, FetchState, read_history
from lossledger.store.base import EventStore, open_store, store_url_for_home
from lossledger.store.events import FetchFailed, ReportReceived, utc_now

__all__ = [
    "FetchOutcome",
    "FetchReport",
    "FetchRequest",
    "HostLimiter",
    "Validators",
    "fetch_source",
    "fetch_sources",
    "make_client",
    "media_type_of",
    "plan_requests",
    "retry_after_seconds",
    "shared_limiter",
]

_OCTET = ("application/octet-stream", "binary/octet-stream", "")
_SUFFIX = {"application/json": ".json", "text/html": ".html", "text/csv": ".csv",
           "text/plain": ".txt"}


class HostLimiter:
    """At most ``per_host`` requests in flight to one host, across every thread using it."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self, host: str) -> Iterator[None]:
        with self._lock:
            semaphore = self._slots.setdefault(host, threading.BoundedSemaphore(self.per_host))
        with semaphore:
            yield


_LIMITERS: dict[int, HostLimiter] = {}
_LIMITERS_LOCK = threading.Lock()
#: The backoff's jitter: a generator of its own, so that a fetch never moves the global
#: ``random`` state (a caller's seeded sequence, or Hypothesis's check of it).
_JITTER = random.Random()


def shared_limiter(per_host: int) -> HostLimiter:
    """The process-wide limiter for ``per_host``: concurrent tasks of one flow share it."""
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault(per_host, HostLimiter(per_host))


@dataclass(frozen=True, slots=True)
class Validators:
    """What makes a request conditional: the ETag and Last-Modified of the last response."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        """
        >>> Validators('"v1"', None).headers()
        {'If-None-Match': '"v1"'}
        """
        found = {}
        if self.etag:
            found["If-None-Match"] = self.etag
        if self.last_modified:
            found["If-Modified-Since"] = self.last_modified
        return found


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One URL to ask for one source (and one day, for a ``{date}`` source)."""

    source: SourceConfig
    url: str
    date: dt.date | None
    validators: Validators = Validators()


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    """What one request came to: ``new``, ``duplicate``, ``unchanged`` (304) or ``failed``."""

    source: str
    url: str
    date: dt.date | None
    result: str
    status: int | None
    bytes: int
    attempts: int
    fetched_at: dt.datetime
    error: str | None = None
    event_id: str | None = None
    """The event recorded (``new``, ``failed``) or already holding the bytes (``duplicate``)."""


@dataclass(slots=True)
class FetchReport:
    """What a fetch did, per request, and which sources it skipped or could not run."""

    outcomes: list[FetchOutcome] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Source name -> why it was not asked (disabled, fetched less than ``every`` ago)."""
    crashed: dict[str, str] = field(default_factory=dict)
    """Source name -> the error that stopped it (its failures are events; this is the rest)."""

    def counts(self) -> dict[str, int]:
        found = {"new": 0, "duplicate": 0, "unchanged": 0, "failed": 0}
        for outcome in self.outcomes:
            found[outcome.result] += 1
        return found

    def as_dict(self) -> dict[str, object]:
        return {**self.counts(), "requests": len(self.outcomes),
                "skipped": dict(self.skipped), "crashed": dict(self.crashed)}

    def summary(self) -> str:
        """One line: ``12 requests: 3 new, 0 duplicate, 8 unchanged, 1 failed``."""
        counts = self.counts()
        line = f"{len(self.outcomes)} requests: " + ", ".join(
            f"{n} {what}" for what, n in counts.items()
        )
        if self.crashed:
            line += f"; {len(self.crashed)} sources stopped by an error"
        return line


# --- planning -------------------------------------------------------------------------------


def plan_requests(
    source: SourceConfig,
    history: FetchHistory,
    state: dict[str, object],
    *,
    today: dt.date,
    since: dt.date | None = None,
    until: dt.date | None = None,
    refresh: bool = False,
) -> list[FetchRequest]:
    """The requests a source needs: every day not yet held, or its one URL.

    >>> from lossledger.sources.history import FetchHistory
    >>> source = SourceConfig(name="api", url="https://h/{date}", since=dt.date(2026, 1, 1))
    >>> plan = plan_requests(source, FetchHistory((), ()), {"urls": {}},
    ...                      today=dt.date(2026, 1, 3))
    >>> [r.url for r in plan]
    ['https://h/2026-01-01', 'https://h/2026-01-02', 'https://h/2026-01-03']
    """
    urls_state: dict[str, dict[str, str]] = state.get("urls", {})  # type: ignore[assignment]
    latest = history.latest_by_url()

    def validators(url: str) -> Validators:
        known = urls_state.get(url)
        if known:
            return Validators(known.get("etag"), known.get("last_modified"))
        if url in latest:
            return Validators(latest[url].etag, latest[url].last_modified)
        return Validators()

    if not source.dated:
        return [FetchRequest(source, source.url, None, validators(source.url))]
    first = since or source.since or today
    last = until or (today if since is None else since)
    held = history.urls_held() | {u for u, s in urls_state.items() if s.get("sha256")}
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    requests = []
    for day in days:
        url = source.url_for(day)
        if url in held and not refresh:
            continue
        requests.append(FetchRequest(source, url, day, validators(url)))
    return requests


# --- one request ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    headers: httpx.Headers
    final_url: str
    body: bytes


class _Failure(Exception):
    """A request that did not give a usable response; ``transient`` ones may be retried."""

    def __init__(self, error: str, *, status: int | None = None, transient: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(error)
        self.error, self.status, self.transient = error, status, transient
        self.retry_after = retry_after


def make_client(config: SourcesConfig) -> httpx.Client:
    """The client every source shares: redirects limited, a clear User-Agent, pooled."""
    return httpx.Client(
        headers={"User-Agent": config.user_agent},
        follow_redirects=True,
        max_redirects=config.max_redirects,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        trust_env=False,
    )


def _get(client: httpx.Client, request: FetchRequest) -> _Response:
    source = request.source
    headers = {**source.headers, **request.validators.headers()}
    deadline = time.monotonic() + source.timeout_s
    try:
        with client.stream("GET", request.url, headers=headers,
                           timeout=source.timeout_s) as response:
            status = response.status_code
            if status == 429 or status >= 500:
                raise _Failure(f"HTTP {status}", status=status, transient=True,
                               retry_after=retry_after_seconds(response.headers))
            if status == 304:
                response.read()  # nothing to read; the connection goes back to the pool
                return _Response(304, response.headers, str(response.url), b"")
            if not 200 <= status < 300:
                raise _Failure(f"HTTP {status}", status=status)
            return _Response(status, response.headers, str(response.url),
                             _read_body(response, source, deadline))
    except httpx.TooManyRedirects:
        raise _Failure(f"too many redirects (more than {client.max_redirects})") from None
    except httpx.TimeoutException as exc:
        raise _Failure(f"timed out after {source.timeout_s:g} s ({type(exc).__name__})",
                       transient=True) from None
    except httpx.TransportError as exc:
        raise _Failure(f"{type(exc).__name__}: {exc}", transient=True) from None
    except httpx.HTTPError as exc:
        raise _Failure(f"{type(exc).__name__}: {exc}") from None


def _read_body(response: httpx.Response, source: SourceConfig, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > source.max_bytes:
        raise _Failure(f"body of {declared} bytes refused (max_bytes {source.max_bytes})",
                       status=response.status_code)
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > source.max_bytes:
            raise _Failure(f"body refused past {source.max_bytes} bytes (max_bytes)",
                           status=response.status_code)
        if time.monotonic() > deadline:
            raise _Failure(f"timed out after {source.timeout_s:g} s (body still arriving)",
                           transient=True)
        chunks.append(chunk)
    return b"".join(chunks)


def retry_after_seconds(headers: httpx.Headers, *, now: dt.datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date).

    >>> retry_after_seconds(httpx.Headers({"Retry-After": "7"}))
    7.0
    >>> retry_after_seconds(httpx.Headers({"Retry-After": "Wed, 25 Nov 2026 10:00:30 GMT"}),
    ...                     now=dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC))
    30.0
    """
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return max(0.0, (moment - (now or utc_now())).total_seconds())


def _attempts(
    client: httpx.Client,
    request: FetchRequest,
    *,
    config: SourcesConfig,
    limiter: HostLimiter,
    sleep: Callable[[float], None],
) -> tuple[_Response | _Failure, int]:
    source, attempt = request.source, 0
    while True:
        attempt += 1
        with limiter.slot(source.host):
            try:
                return _get(client, request), attempt
            except _Failure as failure:
                last = failure
        if not last.transient or attempt > source.retries:
            return last, attempt
        delay = source.backoff_s * 2 ** (attempt - 1) * _JITTER.uniform(0.9, 1.1)
        if last.retry_after is not None:
            if last.retry_after > config.max_retry_after_s:
                last.error += (f"; asked to retry after {last.retry_after:g} s, more than "
                               f"max_retry_after_s ({config.max_retry_after_s:g})")
                return last, attempt
            delay = max(delay, last.retry_after)
        sleep(delay)


# --- what is kept ---------------------------------------------------------------------------


def media_type_of(kind: str, content_type: str | None, body: bytes) -> tuple[str, str]:
    """The media type to record and what it rests on (``kind``, ``content`` or ``server``).

    A declared ``kind`` wins; else bytes that are JSON are JSON whatever the server says;
    else the server's type when it names one; else markup is HTML and the rest text.
    The server's charset is kept as a parameter.

    >>> media_type_of("auto", "text/html; charset=windows-1251", b"<p>x</p>")
    ('text/html; charset=windows-1251', 'server')
    >>> media_type_of("auto", "text/html", b'{"a": 1}')
    ('application/json', 'content')
    >>> media_type_of("auto", None, b"<html></html>")
    ('text/html', 'content')
    """
    declared, charset = _split_content_type(content_type)
    if KINDS.get(kind):
        base, basis = KINDS[kind], "kind"
    elif _is_json(body):
        base, basis = "application/json", "content"
    elif declared not in _OCTET:
        base, basis = declared, "server"
    elif body.lstrip()[:1] == b"<":
        base, basis = "text/html", "content"
    else:
        base, basis = "text/plain", "content"
    return (f"{base}; charset={charset}" if charset else base), basis  # type: ignore[return-value]


def _split_content_type(content_type: str | None) -> tuple[str, str | None]:
    if not content_type:
        return "", None
    base, *params = (part.strip() for part in content_type.split(";"))
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"').lower()
    return base.lower(), charset


def _is_json(body: bytes) -> bool:
    if body.lstrip()[:1] not in (b"{", b"["):
        return False
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _received(
    request: FetchRequest, response: _Response, *, attempts: int, fetched_at: dt.datetime
) -> ReportReceived:
    source = request.source
    content_type = response.headers.get("content-type")
    media_type, basis = media_type_of(source.kind, content_type, response.body)
    _, charset = _split_content_type(content_type)
    metadata = {
        "url": request.url,
        "final_url": response.final_url,
        "status": str(response.status),
        "content_type": content_type,
        "charset": charset,
        "media_type_from": basis,
        "etag": response.headers.get("etag"),
        "last_modified": response.headers.get("last-modified"),
        "date": response.headers.get("date"),
        "fetched_at": fetched_at.isoformat(),
        "requested_date": request.date.isoformat() if request.date else None,
        "attempts": str(attempts),
        "bytes": str(len(response.body)),
    }
    day = (request.date or fetched_at.date()).isoformat()
    base = media_type.split(";", 1)[0]
    suffix = _SUFFIX.get(base) or mimetypes.guess_extension(base) or ".bin"
    return ReportReceived(
        source=source.name,
        file_name=f"{source.name}_{day}{suffix}",
        media_type=media_type,
        body=response.body,
        received_at=fetched_at,
        metadata={k: v for k, v in metadata.items() if v is not None},
    )


# --- a source, and all of them --------------------------------------------------------------


def fetch_source(
    store: EventStore,
    home: Path,
    config: SourcesConfig,
    source: SourceConfig,
    *,
    client: httpx.Client,
    limiter: HostLimiter | None = None,
    today: dt.date | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    refresh: bool = False,
    history: FetchHistory | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_outcome: Callable[[FetchOutcome], None] | None = None,
) -> list[FetchOutcome]:
    """Ask one source for what it has that the log does not, and record what came back.

    Requests of the source run ``per_host`` at a time; events are appended (from this thread)
    as responses arrive, so an interrupted backfill keeps what it fetched.
    """
    limiter = limiter or shared_limiter(config.per_host)
    state = FetchState(home)
    history = history if history is not None else read_history(store)
    requests = plan_requests(
        source, history, state.read(), today=today or utc_now().date(), since=since,
        until=until, refresh=refresh,
    )
    outcomes: list[FetchOutcome] = []
    url_updates: dict[str, dict[str, str]] = {}
    with ThreadPoolExecutor(max_workers=max(1, config.per_host),
                            thread_name_prefix=f"fetch-{source.name}") as pool:
        futures = [
            pool.submit(_attempts, client, r, config=config, limiter=limiter, sleep=sleep)
            for r in requests
        ]
        by_future = dict(zip(futures, requests, strict=True))
        pending = set(futures)
        while pending:
            # Whatever has arrived meanwhile is appended in one transaction.
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            arrived = [(by_future[f], *f.result()) for f in done]
            for outcome in _record(store, arrived, url_updates):
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
    _remember(state, source, outcomes, url_updates)
    return outcomes


def _record(
    store: EventStore,
    arrived: Sequence[tuple[FetchRequest, _Response | _Failure, int]],
    url_updates: dict[str, dict[str, str]],
) -> list[FetchOutcome]:
    now = utc_now()
    events: list[ReportReceived | FetchFailed] = []
    for request, result, attempts in arrived:
        if isinstance(result, _Failure):
            events.append(FetchFailed(
                source=request.source.name, url=request.url, date=request.date or now.date(),
                status=result.status, error=result.error, attempts=attempts, received_at=now,
            ))
        elif result.status != 304:
            events.append(_received(request, result, attempts=attempts, fetched_at=now))
    appended = store.append(events) if events else None
    held_by = {e.event_id: holder for e, holder in appended.duplicates} if appended else {}
    by_request = iter(events)
    outcomes = []
    for request, result, attempts in arrived:
        name, url, day = request.source.name, request.url, request.date
        if isinstance(result, _Failure):
            failed = next(by_request)
            outcomes.append(FetchOutcome(name, url, day, "failed", result.status, 0, attempts,
                                         now, result.error, failed.event_id))
            continue
        if result.status == 304:
            outcomes.append(FetchOutcome(name, url, day, "unchanged", 304, 0, attempts, now))
            continue
        event = next(by_request)
        assert isinstance(event, ReportReceived)
        duplicate_of = held_by.get(event.event_id)
        url_updates[url] = {k: v for k, v in {
            "etag": result.headers.get("etag"),
            "last_modified": result.headers.get("last-modified"),
            "sha256": event.sha256,
        }.items() if v}
        outcomes.append(FetchOutcome(
            name, url, day, "new" if duplicate_of is None else "duplicate", result.status,
            len(result.body), attempts, now, None, duplicate_of or event.event_id,
        ))
    return outcomes


def _remember(
    state: FetchState,
    source: SourceConfig,
    outcomes: Sequence[FetchOutcome],
    url_updates: dict[str, dict[str, str]],
) -> None:
    counts = {"new": 0, "duplicate": 0, "unchanged": 0, "failed": 0}
    for outcome in outcomes:
        counts[outcome.result] += 1
    last = max(outcomes, key=lambda o: o.fetched_at, default=None)
    failed = [o for o in outcomes if o.result == "failed"]
    with state.update() as data:
        data["urls"].update(url_updates)
        data["sources"][source.name] = {
            "at": utc_now().isoformat(),
            "requests": len(outcomes),
            "bytes": sum(o.bytes for o in outcomes),
            "statuses": sorted({o.status for o in outcomes if o.status is not None}),
            "last_result": last.result if last else "nothing to ask",
            "last_error": max(failed, key=lambda o: o.fetched_at).error if failed else None,
            **counts,
        }


def fetch_sources(
    home: Path | str,
    *,
    store_url: str | None = None,
    only: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    refresh: bool = False,
    today: dt.date | None = None,
    config: SourcesConfig | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_outcome: Callable[[FetchOutcome], None] | None = None,
) -> FetchReport:
    """Fetch every enabled source of ``<home>/sources.toml`` (or only one), concurrently.

    Parameters
    ----------
    home
        The lossledger home: its ``sources.toml``, ``fetch-state.json`` and default store.
    store_url
        The event store (default: the home's SQLite store).
    only
        Fetch this source only (by name), even if disabled or fetched recently.
    since, until
        Days to fetch for ``{date}`` sources (``until`` defaults to ``since``); a source
        without ``{date}`` is fetched once as is. Default: today, or the source's ``since``.
    refresh
        Ask again (conditionally) for days already held.
    today
        The day a run counts as today (default: the UTC date).
    """
    home = Path(home)
    config = config or load_sources(home)
    store_url = store_url or store_url_for_home(home.resolve())
    report = FetchReport()
    chosen = [config.named(only)] if only else list(config.sources)
    state = FetchState(home).read()["sources"]
    due: list[SourceConfig] = []
    for source in chosen:
        why = None if only else _not_due(source, state.get(source.name), explicit=bool(since))
        if why:
            report.skipped[source.name] = why
        else:
            due.append(source)
    if not due:
        return report
    with open_store(store_url) as store:
        history = read_history(store)
    limiter = shared_limiter(config.per_host)
    lock = threading.Lock()

    def one(source: SourceConfig) -> list[FetchOutcome]:
        def note(outcome: FetchOutcome) -> None:
            if on_outcome is not None:
                with lock:
                    on_outcome(outcome)

        with open_store(store_url) as store:
            return fetch_source(
                store, home, config, source, client=client, limiter=limiter, today=today,
                since=since, until=until, refresh=refresh, history=history, sleep=sleep,
                on_outcome=note,
            )

    with make_client(config) as client, ThreadPoolExecutor(
        max_workers=len(due), thread_name_prefix="fetch"
    ) as pool:
        futures = {pool.submit(one, source): source for source in due}
        for future in as_completed(futures):
            try:
                report.outcomes += future.result()
            except Exception as exc:  # a failing source never stops the others
                report.crashed[futures[future].name] = f"{type(exc).__name__}: {exc}"
    report.outcomes.sort(key=lambda o: (o.source, o.date or dt.date.min, o.url))
    return report


def _not_due(source: SourceConfig, last: dict[str, object] | None, *, explicit: bool) -> str:
    if not source.enabled:
        return "disabled"
    if explicit or not source.every or not last or not last.get("at"):
        return ""
    at = dt.datetime.fromisoformat(str(last["at"]))
    wait = dt.timedelta(seconds=source.every) - (utc_now() - at)
    if wait > dt.timedelta(0):
        return f"fetched at {at.isoformat(timespec='seconds')}; next after every={source.every:g} s"
    return ""
