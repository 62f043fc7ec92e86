"""The JSON API (``{"data": {"date": ..., "stats": {...}, "increase": {...}}}``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from lossledger.parse.ontology import category_for, is_ignored
from lossledger.parse.parsers._utils import finished_result, load_json, make_result
from lossledger.parse.parsers.base import ParsedObservation, Parser, ParseResult, Problem

__all__ = ["ApiJsonParser", "is_count"]

_FAMILY = "api"


def is_count(value: object) -> bool:
    """Whether a JSON value is a non-negative integer count (``true`` is not a count).

    >>> is_count(6310), is_count(True), is_count(-1), is_count("6310")
    (True, False, False, False)
    """
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_delta(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _payload(document: object) -> Mapping[str, Any] | None:
    if not isinstance(document, dict):
        return None
    data = document.get("data")
    root = data if isinstance(data, dict) else document
    return root if isinstance(root.get("stats"), dict) else None


def _report_date(payload: Mapping[str, Any]) -> dt.date | None:
    value = payload.get("date")
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


class ApiJsonParser(Parser):
    """One day of the API: totals from ``stats``, stated changes from ``increase``.

    Keys map through the ontology's ``api`` family; a ``null`` total is no observation.

    >>> body = '{"date": "2024-01-31", "stats": {"tanks": 6310}, "increase": {"tanks": 10}}'
    >>> result = ApiJsonParser().parse(body, media_type="application/json")
    >>> [(o.category, o.total, o.stated_delta) for o in result.observations]
    [('tanks', 6310, 10)]
    """

    name = "api_json"
    version = "1"
    source_kind = "api"

    def claims(self, text: str, *, media_type: str) -> bool:
        return _payload(load_json(text)) is not None

    def parse(self, text: str, *, media_type: str) -> ParseResult:
        payload = _payload(load_json(text))
        if payload is None:
            return make_result(self, None, (), (Problem("not an API document with stats"),))
        date = _report_date(payload)
        if date is None:
            problem = Problem(f"no valid report date in the API document: {payload.get('date')!r}")
            return make_result(self, None, (), (problem,))
        stats: Mapping[str, Any] = payload["stats"]
        increase = payload.get("increase")
        increase = increase if isinstance(increase, dict) else {}
        observations, problems = _observations(stats, increase, date)
        return finished_result(self, date, observations, problems, document="API document")


def _observations(
    stats: Mapping[str, Any], increase: Mapping[str, Any], date: dt.date
) -> tuple[list[ParsedObservation], list[Problem]]:
    observations: list[ParsedObservation] = []
    problems: list[Problem] = []
    for key, value in stats.items():
        if value is None or is_ignored(key, family=_FAMILY):
            continue
        code = category_for(key, family=_FAMILY)
        if code is None:
            problems.append(Problem(f"unknown category '{key}'", date=date))
            continue
        delta = increase.get(key)
        if not is_count(value) or not (delta is None or _is_delta(delta)):
            problems.append(
                Problem(f"malformed figure for '{key}': {value!r} ({delta!r})", date, code)
            )
            continue
        observations.append(ParsedObservation(date, code, value, delta, None, key))
    for key in sorted(increase.keys() - stats.keys()):
        problems.append(Problem(f"change without a total for '{key}'", date=date))
    return observations, problems
