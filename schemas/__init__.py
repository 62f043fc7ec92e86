"""pandera models (polars backend) for lossledger's observations and every published table.

They are the output contract downstream readers rely on: each published table is validated
against its model before a single file is written.
"""

from __future__ import annotations

from schemas.observations import ObservationSchema
from schemas.tables import (
    TABLE_MODELS,
    DailyTotalSchema,
    DiscrepancySchema,
    ObservationTableSchema,
    QuarantineSchema,
    ReportSchema,
    empty_table,
    table_schema,
)

__all__ = [
    "TABLE_MODELS",
    "DailyTotalSchema",
    "DiscrepancySchema",
    "ObservationSchema",
    "ObservationTableSchema",
    "QuarantineSchema",
    "ReportSchema",
    "empty_table",
    "table_schema",
]
