"""Helpers every parser shares: decoding, dashes, numbers, qualifiers, dates, result assembly."""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import re
from collections.abc import Iterable
from typing import NamedTuple

from lossledger.parse.ontology import category_for
from lossledger.parse.parsers.base import ParsedObservation, Parser, ParseResult, Problem

__all__ = [
    "DASH_CLASS",
    "DELTA_PATTERN",
    "MAX_HISTORY_ROWS",
    "MONTHS_DE",
    "MONTHS_EN",
    "NUMBER_PATTERN",
    "QUALIFIER_PATTERN",
    "Figure",
    "UndecodableReport",
    "build_result",
    "date_or_none",
    "decode_report",
    "dedupe_observations",
    "expand_year",
    "folded",
    "html_to_text",
    "load_json",
    "looks_like_html",
    "make_result",
    "normalise_dashes",
    "normalise_qualifier",
    "parse_count",
    "parse_delta",
    "single_date",
]

#: Every dash a report may use between a label and its figure, or as a minus sign.
DASH_CLASS = r"[\-\u2010-\u2015\u2212\uFE58\uFE63\uFF0D]"
_DASH = re.compile(DASH_CLASS)
#: A count: plain digits, or groups of three separated by one of , . space NBSP NNBSP thin space.
NUMBER_PATTERN = r"\d{1,3}(?:[,.\u00a0\u202f\u2009 ]\d{3})+(?!\d)|\d+"
_SEPARATORS = re.compile(r"[,.\u00a0\u202f\u2009 ]")
#: A stated change, as found inside the brackets: "+1090", "-5", "+1.090", "10".
DELTA_PATTERN = rf"(?:[+]|{DASH_CLASS})?[^\S\n]*(?:{NUMBER_PATTERN})"
_DELTA = re.compile(rf"(?P<sign>[+]|{DASH_CLASS})?\s*(?P<number>{NUMBER_PATTERN})")

# Normalised to the English words the rest of the pipeline stores.
_QUALIFIERS: dict[str, str] = {
    "about": "about",
    "around": "around",
    "approximately": "approximately",
    "approx.": "approximately",
    "circa": "approximately",
    "ca.": "approximately",
    "more than": "more than",
    "over": "more than",
    "etwa": "about",
    "rund": "around",
    "ungefähr": "approximately",
    "mehr als": "more than",
    "über": "more than",
    "близько": "about",
    "біля": "around",
    "приблизно": "approximately",
    "орієнтовно": "approximately",
    "понад": "more than",
    "більше": "more than",
}
QUALIFIER_PATTERN = "|".join(
    re.escape(word).replace(r"\ ", r"[^\S\n]+")
    for word in sorted(_QUALIFIERS, key=len, reverse=True)
)

MONTHS_EN: dict[str, int] = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
MONTHS_DE: dict[str, int] = {
    name: number
    for number, names in enumerate(
        (
            ("januar", "jänner", "jan"),
            ("februar", "feb"),
            ("märz", "maerz", "mär"),
            ("april", "apr"),
            ("mai",),
            ("juni", "jun"),
            ("juli", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("oktober", "okt"),
            ("november", "nov"),
            ("dezember", "dez"),
        ),
        start=1,
    )
    for name in names
}

#: Rows (days) a history file may hold: real ones hold some 1,700 (one per day since
#: February 2022); more is not a history of this war, and is refused before it costs memory.
MAX_HISTORY_ROWS = 20_000

# Control characters other than \t \n \v \f \r (C0, DEL and C1): binary, not text.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# Non-ASCII characters German/English text in cp1252 plausibly contains besides letters.
_CP1252_PUNCTUATION = frozenset("\u00a0–—„“”‘’‚«»…·€°§×½¼¾²³´")
_HTML_MARKER = re.compile(r"<\s*(?:!doctype|html|head|body|p|div|br|span|table)\b", re.IGNORECASE)
_HTML_DROP = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_BREAK = re.compile(r"<\s*(?:br|/p|/div|/li|/tr|/h[1-6]|p|div|li|tr|h[1-6])\b[^>]*>", re.I)
_HTML_TAG = re.compile(r"<[^>]*>")


#: No loss category can reach this; larger numbers are problems, never Int64 overflows.
_MAX_TOTAL = 100_000_000


class UndecodableReport(ValueError):
    """The bytes are not text in any encoding the sources use."""


def _control_character(text: str) -> str | None:
    match = _CONTROL.search(text)
    return None if match is None else match.group()


def _plausible_cp1252(text: str) -> bool:
    non_ascii = _NON_ASCII.findall(text)
    if not non_ascii:
        return True
    wordlike = sum(1 for c in non_ascii if c.isalpha() or c in _CP1252_PUNCTUATION)
    # Real Western text has few non-ASCII characters and nearly all of them are letters.
    return wordlike >= 0.9 * len(non_ascii) and len(non_ascii) <= 0.3 * len(text)


def _check_text(text: str, encoding: str) -> str:
    control = _control_character(text)
    if control is not None:
        raise UndecodableReport(
            f"undecodable bytes: binary data (control character U+{ord(control):04X}) "
            f"in {encoding} text"
        )
    return text


def decode_report(body: bytes) -> str:
    """Decode a report's bytes: UTF-8 (with or without BOM), UTF-16 with BOM, else cp1252.

    Raises
    ------
    UndecodableReport
        When the bytes are binary or not plausibly text in any of these encodings.

    Examples
    --------
    >>> decode_report("Panzer: 6310".encode("utf-8-sig"))
    'Panzer: 6310'
    >>> decode_report("Spezialausrüstung: 1448".encode("cp1252"))
    'Spezialausrüstung: 1448'
    """
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _check_text(body.decode("utf-16"), "UTF-16")
        except UnicodeDecodeError as error:
            raise UndecodableReport(f"undecodable bytes: bad UTF-16 ({error.reason})") from None
    try:
        return _check_text(body.decode("utf-8-sig"), "UTF-8")
    except UnicodeDecodeError:
        pass
    try:
        text = body.decode("cp1252")
    except UnicodeDecodeError:
        # Bytes cp1252 leaves undefined are C1 controls in latin-1: never plausible text.
        text = body.decode("latin-1")
    text = _check_text(text, "cp1252/latin-1")
    if not _plausible_cp1252(text):
        raise UndecodableReport(
            f"undecodable bytes: {len(body)} bytes are neither UTF-8 nor plausible cp1252/latin-1"
        )
    return text


@functools.lru_cache(maxsize=4)
def folded(text: str) -> str:
    """The text case-folded, once for the parsers that look for cue words in it.

    >>> "stand" in folded("STAND: 31. Januar 2024")
    True
    """
    return text.casefold()


@functools.lru_cache(maxsize=4)
def load_json(text: str) -> object:
    """Parse JSON text once for both ``claims`` and ``parse``; ``None`` when it is not JSON.

    The cache is keyed on the text itself, so the ~700 KB history files are decoded once.
    Callers must not mutate the returned object.
    """
    if text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def looks_like_html(text: str, media_type: str) -> bool:
    """Whether the text is an HTML page (by media type or markup near the start)."""
    return "html" in media_type.lower() or bool(_HTML_MARKER.search(text[:2000]))


def html_to_text(text: str) -> str:
    """Strip markup, keeping block boundaries as line breaks.

    >>> html_to_text("<p>Panzer: 6310</p><p>U-Boote:&nbsp;1</p>")
    '\\nPanzer: 6310\\n\\nU-Boote:\\xa01\\n'
    """
    text = _HTML_DROP.sub(" ", text)
    text = _HTML_BREAK.sub("\n", text)
    return html.unescape(_HTML_TAG.sub("", text))


def normalise_dashes(text: str) -> str:
    """Replace every dash variant by ASCII ``-``.

    >>> normalise_dashes("tanks ‒ 6310 – 1 — 2")
    'tanks - 6310 - 1 - 2'
    """
    return _DASH.sub("-", text)


@functools.lru_cache(maxsize=65536)  # the same figures recur in every copy of a day
def parse_count(text: str) -> int:
    """Parse a count written with optional thousands separators.

    Raises
    ------
    ValueError
        When the separators are mixed (``1,234.567``) or the text is not a count.

    Examples
    --------
    >>> parse_count("385,230"), parse_count("385.230"), parse_count("385\u202f230")
    (385230, 385230, 385230)
    """
    separators = set(_SEPARATORS.findall(text))
    if len(separators) > 1:
        raise ValueError(f"mixed thousands separators in {text!r}")
    digits = _SEPARATORS.sub("", text)
    if not digits.isdecimal() or not digits.isascii():
        raise ValueError(f"not a count: {text!r}")
    return int(digits)


@functools.lru_cache(maxsize=65536)  # the same figures recur in every copy of a day
def parse_delta(text: str) -> int:
    """Parse a stated change such as ``+1090``, ``‒5`` or ``+1.090``.

    >>> parse_delta("+1.090"), parse_delta("\u22125"), parse_delta("0")
    (1090, -5, 0)
    """
    match = _DELTA.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a change: {text!r}")
    value = parse_count(match["number"])
    return -value if match["sign"] and match["sign"] != "+" else value


def normalise_qualifier(word: str | None) -> str | None:
    """Map a qualifier in any source language to its English form.

    >>> normalise_qualifier("etwa"), normalise_qualifier("Близько"), normalise_qualifier(None)
    ('about', 'about', None)
    """
    if word is None:
        return None
    return _QUALIFIERS.get(" ".join(word.casefold().split()))


def expand_year(year: int) -> int:
    """Two-digit years in report headers are 20xx.

    >>> expand_year(24), expand_year(2024)
    (2024, 2024)
    """
    return 2000 + year if year < 100 else year


def date_or_none(year: int, month: int, day: int) -> dt.date | None:
    """The date, or ``None`` when it does not exist (31.02.)."""
    try:
        return dt.date(expand_year(year), month, day)
    except ValueError:
        return None


def single_date(
    stated: Iterable[tuple[str, dt.date | None]],
) -> tuple[dt.date | None, tuple[Problem, ...]]:
    """Reduce the dates a report states (``(where, date)`` pairs) to its one report date.

    Returns the date and no problems, or ``None`` and the reason: no date, an impossible date,
    or dates that contradict each other.
    """
    stated = list(stated)
    if not stated:
        return None, (Problem("no report date found in the text"),)
    invalid = [where for where, date in stated if date is None]
    if invalid:
        return None, (Problem(f"impossible report date in {', '.join(invalid)}"),)
    distinct = {date for _, date in stated}
    if len(distinct) > 1:
        listed = ", ".join(f"{date} ({where})" for where, date in stated)
        return None, (Problem(f"contradictory report dates: {listed}"),)
    return distinct.pop(), ()


class Figure(NamedTuple):
    """A figure as found in the text, before the ontology and number parsing.

    An immutable record (a named tuple: built for every item of every report, it costs a
    third of a frozen dataclass).
    """

    label: str
    total: str
    delta: str | None = None
    qualifier: str | None = None
    start: int | None = None
    """Offset of the item in the decoded text (provenance)."""
    end: int | None = None


def _observation(figure: Figure, date: dt.date, family: str) -> ParsedObservation | Problem:
    label = " ".join(figure.label.split())
    code = category_for(label, family=family)
    if code is None:
        return Problem(f"unknown category '{label}'", date=date)
    try:
        total = parse_count(figure.total)
        delta = None if figure.delta is None else parse_delta(figure.delta)
    except ValueError as error:
        return Problem(f"malformed number for '{label}': {error}", date=date, category=code)
    if total > _MAX_TOTAL or (delta is not None and abs(delta) > _MAX_TOTAL):
        return Problem(f"number out of range for '{label}': {figure.total}", date=date,
                       category=code)
    # positional (date, category, total, stated_delta, qualifier, label, span_start, span_end):
    # built for every figure of every report
    return ParsedObservation(date, code, total, delta, normalise_qualifier(figure.qualifier),
                             label, figure.start, figure.end)


def dedupe_observations(
    observations: Iterable[ParsedObservation],
) -> tuple[tuple[ParsedObservation, ...], tuple[Problem, ...]]:
    """Keep one observation per (date, category); conflicting repeats become problems.

    Repeats that agree (a page quoting the same line twice) are harmless; repeats that disagree
    cannot both be true, so neither is kept.
    """
    kept: dict[tuple[dt.date, str], ParsedObservation] = {}
    conflicts: dict[tuple[dt.date, str], list[ParsedObservation]] = {}
    for observation in observations:
        key = (observation.date, observation.category)
        first = kept.get(key)
        if first is None:
            kept[key] = observation
        elif (first.total, first.stated_delta) != (observation.total, observation.stated_delta):
            conflicts.setdefault(key, [first]).append(observation)
    problems = tuple(
        Problem(
            f"conflicting figures for {category}: "
            + ", ".join(f"'{o.label}' {o.total} ({o.stated_delta})" for o in clashing),
            date=date,
            category=category,
        )
        for (date, category), clashing in conflicts.items()
    )
    return tuple(o for key, o in kept.items() if key not in conflicts), problems


def build_result(
    parser: Parser,
    *,
    report_date: dt.date | None,
    date_problems: tuple[Problem, ...],
    figures: Iterable[Figure],
    family: str,
    unreadable: Iterable[str] = (),
) -> ParseResult:
    """Turn a text report's figures into a :class:`ParseResult`.

    A report without a single trustworthy date yields problems only: its figures cannot be
    placed in time.
    """
    if report_date is None or date_problems:
        problems = date_problems or (Problem("no report date found in the text"),)
        return make_result(parser, None, (), problems)
    observations: list[ParsedObservation] = []
    problems_found: list[Problem] = []
    for figure in figures:
        outcome = _observation(figure, report_date, family)
        if isinstance(outcome, Problem):
            problems_found.append(outcome)
        else:
            observations.append(outcome)
    problems_found += [
        Problem(f"unreadable figure: '{item}'", date=report_date) for item in unreadable
    ]
    return finished_result(
        parser, report_date, observations, problems_found, document=f"{parser.name} report"
    )


def finished_result(
    parser: Parser,
    report_date: dt.date | None,
    observations: Iterable[ParsedObservation],
    problems: Iterable[Problem],
    *,
    document: str,
) -> ParseResult:
    """The result of a parse: repeats settled, and a document with no figures said to be so."""
    unique, conflicts = dedupe_observations(observations)
    found = (*problems, *conflicts)
    if not unique and not found:
        found = (Problem(f"no figures found in the {document}"),)
    return make_result(parser, report_date, unique, found)


def make_result(
    parser: Parser,
    report_date: dt.date | None,
    observations: tuple[ParsedObservation, ...],
    problems: tuple[Problem, ...],
) -> ParseResult:
    return ParseResult(
        parser=parser.name,
        parser_version=parser.version,
        source_kind=parser.source_kind,
        report_date=report_date,
        observations=observations,
        problems=problems,
    )
