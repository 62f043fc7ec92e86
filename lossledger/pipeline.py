"""The pipeline's stages as plain functions: each opens what it needs, calls the pure core, writes.

The Prefect flow in ``flows/pipeline.py`` wires these into tasks (retries, caching, artifacts);
nothing here imports Prefect, so every stage runs and tests on its own. Stages take a
:class:`RunSettings` of plain values, so they can run in another process (a Dask worker).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from lossledger._heap import frozen_heap
from lossledger.config import ConfigError, load_policy
from lossledger.parse.cache import (
    FigureCache,
    ParseCache,
    ReconcileCache,
    remove_leftovers,
    wait_for_saves,
)
from lossledger.parse.parsers import PARSERS_FINGERPRINT
from lossledger.parse.registry import Registry, registry_for
from lossledger.parse.stage import DEFAULT_MAX_REPORT_BYTES, parse_events, parse_workers
from lossledger.projection import Previous, WarehouseTables, active_decisions
from lossledger.projection import warehouse_tables as project_warehouse
from lossledger.publish.warehouse import (
    PublishResult,
    WarehouseState,
    clean_leftovers,
    publish_tables,
    read_state,
)
from lossledger.sources.history import fetch_failures
from lossledger.store.base import (
    EventStore,
    StoreError,
    open_store,
    require_intact,
    store_url_for_home,
)
from lossledger.store.events import DECISION_KINDS, ReportReceived

__all__ = [
    "PARSE_BATCH_EVENTS",
    "LogMismatchError",
    "RunPlan",
    "RunSettings",
    "bring_up_to_date",
    "check_events",
    "check_log",
    "parse_range",
    "plan_run",
    "project_tables",
    "publish",
    "run_summary",
    "warehouse_log_problem",
]


class LogMismatchError(StoreError):
    """The event log is behind, or differs from, the log a published warehouse was made from."""


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Where a run reads and writes: plain values, safe to send to another process."""

    home: Path
    store_url: str
    warehouse: Path
    max_report_bytes: int = DEFAULT_MAX_REPORT_BYTES
    """Reports larger than this are stored but quarantined as too large, never parsed."""

    @classmethod
    def resolve(
        cls, home: Path | str | None = None, *, store: str | None = None,
        warehouse: Path | str | None = None, as_of: int | None = None,
        max_report_bytes: int | None = None,
    ) -> RunSettings:
        """Settings from arguments, else ``LOSSLEDGER_HOME``/``LOSSLEDGER_STORE``/
        ``LOSSLEDGER_MAX_REPORT_BYTES``, else defaults.

        A warehouse published ``as_of`` an earlier event goes beside the main one
        (``<home>/warehouse-as-of-N``) unless told otherwise: the main one stays current.
        """
        home_path = Path(home or os.environ.get("LOSSLEDGER_HOME") or "data").resolve()
        store_url = store or os.environ.get("LOSSLEDGER_STORE") or store_url_for_home(home_path)
        if warehouse:
            # Not resolve(): the warehouse is a link to its published version.
            target = Path(os.path.abspath(warehouse))
        elif as_of is not None:
            target = home_path / f"warehouse-as-of-{as_of}"
        else:
            target = home_path / "warehouse"
        limit = max_report_bytes or _max_report_bytes_from_env()
        return cls(home_path, store_url, target, limit)

    def registry(self) -> Registry:
        """The parsers this home reads with (built-in and declared formats), read afresh."""
        return registry_for(self.home, builtin_fingerprint=PARSERS_FINGERPRINT)

    @contextmanager
    def store(self, *, read_only: bool = False) -> Iterator[EventStore]:
        store = open_store(self.store_url, read_only=read_only)
        try:
            yield store
        finally:
            store.close()

    def parse_cache(self, fingerprint: str | None = None) -> ParseCache:
        """The parse cache for the home's parsers (``fingerprint``: their registry's, read
        afresh when omitted) and this run's size limit."""
        limit = self.max_report_bytes
        variant = "" if limit == DEFAULT_MAX_REPORT_BYTES else f"max{limit}"
        return ParseCache(
            self.home, fingerprint or self.registry().fingerprint, variant=variant
        )


def _max_report_bytes_from_env() -> int:
    text = os.environ.get("LOSSLEDGER_MAX_REPORT_BYTES", "").strip().replace("_", "")
    if not text:
        return DEFAULT_MAX_REPORT_BYTES
    if not text.isdigit() or int(text) <= 0:
        raise ConfigError(
            f"LOSSLEDGER_MAX_REPORT_BYTES must be a positive number of bytes, not {text!r}"
        )
    return int(text)


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What a run has to do, decided before it does anything."""

    head: int
    upto: int
    watermark_before: int
    parse_ranges: tuple[tuple[int, int], ...] = field(default=())
    format_errors: tuple[str, ...] = field(default=())
    """One line per declared-format file that could not be used (the others still are)."""

    @property
    def nothing_new(self) -> bool:
        return self.upto == self.watermark_before


#: Events per parse batch for one parsing process (:func:`plan_run`).
PARSE_BATCH_EVENTS = 2_000


def plan_run(
    settings: RunSettings,
    *,
    as_of: int | None = None,
    replay: bool = False,
    batch_size: int | None = None,
) -> RunPlan:
    """Compare the log's head with the published watermark and the parse cache.

    ``replay`` forgets cached parse results (and the settled figures made of them) and
    republishes even if nothing is new; so does a change of parsers since the last publish
    (their fingerprint differs).

    ``batch_size``: events per parse batch (:func:`parse_range`); by default
    :data:`PARSE_BATCH_EVENTS` for each process that parses a batch here
    (:func:`~lossledger.parse.stage.parse_workers`). A batch's processes start and end
    together, and each end costs this process alone some 0.1 s (the frames, the cache): on the
    2-core bench machine the x10 corpus parsed in 17.4 s in batches of 2,000 events and in
    14.4-15.3 s in batches of 4,000-6,000. A run whose batches go to Dask workers, one
    process each, passes :data:`PARSE_BATCH_EVENTS`.
    """
    clean_leftovers(settings.warehouse)
    remove_leftovers(settings.home / "cache")
    registry = settings.registry()
    cache = settings.parse_cache(registry.fingerprint)
    if replay:
        cache.clear()
        FigureCache(settings.home, registry.fingerprint).clear()
    with settings.store() as store:
        head = store.head()
        check_log(settings, store)
        # Parses of events the log no longer holds as they were (a truncated log grown again)
        # are forgotten here, so they are parsed anew.
        cache.prune(store.hash_at)
    upto = head if as_of is None else min(as_of, head)
    state = read_state(settings.warehouse)
    # Published by other parsers: everything must be projected again, even with no new event.
    outdated = state is None or state.parsers != registry.fingerprint
    watermark = -1 if replay or outdated else state.watermark
    start = cache.covered_seq()
    if batch_size is None:
        batch_size = PARSE_BATCH_EVENTS * parse_workers()
    starts = range(start + 1, upto + 1, batch_size)
    ranges = tuple((first, min(first + batch_size - 1, upto)) for first in starts)
    return RunPlan(
        head=head, upto=upto, watermark_before=watermark, parse_ranges=ranges,
        format_errors=registry.errors,
    )


def check_events(settings: RunSettings, *, after: int = 0, upto: int | None = None) -> int:
    """Check every event with ``after < seq <= upto`` against its hashes; return how many.

    The parse stage checks each event before parsing it anyway; checking up front lets the
    command line stop a run on an altered store before it starts anything.

    Raises
    ------
    TamperedEvent
        Naming the first event whose bytes or fields do not match its hash.
    """
    checked = 0
    with settings.store() as store:
        for event in store.read(after=after, upto=upto):
            require_intact(event)
            checked += 1
    return checked


def parse_range(settings: RunSettings, first: int, last: int) -> int:
    """Parse the raw reports with ``first <= seq <= last`` into the parse cache.

    Returns how many reports were parsed.
    """
    registry = settings.registry()
    with settings.store() as store:
        batch = parse_events(
            store.read(after=first - 1, upto=last, kinds=[ReportReceived.kind]),
            parsers=registry.parsers,
            max_report_bytes=settings.max_report_bytes,
        )
        link = store.hash_at(last)
    settings.parse_cache(registry.fingerprint).add(
        batch, first_seq=first, last_seq=last, link=link
    )
    return len(batch)


def project_tables(
    settings: RunSettings, *, upto: int, save_in_background: bool = False
) -> WarehouseTables:
    """The warehouse as the log up to ``upto`` determines it (parse results from the cache).

    The reconciliation of an earlier run (``<home>/cache/reconciled``) lets only the dates the
    newer observations can affect be reconciled again; this run's is kept for the next, and so
    are the settled figures. ``save_in_background``: both are written by threads while the
    caller goes on, for a caller that publishes next (:func:`publish` waits for them, as
    does :func:`~lossledger.parse.cache.wait_for_saves`).

    The garbage collector is off meanwhile (:func:`~lossledger._heap.frozen_heap`): the
    projection leaves few cycles, and collecting took some 30 ms of a new day at x10 (116
    young, 10 middle and one full collection over the run's heap).
    """
    with frozen_heap():
        return _projected_tables(settings, upto=upto, save_in_background=save_in_background)


def _projected_tables(
    settings: RunSettings, *, upto: int, save_in_background: bool
) -> WarehouseTables:
    policy = load_policy(settings.home)
    fingerprint = settings.registry().fingerprint
    memo = ReconcileCache(settings.home, fingerprint, policy)
    figure_cache = FigureCache(settings.home, fingerprint)
    with settings.store() as store:
        decision_events = [
            require_intact(event)
            for event in store.read(upto=upto, kinds=DECISION_KINDS, with_body=False)
        ]
        failures = fetch_failures(store, upto=upto)
        # The chain hashes the two caches check, read here: the caches are then read side by
        # side, with no store (polars reads files without the interpreter's lock).
        hashes = {
            seq: store.hash_at(seq)
            for seq in {*figure_cache.checked_seqs(upto=upto), *memo.checked_seqs(upto=upto)}
        }
        log_hash = store.hash_at(upto)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lossledger-figures") as pool:
        figures_read = pool.submit(figure_cache.load, upto=upto, hash_at=hashes.get)
        cached = memo.load(upto=upto, hash_at=hashes.get)
        settled = figures_read.result()
    decisions = active_decisions(decision_events)
    previous = None
    if cached is not None:
        seq, reconciliation, open_cells = cached
        changed = any(event.seq > seq for event in decision_events)
        previous = Previous(reconciliation, seq, decisions_changed=changed, open_cells=open_cells)
    # No name keeps the parse results alive: the projection frees what it has consumed. The
    # observations of reports with settled figures are not even read.
    tables = project_warehouse(
        settings.parse_cache(fingerprint)
        .load(observations_after=settled.seq if settled is not None else 0)
        .upto(upto),
        decisions, policy=policy, previous=previous, fetch_failures=failures, settled=settled,
    ).validated()
    del settled
    if tables.reconciliation is not None and tables.open_cells is not None:
        memo.save(
            tables.reconciliation, tables.open_cells, seq=upto, log_hash=log_hash,
            background=save_in_background, based_on=None if previous is None else previous.seq,
            totals_kept_until=tables.totals_kept_until,
        )
    figures = tables.figures
    if figures is not None:
        figure_cache.save(
            lambda after: figures.settled_figures(tables.observations, seq=upto, after=after),
            seq=upto, log_hash=log_hash,
            based_on=figures.checked_upto if figures.checked_upto >= 0 else None,
            background=save_in_background,
        )
    return tables


def publish(settings: RunSettings, tables: WarehouseTables, *, watermark: int) -> PublishResult:
    """Publish the tables as a new warehouse version (changed partitions written, the rest
    linked), recording the chain hash of event ``watermark`` beside them."""
    with settings.store() as store:
        log_hash = store.hash_at(watermark)
    try:
        fingerprint = settings.registry().fingerprint
        return publish_tables(
            tables, settings.warehouse, watermark=watermark, parsers=fingerprint,
            log_hash=log_hash, basis=FigureCache(settings.home, fingerprint).key,
        )
    finally:
        # The reconciliation's cache was being written meanwhile (see project_tables).
        wait_for_saves()


def bring_up_to_date(
    settings: RunSettings, *, as_of: int | None = None, publish_tables_too: bool = True
) -> tuple[RunPlan, WarehouseTables]:
    """Every stage after ingest, in this process and in order (no Prefect): plan, parse what
    is new, project, and publish unless told not to. For tests, benches and scripts; the
    flow runs the same stages as tasks."""
    plan = plan_run(settings, as_of=as_of)
    for first, last in plan.parse_ranges:
        parse_range(settings, first, last)
    tables = project_tables(settings, upto=plan.upto, save_in_background=publish_tables_too)
    if publish_tables_too:
        publish(settings, tables, watermark=plan.upto)
    return plan, tables


def check_log(settings: RunSettings, store: EventStore) -> None:
    """Raise :class:`LogMismatchError` if the log is behind or unlike the log the warehouse
    (the target and the home's main one) was published from."""
    for warehouse in dict.fromkeys((settings.warehouse, settings.home / "warehouse")):
        problem = warehouse_log_problem(store, read_state(warehouse), warehouse)
        if problem is not None:
            raise LogMismatchError(f"{problem}; refusing to run")


def warehouse_log_problem(
    store: EventStore, state: WarehouseState | None, warehouse: Path
) -> str | None:
    """What is wrong between the log and the head a warehouse recorded, or ``None``.

    The warehouse state keeps the sequence number and chain hash of the newest event it
    reflects: a log whose head is behind it was truncated, and one whose hash at that event
    differs was rewritten.
    """
    if state is None or state.log_hash is None or state.watermark <= 0:
        return None
    head = store.head()
    if head < state.watermark:
        return (f"the event log was truncated: the warehouse {warehouse} was published from "
                f"events up to seq {state.watermark}, but the log ends at seq {head}; "
                "run `lossledger verify`")
    found = store.hash_at(state.watermark)
    if found != state.log_hash:
        return (f"the event log was rewritten: event seq {state.watermark} is not the one the "
                f"warehouse {warehouse} was published from (chain hash "
                f"{(found or '-')[:12]}, recorded {state.log_hash[:12]}); "
                "run `lossledger verify`")
    return None


def run_summary(
    tables: WarehouseTables, published: PublishResult, *, watermark_before: int
) -> dict[str, object]:
    """Counts for the run's report: quarantine, discrepancies by kind and source, partitions."""
    discrepancies = tables.discrepancies
    new = discrepancies.filter(pl.col("seq") > watermark_before)
    return {
        "reports": tables.reports.height,
        "observations": tables.observations.height,
        "daily_totals": tables.daily_totals.height,
        "quarantined_reports": tables.reports.filter(pl.col("status") == "quarantined").height,
        "quarantine_rows": tables.quarantine.height,
        "discrepancies": _counts(discrepancies, "kind"),
        "discrepancies_by_source": _counts(discrepancies.drop_nulls("source"), "source"),
        "new_discrepancies": new.height,
        "partitions_written": len(published.written),
        "partitions_removed": len(published.removed),
        "partitions_unchanged": published.unchanged,
        "reconciled": tables.reconciled,
        "watermark_before": max(watermark_before, 0),
        "watermark_after": published.watermark,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
    }


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    counted = frame.group_by(column).len().sort(column)
    return dict(zip(counted[column].to_list(), counted["len"].to_list(), strict=True))
