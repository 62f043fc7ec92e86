"""Forms that real published pages use and the reader missed (found by ``bench/realpages.py``).

Every sentence here is ours; the figures are the General Staff's totals of the day named
(../shared/data/petroivaniuk, vendored in tests/corpus_real/days.csv). Each test pins one form
the real pages showed: an old copy's year, a label spelling, a day's count beside the total, a
rounded qualifier, a sentence-per-figure run, the Turkish "bin" thousands.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import polars as pl
import pytest

from lossledger.parse.parsers import ParseResult, parse_report
from lossledger.reconcile.dating import infer_dates
from tests.corpus_real.days import day


def parse(text: str, received: dt.datetime) -> ParseResult:
    return parse_report(text.encode(), media_type="text/plain", file_name="page.txt",
                        received_at=received)


def totals(result: ParseResult) -> dict[str, int]:
    codes = [o.category for o in result.observations]
    assert len(codes) == len(set(codes)), codes
    return {o.category: o.total for o in result.observations}


def at(date: str, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(date), dt.time(hour), dt.UTC)


# An old copy: the received time cannot give the year ------------------------------------------

OLD_COPY = (
    "Генштаб оновив дані. За минулу добу, 22 листопада, ворог втратив ще 1420 солдатів.\n"
    "- танки — 9419 (+20);\n- бойові броньовані машини — 19192 (+36);\n"
    "- артилерійські системи — 20760 (+24);\n- РСЗВ — 1254;\n- засоби ППО — 1004;"
)


def test_a_fresh_copy_completes_its_year_from_the_received_time() -> None:
    result = parse(OLD_COPY, at("2024-11-23"))
    assert {(o.date, o.date_source) for o in result.observations} == {
        (dt.date(2024, 11, 23), "completed")}


def test_an_old_copy_gets_its_date_from_its_figures_not_from_the_received_year() -> None:
    # Fetched two years on: "22 листопада" would complete to 2026, whose totals are far
    # larger. The date waits for the figures instead (and says so), keeping its own text.
    result = parse(OLD_COPY, at("2026-12-06"))
    assert totals(result) == {"tanks": 9419, "armored_vehicles": 19192, "artillery": 20760,
                              "mlrs": 1254, "air_defense": 1004}
    assert {(o.date, o.date_source, o.date_text) for o in result.observations} == {
        (None, "inferred", "22 листопада")}
    # ... and the projection's inference pins the real day from the series.
    real = day(dt.date(2024, 11, 23)).totals
    series = pl.DataFrame({
        "event_id": "history", "parser": "history_petroivaniuk",
        "date": [dt.date(2024, 11, 23)] * len(real), "category": list(real),
        "total": list(real.values())})
    page = pl.DataFrame({
        "event_id": "page", "parser": "text", "date": [None] * len(result.observations),
        "category": [o.category for o in result.observations],
        "total": [o.total for o in result.observations]},
        schema=series.schema)
    kept, unpinned = infer_dates(pl.concat([series, page]))
    assert unpinned.is_empty()
    assert set(kept.filter(pl.col("event_id") == "page")["date"]) == {dt.date(2024, 11, 23)}


# Label spellings of real pages, with their prose layouts ---------------------------------------

LABELS = {
    "tr": ("2022-04-09",
           "Genelkurmay Başkanlığına göre Rus ordusu 705 tank, 1895 zırhlı araç, 335 top, 108 "
           "roketatar sistemi ve 55 hava savunma sistemi kaybetti; ayrıca 151 uçak, 136 "
           "helikopter, 1363 araç, 7 gemi, 76 yakıt aracı ve 112 insansız hava aracı.",
           {"tanks", "armored_vehicles", "artillery", "mlrs", "air_defense", "aircraft",
            "helicopters", "military_vehicles", "ships", "fuel_tanks", "uav"}),
    "pl": ("2022-05-28",
           "Sztab podaje łączne straty: 1330 czołgów, 3258 pojazdów opancerzonych, 207 "
           "samolotów, 174 helikoptery, 628 systemów artyleryjskich, 203 wieloprowadnicowe "
           "wyrzutnie rakiet, 93 systemy przeciwlotnicze, 2226 pojazdów i cystern, 13 jednostek "
           "pływających i 503 drony.",
           {"tanks", "armored_vehicles", "aircraft", "helicopters", "artillery", "mlrs",
            "air_defense", "vehicles_fuel_tanks", "ships", "uav"}),
    "it": ("2023-11-14",
           "Per lo Stato maggiore la Russia ha perso 313.470 uomini, 5.362 carri armati, 10.086 "
           "veicoli da combattimento corazzati, 7.589 sistemi d’artiglieria, 882 sistemi di "
           "lancio multiplo, 580 sistemi di guerra antiaerea, 5.649 velivoli senza pilota e 22 "
           "barche.",
           {"personnel", "tanks", "armored_vehicles", "artillery", "mlrs", "air_defense", "uav",
            "ships"}),
    "de": ("2024-09-04",
           "Nach Zählung des Generalstabs verlor Russland bisher 620.350 russische Soldaten, "
           "8.618 Panzer, 17.694 Artilleriesysteme, 1177 Raketensysteme, 368 "
           "Militärflugzeuge, 328 Militärhubschrauber, 14.616 Militärdrohnen und 28 "
           "Kriegsschiffe.",
           {"personnel", "tanks", "artillery", "mlrs", "aircraft", "helicopters", "uav",
            "ships"}),
    "en": ("2023-05-13",
           "The General Staff's tally: 198,260 troop casualties, 3,751 tanks, 561 multiple "
           "missile systems, 314 units of air defence equipment, 2,665 Unmanned Aerial Vehicles "
           "(UAV) and 402 units of special equipment.",
           {"personnel", "tanks", "mlrs", "air_defense", "uav", "special_equipment"}),
    "pt": ("2023-11-14",
           "O Estado-Maior ucraniano contabiliza 5.362 carros de combate, 7.589 sistemas de "
           "artilharia, 580 sistemas de defesa aérea, 322 aviões, 324 helicópteros e 22 "
           "embarcações.",
           {"tanks", "artillery", "air_defense", "aircraft", "helicopters", "ships"}),
    "es": ("2023-03-19",
           "Balance del Estado Mayor ucraniano:\nPersonal: alrededor de 164,910 (+710)\n"
           "Tanques: 3,532 (+21)\nVehículos blindados de combate: 6,853 (+23)\n"
           "Sistemas de artillería: 2,568 (+8)\nLanzacohetes múltiples: 507 (+1)\n"
           "Medios de defensa aérea: 268 (+3)\nMisiles de crucero: 907 (+0)\n"
           "Equipos automotrices y camiones cisterna: 5,408 (+4)\nEquipo especial: 262 (+3)",
           {"personnel", "tanks", "armored_vehicles", "artillery", "mlrs", "air_defense",
            "cruise_missiles", "vehicles_fuel_tanks", "special_equipment"}),
    "ro": ("2022-03-11",
           "Pierderile rușilor, după Statul Major ucrainean:\n- tancuri – 353 de unități,\n"
           "- vehicule blindate de luptă – 1 165,\n- sisteme de artilerie – 125,\n"
           "- sisteme de lansare de rachete multiple – 58,\n- elicoptere – 83,\n"
           "- echipamente auto – 558,\n- rezervoare cu combustibili și lubrifianți – 60.",
           {"tanks", "armored_vehicles", "artillery", "mlrs", "helicopters",
            "military_vehicles", "fuel_tanks"}),
    "lt": ("2022-04-23",
           "Generalinio štabo duomenimis Rusija neteko 854 tankų, 2 205 šarvuočių, 403 "
           "artilerijos sistemų, 177 lėktuvų, 154 sraigtasparnių, 1 543 transporto priemonių, "
           "8 laivų ir 76 degalų cisternų.",
           {"tanks", "armored_vehicles", "artillery", "aircraft", "helicopters",
            "military_vehicles", "ships", "fuel_tanks"}),
    "cs": ("2022-03-24",
           "Podle ukrajinského generálního štábu přišla ruská vojska o 530 tanků, 1 597 "
           "obrněných vozidel, 280 dělostřeleckých systémů, 108 letadel a 124 vrtulníků.",
           {"tanks", "armored_vehicles", "artillery", "aircraft", "helicopters"}),
    "sk": ("2023-12-08",
           "Podľa generálneho štábu Rusko celkovo stratilo 5 626 tankov, 10 508 obrnených "
           "bojových vozidiel pechoty a 8 057 delostreleckých systémov.",
           {"tanks", "armored_vehicles", "artillery"}),
    "hu": ("2022-08-20",
           "A vezérkar adatai szerint eddig 44 900 orosz katona, 1 907 tankot, 190 rakétát, "
           "15 hajót és 97 speciális hadtechnikai eszközt veszített el az orosz sereg.",
           {"personnel", "tanks", "cruise_missiles", "ships", "special_equipment"}),
    "el": ("2022-03-28",
           "Το ουκρανικό Γενικό Επιτελείο μετρά 586 άρματα, 1.694 τεθωρακισμένα οχήματα, 302 "
           "ρωσικά συστήματα πυροβολικού, 54 συστήματα αεράμυνας, 123 ρωσικά αεροσκάφη, 127 "
           "ελικόπτερα και 66 μη επανδρωμένα αεροσκάφη.",
           {"tanks", "armored_vehicles", "artillery", "air_defense", "aircraft", "helicopters",
            "uav"}),
    "fi": ("2022-03-21",
           "Ukrainan mukaan Venäjä on menettänyt 498 panssarivaunua, 1 535 panssariajoneuvoa, "
           "240 tykkiä, 80 raketinheitintä, 45 ilmatorjuntajärjestelmää ja 969 ajoneuvoa.",
           {"tanks", "armored_vehicles", "artillery", "mlrs", "air_defense",
            "military_vehicles"}),
    "az": ("2022-05-20",
           "Baş Qərargahın siyahısı:\n28.700 (+200) nəfərə yaxın şəxsi heyət,\n"
           "tanklar - 1263 (+9) ədəd,\nzirehli döyüş maşınları - 3090 (+27) ədəd,\n"
           "artilleriya sistemləri - 596 (+1) ədəd,\nqanadlı raketlər - 103 (+0) ədəd,\n"
           "xüsusi texnika - 43 (+0) ədəd.",
           {"personnel", "tanks", "armored_vehicles", "artillery", "cruise_missiles",
            "special_equipment"}),
}


@pytest.mark.parametrize("language", sorted(LABELS))
def test_label_spellings_of_real_pages(language: str) -> None:
    date, text, codes = LABELS[language]
    result = parse(text, at(date))
    real = day(dt.date.fromisoformat(date)).totals
    assert totals(result) == {code: real[code] for code in codes}
    assert not result.problems, result.problems


def test_one_sentence_per_figure_keeps_each_label_with_its_own_number() -> None:
    # "... lance-roquettes multiples. 1 032 systèmes ...": the words before the full stop
    # belong to the number before them, never to the next one.
    text = ("Le bilan de l'état-major au 2 janvier 2025. 9 676 chars d’assaut. 20 056 "
            "véhicules blindés de combat. 21 552 systèmes d’artillerie. 1 256 lance-roquettes "
            "multiples. 1 032 systèmes de défense aérienne. 369 avions. 330 hélicoptères. "
            "28 unités navales.")
    result = parse(text, at("2025-01-02"))
    real = day(dt.date(2025, 1, 2)).totals
    assert totals(result) == {code: real[code] for code in (
        "tanks", "armored_vehicles", "artillery", "mlrs", "air_defense", "aircraft",
        "helicopters", "ships")}
    assert {o.date for o in result.observations} == {dt.date(2025, 1, 2)}


# A day's count beside the total ---------------------------------------------------------------


@pytest.mark.parametrize(("date", "text", "expected"), [
    ("2022-05-19", "Minionej doby wojska rosyjskie straciły 3 czołgi, 20 pojazdów opancerzonych "
                   "i 14 dronów – podał sztab. Łączne straty od 24 lutego wynoszą: 1254 czołgi, "
                   "3063 pojazdy opancerzone, 455 dronów.",
     {"tanks": 1254, "armored_vehicles": 3063, "uav": 455}),
    ("2023-11-14", "La Russia ha perso 313.470 soldati. Il totale comprende 920 militari "
                   "uccisi nell’ultimo giorno. Perduti anche 5.362 carri armati.",
     {"personnel": 313470, "tanks": 5362}),
    ("2023-11-14", "Russia has lost 313,470 soldiers and 5,362 tanks. The day before alone, "
                   "Russia lost 920 soldiers and 15 tanks.",
     {"personnel": 313470, "tanks": 5362}),
    ("2024-04-21", "Армия РФ потеряла еще 950 своих солдат и 16 танков — Генштаб\n"
                   "Всего с начала вторжения оккупанты потеряли 459 530 своих солдат и 7229 "
                   "танков.",
     {"personnel": 459530, "tanks": 7229}),
    ("2024-11-23", "Der Generalstab zählt 729.720 Soldaten und 9419 Panzer. Binnen der letzten "
                   "24 Stunden kamen 1420 Soldaten und 20 Panzer hinzu.",
     {"personnel": 729720, "tanks": 9419}),
])
def test_a_days_count_beside_the_total_is_not_a_second_total(
    date: str, text: str, expected: dict[str, int]
) -> None:
    result = parse(text, at(date))
    assert totals(result) == expected
    assert not [p for p in result.problems if "conflicting" in p.reason], result.problems


def test_a_count_a_twentieth_of_the_total_or_less_is_the_days_count() -> None:
    # No cue marks the day here: the ratio does. The count is said, the total kept with less
    # confidence; two totals of the same order stay a conflict.
    result = parse("Russia lost 1,340 soldiers, bringing the total to 678,520 soldiers, and "
                   "9,047 tanks.", at("2024-10-20"))
    assert totals(result) == {"personnel": 678520, "tanks": 9047}
    assert [o.confidence for o in result.observations if o.category == "personnel"] == [0.8]
    assert [p.reason for p in result.problems] == [
        "a day's count beside the total for personnel: 'soldiers' 1340 beside 678520"]
    close = parse("Russia lost 678,520 soldiers; other counts say 40,000 soldiers.",
                  at("2024-10-20"))
    assert totals(close) == {}
    assert any("conflicting figures for personnel" in p.reason for p in close.problems)


# Rounded forms ----------------------------------------------------------------------------------


def test_rounded_qualifiers() -> None:
    from lossledger.parse.extract.numerals import is_rounded

    assert is_rounded("more than", 1500) and is_rounded("more than", 82_700)
    assert is_rounded("almost", 10_000) and is_rounded("up to", 200_000)
    assert not is_rounded("about", 39_000)  # the General Staff's own "близько 39 000 (+150)"
    assert not is_rounded("almost", 198_260) and not is_rounded("more than", 82_710)
    assert is_rounded("almost", 300)  # "knapp 300 Luftabwehrsysteme"
    assert is_rounded("about", 3_000, category="tanks")  # "unos 3.000 tanques"
    assert not is_rounded("about", 39_000, category="personnel")


def test_an_approximation_of_a_category_other_than_personnel_is_rounded() -> None:
    # The General Staff writes "about" before its personnel total only: "unos 3.000 tanques"
    # is the outlet's rounding, "alrededor de 100.400" soldiers the official wording.
    result = parse("Según el Estado Mayor, los rusos perdieron alrededor de 100.400 soldados, "
                   "unos 3.000 tanques y 5.981 vehículos blindados de combate.", at("2022-12-22"))
    assert totals(result) == {"personnel": 100400, "armored_vehicles": 5981}
    assert [p.reason for p in result.problems] == ["rounded figure 'unos 3.000' for 'tanques'"]


def test_words_between_a_number_and_its_label() -> None:
    # An adjective or a unit between the number and the label after it: not part of the label.
    result = parse("Kiew zufolge wurden bisher 315 russische Flugzeuge und 4102 feindliche "
                   "Panzer zerstört.", at("2023-07-15"))
    assert totals(result) == {"aircraft": 315, "tanks": 4102}
    result = parse("Rosjanie stracili 36 sztuk systemów obrony przeciwlotniczej i 150 "
                   "systemów artyleryjskich.", at("2022-03-15"))
    assert totals(result) == {"air_defense": 36, "artillery": 150}


def test_a_near_miss_of_the_whole_label_beats_its_last_word() -> None:
    # "armoured personnel vehicles" is no alias, "vehicles" is one (2022's separate count):
    # the whole label's strong near-miss ("armored personnel vehicles") is the better reading.
    result = parse("Losses as of today:\ntanks — 7,834 (+6) units;\n"
                   "armoured personnel vehicles — 15,096 (+20) units;\n"
                   "vehicles and fuel tanks — 18,416 (+56) units;", at("2024-06-07"))
    assert totals(result) == {"tanks": 7834, "armored_vehicles": 15096,
                              "vehicles_fuel_tanks": 18416}


def test_a_weak_label_gets_the_lemma_pass() -> None:
    # "бойова броньована машина" is a near-miss of the plural alias (a weak, doubtful match)
    # but the singular of the same lemmas: read for sure by the lemma pass.
    result = parse("Генштаб: втрати ворога\n- 2651 бойова броньована машина,\n- 1092 танків,\n"
                   "- 38 одиниць спеціальної техніки.", at("2022-05-05"))
    assert totals(result) == {"armored_vehicles": 2651, "tanks": 1092, "special_equipment": 38}
    assert not result.problems, result.problems


def test_a_filler_word_is_skipped_only_when_the_label_needs_it() -> None:
    # "своих солдат" is an alias as written; "своих" is skipped only where the rest is the label.
    result = parse("Всего оккупанты потеряли 458 580 своих солдат и 7213 российских танков.",
                   at("2024-04-20"))
    assert totals(result) == {"personnel": 458580, "tanks": 7213}
    assert [o.label for o in result.observations] == ["своих солдат", "танков"]


def test_a_days_count_after_including_leaves_the_total_before_it() -> None:
    # The past day's cue names the clause after "зокрема" (including): the total stays.
    result = parse("Загалом Росія втратила близько 565 610 своїх військових, зокрема 990 – за "
                   "минулу добу, повідомив Генштаб.\n- танки – 8 257 (+7)", at("2024-07-20"))
    assert totals(result) == {"personnel": 565610, "tanks": 8257}


def test_a_link_to_another_article_is_not_this_reports_figure() -> None:
    # "Read also: ..." teases another article: its numbers (a fleet of 12 ships) are not losses.
    result = parse("Statul Major ucrainean:\n- tancuri – 2 914,\n- elicoptere – 261,\n"
                   "Citește și: Amenințare: 12 nave rusești în Marea Neagră", at("2022-11-30"))
    assert totals(result) == {"tanks": 2914, "helicopters": 261}


def test_moscow_as_the_loser_is_no_claim_moscow_as_the_claimant_is() -> None:
    lost = parse("Według Sztabu Generalnego Moskwa straciła 11 773 czołgi i 24 202 wozy bojowe "
                 "opancerzone.", at("2026-03-13"))
    assert totals(lost) == {"tanks": 11773, "armored_vehicles": 24202}
    claimed = parse("Moskwa twierdzi z kolei, że Ukraina straciła 1200 żołnierzy i 14 czołgów.",
                    at("2026-03-13"))
    assert totals(claimed) == {}


def test_a_round_thousand_in_prose_is_a_doubt_except_for_personnel() -> None:
    # "more than" covers both numbers of the pair; the second carries no qualifier of its own.
    result = parse("Russland verlor 103.770 Soldaten, mehr als 3000 zerstörte Panzer und 6000 "
                   "gepanzerte Fahrzeuge.", at("2022-12-28"))
    assert totals(result) == {"personnel": 103770}
    assert any("rounded figure '6000'" in p.reason for p in result.problems), result.problems
    early = parse("Selon l'état-major, la Russie a perdu 30 000 soldats et 1 330 chars.",
                  at("2022-05-28"))
    assert totals(early) == {"personnel": 30000, "tanks": 1330}


def test_an_opening_quote_or_a_unit_word_before_the_label_after_the_number() -> None:
    quoted = parse("Dall'inizio della guerra: 6.624 carri armati, 1.617 (+6) “attrezzature "
                   "speciali”.", at("2024-03-02"))
    assert {o.category: (o.total, o.stated_delta) for o in quoted.observations} == {
        "tanks": (6624, None), "special_equipment": (1617, 6)}
    pieces = parse("Russia lost 9,047 tanks and 3,476 pieces of special equipment.",
                   at("2024-10-20"))
    assert totals(pieces) == {"tanks": 9047, "special_equipment": 3476}


def test_spanish_cues_of_the_day_and_of_ukrainian_losses() -> None:
    result = parse("Según el Estado Mayor, las tropas rusas suman 925.020 bajas, incluidas "
                   "1.350 durante el último día. Perdieron también 10.567 tanques. Kyiv calla "
                   "sus 60.000 bajas ucranianas.", at("2025-04-07"))
    assert totals(result) == {"personnel": 925020, "tanks": 10567}
    assert not result.problems, result.problems


def test_a_days_count_then_the_total_it_brings_the_category_to() -> None:
    # The label is named once, with the day's count; the total follows a phrase of its own.
    result = parse("Monday's update added six armored combat vehicles, bringing the total to "
                   "5,928; three UAVs, bringing the total to 1,617.", at("2022-12-12"))
    assert totals(result) == {"armored_vehicles": 5928, "uav": 1617}
    result = parse("Сили оборони вивели з ладу 4 танки, довівши їхню загальну кількість до 11 603 "
                   "одиниць.", at("2026-01-24"))
    assert totals(result) == {"tanks": 11603}
    assert [p.reason for p in result.problems] == [
        "a day's count beside the total for tanks: 'танки' 4 beside 11603"]


def test_romanian_de_between_the_number_and_its_noun() -> None:
    result = parse("Statul Major ucrainean a numărat până acum 11.230 de tancuri, 23.299 de "
                   "vehicule blindate de luptă, 346 de elicoptere și 28 de nave și ambarcațiuni.",
                   at("2025-10-05"))
    assert totals(result) == {"tanks": 11230, "armored_vehicles": 23299, "helicopters": 346,
                              "ships": 28}


def test_lithuanian_genitives_after_the_number() -> None:
    result = parse("Generalinis štabas skelbia: rusai neteko 8 971 tankų (+9), 1 231 salvinės "
                   "ugnies sistemų (+1), 978 oro gynybos priemonių (+2), 1 povandeninio laivo ir "
                   "26 584 automobilių (+71).", at("2024-10-13"))
    assert totals(result) == {"tanks": 8971, "mlrs": 1231, "air_defense": 978,
                              "submarines": 1, "vehicles_fuel_tanks": 26584}


def test_azerbaijani_thousands_in_words_are_read_whole() -> None:
    # "28 min 700" is 28,700 in words (as the Turkish "bin"): never "700 soldiers", and not a
    # rounded form either: the series holds exactly 28,700 for 20 May 2022.
    result = parse("Rusiya artıq 28 min 700 əsgər və 1263 tank itirib.", at("2022-05-20"))
    assert totals(result) == {"personnel": 28700, "tanks": 1263}
    assert not [p for p in result.problems if "rounded" in p.reason], result.problems


def test_turkish_accusative_labels() -> None:
    result = parse("Genelkurmay'a göre Rus ordusu 586 tankını ve 66 insansız hava aracını "
                   "kaybetti.", at("2022-03-28"))
    assert totals(result) == {"tanks": 586, "uav": 66}


def test_a_ceiling_beside_the_exact_total_is_a_doubt_not_a_conflict() -> None:
    result = parse("Russland verlor bis zu 200.000 Soldaten, genau gezählt knapp 198.260 "
                   "Soldaten. Über 3700 Panzer, genau 3751 Panzer.", at("2023-05-13"))
    assert totals(result) == {"personnel": 198260, "tanks": 3751}
    assert not [p for p in result.problems if "conflicting" in p.reason], result.problems


def test_turkish_thousands_in_words_are_read_whole() -> None:
    # "6 bin 214 tank" is 6,214 written in words: never "214 tanks". Turkish outlets write
    # the General Staff's exact totals so (23 January 2024: 6,214 tanks, 11,548 armoured
    # vehicles in the series); "20 bin" alone stays a rounded form.
    result = parse("Rapora göre Rusya 6 bin 214 tank ve 11 bin 548 zırhlı savaş aracı, "
                   "yaklaşık 20 bin asker kaybetti.", at("2024-01-23"))
    assert totals(result) == {"tanks": 6214, "armored_vehicles": 11548}
    assert any("rounded figure 'yaklaşık 20 bin'" in p.reason for p in result.problems), \
        result.problems


def test_the_extraction_package_imports_on_its_own() -> None:
    # Importing lossledger.parse.extract first once failed on a circular import.
    done = subprocess.run([sys.executable, "-c", "import lossledger.parse.extract"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


# Number-first layouts of real pages ----------------------------------------------------------


def test_a_stated_change_after_the_label_of_a_number_first_item() -> None:
    # "1.907 carri armati (+8)": the bracket after the label is the change of the number
    # before it, never a value of its own (it was read as 8 tanks).
    text = ("Dal 24 febbraio il nemico ha perso 1.907 carri armati (+8), 4.212 veicoli corazzati "
            "da combattimento (+17) e 1.018 sistemi di artiglieria (+2).")
    result = parse(text, at("2022-08-20"))
    assert {o.category: (o.total, o.stated_delta) for o in result.observations} == {
        "tanks": (1907, 8), "armored_vehicles": (4212, 17), "artillery": (1018, 2)}
    assert not result.problems, result.problems


def test_a_number_first_run_without_commas() -> None:
    # Each number's label follows it; the label before a number is the previous number's.
    text = ("Zwischenstand des Generalstabs: 986 Panzer 435 Artilleriesysteme 189 "
            "Militärflugzeuge 155 Militärhubschrauber 229 Militärdrohnen")
    result = parse(text, at("2022-04-29"))
    assert totals(result) == {"tanks": 986, "artillery": 435, "aircraft": 189,
                              "helicopters": 155, "uav": 229}


def test_a_dash_between_the_number_and_its_label() -> None:
    text = ("Erste Bilanz der Verteidigung: 80 – Panzer, 516 – gepanzerte Kampffahrzeuge, "
            "10 – Flugzeuge, 7 – Hubschrauber, 2.800 – Personen.")
    result = parse(text, at("2022-02-25"))
    assert totals(result) == {"tanks": 80, "armored_vehicles": 516, "aircraft": 10,
                              "helicopters": 7, "personnel": 2800}


# Found on a second set of real pages, gathered after the first fixes --------------------------


def test_bilingual_labels_of_the_general_staffs_own_posts() -> None:
    # The General Staff posts each label in Ukrainian and English: "танки / tanks ‒ N".
    text = ("Наш підсумок року війни, за даними Генштабу:\n"
            "- особовий склад / personnel ‒ приблизно / about 146 820 (+970) осіб;\n"
            "- танки / tanks ‒ 3363 (+13);\n"
            "- бойові броньовані машини / APV ‒ 6600 (+7);\n"
            "- засоби ППО / Anti-aircraft warfare systems ‒ 247 (+3);\n"
            "- кораблі/катери / warships / boats ‒ 18 (+0);")
    result = parse(text, at("2023-02-24"))
    assert {o.category: (o.total, o.stated_delta) for o in result.observations} == {
        "personnel": (146820, 970), "tanks": (3363, 13), "armored_vehicles": (6600, 7),
        "air_defense": (247, 3), "ships": (18, 0)}
    assert not result.problems, result.problems


def test_a_closing_quote_between_the_number_and_its_label() -> None:
    result = parse("Selon nos informations, l'état-major parle de “quelque 124 710” soldats "
                   "perdus et de 3 182 chars.", at("2023-01-27"))
    assert totals(result) == {"personnel": 124710, "tanks": 3182}


def test_italian_abbattuti_words_totals_a_night_does_not() -> None:
    result = parse("Dall'inizio della guerra sono stati abbattuti 322 velivoli e 324 elicotteri. "
                   "Nella notte abbattuti anche 20 droni.", at("2023-11-09"))
    assert totals(result) == {"aircraft": 322, "helicopters": 324}


def test_named_dead_counts_are_no_general_staff_figure() -> None:
    result = parse("Russia has lost 818,740 troops so far, the General Staff says. Mediazona "
                   "has confirmed the names of 88,726 Russian soldiers.", at("2025-01-19"))
    assert totals(result) == {"personnel": 818740}
    assert not result.problems, result.problems


def test_arabic_prose_with_the_conjunction_glued_to_each_number() -> None:
    # Arabic joins "and" (و) to the number: "و23954 مركبة". Our own sentence, real figures.
    text = ("قالت هيئة الأركان إن روسيا خسرت منذ بداية الحرب 11609 دبابات، و23954 مركبة "
            "قتالية مدرعة، و36691 نظام مدفعية، و1628 من أنظمة راجمات الصواريخ متعددة "
            "الإطلاق، و347 مروحية، و116712 طائرة مسيرة.")
    result = parse(text, at("2026-01-27"))
    real = day(dt.date(2026, 1, 27)).totals
    assert totals(result) == {code: real[code] for code in (
        "tanks", "armored_vehicles", "artillery", "mlrs", "helicopters", "uav")}
    assert not result.problems, result.problems


def test_persian_digits() -> None:
    # Persian pages write the totals in their own digits: "۹۴۲۳ تانک" is 9423 tanks.
    text = ("به گفته ستاد کل، روسیه تاکنون ۹۴۲۳ تانک، ۱۹۲۰۹ خودروی زرهی و ۳۶۹ هواپیما "
            "از دست داده است.")
    result = parse(text, at("2024-11-24"))
    real = day(dt.date(2024, 11, 24)).totals
    assert totals(result) == {code: real[code] for code in ("tanks", "armored_vehicles",
                                                            "aircraft")}
    # The spans point into the page as written (one character a digit).
    tanks = next(o for o in result.observations if o.category == "tanks")
    assert text[tanks.span_start:tanks.span_end].startswith("۹۴۲۳")


# Set F (2026-12-06, held out until measured): Czech, Romanian, Polish, Dutch, Turkish forms --


def test_czech_number_first_prose_with_moscows_claims_beside_it() -> None:
    # Figures of 12 April 2022; the Russian ministry's claims about Ukraine's losses follow.
    result = parse(
        "Podle ukrajinského generálního štábu Rusko dosud přišlo o 19.600 vojáků, 732 tanků, "
        "349 děl, 111 raketometů, 63 kusů protileteckých zbraní, 1406 kusů automobilové "
        "techniky, 76 cisteren a 25 kusů speciální techniky. Mluvčí ruského ministerstva "
        "obrany Igor Konašenkov tvrdí, že ruské síly zničily 241 raketometů.", at("2022-04-12"))
    assert totals(result) == {"personnel": 19600, "tanks": 732, "artillery": 349, "mlrs": 111,
                              "air_defense": 63, "military_vehicles": 1406, "fuel_tanks": 76,
                              "special_equipment": 25}


def test_czech_almost_before_the_preposition_is_a_rounded_form() -> None:
    result = parse("Rusové podle Kyjeva přišli skoro o 20.000 vojáků a 157 letadel.",
                   at("2022-04-12"))
    assert totals(result) == {"aircraft": 157}
    assert any("rounded figure 'skoro o 20.000'" in p.reason for p in result.problems)


def test_romanian_number_first_list_of_the_general_staff() -> None:
    # 30 November 2022, in the order a Romanian outlet lists it, our wording.
    text = ("Pierderile forțelor ruse până la 30 noiembrie:\n"
            "395 (+0) sisteme de rachete cu lansare multiplă;\n"
            "16 (+0) nave/ambarcațiuni;\n"
            "163 (+0) vehicule speciale și alte echipamente.\n")
    assert totals(parse(text, at("2022-11-30"))) == {
        "mlrs": 395, "ships": 16, "special_equipment": 163}


def test_polish_label_first_run_on_list() -> None:
    # 4 May 2022.
    text = ("Straty wroga od 24 lutego do 4 maja: pojazdy i tankowce - 1867 szt. (+ 24), "
            "statki/łodzie - 10 jednostek, bezzałogowe statki powietrzne poziomu "
            "operacyjno-taktycznego – 303 (+ 12), wyposażenie specjalne – 38 jednostek.")
    result = parse(text, at("2022-05-04"))
    assert totals(result) == {"vehicles_fuel_tanks": 1867, "ships": 10, "uav": 303,
                              "special_equipment": 38}
    assert {o.category: o.stated_delta for o in result.observations}["uav"] == 12


def test_dutch_prose() -> None:
    # 30 December 2022.
    text = ("Volgens Kyiv verloren de Russen 3.026 tanks, 6.059 pantserwagens en 2.010 "
            "artilleriesystemen, verder 423 meervoudig gelanceerde raketsystemen, 212 "
            "luchtafweersystemen, 283 oorlogsvliegtuigen, 16 oorlogsschepen en 1.740 onbemande "
            "luchtvaartuigen.")
    assert totals(parse(text, at("2022-12-30"))) == {
        "tanks": 3026, "armored_vehicles": 6059, "artillery": 2010, "mlrs": 423,
        "air_defense": 212, "aircraft": 283, "ships": 16, "uav": 1740}


def test_a_time_of_day_after_an_as_of_cue_is_no_date() -> None:
    # "saat 10.00 itibarıyla" (as of ten o'clock) once made the page's date impossible and
    # quarantined every figure; 7 March 2022's figures date the page instead.
    text = ("Ukrayna Genelkurmayı'na göre Rus ordusu 290 tank, 999 zırhlı araç ve 46 uçak "
            "kaybetti. Ateşkes Moskova saati ile 10.00 itibarıyla başladı.")
    result = parse(text, at("2022-03-08"))
    assert totals(result) == {"tanks": 290, "armored_vehicles": 999, "aircraft": 46}
    assert not [p for p in result.problems if "date" in p.reason], result.problems
    assert {o.date for o in result.observations} == {None}


def test_more_than_a_round_ten_of_equipment_is_a_floor() -> None:
    # 29 May 2022: the series has 631 artillery systems; the outlet's "more than 630" is its
    # rounding, not a total.
    result = parse("Россия потеряла 1338 танков и свыше 630 артиллерийских систем.",
                   at("2022-05-29"))
    assert totals(result) == {"tanks": 1338}
    assert any("rounded figure 'свыше 630'" in p.reason for p in result.problems)


def test_a_label_in_single_quotes_after_its_number() -> None:
    # 5 February 2024 (Portuguese outlets quote the loanword).
    result = parse("A Rússia perdeu 332 aviões, 7.173 'drones' e 24 navios e barcos.",
                   at("2024-02-05"))
    assert totals(result) == {"aircraft": 332, "uav": 7173, "ships": 24}
    assert not result.problems


# Set G (2026-12-06, held out until measured) --------------------------------------------------


def test_czech_prose_with_other_and_combat_words() -> None:
    # 21 May 2022.
    text = ("Invazní síly podle generálního štábu ztratily 1278 tanků, 3116 dalších bojových "
            "obrněných vozidel, 596 dělostřeleckých systémů, 201 salvových raketometů, "
            "204 bojových letounů, 462 bezpilotních letounů, 13 válečných plavidel a 104 střel "
            "s plochou dráhou letu.")
    assert totals(parse(text, at("2022-05-21"))) == {
        "tanks": 1278, "armored_vehicles": 3116, "artillery": 596, "mlrs": 201,
        "aircraft": 204, "uav": 462, "ships": 13, "cruise_missiles": 104}


def test_slovak_prose_list_with_units() -> None:
    # 8 March 2022.
    text = ("Rusko podľa ukrajinského štábu prišlo o 56 samohybných obrnených raketometov, "
            "27 kusov vybavenia jednotiek protivzdušnej obrany, 80 vrtuľníkov, 474 automobilov "
            "a 60 cisterien s palivom a mazivom.")
    assert totals(parse(text, at("2022-03-08"))) == {
        "mlrs": 56, "air_defense": 27, "helicopters": 80, "military_vehicles": 474,
        "fuel_tanks": 60}


def test_a_change_first_list_whose_later_lines_drop_the_total_word() -> None:
    # 16 October 2025: the list's first line says "загалом" (in all), the others only bracket
    # the total; an unsigned bracket is never read as the change here.
    text = ("Втрати ворога за минулу добу:\n"
            "2 танки (загалом 11 261)\n"
            "9 бойових броньованих машин (23 384)\n"
            "42 артилерійські системи (33 713)\n"
            "139 автомобілів і автоцистерн (64 468)\n")
    result = parse(text, at("2025-10-16"))
    assert {o.category: (o.total, o.stated_delta) for o in result.observations} == {
        "tanks": (11261, 2), "armored_vehicles": (23384, 9), "artillery": (33713, 42),
        "vehicles_fuel_tanks": (64468, 139)}
    assert not result.problems


def test_a_bare_bracket_is_no_total_without_the_pages_own_change_first_form() -> None:
    # Without a "загалом" line the bracket stays what it was (here a change beside the total).
    result = parse("танків ‒ 11261 (2)\nбойових броньованих машин ‒ 23384 (9)\n",
                   at("2025-10-16"))
    assert {o.category: (o.total, o.stated_delta) for o in result.observations} == {
        "tanks": (11261, 2), "armored_vehicles": (23384, 9)}


def test_an_ordinal_date_does_not_end_the_sentence_of_moscows_claim() -> None:
    # 12 April 2022: "od 24. února" (since 24 February) sits inside the Russian ministry's
    # sentence; its dot once ended the sentence, and the claim's 99 helicopters conflicted
    # with the General Staff's 140.
    text = ("Rusko přišlo o 157 letadel a 140 vrtulníků, uvedl generální štáb. Ruské "
            "ministerstvo obrany naopak ohlásilo, že ruské síly od 24. února zničily "
            "130 ukrajinských letadel a 99 vrtulníků.")
    result = parse(text, at("2022-04-12"))
    assert totals(result) == {"aircraft": 157, "helicopters": 140}
    assert not result.problems


# Personnel totals named far from their noun (sets F, G and H of bench/realpages.py) ------------

def test_a_personnel_total_whose_noun_stands_earlier_in_its_sentence() -> None:
    # 17 May 2023 (German) and 9 January 2025 (Slovak): the noun opens the sentence, the total
    # closes it after a verb; the tanks of the next sentence keep their own label.
    text = ("Die Zahl der getöteten oder verwundeten russischen Soldaten ist laut Kiew "
            "inzwischen auf 200.590 gestiegen. Dazu kommen 3.771 Panzer.")
    assert totals(parse(text, at("2023-05-17"))) == {"personnel": 200590, "tanks": 3771}
    text = "Straty na životoch ruskej armády podľa Kyjeva stúpli až na úroveň 803 100."
    result = parse(text, at("2025-01-09"))
    assert totals(result) == {"personnel": 803100}
    assert result.observations[0].confidence < 1  # read from the sentence, not a list item


def test_a_prose_total_with_the_days_count_in_a_clause_of_its_own() -> None:
    # 5 June 2025 (Spanish, Italian): "incluyendo ... en el último día", "di cui ...
    # nell'ultimo giorno" name the day's count; the total before the comma stays a total.
    text = ("Según Kiev, las bajas del ejército ruso suman ya unas 992.750, incluyendo "
            "930 en el último día.")
    assert totals(parse(text, at("2025-06-05"))) == {"personnel": 992750}
    text = ("Secondo Kiev la Russia conta in tutto 992.750 soldati persi, di cui 930 "
            "nell'ultimo giorno. Ha perso anche 10.887 carri armati.")
    assert totals(parse(text, at("2025-06-05"))) == {"personnel": 992750, "tanks": 10887}


def test_bringing_the_total_takes_the_category_of_the_days_count_before_it() -> None:
    # 27 September 2024: the day's count names the category, the phrase brings it to the total
    # several words later.
    text = ("Another 1,370 Russian soldiers were put out of action on Thursday by Ukrainian "
            "units, bringing the total to 649,170.")
    result = parse(text, at("2024-09-27"))
    assert totals(result) == {"personnel": 649170}
    assert any("a day's count beside the total" in p.reason for p in result.problems)


def test_a_prose_total_does_not_lose_to_a_list_of_the_days_counts() -> None:
    # 14 March 2024 (French): the day's counts come as a list, the totals in prose after it.
    text = ("Au cours de la dernière journée, l'armée russe a perdu :\n"
            "- 5 chars ;\n- 11 systèmes d'artillerie ;\n"
            "Depuis février 2022, la Russie a perdu 6 757 chars et 10 565 systèmes "
            "d'artillerie, selon Kiev.")
    assert totals(parse(text, at("2024-03-14"))) == {"tanks": 6757, "artillery": 10565}


def test_no_personnel_total_from_a_noun_beside_days_or_round_numbers() -> None:
    # A noun for soldiers in a sentence whose numbers are a count of days, a round figure or
    # too small to be the war's total: nothing is read as personnel.
    for text in ("Seit 1000 Tagen kämpfen ukrainische Soldaten gegen die Invasion.",
                 "Seit 2022 haben 20 000 Freiwillige die Soldaten an der Front versorgt.",
                 "Les soldats ont parcouru 1 250 kilomètres en trois jours."):
        assert "personnel" not in totals(parse(text, at("2024-11-19"))), text


def test_a_quoted_label_after_its_unit_and_preposition() -> None:
    # 22 June 2022: '60 pièces d'«équipement spécial»', '60 peças de "equipamento especial"'.
    text = "La Russie a aussi perdu 14 navires et 60 pièces d'«équipement spécial»."
    assert totals(parse(text, at("2022-06-22"))) == {"ships": 14, "special_equipment": 60}
    text = 'Foram destruídos 14 navios e 60 peças de "equipamento especial".'
    assert totals(parse(text, at("2022-06-22"))) == {"ships": 14, "special_equipment": 60}


def test_fewer_than_is_a_ceiling_never_a_total() -> None:
    result = parse("Moscow admits the loss of fewer than 6,000 troops; Kyiv counts 34,230 "
                   "personnel.", at("2022-06-22"))
    assert totals(result) == {"personnel": 34230}


def test_kyrgyz_number_first_prose() -> None:
    # 22 June 2022, in our own Kyrgyz sentence: the number first, the label after it.
    text = ("Башкы штабдын маалыматы боюнча Орусия 1496 танкы, 216 учагы, 182 тик учагы "
            "жана 60 атайын техникасы жоготту.")
    assert totals(parse(text, at("2022-06-22"))) == {
        "tanks": 1496, "aircraft": 216, "helicopters": 182, "special_equipment": 60}


def test_a_past_days_date_completes_to_a_report_day_no_later_than_the_fetch() -> None:
    # 8 December 2024: "over the past day, 7 December" is the report of the 8th. Fetched on
    # 6 December two years on, the year of the fetch would put the report two days after it
    # was fetched; the day must fall before the fetch, and so far back the figures date it.
    text = ("За минулу добу, 7 грудня, армія рф втратила ще 1460 солдатів. Серед іншого: "
            "танки — 9519 (+5); бойові броньовані машини — 19571 (+36).")
    late = parse(text, at("2026-12-06"))
    assert {(o.date, o.date_source) for o in late.observations} == {(None, "inferred")}
    fresh = parse(text, at("2024-12-08"))
    assert {(o.date, o.date_source) for o in fresh.observations} == {
        (dt.date(2024, 12, 8), "completed")}


def test_a_bracketed_aside_closing_a_label() -> None:
    # 7 September 2023, a German bullet list: the drones' label carries its level in brackets.
    text = ("Verluste Russlands laut Generalstab:\n• Panzer: 4.506 (+10)\n"
            "• Drohnen (operativ-taktisches Niveau): 4.541 (+22)\n"
            "• Fahrzeuge und Kraftstofftanks: 8.217 (+27)\n")
    result = parse(text, at("2023-09-07"))
    assert {o.category: (o.total, o.stated_delta) for o in result.observations} == {
        "tanks": (4506, 10), "uav": (4541, 22), "vehicles_fuel_tanks": (8217, 27)}


def test_greek_number_first_prose_of_march_2022() -> None:
    # 17 March 2022, in our own Greek sentence: the number first, then the label.
    text = ("Σύμφωνα με το Κίεβο, καταστράφηκαν 444 τανκ, 201 πυροβόλα, 86 αεροσκάφη και "
            "108 ελικόπτερα.")
    assert totals(parse(text, at("2022-03-17"))) == {
        "tanks": 444, "artillery": 201, "aircraft": 86, "helicopters": 108}


def test_the_label_after_a_number_of_phrase_takes_the_total_later_in_the_sentence() -> None:
    # 22 December 2022 (English) and 7 September 2023 (German), our sentences.
    text = "The General Staff says this brings the number of Russian APCs lost so far to 5986."
    assert totals(parse(text, at("2022-12-23"))) == {"armored_vehicles": 5986}
    text = "Damit stieg die Zahl der zerstörten russischen Panzer laut Kiew auf 4.506."
    assert totals(parse(text, at("2023-09-07"))) == {"tanks": 4506}


# Chinese, Japanese and Korean (set J): no spaces, counters on the number, ten thousands -------

def test_japanese_counters_ten_thousands_and_the_label_after_no() -> None:
    # 15 December 2024, our Japanese sentences: "76万2440人の兵士" is 762,440 exactly.
    text = ("ウクライナ軍参謀本部によると、ロシア軍は76万2440人の兵士を失った。"
            "また9551両の戦車、1万9707両の装甲戦闘車両、329機のヘリコプターを失ったという。")
    assert totals(parse(text, at("2024-12-15"))) == {
        "personnel": 762440, "tanks": 9551, "armored_vehicles": 19707, "helicopters": 329}


def test_chinese_counters_and_labels_without_spaces() -> None:
    # 22 April 2022, our sentence in traditional script, items between enumeration commas.
    text = ("烏軍稱已摧毀俄軍838輛戰車、2162輛裝甲車、397門火砲系統、69組防空系統、"
            "153架直升機以及27個特殊設備。")
    assert totals(parse(text, at("2022-04-22"))) == {
        "tanks": 838, "armored_vehicles": 2162, "artillery": 397, "air_defense": 69,
        "helicopters": 153, "special_equipment": 27}


def test_korean_label_first_with_the_counter_on_the_number() -> None:
    # 25 June 2024, our Korean sentence: the label, then the number with its counter; the
    # week's counts in the sentence before are a distractor.
    text = ("지난 19일부터 25일까지의 전투에서 전차 51대가 파괴됐다. 누적으로는 전사자 53만6840명, "
            "전차 8035대, 장갑차 1만5431대, 견인포 1만4281문, 잠수함1척으로 집계됐다.")
    assert totals(parse(text, at("2024-06-25"))) == {
        "personnel": 536840, "tanks": 8035, "armored_vehicles": 15431, "artillery": 14281,
        "submarines": 1}



def test_japanese_label_before_its_number() -> None:
    # 25 June 2024, our sentence: the label, then the number and its counter.
    text = "ウクライナ側の発表では戦車8035両、装甲車1万5431台、りゅう弾砲1万4281門を破壊した。"
    assert totals(parse(text, at("2024-06-25"))) == {
        "tanks": 8035, "armored_vehicles": 15431, "artillery": 14281}


def test_arabic_thousands_written_in_words_with_their_rest() -> None:
    # 25 June 2024, our sentence: "8 آلاف و35" is 8,035 (the rest without its zeros).
    text = "وأعلنت هيئة الأركان الأوكرانية تدمير 8 آلاف و35 دبابة روسية منذ بداية الحرب."
    assert totals(parse(text, at("2024-06-25"))) == {"tanks": 8035}


def test_korean_bullets_with_an_aside_and_a_ten_thousands_rest_with_its_comma() -> None:
    # 29 August 2023 and 28 July 2025, our Korean lists.
    text = ("러시아 측 손실은 ▲전차 4414대 ▲다연장로켓체계(MLRS) 733문 ▲방공체계 500개 "
            "▲헬리콥터 316기")
    assert totals(parse(text, at("2023-08-29"))) == {
        "tanks": 4414, "mlrs": 733, "air_defense": 500, "helicopters": 316}
    text = "누적 피해는 전사자 105만250명, 전차 1만1,061대, 장갑차 2만3,064대, 견인포 3만826문이다."
    assert totals(parse(text, at("2025-07-28"))) == {
        "personnel": 1050250, "tanks": 11061, "armored_vehicles": 23064, "artillery": 30826}


def test_chinese_the_russian_army_before_its_label() -> None:
    # 24 March 2022, our sentence: "名俄軍士兵" and "輛俄軍戰車": the army, then the label.
    text = "烏方稱已有15800名俄羅斯士兵陣亡,並摧毀530輛俄軍戰車、108架軍機。"
    assert totals(parse(text, at("2022-03-24"))) == {
        "personnel": 15800, "tanks": 530, "aircraft": 108}


def test_japanese_more_than_after_the_number_and_a_cue_inside_running_text() -> None:
    # "3万1,000基あまり" is "more than 31,000": rounded. A sentence quoting TASS is Russia's.
    result = parse("ロシア軍は砲兵システム3万1,000基あまり、航空機421機を失った。",
                   at("2025-07-28"))
    assert totals(result) == {"aircraft": 421}
    assert any("rounded figure '3万1,000'" in p.reason for p in result.problems)
    result = parse("タス通信によると、1220基の多連装ロケットランチャーを破壊した。"
                   "ウクライナ側の発表では戦車11061両を失った。", at("2025-07-28"))
    assert totals(result) == {"tanks": 11061}


def test_a_page_opening_on_a_bracketed_tag_is_no_json_document() -> None:
    # 25 June 2024: "[우크라전쟁]" (a Korean outlet's section tag) once made the page a JSON
    # document to every reader, so nothing on it was read.
    for text in ("[우크라전쟁] 누적 집계: 전차 8035대, 장갑차 1만5431대",
                 "[Update] Russian losses: tanks ‒ 8035, armored fighting vehicles ‒ 15431"):
        assert totals(parse(text, at("2024-06-25"))) == {
            "tanks": 8035, "armored_vehicles": 15431}, text


def test_persian_thousands_in_words_with_their_rest_after_and() -> None:
    # 29 October 2022, our Persian sentence: "۷۰ هزار و ۲۵۰" is 70,250, "۵ هزار و ۴۰۱" 5,401
    # (the rest after "و", and; Persian digits read as digits).
    text = ("ستاد کل ارتش اوکراین: تاکنون ۷۰ هزار و ۲۵۰ نظامی روسیه کشته شده اند و ۲۶۵۹ تانک و "
            "۵ هزار و ۴۰۱ دستگاه خودرو زرهی منهدم شده است.")
    assert totals(parse(text, at("2022-10-29"))) == {
        "personnel": 70250, "tanks": 2659, "armored_vehicles": 5401}


def test_emphasis_marks_between_the_number_and_its_label() -> None:
    # 28 February 2025: a page rendered with its bold labels ("10.222 **carros de combate**").
    text = ("Las tropas rusas han perdido 10.222 **carros de combate**, 21.234 **vehículos "
            "blindados** y 370 **aviones**.")
    assert totals(parse(text, at("2025-02-28"))) == {
        "tanks": 10222, "armored_vehicles": 21234, "aircraft": 370}


def test_a_past_day_is_over_before_the_fetch() -> None:
    # "over the past day, 7 December" fetched on 7 December is no report of 8 December (it
    # comes out the next morning): the year before, and so old a copy dates from its figures.
    text = ("За минулу добу, 7 грудня, армія рф втратила ще 1460 солдатів. Серед іншого: "
            "танки — 9519 (+5); бойові броньовані машини — 19571 (+36).")
    result = parse(text, at("2026-12-07", hour=23))
    assert {(o.date, o.date_source) for o in result.observations} == {(None, "inferred")}


def test_about_a_round_thousand_of_personnel_in_prose_is_an_outlets_rounding() -> None:
    # "circa 950.000" soldiers in prose is rounded (a doubt); the General Staff's own list item
    # "близько 222 000" (21 June 2023, a round total of the series) stays exact.
    result = parse("Secondo Kiev, circa 950.000 soldati russi sono stati eliminati.",
                   at("2025-04-29"))
    assert "personnel" not in totals(result)
    assert any("rounded figure 'circa 950.000'" in p.reason for p in result.problems)
    result = parse("особовий склад ‒ близько 222 000 (+530) осіб", at("2023-06-21"))
    assert totals(result) == {"personnel": 222000}


# Set N and set O (2026-12-07): forms the held-out pages showed ---------------------------------


def test_korean_thousands_written_as_a_character() -> None:
    # 13 December 2023: "5천682" is 5,682 and "34만 천500" 341,500 (the thousand as a
    # character, its rest without zeros); "5천" alone would be a rounded form.
    text = ("우크라이나군 총참모부 집계에 따르면 러시아군 손실은 장병 34만 천500명, 탱크 5천682대, "
            "전투장갑차량 1만594대, 다연장포 919대, 방공망 605개, 순항미사일 1천596기에 이른다.")
    assert totals(parse(text, at("2023-12-13"))) == {
        "personnel": 341500, "tanks": 5682, "armored_vehicles": 10594, "mlrs": 919,
        "air_defense": 605, "cruise_missiles": 1596}
    result = parse("러시아군 탱크 5천대 이상 파괴", at("2023-12-13"))
    assert "tanks" not in totals(result)


def test_change_first_with_the_total_word_after_the_number_in_brackets() -> None:
    # 11 February 2023, our Lithuanian sentence: the day's count first, then the total in
    # brackets with its "in total" / "since the invasion began" after it; "rusų" and "priešo"
    # (Russian, the enemy's) stand between the count and the label.
    text = ("Per parą kariuomenė sunaikino 9 rusų tankus (3 267 iš viso), 19 priešo artilerijos "
            "sistemų (2 270 iš viso), 1 oro gynybos sistemą (234 iš viso) ir 61 sparnuotąją "
            "raketą (857 nuo invazijos pradžios).")
    result = parse(text, at("2023-02-11"))
    assert {o.category: (o.total, o.stated_delta) for o in result.observations} == {
        "tanks": (3267, 9), "artillery": (2270, 19), "air_defense": (234, 1),
        "cruise_missiles": (857, 61)}


def test_an_elided_article_and_a_romanian_cedilla_spelling() -> None:
    # 8 March 2026 in French ("L’artillerie" with a typographic apostrophe) and 22 November 2025
    # in Romanian with the cedilla letters ("soldaţi" for "soldați").
    text = ("Les chars: 11 742. L’artillerie: 38 059 systèmes. Les avions de combat: 435. "
            "Matériel spécialisé: 4 083 unités.")
    assert totals(parse(text, at("2026-03-08"))) == {
        "tanks": 11742, "artillery": 38059, "aircraft": 435, "special_equipment": 4083}
    text = "Rusia a pierdut aproximativ 1.164.340 de soldaţi şi 11.361 de tancuri."
    assert totals(parse(text, at("2025-11-22"))) == {"personnel": 1164340, "tanks": 11361}


def test_a_hungarian_word_for_tanks_unless_the_page_names_its_tanks_otherwise() -> None:
    # 3 January 2025: "harckocsi" is the usual word for a tank; beside a page's own "tank" it
    # names the armoured vehicles (the label is resolved by the page, never guessed alone).
    text = "Oroszország eddig 9 677 harckocsit és 20 070 páncélozott harcjárművet veszített el."
    assert totals(parse(text, at("2025-01-03"))) == {"tanks": 9677, "armored_vehicles": 20070}
    text = "Oroszország eddig 9 677 tankot és 20 070 harckocsit veszített el."
    assert totals(parse(text, at("2025-01-03"))) == {"tanks": 9677, "armored_vehicles": 20070}
    # A day's count under the other label (a twentieth or less of the total) says nothing.
    text = "Oroszország eddig 9 677 harckocsit veszített el; 12 tank egyetlen nap alatt."
    assert totals(parse(text, at("2025-01-03")))["tanks"] == 9677


def test_arabic_indefinite_labels_units_of_and_an_alef_maksura() -> None:
    # 1 September 2025: indefinite labels, "من" (of) and "وحدة" (units) before a label, and
    # "الجوى" written with alef maksura for "الجوي".
    text = ("خسرت روسيا 1476 قاذفة صواريخ متعددة، و1213 من أنظمة الدفاع الجوى، "
            "و422 طائرة مقاتلة، و3952 وحدة من المعدات الخاصة.")
    assert totals(parse(text, at("2025-09-01"))) == {
        "mlrs": 1476, "air_defense": 1213, "aircraft": 422, "special_equipment": 3952}


def test_an_abbreviation_between_the_unit_and_the_label() -> None:
    # 19 April 2022, our Polish sentence: "27 sztuk tzw. sprzętu specjalnego" (so-called); an
    # Italian "più di" before a round million stays a doubt (its "di" is a filler too).
    text = "Zniszczono też 802 czołgi oraz 27 sztuk tzw. sprzętu specjalnego."
    assert totals(parse(text, at("2022-04-19"))) == {"tanks": 802, "special_equipment": 27}
    result = parse("La Russia ha perso più di 1.000.000 di soldati.", at("2025-09-01"))
    assert "personnel" not in totals(result)
    assert any("rounded figure 'più di 1.000.000'" in p.reason for p in result.problems)


def test_a_year_after_a_month_is_no_total_of_a_number_of_phrase() -> None:
    # "el número de bajas ... en febrero de 2022": the year of the month named before it is
    # no personnel total (the phrase still takes a total later in its sentence).
    text = ("El número de bajas rusas desde el comienzo de la invasión en febrero de 2022 supera "
            "el millón, según el Estado Mayor.")
    assert "personnel" not in totals(parse(text, at("2025-06-14")))
    text = "This takes the number of Russian APCs lost in Ukraine to 5827 since February 2022."
    assert totals(parse(text, at("2022-09-18"))) == {"armored_vehicles": 5827}


def test_a_total_that_rose_to_a_number_takes_the_label_before_the_phrase() -> None:
    # 18 September 2022 in our Portuguese and Russian words: "as perdas de tanques aumentaram
    # para 2.210"; "еще 11 бронированных машин, в результате чего их общее количество
    # достигло 4718".
    text = "Segundo Kiev, as perdas russas de tanques aumentaram para 2.210 desde fevereiro."
    assert totals(parse(text, at("2022-09-18"))) == {"tanks": 2210}
    text = ("Украинские силы уничтожили еще 11 бронированных машин, в результате чего их общее "
            "количество достигло 4718 единиц.")
    assert totals(parse(text, at("2022-09-18")))["armored_vehicles"] == 4718


def test_the_number_of_losses_of_a_category_rose_to_a_total() -> None:
    # 16 March 2023 and 22 September 2024 in our German and Bulgarian words: the label follows
    # "the number of" after words that may stand before it ("Verluste an", "унищожените").
    text = ("Nach Angaben aus Kiew stieg die Gesamtzahl der Panzerverluste auf 3.504 und die "
            "Zahl der Verluste an gepanzerten Fahrzeugen auf 6.810.")
    assert totals(parse(text, at("2023-03-16"))) == {"tanks": 3504, "armored_vehicles": 6810}
    text = "Според Киев броят на унищожените бойни бронирани машини е нараснал до 17 222."
    assert totals(parse(text, at("2024-09-22"))) == {"armored_vehicles": 17222}


def test_bengali_digits_and_thousands_written_in_words() -> None:
    # 6 June 2022, our Bengali sentence: Bengali digits are digits; "এক হাজার ৩৮৬" (one
    # thousand 386) writes 1,386 with its thousands in words, so 386 is no tanks total (a
    # doubt, never a figure).
    text = ("ইউক্রেনের দাবি, রাশিয়া হারিয়েছে ৩১,২৫০ রুশ সৈন্যকে, এক হাজার ৩৮৬ ট্যাংক, "
            "৬৯০ আর্টিলারি সিস্টেম এবং ১৭৬ হেলিকপ্টার।")
    result = parse(text, at("2022-06-06"))
    assert totals(result) == {"personnel": 31250, "artillery": 690, "helicopters": 176}
    assert any("thousands written in words" in p.reason and p.category == "tanks"
               for p in result.problems)


def test_urdu_labels_after_the_number() -> None:
    # 30 March 2022, our Urdu sentence.
    text = ("یوکرین کے مطابق روسی فوج کے 17,300 فوجی ہلاک ہوئے جبکہ 605 ٹینک، "
            "1723 بکتر بند گاڑیاں اور 305 توپیں تباہ کی گئیں۔")
    assert totals(parse(text, at("2022-03-30"))) == {
        "personnel": 17300, "tanks": 605, "armored_vehicles": 1723, "artillery": 305}


def test_indic_vowel_signs_belong_to_their_word() -> None:
    # 16 April 2022, our Hindi sentence: the vowel signs of Devanagari (and of the other scripts
    # of India) are no word characters for the regex engine; a label is still one word each.
    # Split at each sign, "125 मल्टीपल रॉकेट लॉन्चर" was more pieces than a label may have.
    text = ("जनरल स्टाफ के अनुसार रूस ने 762 टैंक, 1,982 बख्तरबंद लड़ाकू वाहन, "
            "125 मल्टीपल रॉकेट लॉन्चर और 145 हेलीकॉप्टर खो दिए हैं।")
    assert totals(parse(text, at("2022-04-16"))) == {
        "tanks": 762, "armored_vehicles": 1982, "mlrs": 125, "helicopters": 145}


def test_a_bengali_classifier_written_onto_the_number() -> None:
    # 4 April 2022, our Bengali sentence: "১৪৭টি বিমান" (147 aircraft) writes the classifier
    # "টি" onto the number.
    text = "জেনারেল স্টাফ জানিয়েছে, রাশিয়া ১৪৭টি বিমান, ১৩৪টি হেলিকপ্টার এবং ৬৪৭টি ট্যাংক হারিয়েছে।"
    assert totals(parse(text, at("2022-04-04"))) == {
        "aircraft": 147, "helicopters": 134, "tanks": 647}


def test_russias_claims_run_through_a_colon() -> None:
    # 12 October 2023, our Italian words. The defence ministry in Moscow lists Ukraine's losses
    # after a colon: its whole list is the claim's, not only the words before the colon (the
    # claimed numbers are made up here). Read as figures, its helicopters would conflict with
    # the General Staff's 316.
    text = ("Lo Stato maggiore di Kiev conta 284.890 soldati russi, 4905 carri armati e 316 "
            "elicotteri.\nIl ministero della difesa di Mosca ha elencato invece le perdite "
            "ucraine: 478 aerei, 251 elicotteri, 7360 droni.")
    result = parse(text, at("2023-10-12"))
    assert totals(result) == {"personnel": 284890, "tanks": 4905, "helicopters": 316}
    assert not result.problems
    # A colon still ends the sentence of any other distractor: the General Staff's list after
    # a header that names "the past day" is read.
    text = "Perdite del nemico nelle ultime 24 ore: 284.890 soldati, 4905 carri armati."
    assert totals(parse(text, at("2023-10-12"))) == {"personnel": 284890, "tanks": 4905}


def test_about_in_translation_and_a_quote_before_the_total() -> None:
    # 28 November 2022, our Portuguese and Spanish words: "cerca de" is the General Staff's
    # own "about" (близько) before the personnel total, and an opening quote may stand between
    # "elevando o total para" and the number.
    text = ("O Estado-Maior ucraniano disse que cerca de 590 militares russos foram «eliminados» "
            "no último dia, elevando o total para «cerca de 87.900».")
    assert totals(parse(text, at("2022-11-28"))) == {"personnel": 87900}
    text = "El Estado Mayor ucraniano informó de cerca de 87.900 soldados rusos caídos."
    assert totals(parse(text, at("2022-11-28"))) == {"personnel": 87900}


def test_the_number_of_invaders_reached_a_total() -> None:
    # 9 December 2022, our Romanian words: "numărul invadatorilor ... a ajuns la 93.390".
    text = ("Armata ucraineană a ucis 310 militari ruși în ultima zi, astfel că numărul "
            "invadatorilor uciși de la începutul războiului a ajuns la 93.390.")
    assert totals(parse(text, at("2022-12-09")))["personnel"] == 93390


def test_greek_labels_in_the_genitive() -> None:
    # 7 March 2022, our Greek sentence: "την καταστροφή 46 αεροπλάνων" (the destruction of 46
    # aircraft) puts every label in the genitive.
    text = ("Η ουκρανική κυβέρνηση αναφέρει την καταστροφή 46 αεροπλάνων και 68 ελικοπτέρων, "
            "290 τανκς και 999 τεθωρακισμένων οχημάτων.")
    assert totals(parse(text, at("2022-03-07"))) == {
        "aircraft": 46, "helicopters": 68, "tanks": 290, "armored_vehicles": 999}


def test_german_operational_tactical_drones() -> None:
    # 27 June 2025, our German words after Ukrinform's list: "operativ-taktische Drohnen",
    # "Fahrzeuge und Tanklastwagen", and "über" before an exact total with its change.
    text = ("Seit Kriegsbeginn verlor Russland 29.630 Artilleriesysteme (+13), 42.240 "
            "operativ-taktische Drohnen (+87) und über 53.284 Fahrzeuge und Tanklastwagen (+89).")
    assert totals(parse(text, at("2025-06-27"))) == {
        "artillery": 29630, "uav": 42240, "vehicles_fuel_tanks": 53284}


def test_a_rounded_total_makes_a_small_number_a_days_count() -> None:
    # 22 November 2022, our words: "more than 85,000" is no figure, but it says how large the
    # personnel total is, so "another 400" is the day's count, never the total.
    text = ("Another 400 Russian soldiers were killed, the General Staff said; more than "
            "85,000 soldiers have been lost since the invasion.")
    result = parse(text, at("2022-11-22"))
    assert "personnel" not in totals(result)
    assert any(p.reason.startswith("a day's count beside a rounded total for personnel")
               for p in result.problems)
    # The exact total brought by the day's count is read ("brought the total to").
    text = "Another 400 Russian soldiers died in battle, which brought the total to 85,000."
    assert totals(parse(text, at("2022-11-22"))) == {"personnel": 85000}


def test_polish_last_24_hours_is_a_days_count() -> None:
    # 22 November 2022, our Polish words: "w ciągu ostatnich 24 godzin" names the day's count.
    text = ("Według Kijowa siły Moskwy straciły w ciągu ostatnich 24 godzin 400 żołnierzy. "
            "Liczba zniszczonych czołgów wzrosła do 2895.")
    assert totals(parse(text, at("2022-11-22"))) == {"tanks": 2895}


def test_kurdish_sorani_labels_and_thousands() -> None:
    # 20 April 2022, our Sorani sentence: "20 هەزار و 900" writes 20,900 with the thousands
    # word and its rest after "و" (and), as Persian and Arabic do; "دوو هەزار و 87" (two
    # thousand 87) has its thousands in words, so 87 is a doubt, never the total.
    text = ("بەپێی ئۆکرانیا 20 هەزار و 900 سەربازی ڕووسی کوژراون، 815 تانک، دوو هەزار و 87 "
            "زرێپۆش، 391 تۆپهاوێژ و 150 هیلیکۆپتەر.")
    result = parse(text, at("2022-04-20"))
    assert totals(result) == {"personnel": 20900, "tanks": 815, "artillery": 391,
                              "helicopters": 150}
    assert any("thousands written in words" in p.reason and p.category == "armored_vehicles"
               for p in result.problems)


def test_persian_counters_labels_and_the_days_count() -> None:
    # 25 May 2022, our Persian words: "عراده" and "فروند" are counters between a number and
    # its label; "در ۲۴ ساعت گذشته" (in the past 24 hours) names the day's count, so its 100
    # soldiers are no total.
    text = ("ارتش روسیه در ۲۴ ساعت گذشته ۱۰۰ سرباز را از دست داد. از آغاز جنگ ۱۳۰۵ تانک، "
            "۶۰۶ عراده توپ، ۲۰۱ سامانه پرتاب موشک و ۴۹۱ فروند هواپیمای بدون سرنشین منهدم شده است.")
    assert totals(parse(text, at("2022-05-25"))) == {
        "tanks": 1305, "artillery": 606, "mlrs": 201, "uav": 491}


def test_lithuanian_and_finnish_words_before_a_label() -> None:
    # 2 March and 16 October 2022, our Lithuanian and Finnish words: "Rusijos" and "Venäjän"
    # (Russia's) stand between the number and its label.
    text = "Žuvo 5840 Rusijos kareivių, sunaikintas 31 sraigtasparnis ir 60 kuro cisternų."
    assert totals(parse(text, at("2022-03-02"))) == {
        "personnel": 5840, "helicopters": 31, "fuel_tanks": 60}
    # (The page states no date: "muuta sotilasajoneuvoa" stays the other military vehicles
    # until the date, inferred from the figures, merges them with the fuel tanks.)
    text = ("Ukrainan mukaan tuhottu on 2 529 Venäjän panssarivaunua ja 3 959 muuta "
            "sotilasajoneuvoa.")
    assert totals(parse(text, at("2022-10-16"))) == {"tanks": 2529, "military_vehicles": 3959}


def test_a_headlines_round_thousand_is_a_copy_of_the_exact_total() -> None:
    # 9 August 2023, our Indonesian words: the headline rounds the total the text gives
    # exactly ("jumlah" is "the number of"); the round thousand is its copy, no conflict.
    text = ("Ukraina: Rusia Kehilangan 251.000 Tentara\n"
            "Jumlah tentara Rusia yang tewas sejak invasi telah mencapai 251.620 orang.")
    result = parse(text, at("2023-08-09"))
    assert totals(result) == {"personnel": 251620}
    assert any(p.reason.startswith("a rounded copy beside the total for personnel")
               for p in result.problems)


def test_an_equipment_total_whose_category_is_named_earlier_in_its_sentence() -> None:
    # 24 January 2026, our Ukrainian words: the sentence names one category, the change "на 3"
    # and the total "23 949" come after it. Read as the total, with less confidence.
    text = "Втрати бойових броньованих машин зросли на 3 і склали 23 949 одиниць."
    result = parse(text, at("2026-01-24"))
    assert totals(result) == {"armored_vehicles": 23949}
    assert result.observations[0].confidence <= 0.8
    # 17 April 2025, our Spanish words: the category first, the total later in the sentence.
    text = ("En cuanto a los vehículos blindados de combate, las pérdidas acumuladas desde el "
            "inicio del conflicto alcanzan las 22217 unidades.")
    assert totals(parse(text, at("2025-04-17"))) == {"armored_vehicles": 22217}


def test_a_change_a_unit_or_a_second_number_is_no_such_total() -> None:
    # Our words: a number after "by" is a change ("rose by 240"); a unit written onto a number
    # is a distance; a sentence with another number of the same size names no one total.
    assert totals(parse("In February alone, the count of destroyed tanks rose by 240.",
                        at("2024-03-13"))) == {}
    assert totals(parse("The drone attack was carried out 100㎞ north-west of Kyiv.",
                        at("2022-02-27"))) == {}
    assert totals(parse("Tank losses were 300 in the first half and 450 in the second.",
                        at("2022-12-31"))) == {}
    # The change after "the number of ... rose by" is no personnel total either.
    assert totals(parse("In December alone, the number of Russian soldiers killed rose by "
                        "25,430, the General Staff said.", at("2024-01-01"))) == {}


def test_a_run_of_numbers_takes_the_labels_before_it_respectively() -> None:
    # 6 September 2024, our English words: three categories named, then three numbers and
    # "respectively". Each number takes its label in order, with less confidence (prose).
    text = ("Kyiv says the war has now cost Moscow military personnel, artillery systems and "
            "tanks amounting to 622,720, 17,745 and 8,631, respectively.")
    result = parse(text, at("2024-09-06"))
    assert totals(result) == {"personnel": 622720, "artillery": 17745, "tanks": 8631}
    assert all(o.confidence <= 0.8 for o in result.observations)
    # Our German words: "bzw." stands before the run's last number; a label the run's first
    # number took before a colon is the sentence's to hand out.
    text = ("Gepanzerte Fahrzeuge, Artilleriesysteme und Raketensysteme: bislang "
            "16.878, 17.745 bzw. 1.178 Einheiten.")
    assert totals(parse(text, at("2024-09-06"))) == {
        "armored_vehicles": 16878, "artillery": 17745, "mlrs": 1178}


def test_a_respectively_run_needs_as_many_labels_and_no_distractor() -> None:
    # Our words: months are no labels (two numbers, one category named); an Oryx sentence is
    # a distractor's, whatever it pairs.
    assert totals(parse("Artillery losses peaked in July and August, with 1,520 and 1,517 "
                        "systems destroyed, respectively.", at("2024-09-06"))) == {}
    assert totals(parse("Oryx puts the tanks and armoured vehicles lost at 3,010 and 5,877, "
                        "respectively.", at("2024-09-06"))) == {}


def test_a_modifier_before_a_label_is_no_part_of_it() -> None:
    # 15 January 2025, our words: "operational-tactical", "tactical", "war" and German
    # "taktische" stand before a label (cues.csv fillers); a label of its own that starts
    # with them still wins ("tactical missile systems" are launchers, not drones).
    text = ("Since February 2022 Russia has lost 9,780 war tanks and 22,383 "
            "operational-tactical drones.")
    assert totals(parse(text, at("2025-01-15"))) == {"tanks": 9780, "uav": 22383}
    text = "Zerstört wurden 22.383 taktische UAVs und 3.018 Marschflugkörper."
    assert totals(parse(text, at("2025-01-15"))) == {"uav": 22383, "cruise_missiles": 3018}
    assert totals(parse("The tally now includes 9,780 tanks and 12 tactical missile systems.",
                        at("2025-01-15")))["srbm_launchers"] == 12


def test_russias_claims_by_the_countrys_name_or_its_spokesman_are_no_figures() -> None:
    # 4 June 2022, our Spanish words: the General Staff's figures, then Russia's own claims
    # in a sentence that names neither ministry ("Rusia dice haber destruido").
    text = ("Según el Estado Mayor ucraniano, Rusia ha perdido 1.376 tanques y 680 sistemas "
            "de artillería.\nPor su parte, Rusia dice haber destruido 778 tanques y 279 "
            "sistemas de artillería ucranianos.\nEl portavoz Konashenkov habló de 553 "
            "vehículos.")
    assert totals(parse(text, at("2022-06-04"))) == {"tanks": 1376, "artillery": 680}


def test_a_clause_of_the_days_count_ends_at_its_comma() -> None:
    # 4 June 2022, our Spanish words: "incluidos 150 en el último día" is a clause between
    # commas; its "último día" (a distractor cue) is the clause's, not the totals' after it.
    text = ("El Estado Mayor ucraniano calcula que unos 31.050 soldados rusos han muerto, "
            "incluidos 150 en el último día, y añade que desde febrero han sido destruidos "
            "1.376 tanques y 680 sistemas de artillería.")
    found = totals(parse(text, at("2022-06-04")))
    assert found["tanks"] == 1376 and found["artillery"] == 680
    assert 150 not in found.values()
    # What follows the clause is the sentence's around it: its cues (Oryx, Russia's ministry)
    # before the clause still hold for the numbers after it.
    for text in ("According to Oryx, Russia lost 1,376 tanks, including 20 over the past day, "
                 "and 3,379 armoured vehicles.",
                 "Russia's defence ministry claims Ukraine lost 1,376 tanks, including 20 in "
                 "Kharkiv, and 210 planes."):
        assert totals(parse(text, at("2022-06-04"))) == {}


def test_arabic_vowel_marks_are_no_part_of_a_label() -> None:
    # 4 June 2022, our Arabic words: "جنديًا" (soldiers, with tanween) is "جنديا".
    text = "ارتفع عدد قتلى الجيش الروسي منذ بدء الحرب إلى 31050 جنديًا و1376 دبابة."
    assert totals(parse(text, at("2022-06-04"))) == {"personnel": 31050, "tanks": 1376}


def test_the_russian_ministry_without_its_full_name_is_a_claim() -> None:
    # 4 June 2022, our Italian words: the General Staff's tanks, then Russia's claim.
    text = ("Secondo lo Stato maggiore di Kiev la Russia ha perso 1.376 carri armati.\n"
            "Il ministero russo sostiene invece di aver distrutto 778 carri armati ucraini.")
    assert totals(parse(text, at("2022-06-04"))) == {"tanks": 1376}
