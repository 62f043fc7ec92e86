"""The general reader's cue words as data (``cues.csv``): distractors, fillers, clause words,
counters... One table, read once, for the modules that build patterns from it."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

__all__ = ["CUES_PATH", "MEANINGS", "cue_characters", "cue_table", "qualifier_table"]

CUES_PATH = Path(__file__).with_name("cues.csv")
#: What a qualifier may mean (kind ``qualifier``, column ``means``): the words stored.
MEANINGS = frozenset({"about", "around", "approximately", "more than", "almost", "up to"})


@functools.cache
def cue_table() -> tuple[tuple[str, str], ...]:
    """Every (kind, cue) of ``cues.csv`` in the file's order, the cue lower-cased as the text it
    is matched in ("einschließlich" stays as written).

    >>> ("distractor", "oryx") in cue_table()
    True
    """
    with CUES_PATH.open(encoding="utf-8", newline="") as handle:
        return tuple((row["kind"], row["cue"].lower()) for row in csv.DictReader(handle))


def cue_characters(kind: str) -> str:
    """The one-character cues of one kind, in the file's order.

    >>> cue_characters("myriad")
    '万萬만'
    """
    return "".join(cue for cue_kind, cue in cue_table() if cue_kind == kind)


@functools.cache
def qualifier_table() -> dict[str, str]:
    """The qualifiers before a total (kind ``qualifier``) and what each means, in the
    English words the pipeline stores.

    >>> table = qualifier_table()
    >>> table["понад"], table["près de"], table["fewer than"]
    ('more than', 'almost', 'up to')
    """
    with CUES_PATH.open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["kind"] == "qualifier"]
    table: dict[str, str] = {}
    for row in rows:
        means = (row.get("means") or "").strip()
        if means not in MEANINGS:
            raise ValueError(f"cues.csv: qualifier {row['cue']!r} means {means!r}, not one of "
                             f"{sorted(MEANINGS)}")
        table[row["cue"].lower()] = means
    return table
