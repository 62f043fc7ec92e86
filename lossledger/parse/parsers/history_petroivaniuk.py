"""The petroivaniuk history files: a JSON list of daily cumulative totals.

Two files share the shape: ``russia_losses_equipment.json`` and ``russia_losses_personnel.json``
(``personnel`` with its qualifier in ``personnel*``). One file is one report whose observations
cover every day; its ``report_date`` is ``None`` because no single day is the report's own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from lossledger.parse.ontology import category_for, is_ignored
from lossledger.parse.parsers._utils import (
    MAX_HISTORY_ROWS,
    finished_result,
    load_json,
    make_result,
    normalise_qualifier,
)
from lossledger.parse.parsers.api_json import is_count
from lossledger.parse.parsers.base import ParsedObservation, Parser, ParseResult, Problem

__all__ = ["PetroivaniukHistoryParser"]

_FAMILY = "petroivaniuk"
_QUALIFIER_KEY = "personnel*"
# The files' own shorthand; anything else goes through the shared qualifier words.
_QUALIFIERS = {"more": "more than"}


def _records(document: object) -> list[Mapping[str, Any]] | None:
    if not isinstance(document, list) or not document:
        return None
    if not all(isinstance(record, dict) and "date" in record for record in document):
        return None
    return document


def _known_key(record: Mapping[str, Any]) -> bool:
    return any(category_for(key, family=_FAMILY) is not None for key in record)


class PetroivaniukHistoryParser(Parser):
    """Totals only (``stated_delta`` is ``None``); ``POW``, ``day`` and the text keys are skipped.

    >>> body = '[{"date": "2022-02-25", "day": 2, "tank": 80, "POW": 0}]'
    >>> [(o.date.isoformat(), o.category, o.total)
    ...  for o in PetroivaniukHistoryParser().parse(body, media_type="").observations]
    [('2022-02-25', 'tanks', 80)]
    """

    name = "history_petroivaniuk"
    version = "1"
    source_kind = "history"

    def claims(self, text: str, *, media_type: str) -> bool:
        records = _records(load_json(text))
        return records is not None and _known_key(records[0])

    def parse(self, text: str, *, media_type: str) -> ParseResult:
        records = _records(load_json(text))
        if records is None:
            return make_result(self, None, (), (Problem("not a list of dated records"),))
        codes = _key_codes(records)
        if "personnel" in codes.values() and _mixes_personnel(records, codes):
            problem = Problem(
                "records mix personnel with equipment keys: this looks like the corrections "
                "file (changes, not cumulative totals)"
            )
            return make_result(self, None, (), (problem,))
        if len(records) > MAX_HISTORY_ROWS:
            problem = Problem(
                f"history file has {len(records):,} records, more than {MAX_HISTORY_ROWS:,} "
                "(real ones have about 1,700, one a day): not parsed"
            )
            return make_result(self, None, (), (problem,))
        observations, problems = _observations(records, codes)
        return finished_result(self, None, observations, problems, document="history file")


def _key_codes(records: list[Mapping[str, Any]]) -> dict[str, str | None]:
    """Each distinct key's category, looked up once (``None``: unknown or skipped)."""
    keys = dict.fromkeys(key for record in records for key in record)
    return {key: category_for(key, family=_FAMILY) for key in keys}


def _mixes_personnel(records: list[Mapping[str, Any]], codes: Mapping[str, str | None]) -> bool:
    return any(
        len({codes[key] for key in record if codes[key] is not None}) > 1
        and any(codes[key] == "personnel" for key in record)
        for record in records
    )


def _qualifier(record: Mapping[str, Any]) -> str | None:
    word = record.get(_QUALIFIER_KEY)
    if not isinstance(word, str):
        return None
    return _QUALIFIERS.get(word) or normalise_qualifier(word)


def _observations(
    records: list[Mapping[str, Any]], codes: Mapping[str, str | None]
) -> tuple[list[ParsedObservation], list[Problem]]:
    observations: list[ParsedObservation] = []
    problems: list[Problem] = []
    reported_unknown: set[str] = set()
    for record in records:
        try:
            date = dt.date.fromisoformat(record["date"])
        except (TypeError, ValueError):
            problems.append(Problem(f"invalid date {record['date']!r}"))
            continue
        for key, value in record.items():
            code = codes[key]
            if code is None:
                if key not in reported_unknown and not is_ignored(key, family=_FAMILY):
                    reported_unknown.add(key)
                    problems.append(Problem(f"unknown category '{key}'", date=date))
                continue
            if value is None:
                continue
            if not is_count(value):
                problems.append(Problem(f"malformed figure for '{key}': {value!r}", date, code))
                continue
            qualifier = _qualifier(record) if code == "personnel" else None
            observations.append(ParsedObservation(date, code, value, None, qualifier, key))
    return observations, problems
