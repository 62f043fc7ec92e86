"""Incremental reconciliation: re-reconcile only the dates new observations can affect.

A layer around :func:`~lossledger.reconcile.consensus.reconcile_totals`, not a second
implementation of its rules: given the previous result (of every observation with
``seq <= after_seq``) and all observations now, it reconciles a window of each touched
category and keeps the previous rows outside it. The window follows from the rules:

* a cell's consensus, revisions and source conflicts read only that cell's observations;
* delta, ``delta_mismatch``, ``restatement``, gaps and inference along a category read the
  previous *present* row (a chosen, non-inferred total), however far back, and the next one;
* a conflict's ``stale`` cause reads the series ``stale_lookback_days`` days back;
* categories never read one another.

So for a category whose earliest new observation is on ``d``: let ``anchor`` be its last
present date before ``d``. Nothing at or before ``anchor`` can change (its cell, its previous
row and everything earlier are untouched); everything after it may. Reconciling the category's
observations from ``start``, the last present date at least ``stale_lookback_days`` before
``anchor``, gives every row after ``anchor`` exactly: each has its previous present row, the
series it looks back on, and every inferred day in that look-back with its own previous row.
With no ``anchor`` (or no ``start``) the category is reconciled whole.

When the window cannot be proven it is not used (:func:`reconcile_incremental` falls back to
a full reconcile): no previous result, decisions taken since it, or a reconciliation with more
than the two frames this layer knows how to merge (a global quantity such as a learned source
reliability would make every date depend on every other). ``tests/test_window.py`` checks on
random event streams that the incremental result equals a full rebuild.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import polars as pl

from lossledger.reconcile.consensus import (
    DAILY_TOTALS_SCHEMA,
    ReconcilePolicy,
    Reconciliation,
    discrepancies,
    reconcile_totals,
)

__all__ = [
    "WindowedResult",
    "dirty_cells",
    "reconcile_by_category",
    "reconcile_incremental",
    "reconcile_window",
]

#: The frames :func:`reconcile_window` merges; a Reconciliation with others falls back to full.
_MERGEABLE = ("daily_totals", "discrepancies")
#: Whether the reconciliation is per category only (its result has no global part), so that
#: categories can be reconciled apart: in a window, or a few at a time to bound memory.
PER_CATEGORY = tuple(f.name for f in dataclasses.fields(Reconciliation)) == _MERGEABLE
#: A full reconcile takes the categories in groups of about this many observations.
CHUNK_ROWS = 200_000


@dataclass(frozen=True, slots=True)
class WindowedResult:
    """A reconciliation and how it was made."""

    reconciliation: Reconciliation
    mode: str
    """``full``, ``window`` or ``unchanged`` (nothing new for the reconciliation)."""
    reason: str
    """Why a full reconcile, or the window's extent."""


def dirty_cells(observations: pl.DataFrame, *, after_seq: int) -> pl.DataFrame:
    """The (category, date) pairs of observations newer than ``after_seq``.

    >>> obs = pl.DataFrame({"seq": [1, 2, 3], "category": ["tanks"] * 3,
    ...                     "date": [dt.date(2024, 1, d) for d in (1, 2, 2)]})
    >>> dirty_cells(obs, after_seq=1).rows()
    [('tanks', datetime.date(2024, 1, 2))]
    """
    return (
        observations.lazy()
        .filter(pl.col("seq") > after_seq)
        .select(pl.col("category").cast(pl.String), pl.col("date"))
        .unique()
        .sort("category", "date")
        .collect()
    )


def reconcile_window(
    observations: pl.DataFrame,
    *,
    previous: Reconciliation,
    dirty: pl.DataFrame,
    overrides: pl.DataFrame | None = None,
    policy: ReconcilePolicy | None = None,
) -> WindowedResult:
    """Reconcile ``observations`` given ``previous``, the result before the ``dirty`` cells
    (``category``, ``date``) got new observations; the same decisions apply to both.

    Returns the same frames as ``reconcile_totals(observations, ...)`` would.
    """
    policy = policy or ReconcilePolicy()
    if dirty.is_empty():
        return WindowedResult(previous, "unchanged", "no new observation")
    bounds = _bounds(previous.daily_totals, dirty, policy.stale_lookback_days)
    in_window = _in_window(observations, bounds, "start")
    part = reconcile_totals(
        in_window,
        overrides=None if overrides is None else _in_window(overrides, bounds, "start"),
        policy=policy,
    )
    totals = pl.concat([
        _outside(previous.daily_totals, bounds),
        _inside(part.daily_totals, bounds),
    ]).sort("date", "category")
    found = discrepancies(
        _outside(previous.discrepancies, bounds), _inside(part.discrepancies, bounds)
    )
    reason = (
        f"{bounds.height} categories from "
        f"{bounds['anchor'].min() or 'their first day'}; {in_window.height} of "
        f"{observations.height} observations"
    )
    return WindowedResult(
        Reconciliation(daily_totals=totals.select(DAILY_TOTALS_SCHEMA.names()),
                       discrepancies=found),
        "window", reason,
    )


def reconcile_incremental(
    observations: pl.DataFrame,
    *,
    previous: Reconciliation | None,
    after_seq: int | None,
    decisions_changed: bool,
    overrides: pl.DataFrame | None = None,
    policy: ReconcilePolicy | None = None,
) -> WindowedResult:
    """:func:`reconcile_window` when it can be proven to equal a full reconcile, else
    :func:`reconcile_totals` (the reason says why)."""
    reason = _why_full(previous, after_seq, decisions_changed)
    if reason is None:
        assert previous is not None and after_seq is not None
        return reconcile_window(
            observations, previous=previous, dirty=dirty_cells(observations, after_seq=after_seq),
            overrides=overrides, policy=policy,
        )
    full = reconcile_by_category(observations, overrides=overrides, policy=policy)
    return WindowedResult(full, "full", reason)


def reconcile_by_category(
    observations: pl.DataFrame,
    *,
    overrides: pl.DataFrame | None = None,
    policy: ReconcilePolicy | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Reconciliation:
    """``reconcile_totals`` a few categories at a time (groups of about ``chunk_rows``
    observations): the same result, with the intermediate frames of one group in memory at
    once rather than of all. One call when the reconciliation has global parts.
    """
    if not PER_CATEGORY or observations.height <= chunk_rows:
        return reconcile_totals(observations, overrides=overrides, policy=policy)
    sizes = observations.group_by(pl.col("category").cast(pl.String)).len().sort("category")
    groups: list[list[str]] = [[]]
    filled = 0
    for category, size in sizes.iter_rows():
        if groups[-1] and filled + size > chunk_rows:
            groups.append([])
            filled = 0
        groups[-1].append(category)
        filled += size
    if overrides is not None:
        # Overrides of categories no source reports still make rows: they join the last group.
        extra = set(overrides["category"].to_list()) - set(sizes["category"].to_list())
        groups[-1].extend(sorted(extra))
    parts = []
    for group in groups:
        chosen = pl.col("category").cast(pl.String).is_in(group)
        parts.append(reconcile_totals(
            observations.filter(chosen),
            overrides=None if overrides is None else overrides.filter(chosen),
            policy=policy,
        ))
    return Reconciliation(
        daily_totals=pl.concat([p.daily_totals for p in parts]).sort("date", "category"),
        discrepancies=discrepancies(*(p.discrepancies for p in parts)),
    )


def _why_full(
    previous: Reconciliation | None, after_seq: int | None, decisions_changed: bool
) -> str | None:
    if previous is None or after_seq is None or after_seq < 0:
        return "no previous reconciliation"
    if decisions_changed:
        return "decisions taken since the previous reconciliation"
    if not PER_CATEGORY:
        fields = ", ".join(f.name for f in dataclasses.fields(previous))
        return f"the reconciliation has global parts ({fields})"
    return None


def _bounds(totals: pl.DataFrame, dirty: pl.DataFrame, lookback_days: int) -> pl.DataFrame:
    """Per touched category: ``anchor`` (rows after it are recomputed; null = all) and
    ``start`` (observations from it are reconciled; null = all)."""
    first_dirty = dirty.group_by("category").agg(pl.col("date").min().alias("first_dirty"))
    present = totals.filter(pl.col("status") != "inferred").select(
        pl.col("category").cast(pl.String), "date"
    )
    anchors = (
        present.join(first_dirty, on="category")
        .filter(pl.col("date") < pl.col("first_dirty"))
        .group_by("category")
        .agg(pl.col("date").max().alias("anchor"))
    )
    bounded = first_dirty.join(anchors, on="category", how="left")
    starts = (
        present.join(bounded.drop_nulls("anchor"), on="category")
        .filter(pl.col("date") <= pl.col("anchor") - dt.timedelta(days=lookback_days))
        .group_by("category")
        .agg(pl.col("date").max().alias("start"))
    )
    return (
        bounded.join(starts, on="category", how="left")
        # No anchor: the category is recomputed whole, from its first observation.
        .with_columns(pl.when(pl.col("anchor").is_not_null()).then("start").alias("start"))
        .select("category", "anchor", "start")
        .sort("category")
    )


def _in_window(frame: pl.DataFrame, bounds: pl.DataFrame, column: str) -> pl.DataFrame:
    """Rows of the touched categories dated at or after ``column`` (all when it is null)."""
    if bounds[column].null_count() == 0:
        # Usually the window is the last days of the history: one pass over the dates leaves
        # few rows for the join.
        frame = frame.filter(pl.col("date") >= bounds[column].min())
    return (
        frame.with_columns(pl.col("category").cast(pl.String).alias("_category"))
        .join(bounds.select(pl.col("category").alias("_category"), column), on="_category")
        .filter(pl.col(column).is_null() | (pl.col("date") >= pl.col(column)))
        .drop("_category", column)
    )


def _inside(frame: pl.DataFrame, bounds: pl.DataFrame) -> pl.DataFrame:
    """Rows of a windowed result after their category's anchor (all when it is null)."""
    return (
        frame.join(bounds.select("category", "anchor"), on="category")
        .filter(pl.col("anchor").is_null() | (pl.col("date") > pl.col("anchor")))
        .drop("anchor")
    )


def _outside(frame: pl.DataFrame, bounds: pl.DataFrame) -> pl.DataFrame:
    """Previous rows the window leaves as they were."""
    return (
        frame.join(bounds.select("category", "anchor"), on="category", how="left")
        .filter(
            ~pl.col("category").is_in(bounds["category"].implode())
            | (pl.col("anchor").is_not_null() & (pl.col("date") <= pl.col("anchor")))
        )
        .drop("anchor")
    )
