"""The general text parser: any page that re-publishes the figures, in any layout.

It reads what the template parsers do not claim (or claim but cannot read), through the
general extraction layer (:mod:`lossledger.parse.extract`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

# The module, not its function: importing lossledger.parse.extract first imports this module
# (through the parsers' package) while extract.report is still loading.
import lossledger.parse.extract.report as _report
from lossledger.parse.extract.extract import extract_figures
from lossledger.parse.parsers._text import is_structured
from lossledger.parse.parsers.base import Parser, ParseResult

__all__ = ["GeneralTextParser"]


class GeneralTextParser(Parser):
    """Real pages: news posts, tickers, translations, in en/uk/ru/de/fr/pl/it.

    >>> result = GeneralTextParser().parse("Stand: 4. Juli 2022\\nPanzer: 1589", media_type="")
    >>> result.report_date, [(o.category, o.total) for o in result.observations]
    (datetime.date(2022, 7, 4), [('tanks', 1589)])
    """

    name = "text"
    version = "5"
    source_kind = "ticker"

    def claims(self, text: str, *, media_type: str) -> bool:
        if is_structured(text):
            return False
        figures, doubts = extract_figures(text)
        return bool(figures or doubts)

    def parse(
        self,
        text: str,
        *,
        media_type: str,
        received_at: dt.datetime | None = None,
        page_date: dt.date | Callable[[], dt.date | None] | None = None,
        html: bool = False,
    ) -> ParseResult:
        if is_structured(text):
            return ParseResult(self.name, self.version, self.source_kind, None)
        reference = received_at.date() if received_at is not None else None
        report = _report.extract_report(text, reference=reference, page_date=page_date, html=html)
        return ParseResult(
            parser=self.name,
            parser_version=self.version,
            source_kind=self.source_kind,
            report_date=report.report_date,
            observations=report.observations,
            problems=report.problems,
        )
