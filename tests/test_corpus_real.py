"""Issue 10's bar: the real-world corpus read exactly, end to end, and by ``parse_report``.

The corpus (``tests/corpus_real``) is ~180 reports in the layouts, languages, number and date
forms outlets really publish, around real figures of ``../shared``, each with its exact
expectation. The pipeline runs once per session on all of them (history as the reference
series, each report its own source); each report is then one test: every figure it states is
read with its total and stated change, nothing else is read, and its observations carry the
report's date with an accepted ``date_source``.

These tests fail on the template parsers of bd11581 (they read ~8 % of the corpus): that is
the point. Set ``LOSSLEDGER_CORPUS_BASELINE=1`` (the single switch) to run the module as a
measurement instead: the per-report and property tests are skipped and the summary test prints
the scores and checks only that every report went through the pipeline.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from lossledger.parse.parsers import parse_report
from tests.corpus_real.days import all_days
from tests.corpus_real.generate import (
    CorpusReport,
    build_corpus,
    corpus_digest,
    render_report,
)
from tests.corpus_real.harness import TARGETS, Scores, markdown, run_corpus

#: corpus_digest(build_corpus()): update it when the generator changes on purpose.
CORPUS_DIGEST = "32353d2df0ea55d3"
BASELINE = os.environ.get("LOSSLEDGER_CORPUS_BASELINE") == "1"
CORPUS = build_corpus()
skip_in_baseline = pytest.mark.skipif(BASELINE, reason="LOSSLEDGER_CORPUS_BASELINE=1: measuring")


@pytest.fixture(scope="module")
def scores(tmp_path_factory: pytest.TempPathFactory) -> Scores:
    return run_corpus(CORPUS, home=tmp_path_factory.mktemp("realcorpus"))


def test_corpus_covers_issue_10() -> None:
    """The corpus itself: big enough and covering every family the issue lists."""
    features = {f for r in CORPUS for f in r.features}
    assert len(CORPUS) >= 170
    assert {f"lang:{x}" for x in ("en", "uk", "de", "ru", "fr", "pl", "it", "tr")} <= features
    for needed in ("layout:runon", "layout:number_first", "layout:delta_first", "layout:echo",
                   "layout:pairs", "layout:twice", "layout:prose", "layout:html_ul",
                   "layout:html_p", "truncated:mid-word", "truncated:mid-number",
                   "numbers:nbsp", "numbers:thin", "numbers:million_dot",
                   "numbers:million_comma_dot", "numbers:mixed", "distractor:oryx",
                   "distractor:us_estimate", "distractor:uk_estimate",
                   "distractor:russia_claim", "distractor:monthly", "distractor:rounded",
                   "distractor:headline", "date:none", "date:weekday_only", "date:past_day",
                   "date:dm_range"):
        assert needed in features, needed
    sources = {r.date_source for r in CORPUS}
    assert sources == {"stated", "completed", "inferred"}
    # Same seed, same bytes (pinned: a change to the generator changes this on purpose);
    # another seed, other reports.
    assert corpus_digest(CORPUS) == CORPUS_DIGEST
    assert [r.body for r in build_corpus(seed=1)] != [r.body for r in CORPUS]


def test_corpus_expectations_follow_the_data() -> None:
    """Every expected figure is the day's real total, and distractors are not totals."""
    days = {d.date: d for d in all_days()}
    for report in CORPUS:
        day = days[report.date]
        text = html.unescape(report.body.decode("utf-8"))
        assert (report.date_text or "") in text, (report.id, report.date_text)
        assert (report.date_text is None) == (report.date_form == "none"), report.id
        for figure in report.figures:
            assert day.totals[figure.category] == figure.total, (report.id, figure)
            if figure.stated_delta is not None:
                assert figure.stated_delta == day.deltas[figure.category], (report.id, figure)
        for distractor in report.distractors:
            if distractor.category in day.totals:
                assert distractor.value != day.totals[distractor.category], (report.id,
                                                                             distractor)


def test_corpus_scores(scores: Scores) -> None:
    """The aggregate bar of issue 10 (in baseline mode: print the scores)."""
    print("\n" + markdown(scores))
    assert len(scores.reports) == len(CORPUS)
    assert all(r.status is not None for r in scores.reports), "a report missing from `reports`"
    if BASELINE:
        return
    totals = scores.totals()
    assert totals["precision"] is not None and totals["precision"] >= TARGETS["precision"]
    assert totals["recall"] >= TARGETS["recall"]
    assert totals["dates_right"] >= TARGETS["dates_right"]


@skip_in_baseline
@pytest.mark.parametrize("report", CORPUS, ids=[f"{r.id}-{r.language}-{r.layout}"
                                                for r in CORPUS])
def test_report_read_exactly(report: CorpusReport, scores: Scores) -> None:
    """One report: exact figures, changes, date and date_source, and nothing else."""
    row = next(r for r in scores.reports if r.report.id == report.id)
    got = {(o["category"], o["total"]): o.get("stated_delta") for o in row.found}
    expected = {(f.category, f.total): f for f in report.figures}
    assert set(got) == set(expected), (
        f"{report.file_name}: missed {sorted(set(expected) - set(got))}, "
        f"wrongly read {sorted(set(got) - set(expected))}; problems {row.problems[:3]}")
    wrong_deltas = {k: (got[k], f.stated_delta) for k, f in expected.items()
                    if not f.delta_ok(got[k])}
    assert not wrong_deltas, f"{report.file_name}: (read, stated) changes {wrong_deltas}"
    assert row.dates == [report.date.isoformat()], f"{report.file_name}: dates {row.dates}"
    assert row.date_sources and all(s in report.date_sources for s in row.date_sources), (
        f"{report.file_name}: date_source {row.date_sources}, expected {report.date_sources}")


# --- properties of parse_report ------------------------------------------------------------

_DAYS = [d for d in all_days() if d.date >= dt.date(2022, 3, 1)]
_PROPERTY_LAYOUTS = {
    "en": ("lines", "bullets", "colon", "prose", "pairs", "html_ul", "html_p", "twice"),
    "uk": ("runon", "lines", "bullets", "html_ul"),
    "de": ("number_first", "colon", "lines", "prose", "pairs", "bullets"),
    "ru": ("lines", "runon", "bullets"),
    "fr": ("prose", "bullets", "lines"),
    "pl": ("prose", "bullets"),
    "it": ("prose", "colon", "lines"),
    "tr": ("prose", "bullets", "colon"),
}
_NUMBERS = ("plain", "comma", "dot", "space", "thin", "nbsp", "mixed", "million_dot")
_STATED = {"en": ("full", "dmy_range", "iso"), "uk": ("full", "dmy_range"),
           "de": ("de_stand_weekday", "de_stand_numeric", "full"), "ru": ("full", "dmy_range"),
           "fr": ("full",), "pl": ("full",), "it": ("full",), "tr": ("full",)}
# No shrinking: a rendered report is already a readable counterexample, and shrinking a
# failure over whole pages would cost make test minutes.
_NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


_KINDS = ("oryx", "us_estimate", "uk_estimate", "russia_claim", "monthly", "rounded")


@st.composite
def _reports(draw: st.DrawFn) -> CorpusReport:
    language = draw(st.sampled_from(sorted(_PROPERTY_LAYOUTS)))
    return render_report(
        draw(st.integers(0, 10_000)), language=language,
        layout=draw(st.sampled_from(_PROPERTY_LAYOUTS[language])),
        day=draw(st.sampled_from(_DAYS)), number_form=draw(st.sampled_from(_NUMBERS)),
        date_form=draw(st.sampled_from(_STATED[language])),
        distractors=draw(st.lists(st.sampled_from(_KINDS), max_size=2, unique=True)),
        truncate=False, seed=draw(st.integers(0, 3)))


@skip_in_baseline
# derandomize: the same examples on every run. Random pages still find misses of the general
# reader (about 2 in 100: issue 10's note); CI must not turn red or green by chance.
@settings(max_examples=50, deadline=None, phases=_NO_SHRINK, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(report=_reports())
def test_parse_report_reads_any_layout_spelling_and_separator(report: CorpusReport) -> None:
    """Whatever the layout, label spelling and separators around a real day: parse_report gives
    exactly the stated figures, dated with the stated date, and none of the distractors."""
    result = parse_report(report.body, media_type=report.media_type, file_name=report.file_name)
    got = {(o.category, o.total): o for o in result.observations}
    expected = {(f.category, f.total): f for f in report.figures}
    assert set(got) == set(expected), (report.body.decode()[:400], result.problems)
    for key, figure in expected.items():
        assert figure.delta_ok(got[key].stated_delta), (key, got[key].stated_delta, figure)
        assert got[key].date == report.date
    assert result.report_date == report.date


@skip_in_baseline
@settings(max_examples=30, deadline=None, phases=_NO_SHRINK, derandomize=True)
@given(report=_reports(), cut=st.integers(1, 40))
def test_parse_report_never_raises_on_cut_pages(report: CorpusReport, cut: int) -> None:
    """A page cut anywhere still gives a result, and never a figure the page does not state,
    except from the number the cut text ends on: "— 4" cut from "— 4 073" looks complete to
    a reader of the page alone (the pipeline's plausibility check is what catches it)."""
    body = report.body[: max(1, len(report.body) - cut)]
    result = parse_report(body, media_type=report.media_type, file_name=report.file_name)
    stated = {(f.category, f.total) for f in report.figures}
    cut_text = body.decode("utf-8", errors="ignore")
    visible = re.sub(r"(<[^>]*>|<[^>]*$|\s)+$", "", cut_text)  # trailing tags, a cut tag
    tail_digits = re.sub(r"\D", "", visible[-16:])
    for observation in result.observations:
        if (observation.category, observation.total) in stated:
            continue
        assert visible[-1:].isdigit() and tail_digits.endswith(str(observation.total)), (
            cut_text[-120:], observation)


def test_corpus_can_be_written(tmp_path: Path) -> None:
    """The generator's command writes every report and its expectations."""
    from tests.corpus_real.generate import write_corpus

    written = write_corpus(tmp_path)
    assert len(list(tmp_path.glob("*.txt"))) + len(list(tmp_path.glob("*.html"))) == len(written)
    assert (tmp_path / "expectations.json").stat().st_size > 10_000


# --- the scorer itself (passes today: it judges the readers, so it must be right) ----------


def _tables_reading(corpus: list[CorpusReport], rows: list[dict[str, object]]) -> object:
    """Tables shaped like the projection's, holding the given observation rows."""
    import types

    import polars as pl

    from tests.corpus_real.harness import SOURCE_PREFIX

    observations = pl.DataFrame(rows, schema={
        "source": pl.String, "date": pl.Date, "category": pl.String, "total": pl.Int64,
        "stated_delta": pl.Int64, "date_source": pl.String, "retracted": pl.Boolean})
    reports = pl.DataFrame({"source": [SOURCE_PREFIX + r.id for r in corpus],
                            "status": ["parsed"] * len(corpus)})
    quarantine = pl.DataFrame(schema={"source": pl.String, "reason": pl.String})
    return types.SimpleNamespace(observations=observations, reports=reports,
                                 quarantine=quarantine)


def _perfect_rows(corpus: list[CorpusReport]) -> list[dict[str, object]]:
    from tests.corpus_real.harness import SOURCE_PREFIX

    return [{"source": SOURCE_PREFIX + r.id, "date": r.date, "category": f.category,
             "total": f.total, "stated_delta": f.stated_delta, "date_source": r.date_source,
             "retracted": False} for r in corpus for f in r.figures]


def test_scorer_gives_full_marks_to_a_perfect_reading() -> None:
    from tests.corpus_real.harness import score

    totals = score(CORPUS, _tables_reading(CORPUS, _perfect_rows(CORPUS))).totals()
    assert (totals["precision"], totals["recall"], totals["dates_right"],
            totals["deltas_right"]) == (1.0, 1.0, 1.0, 1.0)


def test_scorer_counts_each_kind_of_mistake() -> None:
    from tests.corpus_real.harness import score

    corpus = [r for r in CORPUS if r.distractors and len(r.figures) >= 3][:4]
    rows = _perfect_rows(corpus)
    first, second, third = [r for r in rows if r["source"] == f"corpus.{corpus[0].id}"][:3]
    first["category"] = "ships" if first["category"] != "ships" else "tanks"  # wrong category
    second["total"] = int(second["total"]) + 1  # wrong total (a digit slip)
    third["stated_delta"] = 999_999  # wrong change
    rows.append({**third, "category": corpus[0].distractors[0].category or "tanks",
                 "total": corpus[0].distractors[0].value, "stated_delta": None})
    late = next(r for r in rows if r["source"] == f"corpus.{corpus[1].id}")
    rows.remove(late)
    rows.append({**late, "date": corpus[1].date + dt.timedelta(days=1)})
    for row in rows:
        if row["source"] == f"corpus.{corpus[2].id}":
            row["date_source"] = "inferred" if corpus[2].date_source != "inferred" else "stated"
    scores = score(corpus, _tables_reading(corpus, rows))
    kinds = scores.false_positive_kinds()
    assert kinds["distractor"] == 1 and kinds["wrong_total"] + kinds["wrong_category"] == 2
    totals = scores.totals()
    assert totals["recall"] == 1 - 2 / totals["figures_expected"]
    assert totals["precision"] == (totals["figures_expected"] - 2) / (
        totals["figures_expected"] - 2 + 3)
    assert totals["dates_right"] == 1 - 2 / 4
    assert totals["deltas_right"] < 1.0
