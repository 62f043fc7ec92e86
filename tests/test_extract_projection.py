"""Doubt in the projection: undated pages dated by their figures, implausible figures held back.

Real pipeline, real SQLite store: reports are ingested and the tables built as `make run` does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from lossledger.projection import _order_by
from tests.conftest import GS_EN_0130, GS_EN_0131
from tests.helpers import build, ingest, ingest_bytes

UNDATED = (
    "Russlands Verluste laut Kiew (ohne Datum):\n"
    "Panzer: 6.310 (+10)\nArtilleriesysteme: 9.195 (+51)\nDrohnen: 7.100 (+16)\n"
)


def test_undated_page_gets_the_day_its_totals_pin(tmp_path: Path) -> None:
    ingest(tmp_path, GS_EN_0130, GS_EN_0131, source="generalstaff.en")
    event_id = ingest_bytes(tmp_path, UNDATED.encode(), name="undated.txt", source="de.news")
    tables = build(tmp_path)
    rows = tables.observations.filter(pl.col("event_id") == event_id)
    assert sorted(rows["category"].to_list()) == ["artillery", "tanks", "uav"]
    assert set(rows["date"].cast(pl.String)) == {"2024-01-31"}
    assert set(rows["date_source"]) == {"inferred"}
    assert set(rows["parser"]) == {"text"}
    # Provenance: each figure's span is the item it was read from.
    tank = rows.filter(pl.col("category") == "tanks").row(0, named=True)
    assert UNDATED[tank["span_start"]:tank["span_end"]] == "Panzer: 6.310 (+10)"
    assert 0 < tank["confidence"] <= 1
    tanks = tables.daily_totals.filter(
        (pl.col("category") == "tanks") & (pl.col("date").cast(pl.String) == "2024-01-31")
    )
    assert event_id in tanks["event_ids"][0].to_list()


def test_undated_page_that_pins_no_day_is_quarantined(tmp_path: Path) -> None:
    event_id = ingest_bytes(tmp_path, UNDATED.encode(), name="undated.txt", source="de.news")
    tables = build(tmp_path)
    reasons = tables.quarantine.filter(pl.col("event_id") == event_id)["reason"].to_list()
    assert reasons == ["no date and figures do not pin a day"] * 3
    assert tables.observations.filter(pl.col("event_id") == event_id).is_empty()
    assert tables.reports.filter(pl.col("event_id") == event_id)["status"].to_list() == [
        "quarantined"
    ]


def test_figure_far_off_the_series_is_quarantined_not_published(tmp_path: Path) -> None:
    ingest(tmp_path, GS_EN_0131, source="generalstaff.en")
    page = (
        "Stand: 31. Januar 2024\n"
        "- Panzer: 6.310 (+10)\n- Drohnen: 20 (+16)\n"  # a slip: 20 where the series says 7100
    )
    event_id = ingest_bytes(tmp_path, page.encode(), name="slip.txt", source="de.news")
    tables = build(tmp_path)
    quarantined = tables.quarantine.filter(pl.col("event_id") == event_id)
    assert quarantined["category"].to_list() == ["uav"]
    assert quarantined["reason"][0].startswith("implausible against the series: 20")
    uav = tables.daily_totals.filter(pl.col("category") == "uav")
    assert uav["total"].to_list() == [7100]
    assert tables.reports.filter(pl.col("event_id") == event_id)["status"].to_list() == [
        "partial"
    ]


def test_rounded_figure_is_quarantined_with_its_reason(tmp_path: Path) -> None:
    page = "As of January 31, 2024:\npersonnel ‒ over 385,000\ntanks ‒ 6310 (+10)\n"
    event_id = ingest_bytes(tmp_path, page.encode(), name="rounded.txt", source="en.news")
    tables = build(tmp_path)
    quarantined = tables.quarantine.filter(pl.col("event_id") == event_id)
    assert quarantined["reason"].to_list() == ["rounded figure 'over 385,000' for 'personnel'"]
    assert quarantined["category"].to_list() == ["personnel"]
    assert tables.daily_totals["category"].to_list() == ["tanks"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=6),
            st.one_of(st.none(), st.dates(min_value=dt.date(2022, 2, 24),
                                          max_value=dt.date(2022, 3, 10))),
            st.one_of(st.none(), st.integers(min_value=0, max_value=4)),
        ),
        max_size=40,
    )
)
def test_observation_order_equals_a_three_column_sort(
    rows: list[tuple[int, dt.date | None, int | None]],
) -> None:
    """The folded one-integer sort of the projection orders observations exactly as a stable
    sort on (seq, date, category code) with nulls first does."""
    frame = pl.DataFrame(rows, schema={"seq": pl.Int64, "date": pl.Date, "code": pl.UInt32},
                         orient="row")
    expected = frame.select(
        pl.arg_sort_by("seq", "date", "code", maintain_order=True)
    ).to_series()
    found = _order_by(frame["seq"], frame["date"], frame["code"])
    assert found.to_list() == expected.to_list()


def test_a_completed_year_the_series_contradicts_gives_way_to_the_figures(
    tmp_path: Path,
) -> None:
    """An old copy ("від 24.02 до 07.12", no year) fetched in the same week of a later year:
    its year completes to the later one, which its totals contradict (the series was far past
    them); the figures then date it themselves, and say so."""
    from lossledger.pipeline import RunSettings
    from lossledger.store.events import ReportReceived
    from tests.conftest import SHARED

    history = SHARED / "data" / "petroivaniuk"
    ingest(tmp_path, history / "russia_losses_equipment.json",
           history / "russia_losses_personnel.json", source="petroivaniuk")
    page = ("Загальні бойові втрати противника від 24.02 до 07.12 орієнтовно склали:\n"
            "особового складу ‒ близько 92740 (+390) осіб,\nтанків ‒ 2935 (+6),\n"
            "бойових броньованих машин ‒ 5909 (+6),\nартилерійських систем ‒ 1923 (+1).\n")
    with RunSettings.resolve(tmp_path).store() as store:
        event_id = store.append([ReportReceived(
            source="uk.news", file_name="old-copy.txt", media_type="text/plain",
            body=page.encode(), received_at=dt.datetime(2023, 12, 6, 9, tzinfo=dt.UTC),
        )]).recorded[0].event_id
    tables = build(tmp_path)
    rows = tables.observations.filter(pl.col("event_id") == event_id)
    assert sorted(rows["category"].to_list()) == ["armored_vehicles", "artillery",
                                                  "personnel", "tanks"]
    assert set(rows["date"].cast(pl.String)) == {"2022-12-07"}
    assert set(rows["date_source"]) == {"inferred"}
    assert set(rows["date_text"]) == {"07.12"}
