"""Report dates as real pages state them, in any of the sources' languages.

Only dates introduced by a *cue* count ("from 24.02.22 to ...", "as of", "Stand", "станом на",
"за минулу добу", "Generalstab ... vom"): a date in a caption, a time ("Stand 22:00 Uhr") or a
weekday alone never becomes the report date. Common forms are read by a fast path (numbers, and
month names from dateparser's own locale data, kept in ``month_names.csv``); anything else goes
to dateparser, cached on the date's text. A date without a year is completed from the page's or
the report's own time, and says so (``completed``).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DATE_LANGUAGES",
    "MONTH_KEYS",
    "MONTH_NAMES_PATH",
    "MONTH_ONLY_LANGUAGES",
    "FoundDate",
    "ReportDate",
    "complete_year",
    "find_dates",
    "month_number",
    "read_date_text",
    "report_date",
]

DATE_LANGUAGES = ("en", "uk", "ru", "de", "fr", "pl", "it", "tr")
MONTH_KEYS = ("january", "february", "march", "april", "may", "june", "july", "august",
              "september", "october", "november", "december")
#: Languages whose month names only tell a year from a count ("en febrero de 2022").
MONTH_ONLY_LANGUAGES = ("es", "pt", "ro", "cs", "sk", "hu", "nl", "lt", "el", "fi", "id")
#: The month names of dateparser's locale data for these languages (``language,month,name``),
#: made by ``python -m tests.month_names``; ``tests/test_month_names.py`` checks that it still
#: says what the installed dateparser says. Read from here, not from dateparser: loading its
#: locales took the first report of a batch some 0.1 s, before any worker could start.
MONTH_NAMES_PATH = Path(__file__).resolve().parents[1] / "month_names.csv"


@functools.cache
def _month_name_rows() -> tuple[tuple[str, int, str], ...]:
    with MONTH_NAMES_PATH.open(encoding="utf-8", newline="") as handle:
        return tuple(
            (row["language"], int(row["month"]), row["name"]) for row in csv.DictReader(handle)
        )


@functools.cache
def _month_names(languages: tuple[str, ...] = DATE_LANGUAGES) -> dict[str, int]:
    """Each month name of ``languages`` (case-folded, no final dot): the month it names, as
    the first of the languages that knows the name has it."""
    by_language: dict[str, list[tuple[int, str]]] = {}
    for language, number, name in _month_name_rows():
        by_language.setdefault(language, []).append((number, name))
    names: dict[str, int] = {}
    for language in languages:
        for number, name in by_language.get(language, ()):
            names.setdefault(name.casefold().rstrip("."), number)
    return names


def month_number(word: str) -> int | None:
    """The month a word names in the date languages, or ``None``.

    >>> month_number("febrero"), month_number("Juli"), month_number("tanks")
    (2, 7, None)
    """
    return _month_names((*DATE_LANGUAGES, *MONTH_ONLY_LANGUAGES)).get(
        word.casefold().rstrip("."))


_WORD = r"[^\W\d_]{3,12}"
_CORE = (
    r"(?:\d{4}-\d{1,2}-\d{1,2}"
    r"|\d{1,2}[./]\d{1,2}(?:[./](?:\d{4}|\d{2}))?(?!\d|\.\d|:\d|\s*Uhr)"
    rf"|\d{{1,2}}(?:st|nd|rd|th|-?го|-?е)?\.?\s+(?:of\s+)?{_WORD}\.?(?:,?\s+\d{{4}}(?!\d))?"
    rf"|{_WORD}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?![\d.:])(?:,?\s+\d{{4}}(?!\d))?)"
)
# An optional weekday or "morning of" before the date: "Montag, 4. Juli", "ранок 7 квітня".
_PREFIX = rf"(?:(?:the\s+)?(?:morning\s+of\s+(?:the\s+)?|{_WORD}\.?,?\s+))"
# Lazy first ("dated January 30th": "January" is the month, not a weekday), greedy second
# ("ранок 7 квітня": "ранок" is not a month).
_DATE = rf"{_PREFIX}??(?P<date>{_CORE})"
_DATE_GREEDY = rf"{_PREFIX}?(?P<date>{_CORE})"
_START = (
    r"24[./\s]\s*(?:0?2|лютого|февраля|februar|february|feb|lutego|février|febbraio|şubat)\.?"
)
_CUES: tuple[tuple[str, int, int, str], ...] = (
    # (name, tier, days to add, pattern before the date); tier 1 beats tier 2.
    ("period", 1, 0,
     rf"\b(?:from|з|із|від|vom|von|с|od|du|dal|since)\s+{_START}(?:[./\s]\s*(?:20)?22)?\s*"
     r"(?:to|till|until|по|до|bis(?:\s+zum)?|do|au|al)\s+"),
    ("period", 1, 0, rf"(?<![\d.])\b{_START}(?:[./\s]\s*(?:20)?22)?\s*[–—-]\s*"),
    ("as of", 1, 0,
     r"(?:\bas\s+of|\bстаном\s+на|\bпо\s+состоянию\s+на|\bна\s+утро|\bна\s+ранок|\bstand"
     r"(?:\s+am\s+morgen\s+des|\s+vom|\s+am)?|\bau|\bà\s+la\s+date\s+du|\bna\s+dzień"
     r"|\bwedług\s+stanu\s+na|\bstan\s+na(?:\s+rano)?|\baggiornat[oi]\s+al"
     r"|\baggiornamento\s+del|\bal\s+mattino\s+del|\bdati\s+al)\s*:?\s*"),
    ("past day", 1, 1,
     r"(?:\bза\s+минулу\s+добу|\bза\s+прошедшие\s+сутки|\bза\s+последние\s+сутки"
     r"|\bover\s+the\s+past\s+day|\bin\s+the\s+past\s+day|\bim\s+laufe\s+des)\s*,?\s*\(?\s*"),
    ("source", 1, 0,
     r"(?:general\s+staff|generalstab\w*|генштаб\w*|генеральн\w+\s+штаб\w*|sztab\w*\s+generaln\w*"
     r"|état-major)[^\n:]{0,40}?\b(?:dated|vom|від|от|of|on|z\s+dnia|du)\s+"),
    ("update", 2, 0,
     r"(?:\bupdate(?:\s+vom)?|\baktualisiert(?:\s+am)?|\bupdated(?:\s+on)?|\bоновлено)\s*:?\s*"),
    ("page header", 2, 0, r"(?:^|\n)\s*date\s+(?=\d{4}-)"),
)
_CUE_RE = re.compile(
    "|".join(f"(?P<c{i}>{pattern}){_DATE.replace('?P<date>', f'?P<d{i}>')}"
             for i, (_, _, _, pattern) in enumerate(_CUES)),
    re.IGNORECASE,
)
_GREEDY = tuple(
    re.compile(f"(?:{pattern}){_DATE_GREEDY}", re.IGNORECASE) for _, _, _, pattern in _CUES
)
# The same patterns without IGNORECASE, for lower-cased text (three times faster).
_CUE_RE_LOWER = re.compile(_CUE_RE.pattern)
_GREEDY_LOWER = tuple(re.compile(pattern.pattern) for pattern in _GREEDY)
# Where a cue can start in lower-cased text: each branch begins with a literal character (so the
# regex engine skips straight to those characters) and checks the rest of the cue's first words
# without consuming them. A necessary condition only: ``_CUE_RE_LOWER`` decides at each spot.
_CUE_START_LOWER = re.compile(
    "|".join((
        # period: "from|з|із|від|vom|von|с|od|du|dal|since" then "24"
        r"f(?=rom\s+24)", r"з(?=\s+24)", r"і(?=з\s+24)", r"в(?=ід\s+24)", r"v(?=o[mn]\s+24)",
        r"с(?=\s+24)", r"o(?=d\s+24)", r"d(?=(?:u|al)\s+24)", r"s(?=ince\s+24)",
        # "(?<![\d.])\b24": no word character before it (checked after the literal, which
        # keeps every branch starting with one: the engine skips to those characters)
        r"2(?<![\w.]2)(?=4)",
        # as of (every branch starting with "a" starts with \b)
        r"a(?<!\wa)(?=s\s+of|u|ggiorna|l\s+mattino|ktualisiert)", r"с(?=таном)",
        r"п(?=о\s+состоянию)",
        r"н(?=а\s+(?:утро|ранок))", r"s(?=tan|ztab)", r"à", r"n(?=a\s+dzień)",
        r"w(?=edług)", r"d(?=ati\s+al)",
        # past day
        r"з(?=а\s+(?:минулу|прошедшие|последние))", r"o(?=ver\s+the)", r"i(?=n\s+the|m\s+laufe)",
        # source, update, page header
        r"g(?=eneral)", r"г(?=ен)", r"é(?=tat-major)", r"u(?=pdate)", r"о(?=новлено)",
        r"\n(?=\s*date\s)",  # a line break starts only the page header's cue
    ))
)


def _cue_matches_lower(subject: str) -> list[re.Match[str]]:
    """``_CUE_RE_LOWER.finditer(subject)``, tried only where a cue can start (same matches)."""
    found: list[re.Match[str]] = []
    position = 0
    for start in itertools.chain((0,), map(re.Match.start,
                                           _CUE_START_LOWER.finditer(subject, 1))):
        if start < position:
            continue
        match = _CUE_RE_LOWER.match(subject, start)
        if match is not None:
            found.append(match)
            position = max(match.end(), start + 1)
    return found


# Turkish puts the cue after the date: "20 Eylül 2024 itibarıyla", "7 Nisan sabahı itibarıyla".
_SUFFIX_CUE = re.compile(rf"(?P<date>{_CORE})(?:\s+sabah[ıi])?\s+itibar[ıi]yla", re.IGNORECASE)
_SUFFIX_CUE_LOWER = re.compile(_SUFFIX_CUE.pattern)
_NUMERIC = re.compile(r"(\d{1,2})[./](\d{1,2})(?:[./](\d{4}|\d{2}))?")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DAY_MONTH = re.compile(rf"(\d{{1,2}})(?:st|nd|rd|th|-?го|-?е)?\.?\s+(?:of\s+)?({_WORD})\.?"
                        r"(?:,?\s+(\d{4}))?")
_MONTH_DAY = re.compile(rf"({_WORD})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?")


@dataclass(frozen=True, slots=True)
class FoundDate:
    """A cued date in the text: (year or None, month, day), its text, span, cue and tier."""

    year: int | None
    month: int
    day: int
    text: str
    start: int
    end: int
    cue: str
    tier: int
    shift: int


@dataclass(frozen=True, slots=True)
class ReportDate:
    """The report date, how it was found and its text, or the reason there is none."""

    date: dt.date | None
    source: str | None
    text: str | None
    problem: str | None = None


@functools.lru_cache(maxsize=4096)
def read_date_text(text: str) -> tuple[int | None, int, int] | None:
    """(year or None, month, day) of a date's own text, or ``None``.

    >>> read_date_text("31.01.24"), read_date_text("4. Juli 2022"), read_date_text("7 квітня")
    ((2024, 1, 31), (2022, 7, 4), (None, 4, 7))
    >>> read_date_text("March 19, 2025"), read_date_text("5 marca")
    ((2025, 3, 19), (None, 3, 5))
    >>> read_date_text("10.00") is None  # "saati ile 10.00 itibarıyla": a time
    True
    """
    text = text.strip()
    if (match := _ISO.fullmatch(text)) is not None:
        return int(match[1]), int(match[2]), int(match[3])
    if (match := _NUMERIC.fullmatch(text)) is not None:
        if not (1 <= int(match[2]) <= 12 and 1 <= int(match[1]) <= 31):
            return None  # "10.00", "12.45": a time of day, not a date
        year = int(match[3]) if match[3] else None
        return (year + 2000 if year is not None and year < 100 else year), int(match[2]), int(
            match[1])
    months = _month_names()
    if (match := _DAY_MONTH.fullmatch(text)) is not None:
        if match[2].casefold() not in months:
            return None  # "ранок 7": the word is no month in any of the languages
        return (int(match[3]) if match[3] else None), months[match[2].casefold()], int(match[1])
    if (match := _MONTH_DAY.fullmatch(text)) is not None:
        if match[1].casefold() not in months:
            return None
        return (int(match[3]) if match[3] else None), months[match[1].casefold()], int(match[2])
    return _dateparser(text)


@functools.lru_cache(maxsize=4096)
def _dateparser(text: str) -> tuple[int | None, int, int] | None:
    import dateparser

    parsed = dateparser.parse(
        text, languages=list(DATE_LANGUAGES),
        settings={"REQUIRE_PARTS": ["day", "month"], "RELATIVE_BASE": dt.datetime(1900, 1, 1)},
    )
    if parsed is None:
        return None
    year = parsed.year if re.search(r"\b\d{4}\b", text) else None
    return year, parsed.month, parsed.day


def find_dates(text: str) -> list[FoundDate]:
    """Every cued date in the text, in order."""
    found = []
    lower = text.lower()
    # Lower-casing keeps offsets unless a character grows ("İ"): then match case-insensitively.
    fast = len(lower) == len(text)
    subject, greedy_cues = (lower, _GREEDY_LOWER) if fast else (text, _GREEDY)
    matches = _cue_matches_lower(lower) if fast else _CUE_RE.finditer(text)
    for match in matches:
        index = next(int(name[1:]) for name, value in match.groupdict().items()
                     if value is not None and name.startswith("d"))
        cue, tier, shift, _ = _CUES[index]
        start, end = match.start(f"d{index}"), match.end(f"d{index}")
        date_text = text[start:end]
        parts = read_date_text(date_text)
        if parts is None:
            greedy = greedy_cues[index].match(subject, match.start())
            if greedy is None:
                continue
            start, end = greedy.start("date"), greedy.end("date")
            date_text = text[start:end]
            if (parts := read_date_text(date_text)) is None:
                continue
        year, month, day = parts
        found.append(FoundDate(year, month, day, date_text, start, end, cue, tier, shift))
    # The Turkish cue is a literal "itibar...": no need to try its date pattern everywhere.
    suffixed = (_SUFFIX_CUE_LOWER.finditer(lower) if "itibar" in lower else ()) if fast \
        else _SUFFIX_CUE.finditer(text)
    for match in suffixed:
        date_text = text[match.start("date"):match.end("date")]
        parts = read_date_text(date_text)
        if parts is not None:
            found.append(FoundDate(*parts, date_text, match.start("date"), match.end("date"),
                                   "as of", 1, 0))
    return found


def complete_year(month: int, day: int, reference: dt.date) -> dt.date | None:
    """The date with that month and day nearest before (or on, or one day after) ``reference``.

    >>> complete_year(12, 31, dt.date(2024, 1, 2)), complete_year(1, 1, dt.date(2024, 1, 2))
    (datetime.date(2023, 12, 31), datetime.date(2024, 1, 1))
    """
    for year in (reference.year, reference.year - 1):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if candidate <= reference + dt.timedelta(days=1):
            return candidate
    return None


def _resolve(found: FoundDate, reference: dt.date | None) -> tuple[dt.date | None, str, str]:
    if found.year is not None:
        try:
            date = dt.date(found.year, found.month, found.day)
        except ValueError:
            return None, "stated", f"impossible report date '{found.text}'"
        return date + dt.timedelta(days=found.shift), "stated", ""
    if reference is None:
        return None, "completed", f"report date '{found.text}' has no year"
    # The report's own day (the stated one plus the cue's shift: "За минулу добу, 7 грудня" is
    # the report of 8 December) is what cannot come after the reference. A shifted day is over
    # when the report is out, so it lies before the fetch: no day of tolerance for it.
    latest = reference - dt.timedelta(days=found.shift + (1 if found.shift else 0))
    date = complete_year(found.month, found.day, latest)
    if date is None:
        return None, "completed", f"impossible report date '{found.text}'"
    return date + dt.timedelta(days=found.shift), "completed", ""


def report_date(found: Iterable[FoundDate], *, reference: dt.date | None) -> ReportDate:
    """Reduce the cued dates to the report's one date (the best tier present).

    >>> found = find_dates("Станом на ранок 7 квітня втрати склали")
    >>> report_date(found, reference=dt.date(2024, 4, 7))
    ReportDate(date=datetime.date(2024, 4, 7), source='completed', text='7 квітня', problem=None)
    """
    found = list(found)
    if not found:
        return ReportDate(None, None, None)
    tier = min(f.tier for f in found)
    resolved = [(f, *_resolve(f, reference)) for f in found if f.tier == tier]
    problems = [problem for _, _, _, problem in resolved if problem]
    if problems:
        return ReportDate(None, None, None, problems[0])
    distinct = {date for _, date, _, _ in resolved}
    if len(distinct) > 1:
        listed = ", ".join(f"{date} ('{f.text}')" for f, date, _, _ in resolved)
        return ReportDate(None, None, None, f"contradictory report dates: {listed}")
    first, date, source, _ = resolved[0]
    stated = [r for r in resolved if r[2] == "stated"]
    if stated:
        first, date, source, _ = stated[0]
    return ReportDate(date, source, first.text)
