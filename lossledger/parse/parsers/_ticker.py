"""What the two news-ticker parsers share: "Label: figure" lines, echoes and all."""

from __future__ import annotations

import datetime as dt
from abc import abstractmethod

from lossledger.parse.parsers._text import (
    claims_any,
    is_structured,
    ticker_figures,
    ticker_unreadable,
)
from lossledger.parse.parsers._utils import build_result, folded
from lossledger.parse.parsers.base import Parser, ParseResult, Problem

__all__ = ["TickerParser"]


class TickerParser(Parser):
    """A news ticker in one language; subclasses say how its page gives the report date."""

    source_kind = "ticker"
    family: str
    #: Words (case-folded) of which a text with a date this parser reads has one at least.
    date_cues: tuple[str, ...]

    @staticmethod
    @abstractmethod
    def report_date(text: str) -> tuple[dt.date | None, tuple[Problem, ...]]:
        """The report date and any problem with it (missing, contradictory)."""

    def finds_date(self, text: str) -> bool:
        # A JSON document or a CSV table is never a ticker (its claim says no too). A date
        # needs one of the cue words: most texts are told apart by a substring test (the date
        # patterns, case-insensitive, scan each text at some 15 µs per KB).
        if is_structured(text):
            return False
        lower = folded(text)
        if not any(cue in lower for cue in self.date_cues):
            return False
        report_date, problems = self.report_date(text)
        return report_date is not None and not problems

    def claims(self, text: str, *, media_type: str) -> bool:
        return claims_any(ticker_figures(text), family=self.family)

    def parse(self, text: str, *, media_type: str) -> ParseResult:
        report_date, problems = self.report_date(text)
        return build_result(
            self,
            report_date=report_date,
            date_problems=problems,
            figures=ticker_figures(text),
            family=self.family,
            unreadable=ticker_unreadable(text, family=self.family),
        )
