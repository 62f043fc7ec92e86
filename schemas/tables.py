"""The published tables: their columns, types and invariants."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from lossledger.parse.ontology import CATEGORY_CODES
from lossledger.reconcile.consensus import DISCREPANCY_KINDS, STATUSES

__all__ = [
    "DISCREPANCY_KINDS",
    "REPORT_STATUSES",
    "TABLE_MODELS",
    "TOTAL_STATUSES",
    "DailyTotalSchema",
    "DiscrepancySchema",
    "ObservationTableSchema",
    "QuarantineSchema",
    "ReportSchema",
    "empty_table",
    "table_schema",
]

_UTC_TIME = pl.Datetime(time_unit="us", time_zone="UTC")
_IDS = pl.List(pl.String)

TOTAL_STATUSES = STATUSES
REPORT_STATUSES = ("parsed", "partial", "quarantined", "retracted")


class ReportSchema(pa.DataFrameModel):
    """``reports``: one row per ReportReceived event."""

    event_id: str = pa.Field(unique=True)
    seq: pl.Int64 = pa.Field(ge=1)
    source: str
    file_name: str
    media_type: str
    sha256: str = pa.Field(str_length={"min_value": 64, "max_value": 64})
    received_at: _UTC_TIME  # type: ignore[valid-type]
    report_date: pl.Date = pa.Field(nullable=True)
    parser: str = pa.Field(nullable=True)
    parser_version: str = pa.Field(nullable=True)
    status: str = pa.Field(isin=list(REPORT_STATUSES))
    n_observations: pl.Int64 = pa.Field(ge=0)
    n_problems: pl.Int64 = pa.Field(ge=0)

    class Config:
        strict = True


class ObservationTableSchema(pa.DataFrameModel):
    """``observations``: every valid figure of every report, retracted ones flagged."""

    event_id: str
    seq: pl.Int64 = pa.Field(ge=1)
    source: str
    source_kind: str
    parser: str
    parser_version: str
    date: pl.Date
    category: str = pa.Field(isin=list(CATEGORY_CODES))
    total: pl.Int64 = pa.Field(ge=0)
    stated_delta: pl.Int64 = pa.Field(nullable=True)
    qualifier: str = pa.Field(nullable=True)
    label: str = pa.Field(nullable=True)
    retracted: bool
    span_start: pl.Int64 = pa.Field(nullable=True, ge=0)
    """Character offsets into the decoded text the figure was read from (text parsers)."""
    span_end: pl.Int64 = pa.Field(nullable=True, ge=0)
    confidence: pl.Float64 = pa.Field(nullable=True, ge=0, le=1)
    date_source: str = pa.Field(nullable=True, isin=["stated", "completed", "inferred"])
    date_text: str = pa.Field(nullable=True)

    class Config:
        strict = True


class DailyTotalSchema(pa.DataFrameModel):
    """``daily_totals``: the published series, one row per (date, category)."""

    date: pl.Date
    category: str = pa.Field(isin=list(CATEGORY_CODES))
    total: pl.Int64 = pa.Field(ge=0)
    delta: pl.Int64 = pa.Field(nullable=True)
    stated_delta: pl.Int64 = pa.Field(nullable=True)
    status: str = pa.Field(isin=list(TOTAL_STATUSES))
    n_sources: pl.Int64 = pa.Field(ge=0)
    event_ids: _IDS  # type: ignore[valid-type]
    sources: _IDS  # type: ignore[valid-type]
    seq: pl.Int64 = pa.Field(ge=1)

    @pa.dataframe_check(error="one row per (date, category)")
    def unique_date_category(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(~pl.struct("date", "category").is_duplicated())

    class Config:
        strict = True


class DiscrepancySchema(pa.DataFrameModel):
    """``discrepancies``: every disagreement found, with its likely cause."""

    date: pl.Date
    category: str = pa.Field(isin=list(CATEGORY_CODES))
    kind: str = pa.Field(isin=list(DISCREPANCY_KINDS))
    source: str = pa.Field(nullable=True)
    expected: pl.Int64 = pa.Field(nullable=True)
    observed: pl.Int64 = pa.Field(nullable=True)
    detail: str
    event_ids: _IDS  # type: ignore[valid-type]
    seq: pl.Int64 = pa.Field(ge=0)

    class Config:
        strict = True


class QuarantineSchema(pa.DataFrameModel):
    """``quarantine``: what could not be used, never dropped, always with a reason."""

    event_id: str
    seq: pl.Int64 = pa.Field(ge=1)
    source: str
    file_name: str
    stage: str = pa.Field(isin=["decode", "parse", "validate"])
    reason: str
    date: pl.Date = pa.Field(nullable=True)
    category: str = pa.Field(nullable=True)
    received_at: _UTC_TIME  # type: ignore[valid-type]

    class Config:
        strict = True


TABLE_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "reports": ReportSchema,
    "observations": ObservationTableSchema,
    "daily_totals": DailyTotalSchema,
    "discrepancies": DiscrepancySchema,
    "quarantine": QuarantineSchema,
}


def table_schema(table: str) -> pl.Schema:
    """The polars schema of a published table, derived from its pandera model.

    >>> table_schema("daily_totals")["event_ids"]
    List(String)
    """
    columns = TABLE_MODELS[table].to_schema().columns
    return pl.Schema({name: column.dtype.type for name, column in columns.items()})


def empty_table(table: str) -> pl.DataFrame:
    """A published table with no rows and the right columns."""
    return pl.DataFrame(schema=table_schema(table))
