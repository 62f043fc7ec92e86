"""The real-world corpus: reports in the layouts outlets really use, around real figures.

Every report is rendered from one real day (:mod:`tests.corpus_real.days`) in one language,
layout, number form, change form and date form, with distractors around it, and carries its
exact expectation: the report's date and how it can be known (``stated``, ``completed`` when
the year is missing, ``inferred`` when only the figures can date it), and every figure a
reader must find (category, total, stated change) — nothing else in the text may become an
observation. Expectations come from the day's data, never from lossledger.

    python -m tests.corpus_real.generate --out DIR [--seed 0] [--count 180]

writes the reports as files plus ``expectations.json``. Same seed, same bytes.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import html
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.corpus_real.days import CATEGORIES, Day, all_days
from tests.corpus_real.vocab import DELTA_FIRST, LABELS, LANGUAGES, MONTHS, WEEKDAYS

__all__ = [
    "DATE_SOURCES",
    "LAYOUTS",
    "NUMBER_FORMS",
    "CorpusReport",
    "Distractor",
    "Figure",
    "build_corpus",
    "corpus_digest",
    "format_number",
    "pins_one_day",
    "render_report",
    "write_corpus",
]

DATE_SOURCES = ("stated", "completed", "inferred")
NUMBER_FORMS = ("plain", "comma", "dot", "space", "thin", "nbsp", "mixed", "million_dot",
                "million_comma_dot")
LAYOUTS = ("lines", "runon", "bullets", "number_first", "delta_first", "echo", "pairs", "twice",
           "prose", "colon", "early_en", "html_ul", "html_p")
START = dt.date(2022, 2, 24)


@dataclass(frozen=True, slots=True)
class Figure:
    """A figure the report states and a reader must find."""

    category: str
    total: int
    stated_delta: int | None
    accepted_deltas: tuple[int | None, ...] = ()
    """Other readings of the change that are also right (e.g. ``(+)``: none, or 0)."""

    def delta_ok(self, delta: int | None) -> bool:
        return delta == self.stated_delta or delta in self.accepted_deltas


@dataclass(frozen=True, slots=True)
class Distractor:
    """A number in the text that is not a General Staff total and must not become one."""

    kind: str
    value: int
    category: str | None
    text: str


@dataclass(frozen=True, slots=True)
class CorpusReport:
    """One report of the corpus and exactly what reading it must give."""

    id: str
    language: str
    layout: str
    number_form: str
    date_form: str
    features: tuple[str, ...]
    file_name: str
    media_type: str
    body: bytes = field(repr=False)
    received_at: dt.datetime
    date: dt.date
    date_sources: tuple[str, ...]
    """Acceptable ``date_source`` values, the expected one first."""
    date_text: str | None
    figures: tuple[Figure, ...]
    distractors: tuple[Distractor, ...]

    @property
    def date_source(self) -> str:
        return self.date_sources[0]

    def expectation(self) -> dict[str, object]:
        """The expectation as plain JSON-able values."""
        out = dataclasses.asdict(self)
        out.pop("body")
        out["date"] = self.date.isoformat()
        out["received_at"] = self.received_at.isoformat()
        return out


# --- numbers and changes ------------------------------------------------------------------


def _group(n: int, sep: str) -> str:
    digits = str(n)
    groups = []
    while len(digits) > 3:
        groups.append(digits[-3:])
        digits = digits[:-3]
    groups.append(digits)
    return sep.join(reversed(groups))


_SEPARATORS = {"comma": ",", "dot": ".", "space": " ", "thin": "\u2009", "nbsp": "\u00a0"}


def format_number(n: int, form: str, rng: random.Random | None = None) -> str:
    """``n`` written the way some outlet writes it.

    >>> [format_number(1206910, f) for f in ("comma", "dot", "million_dot", "million_comma_dot")]
    ['1,206,910', '1.206.910', '1.206910', '1,206.910']
    >>> format_number(854, "space"), format_number(6416, "nbsp")
    ('854', '6\\xa0416')
    """
    if form == "mixed":
        form = (rng or random.Random(n)).choice(("comma", "dot", "space", "nbsp", "plain"))
    if form == "plain" or n < 1000:
        return str(n)
    if form == "million_dot":
        if n < 1_000_000:
            return _group(n, ".")
        return f"{n // 1_000_000}.{n % 1_000_000:06d}"
    if form == "million_comma_dot":
        if n < 1_000_000:
            return _group(n, ",")
        rest = n % 1_000_000
        return f"{n // 1_000_000},{rest // 1000:03d}.{rest % 1000:03d}"
    return _group(n, _SEPARATORS[form])


_DELTA_SUFFIX = {
    "en": " over the past day", "uk": " за минулу добу", "de": " am vergangenen Tag",
    "ru": " за сутки", "fr": " en 24 heures", "pl": " w ciągu doby", "it": " nell'ultimo giorno",
    "tr": " son bir günde",
}


def _delta(value: int | None, style: str, language: str, number_form: str,
           rng: random.Random) -> tuple[str, int | None, tuple[int | None, ...]]:
    """The change as written (with its leading space), the stated value, other right readings."""
    if value is None or style == "none":
        return "", None, ()
    number = format_number(value, number_form, rng)
    if value == 0:
        zero = rng.choice(("(0)", "(+0)", "(+)")) if style != "suffix" else "(+0)"
        if zero == "(+)":
            return " (+)", None, (0,)
        return f" {zero}", 0, ()
    if style == "suffix":
        if language == "uk" and rng.random() < 0.5:
            return f" (+{number} – за останню добу)", value, ()
        return f" (+{number}{_DELTA_SUFFIX[language]})", value, ()
    return f" (+{number})", value, ()


# --- dates --------------------------------------------------------------------------------

DateLine = tuple[str, str, tuple[str, ...]]  # text, form name, accepted date sources


def _date_line(language: str, form: str, date: dt.date) -> DateLine:
    d, m, y = date.day, date.month, date.year
    month = MONTHS[language][m - 1]
    before = date - dt.timedelta(days=1)
    stated, completed = ("stated",), ("completed",)
    forms: dict[str, Callable[[], tuple[str, tuple[str, ...]]]] = {
        "dmy_range": lambda: (_range_dmy(language, date), stated),
        "dm_range": lambda: (_range_dm(language, date), completed),
        "full": lambda: (_full(language, date), stated),
        "morning": lambda: (_morning(language, date), completed),
        "iso": lambda: (f" date {date.isoformat()}", stated),
        "de_stand_weekday": lambda: (
            f"Stand: {WEEKDAYS['de'][date.weekday()]}, {d}. {month} {y}", stated),
        "de_stand_numeric": lambda: (f"Stand {date:%d.%m.%Y}", stated),
        "de_update": lambda: (
            f"Update vom {WEEKDAYS['de'][date.weekday()]}, {d}. {month}, 06.55 Uhr", completed),
        "weekday_only": lambda: (
            f"Die Zahlen des Generalstabs vom {WEEKDAYS['de'][date.weekday()]}:"
            if language == "de" else f"Figures released on {WEEKDAYS['en'][date.weekday()]}:",
            ("inferred", "completed")),
        "past_day": lambda: (_past_day(language, before), completed),
        "none": lambda: ("", ("inferred",)),
    }
    text, sources = forms[form]()
    return text, form, sources


def _range_dmy(language: str, date: dt.date) -> str:
    return {
        "en": f"from 24.02.22 to {date:%d.%m.%y}",
        "uk": f"з 24.02.22 по {date:%d.%m.%y}",
        "ru": f"с 24.02.2022 по {date:%d.%m.%Y}",
        "de": f"vom 24.02.2022 bis {date:%d.%m.%Y}",
    }.get(language, f"24.02.2022 – {date:%d.%m.%Y}")


def _range_dm(language: str, date: dt.date) -> str:
    month = MONTHS[language][date.month - 1]
    return {
        "en": f"from 24.02 to {date:%d.%m}",
        "uk": f"від 24.02 до {date:%d.%m}",
        "ru": f"с 24.02 по {date:%d.%m}",
        "pl": f"od 24 lutego do {date.day} {month}",
        "tr": f"24 Şubat-{date.day} {month} dönemindeki",
        "de": f"vom 24.02. bis {date:%d.%m.}",
    }.get(language, f"24.02 – {date:%d.%m}")


def _full(language: str, date: dt.date) -> str:
    d, y = date.day, date.year
    month = MONTHS[language][date.month - 1]
    return {
        "en": f"As of {month} {d}, {y}",
        "uk": f"Станом на {d} {month} {y} року",
        "ru": f"По состоянию на {d} {month} {y} года",
        "de": f"Stand: {d}. {month} {y}",
        "fr": f"Au {d} {month} {y}",
        "pl": f"Stan na {d} {month} {y} r.",
        "it": f"Aggiornamento del {d} {month} {y}",
        "tr": f"{d} {month} {y} itibarıyla",
    }[language]


def _morning(language: str, date: dt.date) -> str:
    d = date.day
    month = MONTHS[language][date.month - 1]
    return {
        "en": f"as of the morning of {month} {d}",
        "uk": f"Станом на ранок {d} {month}",
        "ru": f"На утро {d} {month}",
        "de": f"Stand am Morgen des {d}. {month}",
        "fr": f"Au {d} {month}",
        "pl": f"Stan na rano {d} {month}",
        "it": f"Al mattino del {d} {month}",
        "tr": f"{d} {month} sabahı itibarıyla",
    }[language]


def _past_day(language: str, day_before: dt.date) -> str:
    d = day_before.day
    month = MONTHS[language][day_before.month - 1]
    return {
        "uk": f"За минулу добу, {d} {month},",
        "ru": f"За прошедшие сутки, {d} {month},",
        "en": f"Over the past day, {month} {d},",
        "de": f"Im Laufe des {d}. {month}",
    }.get(language, f"{d} {month}")


_DATE_FORMS: dict[str, tuple[str, ...]] = {
    "en": ("dmy_range", "full", "dm_range", "morning", "iso", "none", "weekday_only", "full"),
    "uk": ("dmy_range", "past_day", "morning", "dm_range", "full", "none"),
    "de": ("de_stand_weekday", "de_stand_numeric", "de_update", "weekday_only", "none", "full"),
    "ru": ("past_day", "full", "dmy_range", "morning", "none"),
    "fr": ("full", "morning", "none"),
    "pl": ("dm_range", "full", "none"),
    "it": ("full", "morning", "none"),
    "tr": ("dm_range", "full", "none"),
}


# --- distractors --------------------------------------------------------------------------


def _distractor(kind: str, language: str, day: Day, rng: random.Random) -> Distractor:
    """A sentence of our own with a figure that is not the General Staff's total."""
    t = day.totals
    tanks = t.get("tanks", 500)
    people = t.get("personnel", 20_000)
    month = MONTHS[language][(day.date.month - 2) % 12]
    if kind == "oryx":
        value = max(7, int(tanks * rng.uniform(0.33, 0.45)))
        text = {
            "en": f"Oryx, which counts only losses it can see on photos, lists {value:,} Russian "
                  "tanks.",
            "de": f"Das Projekt Oryx, das nur mit Fotos belegte Verluste zählt, kommt auf {value} "
                  "Panzer.",
            "uk": f"За підрахунками Oryx, які спираються лише на фото, знищено {value} танків.",
            "ru": f"Проект Oryx, учитывающий только подтверждённые фото потери, насчитал {value} "
                  "танков.",
            "fr": f"Le site Oryx, qui ne compte que les pertes photographiées, recense {value} "
                  "chars.",
            "pl": f"Według portalu Oryx, liczącego tylko straty udokumentowane zdjęciami, Rosja "
                  f"straciła {value} czołgów.",
            "it": f"Secondo Oryx, che conta solo le perdite documentate da foto, i carri armati "
                  f"persi sono {value}.",
            "tr": f"Yalnızca fotoğrafla belgelenen kayıpları sayan Oryx'e göre {value} tank "
                  "kaybedildi.",
        }[language]
        return Distractor(kind, value, "tanks", text)
    if kind == "uk_estimate":
        value = max(100, int(round(tanks * rng.uniform(0.4, 0.6), -2)))
        text = {
            "en": f"British intelligence puts the number of lost tanks at roughly {value:,}.",
            "de": f"Der britische Geheimdienst schätzt die Zahl der verlorenen Panzer auf etwa "
                  f"{value}.",
            "pl": f"Brytyjski resort obrony szacuje straty na ok. {value} czołgów.",
            "uk": f"Британська розвідка оцінює втрати приблизно в {value} танків.",
            "ru": f"Британская разведка оценивает потери примерно в {value} танков.",
            "fr": f"Le renseignement britannique évalue les pertes à environ {value} chars.",
            "it": f"L'intelligence britannica stima circa {value} carri armati persi.",
            "tr": f"İngiliz istihbaratı kayıpları yaklaşık {value} tank olarak tahmin ediyor.",
        }[language]
        return Distractor(kind, int(value), "tanks", text)
    if kind == "us_estimate":
        value = int(round(people * rng.uniform(0.55, 0.8), -3))
        text = {
            "en": f"US officials put Russian casualties at around {value:,}.",
            "de": f"US-Beamte schätzen die russischen Verluste auf rund {_group(value, '.')}.",
            "fr": f"Selon Washington, les pertes russes avoisinent {_group(value, ' ')} "
                  "hommes.",
            "it": f"Secondo gli Stati Uniti, le perdite russe sarebbero circa {value}.",
            "pl": f"Amerykanie szacują straty Rosji na około {value} żołnierzy.",
            "uk": f"У США оцінюють втрати росії приблизно в {value} осіб.",
            "ru": f"В США оценивают потери России примерно в {value} человек.",
            "tr": f"ABD'li yetkililere göre Rus kayıpları yaklaşık {value} asker.",
        }[language]
        return Distractor(kind, value, "personnel", text)
    if kind == "russia_claim":
        soldiers, lost = rng.randint(900, 1600), rng.randint(3, 19)
        text = {
            "en": f"Moscow, for its part, said Ukraine had lost {soldiers} servicemen and {lost} "
                  "tanks over the day.",
            "de": f"Moskau behauptete seinerseits, die Ukraine habe an einem Tag {soldiers} "
                  f"Soldaten und {lost} Panzer verloren.",
            "ru": f"Минобороны РФ, в свою очередь, заявило, что ВСУ за сутки потеряли до "
                  f"{soldiers} военнослужащих и {lost} танков.",
            "uk": f"У москві натомість заявили, що ЗСУ за добу нібито втратили {soldiers} "
                  f"військових і {lost} танків.",
            "fr": f"Moscou affirme de son côté que l'Ukraine a perdu {soldiers} militaires et "
                  f"{lost} chars en une journée.",
            "pl": f"Moskwa twierdzi z kolei, że Ukraina straciła w ciągu doby {soldiers} "
                  f"żołnierzy i {lost} czołgów.",
            "it": f"Mosca sostiene invece che l'Ucraina abbia perso {soldiers} militari e {lost} "
                  "carri armati in un giorno.",
            "tr": f"Moskova ise Ukrayna'nın bir günde {soldiers} asker ve {lost} tank "
                  "kaybettiğini öne sürdü.",
        }[language]
        return Distractor(kind, soldiers, "personnel", text)
    if kind == "monthly":
        value = rng.randint(150, 320)
        text = {
            "en": f"In {MONTHS['en'][(day.date.month - 2) % 12]} alone, the count of destroyed "
                  f"tanks rose by {value}.",
            "uk": f"Лише за {_uk_month_nom(day.date.month - 1)} ворог втратив {value} танків.",
            "de": f"Allein im {MONTHS['de'][(day.date.month - 2) % 12]} kamen {value} Panzer "
                  "hinzu.",
            "ru": f"Только за прошлый месяц уничтожено {value} танков.",
            "fr": f"Rien qu'en {month}, {value} chars ont été détruits.",
            "pl": f"W samym ubiegłym miesiącu zniszczono {value} czołgów.",
            "it": f"Solo a {month} sono stati distrutti {value} carri armati.",
            "tr": f"Yalnızca geçen ay {value} tank imha edildi.",
        }[language]
        return Distractor(kind, value, "tanks", text)
    if kind == "rounded":
        personnel = day.totals.get("personnel")
        if personnel is not None and personnel >= 10_000 and language in ("en", "uk"):
            thousands = personnel / 1000
            value = int(round(thousands, 1) * 1000)
            if value == personnel:
                value = int(personnel // 1000 * 1000)
            if language == "en":
                text = f"Personnel losses now stand at about {value / 1000:.1f} thousand."
            else:
                text = (f"Втрати в особовому складі сягнули близько {value // 1000} тис. "
                        f"{value % 1000:03d} осіб." if value % 1000 else
                        f"Втрати в особовому складі перевищили {value // 1000} тисяч осіб.")
            if value != personnel:
                return Distractor(kind, value, "personnel", text)
        value = (tanks // 1000) * 1000 if tanks >= 1000 else (tanks // 100) * 100
        value = value if value != tanks else max(100, value - 100)
        text = {
            "en": f"That takes Russia's tank losses to over {value:,}.",
            "de": f"Damit hat Russland mehr als {value:,} Panzer verloren.".replace(",", "."),
            "uk": f"Отже, росія втратила вже понад {value} танків.",
            "ru": f"Таким образом, Россия потеряла уже более {value} танков.",
            "fr": f"La Russie a ainsi perdu plus de {value} chars.",
            "pl": f"Rosja straciła więc ponad {value} czołgów.",
            "it": f"La Russia ha così perso oltre {value} carri armati.",
            "tr": f"Böylece Rusya {value}'den fazla tank kaybetti.",
        }[language]
        return Distractor(kind, int(value), "tanks", text)
    if kind == "headline":
        lost = day.deltas.get("personnel") or rng.randint(300, 900)
        few = day.deltas.get("tanks") or rng.randint(2, 9)
        text = {
            "en": f"Russia loses another {lost:,} troops and {few} tanks in a day, Kyiv says",
            "uk": f"Ще {lost} окупантів і {few} танків за добу: Генштаб оновив втрати ворога",
            "de": f"Russland verliert an einem Tag weitere {lost} Soldaten und {few} Panzer",
            "ru": f"За сутки армия РФ потеряла ещё {lost} военных и {few} танков",
            "fr": f"La Russie perd encore {lost} soldats et {few} chars en une journée",
            "pl": f"Rosja traci w ciągu doby kolejnych {lost} żołnierzy i {few} czołgów",
            "it": f"La Russia perde altri {lost} soldati e {few} carri armati in un giorno",
            "tr": f"Rusya bir günde {lost} asker ve {few} tank daha kaybetti",
        }[language]
        return Distractor(kind, lost, "personnel", text)
    if kind == "sector":
        value = rng.randint(120, 380)
        text = {
            "en": f"In the southern sector alone, commanders reported {value} tanks hit over four "
                  "months.",
            "de": f"Im Raum Awdijiwka sollen binnen vier Monaten {value} Kampfpanzer zerstört "
                  "worden sein.",
            "uk": f"Лише на таврійському напрямку за чотири місяці уражено {value} танків.",
            "ru": f"Только на одном направлении за четыре месяца уничтожено {value} танков.",
        }.get(language, f"{value}")
        return Distractor(kind, value, "tanks", text)
    if kind == "battalion":
        text = {
            "en": "A Russian tank battalion has 31 tanks.",
            "uk": "У танковому батальйоні рф — 31 танк.",
            "de": "Ein russisches Panzerbataillon umfasst 31 Panzer.",
            "ru": "В танковом батальоне 31 танк.",
        }.get(language, "31")
        return Distractor(kind, 31, "tanks", text)
    if kind == "caption":
        shot = day.date - dt.timedelta(days=rng.randint(20, 300))
        shot = max(shot, START)
        text = {
            "de": f"Foto: Archiv, {shot:%d.%m.%Y}. Gefechte gab es bis Stand 22:00 Uhr an 14 "
                  "Frontabschnitten.",
            "en": f"Photo: file picture taken on {shot:%d.%m.%Y}; 14 battles were raging at "
                  "22:00.",
            "uk": f"Фото ілюстративне, {shot:%d.%m.%Y}. Станом на 22:00 тривало 14 боїв.",
        }.get(language, f"Foto {shot:%d.%m.%Y}")
        return Distractor(kind, 14, None, text)
    raise ValueError(kind)


def _uk_month_nom(index: int) -> str:
    return ("січень", "лютий", "березень", "квітень", "травень", "червень", "липень", "серпень",
            "вересень", "жовтень", "листопад", "грудень")[(index - 1) % 12]


# --- layouts ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    category: str
    label: str
    total: str
    delta: str
    figure: Figure
    true_delta: int | None = None


_UNITS = {"uk": " од.", "ru": " ед.", "en": " units", "de": " Einheiten"}
_ABOUT = {"en": "about ", "uk": "близько ", "ru": "около ", "de": "rund ", "fr": "environ ",
          "pl": "ok. ", "it": "circa ", "tr": "yaklaşık "}
_INTRO = {
    "en": "The General Staff of Ukraine's Armed Forces has updated its running count of Russian "
          "losses since the full-scale invasion began on 24 February 2022.",
    "uk": "Генштаб ЗСУ оновив дані про втрати російських окупантів від початку "
          "повномасштабного вторгнення.",
    "de": "Der ukrainische Generalstab hat seine Angaben zu den russischen Verlusten "
          "aktualisiert. Unabhängig prüfen lassen sich die Zahlen nicht.",
    "ru": "Генштаб ВСУ опубликовал обновлённые данные о потерях российской армии.",
    "fr": "L'état-major ukrainien a publié son nouveau bilan des pertes russes depuis le début "
          "de l'invasion.",
    "pl": "Sztab Generalny Sił Zbrojnych Ukrainy podał nowe dane o stratach Rosji.",
    "it": "Lo Stato maggiore ucraino ha aggiornato il bilancio delle perdite russe.",
    "tr": "Ukrayna Genelkurmay Başkanlığı, Rus ordusunun kayıplarına ilişkin güncel verileri "
          "paylaştı.",
}
_HEAD = {
    "en": "Total combat losses of the enemy {date}:",
    "uk": "Загальні бойові втрати противника {date} орієнтовно склали:",
    "de": "Russische Verluste laut Kiew ({date}):",
    "ru": "Потери российских войск {date}:",
    "fr": "Pertes russes {date} :",
    "pl": "Straty Rosji {date}:",
    "it": "Perdite russe {date}:",
    "tr": "Rusya'nın kayıpları {date}:",
}
_PROSE = {
    "en": ("Russia has also lost {list}.", " and "),
    "de": ("Zudem verlor Russland demnach {list}.", " und "),
    "fr": ("La Russie aurait également perdu {list}.", " et "),
    "it": ("Secondo il rapporto, la Russia ha perso anche {list}.", " e "),
    "pl": ("Rosja miała stracić {list}.", " oraz "),
    "tr": ("Rapora göre Rusya ayrıca {list} kaybetti.", " ve "),
}
_ECHO_LABELS = {
    "personnel": "Persons", "tanks": "Tank", "armored_vehicles": "Armored fighting vehicles",
    "artillery": "Artillery systems", "mlrs": "Rocket launchers",
    "air_defense": "air defense equipment", "aircraft": "Airplanes", "helicopters": "Helicopter",
    "uav": "Drones", "cruise_missiles": "Cruise missile", "ships": "Ships/Boats",
    "submarines": "Submarines", "vehicles_fuel_tanks": "Vehicles and fuel tanks",
    "special_equipment": "Special equipment", "ground_robots": "Ground robotic systems",
}


def _label(language: str, category: str, rng: random.Random, form: int | None = None) -> str:
    labels = LABELS[language][category]
    if form is not None:
        return labels[min(form, len(labels) - 1)]
    return rng.choice(labels)


def _personnel_total(language: str, total: str, rng: random.Random) -> str:
    return (_ABOUT[language] if rng.random() < 0.6 else "") + total


def _join(parts: Sequence[str], last: str) -> str:
    return ", ".join(parts[:-1]) + last + parts[-1] if len(parts) > 1 else parts[0]


def render_report(index: int, *, language: str, layout: str, day: Day, number_form: str,
                  date_form: str, distractors: Sequence[str], truncate: bool, seed: int = 0
                  ) -> CorpusReport:
    """Render one report (deterministic in its arguments)."""
    rng = random.Random(f"{seed}:{index}:{language}:{layout}:{day.date}")
    if layout == "pairs" and number_form in ("comma", "mixed", "million_comma_dot"):
        number_form = "plain"  # "Label, N," pairs with "241,330," would be a riddle, not a page
    features: list[str] = [f"lang:{language}", f"layout:{layout}", f"numbers:{number_form}",
                           f"date:{date_form}"]
    categories = [c for c in CATEGORIES if c in day.totals and c in LABELS[language]]
    if layout == "early_en":
        categories = [c for c in CATEGORIES if c in day.totals]
    elif layout in ("prose", "delta_first") and len(categories) > 9:
        keep = set(rng.sample(categories[1:], 8))
        categories = [c for c in categories if c == "personnel" or c in keep]
    delta_style = rng.choice(("paren", "paren", "suffix", "none")) if layout not in (
        "prose", "pairs", "early_en") else "none"
    if layout == "prose" and rng.random() < 0.3:
        delta_style = "paren"
    features.append(f"deltas:{delta_style}")
    label_form = 0 if language == "uk" and layout == "runon" else None
    if language == "uk" and layout in ("lines", "bullets", "html_ul") and rng.random() < 0.7:
        label_form = 1  # news posts: nominative
    items: list[_Item] = []
    for category in categories:
        total, delta = day.totals[category], day.deltas[category]
        if layout == "echo" and language == "en":
            label = _ECHO_LABELS.get(category) or _label("en", category, rng)
        elif layout == "early_en":
            label = _label("en", category, rng, 0)
        else:
            label = _label(language, category, rng, label_form)
        if language == "uk" and category == "vehicles_fuel_tanks" and label_form == 1 and (
                rng.random() < 0.5):
            label = "автомобільну техніку та автоцистерни"
            features.append("label:accusative")
        written = format_number(total, number_form, rng)
        delta_text, stated, accepted = _delta(delta, delta_style, language, number_form, rng)
        items.append(_Item(category, label, written, delta_text,
                           Figure(category, total, stated, accepted), delta))
    date_text, _, date_sources = _date_line(language, date_form, day.date)
    head = _HEAD[language].format(date=date_text if date_form in (
        "dmy_range", "dm_range") else "").replace("  ", " ").replace(" :", ":").replace(
        "( )", "").replace(" ()", "")
    lines: list[str] = []
    # A range date sits in the list's head line; layouts without one carry it on its own line.
    if date_form != "none" and (date_form not in ("dmy_range", "dm_range")
                                or layout in _HEADLESS):
        lines.append(date_text)
    lines.append(_INTRO[language])
    chosen = [_distractor(kind, language, day, rng) for kind in distractors]
    for distractor in chosen:
        features.append(f"distractor:{distractor.kind}")
    headlines = [d.text for d in chosen if d.kind == "headline"]
    others = [d for d in chosen if d.kind != "headline"]
    before = [d.text for d in others[: len(others) // 2]]
    after = [d.text for d in others[len(others) // 2:]]
    lines = headlines + lines + before
    body, items = _body(layout, language, items, head, number_form, rng, features)
    lines.append(body)
    lines += after
    text = "\n\n".join(line for line in lines if line)
    figures = [item.figure for item in items]
    if truncate:
        text, figures = _truncate(text, text.index(body), items, rng, features)
    media_type, file_name = "text/plain", f"{index:03d}_{language}_{layout}.txt"
    if layout.startswith("html"):
        text = _html_page(text, language, day.date, rng)
        media_type, file_name = "text/html", f"{index:03d}_{language}_{layout}.html"
    delay = dt.timedelta(hours=rng.randint(2, 10), days=rng.choice((0, 0, 0, 1, 2)))
    received = dt.datetime.combine(day.date, dt.time(5, 30), dt.UTC) + delay
    return CorpusReport(
        id=f"r{index:03d}", language=language, layout=layout, number_form=number_form,
        date_form=date_form, features=tuple(features), file_name=file_name,
        media_type=media_type, body=text.encode("utf-8"), received_at=received, date=day.date,
        date_sources=date_sources, date_text=date_text.strip() or None, figures=tuple(figures),
        distractors=tuple(chosen),
    )


#: Layouts whose body has no head line (so no place for a range date in it).
_HEADLESS = frozenset({"prose", "delta_first", "number_first", "echo"})


def _line(item: _Item, dash: str, unit: str) -> str:
    unit = "" if item.category == "personnel" else unit
    return f"{item.label} {dash} {item.total}{item.delta}{unit}"


def _body(layout: str, language: str, items: list[_Item], head: str, number_form: str,
          rng: random.Random, features: list[str]) -> tuple[str, list[_Item]]:
    dash = rng.choice(("—", "–", "‒", "-"))
    unit = _UNITS.get(language, "") if rng.random() < 0.4 else ""
    for item in items:
        if item.category == "personnel":
            item.total = _personnel_total(language, item.total, rng)
    if layout in ("lines", "html_ul", "html_p"):
        return head + "\n" + "\n".join(_line(i, dash, unit) + ";" * (language == "uk")
                                       for i in items), items
    if layout == "bullets":
        mark = rng.choice(("- ", "• ", "* ", "🔹 ", "▪️ ", "✅ "))
        features.append(f"bullet:{mark.strip()}")
        return head + "\n" + "\n".join(mark + _line(i, dash, unit) for i in items), items
    if layout == "colon":
        return head + "\n" + "\n".join(f"{i.label}: {i.total}{i.delta}" for i in items), items
    if layout == "runon":
        parts = [f"{i.label} — {i.total}{i.delta}{_UNITS.get(language, '')}" for i in items]
        return head + " " + ", ".join(parts).rstrip(".") + ".", items
    if layout == "number_first":
        parts = [f"{i.total}{i.delta} {i.label}" for i in items]
        return ("Die Streitkräfte der Ukraine zerstörten demnach seit Kriegsbeginn "
                + ", ".join(parts) + "."), items
    if layout == "pairs":
        parts = [f"{i.label}, {i.total}," for i in items]
        return head + " " + " ".join(parts), items
    if layout == "echo":
        out, echo = [], ""
        for item in items:
            value = f"{item.total}{item.delta}"
            out.append(f"{echo}{item.label}: {value}")
            echo = rng.choice(("", ": ")) + value + " "
        return "\n\n".join(out), items
    if layout == "early_en":
        out = [f"{i.label} - {i.total}{' units' if i.category != 'personnel' else ' people'},"
               for i in items]
        return head + "\n\n" + "\n\n".join(out) + "\n\nThe data are being clarified.", items
    if layout == "delta_first":
        return _delta_first(items, number_form, rng, features), items
    if layout in ("prose", "twice"):
        prose = _prose(language, items, rng)
        if layout == "prose":
            return prose, items
        listed = head + "\n" + "\n".join(_line(i, dash, unit) for i in items)
        return prose + "\n\n" + listed, items
    raise ValueError(layout)


def _prose(language: str, items: list[_Item], rng: random.Random) -> str:
    if language in ("uk", "ru"):
        parts = [f"{i.label} — {i.total}{i.delta}" for i in items]
        lead = "Зокрема, йдеться про: " if language == "uk" else "В частности: "
        return lead + ", ".join(parts) + "."
    template, last = _PROSE[language]
    parts = []
    for item in items:
        if language == "tr":
            parts.append(f"{item.total}{item.delta} {item.label}")
        else:
            parts.append(f"{item.total}{item.delta} {item.label}")
    return template.format(list=_join(parts, last))


def _delta_first(items: list[_Item], number_form: str, rng: random.Random,
                 features: list[str]) -> str:
    changed, unchanged = [], []
    for item in items:
        delta = item.true_delta
        if item.category in DELTA_FIRST and delta:
            one, few, many = DELTA_FIRST[item.category]
            form = one if delta % 10 == 1 and delta % 100 != 11 else (
                few if delta % 10 in (2, 3, 4) and delta % 100 not in (12, 13, 14) else many)
            changed.append(f"{format_number(delta, number_form, rng)} {form} "
                           f"(загалом {item.total})")
            item.figure = Figure(item.category, item.figure.total, delta)
        elif item.category == "personnel":
            lead = (f"ліквідовано {format_number(delta, number_form, rng)} окупантів, "
                    if delta else "")
            changed.insert(0, f"{lead}загалом {item.total.replace('близько ', '')} осіб "
                              "особового складу")
            item.figure = Figure(item.category, item.figure.total, delta, (None,))
        else:
            unchanged.append(f"{LABELS['uk'][item.category][-1]} — {item.total}")
            item.figure = Figure(item.category, item.figure.total, None, (0,))
    features.append("layout:delta_first:agreement")
    text = "Окупанти втратили за минулу добу: " + "; ".join(changed) + "."
    if unchanged:
        text += " Без змін: " + ", ".join(unchanged) + "."
    return text


def _truncate(text: str, body_at: int, items: list[_Item], rng: random.Random,
              features: list[str]) -> tuple[str, list[Figure]]:
    """Cut the page inside a later item: mid-word of its label or mid-number."""
    keep = rng.randint(max(2, len(items) // 3), max(3, len(items) - 2))
    keep = min(keep, len(items) - 1)
    starts, at = [], body_at
    for item in items:
        at = text.index(item.label, at)
        starts.append(at)
        at += len(item.label)
    cut_item = items[keep]
    start = starts[keep]
    mid_number = rng.random() < 0.5 and len(cut_item.total) >= 3
    if mid_number:
        number_at = text.find(cut_item.total, start + len(cut_item.label))
        cut = number_at + max(1, len(cut_item.total) // 2)
        features.append("truncated:mid-number")
    else:
        cut = start + max(1, len(cut_item.label) // 2)
        features.append("truncated:mid-word")
    return text[:cut], [item.figure for item in items[:keep]]


_NAV = {
    "en": "Home | World | Politics | War in Ukraine | Opinion | Subscribe",
    "uk": "Головна | Новини | Війна | Політика | Економіка | Підписка",
    "de": "Startseite | Politik | Ukraine-Krieg | Wirtschaft | Abo",
    "ru": "Главная | Новости | Война | Политика | Подписка",
    "fr": "Accueil | Monde | Guerre en Ukraine | Abonnez-vous",
    "pl": "Strona główna | Świat | Wojna w Ukrainie | Subskrypcja",
    "it": "Home | Mondo | Guerra in Ucraina | Abbonati",
    "tr": "Ana Sayfa | Dünya | Rusya-Ukrayna Savaşı | Abone Ol",
}


def _html_page(text: str, language: str, date: dt.date, rng: random.Random) -> str:
    blocks = text.split("\n\n")
    parts: list[str] = []
    for block in blocks:
        lines = block.split("\n")
        if len(lines) > 2:
            parts.append(f"<p>{html.escape(lines[0])}</p>")
            tag = "ul" if rng.random() < 0.6 else "div"
            inner = "".join(
                f"<li>{html.escape(line)}</li>" if tag == "ul" else f"<p>{html.escape(line)}</p>"
                for line in lines[1:])
            parts.append(f"<{tag}>{inner}</{tag}>")
        else:
            parts.append(f"<p>{html.escape(block)}</p>")
    year = date.year
    return (
        f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
        f"<title>{html.escape(_INTRO[language][:60])}</title></head><body>"
        f"<header><nav>{html.escape(_NAV[language])}</nav></header>"
        f"<main><article><h1>{html.escape(_INTRO[language][:70])}</h1>"
        + "".join(parts)
        + "</article></main>"
        f"<aside><h3>Popular</h3><ul><li>5 things to know this week</li>"
        f"<li>Weather: 12 °C</li></ul></aside>"
        f"<footer>© 2014–{year} Newsroom. Tel. +380 44 123 45 67</footer></body></html>\n"
    )


# --- the corpus ---------------------------------------------------------------------------

# (language, layouts to cycle, share of the corpus)
_PLAN: dict[str, tuple[tuple[str, ...], int]] = {
    "en": (("lines", "bullets", "prose", "twice", "echo", "pairs", "early_en", "html_ul",
            "colon", "html_p", "twice", "early_en"), 44),
    "uk": (("runon", "lines", "bullets", "delta_first", "html_ul", "prose", "html_p", "runon",
            "delta_first"), 38),
    "de": (("number_first", "colon", "lines", "prose", "echo", "pairs", "html_ul", "bullets",
            "number_first"), 38),
    "ru": (("lines", "runon", "bullets", "prose", "html_p"), 20),
    "fr": (("prose", "bullets", "lines"), 14),
    "pl": (("prose", "bullets", "html_p"), 13),
    "it": (("prose", "colon", "lines"), 13),
    "tr": (("prose", "bullets", "colon"), 12),
}
_DISTRACTORS: dict[str, tuple[str, ...]] = {
    "en": ("oryx", "headline", "us_estimate", "rounded", "uk_estimate", "russia_claim",
           "battalion", "caption", "monthly", "sector"),
    "uk": ("rounded", "headline", "monthly", "russia_claim", "battalion", "sector", "caption",
           "oryx"),
    "de": ("oryx", "headline", "caption", "sector", "rounded", "uk_estimate", "us_estimate",
           "battalion"),
    "ru": ("russia_claim", "headline", "oryx", "rounded", "sector", "monthly"),
    "fr": ("oryx", "headline", "us_estimate", "russia_claim", "monthly"),
    "pl": ("uk_estimate", "headline", "oryx", "rounded", "russia_claim"),
    "it": ("oryx", "headline", "us_estimate", "monthly", "rounded"),
    "tr": ("russia_claim", "headline", "rounded", "uk_estimate", "monthly"),
}
_NUMBER_CYCLE: dict[str, tuple[str, ...]] = {
    "en": ("comma", "plain", "space", "mixed", "million_comma_dot", "nbsp"),
    "uk": ("space", "plain", "nbsp", "thin", "mixed", "million_dot"),
    "de": ("dot", "plain", "mixed", "million_dot", "space"),
    "ru": ("space", "plain", "nbsp", "mixed"),
    "fr": ("space", "nbsp", "dot", "thin"),
    "pl": ("space", "plain", "nbsp"),
    "it": ("dot", "plain", "mixed"),
    "tr": ("dot", "plain"),
}
EARLY_LAST = dt.date(2022, 4, 30)


def build_corpus(*, seed: int = 0, count: int | None = None) -> list[CorpusReport]:
    """The corpus: ~180 reports over every language, layout, number, date form and distractor.

    >>> corpus = build_corpus()
    >>> len(corpus) >= 170, len({r.language for r in corpus})
    (True, 8)
    """
    rng = random.Random(seed)
    days = [d for d in all_days() if d.date >= dt.date(2022, 3, 1)]
    early = [d for d in days if d.date <= EARLY_LAST]
    later = [d for d in days if d.date > EARLY_LAST]
    reports: list[CorpusReport] = []
    index = 0
    for language in LANGUAGES:
        layouts, share = _PLAN[language]
        dates = _DATE_FORMS[language]
        numbers = _NUMBER_CYCLE[language]
        kinds = _DISTRACTORS[language]
        for i in range(share):
            layout = layouts[i % len(layouts)]
            date_form = dates[(i // len(layouts) + i) % len(dates)]
            number_form = numbers[(i + i // len(numbers)) % len(numbers)]
            pool = early if layout == "early_en" or rng.random() < 0.12 else later
            day = rng.choice(pool)
            if layout == "early_en":
                date_form = ("morning", "dm_range", "full", "none")[i % 4]
            n_distractors = (i % 3) + (1 if layout in ("prose", "twice") else 0)
            chosen = tuple(kinds[(i + k) % len(kinds)] for k in range(n_distractors))
            truncate = layout in ("lines", "bullets", "runon", "colon") and i % 5 == 3
            report = render_report(
                index, language=language, layout=layout, day=day, number_form=number_form,
                date_form=date_form, distractors=chosen, truncate=truncate, seed=seed)
            while "inferred" in report.date_sources and not pins_one_day(report.figures):
                # Only figures can date this report: they must single out one day.
                report = render_report(
                    index, language=language, layout=layout, day=rng.choice(pool),
                    number_form=number_form, date_form=date_form, distractors=chosen,
                    truncate=truncate, seed=seed)
            reports.append(report)
            index += 1
    return reports if count is None else reports[:count]


def corpus_digest(corpus: Sequence[CorpusReport]) -> str:
    """A short hash of every report's bytes and expectation (pinned in the tests)."""
    digest = hashlib.sha256()
    for report in corpus:
        digest.update(report.body)
        digest.update(json.dumps(report.expectation(), sort_keys=True,
                                 ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def pins_one_day(figures: Sequence[Figure]) -> bool:
    """Whether exactly one day of the history has all these totals (so a date can be inferred).

    >>> day = all_days()[400]
    >>> pins_one_day([Figure(c, t, None) for c, t in day.totals.items()])
    True
    >>> pins_one_day([Figure("submarines", 1, None)])
    False
    """
    matches = [d for d in all_days()
               if all(d.totals.get(f.category) == f.total for f in figures)]
    return len(matches) == 1


def write_corpus(out: Path, *, seed: int = 0) -> list[CorpusReport]:
    """Write every report as a file under ``out`` plus ``expectations.json``."""
    corpus = build_corpus(seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    for report in corpus:
        (out / report.file_name).write_bytes(report.body)
    (out / "expectations.json").write_text(
        json.dumps([r.expectation() for r in corpus], ensure_ascii=False, indent=1) + "\n",
        encoding="utf-8")
    return corpus


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.corpus_real.generate")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    corpus = write_corpus(args.out, seed=args.seed)
    print(f"{len(corpus)} reports, {sum(len(r.figures) for r in corpus)} figures -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
