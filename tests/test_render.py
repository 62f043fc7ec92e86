"""The corpus renderer: each variation shows in the bytes, and the parsers read it back."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from bench.render import (
    DEFAULT_STYLES,
    FORMATS,
    RenderStyle,
    load_petroivaniuk_days,
    render_report,
)
from lossledger.parse.parsers import parse_report

DATE = dt.date(2024, 1, 31)
VALUES = {"personnel": 385230, "tanks": 6310, "uav": 7100, "special_equipment": 1448}
DELTAS: dict[str, int | None] = {
    "personnel": 1090,
    "tanks": 10,
    "uav": None,
    "special_equipment": 5,
}
PETROIVANIUK = Path(__file__).parents[1].parent / "shared" / "data" / "petroivaniuk"


def render(fmt: str, **style: object) -> bytes:
    base = DEFAULT_STYLES[fmt]  # type: ignore[index]
    chosen = RenderStyle(**{**{f: getattr(base, f) for f in base.__slots__}, **style})
    return render_report(VALUES, date=DATE, deltas=DELTAS, fmt=fmt, style=chosen)  # type: ignore[arg-type]


def test_seed_like_english_ticker() -> None:
    text = render("ticker_en", space_before_colon=True).decode()
    assert text.startswith(" date 2024-01-31 ")
    assert "Persons : around 385,230 (+1090 on the previous day)" in text
    assert ": around 385,230 (+1090 on the previous day) Tank : 6,310 (+10)" in text
    assert "Drones : 7,100\n" in text
    assert "dated January 31st." in text


def test_echo_off() -> None:
    text = render("ticker_en", echo=False).decode()
    assert "\n\nTank: 6,310 (+10)\n" in text


def test_general_staff_english_variations() -> None:
    text = render("gs_en", dash="—", thousands="\u00a0").decode()
    assert "from 24.02.22 to 31.01.24 were approximately:" in text
    assert "personnel — about 385\u00a0230 (+1090) persons," in text
    assert "special equipment — 1\u00a0448 (+5).\n" in text
    early = render("gs_en", wording_2022=True, one_line=True, qualifier=None).decode()
    assert "personnel ‒ 385230 (+1090) persons were liquidated, tanks ‒ 6310 (+10), " in early


def test_ukrainian_units() -> None:
    text = render("gs_uk").decode()
    assert "особового складу ‒ близько 385230 (+1090) осіб," in text
    assert "спеціальної техніки ‒ 1448 (+5) од.\n" in text


def test_german_cp1252_and_grouped_deltas() -> None:
    body = render_report(
        {"personnel": 428420, "special_equipment": 1711},
        date=dt.date(2024, 3, 15),
        deltas={"personnel": 1580},
        fmt="ticker_de",
        style=RenderStyle(encoding="cp1252", delta_thousands=True, qualifier="around"),
    )
    assert "Stand: 15. März 2024".encode("cp1252") in body
    assert "Spezialausrüstung: 1.711".encode("cp1252") in body
    assert b"Personen: rund 428.420 (+1.580 zum Vortag)" in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_unencodable_text_is_an_error() -> None:
    with pytest.raises(ValueError, match="cp1252"):
        render("gs_uk", encoding="cp1252")


def test_bom_and_omitted_deltas() -> None:
    body = render("gs_en", bom=True, omit_deltas=True)
    assert body.startswith(b"\xef\xbb\xbf")
    assert b"(+" not in body


def test_api_envelope_and_bare() -> None:
    wrapped = json.loads(render("api_json"))
    assert wrapped["data"]["day"] == 707
    assert wrapped["data"]["stats"]["personnel_units"] == 385230
    assert wrapped["data"]["increase"] == {
        "personnel_units": 1090,
        "tanks": 10,
        "special_military_equip": 5,
    }
    bare = json.loads(render("api_json", envelope=False))
    assert bare == wrapped["data"]


def test_negative_total_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        render_report({"tanks": -1}, date=DATE, deltas=None, fmt="gs_en")


def test_negative_delta_round_trips() -> None:
    for fmt in FORMATS:
        body = render_report({"tanks": 5}, date=DATE, deltas={"tanks": -3}, fmt=fmt)
        result = parse_report(body, media_type="text/plain", file_name=fmt)
        assert [(o.total, o.stated_delta) for o in result.observations] == [(5, -3)], fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_default_styles_round_trip(fmt: str) -> None:
    result = parse_report(
        render_report(VALUES, date=DATE, deltas=DELTAS, fmt=fmt),  # type: ignore[arg-type]
        media_type="text/plain",
        file_name=fmt,
    )
    assert (result.parser, result.report_date, result.problems) == (fmt, DATE, ())
    assert {o.category: (o.total, o.stated_delta) for o in result.observations} == {
        code: (value, DELTAS[code]) for code, value in VALUES.items()
    }


def test_load_petroivaniuk_days() -> None:
    equipment = PETROIVANIUK / "russia_losses_equipment.json"
    personnel = PETROIVANIUK / "russia_losses_personnel.json"
    if not equipment.exists():
        pytest.skip(f"shared data not available: {equipment}")
    days = load_petroivaniuk_days(equipment, personnel)
    assert list(days) == sorted(days)
    assert days[dt.date(2024, 1, 31)]["personnel"] == 385230
    assert days[dt.date(2024, 1, 31)]["armored_vehicles"] == 11757
    assert days[dt.date(2022, 4, 10)]["military_vehicles"] == 1384
    assert "POW" not in days[dt.date(2022, 4, 10)]
