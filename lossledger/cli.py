"""The ``lossledger`` command line."""

from __future__ import annotations

import datetime as dt
import errno
import getpass
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from lossledger import _progress
from lossledger._startup import without_data_synthesis
from lossledger.config import ConfigError
from lossledger.parse.ontology import CATEGORY_CODES
from lossledger.pipeline import RunSettings, check_events, plan_run
from lossledger.store.base import EventStore, StoreError
from lossledger.store.events import (
    DecisionReverted,
    RecordedEvent,
    ReportReceived,
    ReportRetracted,
    TotalOverridden,
    UnreadableEvent,
)
from lossledger.store.ingest import IngestError, IngestSummary, ingest_files, report_files

__all__ = ["SHARED_OPTIONS", "app", "hoist_shared_options", "main"]

#: Options every command takes, accepted before the command name too (``git -C`` style).
SHARED_OPTIONS = ("--home", "--store")


def hoist_shared_options(args: list[str], commands: Iterable[str]) -> list[str]:
    """Move shared options given before the command name to just after it.

    ``lossledger --home DIR run`` becomes ``lossledger run --home DIR``; options given after
    the command stay where they are and, coming later, win.

    >>> hoist_shared_options(["--home", "h", "--store=s", "run", "--inbox", "i"], ["run"])
    ['run', '--home', 'h', '--store=s', '--inbox', 'i']
    >>> hoist_shared_options(["--help"], ["run"])
    ['--help']
    """
    leading: list[str] = []
    rest = list(args)
    while rest and rest[0] not in commands:
        option = rest[0]
        if option in SHARED_OPTIONS and len(rest) > 1:
            leading += rest[:2]
            rest = rest[2:]
        elif option.split("=", 1)[0] in SHARED_OPTIONS and "=" in option:
            leading.append(option)
            rest = rest[1:]
        else:
            return args  # something else first: let click say what is wrong
    if not rest:
        return args
    return [rest[0], *leading, *rest[1:]]


class _SharedOptionsGroup(TyperGroup):
    """The command group, accepting ``--home``/``--store`` before the command name."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_shared_options(args, self.commands))

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[--home DIR] [--store URL] COMMAND [ARGS]...")


app = typer.Typer(
    name="lossledger",
    help="Event-sourced pipeline for the daily loss reports. --home and --store may come "
    "before the command or after it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_SharedOptionsGroup,
)
# Not a terminal (a log, CI, a pipe): rich would assume 80 columns and squeeze the tables;
# COLUMNS, when set, still wins.
out = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 132)
err = Console(stderr=True)

HomeOption = Annotated[
    Path, typer.Option("--home", envvar="LOSSLEDGER_HOME", help="lossledger home directory.")
]
StoreOption = Annotated[
    str | None,
    typer.Option("--store", envvar="LOSSLEDGER_STORE",
                 help="Event store URL (default: sqlite:///<home>/events.sqlite)."),
]
_DECISIONS = (TotalOverridden.kind, ReportRetracted.kind)


class UserError(Exception):
    """Something the user can fix; printed as one line, exit status 2."""


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Report files or directories.")],
    source: Annotated[str | None, typer.Option(help="Source name for every file.")] = None,
    home: HomeOption = Path("data"),
    store: StoreOption = None,
) -> None:
    """Store raw reports as events (files or directories, recursively)."""
    _ingest(paths, source=source, home=home, store=store)


def _ingest(
    paths: list[Path], *, source: str | None, home: Path, store: str | None
) -> IngestSummary:
    settings = RunSettings.resolve(home, store=store)
    files = report_files(paths, source=source)
    with settings.store() as event_store, _progress.bar(len(files), "ingesting") as advance:
        summary = ingest_files(event_store, files, on_progress=advance)
    for entry in summary.skipped:
        err.print(f"skipped {entry.path}: {entry.reason}", markup=False, highlight=False,
                  soft_wrap=True)
    skipped = f", {len(summary.skipped)} skipped" if summary.skipped else ""
    out.print(f"{summary.files} files: {summary.new} new, {summary.duplicates} duplicate"
              f"{skipped}")
    return summary


@app.command()
def run(
    inbox: Annotated[Path | None, typer.Option(help="Ingest this directory first.")] = None,
    source: Annotated[str | None, typer.Option(help="Source name for the inbox.")] = None,
    home: HomeOption = Path("data"),
    store: StoreOption = None,
    dask_address: Annotated[str | None, typer.Option(help="Parse on this Dask scheduler.")] = None,
    dask_workers: Annotated[int, typer.Option(help="Parse on a local Dask cluster.")] = 0,
    fetch_first: Annotated[bool, typer.Option(
        "--fetch", help="Fetch the sources of <home>/sources.toml first.")] = False,
    wait_report: Annotated[bool, typer.Option(
        "--wait-report", envvar="LOSSLEDGER_WAIT_REPORT",
        help="Refresh <home>/report/index.html before returning (default: in the background; "
        "`lossledger report --wait` waits for it).")] = False,
) -> None:
    """The main job: ingest the inbox (if given), then publish everything not yet published."""
    settings = RunSettings.resolve(home, store=store)
    if fetch_first:
        from lossledger.sources.cli import run_fetch

        run_fetch(settings.home, store_url=settings.store_url, console=out)
    ingested = None
    if inbox is not None:
        ingested = _ingest([inbox], source=source, home=home, store=store).as_dict()
    run_plan = plan_run(settings)
    for error in run_plan.format_errors:
        err.print(f"declared format not used: {error}")
    if run_plan.nothing_new:
        # Checked before starting Prefect, whose local server alone costs seconds.
        with settings.store() as event_store:
            head = event_store.head()
        out.print(f"nothing new: the warehouse already reflects event {head}")
        return
    if run_plan.parse_ranges:
        _check_events(settings, after=run_plan.parse_ranges[0][0] - 1, upto=run_plan.upto)
    summary = _run_flow(
        home=str(home), store=store, dask_address=dask_address, dask_workers=dask_workers,
        ingested=ingested, background_report=not wait_report,
    )
    _print_summary(summary, settings)


@app.command()
def rebuild(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Sequence number or ISO timestamp: publish what was known then.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Publish here instead.")] = None,
    home: HomeOption = Path("data"),
    store: StoreOption = None,
) -> None:
    """Replay every event through the current parsers and republish."""
    from lossledger.pipeline import check_log

    settings = RunSettings.resolve(home, store=store)
    seq = None
    with settings.store() as event_store:
        check_log(settings, event_store)  # before Prefect's seconds of start-up
        if as_of is not None:
            seq = _as_of_seq(event_store, as_of)
    _check_events(settings, upto=seq)
    summary = _run_flow(
        home=str(home), store=store, warehouse=str(out_dir) if out_dir else None,
        as_of=seq, replay=True,
    )
    _print_summary(summary, RunSettings.resolve(home, store=store, warehouse=out_dir, as_of=seq))


@app.command()
def verify(home: HomeOption = Path("data"), store: StoreOption = None) -> None:
    """Walk the hash chain and compare the log's head with the warehouse's; exit 1 on damage."""
    from lossledger.pipeline import warehouse_log_problem
    from lossledger.publish.warehouse import read_state

    settings = RunSettings.resolve(home, store=store)
    # Read-only: verify works on a read-only home, and never creates a store where none is.
    with settings.store(read_only=True) as event_store:
        result = event_store.verify()
        state = read_state(settings.warehouse)
        head_problem = warehouse_log_problem(event_store, state, settings.warehouse)
    if not result.ok:
        err.print(
            f"[red]verify failed at seq {result.first_bad_seq}:[/] {result.problem} "
            f"({result.checked} events before it are intact)"
        )
        raise typer.Exit(1)
    if head_problem is not None:
        problem = head_problem.removesuffix("; run `lossledger verify`")
        err.print(f"[red]verify failed:[/] {problem}", soft_wrap=True, highlight=False)
        raise typer.Exit(1)
    published = ("" if state is None
                 else f"; the warehouse's recorded head (seq {state.watermark}) matches")
    out.print(f"ok: {result.checked} events, hash chain intact{published}")


@app.command()
def status(home: HomeOption = Path("data"), store: StoreOption = None) -> None:
    """Events, observations, discrepancies, quarantine, the watermark and the last run."""
    from lossledger.status import status_tables

    settings = RunSettings.resolve(home, store=store)
    with settings.store(read_only=True) as event_store:
        for table in status_tables(event_store, settings):
            out.print(table)


@app.command()
def override(
    date: Annotated[str, typer.Argument(help="Report date, YYYY-MM-DD.")],
    category: Annotated[str, typer.Argument(help="Category code, e.g. tanks.")],
    value: Annotated[int, typer.Argument(help="The total to publish.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the log).")],
    home: HomeOption = Path("data"),
    store: StoreOption = None,
) -> None:
    """Set a published total by decision (a TotalOverridden event)."""
    if category not in CATEGORY_CODES:
        raise UserError(f"unknown category {category!r}; known: {', '.join(CATEGORY_CODES)}")
    if value < 0:
        raise UserError("a total cannot be negative")
    decision = TotalOverridden(
        date=_parse_date(date), category=category, total=value, reason=reason, actor=_actor()
    )
    _append_decision(home, store, decision)


@app.command()
def retract(
    event_id: Annotated[str, typer.Argument(help="The report event to withdraw.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the log).")],
    home: HomeOption = Path("data"),
    store: StoreOption = None,
) -> None:
    """Withdraw a report from the consensus (a ReportRetracted event)."""
    with RunSettings.resolve(home, store=store).store() as event_store:
        target = _find_event(event_store, event_id)
    if target.kind != ReportReceived.kind:
        raise UserError(f"event {event_id} is a {target.kind}, not a report")
    _append_decision(home, store, ReportRetracted(
        target_event_id=target.event_id, reason=reason, actor=_actor()))


@app.command()
def revert(
    event_id: Annotated[str, typer.Argument(help="The override or retraction to undo.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the log).")] = "reverted",
    home: HomeOption = Path("data"),
    store: StoreOption = None,
) -> None:
    """Undo a decision with another event (a DecisionReverted event)."""
    with RunSettings.resolve(home, store=store).store() as event_store:
        target = _find_event(event_store, event_id)
        reverted = {
            e.to_domain().target_event_id  # type: ignore[union-attr]
            for e in event_store.read(kinds=[DecisionReverted.kind], with_body=False)
        }
    if target.kind not in _DECISIONS:
        raise UserError(f"event {event_id} is a {target.kind}; only decisions can be reverted")
    if target.event_id in reverted:
        raise UserError(f"decision {event_id} is already reverted")
    _append_decision(home, store, DecisionReverted(
        target_event_id=target.event_id, reason=reason, actor=_actor()))


@app.command()
def explain(
    date: Annotated[str, typer.Argument(help="Report date, YYYY-MM-DD.")],
    category: Annotated[str, typer.Argument(help="Category code, e.g. special_equipment.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
    home: HomeOption = Path("data"),
    store: StoreOption = None,
) -> None:
    """Why a published number is what it is: sources, raw lines, rule, discrepancies."""
    import json

    from lossledger.report._tables import NotPublished
    from lossledger.report.explain import explain_cell, render_explanation

    if category not in CATEGORY_CODES:
        raise UserError(f"unknown category {category!r}; known: {', '.join(CATEGORY_CODES)}")
    settings = RunSettings.resolve(home, store=store)
    try:
        with settings.store() as event_store:
            doc = explain_cell(event_store, settings.warehouse, date=_parse_date(date),
                               category=category)
    except NotPublished as exc:
        raise UserError(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        render_explanation(doc, out)


@app.command()
def report(
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="HTML file to write (default <home>/report/index.html).")] = None,
    wait: Annotated[bool, typer.Option(
        "--wait", help="Write nothing: wait for the refresh a run started in the background, "
        "then say where the report is.")] = False,
    home: HomeOption = Path("data"),
    store: StoreOption = None,
) -> None:
    """Write the self-contained HTML report of the published series (charts, tables)."""
    settings = RunSettings.resolve(home, store=store)
    if wait:
        _wait_for_report(settings.home)
        return
    from lossledger.report._tables import NotPublished
    from lossledger.report.html import write_report

    target = out_file or settings.home / "report" / "index.html"
    try:
        # The home's own report keeps its charts' SVGs (unchanged ones are not rendered again).
        built = write_report(settings.warehouse, target, cache_charts=out_file is None)
    except NotPublished as exc:
        raise UserError(str(exc)) from None
    out.print(f"report: {built.path} ({built.size_bytes / 1e6:.2f} MB, "
              f"built in {built.seconds:.1f} s)")


def _wait_for_report(home: Path) -> None:
    from lossledger.report.background import wait_for_refresh

    outcome = wait_for_refresh(home)
    target = (home / "report" / "index.html").resolve()
    if outcome is not None and not outcome.get("ok"):
        raise UserError(f"the report's background refresh failed: {outcome.get('error')} "
                        f"(details: {(home / 'logs' / 'report.log').resolve()})")
    if not target.exists():
        raise UserError(f"no report at {target}: run `lossledger run` or `lossledger report`")
    built = f" (refreshed in {outcome['seconds']} s)" if outcome else ""
    out.print(f"report: {target}{built}", highlight=False, soft_wrap=True)


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="csv, json or xlsx.")] = "csv",
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="File to write (default: stdout; xlsx needs a file).")] = None,
    long: Annotated[bool, typer.Option("--long", help="Tidy form: one row per cell.")] = False,
    with_status: Annotated[bool, typer.Option(
        "--with-status", help="Add status (and confidence, when published).")] = False,
    since: Annotated[str | None, typer.Option(help="First date, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="Last date, YYYY-MM-DD.")] = None,
    categories: Annotated[str | None, typer.Option(
        help="Comma-separated category codes (default: all).")] = None,
    home: HomeOption = Path("data"),
    store: StoreOption = None,
) -> None:
    """Export the published daily totals for spreadsheets: wide by default, or --long."""
    from lossledger.report._tables import NotPublished
    from lossledger.report.export import ExportError, export_totals

    chosen = None
    if categories:
        chosen = [c.strip() for c in categories.split(",") if c.strip()]
        unknown = [c for c in chosen if c not in CATEGORY_CODES]
        if unknown:
            raise UserError(f"unknown categories {unknown}; known: {', '.join(CATEGORY_CODES)}")
    settings = RunSettings.resolve(home, store=store)
    try:
        export_totals(
            settings.warehouse, fmt=fmt, out=out_file, long=long, with_status=with_status,
            since=_parse_date(since) if since else None,
            until=_parse_date(until) if until else None, categories=chosen,
        )
    except (NotPublished, ExportError) as exc:
        raise UserError(str(exc)) from None
    if out_file is not None:
        err.print(f"wrote {out_file}")


@app.command("sources")
def sources_command(home: HomeOption = Path("data"), store: StoreOption = None) -> None:
    """List the sources of <home>/sources.toml with their last fetch."""
    from lossledger.sources.listing import sources_table

    settings = RunSettings.resolve(home, store=store)
    with settings.store() as event_store:
        out.print(sources_table(settings.home, event_store))


@app.command()
def fetch(
    source: Annotated[str | None, typer.Option(help="Fetch only this source.")] = None,
    since: Annotated[str | None, typer.Option(help="First day to fetch, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="Last day (default: --since).")] = None,
    refresh: Annotated[bool, typer.Option(help="Ask again for days already held.")] = False,
    home: HomeOption = Path("data"),
    store: StoreOption = None,
) -> None:
    """Fetch the sources of <home>/sources.toml into the event log."""
    from lossledger.sources.cli import run_fetch

    settings = RunSettings.resolve(home, store=store)
    first = _parse_date(since) if since else None
    last = _parse_date(until) if until else None
    if last is not None and first is None:
        raise UserError("--until needs --since")
    if first and last and last < first:
        raise UserError(f"--until {until} is before --since {since}")
    run_fetch(settings.home, store_url=settings.store_url, only=source, since=first,
              until=last, refresh=refresh, console=out)


@app.command()
def server(
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1 only).")] = 4200,
    home: HomeOption = Path("data"),
) -> None:
    """Keep a Prefect server running, so that each `run` skips starting a temporary one.

    Runs `prefect server start` on 127.0.0.1 with lossledger's PREFECT_HOME ($PREFECT_HOME,
    else <home>/.prefect) until Ctrl-C, and prints the `export PREFECT_API_URL=...` line.
    """
    from flows.interactive import serve

    try:
        code = serve(home, port=port, say=lambda text: out.print(text, highlight=False))
    except OSError as exc:
        raise UserError(str(exc)) from None
    raise typer.Exit(code)


def main() -> None:
    """Console entry point: user errors print one line and exit 2, no traceback."""
    without_data_synthesis()
    _prefect_defaults()
    try:
        app()
    except (UserError, StoreError, IngestError, ConfigError) as exc:
        err.print(f"[red]error:[/] {exc}", soft_wrap=True, highlight=False)
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            raise
        # A full disk or a read-only file system is the machine's state, not a bug.
        where = f" ({exc.filename})" if exc.filename else ""
        err.print(f"[red]error:[/] {exc.strerror}{where}", soft_wrap=True, highlight=False)
        sys.exit(2)
    except SystemExit as done:
        if _FLOW_RAN:
            _exit_without_teardown(done.code)
        raise


#: Set once a flow ran in this process (see :func:`_exit_without_teardown`).
_FLOW_RAN = False


def _exit_without_teardown(code: object) -> None:
    """Exit once output and Prefect's log and event queues are flushed, skipping the
    interpreter's teardown of every module and frame (~0.5 s after a flow run, for nothing:
    files and stores are closed by then)."""
    import logging

    status = code if isinstance(code, int) else (0 if code is None else 1)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
    logging.shutdown()  # Prefect's API log handler sends what it holds
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _prefect_defaults() -> None:
    # A local run needs no Prefect account and phones nobody: analytics off unless the user
    # configured otherwise.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # Prefect's default (20 s) is too short for a temporary server on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _run_flow(**parameters: Any) -> dict[str, Any]:
    # Prefect is imported only now that there is work (its import alone costs ~1.5 s).
    from flows.ephemeral import tie_ephemeral_server_to_this_process
    from flows.interactive import log_file, run_pipeline

    tie_ephemeral_server_to_this_process()  # no orphaned server after a kill -9
    global _FLOW_RAN
    home = Path(parameters["home"])
    try:
        outcome = run_pipeline(
            notify=lambda text: err.print(text, markup=False, highlight=False),
            **parameters,
        )
    except (UserError, StoreError, IngestError, ConfigError):
        raise
    except UnreadableEvent as exc:
        # A damaged or altered store: the run stopped before publishing; say where, once.
        err.print(f"[red]run stopped:[/] {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from exc
    except Exception as exc:
        # Prefect has logged the traceback (API and log file); the user gets the cause.
        err.print(f"[red]run failed:[/] {type(exc).__name__}: {exc} (details: "
                  f"{log_file(home)})", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from exc
    # A temporary server is stopped by the interpreter's exit handlers: let them run.
    _FLOW_RAN = not outcome.temporary_server
    if outcome.flow_run_url:
        outcome.summary["flow_run_url"] = outcome.flow_run_url
    return outcome.summary


def _check_events(settings: RunSettings, *, after: int = 0, upto: int | None = None) -> None:
    """Stop, in one line and before anything starts, if an event to be parsed was altered."""
    try:
        check_events(settings, after=after, upto=upto)
    except UnreadableEvent as exc:
        err.print(f"[red]run stopped:[/] {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from exc


def _print_summary(summary: dict[str, Any], settings: RunSettings) -> None:
    if summary.get("nothing_new"):
        out.print(f"nothing new: the warehouse already reflects event {summary['watermark']}")
        return
    from lossledger.report.run_summary import run_markdown

    # Not wrapped: the markdown's lines (links, the command that waits for the report) stay whole.
    out.print(run_markdown(summary), markup=False, highlight=False, soft_wrap=True)
    out.print(f"warehouse: {settings.warehouse}", highlight=False)
    if summary.get("flow_run_url"):
        out.print(f"flow run: {summary['flow_run_url']}", highlight=False, soft_wrap=True)


def _append_decision(home: Path, store: str | None, decision: Any) -> None:
    with RunSettings.resolve(home, store=store).store() as event_store:
        result = event_store.append([decision])
    recorded = result.recorded[0]
    out.print(f"recorded {recorded.kind} {recorded.event_id} (seq {recorded.seq}); "
              "it takes effect on the next run")


def _find_event(store: EventStore, event_id: str) -> RecordedEvent:
    matches = [e for e in store.read(with_body=False) if e.event_id.startswith(event_id)]
    if not matches:
        raise UserError(f"no event {event_id!r} in the store")
    if len(matches) > 1:
        raise UserError(f"event id prefix {event_id!r} is ambiguous ({len(matches)} events)")
    return matches[0]


def _as_of_seq(store: EventStore, as_of: str) -> int:
    if as_of.isdigit():
        return int(as_of)
    try:
        moment = dt.datetime.fromisoformat(as_of)
    except ValueError:
        message = f"--as-of takes a sequence number or an ISO timestamp, not {as_of!r}"
        raise UserError(message) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return store.seq_at(moment)


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _actor() -> str:
    return os.environ.get("LOSSLEDGER_ACTOR") or getpass.getuser()
