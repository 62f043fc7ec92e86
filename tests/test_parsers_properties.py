"""Property tests: rendered reports parse back exactly; no input makes parse_report raise."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.render import FORMATS, RenderStyle, render_report
from lossledger.parse.ontology import CATEGORY_CODES
from lossledger.parse.parsers import ParseResult, parse_report

MEDIA_TYPES = ("text/plain", "text/html", "application/json", "text/csv", "", "image/png")

values_strategy = st.dictionaries(
    st.sampled_from(CATEGORY_CODES), st.integers(0, 5_000_000), min_size=1
)
dates = st.dates(dt.date(2022, 2, 25), dt.date(2099, 12, 31))


@st.composite
def styles(draw: st.DrawFn, fmt: str) -> RenderStyle:
    thousands = draw(st.sampled_from([None, "", ",", ".", " ", "\u00a0", "\u202f"]))
    cp1252 = fmt == "ticker_de" and thousands != "\u202f" and draw(st.booleans())
    return RenderStyle(
        dash=draw(st.sampled_from(["‒", "–", "—", "-", "−"])),
        thousands=thousands,
        delta_thousands=draw(st.booleans()),
        qualifier=draw(st.sampled_from([None, "about", "around", "approximately", "more than"])),
        bom=draw(st.booleans()),
        encoding="cp1252" if cp1252 else "utf-8",
        omit_deltas=draw(st.booleans()),
        envelope=draw(st.booleans()),
        echo=draw(st.booleans()),
        space_before_colon=draw(st.booleans()),
        wording_2022=draw(st.booleans()),
        one_line=draw(st.booleans()),
        units=draw(st.booleans()),
    )


@st.composite
def rendered_days(draw: st.DrawFn) -> dict[str, Any]:
    fmt = draw(st.sampled_from(FORMATS))
    values = draw(values_strategy)
    deltas = {code: draw(st.none() | st.integers(-5_000, 200_000)) for code in values}
    return {
        "fmt": fmt,
        "values": values,
        "deltas": deltas,
        "date": draw(dates),
        "style": draw(styles(fmt)),
    }


def expected_observations(case: dict[str, Any]) -> dict[str, tuple[int, int | None, str | None]]:
    style: RenderStyle = case["style"]
    qualifier = None if case["fmt"] == "api_json" else style.qualifier
    return {
        code: (
            total,
            None if style.omit_deltas else case["deltas"][code],
            qualifier if code == "personnel" else None,
        )
        for code, total in case["values"].items()
    }


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rendered_days())
def test_rendered_reports_parse_back_exactly(case: dict[str, Any]) -> None:
    body = render_report(
        case["values"],
        date=case["date"],
        deltas=case["deltas"],
        fmt=case["fmt"],
        style=case["style"],
    )
    result = parse_report(body, media_type="text/plain", file_name="rendered")
    assert result.problems == ()
    assert result.parser == case["fmt"]
    assert result.report_date == case["date"]
    assert all(o.date == case["date"] for o in result.observations)
    got = {o.category: (o.total, o.stated_delta, o.qualifier) for o in result.observations}
    assert len(got) == len(result.observations)
    assert got == expected_observations(case)


def assert_well_formed(result: ParseResult) -> None:
    if result.parser is None:
        assert result.observations == ()
        assert len(result.problems) == 1
    else:
        assert result.observations or result.problems
    for observation in result.observations:
        assert observation.category in CATEGORY_CODES
        assert observation.total >= 0


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=4096), st.sampled_from(MEDIA_TYPES))
def test_arbitrary_bytes_never_raise(body: bytes, media_type: str) -> None:
    assert_well_formed(parse_report(body, media_type=media_type, file_name="fuzz"))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000), st.sampled_from(MEDIA_TYPES))
def test_arbitrary_text_never_raises(text: str, media_type: str) -> None:
    body = text.encode("utf-8", errors="surrogatepass")
    assert_well_formed(parse_report(body, media_type=media_type, file_name="fuzz"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rendered_days(), st.data())
def test_damaged_reports_never_raise(case: dict[str, Any], data: st.DataObject) -> None:
    body = bytearray(
        render_report(
            case["values"],
            date=case["date"],
            deltas=case["deltas"],
            fmt=case["fmt"],
            style=case["style"],
        )
    )
    for _ in range(data.draw(st.integers(1, 5))):
        position = data.draw(st.integers(0, len(body) - 1))
        if data.draw(st.booleans()):
            body[position] = data.draw(st.integers(0, 255))
        else:
            del body[position : position + data.draw(st.integers(1, 40))]
    assert_well_formed(parse_report(bytes(body), media_type="text/plain", file_name="damaged"))


# A run of numbers with "respectively" ------------------------------------------------------

#: Our labels, one per category: English and German.
RESPECTIVELY_LABELS = {
    "en": {"personnel": "military personnel", "tanks": "tanks", "artillery": "artillery systems",
           "mlrs": "multiple launch rocket systems", "air_defense": "air defense systems",
           "helicopters": "helicopters", "uav": "drones"},
    "de": {"personnel": "Soldaten", "tanks": "Panzer", "artillery": "Artilleriesysteme",
           "mlrs": "Mehrfachraketenwerfer", "air_defense": "Flugabwehrsysteme",
           "helicopters": "Hubschrauber", "uav": "Drohnen"},
}
RESPECTIVELY_DAYS = (dt.date(2022, 9, 6), dt.date(2023, 5, 9), dt.date(2024, 3, 2),
                     dt.date(2025, 6, 12))


def _respectively_sentence(language: str, codes: list[str], totals: dict[str, int]) -> str:
    """Our sentence: the labels in order, then the numbers ("bzw." before the last in German)."""
    labels = [RESPECTIVELY_LABELS[language][code] for code in codes]
    numbers = [f"{totals[code]:,}".replace(",", "." if language == "de" else ",")
               for code in codes]
    if language == "en":
        return (f"Kyiv says the losses of {', '.join(labels[:-1])} and {labels[-1]} have now "
                f"reached {', '.join(numbers[:-1])} and {numbers[-1]}, respectively.")
    return (f"Die Verluste an {', '.join(labels[:-1])} und {labels[-1]} stiegen damit auf "
            f"{', '.join(numbers[:-1])} bzw. {numbers[-1]}.")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(RESPECTIVELY_DAYS), st.sampled_from(sorted(RESPECTIVELY_LABELS)),
       st.data())
def test_a_respectively_run_gives_each_label_its_number(
    date: dt.date, language: str, data: st.DataObject
) -> None:
    """Any two to five categories, in any order: each takes the number in its place (real
    totals of the day, none a round thousand, which prose rounds)."""
    from tests.corpus_real.days import day

    totals = day(date).totals
    known = [code for code in RESPECTIVELY_LABELS[language] if totals.get(code, 0) % 1000]
    codes = data.draw(st.permutations(known).map(lambda p: list(p)).flatmap(
        lambda p: st.integers(2, min(5, len(p))).map(lambda k: p[:k])))
    text = _respectively_sentence(language, codes, totals)
    result = parse_report(text.encode(), media_type="text/plain", file_name="p.txt",
                          received_at=dt.datetime.combine(date, dt.time(9), dt.UTC))
    assert {o.category: o.total for o in result.observations} == {
        code: totals[code] for code in codes}, text
