"""Reading a published warehouse for the reports: any table, present or not."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from lossledger.publish.warehouse import read_state

__all__ = ["read_table", "require_published"]


class NotPublished(Exception):
    """Nothing has been published at that warehouse yet."""


def require_published(warehouse: Path) -> None:
    """Raise :class:`NotPublished` when the warehouse holds no published state."""
    if read_state(warehouse) is None:
        raise NotPublished(
            f"nothing published in {warehouse}: run `lossledger run` first"
        )


def read_table(
    warehouse: Path, table: str, *, columns: list[str] | None = None
) -> pl.DataFrame | None:
    """A published table as a frame (partition columns dropped), or ``None`` when absent.

    Tables other helpers' stages may add (``disagreement_runs``, ``sources``) are read the same
    way, so a report shows them when they exist and leaves them out when not. ``columns``
    reads only those the table has (the observations are a million rows per x10 corpus: all
    their columns would set a report's memory).

    >>> import tempfile
    >>> read_table(Path(tempfile.mkdtemp()), "sources") is None
    True
    """
    directory = Path(warehouse) / table
    if not directory.is_dir() or not any(directory.rglob("*.parquet")):
        return None
    scan = pl.scan_parquet(
        directory / "**" / "*.parquet", hive_partitioning=True, missing_columns="insert"
    )
    if columns is not None:
        present = scan.collect_schema().names()
        scan = scan.select([c for c in columns if c in present])
    frame = scan.collect()
    return frame.drop([c for c in ("year", "month") if c in frame.columns])
