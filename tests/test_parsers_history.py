"""History files (petroivaniuk JSON, minfin CSV), and every real day rendered in every format."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from bench.render import FORMATS, RenderStyle, load_petroivaniuk_days, render_report
from lossledger.parse.parsers import ParseResult, parse_report

# Written out in tests/reconcile_frames.py, not read from the ontology: the counts below are
# independent of it.
from tests.reconcile_frames import MINFIN_CODES as MINFIN_COLUMNS
from tests.reconcile_frames import PETROIVANIUK_CODES as PETROIVANIUK_KEYS

SHARED = Path(__file__).parents[1].parent / "shared"
PETROIVANIUK = SHARED / "data" / "petroivaniuk"
MINFIN_CSV = SHARED / "data" / "minfin" / "russia_losses.csv"

PETROIVANIUK_SKIPPED = {"date", "day", "personnel*", "POW", "greatest losses direction"}


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not available: {path} (the repo's sibling ../shared)")
    return path


def parse_file(path: Path, media_type: str) -> ParseResult:
    return parse_report(path.read_bytes(), media_type=media_type, file_name=path.name)


def triples(result: ParseResult) -> list[tuple[dt.date, str, int]]:
    return [(o.date, o.category, o.total) for o in result.observations]


@pytest.mark.parametrize("name", ["russia_losses_equipment.json", "russia_losses_personnel.json"])
def test_petroivaniuk_one_observation_per_date_and_category(name: str) -> None:
    path = require(PETROIVANIUK / name)
    expected = []
    for record in json.loads(path.read_text()):
        assert set(record) <= PETROIVANIUK_KEYS.keys() | PETROIVANIUK_SKIPPED
        expected += [
            (dt.date.fromisoformat(record["date"]), PETROIVANIUK_KEYS[key], value)
            for key, value in record.items()
            if key in PETROIVANIUK_KEYS and value is not None
        ]
    result = parse_file(path, "application/json")
    assert (result.parser, result.source_kind, result.problems) == (
        "history_petroivaniuk",
        "history",
        (),
    )
    assert result.report_date is None
    assert sorted(triples(result)) == sorted(expected)
    assert len(triples(result)) == len(set((d, c) for d, c, _ in triples(result)))
    assert {o.stated_delta for o in result.observations} == {None}


def test_petroivaniuk_personnel_qualifiers() -> None:
    path = require(PETROIVANIUK / "russia_losses_personnel.json")
    words = {"about": "about", "more": "more than"}
    expected = {
        dt.date.fromisoformat(r["date"]): words[r["personnel*"]]
        for r in json.loads(path.read_text())
    }
    result = parse_file(path, "application/json")
    assert {o.date: o.qualifier for o in result.observations} == expected
    assert "more than" in expected.values()


def test_petroivaniuk_corrections_file_is_not_taken_for_totals() -> None:
    path = require(PETROIVANIUK / "russia_losses_equipment_correction.json")
    result = parse_file(path, "application/json")
    assert (result.parser, result.observations) == ("history_petroivaniuk", ())
    assert "corrections file" in result.problems[0].reason


def test_minfin_one_observation_per_non_empty_cell() -> None:
    path = require(MINFIN_CSV)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert set(rows[0]) == MINFIN_COLUMNS.keys() | {"date", "day"}
    expected = [
        (dt.date.fromisoformat(row["date"]), MINFIN_COLUMNS[column], int(cell))
        for row in rows
        for column, cell in row.items()
        if column in MINFIN_COLUMNS and cell != ""
    ]
    result = parse_file(path, "text/csv")
    assert (result.parser, result.source_kind, result.problems) == ("history_minfin", "history", ())
    assert result.report_date is None
    assert sorted(triples(result)) == sorted(expected)
    assert len(expected) < len(rows) * len(MINFIN_COLUMNS)  # empty cells do exist


def test_history_problems_are_reported() -> None:
    body = b'[{"date": "2022-02-25", "tank": 80, "lasers": 1, "APC": "many"}, {"date": "x"}]'
    result = parse_report(body, media_type="application/json", file_name="h.json")
    assert result.parser == "history_petroivaniuk"
    assert [(o.category, o.total) for o in result.observations] == [("tanks", 80)]
    assert [p.reason for p in result.problems] == [
        "unknown category 'lasers'",
        "malformed figure for 'APC': 'many'",
        "invalid date 'x'",
    ]
    body = b"date,day,tanks,lasers\n2022-02-24,1,30,1\n2022-02-25,2,x,\n"
    result = parse_report(body, media_type="text/csv", file_name="m.csv")
    assert result.parser == "history_minfin"
    assert [(o.category, o.total) for o in result.observations] == [("tanks", 30)]
    assert [p.reason for p in result.problems] == [
        "unknown category 'lasers'",
        "malformed figure for 'tanks': 'x'",
    ]


# Every real day, every format ------------------------------------------------------------------

STYLE_CYCLE = {
    "gs_en": (RenderStyle(), RenderStyle(dash="–", one_line=True, thousands="\u00a0")),
    "gs_uk": (RenderStyle(), RenderStyle(dash="-", units=False, thousands=" ")),
    "ticker_de": (
        RenderStyle(qualifier="about"),
        RenderStyle(encoding="cp1252", qualifier="around"),
    ),
    "ticker_en": (
        RenderStyle(qualifier="around", space_before_colon=True),
        RenderStyle(qualifier="around", echo=False, thousands="\u202f"),
    ),
    "api_json": (RenderStyle(qualifier=None), RenderStyle(qualifier=None, envelope=False)),
}


def test_every_petroivaniuk_day_in_every_format_round_trips() -> None:
    days = load_petroivaniuk_days(
        require(PETROIVANIUK / "russia_losses_equipment.json"),
        require(PETROIVANIUK / "russia_losses_personnel.json"),
    )
    assert len(days) > 1600
    previous: dict[str, int] = {}
    failures = []
    for index, (date, values) in enumerate(days.items()):
        deltas = {
            code: value - previous[code] for code, value in values.items() if code in previous
        }
        previous = values
        for fmt in FORMATS:
            style = STYLE_CYCLE[fmt][index % 2]
            if fmt == "gs_en" and date <= dt.date(2022, 4, 30):
                style = RenderStyle(wording_2022=True, one_line=style.one_line)
            body = render_report(values, date=date, deltas=deltas, fmt=fmt, style=style)
            result = parse_report(body, media_type="text/plain", file_name=f"{date}.{fmt}")
            got = {o.category: (o.total, o.stated_delta) for o in result.observations}
            want = {code: (value, deltas.get(code)) for code, value in values.items()}
            if (result.report_date, got, result.problems) != (date, want, ()):
                failures.append((date, fmt, result.problems))
    assert failures == []
