"""The ontology tables: canonical codes, aliases per family, lookup, validity dates."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from lossledger.parse import ontology
from lossledger.parse.ontology import (
    CATEGORIES,
    CATEGORY_CODES,
    aliases_for,
    category_for,
    category_valid_on,
    is_ignored,
    normalise_label,
    render_alias,
)

PETROIVANIUK = Path(__file__).parents[1].parent / "shared" / "data" / "petroivaniuk"
RENDERED_FAMILIES = ("gs_en", "gs_uk", "ticker_de", "ticker_en", "api")


def test_canonical_codes() -> None:
    assert CATEGORY_CODES == (
        "personnel",
        "tanks",
        "armored_vehicles",
        "artillery",
        "mlrs",
        "air_defense",
        "aircraft",
        "helicopters",
        "uav",
        "cruise_missiles",
        "ships",
        "submarines",
        "vehicles_fuel_tanks",
        "special_equipment",
        "ground_robots",
        "srbm_launchers",
        "military_vehicles",
        "fuel_tanks",
    )


@pytest.mark.parametrize("family", RENDERED_FAMILIES)
def test_every_rendered_family_names_every_category(family: str) -> None:
    for code in CATEGORY_CODES:
        alias = render_alias(code, family=family)
        assert category_for(alias, family=family) == code
        assert (
            category_for(render_alias(code, family=family, variant="2022"), family=family) == code
        )


@pytest.mark.parametrize(
    ("label", "family", "code"),
    [
        ("Artillery systems :", "ticker_en", "artillery"),
        ("  ARTILLERY   SYSTEMS", "ticker_en", "artillery"),
        ("Ships / Boats", "ticker_en", "ships"),
        ("boats/ships", "gs_en", "ships"),
        ("UAV operational – tactical level", "gs_en", "uav"),
        ("UAV operational\u2012tactical\u00a0level", "gs_en", "uav"),
        ("Anti‒aircraft warfare systems", "gs_en", "air_defense"),
        ("бпла оперативно-тактичного рівня", "gs_uk", "uav"),
        ("U‒Boote", "ticker_de", "submarines"),
        ("personnel_units", "api", "personnel"),
        ("military auto", "petroivaniuk", "military_vehicles"),
        ("aaws", "minfin", "air_defense"),
    ],
)
def test_lookup_normalises_case_space_dashes_colons(label: str, family: str, code: str) -> None:
    assert category_for(label, family=family) == code


@pytest.mark.parametrize(
    ("label", "family"),
    [
        ("Panzer", "ticker_en"),  # right word, wrong family
        ("Tank", "gs_en"),
        ("laser weapons", "gs_en"),
        ("tanks and trucks", "gs_en"),
        ("", "gs_en"),
        ("POW", "petroivaniuk"),  # known, but no category
    ],
)
def test_unknown_labels_map_to_nothing(label: str, family: str) -> None:
    assert category_for(label, family=family) is None


def test_ignored_keys_are_known() -> None:
    assert is_ignored("greatest losses direction", family="petroivaniuk")
    assert not is_ignored("lasers", family="petroivaniuk")


def test_unknown_family_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown ontology family"):
        category_for("tanks", family="klingon")


def test_adding_an_alias_is_one_csv_line(tmp_path: Path) -> None:
    table = tmp_path / "ontology.csv"
    table.write_text(
        ontology.ONTOLOGY_PATH.read_text(encoding="utf-8")
        + "tanks,en,ticker_en,Battle tanks,,new wording\n",
        encoding="utf-8",
    )
    index = ontology._build_index(ontology._load_aliases(table, CATEGORIES))
    assert index["ticker_en"][normalise_label("BATTLE TANKS :")] == "tanks"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("lasers,en,gs_en,laser weapons,,\n", "unknown code"),
        ("mlrs,en,gs_en,tanks,,\n", "maps to both"),
    ],
)
def test_inconsistent_tables_are_rejected(tmp_path: Path, row: str, message: str) -> None:
    table = tmp_path / "ontology.csv"
    table.write_text(ontology.ONTOLOGY_PATH.read_text(encoding="utf-8") + row, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        ontology._build_index(ontology._load_aliases(table, CATEGORIES))


def test_aliases_and_render_variants() -> None:
    assert "APV" in aliases_for("armored_vehicles", family="gs_en")
    assert render_alias("ships", family="gs_en", variant="2022") == "boats / ships"
    assert render_alias("tanks", family="gs_en", variant="2022") == "tanks"  # falls back
    with pytest.raises(KeyError):
        render_alias("ground_robots", family="minfin")


def test_validity_windows() -> None:
    assert category_valid_on("military_vehicles", dt.date(2022, 4, 30))
    assert not category_valid_on("military_vehicles", dt.date(2022, 5, 1))
    assert category_valid_on("vehicles_fuel_tanks", dt.date(2022, 5, 1))
    assert not category_valid_on("ground_robots", dt.date(2025, 1, 1))
    assert category_valid_on("tanks", dt.date(2030, 1, 1))


def test_validity_windows_match_the_shared_history() -> None:
    """valid_from / valid_to were derived from the petroivaniuk files; keep them in step."""
    path = PETROIVANIUK / "russia_losses_equipment.json"
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    records = json.loads(path.read_text())
    first_day, last_day = records[0]["date"], records[-1]["date"]
    seen: dict[str, list[str]] = {}
    for record in records:
        for key in record:
            code = category_for(key, family="petroivaniuk")
            if code is not None:
                seen.setdefault(code, []).append(record["date"])
    for code, days in seen.items():
        category = CATEGORIES[code]
        first, last = min(days), max(days)
        assert category.valid_from is not None
        if first > first_day:
            assert category.valid_from.isoformat() == first, code
        else:  # the series starts a day after the count did (24.02.22)
            assert category.valid_from <= dt.date.fromisoformat(first), code
        expected_end = None if last == last_day else last
        assert (category.valid_to and category.valid_to.isoformat()) == expected_end, code


def test_fingerprint_is_stable_hex() -> None:
    assert ontology.ontology_fingerprint() == ontology.ontology_fingerprint()
    int(ontology.ontology_fingerprint(), 16)


def _text_aliases() -> list[tuple[str, str, str]]:
    """(language, alias, code) of every label line of the general reader's family."""
    with ontology.ONTOLOGY_PATH.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [(row["language"], row["alias"], row["code"]) for row in rows
            if row["family"] == "text" and row["code"] != ontology.IGNORED
            and not row.get("otherwise")]


def test_every_label_line_is_read_in_the_common_layouts() -> None:
    """A label is a data line: each one of the general reader's, in a list item with its label
    first (after a colon or a dash) and number first, is read as one figure of its category.

    Left out, with the reason: a label holding a bracket (a layout's bracket holds the change),
    and number first, a label opening with a counter character ("人員": "1234 人" is 1,234
    people)."""
    from lossledger.parse.extract.extract import extract_figures
    from lossledger.parse.extract.numerals import COUNTERS

    wrong = []
    for language, alias, code in _text_aliases():
        if "(" in alias:
            continue
        forms = ["{a}: {n}", "{a} – {n}"] + ([] if alias[0] in COUNTERS else ["{n} {a}"])
        for form in forms:
            text = form.format(a=alias, n="1234")
            figures, _ = extract_figures(text)
            read = [(figure.category, figure.total) for figure in figures]
            if read != [(code, 1234)]:
                wrong.append((language, text, code, read))
    assert not wrong, wrong[:20]
