"""The machine-translated English news ticker ("Persons: around 385,230 (+1090 ...)")."""

from __future__ import annotations

import datetime as dt
import re

from lossledger.parse.parsers._ticker import TickerParser
from lossledger.parse.parsers._utils import MONTHS_EN, date_or_none, single_date
from lossledger.parse.parsers.base import Problem

__all__ = ["TickerEnglishParser"]

_HEADER = re.compile(r"\bdate\s+(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})\b", re.I)
_ORDINAL = r"(?:st|nd|rd|th)?"
_SOURCE = re.compile(
    r"Source\s*:\s*Ukrainian\s+General\s+Staff\s+dated\s+"
    rf"(?:(?P<month>[A-Za-z]+)\.?\s+(?P<day>\d{{1,2}}){_ORDINAL}"
    rf"|(?P<day2>\d{{1,2}}){_ORDINAL}\s+(?:of\s+)?(?P<month2>[A-Za-z]+))"
    r"(?:,?\s+(?P<year>\d{4}))?",
    re.IGNORECASE,
)


class TickerEnglishParser(TickerParser):
    """The English ticker: date from the ``date YYYY-MM-DD`` header and the source line.

    The source line names only month and day; its year comes from the header. The two must
    agree, else the report is quarantined.
    """

    name = "ticker_en"
    version = "2"
    family = "ticker_en"
    date_cues = ("date",)

    @staticmethod
    def report_date(text: str) -> tuple[dt.date | None, tuple[Problem, ...]]:
        return report_date_en(text)


def report_date_en(text: str) -> tuple[dt.date | None, tuple[Problem, ...]]:
    """The ticker's report date from its header and source line.

    >>> report_date_en(" date 2024-01-31\\nSource: Ukrainian General Staff dated January 31st.")
    (datetime.date(2024, 1, 31), ())
    """
    stated: list[tuple[str, dt.date | None]] = [
        ("header", date_or_none(int(m["year"]), int(m["month"]), int(m["day"])))
        for m in _HEADER.finditer(text)
    ]
    header_years = {date.year for _, date in stated if date is not None}
    for match in _SOURCE.finditer(text):
        month = MONTHS_EN.get((match["month"] or match["month2"]).casefold())
        if month is None:
            continue
        day = int(match["day"] or match["day2"])
        if match["year"] is not None:
            stated.append(("source line", date_or_none(int(match["year"]), month, day)))
        elif len(header_years) == 1:
            stated.append(("source line", date_or_none(next(iter(header_years)), month, day)))
        elif not header_years:
            return None, (Problem("the source line's date has no year and there is no header"),)
    return single_date(stated)
