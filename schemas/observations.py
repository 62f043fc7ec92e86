"""The schema every parsed observation must pass before it takes part in reconciliation."""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl

from lossledger.parse.ontology import CATEGORY_CODES
from lossledger.parse.parsers.base import SOURCE_KINDS

__all__ = ["FIRST_REPORT_DATE", "ObservationSchema"]

#: The full-scale invasion began on 24 February 2022; no report can be dated earlier.
FIRST_REPORT_DATE = dt.date(2022, 2, 24)


class ObservationSchema(pa.DataFrameModel):
    """One figure from one report: a category's cumulative total on a date."""

    event_id: str
    seq: pl.Int64 = pa.Field(ge=1)
    source: str
    source_kind: str = pa.Field(isin=list(SOURCE_KINDS))
    received_at: pl.Datetime(time_unit="us", time_zone="UTC")  # type: ignore[valid-type]
    parser: str
    date: pl.Date = pa.Field(ge=FIRST_REPORT_DATE)
    category: str = pa.Field(isin=list(CATEGORY_CODES))
    total: pl.Int64 = pa.Field(ge=0)
    stated_delta: pl.Int64 = pa.Field(ge=0, nullable=True)
    qualifier: str = pa.Field(nullable=True)

    @pa.dataframe_check(error="report date after the day it was received")
    def date_not_after_received(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("date") <= pl.col("received_at").dt.date())

    class Config:
        strict = False
        coerce = False
