"""The German news ticker ("Personen: etwa 385.230 (+1090 zum Vortag)")."""

from __future__ import annotations

import datetime as dt
import re

from lossledger.parse.parsers._ticker import TickerParser
from lossledger.parse.parsers._utils import MONTHS_DE, date_or_none, single_date
from lossledger.parse.parsers.base import Problem

__all__ = ["TickerGermanParser"]

_MONTH = r"(?P<month>[A-Za-zÄÖÜäöüß]+)\.?"
_STAND_WORDS = re.compile(
    rf"\bStand\s*:?\s*(?P<day>\d{{1,2}})\.\s*{_MONTH}\s+(?P<year>\d{{4}})\b", re.IGNORECASE
)
_STAND_NUMERIC = re.compile(
    r"\bStand\s*:?\s*(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4}|\d{2})(?!\d)",
    re.IGNORECASE,
)
# Only the source line's "vom": prose may well mention "vom 24. Februar 2022".
_SOURCE = re.compile(
    rf"Generalstab\w*[^\n:]{{0,40}}?\bvom\s+(?P<day>\d{{1,2}})\.\s*{_MONTH}"
    r"(?:\s+(?P<year>\d{4}))?",
    re.IGNORECASE,
)


class TickerGermanParser(TickerParser):
    """The German ticker: date from "Stand: 31. Januar 2024" and the source line "vom 31. Januar".

    The source line's year, when it has none, comes from the "Stand" line.
    """

    name = "ticker_de"
    version = "2"
    family = "ticker_de"
    date_cues = ("stand", "generalstab")

    @staticmethod
    def report_date(text: str) -> tuple[dt.date | None, tuple[Problem, ...]]:
        return report_date_de(text)


def _month(word: str) -> int | None:
    return MONTHS_DE.get(word.casefold())


def report_date_de(text: str) -> tuple[dt.date | None, tuple[Problem, ...]]:
    """The ticker's report date from its "Stand" line and source line.

    >>> report_date_de("Stand: 31. Januar 2024\\nQuelle: Ukrainischer Generalstab vom 31. Januar")
    (datetime.date(2024, 1, 31), ())
    """
    stated: list[tuple[str, dt.date | None]] = []
    for match in _STAND_WORDS.finditer(text):
        month = _month(match["month"])
        if month is not None:
            stated.append(("Stand", date_or_none(int(match["year"]), month, int(match["day"]))))
    stated += [
        ("Stand", date_or_none(int(m["year"]), int(m["month"]), int(m["day"])))
        for m in _STAND_NUMERIC.finditer(text)
    ]
    stand_years = {date.year for _, date in stated if date is not None}
    for match in _SOURCE.finditer(text):
        month = _month(match["month"])
        if month is None:
            continue
        if match["year"] is not None:
            year = int(match["year"])
        elif len(stand_years) == 1:
            year = next(iter(stand_years))
        elif not stand_years:
            return None, (Problem("the source line's date has no year and there is no Stand"),)
        else:
            continue  # the Stand dates already contradict each other
        stated.append(("source line", date_or_none(year, month, int(match["day"]))))
    return single_date(stated)
