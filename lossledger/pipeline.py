"""The pipeline's stages as plain functions: each opens what it needs, calls the pure core, writes.

The Prefect flow in ``flows/pipeline.py`` wires these into tasks (retries, caching, artifacts);
nothing here imports Prefect, so every stage runs and tests on its own. Stages take a
:class:`RunSettings` of plain values, so they can run in another process (a Dask worker).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from lossledger.config import load_policy
from lossledger.parse.cache import ParseCache, ReconcileCache
from lossledger.parse.parsers import PARSERS_FINGERPRINT
from lossledger.parse.stage import parse_events
from lossledger.projection import Previous, WarehouseTables, active_decisions
from lossledger.projection import warehouse_tables as project_warehouse
from lossledger.publish.warehouse import PublishResult, publish_tables, read_state
from lossledger.store.base import EventStore, open_store, store_url_for_home
from lossledger.store.events import DECISION_KINDS, ReportReceived

__all__ = [
    "RunPlan",
    "RunSettings",
    "parse_range",
    "plan_run",
    "project_tables",
    "publish",
    "run_summary",
]


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Where a run reads and writes: plain values, safe to send to another process."""

    home: Path
    store_url: str
    warehouse: Path

    @classmethod
    def resolve(
        cls, home: Path | str | None = None, *, store: str | None = None,
        warehouse: Path | str | None = None, as_of: int | None = None,
    ) -> RunSettings:
        """Settings from arguments, else ``LOSSLEDGER_HOME``/``LOSSLEDGER_STORE``, else defaults.

        A warehouse published ``as_of`` an earlier event goes beside the main one
        (``<home>/warehouse-as-of-N``) unless told otherwise: the main one stays current.
        """
        home_path = Path(home or os.environ.get("LOSSLEDGER_HOME") or "data").resolve()
        store_url = store or os.environ.get("LOSSLEDGER_STORE") or store_url_for_home(home_path)
        if warehouse:
            target = Path(warehouse).resolve()
        elif as_of is not None:
            target = home_path / f"warehouse-as-of-{as_of}"
        else:
            target = home_path / "warehouse"
        return cls(home_path, store_url, target)

    @contextmanager
    def store(self) -> Iterator[EventStore]:
        store = open_store(self.store_url)
        try:
            yield store
        finally:
            store.close()


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What a run has to do, decided before it does anything."""

    head: int
    upto: int
    watermark_before: int
    parse_ranges: tuple[tuple[int, int], ...] = field(default=())

    @property
    def nothing_new(self) -> bool:
        return self.upto == self.watermark_before


def plan_run(
    settings: RunSettings,
    *,
    as_of: int | None = None,
    replay: bool = False,
    batch_size: int = 2_000,
) -> RunPlan:
    """Compare the log's head with the published watermark and the parse cache.

    ``replay`` forgets cached parse results and republishes even if nothing is new; so does a
    change of parsers since the last publish (their fingerprint differs).
    """
    cache = ParseCache(settings.home, PARSERS_FINGERPRINT)
    if replay:
        cache.clear()
    with settings.store() as store:
        head = store.head()
    upto = head if as_of is None else min(as_of, head)
    state = read_state(settings.warehouse)
    # Published by other parsers: everything must be projected again, even with no new event.
    outdated = state is None or state.parsers != PARSERS_FINGERPRINT
    watermark = -1 if replay or outdated else state.watermark
    start = cache.covered_seq()
    starts = range(start + 1, upto + 1, batch_size)
    ranges = tuple((first, min(first + batch_size - 1, upto)) for first in starts)
    return RunPlan(head=head, upto=upto, watermark_before=watermark, parse_ranges=ranges)


def parse_range(settings: RunSettings, first: int, last: int) -> int:
    """Parse the raw reports with ``first <= seq <= last`` into the parse cache.

    Returns how many reports were parsed.
    """
    with settings.store() as store:
        batch = parse_events(
            store.read(after=first - 1, upto=last, kinds=[ReportReceived.kind])
        )
    ParseCache(settings.home, PARSERS_FINGERPRINT).add(batch, first_seq=first, last_seq=last)
    return len(batch)


def project_tables(settings: RunSettings, *, upto: int) -> WarehouseTables:
    """The warehouse as the log up to ``upto`` determines it (parse results from the cache).

    The reconciliation of an earlier run (``<home>/cache/reconciled``) lets only the dates the
    newer observations can affect be reconciled again; this run's is kept for the next.
    """
    policy = load_policy(settings.home)
    memo = ReconcileCache(settings.home, PARSERS_FINGERPRINT, policy)
    cached = memo.load(upto=upto)
    with settings.store() as store:
        decision_events = list(store.read(upto=upto, kinds=DECISION_KINDS, with_body=False))
    decisions = active_decisions(decision_events)
    previous = None
    if cached is not None:
        seq, reconciliation = cached
        changed = any(event.seq > seq for event in decision_events)
        previous = Previous(reconciliation, seq, decisions_changed=changed)
    # No name keeps the parse results alive: the projection frees what it has consumed.
    tables = project_warehouse(
        ParseCache(settings.home, PARSERS_FINGERPRINT).load().upto(upto), decisions,
        policy=policy, previous=previous,
    ).validated()
    memo.save(tables.daily_totals, tables.discrepancies, seq=upto)
    return tables


def publish(settings: RunSettings, tables: WarehouseTables, *, watermark: int) -> PublishResult:
    """Write the tables' changed partitions to the warehouse."""
    return publish_tables(
        tables, settings.warehouse, watermark=watermark, parsers=PARSERS_FINGERPRINT
    )


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
