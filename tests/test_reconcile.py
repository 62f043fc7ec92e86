"""Rules of :func:`lossledger.reconcile.consensus.reconcile_totals` on small hand-built frames."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lossledger.reconcile.consensus import (
    DAILY_TOTALS_SCHEMA,
    DISCREPANCIES_SCHEMA,
    DISCREPANCY_KINDS,
    STATUSES,
    ReconcilePolicy,
    Reconciliation,
    reconcile_totals,
)
from schemas.tables import DISCREPANCY_KINDS as PUBLISHED_KINDS
from schemas.tables import TOTAL_STATUSES
from tests.reconcile_frames import observation, observations, override, overrides, received

GS, API, TICKER, HISTORY = "generalstaff.en", "api.example", "ticker.en", "petroivaniuk"
JAN28, JAN29, JAN30, JAN31 = (dt.date(2024, 1, day) for day in (28, 29, 30, 31))


def only(frame: pl.DataFrame, **equal: object) -> dict[str, object]:
    """Return the single row of ``frame`` whose columns equal ``equal``."""
    rows = frame.filter(**equal)
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def kinds(result: Reconciliation) -> list[str]:
    return result.discrepancies["kind"].to_list()


# --- consensus ------------------------------------------------------------------------------


def test_all_sources_agreeing_is_confirmed() -> None:
    result = reconcile_totals(
        observations(
            observation("gs-1", 1, GS, "official", JAN30, "tanks", 6300, 10),
            observation("api-1", 2, API, "api", JAN30, "tanks", 6300, 10),
            observation("hist-1", 3, HISTORY, "history", JAN30, "tanks", 6300),
        )
    )
    row = result.daily_totals.row(0, named=True)
    assert row.pop("evidence") == "unanimous"
    # Three sources of prior accuracy 0.8 are all wrong at once with chance 0.2**3.
    assert row.pop("confidence") == pytest.approx(1 - 0.2**3, abs=0.01)
    assert row == {
        "date": JAN30,
        "category": "tanks",
        "total": 6300,
        "delta": None,
        "stated_delta": 10,
        "status": "confirmed",
        "n_sources": 3,
        "event_ids": ["api-1", "gs-1", "hist-1"],
        "sources": [API, GS, HISTORY],
        "seq": 3,
    }
    assert result.discrepancies.is_empty()


def test_one_source_is_single_source() -> None:
    result = reconcile_totals(
        observations(observation("tk-1", 4, TICKER, "ticker", JAN30, "tanks", 6300, 10))
    )
    row = only(result.daily_totals, date=JAN30)
    assert (row["status"], row["n_sources"], row["sources"]) == ("single_source", 1, [TICKER])
    assert result.discrepancies.is_empty()


def test_strict_plurality_of_sources_beats_priority() -> None:
    result = reconcile_totals(
        observations(
            observation("gs-1", 1, GS, "official", JAN30, "tanks", 6290, 0),
            observation("tk-1", 2, TICKER, "ticker", JAN30, "tanks", 6310, 20),
            observation("hist-1", 3, HISTORY, "history", JAN30, "tanks", 6310),
        )
    )
    row = only(result.daily_totals, date=JAN30)
    assert (row["total"], row["status"], row["n_sources"]) == (6310, "majority", 3)
    assert row["sources"] == [HISTORY, TICKER]
    # The ticker outranks the history file among the agreeing sources, so its delta speaks.
    assert row["stated_delta"] == 20
    conflict = only(result.discrepancies, kind="source_conflict")
    assert conflict["source"] == GS
    assert (conflict["expected"], conflict["observed"]) == (6310, 6290)
    assert conflict["detail"] == "other: differs by -20; chosen by majority (2 of 3 sources)"


def test_tie_between_sources_goes_to_source_priority() -> None:
    rows = [
        observation("gs-1", 1, GS, "official", JAN30, "tanks", 6310, 10),
        observation("tk-1", 2, TICKER, "ticker", JAN30, "tanks", 6250, 5),
    ]
    result = reconcile_totals(observations(*rows))
    row = only(result.daily_totals, date=JAN30)
    assert (row["total"], row["status"], row["stated_delta"]) == (6310, "priority", 10)
    conflict = only(result.discrepancies, kind="source_conflict")
    assert (conflict["source"], conflict["observed"]) == (TICKER, 6250)
    assert conflict["detail"] == "other: differs by -60; chosen by priority (official)"

    tickers_first = ReconcilePolicy(priority=("ticker", "official", "api", "history"))
    result = reconcile_totals(observations(*rows), policy=tickers_first)
    assert only(result.daily_totals, date=JAN30)["total"] == 6250
    conflict = only(result.discrepancies, kind="source_conflict")
    assert conflict["source"] == GS
    assert conflict["detail"] == "other: differs by +60; chosen by priority (ticker)"


def test_tie_of_equally_many_sources_goes_to_the_best_kind_among_them() -> None:
    result = reconcile_totals(
        observations(
            observation("api-1", 1, API, "api", JAN30, "tanks", 6250, 0),
            observation("tk-1", 2, TICKER, "ticker", JAN30, "tanks", 6250, 0),
            observation("gs-1", 3, GS, "official", JAN30, "tanks", 6310, 10),
            observation("hist-1", 4, HISTORY, "history", JAN30, "tanks", 6310),
        )
    )
    row = only(result.daily_totals, date=JAN30)
    assert (row["total"], row["status"], row["sources"]) == (6310, "priority", [GS, HISTORY])
    conflicts = result.discrepancies.filter(kind="source_conflict")
    assert conflicts["source"].to_list() == [API, TICKER]
    assert set(conflicts["detail"]) == {"other: differs by -60; chosen by priority (official)"}


def test_remaining_tie_is_contested_whatever_the_receipt_order() -> None:
    """Issue 11: no evidence separates two tickers, so the cell is ``contested`` and the
    published value (a content tie-break: the smaller total) never depends on which report
    arrived first or got the higher seq."""
    late, early = received(JAN30, 10), received(JAN30, 8)
    published = []
    for en_at, de_at, en_seq, de_seq in [(late, early, 5, 9), (early, late, 9, 5)]:
        result = reconcile_totals(
            observations(
                observation("en-1", en_seq, TICKER, "ticker", JAN30, "tanks", 6310,
                            received_at=en_at),
                observation("de-1", de_seq, "ticker.de", "ticker", JAN30, "tanks", 6250,
                            received_at=de_at),
            )
        )
        row = only(result.daily_totals, date=JAN30)
        assert (row["total"], row["status"], row["evidence"]) == (6250, "contested", "none")
        assert row["confidence"] == pytest.approx(0.5)
        conflict = only(result.discrepancies, kind="source_conflict")
        assert conflict["source"] == TICKER
        # The detail blames neither side alone: it names both.
        assert conflict["detail"] == (
            "other: differs by +60; contested: no evidence separates 6250 (ticker.de) and "
            "6310 (ticker.en); published the likelier (p=0.5)"
        )
        published.append((result.daily_totals, result.discrepancies))
    assert published[0][0].drop("seq").equals(published[1][0].drop("seq"))


def test_best_kind_then_source_name_speaks_for_an_agreed_value() -> None:
    uk = "generalstaff.uk"
    result = reconcile_totals(
        observations(
            observation("gs-30", 1, GS, "official", JAN30, "tanks", 6300, 10),
            observation("uk-31", 2, uk, "official", JAN31, "tanks", 6310, 11),
            observation("gs-31", 3, GS, "official", JAN31, "tanks", 6310, 10,
                        received_at=received(JAN31, 6)),
            observation("tk-31", 4, TICKER, "ticker", JAN31, "tanks", 6310, 12),
        )
    )
    row = only(result.daily_totals, date=JAN31)
    # Issue 11: not the latest received (generalstaff.uk) but the first-named official source
    # speaks, whatever the receipt times.
    assert (row["status"], row["stated_delta"]) == ("confirmed", 10)
    assert row["sources"] == [GS, uk, TICKER]
    assert result.discrepancies.filter(kind="delta_mismatch").is_empty()


def test_unknown_source_kind_ranks_below_every_listed_kind() -> None:
    result = reconcile_totals(
        observations(
            observation("x-1", 1, "blog", "blog", JAN30, "tanks", 6250),
            observation("hist-1", 2, HISTORY, "history", JAN30, "tanks", 6310),
        )
    )
    assert only(result.daily_totals, date=JAN30)["total"] == 6310


# --- overrides ------------------------------------------------------------------------------


def test_latest_override_replaces_the_chosen_total() -> None:
    result = reconcile_totals(
        observations(
            observation("gs-1", 1, GS, "official", JAN30, "tanks", 6310, 10),
            observation("tk-1", 2, TICKER, "ticker", JAN30, "tanks", 6310, 10),
        ),
        overrides=overrides(
            override("ov-2", 20, JAN30, "tanks", 6311, reason="recount"),
            override("ov-1", 10, JAN30, "tanks", 6305),
        ),
    )
    assert result.daily_totals.row(0, named=True) == {
        "confidence": 1.0,
        "evidence": "override",
        "date": JAN30,
        "category": "tanks",
        "total": 6311,
        "delta": None,
        "stated_delta": None,
        "status": "overridden",
        "n_sources": 2,
        "event_ids": ["ov-2"],
        "sources": [],
        "seq": 20,
    }
    conflicts = result.discrepancies.filter(kind="source_conflict")
    assert conflicts.select("source", "expected", "observed").rows() == [
        (GS, 6311, 6310),
        (TICKER, 6311, 6310),
    ]
    assert set(conflicts["detail"]) == {
        "typo: one digit changed (6310 vs 6311); chosen by override: recount (analyst)"
    }
    assert conflicts["event_ids"].to_list() == [["gs-1", "ov-2"], ["ov-2", "tk-1"]]
    assert conflicts["seq"].to_list() == [20, 20]


def test_override_agreeing_with_a_source_keeps_its_lineage() -> None:
    result = reconcile_totals(
        observations(
            observation("gs-1", 1, GS, "official", JAN30, "tanks", 6310, 10),
            observation("tk-1", 2, TICKER, "ticker", JAN30, "tanks", 6250, 4),
        ),
        overrides=overrides(override("ov-1", 3, JAN30, "tanks", 6250)),
    )
    row = only(result.daily_totals, date=JAN30)
    assert (row["total"], row["status"], row["stated_delta"]) == (6250, "overridden", 4)
    assert (row["sources"], row["event_ids"], row["seq"]) == ([TICKER], ["ov-1", "tk-1"], 3)
    conflict = only(result.discrepancies, kind="source_conflict")
    assert (conflict["source"], conflict["expected"], conflict["observed"]) == (GS, 6250, 6310)


def test_override_meets_its_cell_whatever_else_the_frames_hold() -> None:
    # Categories in a different order and number in each frame: keys must not depend on it.
    result = reconcile_totals(
        observations(
            observation("gs-1", 1, GS, "official", JAN30, "aircraft", 332, 1),
            observation("gs-1", 1, GS, "official", JAN30, "mlrs", 972, 0),
            observation("gs-1", 1, GS, "official", JAN30, "tanks", 6300, 10),
        ),
        overrides=overrides(
            override("ov-1", 2, JAN30, "tanks", 6301),
            override("ov-2", 3, JAN29, "helicopters", 324),
        ),
    )
    assert result.daily_totals.select("date", "category", "total", "status").rows() == [
        (JAN29, "helicopters", 324, "overridden"),
        (JAN30, "aircraft", 332, "single_source"),
        (JAN30, "mlrs", 972, "single_source"),
        (JAN30, "tanks", 6301, "overridden"),
    ]


def test_override_without_observations_adds_a_row() -> None:
    result = reconcile_totals(
        observations(observation("gs-1", 1, GS, "official", JAN29, "tanks", 6290, 10)),
        overrides=overrides(override("ov-1", 7, JAN30, "tanks", 6300)),
    )
    row = only(result.daily_totals, date=JAN30)
    assert (row["total"], row["delta"], row["status"], row["n_sources"]) == (
        6300,
        10,
        "overridden",
        0,
    )
    assert (row["event_ids"], row["sources"], row["seq"]) == (["ov-1"], [], 7)


# --- likely causes of a conflict ------------------------------------------------------------


def _cause_of(value: int, *, policy: ReconcilePolicy | None = None) -> str:
    """Detail of the ticker's conflict on Jan 31 (official: 1443, 1448, 1452 on Jan 29-31)."""
    result = reconcile_totals(
        observations(
            observation("gs-29", 1, GS, "official", JAN29, "special_equipment", 1443, 7),
            observation("gs-30", 2, GS, "official", JAN30, "special_equipment", 1448, 5),
            observation("gs-31", 3, GS, "official", JAN31, "special_equipment", 1452, 4),
            observation("tk-31", 4, TICKER, "ticker", JAN31, "special_equipment", value),
        ),
        policy=policy,
    )
    conflict = only(result.discrepancies, kind="source_conflict")
    assert (conflict["date"], conflict["source"], conflict["observed"]) == (JAN31, TICKER, value)
    return str(conflict["detail"]).split("; ")[0]


@pytest.mark.parametrize(
    ("value", "cause"),
    [
        (1448, "stale: equals 2024-01-30 total"),
        (1443, "stale: equals 2024-01-29 total"),
        (1462, "typo: one digit changed (1462 vs 1452)"),
        (1425, "typo: adjacent digits swapped (1425 vs 1452)"),
        (4152, "typo: adjacent digits swapped (4152 vs 1452)"),
        (1254, "other: differs by -198"),  # two digits swapped, but not neighbours
        (1553, "other: differs by +101"),  # two digits changed
        (14520, "other: differs by +13068"),  # a digit too many
        (452, "other: differs by -1000"),  # a digit too few
    ],
)
def test_conflict_detail_starts_with_its_likely_cause(value: int, cause: str) -> None:
    assert _cause_of(value) == cause


def test_stale_looks_back_only_as_far_as_the_policy_says() -> None:
    assert _cause_of(1443, policy=ReconcilePolicy(stale_lookback_days=1)) == (
        "other: differs by -9"
    )
    with pytest.raises(ValueError, match="stale_lookback_days"):
        ReconcilePolicy(stale_lookback_days=0)


def test_stale_is_preferred_over_typo() -> None:
    result = reconcile_totals(
        observations(
            observation("gs-30", 1, GS, "official", JAN30, "tanks", 6300, 10),
            observation("gs-31", 2, GS, "official", JAN31, "tanks", 6310, 10),
            observation("tk-31", 3, TICKER, "ticker", JAN31, "tanks", 6300, 10),
        )
    )
    conflict = only(result.discrepancies, kind="source_conflict")
    assert conflict["detail"].startswith("stale: equals 2024-01-30 total;")


# --- along the series -----------------------------------------------------------------------


def test_seed_scenario_stale_ticker_copy() -> None:
    """Issue acceptance: the ticker repeats Jan 30's special equipment figure on Jan 31."""
    official_30 = observation("gs-30", 1, GS, "official", JAN30, "special_equipment", 1448, 5)
    ticker_31 = observation("tk-31", 2, TICKER, "ticker", JAN31, "special_equipment", 1448, 5)

    result = reconcile_totals(observations(official_30, ticker_31))
    row = only(result.daily_totals, date=JAN31)
    assert (row["total"], row["delta"], row["stated_delta"]) == (1448, 0, 5)
    mismatch = only(result.discrepancies, kind="delta_mismatch")
    assert mismatch == {
        "date": JAN31,
        "category": "special_equipment",
        "kind": "delta_mismatch",
        "source": TICKER,
        "expected": 0,
        "observed": 5,
        "detail": "stated +5 but totals imply +0 (1448 on 2024-01-30 to 1448)",
        "event_ids": ["gs-30", "tk-31"],
        "seq": 2,
        "run_id": None,
    }

    official_31 = observation("gs-31", 3, GS, "official", JAN31, "special_equipment", 1452, 4)
    result = reconcile_totals(observations(official_30, ticker_31, official_31))
    row = only(result.daily_totals, date=JAN31)
    assert (row["total"], row["status"], row["delta"], row["stated_delta"]) == (
        1452,
        "series",
        4,
        4,
    )
    assert result.discrepancies.to_dicts() == [
        {
            "date": JAN31,
            "category": "special_equipment",
            "kind": "source_conflict",
            "source": TICKER,
            "expected": 1452,
            "observed": 1448,
            # Issue 11: the official delta (1448 + 4) pins the total before priority is asked.
            "detail": "stale: equals 2024-01-30 total; "
            "decided by stated delta (a source's delta pins the total)",
            "event_ids": ["gs-31", "tk-31"],
            "seq": 3,
            "run_id": f"{TICKER}/special_equipment/2024-01-31",
        }
    ]


def test_only_the_chosen_observation_states_the_delta() -> None:
    result = reconcile_totals(
        observations(
            observation("gs-30", 1, GS, "official", JAN30, "tanks", 6300, 10),
            observation("tk-31", 2, TICKER, "ticker", JAN31, "tanks", 6310, 12),
            observation("gs-31", 3, GS, "official", JAN31, "tanks", 6310, 10),
        )
    )
    row = only(result.daily_totals, date=JAN31)
    assert (row["status"], row["stated_delta"], row["delta"]) == ("confirmed", 10, 10)
    assert result.discrepancies.is_empty()


def test_history_sources_state_no_delta() -> None:
    result = reconcile_totals(
        observations(
            observation("h-1", 1, HISTORY, "history", JAN30, "tanks", 6300),
            observation("h-1", 1, HISTORY, "history", JAN31, "tanks", 6350),
        )
    )
    assert result.daily_totals["stated_delta"].to_list() == [None, None]
    assert result.daily_totals["delta"].to_list() == [None, 50]
    assert result.discrepancies.is_empty()


def test_falling_total_is_a_restatement() -> None:
    result = reconcile_totals(
        observations(
            observation("gs-30", 1, GS, "official", JAN30, "tanks", 6310, 10),
            observation("gs-31", 2, GS, "official", JAN31, "tanks", 6300, -10),
        )
    )
    assert result.discrepancies.to_dicts() == [
        {
            "date": JAN31,
            "category": "tanks",
            "kind": "restatement",
            "source": GS,
            "expected": 6310,
            "observed": 6300,
            "detail": "total fell from 6310 on 2024-01-30 to 6300 (-10)",
            "event_ids": ["gs-30", "gs-31"],
            "seq": 2,
            "run_id": None,
        }
    ]
    assert only(result.daily_totals, date=JAN31)["delta"] == -10


def test_missing_day_is_inferred_from_the_next_stated_delta() -> None:
    result = reconcile_totals(
        observations(
            observation("gs-29", 1, GS, "official", JAN29, "special_equipment", 1443, 7),
            observation("gs-31", 5, GS, "official", JAN31, "special_equipment", 1452, 4),
        )
    )
    assert result.daily_totals.to_dicts()[1] == {
        "date": JAN30,
        "category": "special_equipment",
        "total": 1448,
        "delta": 5,
        "stated_delta": None,
        "status": "inferred",
        "n_sources": 0,
        "event_ids": ["gs-31"],
        "sources": [],
        "seq": 5,
        # No more confidence than the day whose stated delta it rests on.
        "confidence": only(result.daily_totals, date=JAN31)["confidence"],
        "evidence": "inference",
    }
    assert only(result.daily_totals, date=JAN31)["delta"] == 4
    assert result.discrepancies.to_dicts() == [
        {
            "date": JAN30,
            "category": "special_equipment",
            "kind": "gap",
            "source": None,
            "expected": None,
            "observed": None,
            "detail": "inferred from 2024-01-31 stated delta",
            "event_ids": ["gs-31"],
            "seq": 5,
            "run_id": None,
        }
    ]


def test_gap_without_a_stated_delta_stays_missing() -> None:
    result = reconcile_totals(
        observations(
            observation("h-1", 1, HISTORY, "history", JAN28, "tanks", 6280),
            observation("h-1", 1, HISTORY, "history", JAN31, "tanks", 6310),
            # Another category's range does not widen this one's.
            observation("h-1", 1, HISTORY, "history", JAN31, "aircraft", 332),
        )
    )
    assert result.daily_totals.select("date", "category").rows() == [
        (JAN28, "tanks"),
        (JAN31, "aircraft"),
        (JAN31, "tanks"),
    ]
    assert only(result.daily_totals, date=JAN31, category="tanks")["delta"] is None
    gaps = result.discrepancies
    assert gaps.select("date", "category", "kind", "detail").rows() == [
        (JAN29, "tanks", "gap", "no report"),
        (JAN30, "tanks", "gap", "no report"),
    ]
    assert gaps["event_ids"].to_list() == [["h-1"], ["h-1"]]


def test_only_the_day_before_a_stated_delta_is_inferred() -> None:
    result = reconcile_totals(
        observations(
            observation("gs-28", 1, GS, "official", JAN28, "tanks", 6280, 10),
            observation("gs-31", 2, GS, "official", JAN31, "tanks", 6310, 10),
        )
    )
    assert result.daily_totals.select("date", "total", "status").rows() == [
        (JAN28, 6280, "single_source"),
        (JAN30, 6300, "inferred"),
        (JAN31, 6310, "single_source"),
    ]
    assert result.discrepancies.select("date", "kind", "detail").rows() == [
        (JAN29, "gap", "no report"),
        (JAN30, "gap", "inferred from 2024-01-31 stated delta"),
    ]


def test_no_negative_total_is_inferred() -> None:
    result = reconcile_totals(
        observations(
            observation("gs-29", 1, GS, "official", JAN29, "submarines", 0, 0),
            observation("gs-31", 2, GS, "official", JAN31, "submarines", 1, 2),
        )
    )
    assert result.daily_totals["date"].to_list() == [JAN29, JAN31]
    assert result.discrepancies.select("date", "kind", "detail").rows() == [
        (JAN30, "gap", "no report")
    ]


# --- revisions and lineage ------------------------------------------------------------------


def test_newer_event_of_a_source_speaks_and_older_values_are_revisions() -> None:
    result = reconcile_totals(
        observations(
            observation("hist-v2", 5, HISTORY, "history", JAN30, "tanks", 6300),
            observation("hist-v2", 5, HISTORY, "history", JAN31, "tanks", 6312),
            observation("hist-v1", 1, HISTORY, "history", JAN30, "tanks", 6300),
            observation("hist-v1", 1, HISTORY, "history", JAN31, "tanks", 6310),
        )
    )
    assert result.daily_totals.select("date", "total", "status", "n_sources").rows() == [
        (JAN30, 6300, "single_source", 1),
        (JAN31, 6312, "single_source", 1),
    ]
    # An older event agreeing with the newer one still supports the value.
    assert result.daily_totals["event_ids"].to_list() == [["hist-v1", "hist-v2"], ["hist-v2"]]
    assert result.daily_totals["seq"].to_list() == [5, 5]
    assert result.discrepancies.to_dicts() == [
        {
            "date": JAN31,
            "category": "tanks",
            "kind": "revision",
            "source": HISTORY,
            "expected": 6312,
            "observed": 6310,
            "detail": "revised from 6310 to 6312 (event hist-v1 superseded by hist-v2)",
            "event_ids": ["hist-v1", "hist-v2"],
            "seq": 5,
            "run_id": None,
        }
    ]


def test_event_ids_and_seq_trace_every_output_row() -> None:
    result = reconcile_totals(
        observations(
            # Jan 30's report arrives last: what depends on it carries its seq.
            observation("gs-30", 9, GS, "official", JAN30, "tanks", 6300, 10),
            observation("gs-31", 3, GS, "official", JAN31, "tanks", 6310, 11),
            observation("api-31", 7, API, "api", JAN31, "tanks", 6310, 10),
            observation("tk-31", 5, TICKER, "ticker", JAN31, "tanks", 6290, 10),
        )
    )
    row = only(result.daily_totals, date=JAN31)
    # Issue 11: the ticker's 6290 falls below Jan 30's 6300, so the series decides.
    assert (row["event_ids"], row["seq"], row["status"]) == (["api-31", "gs-31"], 7, "series")
    conflict = only(result.discrepancies, kind="source_conflict")
    assert (conflict["event_ids"], conflict["seq"]) == (["api-31", "gs-31", "tk-31"], 7)
    mismatch = only(result.discrepancies, kind="delta_mismatch")
    assert (mismatch["source"], mismatch["expected"], mismatch["observed"]) == (GS, 10, 11)
    assert (mismatch["event_ids"], mismatch["seq"]) == (["api-31", "gs-30", "gs-31"], 9)
    assert only(result.daily_totals, date=JAN30)["seq"] == 9


# --- shape ----------------------------------------------------------------------------------


def test_vocabulary_is_the_published_tables_vocabulary() -> None:
    assert set(STATUSES) == set(TOTAL_STATUSES)
    assert set(DISCREPANCY_KINDS) == set(PUBLISHED_KINDS)


def test_empty_input_gives_empty_frames_with_the_contract_schema() -> None:
    for extra in ({}, {"overrides": overrides()}):
        result = reconcile_totals(observations(), **extra)
        assert result.daily_totals.schema == DAILY_TOTALS_SCHEMA
        assert result.discrepancies.schema == DISCREPANCIES_SCHEMA
        assert result.daily_totals.is_empty() and result.discrepancies.is_empty()


def test_schemas_hold_with_every_kind_of_row() -> None:
    result = reconcile_totals(
        observations(
            observation("gs-28", 1, GS, "official", JAN28, "tanks", 6310, 10),
            observation("gs-30", 2, GS, "official", JAN30, "tanks", 6300, 9),
            observation("gs-31", 3, GS, "official", JAN31, "tanks", 6310, 11),
            observation("tk-31", 4, TICKER, "ticker", JAN31, "tanks", 6300, 11),
        )
    )
    assert result.daily_totals.schema == DAILY_TOTALS_SCHEMA
    assert result.discrepancies.schema == DISCREPANCIES_SCHEMA
    assert sorted(set(kinds(result))) == ["delta_mismatch", "gap", "restatement", "source_conflict"]


_sources = st.sampled_from(
    [
        (GS, "official"),
        (API, "api"),
        (TICKER, "ticker"),
        ("ticker.de", "ticker"),
        (HISTORY, "history"),
    ]
)
_observation = st.tuples(
    _sources,
    st.integers(0, 4),  # day offset
    st.sampled_from(["tanks", "aircraft"]),
    st.integers(95, 105),  # total
    st.one_of(st.none(), st.integers(-2, 6)),  # stated delta
    st.integers(0, 3),  # receipt hour offset
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_observation, max_size=25), st.randoms(use_true_random=False))
def test_invariants_on_random_observations(rows: list[tuple], shuffle: object) -> None:
    frame = observations(
        *(
            observation(
                f"e{seq}", seq, source, kind, JAN28 + dt.timedelta(days=day), category, total,
                stated, received_at=received(JAN31, 8 + hour),
            )
            for seq, ((source, kind), day, category, total, stated, hour) in enumerate(rows)
        )
    )
    result = reconcile_totals(frame)
    # Input order does not matter.
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=shuffle.randint(0, 10**6))
    again = reconcile_totals(shuffled)
    assert again.daily_totals.equals(result.daily_totals)
    assert again.discrepancies.equals(result.discrepancies)
    # The newest observation of each source speaks; each that disagrees is one conflict.
    votes = frame.sort("seq").unique(["date", "category", "source"], keep="last")
    observed = result.daily_totals.filter(pl.col("status") != "inferred")
    per_cell = votes.group_by("date", "category").agg(pl.col("source").n_unique().alias("n"))
    joined = observed.join(per_cell, on=["date", "category"])
    assert joined.height == observed.height == per_cell.height
    assert (joined["n_sources"] == joined["n"]).all()
    differing = votes.join(observed, on=["date", "category"]).filter(
        pl.col("total") != pl.col("total_right")
    )
    assert result.discrepancies.filter(kind="source_conflict").height == differing.height
    # Sorted as promised.
    assert result.daily_totals.equals(result.daily_totals.sort("date", "category"))
