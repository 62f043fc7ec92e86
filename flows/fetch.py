"""The ``fetch-sources`` flow: every source of ``<home>/sources.toml``, one task each.

Thin by design: the tasks call :mod:`lossledger.sources`. Sources run concurrently in threads
of one process, so the per-host limit of ``sources.toml`` (``per_host``) holds across them.
Only the fetch task (I/O) retries, and only for what a retry may fix: HTTP failures are
already retried inside (transient ones) and recorded as ``FetchFailed`` events, so a task
retry is for the store being unreachable, not for a source saying 404.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from lossledger.config import ConfigError
from lossledger.pipeline import RunSettings
from lossledger.sources.config import SourcesConfig, load_sources
from lossledger.sources.fetch import FetchOutcome, FetchReport, fetch_sources

__all__ = ["fetch_source", "fetch_sources_flow"]


def _worth_retrying(task: Any, task_run: Any, state: Any) -> bool:
    """A configuration error will not pass on retry; the store being busy may."""
    try:
        state.result()
    except ConfigError:
        return False
    except Exception:
        return True
    return True


@task(cache_policy=NO_CACHE)
def read_sources(home: str) -> SourcesConfig:
    """Read and check ``<home>/sources.toml``."""
    return load_sources(Path(home))


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=_worth_retrying,
      cache_policy=NO_CACHE, task_run_name="fetch-{source}")
def fetch_source(
    settings: RunSettings,
    config: SourcesConfig,
    source: str,
    since: dt.date | None,
    until: dt.date | None,
    only: bool,
) -> FetchReport:
    """Fetch one source; its failures become ``FetchFailed`` events, not task failures."""
    logger = get_run_logger()

    def log(outcome: FetchOutcome) -> None:
        day = f" {outcome.date}" if outcome.date else ""
        if outcome.result == "failed":
            logger.warning("%s%s failed after %d attempts: %s", outcome.source, day,
                           outcome.attempts, outcome.error)
        else:
            logger.info("%s%s: %s (%d bytes)", outcome.source, day, outcome.result,
                        outcome.bytes)

    report = fetch_sources(
        settings.home, store_url=settings.store_url, only=source if only else None,
        config=_only(config, source), since=since, until=until, on_outcome=log,
    )
    for name, why in report.skipped.items():
        logger.info("skipped %s: %s", name, why)
    if report.crashed:
        raise RuntimeError("; ".join(f"{k}: {v}" for k, v in report.crashed.items()))
    return report


def _only(config: SourcesConfig, name: str) -> SourcesConfig:
    chosen = tuple(s for s in config.sources if s.name == name)
    return SourcesConfig(chosen, config.user_agent, config.per_host, config.max_redirects,
                         config.max_retry_after_s, config.path)


@flow(name="fetch-sources", task_runner=ThreadPoolTaskRunner(max_workers=16))
def fetch_sources_flow(
    home: str = "data",
    store: str | None = None,
    source: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> dict[str, Any]:
    """Fetch the sources of ``<home>/sources.toml`` into the event log, concurrently.

    Parameters
    ----------
    home
        lossledger home: ``sources.toml``, ``fetch-state.json`` and the default store.
    store
        Event store URL; default: the home's SQLite.
    source
        Only this source (by name).
    since, until
        Days to fetch for ``{date}`` sources (a backfill); default: today (or each
        source's ``since``).
    """
    logger = get_run_logger()
    settings = RunSettings.resolve(home, store=store)
    config = read_sources(str(settings.home))
    names = [config.named(source).name] if source else [s.name for s in config.sources]
    if not names:
        logger.warning("no sources configured in %s; nothing fetched", config.path)
        return {"requests": 0, "sources": 0}
    futures = [
        fetch_source.submit(settings, config, name, since, until, bool(source))
        for name in names
    ]
    total, crashed = FetchReport(), {}
    for name, future in zip(names, futures, strict=True):
        try:
            report = future.result()
        except Exception as exc:  # a failing source never stops the others
            crashed[name] = f"{type(exc).__name__}: {exc}"
            continue
        total.outcomes += report.outcomes
        total.skipped.update(report.skipped)
    total.crashed.update(crashed)
    create_markdown_artifact(key="lossledger-fetch-summary", markdown=_markdown(total))
    logger.info("fetched: %s", total.summary())
    return {**total.as_dict(), "sources": len(names)}


def _markdown(report: FetchReport) -> str:
    lines = ["# Fetch", "", report.summary(), "", "| source | day | result | status | bytes | "
             "attempts | error |", "|---|---|---|---|---|---|---|"]
    for o in report.outcomes:
        lines.append(f"| {o.source} | {o.date or ''} | {o.result} | {o.status or ''} | "
                     f"{o.bytes} | {o.attempts} | {o.error or ''} |")
    lines += [f"| {name} | | skipped | | | | {why} |" for name, why in report.skipped.items()]
    lines += [f"| {name} | | stopped | | | | {err} |" for name, err in report.crashed.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    fetch_sources_flow()
