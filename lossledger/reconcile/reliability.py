"""Source reliability learned from the data itself (truth discovery).

The model is Dong, Berti-Equille and Srivastava's (VLDB 2009), a refinement of TruthFinder
(Yin, Han and Yu, KDD 2007):

* a source's accuracy ``A`` is the expected share of its values that are true, estimated per
  (source, category, year) and shrunk towards the source's accuracy in that category, which is
  shrunk towards the source's overall accuracy, which is shrunk towards ``prior_accuracy``
  (``smoothing`` pseudo-observations at each level), so a source seen on few cells is judged
  mostly by its record elsewhere;
* a value's vote is the sum over its *independent* sources of ``ln(n A / (1 - A))``, ``n``
  being the number of plausible false values (:attr:`ReconcilePolicy.false_values`); a source
  found to copy another (:class:`lossledger.reconcile.copying.CopyPairs`) adds nothing to a
  value its original also gives;
* the probability that a candidate is the truth is the softmax of the votes over the
  candidates the series evidence left (:mod:`lossledger.reconcile.evidence`), 1 for the one
  candidate of a cell the series decided, 1 for the value of a settled cell;
* accuracy is learned from the *settled* consensus only: cells all sources agree on, cells
  the series evidence decided, and cells where at least two independent sources agree with
  probability ``decide_probability``. Contested cells teach nothing (otherwise a source would
  grow more reliable by winning the very coin tosses its reliability decides);
* accuracy, copying and probabilities are recomputed in turn until the probabilities move by
  less than ``1e-6`` (a fixed point: the settled set no longer changes; at most
  ``max_iterations``).

Settled cells only enter through per-(source, category, year) counts, so one step costs a few
group-bys over the conflicting cells. The step is global: every observation can move every
accuracy a little, which is why it is kept apart from the per-cell decision (a run over a
window of dates recomputes it from the counts, then decides only the window's cells).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from lossledger.reconcile.copying import CopyPairs, value_ids

__all__ = ["Truth", "accuracies", "echoes", "truth_discovery"]

_GROUP = ["source", "category", "year"]
#: Sources per Int64 bit set in :func:`echoes`.
_WORD_BITS = 62


@dataclass(frozen=True, slots=True)
class Truth:
    """What truth discovery settled on."""

    posteriors: pl.DataFrame
    """cell, total, score, independent (sources not copying another that gives the same
    value), posterior (0..1): one row per conflicting candidate."""
    accuracy: pl.DataFrame
    """source, category, year, accuracy: per group of votes."""
    source_accuracy: pl.DataFrame
    """source, accuracy: per source over everything it reported."""
    copies: pl.DataFrame
    """source, original: sources found to copy another."""
    iterations: int


def accuracies(
    counts: pl.DataFrame, *, prior: float, smoothing: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return per-group and per-source accuracy from ``counts`` (source, category, year,
    ``n`` votes, ``s`` expected true votes), shrunk level by level (see the module docstring).
    """
    k = smoothing
    by_source = counts.group_by("source").agg(pl.col("n").sum(), pl.col("s").sum())
    by_source = by_source.select(
        "source", ((pl.col("s") + k * prior) / (pl.col("n") + k)).alias("a_source")
    )
    by_category = (
        counts.group_by("source", "category")
        .agg(pl.col("n").sum(), pl.col("s").sum())
        .join(by_source, on="source")
        .select(
            "source",
            "category",
            ((pl.col("s") + k * pl.col("a_source")) / (pl.col("n") + k)).alias("a_category"),
        )
    )
    per_group = counts.join(by_category, on=["source", "category"]).select(
        *_GROUP,
        ((pl.col("s") + k * pl.col("a_category")) / (pl.col("n") + k))
        .clip(0.01, 0.9999)
        .round(12)
        .alias("accuracy"),
    )
    by_source = by_source.with_columns(pl.col("a_source").round(12))
    return per_group, by_source.rename({"a_source": "accuracy"}).sort("source")


def truth_discovery(
    settled_counts: pl.DataFrame,
    conflict_votes: pl.DataFrame,
    *,
    prior: float,
    smoothing: float,
    false_values: int,
    copy_min_shared: float,
    copy_min_share: float,
    decide_probability: float,
    max_iterations: int = 30,
) -> Truth:
    """Iterate accuracy, copying and candidate probabilities to a fixed point.

    Parameters
    ----------
    settled_counts
        source, category, year, n: votes in settled cells (all true by definition).
    conflict_votes
        One row per (cell, source) in conflicting cells: cell, source, rank, category, year,
        total, ``survives`` (bool, series evidence left it) and ``series_decided`` (null when
        the series left more than one candidate).
    """
    counts_fixed = settled_counts.with_columns(
        pl.col("n").cast(pl.Float64), pl.col("n").cast(pl.Float64).alias("s")
    )
    votes = conflict_votes.with_columns(
        pl.col("survives").cast(pl.Float64).alias("alive"),
    ).with_columns(
        (pl.col("alive") / pl.col("alive").sum().over("cell")).alias("p_true"),
        pl.col("series_decided").is_not_null().alias("settled"),
        value_ids(),
    )
    # The source pairs meeting on a cell do not change from one iteration to the next.
    pairs = CopyPairs(votes) if votes.height else None
    candidates = votes.select("cell", "total", "survives", "series_decided").unique(
        ["cell", "total"]
    )
    empty_copies = pl.DataFrame(schema={"source": pl.String, "original": pl.String})
    copies = empty_copies
    iterations = 0
    posteriors = candidates.select(
        "cell", "total", pl.lit(0.0).alias("score"), pl.lit(0, pl.Int64).alias("independent"),
        pl.lit(1.0).alias("posterior"),
    )
    per_group, per_source = accuracies(
        counts_fixed.select(*_GROUP, "n", "s"), prior=prior, smoothing=smoothing
    )
    for iterations in range(1, max_iterations + 1):  # noqa: B007
        # Every group appears (n = 0 where nothing is settled yet), so every vote has an
        # accuracy: the shrunk one of the level above when its own group taught nothing.
        counted = pl.col("settled").cast(pl.Float64)
        conflict_counts = votes.group_by(_GROUP).agg(
            counted.sum().alias("n"), (pl.col("p_true") * counted).sum().alias("s")
        )
        counts = (
            pl.concat([counts_fixed.select(*_GROUP, "n", "s"), conflict_counts])
            .group_by(_GROUP)
            .agg(pl.col("n").sum(), pl.col("s").sum())
        )
        per_group, per_source = accuracies(counts, prior=prior, smoothing=smoothing)
        copies = (
            pairs.find(
                votes.get_column("value_id"), votes.get_column("p_true"),
                min_shared=copy_min_shared, min_share=copy_min_share,
            )
            if pairs is not None
            else empty_copies
        )
        posteriors = candidate_posteriors(votes, per_group, copies, false_values=false_values)
        agreed = (pl.col("posterior") >= decide_probability) & (pl.col("independent") >= 2)
        settled = pl.col("series_decided").is_not_null() | agreed.any().over("cell")
        updated = votes.drop("p_true", "settled").join(
            posteriors.select(
                "cell", "total", pl.col("posterior").alias("p_true"), settled.alias("settled")
            ),
            on=["cell", "total"],
            how="left",
        )
        moved = (
            updated.select((pl.col("p_true") - votes["p_true"]).abs().max()).item()
            if votes.height
            else 0.0
        )
        votes = updated
        if moved is None or moved < 1e-6:
            break
    return Truth(posteriors, per_group, per_source, copies, iterations)


def candidate_posteriors(
    votes: pl.DataFrame, accuracy: pl.DataFrame, copies: pl.DataFrame, *, false_values: int
) -> pl.DataFrame:
    """Return cell, total, score and posterior for every conflicting candidate."""
    log_n = math.log(false_values)
    weighted = (
        votes.with_columns(echoes(votes, copies).alias("echo"))
        .join(accuracy, on=_GROUP, how="left")
        .with_columns(
            pl.when("echo")
            .then(0.0)
            .otherwise(log_n + (pl.col("accuracy") / (1 - pl.col("accuracy"))).log())
            .alias("weight")
        )
    )
    scores = weighted.group_by("cell", "total").agg(
        pl.col("series_decided").first(),
        pl.col("weight").sum().alias("score"),
        (~pl.col("echo")).sum().cast(pl.Int64).alias("independent"),
        pl.col("survives").first(),
    )
    best = pl.when(pl.col("survives")).then("score").max().over("cell")
    exp = pl.when(pl.col("survives")).then((pl.col("score") - best).exp()).otherwise(0.0)
    return scores.with_columns(exp.alias("_e")).select(
        "cell",
        "total",
        "score",
        "independent",
        "series_decided",
        # Rounded so that float sums in another order (another input order) cannot flip a
        # comparison.
        (pl.col("_e") / pl.col("_e").sum().over("cell")).round(9).alias("posterior"),
    )


def echoes(votes: pl.DataFrame, copies: pl.DataFrame) -> pl.Series:
    """Return, per vote, whether its source copies a source that gives the same value (a
    copier adds nothing to a value its original also gives)."""
    if not copies.height:
        return pl.repeat(False, votes.height, eager=True)
    # Early iterations may find every pair dependent: integer (value, source) keys, and one
    # bit per source (sets of up to 62 sources in one Int64 word), spare the copier-by-original
    # expansion: a vote is an echo when its value's sources and its source's originals meet.
    names = pl.Enum(votes.get_column("source").unique().sort())

    def code(name: str) -> pl.Expr:
        return pl.col(name).cast(names).to_physical().cast(pl.Int64)

    value = pl.col("value_id") if "value_id" in votes.columns else value_ids()
    keys = votes.select(value.alias("value_id"), code("source").alias("src"))
    pairs = copies.select(code("source").alias("src"), code("original").alias("original"))
    n_sources = len(names.categories)
    echo = pl.repeat(False, votes.height, eager=True)
    for first in range(0, n_sources, _WORD_BITS):
        bits = {s: 1 << (s - first) for s in range(first, min(n_sources, first + _WORD_BITS))}

        def bit(name: str, bits: dict[int, int] = bits) -> pl.Expr:
            return pl.col(name).replace_strict(bits, default=0, return_dtype=pl.Int64)

        # One vote per (value, source) and one row per (source, original): sums of distinct
        # powers of two are the bit sets.
        given = keys.group_by("value_id").agg(bit("src").sum().alias("given"))
        originals = pairs.group_by("src").agg(bit("original").sum().alias("originals"))
        meets = (
            keys.join(given, on="value_id", how="left", maintain_order="left")
            .join(originals, on="src", how="left", maintain_order="left")
            .select((pl.col("given") & pl.col("originals").fill_null(0)) != 0)
            .to_series()
        )
        echo = echo | meets
    return echo.alias("echo")
