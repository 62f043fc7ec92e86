"""Labels as data: every alias of ``ontology.csv``, matched tolerant of inflection and typos.

Three steps, each only when the one before found nothing, each cached per distinct string:

1. exact, after :func:`~lossledger.parse.ontology.normalise_label` (most labels on real pages
   are in the table as written);
2. lemmas (simplemma): "підводних човни", "Artilleriesystemen" or "czołgi" reduce to the same
   lemmas as an alias in another case or number;
3. rapidfuzz near-misses ("artilery systems") under a strict threshold; a score between
   :data:`WEAK_SCORE` and :data:`STRONG_SCORE` is a *weak* match the caller quarantines.

Dictionaries load lazily per language, so a page in one language never pays for the others.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from lossledger.parse.ontology import ALIASES, IGNORED, normalise_label

__all__ = [
    "GENERAL_FAMILIES",
    "INDIC",
    "STRONG_SCORE",
    "WEAK_SCORE",
    "LabelMatch",
    "context_categories",
    "lookup_label",
    "otherwise_for",
    "script_languages",
]

#: Families whose aliases the general reader knows (the history files' record keys are not
#: labels of prose). ``text`` is the multilingual family of real pages.
GENERAL_FAMILIES = ("text", "gs_en", "gs_uk", "ticker_de", "ticker_en", "petroivaniuk")
#: Fuzzy scores (0..100): at or above STRONG a match, between WEAK and STRONG a doubt.
STRONG_SCORE = 93.0
WEAK_SCORE = 86.0
_MIN_FUZZY_CHARS = 7

#: The scripts of India and Sri Lanka (Devanagari to Sinhala), and Arabic's vowel marks: their
#: vowel signs are no ``\w`` for ``re``, yet part of the word ("टैंक", "হেলিকপ্টার", "جنديًا";
#: the Arabic marks are left out of a label's key, :func:`~lossledger.parse.ontology.
#: normalise_label`).
INDIC = "\u0900-\u0dff\u064b-\u065f\u0670"
_WORD = re.compile(rf"(?:[^\W_]|[{INDIC}])+(?:['\-](?:[^\W_]|[{INDIC}])+)*|/")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_STRIP = re.compile(rf"[^\w\s/'\-{INDIC}]+")


@dataclass(frozen=True, slots=True)
class LabelMatch:
    """A label found: its category code (``-`` for a known non-figure) and how sure we are."""

    code: str
    confidence: float
    how: str
    """``exact``, ``lemma``, ``fuzzy`` or ``weak`` (a near-miss the caller must not trust)."""
    alias: str


# Apostrophes of every form as "'" before punctuation is stripped, so that "L’artillerie" and
# "l'artillerie" (and "chars d’assaut", "chars d'assaut") give one key.
_APOSTROPHE = str.maketrans(dict.fromkeys("\u02bc\u2019\u2018`\u00b4", "'"))


def _key(label: str) -> str:
    return normalise_label(_STRIP.sub(" ", label.translate(_APOSTROPHE)))


def _build_exact() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    index: dict[str, str] = {}
    language: dict[str, str] = {}
    shown: dict[str, str] = {}
    conflicts: set[str] = set()
    for family in GENERAL_FAMILIES:  # earlier families win: "text" is the curated one
        for alias in ALIASES:
            if alias.family != family:
                continue
            if alias.code == IGNORED and family != "text":
                continue
            key = _key(alias.alias)
            if not key:
                continue
            if key in index:
                if index[key] != alias.code and family == "text":
                    conflicts.add(key)
                continue
            index[key], language[key], shown[key] = alias.code, alias.language, alias.alias
    if conflicts:
        raise ValueError(f"ontology.csv: text-family aliases mapping to two codes: {conflicts}")
    return index, language, shown


_EXACT, _LANGUAGE, _SHOWN = _build_exact()
_FUZZY_KEYS = tuple(key for key in _EXACT if len(key) >= _MIN_FUZZY_CHARS - 2)


@functools.cache
def _otherwise() -> tuple[dict[str, str], re.Pattern[str] | None]:
    """The labels that name another category on a page naming theirs otherwise (ontology
    column ``otherwise``), by key, and a pattern finding any of them in a text."""
    table = {_key(alias.alias): alias.otherwise for alias in ALIASES
             if alias.otherwise and alias.family == "text"}
    words = sorted(table, key=len, reverse=True)
    return table, (re.compile("|".join(map(re.escape, words)), re.IGNORECASE) if words else None)


def context_categories(text: str) -> dict[str, str]:
    """The table of labels whose category depends on the page (label key: the other
    category), or an empty one when ``text`` holds none of them.

    >>> context_categories("3064 harckocsit és 6124 páncélozott harcjárművet")["harckocsit"]
    'armored_vehicles'
    >>> context_categories("725 tanks")
    {}
    """
    table, pattern = _otherwise()
    if pattern is None or pattern.search(text) is None:
        return {}
    return table


def otherwise_for(label: str, table: dict[str, str]) -> str | None:
    """The category ``label`` names instead when its own is named by another label."""
    return table.get(_key(label)) if table else None


@functools.cache
def _elision() -> re.Pattern[str] | None:
    """An elided article at the start of a key ("l'artillerie", ``cues.csv`` kind
    ``elision``), longest first."""
    from lossledger.parse.extract.cues import cue_table

    cues = sorted({normalise_label(cue) for kind, cue in cue_table() if kind == "elision"},
                  key=len, reverse=True)
    return re.compile("|".join(map(re.escape, cues))) if cues else None


def _without_elision(key: str) -> str | None:
    """The key without its elided article, when it starts with one and more follows."""
    pattern = _elision() if "'" in key else None
    found = pattern.match(key) if pattern is not None else None
    return key[found.end():] if found is not None and found.end() < len(key) else None


_UKRAINIAN = re.compile(r"[іїєґІЇЄҐ]")
_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(["the", "and", "of", "to", "in", "has", "have", "were", "was", "since"]),
    "de": frozenset(["der", "die", "das", "und", "von", "mit", "den", "dem", "ist", "seit"]),
    "fr": frozenset(["les", "des", "et", "le", "la", "du", "au", "depuis", "selon", "sont"]),
    "it": frozenset(["il", "di", "e", "che", "della", "dei", "gli", "sono", "dal", "secondo"]),
    "tr": frozenset(["ve", "bir", "ile", "için", "bu", "olarak", "göre", "daha"]),
    "pl": frozenset(["i", "w", "z", "na", "się", "oraz", "od", "do", "według", "przez"]),
    "es": frozenset(["el", "los", "las", "del", "y", "en", "por", "según", "desde", "han"]),
    "pt": frozenset(["os", "as", "do", "da", "dos", "em", "pelo", "segundo", "desde", "foram"]),
    "ro": frozenset(["și", "în", "din", "cu", "pentru", "potrivit", "au", "fost", "care"]),
    "cs": frozenset(["a", "v", "ve", "na", "se", "že", "podle", "od", "bylo", "také"]),
    "sk": frozenset(["a", "v", "vo", "na", "sa", "že", "podľa", "od", "bolo", "tiež"]),
    "hu": frozenset(["a", "az", "és", "hogy", "egy", "szerint", "is", "óta", "már", "ukrán"]),
    "nl": frozenset(["de", "het", "een", "van", "en", "in", "volgens", "sinds", "zijn", "ook"]),
}
_LATIN_WORD = re.compile(r"[^\W\d_]+")


def script_languages(text: str) -> tuple[str, ...]:
    """The one lemma language worth loading for a page: by script, then by common words.

    Loading a language's dictionary costs up to seconds, so a page gets only its own.

    >>> script_languages("танків ‒ 6310"), script_languages("Panzer und die Drohnen")
    (('uk',), ('de',))
    """
    if _CYRILLIC.search(text):
        return ("uk",) if _UKRAINIAN.search(text) else ("ru",)
    counts = dict.fromkeys(_STOPWORDS, 0)
    for word in _LATIN_WORD.findall(text[:5000].casefold()):
        for language, words in _STOPWORDS.items():
            if word in words:
                counts[language] += 1
    best = max(counts, key=counts.__getitem__)
    return (best,) if counts[best] else ("en",)


@functools.lru_cache(maxsize=200_000)
def _lemma(word: str, language: str) -> str:
    import simplemma  # loads its dictionaries lazily, per language

    return simplemma.lemmatize(word, lang=language).casefold()


def _lemma_key(key: str, language: str) -> str:
    return " ".join(_lemma(word, language) for word in _WORD.findall(key))


@functools.lru_cache(maxsize=16)
def _lemma_index(language: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for key, code in _EXACT.items():
        if _LANGUAGE[key] != language:
            continue
        index.setdefault(_lemma_key(key, language), code)
    return index


def _bilingual(key: str, languages: tuple[str, ...]) -> LabelMatch | None:
    """A label written in two languages, "танки / tanks" (the General Staff's own bilingual
    posts): both halves must name the same category."""
    for index, char in enumerate(key):
        if char != "/":
            continue
        left = lookup_label(key[:index], languages)
        if left is None or left.code == IGNORED:
            continue
        right = lookup_label(key[index + 1:], languages)
        if right is not None and right.code == left.code:
            return LabelMatch(left.code, min(left.confidence, right.confidence), left.how,
                              f"{left.alias} / {right.alias}")
    return None


@functools.lru_cache(maxsize=200_000)
def lookup_label(label: str, languages: tuple[str, ...] = (), *, fuzzy: bool = False) -> (
    LabelMatch | None
):
    """The category a label names, or ``None``.

    Parameters
    ----------
    label
        The label as written (any case, spacing, dash, bullet).
    languages
        Lemma languages to try (see :func:`script_languages`); empty: exact only.
    fuzzy
        Whether to try near-misses too (only for a whole label in a list position).

    Examples
    --------
    >>> lookup_label("Танків").code, lookup_label("tanks with fuel and lubricants").code
    ('tanks', 'fuel_tanks')
    >>> lookup_label("artilery systems", fuzzy=True).how
    'fuzzy'
    >>> lookup_label("бойові броньовані машини / APV").code
    'armored_vehicles'
    >>> lookup_label("L’artillerie").code  # an elided article written onto the label
    'artillery'
    """
    key = _key(label)
    if not key:
        return None
    code = _EXACT.get(key)
    if code is not None:
        return LabelMatch(code, 1.0, "exact", _SHOWN[key])
    bare = _without_elision(key)
    if bare is not None and (code := _EXACT.get(bare)) is not None:
        return LabelMatch(code, 1.0, "exact", _SHOWN[bare])
    for language in languages:
        code = _lemma_index(language).get(_lemma_key(key, language))
        if code is not None:
            return LabelMatch(code, 0.95, "lemma", label)
    if "/" in key:
        both = _bilingual(key, languages)
        if both is not None:
            return both
    if fuzzy and len(key) >= _MIN_FUZZY_CHARS:
        best = process.extractOne(key, _FUZZY_KEYS, scorer=fuzz.ratio, score_cutoff=WEAK_SCORE)
        if best is not None:
            alias, score, _ = best
            how = "fuzzy" if score >= STRONG_SCORE else "weak"
            return LabelMatch(_EXACT[alias], round(score / 100, 3), how, _SHOWN[alias])
    return None
