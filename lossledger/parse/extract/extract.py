"""The general extractor: (category, total, stated change) in any layout real pages use.

One pass over the text's lines finds every *value* (a count with its optional qualifier and
bracket), then gives each value a label, in this order:

1. the label right before it, ended by a separator ("tanks ‒ 6310", "Panzer: 1589",
   "танків ‒ 6310 (+10) од.", bullets and emoji stripped);
2. the label right after it ("385,230 (+1,090) personnel", "3.423 Panzer, 6.703 ...") unless
   that label already belongs to the next value (the seed page's echoes);
3. the label before it across a comma ("Panzer, 1589, Schützenpanzer, 3 200");
4. after "bringing the total to" (kind ``total_to``), the label named before the phrase or the
   category of the day's count earlier in the sentence; the label right after "the number of"
   (kind ``number_of``) earlier in the sentence, no other number between;
5. for a number of :data:`PROSE_PERSONNEL_MIN` or more, the personnel noun its sentence names
   and no other number holds ("die Zahl der russischen Soldaten ... auf 161.520 erhöht").

"2 танки (загалом 11 261)" (the change first, the total in brackets) is read before all of
these. Values in a sentence that names a distractor (Oryx, foreign estimates, Russia's claims,
monthly or overnight counts: ``cues.csv``) are skipped. A value whose label only follows it
inside running prose is *weak*: it counts only when no list item gives the category.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from lossledger.parse.extract.cues import CUES_PATH, cue_table
from lossledger.parse.extract.dates import month_number
from lossledger.parse.extract.labels import INDIC, LabelMatch, lookup_label, script_languages
from lossledger.parse.extract.numerals import (
    APPROXIMATE,
    COUNTERS,
    DASHES,
    DAY_COUNT_RATIO,
    MAX_COUNT,
    MYRIAD,
    MYRIAD_REST,
    NUMBER,
    QUALIFIER_PATTERN,
    QUALIFIERS,
    SCALE_PATTERN,
    THOUSAND,
    THOUSANDS_BEFORE,
    exact_thousands,
    is_rounded,
    read_bracket,
    read_count,
)
from lossledger.parse.ontology import IGNORED

__all__ = [
    "CUES_PATH", "PROSE_PERSONNEL_MIN", "ROUND_PERSONNEL_MIN", "Doubt", "Figure", "extract_figures",
]

_MAX_LABEL_WORDS = 8


def _by_first_character(words: list[str], *, ignore_case: bool) -> tuple[str, str]:
    """A character class of the words' first characters, and an alternation of the words
    (regex-escaped, spaces as ``\\s+``) grouped by first character, in their order.

    Same matches as the plain alternation (words that cannot start at the same character
    never compete), but the regex engine tries one group per position instead of every word:
    with the class as a lookahead, a position that starts no word is left at once.

    >>> firsts, alternatives = _by_first_character(["more than", "about", "mehr als"],
    ...                                            ignore_case=False)
    >>> firsts, alternatives.replace(chr(92), "/")
    ('[am]', '(?:more/s+than|mehr/s+als)|(?:about)')
    """
    groups: dict[str, list[str]] = {}
    for word in words:
        first = word[0]
        key = next((k for k in groups if k == first or (
            ignore_case and re.fullmatch(re.escape(k), first, re.IGNORECASE))), first)
        groups.setdefault(key, []).append(re.escape(word).replace(r"\ ", r"\s+"))
    firsts = {c for word in words for c in (
        (word[0], word[0].lower(), word[0].upper()) if ignore_case else (word[0],))
        if len(c) == 1}
    return (f"[{''.join(re.escape(c) for c in sorted(firsts))}]",
            "|".join(f"(?:{'|'.join(group)})" for group in groups.values()))


# The qualifiers longest first (as QUALIFIER_PATTERN), grouped by their first letter; a value
# starts with a qualifier or a digit (the lookahead lets the engine skip other positions).
_QUALIFIER_FIRST, _QUALIFIER_GROUPS = _by_first_character(
    [word.strip() for word in sorted(QUALIFIERS, key=len, reverse=True)], ignore_case=True)
# Chinese, Japanese and Korean script: written without spaces, so a number stands right after
# a word of it ("俄軍918輛戰車", "잠수함1척") and its counter right after the number.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
# After a number: its counter and "の" ("9027両の戦車"), then a run of Han or kana characters.
_CJK_AFTER = re.compile(
    rf"[^\S\n]*[{COUNTERS}]?の?(?P<run>[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)")
# "more than" written after the number and its counter in Japanese and Korean ("3万1,000基
# あまり", "3만명 이상"; Chinese writes "2000多輛", where no value is read at all).
_MORE_THAN_AFTER = re.compile(rf"[{COUNTERS}]?[^\S\n]*(?:あまり|余り|以上|이상)")
_MORE_THAN_WORD = re.compile("あまり|余り|以上|이상")
# Han or kana characters ending a text before a number.
_CJK_BEFORE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$")
_VALUE = re.compile(
    rf"(?=[\d{_QUALIFIER_FIRST[1:-1]}])"
    rf"(?<!(?![{_CJK}])[\w.,])(?<![^\W\d_][{DASHES}])(?<!\([+{DASHES}])"
    rf"(?:(?P<qual>{_QUALIFIER_GROUPS})\s+)?"
    rf"(?P<num>{NUMBER})(?!\d)(?!(?![{COUNTERS}{MYRIAD}{THOUSAND}])[^\W\d_])"
    rf"(?P<scale>[^\S\n]*(?:{SCALE_PATTERN})(?!(?![{COUNTERS}])[^\W\d_])"
    rf"(?:(?<=[{MYRIAD}])(?:{MYRIAD_REST})|[^\S\n]*(?:\u0648[^\S\n]*)?\d{{1,3}}(?!\d))?)?"
    r"(?:[^\S\n]*\((?P<br>[^()\n]{0,60})\))?",
)  # matched in the lower-cased line (:func:`_lower`): a third faster than IGNORECASE
# "2 танки (загалом 11 261)": the day's change first, the total in brackets after a "total"
# word (``cues.csv`` kind ``total_word``), or before one ("9 rusų tankus (3 267 iš viso)").
# Built from the data by :func:`_change_first`.
_CHANGE_FIRST_HEAD = (rf"(?<![\w.,])\+?(?P<delta>{NUMBER})[^\S\n]+"
                      r"(?P<label>[^\W\d_][^\d()\n]{0,60}?)[^\S\n]*")
# "9 бойових броньованих машин (23 384)": the change-first form whose bracket holds the total
# alone, read only on a page that writes the form with its "total" word elsewhere ("2 танки
# (загалом 11 261)") and when the total is many times the change (DAY_COUNT_RATIO).
_CHANGE_FIRST_BARE = re.compile(
    rf"{_CHANGE_FIRST_HEAD}\([^\S\n]*(?P<total>{NUMBER})[^\S\n]*\)")


@functools.cache
def _change_first() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The change-first form with its "total" word, and the part of it every match holds (a
    bracket with the word: it starts with a literal "(", so the engine skips to brackets and
    a text without one skips the long pattern)."""
    words = "|".join(re.escape(word).replace(r"\ ", r"\s+")
                     for word in sorted(_cue_words("total_word"), key=len, reverse=True))
    full = re.compile(
        rf"{_CHANGE_FIRST_HEAD}\((?:[^()\n]{{0,20}}?(?:{words})[^\S\n]*[:{DASHES}]?[^\S\n]*"
        rf"(?P<total>{NUMBER})[^\S\n]*|[^\S\n]*(?P<total_after>{NUMBER})[^\S\n]+(?:{words})"
        r"(?!\w)[^()\n]{0,60})\)", re.IGNORECASE)
    bracket = re.compile(
        rf"\((?:[^()\n]{{0,20}}?(?:{words})|[^\S\n]*\d[^()\n]{{0,12}}?[^\S\n](?:{words})(?!\w))",
        re.IGNORECASE)
    return full, bracket


_LINE = re.compile(r"[^\n]+")
_DIGIT = re.compile(r"\d")
# Apostrophes and hyphens inside a word ("d'équipement", "U-Boote"), not after it ("'drones'").
_WORDS = re.compile(rf"[^\W\d_](?:[\w'’\-{INDIC}]*[\w{INDIC}])?"
                    rf"(?:\s*/\s*[^\W\d_](?:[\w'’\-{INDIC}]*[\w{INDIC}])?)?")
_TRAILING_SEPARATOR = re.compile(rf"[\s:=|{DASHES}]+$")
_LABEL_SEPARATOR = re.compile(rf"[^\W\d_][^\S\n]*[:={DASHES}][^\S\n]*$")
_TRAILING_COMMA = re.compile(rf"[\s,:=|{DASHES}]+$")
_LAST_BREAK = re.compile(
    rf".*(?:[,،;•|\[\]!?«»\"“”、，。；]|(?<=[^\W\d_]{{2}})\.\s|\.\s(?=\S)|\s[{DASHES}]\s)",
    re.DOTALL,
)
# A sentence's full stop after a word (not an abbreviation's dot after one or two letters),
# then only spaces up to the number.
_SENTENCE_END = re.compile(r"[^\W\d_]{3}\.[^\S\n]+$")
# "516 - gepanzerte Kampffahrzeuge", "“124 710” soldats", "1.617 (+6) “attrezzature speciali”",
# "10.222 **carros de combate**": a dash, a quote or emphasis between a number and its label.
_LEADING_DASH = re.compile(
    rf"[^\S\n]*(?:[{DASHES}][^\S\n]+|[”»″\"“«„'‘*_]+[^\S\n]*)(?=[^\W\d_])")
# "особовий склад / personnel ‒ приблизно / about 146 820": a qualifier in both languages
# between a bilingual label and its number (the number's own qualifier is the last one).
_TRAILING_QUALIFIER = re.compile(
    rf"(?:[^\S\n]+|^)(?:{QUALIFIER_PATTERN})[^\S\n]*/[^\S\n]*$", re.IGNORECASE)
# "1.907 carri armati (+8 ...)": the stated change after the label of a number-first item.
_BRACKET_AFTER = re.compile(r"[^\S\n]*\((?P<br>[+\u2212\-–][^()\n]{0,58})\)")
_FIRST_BREAK = re.compile(rf"[,،;•|()\[\]!?:«»\"“”、，。；：]|\.(?:\s|$)|\s[{DASHES}]\s")
# A conjunction after a label ends the item: "..., 15 Schiffe/Boote und 1 U-Boot".
_CONJUNCTION = re.compile(r"\s*(?:and|und|sowie|і|та|й|и|et|i|oraz|e|ed|ve)\b", re.IGNORECASE)
# What may stand between an item's start and its number when the label follows the number.
_ITEM_START = re.compile(rf"(?:^|[,،;•|:、，]|\.\s|\s[{DASHES}]\s)[\W_]*$")
_LEADING_NOISE = re.compile(
    r"^(?:[\s\W_]|\b(?:од|шт|ед|units?|persons|pcs|szt|Stück|unités|unità|осіб|чел)\b\.?)+",
    re.IGNORECASE,
)
# A sentence ends at ".!?:;" before a space, at ".!?" between words ("Oryx.Die") or at a line
# break. Written as one character class first, then which case it is: the regex engine skips
# straight to those characters (same matches as the three plain alternatives).
_SENTENCE_BREAK = re.compile(
    r"[.!?:;\n。！？](?:(?<=[.!?:;])(?=\s)|(?<=[^\W\d_]{3}[.!?])(?=[^\W\d_])|(?<=[\n。！？]))"
)
# "od 24. února zničily ... 99 vrtulníků": the dot of an ordinal before a lower-case word (a
# month in Czech, Polish, Slovak) ends no sentence; a new sentence starts with a capital.
_ORDINAL_DOT = re.compile(r"(?<=\d)\.[^\S\n]+(?P<next>[^\W\d_])")


def _ordinal_dot(text: str, at: int) -> bool:
    """Whether the full stop at ``at`` follows a number and comes before a lower-case word."""
    match = _ORDINAL_DOT.match(text, at)
    return match is not None and match["next"].islower()

_BRACKETED = re.compile(r"\([^()]*\)")
# A bracketed aside closing a label, after a word: "Drohnen (operativ-taktisches Niveau)".
_TRAILING_ASIDE = re.compile(r"(?<=[^\W\d_])[^\S\n]*\([^()\d\n]{1,60}\)$")
# Words, then an opening quote right after them: "pièces d'»", 'peças de "'.
_QUOTED_LABEL = re.compile(
    r"[^\S\n]*(?P<units>[^\W\d_][^\d\n«»\"“”„]{0,30}?['’]?)[^\S\n]*[«»\"“”„]+[^\S\n]*")
_ONE_CHAR_LOWER = {"İ": "i"}


class Figure(NamedTuple):
    """A figure found in the text: category, total, stated change and where it came from.

    An immutable record (a named tuple: built for every figure of every page, it costs a
    third of a frozen dataclass).
    """

    category: str
    total: int
    delta: int | None
    qualifier: str | None
    label: str
    start: int
    end: int
    confidence: float
    strong: bool


#: ``Figure(*fields)`` without the named tuple's Python-level ``__new__`` (same instance).
_new_figure = functools.partial(tuple.__new__, Figure)


@dataclass(frozen=True, slots=True)
class Doubt:
    """A figure not trusted: a rounded form, a weak label, a number out of range."""

    reason: str
    category: str | None
    strong: bool
    rounded_total: int | None = None
    """The number of a rounded figure written in digits ("more than 85,000": 85000): how
    large the category's total is, though not what it is exactly."""


@functools.cache
def _cue_words(kind: str) -> tuple[str, ...]:
    """The lower-case cues of one kind in ``cues.csv``, longest first (the file read once)."""
    return tuple(sorted((cue for cue_kind, cue in cue_table() if cue_kind == kind),
                        key=len, reverse=True))


def _cue_pattern(*kinds: str, cjk: bool = False) -> re.Pattern[str] | None:
    """The cues of the given kinds as one pattern for lower-cased text (faster than
    IGNORECASE): longest first, grouped by first character, behind a lookahead of the first
    characters.

    With ``cjk``, the cues written in Chinese, Japanese or Korean, which need no word boundary
    (their words run on without spaces: "タス通信によると"); without, the others, which do.
    """
    cues = sorted((cue for kind in kinds for cue in _cue_words(kind)
                   if bool(_CJK_CHAR.search(cue)) == cjk), key=len, reverse=True)
    if not cues:
        return None
    firsts, alternatives = _by_first_character(cues, ignore_case=False)
    if cjk:
        return re.compile(rf"(?={firsts})(?:{alternatives})")
    return re.compile(rf"(?={firsts})(?<!\w)(?:{alternatives})(?!\w)")


#: Cues of a sentence about something else (kind ``distractor``: Oryx, foreign estimates, a
#: day's count...), and of Russia's claims about Ukraine's losses (kind ``claim``), whose
#: sentence goes on through a colon: "the ministry in Moscow counted Ukraine's losses: 483
#: aircraft, 250 helicopters...".
_DISTRACTOR_KINDS = ("distractor", "claim")


@functools.cache
def _cues() -> re.Pattern[str]:
    """The distractor and claim cues not written in Chinese, Japanese or Korean."""
    pattern = _cue_pattern(*_DISTRACTOR_KINDS)
    assert pattern is not None, "cues.csv lists no distractor"
    return pattern


@functools.cache
def _cjk_cues() -> re.Pattern[str] | None:
    """The distractor and claim cues written in Chinese, Japanese or Korean (asked of such
    texts only)."""
    return _cue_pattern(*_DISTRACTOR_KINDS, cjk=True)


@functools.cache
def _claims() -> frozenset[str]:
    """The claim cues, spaces as one space (a cue matched in the text is looked up here)."""
    return frozenset(" ".join(cue.split()) for cue in _cue_words("claim"))


@functools.cache
def _teasers() -> re.Pattern[str] | None:
    """Cues of a link to another article ("Read also: ..."): the rest of its line is one."""
    return _cue_pattern("teaser")


def _phrases(kind: str) -> str | None:
    """The cues of one kind as a regex alternation, spaces as ``\\s+`` (``None``: no cue)."""
    cues = _cue_words(kind)
    return "|".join(re.escape(cue).replace(r"\ ", r"\s+") for cue in cues) if cues else None


@functools.cache
def _totals_to() -> re.Pattern[str] | None:
    """Phrases that bring the category named before them to a total ("bringing the total to",
    kind ``total_to``), matched at the end of the text before a number (an opening quote may
    stand between: "elevando o total para «cerca de 87.900»")."""
    phrases = _phrases("total_to")
    return re.compile(rf"[\s,;]*(?<!\w)(?:{phrases})[\s«\"“„‘']*$",
                      re.IGNORECASE) if phrases else None


@functools.cache
def _respectively_cue() -> re.Pattern[str] | None:
    """The words that pair a run of numbers with the labels named before it, in order
    ("respectively", "bzw.", kind ``respectively``), for lower-cased text."""
    phrases = _phrases("respectively")
    return re.compile(rf"(?<!\w)(?:{phrases})(?!\w)") if phrases else None


@functools.cache
def _number_of() -> re.Pattern[str] | None:
    """Phrases that name a category's count before its total ("the number of", "die Zahl der",
    kind ``number_of``); the label follows the phrase, the total comes later in the sentence."""
    phrases = _phrases("number_of")
    return re.compile(rf"(?<!\w)(?:{phrases})(?!\w)", re.IGNORECASE) if phrases else None


@functools.cache
def _clause_break() -> re.Pattern[str]:
    """A comma before a clause word ("565 610 soldiers, including 980 over the past day"; kind
    ``clause``): for the distractor cues only, it ends a sentence, so a cue after it names the
    clause's count, never the total before it."""
    # Matched in the lower-cased text, the words grouped by first character (as the cues).
    _, words = _by_first_character(list(_cue_words("clause")), ignore_case=False)
    return re.compile(rf",(?=\s*(?:{words or '(?!)'})(?!\w))")


@functools.cache
def _fillers() -> frozenset[str]:
    """Words that may stand between a number and the label after it (kind ``filler``; an
    abbreviation is written with its dot, "tzw.", and matched without it)."""
    return frozenset(cue.casefold().rstrip(".") for cue in _cue_words("filler"))


@functools.cache
def _abbreviations() -> frozenset[str]:
    """The fillers written with a dot ("27 sztuk tzw. sprzętu"): their dot ends no item."""
    return frozenset(cue.casefold()[:-1] for cue in _cue_words("filler") if cue.endswith("."))


def _languages(text: str) -> tuple[str, ...]:
    return script_languages(text)


def _windows(text: str, words: list[re.Match[str]], *, suffix: bool) -> list[tuple[int, int]]:
    """Word windows of a label candidate, longest first, anchored at the number's side."""
    count = len(words)
    if suffix:
        return [(i, count - 1) for i in range(max(0, count - _MAX_LABEL_WORDS), count)]
    return [(0, j) for j in range(min(count, _MAX_LABEL_WORDS) - 1, -1, -1)]


def _best_window(
    text: str, words: list[re.Match[str]], *, suffix: bool, fuzzy: bool,
    languages: tuple[str, ...],
) -> tuple[LabelMatch, int, int] | None:
    windows = _windows(text, words, suffix=suffix)
    for index, (first, last) in enumerate(windows):
        found = lookup_label(text[words[first].start():words[last].end()], languages)
        if found is not None:
            if index and fuzzy:
                # Only part of the label is known ("armoured personnel vehicles ‒" would be
                # read as "vehicles", "6.799 vehículos armados de combate" as "vehículos"): a
                # near-miss of the whole label naming another category wins, strong (a figure)
                # or weak (a doubt rather than a wrong certainty).
                whole_first, whole_last = windows[0]
                near = lookup_label(text[words[whole_first].start():words[whole_last].end()],
                                    languages, fuzzy=True)
                if near is not None and near.code != found.code:
                    return near, whole_first, whole_last
            return found, first, last
    if fuzzy and words:  # near-misses only for the whole label, and only if nothing else fits
        first, last = windows[0]
        found = lookup_label(text[words[first].start():words[last].end()], languages,
                             fuzzy=True)
        if found is not None:
            return found, first, last
    return None


@functools.lru_cache(maxsize=65536)
def _label_before_in(segment: str, commas: bool, languages: tuple[str, ...]) -> (
    tuple[LabelMatch, int, int, bool] | None
):
    """The label ending a segment, offsets into the segment (cached: labels repeat)."""
    if _SENTENCE_END.search(segment):
        # "1 629 lance-roquettes multiples. 1 288 systèmes...": a sentence ended before the
        # number, so the words before the full stop belong to the value before them.
        return None
    if "/" in segment:
        segment = _TRAILING_QUALIFIER.sub("", segment)
    stripped = (_TRAILING_COMMA if commas else _TRAILING_SEPARATOR).sub("", segment)
    separated = len(stripped) < len(segment.rstrip()) or (commas and stripped != segment)
    run = _CJK_BEFORE.search(stripped)
    if run is not None:
        # "戦車6442両": a label of Chinese or Japanese characters ends right before the number.
        known = _longest_known(stripped, run.start(), run.end(), at_end=True,
                               languages=languages)
        if known is not None:
            return (*known, separated)
    aside = _TRAILING_ASIDE.search(stripped) if stripped.endswith(")") else None
    if aside is not None:
        # "Drohnen (operativ-taktisches Niveau): 4.541", "다연장로켓체계(MLRS) 733문": the label
        # is before its bracket.
        stripped = stripped[:aside.start()]
    cut = _LAST_BREAK.match(stripped)
    begin = cut.end() if cut else 0
    words = list(_WORDS.finditer(stripped, begin))
    if not words:
        return None
    best = _best_window(stripped, words, suffix=True, fuzzy=separated and len(words) <= 6,
                        languages=languages)
    if best is None:
        return None
    found, first, last = best
    return found, words[first].start(), words[last].end(), separated


#: The longest label written in Chinese or Japanese characters, in characters.
_MAX_CJK_LABEL = 12


def _cjk_label(segment: str, start: int, end: int, languages: tuple[str, ...]) -> (
    tuple[LabelMatch, int, int, bool] | None
):
    """The label at the start of a run of Chinese or Japanese characters (no spaces between
    words: the longest prefix the table knows, "戰車" of "戰車、", "戦車" of "戦車を失った")."""
    run = segment[start:end]
    # "俄軍陣亡", "ロシア軍人": a filler (the Russian army, Russia's) may open the run.
    skips = [0, *(len(filler) for filler in _cjk_fillers() if run.startswith(filler))]
    for skip in skips:
        known = _longest_known(segment, start + skip, end, at_end=False, languages=languages)
        if known is not None:
            return (*known, True)
    return None


def _longest_known(
    text: str, start: int, end: int, *, at_end: bool, languages: tuple[str, ...],
) -> tuple[LabelMatch, int, int] | None:
    """The longest label the table knows (no weak match) at the start of ``text[start:end]``,
    or ``at_end``, at its end, with its span: words of these scripts have no spaces."""
    for size in range(min(end - start, _MAX_CJK_LABEL), 0, -1):
        first, last = (end - size, end) if at_end else (start, start + size)
        found = lookup_label(text[first:last], languages)
        if found is not None and found.how != "weak":
            return found, first, last
    return None


@functools.cache
def _cjk_fillers() -> tuple[str, ...]:
    """The fillers written in Chinese or Japanese characters, longest first."""
    return tuple(cue for cue in _cue_words("filler") if _CJK_BEFORE.search(cue))


def _leading_fillers(words: list[re.Match[str]]) -> int:
    """How many of ``words`` open them as fillers (``cues.csv`` kind ``filler``), the last word
    never counted."""
    fillers = _fillers()
    skipped = 0
    while skipped < len(words) - 1 and words[skipped].group().casefold() in fillers:
        skipped += 1
    return skipped


def _without_fillers(label: str) -> str:
    """A label without the fillers opening it ("rusų tankus": "tankus"), the last word kept."""
    words = list(_WORDS.finditer(label))
    skipped = _leading_fillers(words)
    return label[words[skipped].start():] if skipped else label


def _abbreviation_before(segment: str, dot: int) -> bool:
    """Whether the word ending at ``dot`` is a filler abbreviation ("tzw.")."""
    abbreviations = _abbreviations()
    if not abbreviations:
        return False
    start = dot
    while start and segment[start - 1].isalpha():
        start -= 1
    return segment[start:dot].casefold() in abbreviations


@functools.lru_cache(maxsize=65536)
def _label_after_in(segment: str, languages: tuple[str, ...]) -> (
    tuple[LabelMatch, int, int, bool] | None
):
    """The label starting a segment, offsets into the segment (cached: labels repeat)."""
    cjk = _CJK_AFTER.match(segment)
    if cjk is not None:
        return _cjk_label(segment, cjk.start("run"), cjk.end("run"), languages)
    dash = _LEADING_DASH.match(segment)
    skip = dash.end() if dash else 0
    quoted = _QUOTED_LABEL.match(segment, skip)
    if quoted is not None and all(
            word.casefold() in _fillers() for word in _WORDS.findall(quoted["units"])):
        # "169 pièces d'»équipement spécial»", '590 peças de "equipamento especial"': a unit
        # and its preposition (fillers) before a label in quotes; the label is inside them.
        skip = quoted.end()
    cut = _FIRST_BREAK.search(segment, skip)
    while cut is not None and segment[cut.start()] == "." and _abbreviation_before(
            segment, cut.start()):
        cut = _FIRST_BREAK.search(segment, cut.end())
    end = cut.start() if cut else len(segment)
    head = segment[:end]
    words = list(_WORDS.finditer(head, skip))
    if not words or head[skip: words[0].start()].strip():
        return None
    best = _best_window(head, words, suffix=False, fuzzy=len(words) <= 6, languages=languages)
    if (best is None or best[0].how == "weak") and (skipped := _leading_fillers(words)):
        # "315 russische Flugzeuge", "36 sztuk systemów": words that may stand between a
        # number and its label (cues.csv, kind "filler") are no part of the label.
        rest = _best_window(head, words[skipped:], suffix=False,
                            fuzzy=len(words) - skipped <= 6, languages=languages)
        if rest is not None and (best is None or rest[0].how != "weak"):
            best, words = rest, words[skipped:]
    if best is None:
        return None
    found, first, last = best
    rest = head[words[last].end():]
    whole = not rest.strip() or _CONJUNCTION.match(rest) is not None
    return found, words[first].start(), words[last].end(), whole


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in taken)


def _lower(text: str) -> str:
    """The text lower-cased, character for character (its offsets are the text's).

    >>> _lower("İHA: 35"), len("İHA".lower()), _lower("Panzer")
    ('iha: 35', 4, 'panzer')
    """
    lower = text.lower()
    if len(lower) != len(text):  # a character grew when lower-cased: keep the offsets
        # each character on its own (str.lower reads a final sigma in context), in C
        lower = text.translate({
            ord(c): low if len(low := c.lower()) == 1 else _ONE_CHAR_LOWER.get(c, c)
            for c in set(text)})
    return lower


class _Distractors:
    """Which sentences of a text name a distractor: computed once per text, asked per value."""

    def __init__(self, text: str) -> None:
        lower = _lower(text)
        found = list(_cues().finditer(lower))
        cjk_cues = _cjk_cues()
        if cjk_cues is not None and _CJK_CHAR.search(text):
            found = sorted([*found, *cjk_cues.finditer(lower)], key=re.Match.start)
        # A cue inside brackets is no distractor (brackets found only when a cue is there).
        brackets = [(m.start(), m.end()) for m in _BRACKETED.finditer(text)] \
            if found and "(" in text else []
        if brackets:
            starts = [start for start, _ in brackets]
            found = [
                cue for cue in found
                if not ((i := bisect.bisect_right(starts, cue.start()))
                        and cue.start() < brackets[i - 1][1])
            ]
        claims = _claims()
        self._cues = [m.start() for m in found if " ".join(m.group().split()) not in claims]
        self._claims = [m.start() for m in found if " ".join(m.group().split()) in claims]
        teasers = _teasers()
        # A link to another article ("Citește și: 12 nave rusești în Marea Neagră"): every
        # value after it on its line is that article's, whatever the sentences.
        self._teaser_lines = [
            (m.start(), (lower.find("\n", m.end()) + 1 or len(lower) + 1) - 1)
            for m in teasers.finditer(lower)] if teasers is not None else []
        self.any = bool(found or self._teaser_lines)
        """Whether the text has a distractor cue at all."""
        sentences = [(m.end(), text[m.start()] == ":") for m in _SENTENCE_BREAK.finditer(text)
                     if not _ordinal_dot(text, m.start())] if found else []
        clauses = _clauses(lower) if found else []
        breaks = sorted([*sentences, *((head, False) for head, _ in clauses)])
        self._breaks = [end for end, _ in breaks]
        # A claim's sentence ends at the breaks that are not a colon.
        self._claim_breaks = [end for end, colon in breaks if not colon] if self._claims else []
        # A clause closed by a comma ("..., incluidos 200 durante el último día, antes de
        # destacar que ... 1.768 carros de combate") stands aside: what follows it belongs to
        # the sentence around it, whose cues are those before and after the clause.
        self._closed = sorted((tail, head) for head, tail in clauses if tail is not None)
        self._sentence_breaks = [end for end, _ in sentences]
        self._claim_sentence_breaks = [end for end, colon in sentences if not colon]

    def around(self, start: int, end: int) -> bool:
        """Whether the sentence holding ``start..end`` has a distractor cue, or its sentence
        read through colons a claim cue (or a link to another article comes before it on its
        line)."""
        if self._teaser_lines and any(head <= start < tail for head, tail in self._teaser_lines):
            return True
        clause = self._clause_before(start)
        if clause is not None:
            return (_cued_beside(self._cues, self._sentence_breaks, clause, end)
                    or _cued_beside(self._claims, self._claim_sentence_breaks, clause, end))
        return (_cued(self._cues, self._breaks, start, end)
                or _cued(self._claims, self._claim_breaks, start, end))

    def _clause_before(self, start: int) -> _Span | None:
        """The closed clause (its start, its end) that ends before ``start`` in the same
        sentence, if any (the last one)."""
        index = bisect.bisect_right(self._closed, (start, 1 << 62))
        if not index:
            return None
        tail, head = self._closed[index - 1]
        breaks = self._sentence_breaks
        if bisect.bisect_right(breaks, start) != bisect.bisect_right(breaks, tail):
            return None  # a sentence ends between the clause and the value
        return head, tail


def _clauses(lower: str) -> list[tuple[int, int | None]]:
    """The clauses a clause word opens after a comma: where each starts, and where the next
    comma closes it before the sentence's end (``None``: it runs to the end)."""
    found: list[tuple[int, int | None]] = []
    for match in _clause_break().finditer(lower):
        comma = lower.find(",", match.end())
        stop = _SENTENCE_BREAK.search(lower, match.end())
        closed = comma != -1 and (stop is None or comma < stop.start())
        found.append((match.end(), comma + 1 if closed else None))
    return found


def _cued_beside(cues: list[int], breaks: list[int], clause: _Span, end: int) -> bool:
    """Whether a cue lies in the sentence around ``clause`` (cut at ``breaks``), before the
    clause or after it up to the sentence's end after ``end``."""
    if not cues:
        return False
    head_of_clause, tail_of_clause = clause
    index = bisect.bisect_right(breaks, head_of_clause)
    head = breaks[index - 1] if index else 0
    tail_index = bisect.bisect_left(breaks, end)
    tail = breaks[tail_index] if tail_index < len(breaks) else 1 << 62
    position = bisect.bisect_left(cues, head)
    if position < len(cues) and cues[position] < head_of_clause:
        return True
    position = bisect.bisect_left(cues, tail_of_clause)
    return position < len(cues) and cues[position] < tail


def _cued(cues: list[int], breaks: list[int], start: int, end: int) -> bool:
    """Whether a cue (its start) lies in the sentence holding ``start..end``, sentences being
    cut at ``breaks`` (both sorted)."""
    if not cues:
        return False
    index = bisect.bisect_right(breaks, start)
    head = breaks[index - 1] if index else 0
    tail_index = bisect.bisect_left(breaks, end)
    tail = breaks[tail_index] if tail_index < len(breaks) else 1 << 62
    position = bisect.bisect_left(cues, head)
    return position < len(cues) and cues[position] < tail


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        for index in range(start, end):
            if chars[index] != "\n":
                chars[index] = " "
    return "".join(chars)


def extract_figures(text: str, *, masked: list[tuple[int, int]] = ()) -> tuple[
    list[Figure], list[Doubt]
]:
    """Every figure and every doubt in the text (not yet settled: repeats are all here).

    Parameters
    ----------
    text
        The decoded report.
    masked
        Spans never read as figures (the report's dates).

    Examples
    --------
    >>> figures, _ = extract_figures("танків ‒ 6310 (+10) од. ББМ ‒ 11 757 (+32) од.")
    >>> [(f.category, f.total, f.delta) for f in figures]
    [('tanks', 6310, 10), ('armored_vehicles', 11757, 32)]
    >>> figures, _ = extract_figures("11.507 (+8) Panzer, 23.857 (+2) gepanzerte Fahrzeuge")
    >>> [(f.category, f.total, f.delta) for f in figures]
    [('tanks', 11507, 8), ('armored_vehicles', 23857, 2)]
    """
    # Exact labels first: a page with none is no loss report, and loading a lemma dictionary
    # (seconds) for it would be waste. Only a page with figures gets the lemma pass.
    distractors = _Distractors(text)
    figures, doubts, unlabeled = _extract(text, masked, (), distractors)
    if not figures or not unlabeled:
        return figures, doubts
    figures, doubts, _ = _extract(text, masked, _languages(text[:4000]), distractors)
    return figures, doubts


def _extract(
    text: str, masked: list[tuple[int, int]] | tuple[()], languages: tuple[str, ...],
    distractors: _Distractors,
) -> tuple[list[Figure], list[Doubt], int]:
    figures: list[Figure] = []
    doubts: list[Doubt] = []
    unlabeled = 0
    spans = list(masked)
    changes_first: Iterable[re.Match[str]] = ()
    change_first, bracket = _change_first()
    if bracket.search(text):
        changes_first = itertools.chain(change_first.finditer(text),
                                        _CHANGE_FIRST_BARE.finditer(text))
    for match in changes_first:
        label = _without_fillers(match["label"].strip())
        found = lookup_label(label, languages)
        total = read_count(match["total"] or match.groupdict().get("total_after") or "")
        delta = read_count(match["delta"])
        if found is None or found.code == IGNORED or total is None:
            continue
        if match.re is _CHANGE_FIRST_BARE and (
            delta is None or total < max(DAY_COUNT_RATIO * delta, 100)
            or _overlaps((match.start(), match.end()), spans)
        ):
            continue
        spans.append((match.start(), match.end()))
        if distractors.around(match.start(), match.end()):
            continue
        figures.append(Figure(found.code, total, delta, None, label, match.start(), match.end(),
                              found.confidence, True))
    work = _mask(text, spans)
    digit = _DIGIT.search
    for line in _LINE.finditer(work):
        content = line.group()
        if digit(content) is not None:  # no digit, no value
            unlabeled += _read_line(text, content, line.start(), languages, figures, doubts,
                                    distractors)
    return figures, doubts, unlabeled


def _read_line(text: str, line: str, offset: int, languages: tuple[str, ...],
               figures: list[Figure], doubts: list[Doubt], distractors: _Distractors) -> int:
    """Read one line's figures; return how many list items kept a label nobody knows."""
    items, unlabeled = _line_items(line, languages)
    cued = distractors.any
    for value_start, value_end, figure, doubt in items:
        # Distractor cues are sentences of the whole text: asked here, never cached.
        if cued and distractors.around(offset + value_start, offset + value_end):
            continue
        if doubt is not None:
            doubts.append(doubt)
        elif figure is not None:
            category, total, delta, qualifier, label, start, end, confidence, strong = figure
            figures.append(_new_figure((category, total, delta, qualifier, label,
                                        offset + start, offset + end, confidence, strong)))
    return unlabeled


#: One value of a line as read without its text around it: (value start, value end, figure
#: with offsets into the line or None, doubt or None).
_LineItem = tuple[int, int, Figure | None, Doubt | None]
#: A labelled value of a line as the line's layout gives it: (value start, value end, span of
#: the number, of the qualifier, of the scale word, of the bracket's content (``None`` when
#: absent), the label, its span, strong).
_Span = tuple[int, int]
_Entry = tuple[int, int, _Span, _Span | None, _Span | None, _Span | None, LabelMatch, _Span, bool]


@functools.lru_cache(maxsize=16384)
def _line_items(line: str, languages: tuple[str, ...]) -> tuple[tuple[_LineItem, ...], int]:
    """A line's values with their labels, figures and doubts (cached per distinct line).

    Everything here depends on the line and the label languages only; the distractor check
    (which looks at the sentence around a value, possibly beyond the line) is the caller's.
    """
    entries, unlabeled = _read_layout(line, languages)
    # A weakly matched label counts as unknown too: the lemma pass may know it for sure.
    unlabeled += sum(entry[6].how == "weak" for entry in entries)
    floors = _MORE_THAN_WORD.search(line) is not None
    return tuple(_emit(line, entry, floors=floors) for entry in entries), unlabeled


_QUAL, _NUM, _SCALE, _BR = (_VALUE.groupindex[name] for name in ("qual", "num", "scale", "br"))
_ABSENT = (-1, -1)


def _read_layout(line: str, languages: tuple[str, ...]) -> tuple[tuple[_Entry, ...], int]:
    """Where a line's values and labels are: the labelled values, and how many list items
    kept a label nobody knows."""
    matches = list(_VALUE.finditer(_lower(line)))  # spans are the line's; groups lower-case
    if not matches:
        return (), 0
    # 1. label before, ended by a separator (or nothing) but never across a comma
    befores: list[tuple[LabelMatch, int, int, bool] | None] = []
    offset = 0
    for match in matches:
        befores.append(_label_before_in(line[offset:match.start()], False, languages))
        offset = match.end()
    if None not in befores:  # the common case: every value has its label before it
        entries: list[_Entry] = []
        offset = 0
        for match, found in zip(matches, befores, strict=True):
            label = found[0]  # type: ignore[index]
            if label.code != IGNORED:
                spans = match.regs  # every group's span, (-1, -1) when absent
                qual, scale, br = spans[_QUAL], spans[_SCALE], spans[_BR]
                entries.append((spans[0][0], spans[0][1], spans[_NUM],
                                None if qual == _ABSENT else qual,
                                None if scale == _ABSENT else scale,
                                None if br == _ABSENT else br, label,
                                (offset + found[1], offset + found[2]),  # type: ignore[index]
                                True))
            offset = match.end()
        return tuple(entries), 0
    return _read_layout_missing(line, languages, matches, befores)


def _read_layout_missing(
    line: str, languages: tuple[str, ...], matches: list[re.Match[str]],
    befores: list[tuple[LabelMatch, int, int, bool] | None],
) -> tuple[tuple[_Entry, ...], int]:
    """:func:`_read_layout` for a line where some value has no label before it."""
    count = len(matches)
    starts = [m.start() for m in matches]
    ends = [m.end() for m in matches]
    previous_ends = [0, *ends[:-1]]
    labels: list[LabelMatch | None] = [None] * count
    label_spans: list[_Span] = [(0, 0)] * count
    strong = [True] * count
    taken: list[_Span] = []
    brackets_after: dict[int, _Span] = {}
    first = next((i for i in range(count - 1) if befores[i] is None and _label_after_in(
        line[ends[i]:starts[i + 1]], languages) is not None), None)
    if first is not None:
        # "23.000 Soldaten 187 Militärflugzeuge 155 ...": from a number whose label follows it
        # (the first one, or one after a date the line names: "بين 24 فبراير ... و1026 دبابة
        # و2471 عربة"), the line gives each number its label after it, so words right before a
        # later number (no separator) are the previous number's.
        befores = [found if index <= first or found is None or found[3] else None
                   for index, found in enumerate(befores)]
    for index, found in enumerate(befores):
        if found is None:
            continue
        offset = previous_ends[index]
        labels[index] = found[0]
        label_spans[index] = span = (offset + found[1], offset + found[2])
        taken.append(span)
    # 2. label after, unless the next value owns it
    for index in range(count):
        if labels[index] is not None:
            continue
        offset = ends[index]
        next_start = starts[index + 1] if index + 1 < count else len(line)
        after = _label_after_in(line[offset:next_start], languages)
        if after is None:
            continue
        span = (offset + after[1], offset + after[2])
        if _overlaps(span, taken):
            continue
        labels[index], label_spans[index] = after[0], span
        starts_item = _ITEM_START.search(line, previous_ends[index], starts[index]) is not None
        strong[index] = after[3] and starts_item
        taken.append(span)
        bracket = _BRACKET_AFTER.match(line, span[1], next_start)
        if bracket is not None:
            brackets_after[index] = bracket.span("br")
    # 3. "Label, N," pairs
    for index in range(count):
        if labels[index] is not None:
            continue
        offset = previous_ends[index]
        found = _label_before_in(line[offset:starts[index]], True, languages)
        if found is None:
            continue
        span = (offset + found[1], offset + found[2])
        if _overlaps(span, taken):
            continue
        labels[index], label_spans[index] = found[0], span
        taken.append(span)
    # 4. "eight armored combat vehicles bringing the total to 5,928", "4 танки, довівши їхню
    # загальну кількість до 11 603": the total takes the label named before the phrase, even
    # when the day's count before it has that label too (the two settle as count and total).
    totals_to = _totals_to()
    for index in range(count):
        if labels[index] is not None or totals_to is None:
            continue
        offset = previous_ends[index]
        phrase = totals_to.search(line, offset, starts[index])
        if phrase is None:
            continue
        head = 0 if index == 0 else previous_ends[index - 1]
        found = _label_before_in(line[head:phrase.start()], True, languages)
        if found is not None:
            labels[index], label_spans[index] = found[0], (head + found[1], head + found[2])
            strong[index] = False
        else:
            # "Another 620 Russian troops were claimed killed by ..., bringing the total to
            # 94,760": the phrase brings the day's count of its sentence to the total.
            before = next((i for i in range(index - 1, -1, -1) if labels[i] is not None), None)
            if before is not None and _sentence_around(
                    line, starts[before], ends[before])[1] >= ends[index]:
                labels[index], label_spans[index] = labels[before], label_spans[before]
                strong[index] = False
    # 4b. "This takes the number of Russian APCs lost in Ukraine to 5827": the label right after
    # a "number of" phrase (kind ``number_of``) earlier in the sentence, no number between.
    number_of = _number_of()
    for index in range(count):
        if labels[index] is not None or number_of is None:
            continue
        low = max(_sentence_around(line, starts[index], ends[index])[0], previous_ends[index])
        # the last phrase before the number
        phrase = next(iter(reversed(list(number_of.finditer(line, low, starts[index])))), None)
        if phrase is None:
            continue
        after = _label_after_in(line[phrase.end():starts[index]], languages)
        if after is None or after[0].code == IGNORED or after[0].how == "weak" or _a_year(
                line, matches[index]) or _a_change(line, matches[index]):
            continue
        span = (phrase.end() + after[1], phrase.end() + after[2])
        if not _overlaps(span, taken):
            labels[index], label_spans[index] = after[0], span
            strong[index] = False
            taken.append(span)
    # 4c. "losses of personnel, artillery systems and tanks ... to 661,630, 19,156 and 8,933,
    # respectively": a run of numbers with a "respectively" word (kind ``respectively``) takes
    # the labels its sentence names before it, in order, when they are as many.
    _respectively(line, matches, labels, label_spans, strong, taken, languages)
    # 5. "die Zahl der russischen Soldaten ... auf 161.520 erhöht", "las bajas humanas rusas ...
    # alcanza ya las 554.510": a personnel total whose noun stands elsewhere in its sentence.
    for index in range(count):
        if labels[index] is not None:
            continue
        noun = _sentence_personnel(line, matches[index], taken, languages) or \
            _sentence_equipment(line, matches, index, taken, languages,
                                {label.code for label in labels if label is not None})
        if noun is not None:
            labels[index], label_spans[index] = noun
            strong[index] = False
            taken.append(noun[1])
    unlabeled = 0
    entries: list[_Entry] = []
    for index, label in enumerate(labels):
        if label is not None and label.code != IGNORED:
            spans = matches[index].regs  # every group's span, (-1, -1) when absent
            qual, scale, br = spans[_QUAL], spans[_SCALE], spans[_BR]
            if br == _ABSENT:
                br = brackets_after.get(index, _ABSENT)
            entries.append((starts[index], ends[index], spans[_NUM],
                            None if qual == _ABSENT else qual,
                            None if scale == _ABSENT else scale,
                            None if br == _ABSENT else br, label,
                            label_spans[index], strong[index]))
        elif label is None:
            before = line[previous_ends[index]:starts[index]]
            # "label ‒ 123": an item whose label the table lacks (the lemma pass may know it)
            unlabeled += bool(_LABEL_SEPARATOR.search(before) and _WORDS.search(before))
    return tuple(entries), unlabeled


_WORD_BEFORE = re.compile(r"([^\W\d_]+)\.?[^\S\n]+(?:(?:de|of|del|du|w|в|у)[^\S\n]+)?$")


_YEARS = range(2014, 2036)


def _a_year_alone(value: re.Match[str]) -> bool:
    """Whether a value is written as a year of the war's time ("2022"), whatever precedes it."""
    number = value["num"]
    return len(number) == 4 and number.isdigit() and int(number) in _YEARS


def _a_year(line: str, value: re.Match[str]) -> bool:
    """Whether a value is the year of a month named before it ("en febrero de 2022"): never
    a total for a label found elsewhere in the sentence."""
    if not _a_year_alone(value):
        return False
    word = _WORD_BEFORE.search(line, max(0, value.start() - 40), value.start())
    return word is not None and month_number(word[1]) is not None


#: From this personnel total on, "about" before a round thousand in prose is an outlet's
#: rounding (the General Staff's own "близько 30 000" of 2022 stays exact).
ROUND_PERSONNEL_MIN = 100_000
#: The smallest personnel total read from a noun elsewhere in its sentence (the General Staff's
#: count passed it in the war's third week): below it, prose numbers are days, kilometres...
PROSE_PERSONNEL_MIN = 10_000
_PERSONNEL = "personnel"


def _sentence_personnel(
    line: str, value: re.Match[str], taken: list[_Span], languages: tuple[str, ...],
) -> tuple[LabelMatch, _Span] | None:
    """The personnel noun of the sentence holding an unlabelled value, if the value may be its
    total: exact (no qualifier but the General Staff's own "about"), at least
    :data:`PROSE_PERSONNEL_MIN`, not a round thousand, and the noun named by no other value."""
    if value["scale"] is not None or (value["qual"] is not None and QUALIFIERS.get(
            " ".join(value["qual"].casefold().split())) not in ("about", "approximately")):
        return None
    total = read_count(value["num"])
    if total is None or total < PROSE_PERSONNEL_MIN or total % 1000 == 0 or _a_change(
            line, value):
        return None
    head, tail = _sentence_around(line, value.start(), value.end())
    words = [w for w in _WORDS.finditer(line, head, tail)
             if not _overlaps((w.start(), w.end()), taken)]
    for first in range(len(words)):
        for size in (3, 2, 1):
            last = first + size - 1
            if last >= len(words) or words[last].start() > value.start() > words[first].end():
                continue  # a window never spans the value
            found = lookup_label(line[words[first].start():words[last].end()], languages)
            if found is not None and found.code == _PERSONNEL and found.how != "weak":
                return found, (words[first].start(), words[last].end())
    return None


#: The smallest equipment total read from a category named earlier in its sentence.
PROSE_EQUIPMENT_MIN = 100
_WORD_RIGHT_BEFORE = re.compile(r"([^\W\d_]+)[^\S\n]*$")


@functools.cache
def _change_words() -> frozenset[str]:
    """Words that make the number after them a change, not a total ("rose by 240", "зросли
    на 3"; kind ``change``)."""
    return frozenset(_cue_words("change"))


def _a_change(line: str, value: re.Match[str]) -> bool:
    """Whether a change word stands right before a value ("rose by 25,430"): no total."""
    before = _WORD_RIGHT_BEFORE.search(line, max(0, value.start() - 30), value.start())
    return before is not None and before[1].casefold() in _change_words()


def _sentence_equipment(
    line: str, matches: list[re.Match[str]], index: int, taken: list[_Span],
    languages: tuple[str, ...], labelled: set[str],
) -> tuple[LabelMatch, _Span] | None:
    """The one equipment category named earlier in the sentence of an unlabelled value
    ("Втрати бойових броньованих машин зросли на 3 і склали 23 949 одиниць"), if the value may
    be its total: written alone (no qualifier, scale or unit), at least
    :data:`PROSE_EQUIPMENT_MIN`, no round thousand, no year, no change ("rose by 240"); every
    other number of the sentence a day's count beside it (a twentieth or less); the category
    no other value's label on the line."""
    value = matches[index]
    after = line[value.end():value.end() + 1]
    if value["scale"] is not None or value["qual"] is not None or not (
            after == "" or after.isspace() or after in ",.;:!?)"):
        return None  # a unit or a sign written onto the number ("100㎞", "40%")
    total = read_count(value["num"])
    if total is None or total < PROSE_EQUIPMENT_MIN or total % 1000 == 0 or _a_year_alone(value):
        return None
    if _a_change(line, value):
        return None
    head, tail = _sentence_around(line, value.start(), value.end())
    for other in matches:
        if other is value or other.end() <= head or other.start() >= tail:
            continue
        number = read_count(other["num"])
        if number is not None and not _a_year_alone(other) and number * DAY_COUNT_RATIO > total:
            return None
    named: dict[str, tuple[LabelMatch, _Span]] = {}
    for found, span in _labels_in(line, head, value.start(), taken, languages):
        named.setdefault(found.code, (found, span))
    if len(named) != 1 or _PERSONNEL in named or not named.keys().isdisjoint(labelled):
        return None
    return next(iter(named.values()))


def _respectively(
    line: str, matches: list[re.Match[str]], labels: list[LabelMatch | None],
    label_spans: list[_Span], strong: list[bool], taken: list[_Span],
    languages: tuple[str, ...],
) -> None:
    """Give a run of unlabelled numbers beside a "respectively" word the labels named before
    them in their sentence, one each in order (``labels``, ``label_spans``, ``strong`` and
    ``taken`` are updated in place).

    The run is the numbers written one after the other (only commas, a conjunction or the
    word itself between them) that end at the word or hold it before their last one
    ("22.567, 28.067 bzw. 1.388"). Its sentence before it must name exactly as many
    categories, each once, by labels no other value of the line took.
    """
    cue = _respectively_cue()
    if cue is None:
        return
    lower = _lower(line)
    for word in cue.finditer(lower):
        run = _run_at(lower, matches, word.start(), word.end())
        if len(run) < 2:
            continue
        first = matches[run[0]]
        head, tail = _sentence_around(line, first.start(), matches[run[-1]].end(),
                                      colons=False)
        if word.start() > tail:
            continue
        # A label the run's own numbers took ("Tanks and helicopters: 3,000 and 200
        # respectively" gave 3,000 the label before its colon) is the sentence's to hand out.
        own = [label_spans[index] for index in run if labels[index] is not None]
        others = [span for span in taken if span not in own]
        named = _labels_in(line, head, first.start(), others, languages)
        if len(named) != len(run) or len({found.code for found, _ in named}) != len(run):
            continue
        taken[:] = others
        for index, (found, span) in zip(run, named, strict=True):
            labels[index], label_spans[index] = found, span
            strong[index] = False
            taken.append(span)


#: What may stand between two numbers of a "respectively" run (commas, a conjunction).
_RUN_GAP = re.compile(r"[^\S\n]*(?:,|;)?[^\S\n]*(?:(?:and|und|et|e|y|i|и|і|та|oraz|ve|a)[^\S\n]+)?")


def _run_at(lower: str, matches: list[re.Match[str]], cue_start: int, cue_end: int) -> list[int]:
    """The indexes of the run of numbers the cue at ``cue_start..cue_end`` closes or stands
    in (see :func:`_respectively`); empty when there is none."""
    before = [i for i, m in enumerate(matches) if m.end() <= cue_start]
    if not before:
        return []
    last = before[-1]
    gap = lower[matches[last].end():cue_start]
    following = next((i for i, m in enumerate(matches) if m.start() >= cue_end), None)
    if (following is not None and not gap.strip(" \t\u00a0,")
            and not lower[cue_end:matches[following].start()].strip(" \t\u00a0")):
        run = [last, following]  # "28.067 bzw. 1.388": the word before the run's last number
    elif len(gap) <= 30 and not _WORDS.search(gap) and not any(map(str.isdigit, gap)):
        run = [last]  # "8,933, respectively"
    else:
        return []
    index = run[0] - 1
    while index >= 0 and _RUN_GAP.fullmatch(
            lower, matches[index].end(), matches[run[0]].start()) is not None:
        run.insert(0, index)
        index -= 1
    return run


#: The most words a label found in running text may have (:func:`_labels_in`).
_LABEL_WORDS = 7


def _labels_in(
    line: str, head: int, end: int, taken: list[_Span], languages: tuple[str, ...],
) -> list[tuple[LabelMatch, _Span]]:
    """The labels ``line[head:end]`` names, in order, none overlapping another or ``taken``:
    at each word the longest window of :data:`_LABEL_WORDS` words or fewer that is a label
    ("unmanned aerial vehicles of the operational-tactical level" is seven)."""
    words = [w for w in _WORDS.finditer(line, head, end)
             if not _overlaps((w.start(), w.end()), taken)]
    named: list[tuple[LabelMatch, _Span]] = []
    first = 0
    while first < len(words):
        for size in range(min(_LABEL_WORDS, len(words) - first), 0, -1):
            last = first + size - 1
            found = lookup_label(line[words[first].start():words[last].end()], languages)
            if found is not None and found.code != IGNORED and found.how != "weak":
                named.append((found, (words[first].start(), words[last].end())))
                first = last
                break
        first += 1
    return named


def _sentence_around(line: str, start: int, end: int, *, colons: bool = True) -> _Span:
    """The sentence of ``line`` holding ``start..end``: from the break before to the one after
    (``colons``: whether a colon is a break; "Tanks and helicopters: 3,000 and 200
    respectively" is one sentence for the labels before its numbers)."""
    head, tail = 0, len(line)
    for match in _SENTENCE_BREAK.finditer(line):
        if _ordinal_dot(line, match.start()) or (not colons and line[match.start()] == ":"):
            continue
        if match.end() <= start:
            head = match.end()
        elif match.start() >= end:
            tail = match.start()
            break
    return head, tail


def _letter_before(line: str, index: int) -> bool:
    """Whether a letter ends the text before ``index``, across spaces (a word may end there)."""
    index -= 1
    while index >= 0 and line[index] in " \t\u00a0":
        index -= 1
    return index >= 0 and line[index].isalpha()


def _emit(line: str, entry: _Entry, *, floors: bool = False) -> _LineItem:
    """The figure or doubt of one labelled value, offsets relative to the line (``floors``:
    whether the line has a "more than" written after a number, :data:`_MORE_THAN_AFTER`)."""
    value_start, value_end, num, qual, scale, br, label, label_span, strong = entry
    start = min(value_start, label_span[0])
    end = max(value_end, label_span[1])
    label_text = line[label_span[0]:label_span[1]]
    if label.how == "weak":
        doubt = Doubt(f"weakly matched label '{label_text}' (nearest '{label.alias}', "
                      f"score {label.confidence:.2f})", label.code, strong)
        return value_start, value_end, None, doubt
    number = line[num[0]:num[1]]
    total = read_count(number)
    if scale is not None and (exact := exact_thousands(number, line[scale[0]:scale[1]])):
        total, scale = exact, None
    qualifier = QUALIFIERS.get(" ".join(line[qual[0]:qual[1]].casefold().split())) \
        if qual is not None and qual[0] < qual[1] else None
    if qualifier is None and floors and _MORE_THAN_AFTER.match(line, value_end) is not None:
        qualifier = "more than"  # "3万1,000基あまり", "3만명 이상": the floor after the number
    if scale is not None or total is None or is_rounded(qualifier, total, category=label.code):
        doubt = None
        if scale is not None or total is not None:
            written = " ".join(line[value_start:value_end].split())
            doubt = Doubt(f"rounded figure '{written}' for '{label_text}'", label.code, strong,
                          total if scale is None else None)
        return value_start, value_end, None, doubt
    if not strong and total >= 1000 and total % 1000 == 0 and (
            (qualifier is None and label.code != "personnel")
            or (qualifier in APPROXIMATE and label.code == "personnel"
                and total >= ROUND_PERSONNEL_MIN)):
        # "mehr als 3000 zerstörte Panzer und 6000 gepanzerte Fahrzeuge": a round thousand in
        # running prose is an outlet's rounding far more often than an exact total (but the
        # General Staff's own personnel totals were round thousands in 2022: "30 000"). Of
        # personnel, "circa 950.000 personale" in prose: 12 of the series' 1,326 totals of
        # 100,000 or more are round thousands, an outlet's "about" before one far more often.
        written = " ".join(line[value_start:value_end].split())
        doubt = Doubt(f"rounded figure '{written}' for '{label_text}' (a round thousand in "
                      "prose)", label.code, strong, total)
        return value_start, value_end, None, doubt
    if total > MAX_COUNT:
        doubt = Doubt(f"number out of range '{number}' for '{label_text}'", label.code, strong)
        return value_start, value_end, None, doubt
    if _letter_before(line, num[0]) and (
            words := THOUSANDS_BEFORE.search(line, max(0, num[0] - 12), num[0])) is not None:
        # "এক হাজার ৩৮৬ ট্যাংক" (one thousand 386 tanks): the thousands are written in words.
        written = " ".join(line[words.start():value_end].split())
        doubt = Doubt(f"thousands written in words before '{written}' for '{label_text}'",
                      label.code, strong)
        return value_start, value_end, None, doubt
    delta = read_bracket(line[br[0]:br[1]]).delta if br is not None else None
    confidence = label.confidence if strong else min(label.confidence, 0.8)
    figure = _new_figure((label.code, total, delta, qualifier, label_text, start, end,
                          confidence, strong))
    return value_start, value_end, figure, None
