"""Render daily loss figures as the reports sources publish, in many stylistic variations.

This is the corpus generator's writer (and the parsers' round-trip oracle): labels come from the
ontology, so a report rendered here parses back to exactly the figures it was given.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lossledger.parse.ontology import CATEGORY_CODES, render_alias
from lossledger.parse.parsers.history_petroivaniuk import PetroivaniukHistoryParser

__all__ = [
    "DEFAULT_STYLES",
    "FORMATS",
    "QUALIFIER_WORDS",
    "RenderStyle",
    "ReportFormat",
    "load_petroivaniuk_days",
    "render_report",
]

ReportFormat = Literal["gs_en", "gs_uk", "ticker_de", "ticker_en", "api_json"]
FORMATS: tuple[ReportFormat, ...] = ("gs_en", "gs_uk", "ticker_de", "ticker_en", "api_json")
_FAMILY: dict[ReportFormat, str] = {
    "gs_en": "gs_en",
    "gs_uk": "gs_uk",
    "ticker_de": "ticker_de",
    "ticker_en": "ticker_en",
    "api_json": "api",
}
_LANGUAGE: dict[ReportFormat, str] = {
    "gs_en": "en",
    "gs_uk": "uk",
    "ticker_de": "de",
    "ticker_en": "en",
    "api_json": "en",
}
#: How each language writes the normalised qualifiers (the parsers map them back).
QUALIFIER_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "about": "about",
        "around": "around",
        "approximately": "approximately",
        "more than": "more than",
    },
    "de": {"about": "etwa", "around": "rund", "approximately": "ungefähr", "more than": "mehr als"},
    "uk": {
        "about": "близько",
        "around": "біля",
        "approximately": "приблизно",
        "more than": "понад",
    },
}
_MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTHS_DE = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
]
_WAR_START = dt.date(2022, 2, 24)


@dataclass(frozen=True, slots=True)
class RenderStyle:
    """Stylistic choices of one rendered report; each format uses the ones that apply to it."""

    dash: str = "‒"
    """Between label and figure (General Staff posts)."""
    thousands: str | None = None
    """Thousands separator ("", ",", ".", " ", NBSP, NNBSP); ``None``: the format's usual one."""
    delta_thousands: bool = False
    """Whether changes are grouped too ("+1.090")."""
    qualifier: str | None = "about"
    """Normalised qualifier written before the personnel total, or ``None``."""
    bom: bool = False
    encoding: Literal["utf-8", "cp1252"] = "utf-8"
    omit_deltas: bool = False
    envelope: bool = True
    """API: wrap in ``{"data": ...}``."""
    echo: bool = True
    """English ticker: start each line with the previous line's value."""
    space_before_colon: bool = False
    wording_2022: bool = False
    """General Staff posts: the early-2022 labels and "persons were liquidated"."""
    one_line: bool = False
    """General Staff posts: all items in one comma-separated paragraph."""
    units: bool = True
    """General Staff posts: "persons" / "осіб" after personnel, "од." after Ukrainian items."""


_USUAL_THOUSANDS: dict[ReportFormat, str] = {
    "gs_en": "",
    "gs_uk": "",
    "ticker_de": ".",
    "ticker_en": ",",
    "api_json": "",
}
#: The style each format is usually published in.
DEFAULT_STYLES: dict[ReportFormat, RenderStyle] = {
    "gs_en": RenderStyle(),
    "gs_uk": RenderStyle(),
    "ticker_de": RenderStyle(qualifier="about"),
    "ticker_en": RenderStyle(qualifier="around", space_before_colon=False),
    "api_json": RenderStyle(qualifier=None),
}


def _group(number: int, separator: str) -> str:
    digits = str(abs(number))
    if separator:
        digits = f"{abs(number):,}".replace(",", separator)
    return digits


def _total(value: int, style: RenderStyle, fmt: ReportFormat) -> str:
    separator = _USUAL_THOUSANDS[fmt] if style.thousands is None else style.thousands
    return _group(value, separator)


def _delta(value: int | None, style: RenderStyle, fmt: ReportFormat) -> str | None:
    if value is None or style.omit_deltas:
        return None
    separator = _USUAL_THOUSANDS[fmt] if style.thousands is None else style.thousands
    digits = _group(value, separator if style.delta_thousands else "")
    return ("-" if value < 0 else "+") + digits


@dataclass(frozen=True, slots=True)
class _Item:
    code: str
    label: str
    total: str
    delta: str | None
    qualifier: str | None


def _items(
    values: Mapping[str, int],
    deltas: Mapping[str, int | None],
    fmt: ReportFormat,
    style: RenderStyle,
) -> list[_Item]:
    variant = "2022" if style.wording_2022 else ""
    words = QUALIFIER_WORDS[_LANGUAGE[fmt]]
    items = []
    for code in sorted(values, key=CATEGORY_CODES.index):
        if values[code] < 0:
            raise ValueError(f"a cumulative total cannot be negative: {code}={values[code]}")
        qualifier = words[style.qualifier] if code == "personnel" and style.qualifier else None
        items.append(
            _Item(
                code=code,
                label=render_alias(code, family=_FAMILY[fmt], variant=variant),
                total=_total(values[code], style, fmt),
                delta=_delta(deltas.get(code), style, fmt),
                qualifier=qualifier,
            )
        )
    return items


def _gs_item(item: _Item, style: RenderStyle, language: str) -> str:
    value = f"{item.qualifier} {item.total}" if item.qualifier else item.total
    if item.delta is not None:
        value += f" ({item.delta})"
    if style.units and item.code == "personnel":
        if language == "uk":
            value += " осіб"
        else:
            value += " persons were liquidated" if style.wording_2022 else " persons"
    elif style.units and language == "uk":
        value += " од."
    return f"{item.label} {style.dash} {value}"


def _gs_post(items: list[_Item], date: dt.date, style: RenderStyle, language: str) -> str:
    period = f"{_WAR_START:%d.%m.%y} {{}} {date:%d.%m.%y}"
    if language == "uk":
        lines = [
            "Генеральний штаб ЗСУ інформує.",
            f"Загальні бойові втрати противника з {period.format('по')} орієнтовно склали:",
        ]
        closing = "Дані уточнюються."
    else:
        lines = [
            "The General Staff of the Armed Forces of Ukraine informs.",
            f"The total combat losses of the enemy from {period.format('to')} were approximately:",
        ]
        closing = "The data are being updated."
    rendered = [_gs_item(item, style, language) for item in items]
    if style.one_line:
        lines.append(_full_stop(", ".join(rendered)))
    elif rendered:
        lines += [line + "," for line in rendered[:-1]] + [_full_stop(rendered[-1])]
    return "\n".join([*lines, closing, ""])


def _full_stop(text: str) -> str:
    return text if text.endswith(".") else text + "."


def _ticker_value(item: _Item, delta_suffix: str) -> str:
    value = f"{item.qualifier} {item.total}" if item.qualifier else item.total
    if item.delta is not None:
        suffix = delta_suffix if item.code == "personnel" else ""
        value += f" ({item.delta}{suffix})"
    return value


def _ticker_lines(items: list[_Item], style: RenderStyle, delta_suffix: str) -> list[str]:
    colon = " :" if style.space_before_colon else ":"
    lines: list[str] = []
    echo = ""
    for item in items:
        value = _ticker_value(item, delta_suffix)
        lines.append(f"{echo}{item.label}{colon} {value}")
        if style.echo:
            # The translator repeats what followed the label, including a detached colon.
            echo = f"{': ' if style.space_before_colon else ''}{value} "
    return lines


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _ticker_en(items: list[_Item], date: dt.date, style: RenderStyle) -> str:
    lines = [
        f" date {date.isoformat()} Home page politics",
        "Russia suffers high losses : Kyiv publishes current figures",
        "Russia's losses in the Ukraine war at a glance",
        *_ticker_lines(items, style, " on the previous day"),
        f"Source: Ukrainian General Staff dated {_MONTHS_EN[date.month - 1]} "
        f"{_ordinal(date.day)}. The information about Russian losses comes from the Ukrainian "
        "army. They cannot be independently verified.",
    ]
    return "\n\n".join(lines) + "\n"


def _ticker_de(items: list[_Item], date: dt.date, style: RenderStyle) -> str:
    month = _MONTHS_DE[date.month - 1]
    lines = [
        "Russlands Verluste im Ukraine-Krieg im Überblick",
        f"Stand: {date.day}. {month} {date.year}",
        *_ticker_lines(items, style, " zum Vortag"),
        f"Quelle: Ukrainischer Generalstab vom {date.day}. {month}",
    ]
    return "\n\n".join(lines) + "\n"


def _api_json(
    values: Mapping[str, int], deltas: Mapping[str, int | None], date: dt.date, style: RenderStyle
) -> str:
    codes = sorted(values, key=CATEGORY_CODES.index)
    payload = {
        "date": date.isoformat(),
        "day": (date - _WAR_START).days + 1,
        "stats": {render_alias(code, family="api"): values[code] for code in codes},
        "increase": {
            render_alias(code, family="api"): deltas[code]
            for code in codes
            if not style.omit_deltas and deltas.get(code) is not None
        },
    }
    document = {"message": "The data were fetched successfully.", "data": payload}
    return json.dumps(document if style.envelope else payload, ensure_ascii=False, indent=2)


def render_report(
    values: Mapping[str, int],
    *,
    date: dt.date,
    deltas: Mapping[str, int | None] | None,
    fmt: ReportFormat,
    style: RenderStyle | None = None,
) -> bytes:
    """Render one day's figures as a report in the given format.

    Parameters
    ----------
    values
        Cumulative totals by category code.
    date
        The report date.
    deltas
        Stated changes by category code (missing or ``None``: no change written).
    fmt
        The report format.
    style
        Variations; ``None`` uses :data:`DEFAULT_STYLES` for the format.

    Returns
    -------
    bytes
        The encoded report.

    Raises
    ------
    ValueError
        A negative total, or text the chosen encoding cannot represent.

    Examples
    --------
    >>> print(render_report({"tanks": 6310}, date=dt.date(2024, 1, 31), deltas={"tanks": 10},
    ...                     fmt="ticker_de").decode())
    Russlands Verluste im Ukraine-Krieg im Überblick
    <BLANKLINE>
    Stand: 31. Januar 2024
    <BLANKLINE>
    Panzer: 6.310 (+10)
    <BLANKLINE>
    Quelle: Ukrainischer Generalstab vom 31. Januar
    <BLANKLINE>
    """
    style = DEFAULT_STYLES[fmt] if style is None else style
    deltas = deltas or {}
    if fmt == "api_json":
        text = _api_json(values, deltas, date, style)
    else:
        items = _items(values, deltas, fmt, style)
        if fmt in ("gs_en", "gs_uk"):
            text = _gs_post(items, date, style, _LANGUAGE[fmt])
        elif fmt == "ticker_en":
            text = _ticker_en(items, date, style)
        else:
            text = _ticker_de(items, date, style)
    return _encode(text, style)


def _encode(text: str, style: RenderStyle) -> bytes:
    try:
        body = text.encode(style.encoding)
    except UnicodeEncodeError as error:
        raise ValueError(f"cannot encode the report as {style.encoding}: {error}") from None
    if style.bom and style.encoding == "utf-8":
        body = b"\xef\xbb\xbf" + body
    return body


def load_petroivaniuk_days(
    equipment_path: Path | str, personnel_path: Path | str
) -> dict[dt.date, dict[str, int]]:
    """Every day's totals in the petroivaniuk history files, by category code.

    Raises
    ------
    ValueError
        When either file has problems (unknown keys, malformed figures).
    """
    parser = PetroivaniukHistoryParser()
    days: dict[dt.date, dict[str, int]] = {}
    for path in (equipment_path, personnel_path):
        result = parser.parse(Path(path).read_text(encoding="utf-8"), media_type="application/json")
        if result.problems:
            raise ValueError(f"{path}: {[problem.reason for problem in result.problems]}")
        for observation in result.observations:
            days.setdefault(observation.date, {})[observation.category] = observation.total
    return dict(sorted(days.items()))
