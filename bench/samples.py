"""Write ``data/samples/``: a few weeks of multi-source reports around real figures.

The figures are the real daily totals of the shared petroivaniuk history; the wording is the
corpus renderer's (our own). Some copies go wrong the way real copies do: a ticker that
republishes yesterday's list under today's date (stale), a slipped digit, days a source skips.
Run ``python -m bench.samples`` to regenerate; the output is committed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

from bench.render import DEFAULT_STYLES, ReportFormat, load_petroivaniuk_days, render_report

__all__ = ["FIRST_DAY", "LAST_DAY", "write_samples"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FIRST_DAY = dt.date(2024, 1, 8)
LAST_DAY = dt.date(2024, 2, 4)
#: source name -> (format, file extension)
_SOURCES: dict[str, tuple[ReportFormat, str]] = {
    "generalstaff.en": ("gs_en", "txt"),
    "generalstaff.uk": ("gs_uk", "txt"),
    "ticker.de": ("ticker_de", "txt"),
    "ticker.en": ("ticker_en", "txt"),
    "api.losses": ("api_json", "json"),
}
#: Days each source did not publish (or we never received).
_SKIPPED: dict[str, set[int]] = {
    "generalstaff.en": {30, 31},  # the hand-written posts of the seed scenario cover these
    "generalstaff.uk": {13, 14, 20, 21, 27, 28},  # weekends
    "ticker.de": {9, 16, 23},
    "ticker.en": {*range(8, 22), 31},  # only the last two weeks; the seed page covers the 31st
    "api.losses": {18, 19, 20},  # an outage
}
#: Copies that go wrong: a stale list under a new date; a slipped digit in one figure.
_STALE = {("ticker.de", dt.date(2024, 1, 12)), ("ticker.de", dt.date(2024, 1, 26))}
_TYPO = {
    ("ticker.en", dt.date(2024, 1, 24), "artillery"),
    ("api.losses", dt.date(2024, 2, 2), "uav"),
}


def _swap_digits(value: int) -> int:
    """Swap the last two digits (the commonest slip), or add 10 when they are equal."""
    text = str(value)
    swapped = int(text[:-2] + text[-1] + text[-2])
    return swapped if swapped != value else value + 10


def write_samples(target: Path = REPO / "data" / "samples" / "inbox") -> int:
    """Write the generated reports under ``target/<source>/``; returns how many."""
    days = load_petroivaniuk_days(
        SHARED / "petroivaniuk" / "russia_losses_equipment.json",
        SHARED / "petroivaniuk" / "russia_losses_personnel.json",
    )
    written = 0
    day = FIRST_DAY
    while day <= LAST_DAY:
        today, yesterday = days[day], days[day - dt.timedelta(days=1)]
        before = days[day - dt.timedelta(days=2)]
        for source, (fmt, ext) in _SOURCES.items():
            if day.month == 1 and day.day in _SKIPPED[source]:
                continue
            values, base = dict(today), yesterday
            if (source, day) in _STALE:
                values, base = dict(yesterday), before  # yesterday's list under today's date
            for typo_source, typo_day, category in _TYPO:
                if (typo_source, typo_day) == (source, day):
                    values[category] = _swap_digits(values[category])
            deltas = {c: v - base[c] for c, v in values.items() if c in base}
            style = DEFAULT_STYLES[fmt]
            if fmt == "ticker_en" and day.day % 2:
                style = dataclasses.replace(style, echo=False)
            body = render_report(values, date=day, deltas=deltas, fmt=fmt, style=style)
            path = target / source / f"{day.isoformat()}.{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            written += 1
        day += dt.timedelta(days=1)
    for folder, names in {
        "history.petroivaniuk": ("russia_losses_equipment.json", "russia_losses_personnel.json"),
        "history.minfin": ("russia_losses.csv",),
    }.items():
        origin = SHARED / folder.removeprefix("history.")
        (target / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(origin / name, target / folder / name)
            written += 1
    return written


if __name__ == "__main__":
    print(f"wrote {write_samples()} sample reports")
