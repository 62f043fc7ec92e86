"""Enum-coded text columns and their text (private helpers of the projection and publisher).

The projection carries repeated text (an event's id, source, kind and parser on each of its
figures) as enums of the sorted values: one code per row. Files and readers get text.
"""

from __future__ import annotations

import polars as pl
import polars.selectors as cs

__all__ = ["CAST_ROWS", "column_as_text", "enums_as_text", "sorted_enum"]


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

    The type is asked once: each time polars hands an enum type to Python it checks all its
    values (0.1 s for 450,000 event ids).

    >>> codes = pl.Series("id", ["b", None, "a", "b"], dtype=pl.Enum(["a", "b"]))
    >>> column_as_text(codes).to_list()
    ['b', None, 'a', 'b']
    """
    dtype = column.dtype
    if not isinstance(dtype, pl.Enum):
        return column
    return dtype.categories.gather(column.to_physical()).alias(column.name)


#: Up to this many rows, enum columns are cast to text inside polars: no enum type is handed
#: to Python (see :func:`column_as_text`), and the strings copied into each row are few.
CAST_ROWS = 50_000


def enums_as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its enum columns as text (the published tables' type).

    >>> frame = pl.DataFrame({"id": ["b", "a"]}, schema={"id": pl.Enum(["a", "b"])})
    >>> enums_as_text(frame).get_column("id").to_list(), enums_as_text(frame.head(0)).dtypes
    (['b', 'a'], [String])
    """
    if frame.height <= CAST_ROWS:
        return frame.with_columns(cs.enum().cast(pl.String))
    # A selector finds them without handing every column's type to Python (see above).
    enums = frame.select(cs.enum()).columns
    if not enums:
        return frame
    return frame.with_columns(column_as_text(frame.get_column(name)) for name in enums)
