"""Reconciliation: one published series from many disagreeing observations.

CONTRACT (filled in by the reconciliation work; the signature and frame shapes are fixed):

Input ``observations`` (polars DataFrame, valid rows only, retracted reports already removed):
    event_id: str, seq: Int64, source: str, source_kind: str ("official"|"api"|"ticker"|"history"),
    received_at: Datetime(us, UTC), parser: str, date: Date, category: str, total: Int64,
    stated_delta: Int64 (nullable), qualifier: str (nullable)

Input ``overrides`` (polars DataFrame, active TotalOverridden decisions only):
    event_id: str, seq: Int64, date: Date, category: str, total: Int64, reason: str, actor: str

Output :class:`Reconciliation` with two frames:
    daily_totals: date, category, total, delta, stated_delta, status, n_sources,
                  event_ids (List[str]), sources (List[str]), seq (Int64)
    discrepancies: date, category, kind, source, expected (Int64), observed (Int64),
                   detail (str), event_ids (List[str]), seq (Int64)
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from lossledger.parsers.base import SOURCE_KINDS

__all__ = ["ReconcilePolicy", "Reconciliation", "reconcile_totals"]


@dataclass(frozen=True, slots=True)
class ReconcilePolicy:
    """How consensus is chosen when sources disagree."""

    priority: tuple[str, ...] = SOURCE_KINDS
    """Source kinds, highest priority first."""


@dataclass(frozen=True, slots=True)
class Reconciliation:
    daily_totals: pl.DataFrame
    discrepancies: pl.DataFrame


def reconcile_totals(
    observations: pl.DataFrame,
    *,
    overrides: pl.DataFrame | None = None,
    policy: ReconcilePolicy | None = None,
) -> Reconciliation:
    raise NotImplementedError
