"""The ``pipeline`` flow: ingest an inbox, parse, validate, reconcile, publish.

Thin by design: each task calls one stage of ``lossledger.pipeline``; only the I/O tasks retry.
Large frames pass between tasks in memory and are never persisted to Prefect's result store.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.task_runners import ThreadPoolTaskRunner

from lossledger.pipeline import (
    PARSE_BATCH_EVENTS,
    RunPlan,
    RunSettings,
    parse_range,
    plan_run,
    project_tables,
    publish,
    run_summary,
)
from lossledger.projection import WarehouseTables
from lossledger.publish.warehouse import PublishResult
from lossledger.report.run_summary import discrepancy_rows, run_markdown
from lossledger.status import abandon_stale_run, running_record
from lossledger.store.base import RunRecord, StoreError
from lossledger.store.events import UnreadableEvent
from lossledger.store.ingest import IngestError, IngestSummary, ingest_files, report_files

__all__ = ["parse_reports", "pipeline"]

#: Discrepancies emitted as Prefect events per run, at most (the artifact lists them all).
MAX_EMITTED_EVENTS = 200


def _worth_retrying(task: Any, task_run: Any, state: Any) -> bool:
    """Retry I/O that may pass next time; a damaged event or a refused path will not."""
    try:
        state.result()
    except (UnreadableEvent, StoreError, IngestError, NotADirectoryError, FileExistsError):
        return False
    except Exception:
        return True
    return True


RETRYING = {"retries": 2, "retry_delay_seconds": 2, "retry_condition_fn": _worth_retrying}


@task(**RETRYING, cache_policy=NO_CACHE)
def ingest_inbox(settings: RunSettings, inbox: str, source: str | None) -> IngestSummary:
    """Append every report file of the inbox the store does not hold yet."""
    if not Path(inbox).exists():
        # A scheduled run's inbox may not exist yet: an empty inbox, said out loud.
        Path(inbox).mkdir(parents=True)
        get_run_logger().warning("inbox %s did not exist; created it empty", inbox)
    files = report_files([Path(inbox)], source=source)
    with settings.store() as store:
        summary = ingest_files(store, files)
    logger = get_run_logger()
    logger.info("ingested %s: %d new, %d duplicates", inbox, summary.new, summary.duplicates)
    for entry in summary.skipped:
        logger.warning("skipped %s: %s", entry.path, entry.reason)
    return summary


@task(cache_policy=NO_CACHE)
def plan(
    settings: RunSettings, as_of: int | None, replay: bool, batch_size: int | None = None
) -> RunPlan:
    """Decide what the run must do from the log's head, the watermark and the parse cache
    (``batch_size``: events per parse batch; by default a batch feeds every parsing process
    here, see :func:`~lossledger.pipeline.plan_run`)."""
    decided = plan_run(settings, as_of=as_of, replay=replay, batch_size=batch_size)
    for error in decided.format_errors:
        get_run_logger().warning("declared format not used: %s", error)
    return decided


@task(**RETRYING, cache_policy=NO_CACHE)
def parse_batch(settings: RunSettings, first: int, last: int) -> int:
    """Parse one range of raw reports into the parse cache."""
    parsed = parse_range(settings, first, last)
    get_run_logger().info("parsed %d reports (events %d..%d)", parsed, first, last)
    return parsed


@task(cache_policy=NO_CACHE, persist_result=False)
def project(settings: RunSettings, upto: int) -> WarehouseTables:
    """Validate and reconcile: the published tables as the log up to ``upto`` says (its
    caches written while the next task publishes)."""
    return project_tables(settings, upto=upto, save_in_background=True)


@task(**RETRYING, cache_policy=NO_CACHE)
def publish_warehouse(
    settings: RunSettings, tables: WarehouseTables, watermark: int
) -> PublishResult:
    """Write the changed partitions atomically."""
    return publish(settings, tables, watermark=watermark)


@task(cache_policy=NO_CACHE)
def refresh_report(settings: RunSettings, background: bool = False) -> dict[str, Any] | None:
    """Rewrite ``<home>/report/index.html``; a failure is logged, never fails the publish.

    With ``background``, a detached process rewrites it while the run ends
    (:mod:`lossledger.report.background`); the task returns its headline figures at once.
    """
    try:
        if background and _is_home_warehouse(settings):
            from lossledger.report.background import start_refresh
            from lossledger.report.headline import headline

            pid = start_refresh(settings.home, settings.warehouse)
            get_run_logger().info("refreshing the HTML report in the background (pid %d)", pid)
            return {"path": str((settings.home / "report" / "index.html").resolve()),
                    "background": True, "home": str(settings.home.resolve()),
                    "headline": headline(settings.warehouse)}
        from lossledger.report.html import refresh_home_report

        return refresh_home_report(settings.home, settings.warehouse)
    except Exception as exc:  # the data are published; the page is a view of them
        get_run_logger().warning("could not refresh the HTML report: %s", exc)
        return None


def _is_home_warehouse(settings: RunSettings) -> bool:
    return Path(settings.warehouse).resolve() == (Path(settings.home) / "warehouse").resolve()


@task(cache_policy=NO_CACHE)
def summarize_run(
    tables: WarehouseTables,
    published: PublishResult,
    ingested: dict[str, Any] | None,
    watermark_before: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's summary and its new discrepancy rows: all a report needs of the tables."""
    summary = run_summary(tables, published, watermark_before=watermark_before)
    summary["ingested"] = ingested
    return summary, discrepancy_rows(tables.discrepancies, after_seq=watermark_before)


@task(cache_policy=NO_CACHE)
def report_run(
    summary: dict[str, Any],
    new: list[dict[str, Any]],
    report: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Leave the run's summary and new discrepancies as artifacts and Prefect events."""
    if report:
        summary = {**summary, "report": report}
    create_markdown_artifact(key="lossledger-run-summary", markdown=run_markdown(summary))
    if new:
        create_table_artifact(key="lossledger-new-discrepancies", table=new)
    for row in new[:MAX_EMITTED_EVENTS]:
        emit_event(
            event="lossledger.discrepancy.detected",
            resource={
                "prefect.resource.id": f"lossledger.discrepancy.{row['date']}.{row['category']}",
                "prefect.resource.name": f"{row['kind']} {row['category']} {row['date']}",
            },
            payload=row,
        )
    return summary


@flow(name="parse-reports", task_runner=ThreadPoolTaskRunner(max_workers=1))
def parse_reports(settings: RunSettings, ranges: list[tuple[int, int]]) -> int:
    """Parse the given ranges of the log; the task runner decides where (threads or Dask)."""
    futures = [parse_batch.submit(settings, first, last) for first, last in ranges]
    return sum(future.result() for future in futures)


@flow(name="pipeline")
def pipeline(
    home: str = "data",
    inbox: str | None = None,
    source: str | None = None,
    store: str | None = None,
    warehouse: str | None = None,
    as_of: int | None = None,
    replay: bool = False,
    dask_address: str | None = None,
    dask_workers: int = 0,
    fetch: bool = False,
    fetch_since: dt.date | None = None,
    fetch_until: dt.date | None = None,
    ingested: dict[str, Any] | None = None,
    background_report: bool = False,
) -> dict[str, Any]:
    """Fetch the sources (if asked), ingest ``inbox`` (if given), then bring the warehouse up
    to date with the event log.

    Parameters
    ----------
    home
        lossledger home: the default store ``<home>/events.sqlite``, caches, and
        ``<home>/warehouse``.
    inbox
        A directory (or file) of raw reports to ingest first; ``inbox/<source>/...`` names the
        source after the sub-directory.
    source
        Source name for every ingested report (overrides the sub-directory convention).
    store
        Event store URL (``sqlite:///...`` or ``postgresql://...``); default: the home's SQLite.
    warehouse
        Where to publish; default ``<home>/warehouse``.
    as_of
        Publish the warehouse as it was when event ``as_of`` was the newest.
    replay
        Parse every event again with the current parsers and republish.
    dask_address, dask_workers
        Parse on a Dask cluster: an existing scheduler's address, or a local cluster of that
        many workers. Default: in-process.
    fetch
        Fetch the sources of ``<home>/sources.toml`` first (the ``fetch-sources`` flow).
    fetch_since, fetch_until
        Fetch these days of the ``{date}`` sources first (a backfill; implies ``fetch``).
    ingested
        What an ingest made just before this run (the CLI's ``run --inbox``), for the run's
        summary: counts and the entries skipped with their reasons.
    background_report
        Refresh ``<home>/report/index.html`` in a detached process and end the run without
        waiting for it (``lossledger run``; ``lossledger report --wait`` waits for it).
    """
    logger = get_run_logger()
    settings = RunSettings.resolve(home, store=store, warehouse=warehouse, as_of=as_of)
    if fetch or fetch_since or fetch_until:
        # Before the pipeline lock: fetching waits on the web, not on other runs.
        from flows.fetch import fetch_sources_flow

        fetch_sources_flow(home=str(settings.home), store=store, since=fetch_since,
                           until=fetch_until)
    run_id, started = uuid.uuid4().hex, dt.datetime.now(dt.UTC)
    with settings.store() as event_store, event_store.lock(
        "pipeline", on_wait=lambda: logger.warning("another lossledger run holds the lock; waiting")
    ):
        # Holding the lock, no other run is going on: one still recorded as running was killed.
        abandon_stale_run(event_store, lock_held=True)
        if inbox:
            ingested = ingest_inbox(settings, inbox, source).as_dict()
        # On Dask each batch is one worker's (one process each): the batches stay small enough
        # to share out; here a batch is shared by this process's forked workers.
        on_dask = bool(dask_address) or dask_workers > 0
        run_plan = plan(settings, as_of, replay, PARSE_BATCH_EVENTS if on_dask else None)
        if run_plan.nothing_new:
            logger.info("nothing new since event %d; warehouse left as it is", run_plan.upto)
            return {"nothing_new": True, "watermark": run_plan.upto, "ingested": ingested}
        event_store.record_run(running_record(
            run_id, started, watermark_before=max(run_plan.watermark_before, 0),
            upto=run_plan.upto,
        ))
        try:
            summary = _bring_up_to_date(settings, run_plan, ingested, dask_address, dask_workers,
                                        background_report)
        except BaseException as exc:
            event_store.record_run(RunRecord(
                run_id, started, dt.datetime.now(dt.UTC), "failed",
                max(run_plan.watermark_before, 0), run_plan.watermark_before,
                {"error": str(exc)},
            ))
            raise
        event_store.record_run(RunRecord(
            run_id, started, dt.datetime.now(dt.UTC), "completed",
            max(run_plan.watermark_before, 0), run_plan.upto, summary,
        ))
    return summary


def _bring_up_to_date(
    settings: RunSettings,
    run_plan: RunPlan,
    ingested: dict[str, Any] | None,
    dask_address: str | None,
    dask_workers: int,
    background_report: bool = False,
) -> dict[str, Any]:
    if run_plan.parse_ranges and (dask_address or dask_workers > 0):
        parse_reports.with_options(task_runner=_parse_runner(dask_address, dask_workers))(
            settings, list(run_plan.parse_ranges)
        )
    else:
        # In this process, one batch after the other: a subflow would cost seconds of
        # orchestration (its own flow run, heartbeat thread) for no parallelism.
        for first, last in run_plan.parse_ranges:
            parse_batch(settings, first, last)
    tables = project(settings, run_plan.upto)
    published = publish_warehouse(settings, tables, run_plan.upto)
    summary, new = summarize_run(tables, published, ingested, run_plan.watermark_before)
    # The tables are published and summarised: their memory is free before the HTML report
    # reads the warehouse back.
    del tables
    return report_run(summary, new, refresh_report(settings, background_report))


def _parse_runner(dask_address: str | None, dask_workers: int) -> Any:
    if not dask_address and dask_workers <= 0:
        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": dask_workers, "threads_per_worker": 1, "processes": True}
    )


if __name__ == "__main__":
    pipeline()
