"""The minfin history CSV: one row per day, one column per category, empty cell = no figure.

One file is one report; its ``report_date`` is ``None`` (it covers every day).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Iterable, Sequence

from lossledger.parse.ontology import category_for, is_ignored
from lossledger.parse.parsers._utils import MAX_HISTORY_ROWS, finished_result, make_result
from lossledger.parse.parsers.base import ParsedObservation, Parser, ParseResult, Problem

__all__ = ["MinfinHistoryParser"]

_FAMILY = "minfin"


def _header(text: str) -> list[str]:
    end = text.find("\n", 0, 100_000)
    first_line = text[: end if end >= 0 else 100_000].lstrip("\ufeff")
    return [cell.strip() for cell in first_line.strip().split(",")]


class MinfinHistoryParser(Parser):
    """Totals only (``stated_delta`` is ``None``), from a ``date,day,personnel,...`` CSV.

    >>> body = "date,day,personnel,tanks\\n2022-02-24,1,800,\\n"
    >>> result = MinfinHistoryParser().parse(body, media_type="text/csv")
    >>> [(o.category, o.total) for o in result.observations]
    [('personnel', 800)]
    """

    name = "history_minfin"
    version = "1"
    source_kind = "history"

    def claims(self, text: str, *, media_type: str) -> bool:
        header = _header(text)
        return (
            len(header) > 1
            and header[0] == "date"
            and any(category_for(column, family=_FAMILY) for column in header)
        )

    def parse(self, text: str, *, media_type: str) -> ParseResult:
        if not self.claims(text, media_type=media_type):
            return make_result(self, None, (), (Problem("not a minfin losses CSV"),))
        # Streamed, one row at a time, and counted: memory follows the rows kept, not the text.
        reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
        header = next(reader, None)
        if header is None:
            return make_result(self, None, (), (Problem("not a minfin losses CSV"),))
        rows = list(itertools.islice(reader, MAX_HISTORY_ROWS + 1))
        if len(rows) > MAX_HISTORY_ROWS:
            problem = Problem(
                f"history file has more than {MAX_HISTORY_ROWS:,} rows (real ones have about "
                "1,700, one a day): not parsed"
            )
            return make_result(self, None, (), (problem,))
        observations, problems = _observations(header, rows)
        return finished_result(self, None, observations, problems, document="history file")


def _observations(
    header: Sequence[str], rows: Iterable[Sequence[str]]
) -> tuple[list[ParsedObservation], list[Problem]]:
    header = [column.strip() for column in header]
    codes = [category_for(column, family=_FAMILY) for column in header]
    problems = [
        Problem(f"unknown category '{column}'")
        for column, code in zip(header, codes, strict=True)
        if code is None and not is_ignored(column, family=_FAMILY)
    ]
    observations: list[ParsedObservation] = []
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            date = dt.date.fromisoformat(row[0].strip())
        except ValueError:
            problems.append(Problem(f"line {number}: invalid date {row[0]!r}"))
            continue
        if len(row) != len(header):
            problems.append(
                Problem(f"line {number}: {len(row)} cells, expected {len(header)}", date)
            )
            continue
        for column, code, cell in zip(header, codes, row, strict=True):
            cell = cell.strip()
            if code is None or not cell:
                continue
            if not cell.isdecimal() or not cell.isascii():
                problems.append(Problem(f"malformed figure for '{column}': {cell!r}", date, code))
                continue
            observations.append(ParsedObservation(date, code, int(cell), None, None, column))
    return observations, problems
