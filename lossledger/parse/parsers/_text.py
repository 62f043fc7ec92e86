"""The two line grammars of text reports, shared by the format parsers.

General Staff posts write ``label ‒ [qualifier] total [(+delta)] [unit]`` items; news tickers write
``label: [qualifier] total [(+delta ...)]`` lines, which the machine-translated ticker prefixes with
an echo of the previous line's value. Both grammars must match a whole item, so prose that merely
contains a dash or a colon is never read as a figure.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from lossledger.parse.ontology import category_for
from lossledger.parse.parsers._utils import (
    DASH_CLASS,
    DELTA_PATTERN,
    NUMBER_PATTERN,
    QUALIFIER_PATTERN,
    Figure,
)

__all__ = [
    "claims_any",
    "dash_figures",
    "dash_unreadable",
    "is_structured",
    "ticker_figures",
    "ticker_unreadable",
]

_H = r"[^\S\n]"  # horizontal whitespace: a figure never spans lines
_VALUE = (
    rf"(?:(?P<qualifier>{QUALIFIER_PATTERN}){_H}+)?(?P<total>{NUMBER_PATTERN})"
    rf"{_H}*(?:\({_H}*(?P<delta>{DELTA_PATTERN})"
)
# Items end at a line break or at , ; : followed by space ("385,230" stays whole); the colon
# separates a header from items run on in the same paragraph.
_ITEM_BREAK = re.compile(r"\n|[,;:](?=\s)")
_DIGIT = re.compile(r"\d")
_DASH = re.compile(DASH_CLASS)
_DASH_ITEM = re.compile(
    rf"\s*(?P<label>[^\W\d_][^\d\n]*?){_H}*{DASH_CLASS}{_H}*{_VALUE}{_H}*\))?"
    rf"(?P<unit>{_H}+[^\W\d_][^\d()\n]{{0,40}}?)?[\s.,;]*",
    re.IGNORECASE,
)
# The machine-translated ticker starts a line with the previous line's value: an optional echo.
_ECHO = (
    rf"(?::{_H}*)?(?:(?:{QUALIFIER_PATTERN}){_H}+)?(?:{NUMBER_PATTERN})"
    rf"(?:{_H}*\([^()\n]*\))?{_H}+"
)
_TICKER_LINE = re.compile(
    rf"{_H}*(?:{_ECHO})?(?P<label>[^\W\d_][^\d:()\n]{{0,60}}?){_H}*:{_H}*"
    rf"{_VALUE}[^()\n]*\))?[\s.]*",
    re.IGNORECASE,
)
# A ticker line's label, whatever follows the colon (to spot figures the grammar cannot read).
_TICKER_LABEL = re.compile(
    rf"{_H}*(?:{_ECHO})?(?P<label>[^\W\d_][^\d:()\n]{{0,60}}?){_H}*:(?P<rest>.*\d.*)"
)
# JSON documents and CSV tables are never prose reports; skipping them keeps claims cheap.
# A JSON array opens on a value ("[{", "[1", '["'), not on a word: "[우크라전쟁] 러시아군 ..." and
# "[Update] ..." are a news page's tag.
_STRUCTURED = re.compile(r"\A[\s\ufeff]*(?:\{|\[\s*(?:[\[{\"\]\-\d]|true|false|null)|date,)")


def is_structured(text: str) -> bool:
    """Whether the text is a JSON document or a dated CSV table rather than prose.

    >>> is_structured('  [{"date": "2022-02-25"}]'), is_structured("Tank: 6310")
    (True, False)
    >>> is_structured("[우크라전쟁] 전차 8035대"), is_structured("[ 1, 2]")
    (False, True)
    """
    return _STRUCTURED.match(text) is not None


_TRAILING = " \t\n\r.,;:"


#: ``Figure(*fields)`` without the named tuple's Python-level ``__new__`` (same instance).
_new_figure = functools.partial(tuple.__new__, Figure)
_GROUPS = ("label", "total", "delta", "qualifier")


def _figure(match: re.Match[str], offset: int) -> Figure:
    item = match.string[: match.end()].rstrip(_TRAILING)
    label, total, delta, qualifier = match.group(*_GROUPS)
    # (label, total, delta, qualifier, start, end): built for every item
    return _new_figure((label, total, delta, qualifier, offset + match.start("label"),
                        offset + len(item)))


_LINE_ENDS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


# Line ends other than "\n" (the parsers get "\r" normalised away; the others are rare).
_OTHER_LINE_ENDS = re.compile("[" + _LINE_ENDS.replace("\n", "") + "]")


def _lines_with(text: str, needed: str) -> list[tuple[str, int]]:
    """``text.splitlines()`` with each line's offset, only the lines holding ``needed``
    (a character that ends no line)."""
    if needed not in text:
        return []
    if _OTHER_LINE_ENDS.search(text) is None:
        # Lines end at "\n" only: go from one occurrence to the next, never line by line.
        found, find, size = [], text.find, len(text)
        at = find(needed)
        while at != -1:
            start = text.rfind("\n", 0, at) + 1
            end = find("\n", at)
            end = size if end == -1 else end
            found.append((text[start:end], start))
            at = find(needed, end)
        return found
    lines, start = [], 0
    for line in text.splitlines(keepends=True):
        if needed in line:
            lines.append((line.rstrip(_LINE_ENDS), start))
        start += len(line)
    return lines


# claims() and parse() of several parsers read the same text: scan it once. Each scan keeps
# beside the figures the items the grammar did not read, for the *_unreadable checks.
@functools.lru_cache(maxsize=16)
def _dash_scan(text: str) -> tuple[tuple[Figure, ...], tuple[str, ...]]:
    """The ``label ‒ total`` figures, and the items with a dash and a digit the grammar
    does not read (in order)."""
    if is_structured(text):
        return (), ()
    figures = []
    missed = []
    start = 0  # every item break is one character long: offsets follow from the lengths
    for item in _ITEM_BREAK.split(text):
        # The grammar needs a dash and a total: an item without both skips the regex.
        if _DASH.search(item) is not None:
            if _DIGIT.search(item) is not None:
                match = _DASH_ITEM.fullmatch(item)
                if match is not None:
                    figures.append(_figure(match, start))
                else:
                    missed.append(item)
            elif any(map(str.isdigit, item)):  # a digit \d does not know ("²")
                missed.append(item)
        start += len(item) + 1
    return tuple(figures), tuple(missed)


def dash_figures(text: str) -> tuple[Figure, ...]:
    """Figures of a General Staff post, one per ``label ‒ total`` item.

    >>> [f.label for f in dash_figures("tanks ‒ 6310 (+10),\\nMLRS – 974 (+2).")]
    ['tanks', 'MLRS']
    """
    return _dash_scan(text)[0]


@functools.lru_cache(maxsize=16)
def _ticker_scan(text: str) -> tuple[tuple[Figure, ...], tuple[str, ...]]:
    """The ``label: total`` figures, and the lines with a colon and a digit the grammar does
    not read (in order)."""
    if is_structured(text):
        return (), ()
    figures = []
    missed = []
    # The grammar needs a colon and a total.
    for line, start in _lines_with(text, ":"):
        if _DIGIT.search(line) is not None:
            match = _TICKER_LINE.fullmatch(line)
            if match is not None:
                figures.append(_figure(match, start))
            else:
                missed.append(line)
    return tuple(figures), tuple(missed)


def ticker_figures(text: str) -> tuple[Figure, ...]:
    """Figures of a news ticker, one per ``label: total`` line, echoes skipped.

    >>> [(f.label, f.total) for f in ticker_figures("6310 (+10) Armored vehicles: 11757 (+32)")]
    [('Armored vehicles', '11757')]
    """
    return _ticker_scan(text)[0]


def claims_any(figures: Iterable[Figure], *, family: str) -> bool:
    """Whether at least one figure carries a label the family knows."""
    return any(category_for(f.label, family=family) is not None for f in figures)


def dash_unreadable(text: str, *, family: str) -> tuple[str, ...]:
    """Items that start with a known label and a dash but that the grammar cannot read.

    Such an item is a figure the parser would otherwise drop silently.

    >>> dash_unreadable("tanks ‒ 6310 (+10) (revised 6300),\\nKyiv – 14 drones", family="gs_en")
    ('tanks ‒ 6310 (+10) (revised 6300)',)
    """
    # An item the grammar reads is no unreadable one; one without a digit after a dash
    # starts with no label before a figure (both left out by the scan).
    return tuple(item.strip() for item in _dash_scan(text)[1]
                 if _starts_with_label(item, family))


def _starts_with_label(item: str, family: str) -> bool:
    return any(
        category_for(item[: dash.start()], family=family) is not None
        for dash in _DASH.finditer(item)
        if any(map(str.isdigit, item[dash.end() :]))
    )


def ticker_unreadable(text: str, *, family: str) -> tuple[str, ...]:
    """Lines with a known label, a colon and a digit that the grammar cannot read.

    >>> ticker_unreadable("Tank: 6310 (+10) (stale)\\nFrom: 1 author", family="ticker_en")
    ('Tank: 6310 (+10) (stale)',)
    """
    # Lines without a digit are left out by the scan: the label pattern needs one too.
    unreadable = []
    for line in _ticker_scan(text)[1]:
        match = _TICKER_LABEL.fullmatch(line)
        if match is not None and category_for(match["label"], family=family) is not None:
            unreadable.append(line.strip())
    return tuple(unreadable)
