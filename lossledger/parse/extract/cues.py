"""The general reader's cue words as data (``cues.csv``): distractors, fillers, clause words,
counters... One table, read once, for the modules that build patterns from it."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

__all__ = ["CUES_PATH", "cue_characters", "cue_table"]

CUES_PATH = Path(__file__).with_name("cues.csv")


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
