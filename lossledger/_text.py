"""Enum-coded text columns and their text (private helpers of the projection and publisher).

The projection carries repeated text (an event's id, source, kind and parser on each of its
figures) as enums of the sorted values: one code per row. Files and readers get text.
"""

from __future__ import annotations

import polars as pl

__all__ = ["column_as_text", "enums_as_text", "sorted_enum"]


def sorted_enum(values: pl.Series) -> pl.Enum:
    """An enum of the distinct non-null ``values``, sorted: its codes sort as the text does.

    >>> sorted_enum(pl.Series(["b", None, "a", "b"])).categories.to_list()
    ['a', 'b']
    """
    return pl.Enum(values.drop_nulls().unique().cast(pl.String).sort())


def column_as_text(column: pl.Series) -> pl.Series:
    """An enum column as text: its categories gathered by code, so that every row points into
    one copy of each distinct string (a cast would copy the string into every row). Other
    columns are returned as they are.

    >>> codes = pl.Series("id", ["b", None, "a", "b"], dtype=pl.Enum(["a", "b"]))
    >>> column_as_text(codes).to_list()
    ['b', None, 'a', 'b']
    """
    if not isinstance(column.dtype, pl.Enum):
        return column
    return column.dtype.categories.gather(column.to_physical()).alias(column.name)


def enums_as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its enum columns as text (the published tables' type)."""
    enums = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.Enum)]
    if not enums:
        return frame
    return frame.with_columns(column_as_text(frame.get_column(name)) for name in enums)
