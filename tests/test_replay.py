"""A better parser means replay, new outputs: nothing else needs doing."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from lossledger import pipeline
from lossledger.parse import ontology
from lossledger.pipeline import RunSettings, plan_run
from tests.conftest import SEED
from tests.helpers import build, ingest


@pytest.fixture
def seed_with_an_unknown_label(tmp_path: Path) -> Path:
    # A label no reader knows (since issue 10 the general reader knows "Rocket launchers").
    text = SEED.read_text(encoding="utf-8").replace(
        "11757 (+32) Artillery systems : 9195 (+51)",
        "11757 (+32) Artillery systems : 9195 (+51)\n\n9195 (+51) Volley fire systems: 974 (+2)",
    )
    path = tmp_path / "seed-with-mlrs.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_parser_upgrade_republishes_without_new_events(
    tmp_path: Path, seed_with_an_unknown_label: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    ingest(home, seed_with_an_unknown_label, source="ticker.en")
    before = build(home, publish_to=home / "warehouse")
    assert before.quarantine["reason"].to_list() == ["unknown category 'Volley fire systems'"]
    assert "mlrs" not in before.daily_totals["category"].to_list()
    settings = RunSettings.resolve(home)
    assert plan_run(settings).nothing_new

    # The upgrade: one alias more in the ontology, hence a new parsers fingerprint.
    family = dict(ontology._INDEX["ticker_en"])
    family[ontology.normalise_label("Volley fire systems")] = "mlrs"
    monkeypatch.setitem(ontology._INDEX, "ticker_en", family)
    monkeypatch.setattr(pipeline, "PARSERS_FINGERPRINT", "upgraded-parsers")

    plan = plan_run(settings)
    assert not plan.nothing_new and plan.parse_ranges == ((1, 1),)
    after = build(home, publish_to=home / "warehouse")
    mlrs = after.daily_totals.filter(pl.col("category") == "mlrs").row(0, named=True)
    assert (mlrs["total"], mlrs["stated_delta"]) == (974, 2)
    assert after.quarantine.is_empty()
    assert plan_run(settings).nothing_new
