"""The general extraction layer on hand-written pages (our own words, real figures).

Figures are the General Staff's published totals (../shared/data/petroivaniuk); every sentence
around them is ours. Each test pins one layout, label family, number or date form of issue 10.
"""

from __future__ import annotations

import datetime as dt

import pytest

from lossledger.parse.extract.dates import find_dates, read_date_text, report_date
from lossledger.parse.extract.labels import lookup_label
from lossledger.parse.extract.numerals import read_bracket, read_count
from lossledger.parse.parsers import ParseResult, parse_report

RECEIVED = dt.datetime(2024, 12, 1, 9, 0, tzinfo=dt.UTC)


def parse(text: str, *, received: dt.datetime | None = RECEIVED, media_type: str = "text/plain",
          metadata: dict[str, str] | None = None) -> ParseResult:
    return parse_report(text.encode(), media_type=media_type, file_name="page.txt",
                        received_at=received, metadata=metadata)


def got(result: ParseResult) -> dict[str, tuple[int, int | None]]:
    codes = [o.category for o in result.observations]
    assert len(codes) == len(set(codes)), codes
    return {o.category: (o.total, o.stated_delta) for o in result.observations}


def reasons(result: ParseResult) -> list[str]:
    return [p.reason for p in result.problems]


# Layouts ---------------------------------------------------------------------------------------


def test_one_item_per_line_with_bullets_and_emoji() -> None:
    text = (
        "Генштаб оновив дані станом на 27 жовтня 2024 року.\n"
        "• особового складу ‒ близько 689 040 (+1 440) осіб\n"
        "- танків ‒ 9113 (+4)\n"
        "* бойових броньованих машин ‒ 18 355 (+23)\n"
        "🔥 артилерійських систем ‒ 19 821 (+39)\n"
        "✈️ літаків ‒ 369\n"
        "🚁 гелікоптерів ‒ 329 (0)\n"
    )
    result = parse(text)
    assert result.parser == "text"
    assert result.report_date == dt.date(2024, 10, 27)
    assert got(result) == {
        "personnel": (689040, 1440), "tanks": (9113, 4), "armored_vehicles": (18355, 23),
        "artillery": (19821, 39), "aircraft": (369, None), "helicopters": (329, 0),
    }
    personnel = next(o for o in result.observations if o.category == "personnel")
    assert personnel.qualifier == "about"
    assert text[personnel.span_start:personnel.span_end].startswith("особового складу")
    assert "689 040" in text[personnel.span_start:personnel.span_end]


def test_run_on_paragraph_with_units_after_each_value() -> None:
    text = (
        "Загальні бойові втрати противника з 24.02.22 по 23.11.23 орієнтовно склали: особового "
        "складу ‒ близько 321800 (+1130) осіб танків ‒ 5466 (+20) од. ББМ ‒ 10224 (+36) од. "
        "РСЗВ ‒ 902 (+3) од. засобів ППО ‒ 591 (+2) од. крилаті ракети ‒ 1564 од. підводних "
        "човни ‒ 1 од."
    )
    result = parse(text)
    assert result.report_date == dt.date(2023, 11, 23)
    assert got(result) == {
        "personnel": (321800, 1130), "tanks": (5466, 20), "armored_vehicles": (10224, 36),
        "mlrs": (902, 3), "air_defense": (591, 2), "cruise_missiles": (1564, None),
        "submarines": (1, None),
    }
    assert {o.date_source for o in result.observations} == {"stated"}


def test_number_first_list_in_german() -> None:
    text = (
        "Stand: Montag, 4. Juli 2022. Nach Angaben aus Kiew verlor Russland bisher "
        "36.200 Soldaten, 1.589 (+5) Panzer, 3.744 gepanzerte Fahrzeuge, 804 Artilleriesysteme, "
        "246 Mehrfach-Raketenwerfersysteme, 105 Flugabwehrsysteme, 217 Kampfjets, "
        "187 Helikopter, 658 Drohnen und 15 Kriegsschiffe."
    )
    result = parse(text)
    assert result.report_date == dt.date(2022, 7, 4)
    assert got(result) == {
        "personnel": (36200, None), "tanks": (1589, 5), "armored_vehicles": (3744, None),
        "artillery": (804, None), "mlrs": (246, None), "air_defense": (105, None),
        "aircraft": (217, None), "helicopters": (187, None), "uav": (658, None),
        "ships": (15, None),
    }


def test_change_first_with_the_total_in_brackets() -> None:
    text = (
        "Станом на ранок 7 квітня ворог втратив ще 11 танків (загалом 7 074) та "
        "35 артилерійських систем (загалом 11 316)."
    )
    result = parse(text, received=dt.datetime(2024, 4, 7, 8, tzinfo=dt.UTC))
    assert result.report_date == dt.date(2024, 4, 7)
    assert got(result) == {"tanks": (7074, 11), "artillery": (11316, 35)}
    assert {(o.date_source, o.date_text) for o in result.observations} == {
        ("completed", "7 квітня")
    }


def test_label_comma_number_pairs() -> None:
    text = "Stand 15.07.2022\nPanzer, 1589, Schützenpanzer, 3744, Hubschrauber, 187,\n"
    assert got(parse(text)) == {
        "tanks": (1589, None), "armored_vehicles": (3744, None), "helicopters": (187, None)
    }


def test_prose_and_list_repeat_settle_to_one_figure() -> None:
    text = (
        "As of March 19, 2025, Russia has lost 10,364 tanks since the invasion began.\n"
        "Tanks: 10,364 (+12)\nArmoured fighting vehicles: 21,523 (+14)\n"
        "In the last 24 hours alone 1,060 soldiers were killed or wounded.\n"
        "Personnel: 898,070 (+1,060)\n"
    )
    result = parse(text)
    assert result.report_date == dt.date(2025, 3, 19)
    assert got(result) == {
        "tanks": (10364, 12), "armored_vehicles": (21523, 14), "personnel": (898070, 1060)
    }


def test_page_cut_mid_list_keeps_what_is_whole() -> None:
    text = "Stand: 4. Juli 2022\nPanzer: 1589 (+5)\nArtilleriesysteme: 804 (+2)\nFlugabwehrsys"
    assert got(parse(text)) == {"tanks": (1589, 5), "artillery": (804, 2)}


def test_html_list_through_trafilatura_and_page_date() -> None:
    page = (
        "<html><head><title>Verluste</title>"
        '<meta property="article:published_time" content="2022-07-05T08:00:00+02:00"></head>'
        "<body><article><h1>Russlands Verluste</h1><p>Update vom Dienstag, 5. Juli, 06.55 "
        "Uhr: Der Generalstab nennt folgende Zahlen.</p><ul><li>Panzer: 1.594 (+5)</li>"
        "<li>Panzerkampfwagen: 3.772 (+28)</li><li>Drohnen: 660 (+2)</li></ul></article>"
        "</body></html>"
    )
    result = parse(page, media_type="text/html", received=None)
    assert result.report_date == dt.date(2022, 7, 5)  # year from the page's own date
    assert got(result) == {"tanks": (1594, 5), "armored_vehicles": (3772, 28), "uav": (660, 2)}


# Labels ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("автомобільну техніку та автоцистерни", "vehicles_fuel_tanks"),
        ("підводних човни", "submarines"),
        ("кораблі/катери", "ships"),
        ("БпЛА оперативно-тактичного рівня", "uav"),
        ("средства ПВО", "air_defense"),
        ("Mehrfachraketensysteme", "mlrs"),
        ("Panzerkampfwagen", "armored_vehicles"),
        ("tanks with fuel and lubricants", "fuel_tanks"),
        ("anti-aircraft warfare systems", "air_defense"),
        ("chars", "tanks"),
        ("czołgów", "tanks"),
        ("carri armati", "tanks"),
        ("gepanzerten Kampffahrzeugen", "armored_vehicles"),  # a case the table lacks: lemmas
    ],
)
def test_label_families(label: str, code: str) -> None:
    found = lookup_label(label, ("de",) if label.startswith("gep") else ())
    assert found is not None and found.code == code


def test_fuel_tanks_are_not_tanks_in_early_2022() -> None:
    text = (
        "The total combat losses of the enemy from 24.02.22 to 20.03.22 were approximately:\n"
        "tanks ‒ 476, APC ‒ 1487, vehicles ‒ 947, tanks with fuel and lubricants ‒ 60, "
        "aircraft ‒ 96"
    )
    assert got(parse(text)) == {
        "tanks": (476, None), "armored_vehicles": (1487, None),
        "military_vehicles": (947, None), "fuel_tanks": (60, None), "aircraft": (96, None),
    }


def test_near_miss_label_is_read_and_weak_one_quarantined() -> None:
    text = "As of August 27, 2024:\nartilery systems ‒ 17495\nhelicoptrs ‒ 328\nairplains ‒ 367\n"
    result = parse(text)
    assert got(result)["artillery"] == (17495, None)
    assert next(o for o in result.observations if o.category == "artillery").confidence < 1
    assert any(r.startswith("weakly matched label 'airplains'") for r in reasons(result))
    assert "aircraft" not in got(result)


# Numbers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "value"),
    [("385,230", 385230), ("385.230", 385230), ("385 230", 385230), ("385\u2009230", 385230),
     ("385\u00a0230", 385230), ("1.206910", 1206910), ("1,020.010", 1020010), ("21.6", None)],
)
def test_counts(token: str, value: int | None) -> None:
    assert read_count(token) == value


@pytest.mark.parametrize(
    ("body", "delta"),
    [("+17", 17), ("+", None), ("0", 0), ("+0", 0), ("+17 – за останню добу", 17),
     ("+1,090 on the previous day", 1090)],
)
def test_brackets(body: str, delta: int | None) -> None:
    assert read_bracket(body).delta == delta


@pytest.mark.parametrize(
    "line",
    ["personnel ‒ about 21.6 thousand", "особового складу ‒ понад 646 тис.",
     "personnel ‒ over 47,000", "особового складу ‒ 47 тис."],
)
def test_rounded_figures_are_quarantined_not_read(line: str) -> None:
    result = parse(f"As of March 19, 2025:\n{line}\ntanks ‒ 10364 (+12)\n")
    assert got(result) == {"tanks": (10364, 12)}
    assert any(r.startswith("rounded figure") for r in reasons(result))


@pytest.mark.parametrize(
    ("line", "figure"),
    [
        # The General Staff's own personnel wording: petroivaniuk holds 646,400 for that day.
        ("особового складу ‒ близько 646 тис. 400 (+1 тис. 250 за добу) осіб",
         ("personnel", 646_400, 1250)),
        ("8 тис. 815 (+15) танків", ("tanks", 8815, 15)),
        ("377 bin 820 asker", ("personnel", 377_820, None)),
    ],
)
def test_a_thousands_word_with_its_rest_is_an_exact_total(
    line: str, figure: tuple[str, int, int | None]
) -> None:
    result = parse(f"As of March 19, 2025:\n{line}\n")
    category, total, delta = figure
    assert got(result) == {category: (total, delta)}
    assert not any(r.startswith("rounded figure") for r in reasons(result))


def test_twenty_digit_number_is_a_problem_not_an_exception() -> None:
    result = parse("As of March 19, 2025:\ntanks ‒ 12345678901234567890\nhelicopters ‒ 331\n")
    assert got(result) == {"helicopters": (331, None)}
    assert any(r.startswith("number out of range") for r in reasons(result))


# Dates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "date", "source"),
    [
        ("from 24.02.22 to 31.01.24", dt.date(2024, 1, 31), "stated"),
        ("від 24.02 до 27.09", dt.date(2024, 9, 27), "completed"),
        ("As of March 19, 2025", dt.date(2025, 3, 19), "stated"),
        ("as of the morning of April 23", dt.date(2024, 4, 23), "completed"),
        ("Stand: Montag, 4. Juli 2022", dt.date(2022, 7, 4), "stated"),
        ("Update vom Mittwoch, 6. Juli, 06.55 Uhr", dt.date(2024, 7, 6), "completed"),
        ("За минулу добу, 22 листопада", dt.date(2024, 11, 23), "completed"),
        ("За прошедшие сутки, 20 апреля", dt.date(2024, 4, 21), "completed"),
        ("Au 27 août 2024", dt.date(2024, 8, 27), "stated"),
        ("od 24 lutego do 5 marca", dt.date(2024, 3, 5), "completed"),
    ],
)
def test_date_forms(text: str, date: dt.date, source: str) -> None:
    found = report_date(find_dates(text), reference=dt.date(2024, 12, 1))
    assert (found.date, found.source) == (date, source)


@pytest.mark.parametrize("text", ["Stand 22:00 Uhr", "am Mittwoch", "Foto: 12.03.2023"])
def test_times_weekdays_and_captions_are_no_report_date(text: str) -> None:
    assert find_dates(text) == []


def test_missing_year_without_any_reference_is_a_problem() -> None:
    result = parse("Станом на ранок 7 квітня:\nтанків ‒ 7074 (+11)\n", received=None)
    assert result.observations == ()
    assert reasons(result) == ["report date '7 квітня' has no year"]


def test_fast_path_and_dateparser_agree() -> None:
    assert read_date_text("4. Juli 2022") == (2022, 7, 4)
    assert read_date_text("27 août 2024") == (2024, 8, 27)
    assert read_date_text("ранку 7 квітня") is None or read_date_text("7 квітня") == (None, 4, 7)


# Distractors -----------------------------------------------------------------------------------


def test_distractors_yield_no_figures() -> None:
    text = (
        "Stand: 11. Februar 2025\n"
        "Laut Oryx verlor Russland bislang 3.740 Kampfpanzer.\n"
        "Der britische Geheimdienst schätzt 8.000 gepanzerte Fahrzeuge.\n"
        "Das russische Verteidigungsministerium behauptet, die Ukraine habe 600 Panzer verloren.\n"
        "Im Monat verliert Russland etwa 100 Panzer.\n"
        "In der Nacht wurden 14 Drohnen abgeschossen.\n"
        "Panzer: 10.014 (+6)\n"
    )
    result = parse(text)
    assert got(result) == {"tanks": (10014, 6)}
    assert result.problems == ()


def test_seed_page_reads_exactly_through_the_general_reader() -> None:
    from pathlib import Path

    from lossledger.parse.extract import extract_report

    text = (Path(__file__).parent / "fixtures" / "000_214734c09c7dd4cc.txt").read_text()
    report = extract_report(text)
    assert report.report_date == dt.date(2024, 1, 31)
    assert len(report.observations) == 13
    assert report.problems == ()
    by_code = {o.category: o for o in report.observations}
    assert (by_code["personnel"].total, by_code["personnel"].stated_delta) == (385230, 1090)
    assert by_code["uav"].total == 7100  # not the "20 drones" of the night's attack
    assert "mlrs" not in by_code


@pytest.mark.parametrize(
    ("name", "first"),
    [("000_214734c09c7dd4cc.txt", "Persons: around 385,230 (+1090 on the previous day)"),
     ("generalstaff_uk_2024-01-31.txt", "особового складу ‒ близько 385230 (+1090) осіб")],
)
def test_template_parsers_record_the_span_of_every_figure(name: str, first: str) -> None:
    from pathlib import Path

    text = (Path(__file__).parent / "fixtures" / name).read_text(encoding="utf-8")
    result = parse_report(text.encode(), media_type="text/plain", file_name=name)
    spans = [text[o.span_start:o.span_end] for o in result.observations]
    assert spans[0] == first
    assert all(o.label is not None and span.startswith(o.label.split()[0])
               for o, span in zip(result.observations, spans, strict=True))
    assert {o.date_source for o in result.observations} == {"stated"}


def test_http_metadata_gives_charset_and_the_year() -> None:
    text = "Станом на ранок 7 квітня:\nтанків — 7074 (+11)\nлітаків — 347\n"
    body = text.encode("cp1251")
    metadata = {"charset": "windows-1251", "last_modified": "Sun, 07 Apr 2024 06:00:00 GMT"}
    result = parse_report(body, media_type="text/plain", file_name="p.txt", metadata=metadata)
    assert result.report_date == dt.date(2024, 4, 7)
    assert got(result) == {"tanks": (7074, 11), "aircraft": (347, None)}
    # Without the header the same bytes are not even text.
    bare = parse_report(body, media_type="text/plain", file_name="p.txt")
    assert bare.observations == ()


def test_cue_prefilter_finds_the_same_dates_as_the_full_scan() -> None:
    """The cue-start prefilter of ``find_dates`` is only a speed-up: same matches as scanning
    every position, on every corpus page (lower-cased), and on crafted cue spellings."""
    from lossledger.parse.extract.dates import _CUE_RE_LOWER, _cue_matches_lower
    from tests.corpus_real.generate import build_corpus

    texts = [report.body.decode("utf-8").lower() for report in build_corpus(seed=0)]
    texts += [
        "aggiornamento del 7 agosto 2022", "dal 24 febbraio al 5 marzo", "24.02 – 27.09",
        "date 2024-01-31\nstand: montag, 4. juli 2022", "за минулу добу, 22 листопада",
        "з 24.02.22 по 31.01.24", "генштаб зсу від 7 квітня", "état-major du 27 août 2024",
        "as of the morning of april 23", "na dzień 5 marca", "update vom mittwoch, 6. juli",
    ]
    for text in texts:
        expected = [m.span() for m in _CUE_RE_LOWER.finditer(text)]
        assert [m.span() for m in _cue_matches_lower(text)] == expected, text[:80]


def test_page_date_is_looked_up_only_for_a_date_without_a_year() -> None:
    """The page's own date (htmldate, slow) is asked for only when a stated date lacks its
    year; the answer is the same as when it is given up front."""
    from lossledger.parse.extract import extract_report

    asked: list[int] = []

    def page_date() -> dt.date:
        asked.append(1)
        return dt.date(2022, 7, 5)

    with_year = extract_report("Stand: 4. Juli 2022\nPanzer: 1589", page_date=page_date)
    assert with_year.report_date == dt.date(2022, 7, 4) and asked == []
    without = extract_report("Update vom Dienstag, 5. Juli\nPanzer: 1594", page_date=page_date)
    given = extract_report("Update vom Dienstag, 5. Juli\nPanzer: 1594",
                           page_date=dt.date(2022, 7, 5))
    assert asked == [1] and without == given and without.report_date == dt.date(2022, 7, 5)
