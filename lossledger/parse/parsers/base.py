"""The parser contract: what every report format's parser takes and gives back.

A parser is pure: it sees the decoded text of one raw report and returns what the text says,
never guessing. Anything it cannot place (an unknown label, a contradictory date) comes back as
a :class:`Problem`, which the pipeline quarantines with its reason.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal

__all__ = [
    "SOURCE_KINDS",
    "DateSource",
    "ParseResult",
    "ParsedObservation",
    "Parser",
    "Problem",
    "SourceKind",
]

SourceKind = Literal["official", "api", "ticker", "history"]
DateSource = Literal["stated", "completed", "inferred"]
#: Source kinds in the default consensus priority, highest first.
SOURCE_KINDS: tuple[SourceKind, ...] = ("official", "api", "ticker", "history")


@dataclass(frozen=True, slots=True)
class ParsedObservation:
    """One figure a report states: a category's cumulative total on a date."""

    date: dt.date | None
    """``None`` only while the date is still to be inferred from the figures (projection)."""
    category: str
    total: int
    stated_delta: int | None = None
    qualifier: str | None = None
    label: str | None = None
    """The label as written in the report (before mapping to the category code)."""
    span_start: int | None = None
    """Character offset, into the decoded text, where the figure's item starts."""
    span_end: int | None = None
    confidence: float = 1.0
    """How sure the reader is of this figure (label match, layout), 0..1."""
    date_source: DateSource = "stated"
    """How the date was found: stated in full, completed (year added), inferred from figures."""
    date_text: str | None = None
    """The date as written in the report."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Something in a report that could not be turned into an observation."""

    reason: str
    date: dt.date | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class ParseResult:
    """What one report yields: which parser read it, the observations and the problems.

    ``parser`` is ``None`` when no parser (or more than one) claimed the report; the problems
    then say why, and the report is quarantined whole.
    """

    parser: str | None
    parser_version: str | None
    source_kind: SourceKind | None
    report_date: dt.date | None
    observations: tuple[ParsedObservation, ...] = ()
    problems: tuple[Problem, ...] = field(default=())


class Parser(ABC):
    """A reader of one report format.

    Subclasses set ``name``, ``version`` and ``source_kind`` and implement :meth:`claims` and
    :meth:`parse`. Bump ``version`` whenever the output for some input changes: cached parse
    results are keyed on it.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    source_kind: ClassVar[SourceKind]

    @abstractmethod
    def claims(self, text: str, *, media_type: str) -> bool:
        """Whether this text looks like this parser's format (cheap, no full parse)."""

    def finds_date(self, text: str) -> bool | None:
        """Whether this parser would find the text's report date, told cheaply; ``None`` (the
        default) when it cannot tell, as for files whose rows have dates of their own.

        A text template that finds no report date yields problems only: its figures cannot be
        placed in time. When no parser says it finds one, those that say they do not are not
        asked to claim the text, and the general reader, which completes and infers dates,
        reads it (of the 4,000 texts of the real-world corpus's throughput run, templates
        claimed 1,861 and none of them could date 1,483: their claims and parses were some 5 %
        of the parse stage's time, wasted).
        """
        return None

    @abstractmethod
    def parse(self, text: str, *, media_type: str) -> ParseResult:
        """Read the whole report."""
