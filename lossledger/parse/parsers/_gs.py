"""The General Staff's own posts (English and Ukrainian): shared reading of header and items."""

from __future__ import annotations

import datetime as dt
import re
from typing import ClassVar

from lossledger.parse.parsers._text import claims_any, dash_figures, dash_unreadable
from lossledger.parse.parsers._utils import build_result, date_or_none, single_date
from lossledger.parse.parsers.base import Parser, ParseResult, Problem, SourceKind

__all__ = ["GeneralStaffParser"]

_DATE = r"(?P<{0}day>\d{{1,2}})\.(?P<{0}month>\d{{1,2}})(?:\.(?P<{0}year>\d{{4}}|\d{{2}}))?(?!\d)"


class GeneralStaffParser(Parser):
    """A post stating the totals "from 24.02.22 to <report date>", then one item per category."""

    source_kind: ClassVar[SourceKind] = "official"
    family: ClassVar[str]
    #: The header's words before the period, e.g. "total combat losses of the enemy".
    header_words: ClassVar[str]
    #: The words for "from" and "to" in the period.
    period_words: ClassVar[tuple[str, str]]
    _header: ClassVar[re.Pattern[str]]
    _header_start: ClassVar[re.Pattern[str]]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        start, end = cls.period_words
        cls._header = re.compile(
            rf"{cls.header_words}\s+{start}\s+{_DATE.format('from_')}\s+{end}\s+{_DATE.format('')}",
            re.IGNORECASE,
        )
        cls._header_start = re.compile(cls.header_words, re.IGNORECASE)

    def finds_date(self, text: str) -> bool:
        """Whether the header states the period's end, year included.

        >>> from lossledger.parse.parsers.gs_en import GeneralStaffEnglishParser
        >>> parser = GeneralStaffEnglishParser()
        >>> parser.finds_date("The total combat losses of the enemy from 24.02.22 to 31.01.24")
        True
        >>> parser.finds_date("The total combat losses of the enemy from 24.02 to 31.01")
        False
        """
        if self._header_start.search(text) is None:  # no header words, no header
            return False
        report_date, problems = self._report_date(text)
        return report_date is not None and not problems

    def claims(self, text: str, *, media_type: str) -> bool:
        if self._header_start.search(text):
            return True
        return claims_any(dash_figures(text), family=self.family)

    def parse(self, text: str, *, media_type: str) -> ParseResult:
        report_date, problems = self._report_date(text)
        return build_result(
            self,
            report_date=report_date,
            date_problems=problems,
            figures=dash_figures(text),
            family=self.family,
            unreadable=dash_unreadable(text, family=self.family),
        )

    def _report_date(self, text: str) -> tuple[dt.date | None, tuple[Problem, ...]]:
        headers = list(self._header.finditer(text))
        if any(match["year"] is None for match in headers):
            return None, (Problem("report date in the header has no year"),)
        stated = [
            ("header", date_or_none(int(m["year"]), int(m["month"]), int(m["day"])))
            for m in headers
        ]
        return single_date(stated)
