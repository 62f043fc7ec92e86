"""Declared formats: a history file of a new layout becomes readable by a TOML file alone."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from lossledger.cli import app
from lossledger.parse.formats import FormatError, load_format
from lossledger.parse.parsers import PARSERS_FINGERPRINT
from lossledger.pipeline import RunSettings, plan_run
from tests.conftest import SHARED
from tests.helpers import build, ingest_bytes

EQUIPMENT = SHARED / "data" / "petroivaniuk" / "russia_losses_equipment.json"
# The real figures of 30 days, read independently of lossledger's parsers.
FIELDS = {"tank": "tanks", "APC": "armored_vehicles", "field artillery": "artillery",
          "MRL": "mlrs", "helicopter": "helicopters"}


@pytest.fixture(scope="module")
def days() -> list[dict[str, object]]:
    records = json.loads(EQUIPMENT.read_text())
    return [r for r in records if "2023-03-01" <= r["date"] <= "2023-03-30"]


def nested_json(days: list[dict[str, object]]) -> bytes:
    """A layout no built-in parser knows: records nested two levels down, dates as 31.01.2024,
    figures under "equipment", an unmapped "note" field and a day counter."""
    return json.dumps({
        "meta": {"title": "hand-kept copy", "rows": len(days)},
        "payload": {"days": [
            {
                "when": dt.date.fromisoformat(str(day["date"])).strftime("%d.%m.%Y"),
                "counter": day["day"],
                "note": "copied by hand",
                "equipment": {"tnk": day["tank"], "apv": day["APC"], "art": day["field artillery"]},
            }
            for day in days
        ]},
    }, indent=1).encode()


NESTED_TOML = """
name = "nested-days"
kind = "json"
records = "payload.days"
date_field = "when"
date_format = "%d.%m.%Y"
source_kind = "history"
ignore = ["counter"]

[columns]
"equipment.tnk" = "tanks"
"equipment.apv" = "armored_vehicles"
"equipment.art" = "artillery"
"""


def expected(days: list[dict[str, object]], fields: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame([
        {"date": dt.date.fromisoformat(str(day["date"])), "category": code, "total": day[field]}
        for day in days for field, code in fields.items()
    ]).sort("date", "category")


def published(tables_observations: pl.DataFrame) -> pl.DataFrame:
    return tables_observations.select("date", "category", "total").sort("date", "category")


def test_a_new_layout_is_quarantined_then_read_after_its_format_is_declared(
    tmp_path: Path, days: list[dict[str, object]]
) -> None:
    home = tmp_path / "home"
    ingest_bytes(home, nested_json(days), name="nested.json", source="hand-kept")
    before = build(home, publish_to=home / "warehouse")
    assert before.observations.is_empty()
    assert before.reports["status"].to_list() == ["quarantined"]
    assert before.quarantine["reason"].to_list() == [
        "no parser recognised the report (no loss figures found)"
    ]

    (home / "formats").mkdir()
    (home / "formats" / "nested.toml").write_text(NESTED_TOML)
    plan = plan_run(RunSettings.resolve(home))
    assert not plan.nothing_new and plan.format_errors == ()
    after = build(home, publish_to=home / "warehouse")

    report = after.reports.row(0, named=True)
    assert (report["parser"], report["status"]) == ("nested-days", "partial")
    assert report["parser_version"] == load_format(home / "formats" / "nested.toml").digest
    want = expected(days, {"tank": "tanks", "APC": "armored_vehicles",
                           "field artillery": "artillery"})
    assert published(after.observations).equals(want)
    assert set(after.observations["parser"]) == {"nested-days"}
    # The earlier quarantine is gone; what stays is the one line naming the unmapped field.
    assert after.quarantine["reason"].to_list() == [
        "unmapped fields in format 'nested-days': note"
    ]
    totals = after.daily_totals.filter(pl.col("category") == "tanks").sort("date")
    assert totals["total"].to_list() == [day["tank"] for day in days]


def test_editing_a_format_file_changes_the_fingerprint_and_reparses(
    tmp_path: Path, days: list[dict[str, object]]
) -> None:
    home = tmp_path / "home"
    ingest_bytes(home, nested_json(days), name="nested.json", source="hand-kept")
    (home / "formats").mkdir()
    path = home / "formats" / "nested.toml"
    path.write_text(NESTED_TOML)
    first = RunSettings.resolve(home).registry().fingerprint
    assert first != PARSERS_FINGERPRINT
    build(home, publish_to=home / "warehouse")
    assert plan_run(RunSettings.resolve(home)).nothing_new

    path.write_text(NESTED_TOML.replace('ignore = ["counter"]', 'ignore = ["counter", "note"]'))
    settings = RunSettings.resolve(home)
    assert settings.registry().fingerprint != first
    assert plan_run(settings).parse_ranges == ((1, 1),)
    after = build(home, publish_to=home / "warehouse")
    assert after.quarantine.is_empty()
    assert after.reports["status"].to_list() == ["parsed"]


SEMICOLON_TOML = """
name = "semicolon-csv"
kind = "csv"
date_field = "Datum"
date_format = "%d/%m/%Y"
delimiter = ";"

[columns]
Panzer = "tanks"
Hubschrauber = "helicopters"
Raketenwerfer = "mlrs"

[deltas]
"Panzer +" = "tanks"
"""


def test_a_semicolon_csv_with_stated_changes_and_a_bad_cell(
    tmp_path: Path, days: list[dict[str, object]]
) -> None:
    lines = ["Datum;Panzer;Panzer +;Hubschrauber;Raketenwerfer"]
    previous = None
    for day in days:
        when = dt.date.fromisoformat(str(day["date"])).strftime("%d/%m/%Y")
        change = "" if previous is None else str(int(day["tank"]) - previous)
        lines.append(f"{when};{day['tank']};{change};{day['helicopter']};{day['MRL']}")
        previous = int(day["tank"])
    lines[5] = lines[5].rsplit(";", 1)[0] + ";n/a"   # not an integer: quarantined, per cell
    home = tmp_path / "home"
    ingest_bytes(home, "\n".join(lines).encode(), name="verluste.csv", source="csv-copy")
    (home / "formats").mkdir()
    (home / "formats" / "semicolon.toml").write_text(SEMICOLON_TOML)
    tables = build(home, publish_to=home / "warehouse")

    bad_day = dt.date.fromisoformat(str(days[4]["date"]))
    want = expected(days, {"tank": "tanks", "helicopter": "helicopters", "MRL": "mlrs"}).filter(
        ~((pl.col("date") == bad_day) & (pl.col("category") == "mlrs"))
    )
    assert published(tables.observations).equals(want)
    tanks = tables.observations.filter(pl.col("category") == "tanks").sort("date")
    assert tanks["stated_delta"].to_list()[1:] == [
        int(b["tank"]) - int(a["tank"]) for a, b in itertools.pairwise(days)
    ]
    quarantined = tables.quarantine.row(0, named=True)
    assert tables.quarantine.height == 1
    assert (quarantined["reason"], quarantined["date"], quarantined["category"]) == (
        "malformed figure for 'Raketenwerfer': 'n/a'", bad_day, "mlrs"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = \"x\"\nkind = \"json\"\n[columns\n", "not valid TOML"),
        ('name = "x"\nkind = "xml"\ndate_field = "d"\n[columns]\nt = "tanks"\n',
         "key 'kind': unknown kind 'xml' (json or csv)"),
        ('name = "x"\nkind = "csv"\ndate_field = "d"\n[columns]\nt = "tankz"\n',
         "key 'columns.t': unknown category code 'tankz'"),
        ('name = "x"\nkind = "csv"\n[columns]\nt = "tanks"\n', "key 'date_field': is required"),
        ('name = "x"\nkind = "csv"\ndate_field = "d"\nrecord = "a"\n[columns]\nt = "tanks"\n',
         "key 'record': unknown key"),
        ('name = "x"\nkind = "csv"\ndate_field = "d"\nsource_kind = "blog"\n[columns]\n'
         't = "tanks"\n', "key 'source_kind': unknown source kind 'blog'"),
    ],
)
def test_a_bad_format_file_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(FormatError) as caught:
        load_format(path)
    line = str(caught.value)
    assert "\n" not in line and line.startswith(f"{path}: ") and message in line


def test_a_bad_format_file_leaves_the_others_working(
    tmp_path: Path, days: list[dict[str, object]]
) -> None:
    home = tmp_path / "home"
    ingest_bytes(home, nested_json(days), name="nested.json", source="hand-kept")
    (home / "formats").mkdir()
    (home / "formats" / "a-broken.toml").write_text(NESTED_TOML.replace('"tanks"', '"tankz"'))
    (home / "formats" / "nested.toml").write_text(NESTED_TOML)
    (home / "formats" / "same-name.toml").write_text(NESTED_TOML)
    plan = plan_run(RunSettings.resolve(home))
    broken, taken = plan.format_errors
    assert "a-broken.toml: key 'columns.equipment.tnk': unknown category code 'tankz'" in broken
    assert "same-name.toml: key 'name': 'nested-days' is already taken" in taken
    tables = build(home, publish_to=home / "warehouse")
    assert tables.observations.height == 3 * len(days)

    result = CliRunner().invoke(app, ["status", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "declared formats" in result.output and "nested-days" in result.output
    assert "not used" in result.output


def test_two_formats_that_fit_one_file_are_an_ambiguity(
    tmp_path: Path, days: list[dict[str, object]]
) -> None:
    home = tmp_path / "home"
    ingest_bytes(home, nested_json(days), name="nested.json", source="hand-kept")
    (home / "formats").mkdir()
    (home / "formats" / "one.toml").write_text(NESTED_TOML)
    (home / "formats" / "two.toml").write_text(NESTED_TOML.replace("nested-days", "other-days"))
    tables = build(home, publish_to=home / "warehouse")
    assert tables.observations.is_empty()
    assert tables.quarantine["reason"].to_list() == [
        "ambiguous: claimed by nested-days, other-days"
    ]


def test_a_format_does_not_claim_a_file_without_its_date_or_enough_fields(
    tmp_path: Path, days: list[dict[str, object]]
) -> None:
    home = tmp_path / "home"
    body = nested_json(days).replace(b'"when"', b'"datum"')
    ingest_bytes(home, body, name="nested.json", source="hand-kept")
    (home / "formats").mkdir()
    (home / "formats" / "nested.toml").write_text(NESTED_TOML)
    tables = build(home, publish_to=home / "warehouse")
    assert tables.observations.is_empty()
    assert tables.reports["parser"].to_list() == [None]
