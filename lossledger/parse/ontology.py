"""The category ontology: canonical loss categories and every label sources use for them.

The ontology is data, not code. ``categories.csv`` lists the canonical categories with the dates
between which the General Staff reported them; ``ontology.csv`` has one row per alias
(``code, language, family, alias, variant, note``). Adding an alias is a one-line CSV change.

A *family* is a source's vocabulary (``gs_en``, ``gs_uk``, ``ticker_de``, ``ticker_en``, ``api``,
``petroivaniuk``, ``minfin``). Lookups are exact after :func:`normalise_label`, never fuzzy: a label
the ontology does not know maps to ``None`` and the caller reports it, so nothing is silently
mapped to a wrong category. The code ``-`` marks a label that is known but carries no loss figure
(a record key such as ``day``); see :func:`is_ignored`.

The first alias of a (family, code) with an empty ``variant`` is the one renderers write; a row
with ``variant`` set (e.g. ``2022``) is preferred when rendering that variant.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

__all__ = [
    "CATEGORIES",
    "CATEGORIES_PATH",
    "CATEGORY_CODES",
    "FAMILIES",
    "IGNORED",
    "ONTOLOGY_PATH",
    "Alias",
    "Category",
    "aliases_for",
    "category_for",
    "category_valid_on",
    "is_ignored",
    "normalise_label",
    "ontology_fingerprint",
    "render_alias",
]

ONTOLOGY_PATH = Path(__file__).with_name("ontology.csv")
CATEGORIES_PATH = Path(__file__).with_name("categories.csv")
#: The code of an alias that is known but carries no loss figure.
IGNORED = "-"

_DASHES = re.compile(r"[\u2010-\u2015\u2212\u2E3A\u2E3B\uFE58\uFE63\uFF0D]")
_APOSTROPHES = re.compile(r"[\u02bc\u2019\u2018`\u00b4]")
_SPACES = re.compile(r"\s+")
# Arabic vowel marks (harakat, tanween, shadda, sukun, superscript alef) and the tatweel are
# written or left out at will ("جنديًا", "جنديا"): no part of a label's key.
_ARABIC_MARKS = re.compile("[\u0640\u064b-\u065f\u0670]")
# Romanian s and t with a comma below are often written with a cedilla ("soldaţi" for
# "soldați", "şi" for "și"): one key for both. Turkish and others keep their own letters
# (both the table's aliases and the text are mapped alike, so nothing else changes).
# Arabic final yeh is often written as alef maksura ("الجوى" for "الجوي"): one key for both.
_CEDILLA_TO_COMMA = str.maketrans("\u015e\u015f\u0162\u0163\u0649",
                                  "\u0218\u0219\u021a\u021b\u064a")
_AROUND_SLASH = re.compile(r"\s*/\s*")
_AROUND_HYPHEN = re.compile(r"\s*-\s*")
_EDGE_PUNCT = re.compile(r"^[\s,;:.]+|[\s,;:.]+$")


@dataclass(frozen=True, slots=True)
class Category:
    """A canonical loss category and the dates between which it was reported."""

    code: str
    unit: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    description: str


@dataclass(frozen=True, slots=True)
class Alias:
    """One row of ``ontology.csv``: a label a source family uses for a category."""

    code: str
    language: str
    family: str
    alias: str
    variant: str
    note: str
    otherwise: str = ""
    """The category the label names instead on a page that names ``code`` by another label
    (Hungarian "harckocsi": a tank, or the armoured vehicles beside a page's "tank"); empty
    for a label that means one thing."""


@functools.lru_cache(maxsize=8192)
def normalise_label(label: str) -> str:
    """Normalise a label for lookup: case, whitespace, dashes, apostrophes, edge punctuation.

    Parameters
    ----------
    label
        The label as written in a report.

    Returns
    -------
    str
        The lookup key.

    Examples
    --------
    >>> normalise_label("  Artillery   systems : ")
    'artillery systems'
    >>> normalise_label("boats / ships")
    'boats/ships'
    >>> normalise_label("UAV operational\u2012tactical level")
    'uav operational-tactical level'
    >>> normalise_label("soldaţi") == normalise_label("soldați")
    True
    >>> normalise_label("جنديًا") == normalise_label("جنديا")  # Arabic vowel marks are optional
    True
    """
    text = unicodedata.normalize("NFKC", label).translate(_CEDILLA_TO_COMMA)
    text = _ARABIC_MARKS.sub("", text)
    text = _DASHES.sub("-", text)
    text = _APOSTROPHES.sub("'", text)
    text = _SPACES.sub(" ", text)
    text = _AROUND_SLASH.sub("/", text)
    # "operational - tactical" and "operational-tactical" are the same label.
    text = _AROUND_HYPHEN.sub("-", text)
    return _EDGE_PUNCT.sub("", text).casefold()


def _parse_date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text.strip() else None


def _load_categories(path: Path) -> dict[str, Category]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        row["code"]: Category(
            code=row["code"],
            unit=row["unit"],
            valid_from=_parse_date(row["valid_from"]),
            valid_to=_parse_date(row["valid_to"]),
            description=row["description"],
        )
        for row in rows
    }


def _load_aliases(path: Path, codes: Mapping[str, Category]) -> tuple[Alias, ...]:
    with path.open(encoding="utf-8", newline="") as handle:
        aliases = tuple(
            Alias(**{k: (v or "") for k, v in row.items()}) for row in csv.DictReader(handle)
        )
    for alias in aliases:
        if alias.code != IGNORED and alias.code not in codes:
            raise ValueError(f"ontology.csv: unknown code {alias.code!r} for {alias.alias!r}")
        if alias.otherwise and alias.otherwise not in codes:
            raise ValueError(
                f"ontology.csv: unknown code {alias.otherwise!r} (otherwise) for {alias.alias!r}")
    return aliases


def _build_index(aliases: tuple[Alias, ...]) -> dict[str, dict[str, str]]:
    index: dict[str, dict[str, str]] = {}
    for alias in aliases:
        family = index.setdefault(alias.family, {})
        key = normalise_label(alias.alias)
        # An alias meaning two things in one family would make lookups order-dependent.
        if family.get(key, alias.code) != alias.code:
            raise ValueError(
                f"ontology.csv: {alias.alias!r} maps to both {family[key]!r} and {alias.code!r} "
                f"in family {alias.family!r}"
            )
        family[key] = alias.code
    return index


def _build_render_aliases(aliases: tuple[Alias, ...]) -> dict[tuple[str, str, str], str]:
    """The first alias of each (family, code, variant): the one renderers write."""
    chosen: dict[tuple[str, str, str], str] = {}
    for alias in aliases:
        chosen.setdefault((alias.family, alias.code, alias.variant), alias.alias)
    return chosen


CATEGORIES: Mapping[str, Category] = MappingProxyType(_load_categories(CATEGORIES_PATH))
#: Canonical category codes, in reporting order.
CATEGORY_CODES: tuple[str, ...] = tuple(CATEGORIES)
ALIASES: tuple[Alias, ...] = _load_aliases(ONTOLOGY_PATH, CATEGORIES)
_INDEX = _build_index(ALIASES)
_RENDER_ALIASES = _build_render_aliases(ALIASES)
#: Source families the ontology knows.
FAMILIES: tuple[str, ...] = tuple(_INDEX)


def _family_index(family: str) -> dict[str, str]:
    try:
        return _INDEX[family]
    except KeyError:
        raise ValueError(f"unknown ontology family {family!r}; known: {FAMILIES}") from None


def category_for(label: str, *, family: str) -> str | None:
    """Map a source label to its canonical category code.

    Parameters
    ----------
    label
        The label as written (any case, spacing or dash).
    family
        The source family whose vocabulary applies.

    Returns
    -------
    str or None
        The category code, or ``None`` when the label is unknown or carries no figure.

    Examples
    --------
    >>> category_for("Artillery systems :", family="ticker_en")
    'artillery'
    >>> category_for("boats/ships", family="gs_en")
    'ships'
    >>> category_for("Panzer", family="ticker_en") is None
    True
    """
    code = _family_index(family).get(normalise_label(label))
    return None if code == IGNORED else code


def is_ignored(label: str, *, family: str) -> bool:
    """Whether the label is known to the family but carries no loss figure.

    >>> is_ignored("POW", family="petroivaniuk")
    True
    """
    return _family_index(family).get(normalise_label(label)) == IGNORED


def aliases_for(code: str, *, family: str) -> tuple[str, ...]:
    """All aliases of a category in a family, in file order.

    >>> aliases_for("ships", family="gs_en")
    ('warships / boats', 'boats / ships')
    """
    return tuple(a.alias for a in ALIASES if a.code == code and a.family == family)


def render_alias(code: str, *, family: str, variant: str = "") -> str:
    """The alias a renderer writes for a category: the variant's own row if any, else the first.

    Raises
    ------
    KeyError
        When the family has no alias for the category.

    Examples
    --------
    >>> render_alias("armored_vehicles", family="gs_en")
    'armoured combat vehicles'
    >>> render_alias("armored_vehicles", family="gs_en", variant="2022")
    'APV'
    """
    for key in ((family, code, variant), (family, code, "")):
        if key in _RENDER_ALIASES:
            return _RENDER_ALIASES[key]
    raise KeyError(f"family {family!r} has no alias for {code!r}")


def category_valid_on(code: str, date: dt.date) -> bool:
    """Whether the General Staff reported the category on that date.

    >>> category_valid_on("fuel_tanks", dt.date(2022, 5, 1))
    False
    """
    category = CATEGORIES[code]
    after_start = category.valid_from is None or date >= category.valid_from
    return after_start and (category.valid_to is None or date <= category.valid_to)


def ontology_fingerprint() -> str:
    """A digest of both ontology tables (changes whenever either file changes)."""
    digest = hashlib.sha256()
    for path in (CATEGORIES_PATH, ONTOLOGY_PATH):
        digest.update(path.read_bytes())
    return digest.hexdigest()
