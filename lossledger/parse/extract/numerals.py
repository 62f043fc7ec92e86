"""Counts as real pages write them: any grouping, stated changes in brackets, rounded forms.

Everything here is tolerant on input and strict on output: a token either reads as an exact
non-negative count, or the caller is told why not (a decimal, a rounded form, out of range).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lossledger.parse.extract.cues import cue_characters, qualifier_table

__all__ = [
    "APPROXIMATE",
    "COUNTERS",
    "DASHES",
    "DAY_COUNT_RATIO",
    "MAX_COUNT",
    "MYRIAD",
    "MYRIAD_REST",
    "NUMBER",
    "QUALIFIERS",
    "QUALIFIER_PATTERN",
    "ROUNDED_QUALIFIERS",
    "SCALE_PATTERN",
    "THOUSAND",
    "THOUSANDS_BEFORE",
    "Bracket",
    "exact_thousands",
    "is_rounded",
    "read_bracket",
    "read_count",
]

#: Every dash a report may use between a label and its figure, or as a minus sign.
DASHES = "\\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"
_SEP = ",.\u00a0\u202f\u2009\u2007 '"
#: A count token: digit groups joined by one separator each, or digits with one decimal-looking
#: part ("1.206910", "21.6"); read by :func:`read_count`.
NUMBER = rf"\d{{1,3}}(?:[{_SEP}]\d{{3}})+(?!\d)|\d+(?:[.,]\d+)?"
_SEPARATORS = re.compile(rf"[{_SEP}]")
#: The largest figure any loss category can plausibly carry; beyond it a figure is a problem.
MAX_COUNT = 100_000_000
#: Of two totals of one category, the smaller is the day's count when the larger is at least
#: this many times it (a day's losses never come near a twentieth of the total after the war's
#: first weeks; before, the two stay a conflict).
DAY_COUNT_RATIO = 20

#: Qualifiers before a total, normalised to the English words the pipeline stores (data:
#: ``cues.csv``, kind ``qualifier``, its meaning in the column ``means``).
QUALIFIERS: dict[str, str] = qualifier_table()
QUALIFIER_PATTERN = "|".join(
    re.escape(word.strip()).replace(r"\ ", r"\s+")
    for word in sorted(QUALIFIERS, key=len, reverse=True)
)
#: Qualifiers that, before a round number, mark it as rounded rather than exact.
ROUNDED_QUALIFIERS = frozenset({"more than", "almost", "up to"})
#: Qualifiers of an approximation: the General Staff writes them before its personnel total
#: only, so before a round total of another category they mark the outlet's rounding.
APPROXIMATE = frozenset({"about", "around", "approximately"})


def is_rounded(qualifier: str | None, total: int, *, category: str | None = None) -> bool:
    """Whether a qualified total is a rounded form rather than an exact count.

    "more than", "almost" or "up to" before hundreds ("über 1500 Panzer", "knapp 300
    Luftabwehrsysteme", "bis zu 200.000 Soldaten") are rounded. "about" is the General Staff's
    own wording of an exact total, but of personnel only ("близько 39 000 (+150)"): before
    hundreds of another ``category`` ("unos 3.000 tanques") it is the outlet's rounding.
    "almost" before an unround number is an exact one ("knapp 198.260 Soldaten").

    >>> is_rounded("more than", 1500), is_rounded("almost", 10_000), is_rounded("about", 39_000)
    (True, True, False)
    >>> is_rounded("almost", 198_260), is_rounded("about", 3_000, category="tanks")
    (False, True)
    >>> is_rounded("about", 39_000, category="personnel")
    False

    "more than" is a floor: before a round ten of equipment it is an outlet's rounding too
    ("свыше 630 артиллерийских систем"); personnel totals are all round tens.

    >>> is_rounded("more than", 630, category="artillery")
    True
    """
    if qualifier == "more than" and category not in (None, "personnel") and total >= 100 \
            and total % 10 == 0:
        return True
    if qualifier is None or total < 100 or total % 100:
        return False
    return qualifier in ROUNDED_QUALIFIERS or (
        category is not None and category != "personnel" and qualifier in APPROXIMATE)


#: Scale words: "21.6 thousand", "3 Tsd.", "47 тис." are rounded forms, never exact totals;
#: a thousands word with its three-digit rest ("8 тис. 815", "377 bin 820") is an exact one
#: (:func:`exact_thousands`).
_THOUSANDS = (
    r"thousand|тис\.?|тисяч[іа]?|тыс\.?|тысяч[иа]?|tsd\.?|tausend|mille|tys\.?|tysięcy|mila|bin"
    r"|آلاف|ألفا|ألف|هەزار|هزار|হাজার|हज़ार|हजार"
)
#: A thousands word right before a number: the number is the rest of a count whose thousands
#: are written in words ("এক হাজার ৩৮৬ ট্যাংক", "üç bin 400 tank"), never a total alone.
THOUSANDS_BEFORE = re.compile(rf"(?:{_THOUSANDS})[^\S\n]*(?:\u0648[^\S\n]*)?$", re.IGNORECASE)


#: Ten thousands of Chinese, Japanese and Korean (``cues.csv``, kind ``myriad``): "67万5800",
#: "2萬2100", "53만6840" are exact (the rest is the count below ten thousand), "2万" alone a
#: rounded form.
MYRIAD = cue_characters("myriad")
#: Counters written onto a number in Chinese, Japanese and Korean (kind ``counter``: "918輛",
#: "9027両", "3650대", "1181명"): a number may be followed by one of them (or a myriad) without
#: a space.
COUNTERS = cue_characters("counter")
#: The thousand written as one character (kind ``thousand``): "5천682" is 5,682 and "34만
#: 천500" 341,500 (Korean writes the rest without its zeros); "5천" alone is a rounded form.
THOUSAND = cue_characters("thousand")
_THOUSAND_OR_NONE = THOUSAND or "\x00"
# Lower-case words: matched case-insensitively, or in lower-cased text (the general reader's).
SCALE_PATTERN = (rf"{_THOUSANDS}|million|млн\.?|mio\.?|min(?=[^\S\n]+\d{{3}}(?!\d))"
                 rf"|[{MYRIAD}{_THOUSAND_OR_NONE}](?=\d|[{COUNTERS}]|[^\w])")
_THOUSANDS_REST = re.compile(rf"\s*(?:{_THOUSANDS}|min)\s*(?P<rest>\d{{3}})(?!\d)\s*",
                             re.IGNORECASE)
# Arabic, Persian and Kurdish write the rest without its zeros, after "و" (and): "8 آلاف و35" is
# 8,035, "70 هزار و 250" 70,250, "20 هەزار و 900" 20,900.
_ARABIC_REST = re.compile(
    r"\s*(?:آلاف|ألفا|ألف|هەزار|هزار)\s*(?:\u0648\s*)?(?P<rest>\d{1,3})(?!\d)\s*")
#: The rest after a myriad, up to four digits, also with a thousands separator ("1만1,061").
MYRIAD_REST = (rf"[^\S\n]?\d?[{_THOUSAND_OR_NONE}]\d{{0,3}}(?!\d)"
               r"|\d[,.]\d{3}(?![\d,.])|\d{1,4}(?!\d)")
_MYRIAD_REST = re.compile(rf"\s*[{MYRIAD}]\s*(?P<rest>{MYRIAD_REST})\s*")
_THOUSAND_REST = re.compile(rf"\s*[{_THOUSAND_OR_NONE}]\s*(?P<rest>\d{{1,3}})(?!\d)\s*")
_IN_THOUSANDS = re.compile(rf"\s*(?P<high>\d?)[{_THOUSAND_OR_NONE}](?P<low>\d{{0,3}})")


def _below_myriad(rest: str) -> int:
    """The count a myriad's rest writes: "5800", "1,061", or with a thousand "천500"."""
    thousands = _IN_THOUSANDS.fullmatch(rest)
    if thousands is not None:
        return int(thousands["high"] or 1) * 1000 + int(thousands["low"] or 0)
    return int(_SEPARATORS.sub("", rest))
_SCALE_AFTER = re.compile(rf"\s*(?:{SCALE_PATTERN})(?![^\W\d_])", re.IGNORECASE)


def exact_thousands(number: str, scale: str) -> int | None:
    """The count a thousands word writes with its three-digit rest, or ``None``.

    "8 тис. 815 (+15)" and "377 bin 820 asker" write 8,815 and 377,820 exactly (the outlets
    that write so give the General Staff's totals, deltas and all); a scale word without the
    rest ("47 тис.", "3 Tsd."), after a decimal ("21.6 thousand"), or of millions stays a
    rounded form.

    >>> exact_thousands("8", " тис. 815"), exact_thousands("377", " bin 820")
    (8815, 377820)
    >>> exact_thousands("3", " آلاف 175"), exact_thousands("8", " آلاف 35")  # "و" made a space
    (3175, 8035)
    >>> exact_thousands("47", " тис."), exact_thousands("21.6", " thousand 100")
    (None, None)

    Ten thousands write their rest of up to four digits: "67万5800" is 675,800, "1万500"
    10,500; "2万" alone stays rounded.

    >>> exact_thousands("67", "万5800"), exact_thousands("1", "만500"), exact_thousands("2", "万")
    (675800, 10500, None)
    >>> exact_thousands("1", "만1,061")
    11061

    Korean writes the thousand as a character too, its rest without zeros:

    >>> exact_thousands("5", "천682"), exact_thousands("34", "만 천500"), exact_thousands("5", "천")
    (5682, 341500, None)
    """
    if not number.isascii() or any(c.isdigit() and not c.isascii() for c in scale):
        return None  # digits of another script are read once made ASCII (read_count's rule)
    myriad = _MYRIAD_REST.fullmatch(scale)
    if myriad is not None and number.isdecimal() and len(number) <= 4:
        return int(number) * 10_000 + _below_myriad(myriad["rest"])
    match = (_THOUSANDS_REST.fullmatch(scale) or _ARABIC_REST.fullmatch(scale)
             or _THOUSAND_REST.fullmatch(scale))
    if match is None or not number.isdecimal() or len(number) > 3:
        return None
    return int(number) * 1000 + int(match["rest"])


@functools.lru_cache(maxsize=65536)
def read_count(token: str) -> int | None:
    """Read a count token; ``None`` when it is a decimal (``21.6``) rather than a count.

    Groups of three after any of , . space NBSP NNBSP thin space are thousands, even mixed
    within one token ("1,020.010"); a misplaced separator ("1.206910") is a typo of a count.

    >>> [read_count(t) for t in ("385,230", "385.230", "385\u202f230", "1,020.010", "1.206910")]
    [385230, 385230, 385230, 1020010, 1206910]
    >>> read_count("21.6") is None
    True
    """
    parts = _SEPARATORS.split(token)
    if len(parts) == 2 and len(parts[1]) < 3:
        return None  # "21.6", "3,5": a decimal
    digits = "".join(parts)
    if not digits.isdecimal() or not digits.isascii():
        return None
    return int(digits)


_SIGN = re.compile(rf"^\s*(?P<sign>[+{DASHES}])?\s*(?P<number>{NUMBER})?")
_TOTAL_WORDS = re.compile(
    r"загалом|усього|всього|всего|в целом|total|insgesamt|gesamt|au total|łącznie|in totale",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Bracket:
    """What a bracket after a figure says: a change, a total (change-first forms), or nothing."""

    delta: int | None = None
    total: int | None = None
    signed: bool = False


@functools.lru_cache(maxsize=65536)
def read_bracket(body: str) -> Bracket:
    """Read a bracket's content after a figure.

    >>> read_bracket("+17 – за останню добу"), read_bracket("+"), read_bracket("0")
    (Bracket(delta=17, total=None, signed=True), Bracket(delta=None, total=None, signed=True), \
Bracket(delta=0, total=None, signed=False))
    >>> read_bracket("загалом 11 261").total, read_bracket("+1 тис. 250 за добу").delta
    (11261, 1250)
    """
    words = _TOTAL_WORDS.search(body)
    if words is not None:
        match = re.search(NUMBER, body[words.end():])
        total = read_count(match.group()) if match else None
        return Bracket(total=total)
    match = _SIGN.match(body)
    if match is None or match["number"] is None:
        return Bracket(signed=bool(match and match["sign"]))
    value = read_count(match["number"])
    rest = _THOUSANDS_REST.match(body, match.end())
    if rest is not None:
        # "(+1 тис. 250 за добу)": the change written with a thousands word.
        value = exact_thousands(match["number"], rest.group())
    elif _SCALE_AFTER.match(body, match.end()):
        return Bracket(signed=bool(match["sign"]))  # "(+1,2 тис.)": a rounded change
    if value is None or value > MAX_COUNT:
        return Bracket()
    sign = match["sign"]
    return Bracket(delta=-value if sign and sign != "+" else value, signed=bool(sign))
