"""One report read by the general extractor: its date, settled figures and problems."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from lossledger.parse.extract.dates import ReportDate, find_dates, report_date
from lossledger.parse.extract.extract import Doubt, Figure, extract_figures
from lossledger.parse.extract.labels import context_categories, otherwise_for
from lossledger.parse.extract.numerals import DAY_COUNT_RATIO
from lossledger.parse.ontology import CATEGORIES
from lossledger.parse.parsers.base import ParsedObservation, Problem

__all__ = [
    "DAY_COUNT_RATIO", "MERGED_INTO", "STALE_COPY_DAYS", "ExtractedReport", "extract_report",
]

#: Categories the General Staff merged: a label of the old one after the merge means the new.
MERGED_INTO = {"military_vehicles": "vehicles_fuel_tanks", "fuel_tanks": "vehicles_fuel_tanks"}


@dataclass(frozen=True, slots=True)
class ExtractedReport:
    """What the general extractor made of one report."""

    report_date: dt.date | None
    observations: tuple[ParsedObservation, ...]
    problems: tuple[Problem, ...]
    found_anything: bool


#: A date without a year is completed from the received time only when it falls at most this
#: many days before it (a daily report fetched late). Further back the copy is an archived page
#: whose year the received time cannot tell ("22 листопада" fetched two years on): its date is
#: inferred from its figures instead, never guessed.
STALE_COPY_DAYS = 7

_AND_BEFORE_DIGIT = re.compile("\u0648(?=[0-9\u0660-\u0669\u06f0-\u06f9])")
# Arabic-Indic, Persian, Devanagari and Bengali digits.
_EASTERN_DIGITS = re.compile("[\u0660-\u0669\u06f0-\u06f9\u0966-\u096f\u09e6-\u09ef]")
_TO_ASCII_DIGITS = {first + i: 0x30 + i for first in (0x0660, 0x06F0, 0x0966, 0x09E6)
                    for i in range(10)}


#: A round thousand this close to a page's one exact total (a hundredth of it) is its rounded
#: copy (a headline's "251.000" beside the text's 251,620).
ROUNDED_COPY_DIVISOR = 100
#: Each category's last day (``None``: still reported), a plain dict: asked for every figure.
_VALID_TO = {code: category.valid_to for code, category in CATEGORIES.items()}


def _category_on(code: str, date: dt.date | None) -> str:
    valid_to = _VALID_TO[code]
    if date is not None and valid_to is not None and date > valid_to and code in MERGED_INTO:
        return MERGED_INTO[code]
    return code


def _settle(
    figures: list[Figure], doubts: list[Doubt], date: dt.date | None, date_source: str,
    date_text: str | None,
) -> tuple[list[ParsedObservation], list[Problem]]:
    by_category: dict[str, list[Figure]] = {}
    for figure in figures:
        by_category.setdefault(_category_on(figure.category, date), []).append(figure)
    observations: list[ParsedObservation] = []
    problems: list[Problem] = []
    stated_changes = {
        (code, f.delta) for code, found in by_category.items() for f in found if f.delta
    }
    # "another 400 Russian soldiers ...; more than 85,000 since the invasion": a rounded total
    # is no figure, but it says how large the category's total is; a number a twentieth of it
    # or less is a day's count, never the total.
    rounded: dict[str, int] = {}
    for doubt in doubts:
        if doubt.rounded_total is not None and doubt.category is not None:
            code = _category_on(doubt.category, date)
            rounded[code] = max(rounded.get(code, 0), doubt.rounded_total)
    day_counts: set[str] = set()
    for code, found in by_category.items():
        if code in rounded and all(
                DAY_COUNT_RATIO * f.total <= rounded[code] for f in found):
            day_counts.add(code)
            problems += [Problem(f"a day's count beside a rounded total for {code}: "
                                 f"'{f.label}' {f.total} beside {rounded[code]}", date, code)
                         for f in found]
    for code, found in by_category.items():
        if code in day_counts:
            continue
        if len(found) == 1:  # the common case: one figure, nothing to weigh
            first = found[0]
            observations.append(ParsedObservation(
                date, code, first.total, first.delta, first.qualifier or None, first.label,
                first.start, first.end, round(first.confidence, 3),
                date_source, date_text,  # type: ignore[arg-type]
            ))
            continue
        # A number equal to the category's stated change is that change ("1 340 soldiers in a
        # day" beside "personnel 1 446 150 (+1 340)"), never a second total.
        found = [f for f in found if (code, f.total) not in stated_changes] or found
        pool = [f for f in found if f.strong] or found
        if len(pool) < len(found) and max(f.total for f in found) >= DAY_COUNT_RATIO * max(
                f.total for f in pool):
            # "35 systèmes d'artillerie" in a list of the day's counts, "18 212 systèmes
            # d'artillerie" in prose: the list gave the day, so the prose total competes too
            # (and the day's counts beside it are said below).
            pool = found
        values = sorted({f.total for f in pool})
        large = [v for v in values if v * DAY_COUNT_RATIO > values[-1]]
        exact = [v for v in large if v % 1000]
        copies = [v for v in large if not v % 1000 and len(exact) == 1
                  and abs(v - exact[0]) * ROUNDED_COPY_DIVISOR <= exact[0]]
        if copies:
            # "Rusia Telah Kehilangan 251.000 Tentara" in the headline, "251.620 orang" in the
            # text: a round thousand within a hundredth of the one exact total is its rounded
            # copy, never a second total.
            problems += [Problem(f"a rounded copy beside the total for {code}: '{f.label}' "
                                 f"{f.total} beside {exact[0]}", date, code)
                         for f in pool if f.total in copies]
            pool = [f for f in pool if f.total not in copies]
            values = [v for v in values if v not in copies]
        if len(values) > 1 and values[-2] * DAY_COUNT_RATIO <= values[-1]:
            # "1,340 soldiers in a day ... 678,520 in all": numbers a twentieth of the largest
            # or less are the day's counts beside the total (after the war's first weeks a
            # day never adds a twentieth); each is said, the total kept with less confidence.
            for f in pool:
                if f.total != values[-1]:
                    problems.append(Problem(
                        f"a day's count beside the total for {code}: '{f.label}' {f.total} "
                        f"beside {values[-1]}", date, code))
            pool = [f._replace(confidence=min(f.confidence, 0.8))
                    for f in pool if f.total == values[-1]]
        if len({f.total for f in pool}) > 1:
            listed = ", ".join(f"'{f.label}' {f.total} ({f.delta})" for f in pool)
            problems.append(Problem(f"conflicting figures for {code}: {listed}", date, code))
            continue
        deltas = {f.delta for f in pool if f.delta is not None}
        first = next((f for f in pool if f.delta is not None), pool[0])
        if len(deltas) > 1:
            problems.append(Problem(
                f"conflicting stated changes for {code}: {sorted(deltas)}", date, code))
            continue
        observations.append(ParsedObservation(
            date=date, category=code, total=first.total, stated_delta=first.delta,
            qualifier=next((f.qualifier for f in pool if f.qualifier), None), label=first.label,
            span_start=first.start, span_end=first.end,
            confidence=round(min(f.confidence for f in pool), 3),
            date_source=date_source,  # type: ignore[arg-type]
            date_text=date_text,
        ))
    settled = {o.category for o in observations}
    for doubt in doubts:
        code = doubt.category and _category_on(doubt.category, date)
        if code in settled or (not doubt.strong and code in by_category
                               and code not in day_counts):
            continue  # an exact figure for the category exists: the doubt adds nothing
        problems.append(Problem(doubt.reason, date, code))
    return observations, problems


def _in_context(figures: list[Figure], table: dict[str, str]) -> list[Figure]:
    """Figures whose label means one category, or another on a page that gives the first one
    a different total under another label (Hungarian "harckocsi" beside "tank"; a day's count
    under the other label, a twentieth or less of the total, says nothing)."""
    if not table:
        return figures
    others = [otherwise_for(f.label, table) for f in figures]
    named = {(f.category, f.total) for f, other in zip(figures, others, strict=True)
             if other is None}
    return [f._replace(category=other) if other is not None and any(
                category == f.category and total != f.total
                and total * DAY_COUNT_RATIO > f.total for category, total in named)
            else f for f, other in zip(figures, others, strict=True)]


def extract_report(
    text: str,
    *,
    reference: dt.date | None = None,
    page_date: dt.date | Callable[[], dt.date | None] | None = None,
    html: bool = False,
) -> ExtractedReport:
    """Read a report's date and figures with the general extractor.

    Parameters
    ----------
    text
        The decoded (and, for HTML, main-text) report.
    reference
        When the report was received: completes a date stated without a year.
    page_date
        The page's own date (HTML metadata, HTTP headers), preferred for completing a year; or
        a function giving it, called only when a date without a year needs it (finding a
        page's date costs more than reading its figures).
    html
        Whether the text was extracted from HTML (reserved: HTML and text read alike today).

    Examples
    --------
    >>> report = extract_report("Станом на ранок 7 квітня:\\n- танки — 6 853 (+11);",
    ...                         reference=dt.date(2024, 4, 7))
    >>> [(o.date.isoformat(), o.category, o.total, o.stated_delta, o.date_source)
    ...  for o in report.observations]
    [('2024-04-07', 'tanks', 6853, 11, 'completed')]

    The same page fetched two years on: the received time cannot give its year, the figures
    will (the projection infers the day they pin).

    >>> late = extract_report("Станом на ранок 7 квітня:\\n- танки — 6 853 (+11);",
    ...                       reference=dt.date(2026, 12, 6))
    >>> [(o.date, o.total, o.date_source, o.date_text) for o in late.observations]
    [(None, 6853, 'inferred', '7 квітня')]
    """
    if _EASTERN_DIGITS.search(text) is not None:
        # Persian, Arabic-Indic, Devanagari and Bengali digits ("۹۴۲۳ تانک", "৬৯০"): ASCII
        # digits, one character each (spans unchanged), before anything is read.
        text = text.translate(_TO_ASCII_DIGITS)
    if "\u0648" in text:
        # Arabic writes "and" onto the number ("و23954 مركبة"): a space in its place (one
        # character for one: spans unchanged) lets the number stand alone.
        text = _AND_BEFORE_DIGIT.sub(" ", text)
    found = find_dates(text)
    # A year stated anywhere on the page (its header first) completes the dates without one.
    with_year = sorted(
        (f for f in found if f.year is not None), key=lambda f: f.cue != "page header"
    )
    header = with_year[0] if with_year else None
    try:
        anchor = dt.date(header.year, header.month, header.day) if header and header.year else None
    except ValueError:
        anchor = None
    if callable(page_date):
        tier = min((f.tier for f in found), default=None)
        needed = anchor is None and any(f.year is None and f.tier == tier for f in found)
        page_date = page_date() if needed else None
    stated = report_date(found, reference=anchor or page_date or reference)
    if (stated.source == "completed" and not anchor and not page_date and reference
            and stated.date is not None
            and (reference - stated.date).days > STALE_COPY_DAYS):
        # Only the received time gave the year, and the day is long before it: an old page.
        stated = ReportDate(None, "inferred", stated.text)
    # A page cut mid-number ("avions – 4" of 434) is caught against the series (projection).
    figures, doubts = extract_figures(text, masked=[(f.start, f.end) for f in found])
    figures = _in_context(figures, context_categories(text))
    anything = bool(figures or doubts)
    if stated.problem is not None:
        return ExtractedReport(None, (), (Problem(stated.problem),), anything)
    source = stated.source or "inferred"
    observations, problems = _settle(figures, doubts, stated.date, source, stated.text)
    return ExtractedReport(stated.date, tuple(observations), tuple(problems), anything)
