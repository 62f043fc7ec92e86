"""The real figures the corpus is written around: petroivaniuk's daily totals, vendored.

``days.csv`` (beside this module) holds every day of ``../shared/data/petroivaniuk`` as one row
of category totals (empty: not reported that day). It is read here with the standard library
only, and mapped to lossledger's category codes by a table of our own: expectations never pass
through lossledger's parsers. ``python -m tests.corpus_real.days`` rebuilds it from ../shared.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import os
from pathlib import Path

from tests.reconcile_frames import PETROIVANIUK_CODES

__all__ = ["CATEGORIES", "DAYS_CSV", "PETROIVANIUK_KEYS", "Day", "all_days", "day", "vendor"]

DAYS_CSV = Path(__file__).with_name("days.csv")
#: The petroivaniuk files: ``$LOSSLEDGER_SHARED/data/petroivaniuk`` or ``../shared`` beside the
#: checkout (the harness ingests them as the reference series).
SHARED = Path(os.environ.get("LOSSLEDGER_SHARED") or Path(__file__).resolve().parents[3]
              / "shared") / "data" / "petroivaniuk"

#: petroivaniuk's record keys -> lossledger category codes (the tests' own table, not the
#: parser's).
PETROIVANIUK_KEYS: dict[str, str] = PETROIVANIUK_CODES
#: Category codes in the order the General Staff lists them.
CATEGORIES: tuple[str, ...] = (
    "personnel", "tanks", "armored_vehicles", "artillery", "mlrs", "air_defense", "aircraft",
    "helicopters", "uav", "cruise_missiles", "ships", "submarines", "vehicles_fuel_tanks",
    "military_vehicles", "fuel_tanks", "special_equipment", "srbm_launchers", "ground_robots",
)


class Day:
    """One day's real totals and the change since the day before (``None``: no day before,
    or the total went down, which a report would not state as a change)."""

    __slots__ = ("date", "deltas", "totals")

    def __init__(self, date: dt.date, totals: dict[str, int], previous: dict[str, int] | None):
        self.date = date
        self.totals = totals
        self.deltas: dict[str, int | None] = {}
        for category, total in totals.items():
            before = None if previous is None else previous.get(category)
            change = None if before is None else total - before
            self.deltas[category] = change if change is not None and change >= 0 else None

    def __repr__(self) -> str:
        return f"Day({self.date}, {len(self.totals)} categories)"


@functools.cache
def all_days() -> tuple[Day, ...]:
    """Every vendored day, oldest first."""
    with DAYS_CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    days: list[Day] = []
    previous: dict[str, int] | None = None
    for row in rows:
        date = dt.date.fromisoformat(row.pop("date"))
        totals = {c: int(v) for c, v in row.items() if v}
        days.append(Day(date, totals, previous))
        previous = totals
    return tuple(days)


@functools.cache
def _by_date() -> dict[dt.date, Day]:
    return {d.date: d for d in all_days()}


def day(date: dt.date) -> Day:
    """The vendored day ``date`` (``KeyError`` when the history has no such day)."""
    return _by_date()[date]


def vendor(shared: Path = SHARED, target: Path = DAYS_CSV) -> int:
    """Rebuild ``days.csv`` from the petroivaniuk files; returns the number of days."""
    merged: dict[str, dict[str, int]] = {}
    for name in ("russia_losses_equipment.json", "russia_losses_personnel.json"):
        for record in json.loads((shared / name).read_text(encoding="utf-8")):
            row = merged.setdefault(record["date"], {})
            for key, value in record.items():
                if key in PETROIVANIUK_KEYS and isinstance(value, int):
                    row[PETROIVANIUK_KEYS[key]] = value
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["date", *CATEGORIES])
        for date in sorted(merged):
            writer.writerow([date, *(merged[date].get(c, "") for c in CATEGORIES)])
    return len(merged)


if __name__ == "__main__":
    print(f"{vendor()} days written to {DAYS_CSV}")
