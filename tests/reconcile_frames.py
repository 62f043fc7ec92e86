"""Frame builders shared by the reconciliation tests (no tests here).

The parsers are written elsewhere, so the tests build observation frames directly: by hand for
the rules, and from the shared history files (read with plain json/polars) for the data tests.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from lossledger.reconcile.consensus import OBSERVATIONS_SCHEMA, OVERRIDES_SCHEMA

__all__ = [
    "MINFIN_CODES",
    "PETROIVANIUK_CODES",
    "SHARED_DATA",
    "history_observations",
    "minfin_series",
    "observation",
    "observations",
    "override",
    "overrides",
    "petroivaniuk_series",
    "received",
]

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

PETROIVANIUK_CODES = {
    "tank": "tanks",
    "APC": "armored_vehicles",
    "field artillery": "artillery",
    "MRL": "mlrs",
    "anti-aircraft warfare": "air_defense",
    "aircraft": "aircraft",
    "helicopter": "helicopters",
    "drone": "uav",
    "cruise missiles": "cruise_missiles",
    "naval ship": "ships",
    "submarines": "submarines",
    "vehicles and fuel tanks": "vehicles_fuel_tanks",
    "special equipment": "special_equipment",
    "personnel": "personnel",
    "military auto": "military_vehicles",
    "fuel tank": "fuel_tanks",
    "mobile SRBM system": "srbm_launchers",
    "ground robotic systems": "ground_robots",
}
MINFIN_CODES = {
    "personnel": "personnel",
    "tanks": "tanks",
    "apv": "armored_vehicles",
    "artillery": "artillery",
    "mlrs": "mlrs",
    "aaws": "air_defense",
    "aircrafts": "aircraft",
    "helicopters": "helicopters",
    "uav": "uav",
    "cruise_missiles": "cruise_missiles",
    "warships": "ships",
    "vehicles_fuel_tanks": "vehicles_fuel_tanks",
    "special_equipment": "special_equipment",
    "submarines": "submarines",
}


def received(day: dt.date, hour: int = 9) -> dt.datetime:
    """Return a UTC receipt time on ``day``."""
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def observation(
    event_id: str,
    seq: int,
    source: str,
    source_kind: str,
    day: dt.date,
    category: str,
    total: int,
    stated_delta: int | None = None,
    *,
    received_at: dt.datetime | None = None,
) -> dict[str, object]:
    """Return one observation row; received by default at 09:00 + ``seq`` minutes on ``day``."""
    return {
        "event_id": event_id,
        "seq": seq,
        "source": source,
        "source_kind": source_kind,
        "received_at": received_at or received(day) + dt.timedelta(minutes=seq),
        "parser": f"{source_kind}-test",
        "date": day,
        "category": category,
        "total": total,
        "stated_delta": stated_delta,
        "qualifier": None,
    }


def observations(*rows: dict[str, object]) -> pl.DataFrame:
    """Return an observation frame in the reconciliation contract's schema."""
    return pl.DataFrame(list(rows), schema=OBSERVATIONS_SCHEMA)


def override(
    event_id: str, seq: int, day: dt.date, category: str, total: int, reason: str = "checked"
) -> dict[str, object]:
    """Return one active TotalOverridden decision."""
    return {
        "event_id": event_id,
        "seq": seq,
        "date": day,
        "category": category,
        "total": total,
        "reason": reason,
        "actor": "analyst",
    }


def overrides(*rows: dict[str, object]) -> pl.DataFrame:
    """Return an override frame in the reconciliation contract's schema."""
    return pl.DataFrame(list(rows), schema=OVERRIDES_SCHEMA)


def _long(wide: pl.DataFrame, codes: dict[str, str]) -> pl.DataFrame:
    present = [name for name in codes if name in wide.columns]
    return (
        wide.select(
            pl.col("date").cast(pl.Date),
            *(pl.col(name).cast(pl.Int64).alias(codes[name]) for name in present),
        )
        .unpivot(index="date", variable_name="category", value_name="total")
        .drop_nulls("total")
    )


def _json_frame(path: Path) -> pl.DataFrame:
    rows = json.loads(path.read_text(encoding="utf-8"))
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.with_columns(pl.col("date").str.to_date())


def petroivaniuk_series(*, personnel: bool = True) -> pl.DataFrame:
    """Return the petroivaniuk history as (date, category, total) rows."""
    directory = SHARED_DATA / "petroivaniuk"
    parts = [_long(_json_frame(directory / "russia_losses_equipment.json"), PETROIVANIUK_CODES)]
    if personnel:
        parts.append(
            _long(_json_frame(directory / "russia_losses_personnel.json"), PETROIVANIUK_CODES)
        )
    return pl.concat(parts)


def minfin_series() -> pl.DataFrame:
    """Return the minfin history as (date, category, total) rows (empty cells dropped)."""
    wide = pl.read_csv(
        SHARED_DATA / "minfin" / "russia_losses.csv", try_parse_dates=True, infer_schema_length=None
    )
    return _long(wide, MINFIN_CODES)


def history_observations(
    series: pl.DataFrame, *, source: str, event_id: str, seq: int, received_at: dt.datetime
) -> pl.DataFrame:
    """Return a history file's (date, category, total) rows as one event's observations."""
    return series.select(
        pl.lit(event_id).alias("event_id"),
        pl.lit(seq, pl.Int64).alias("seq"),
        pl.lit(source).alias("source"),
        pl.lit("history").alias("source_kind"),
        pl.lit(received_at, pl.Datetime("us", "UTC")).alias("received_at"),
        pl.lit("history-test").alias("parser"),
        "date",
        "category",
        "total",
        pl.lit(None, pl.Int64).alias("stated_delta"),
        pl.lit(None, pl.String).alias("qualifier"),
    )
