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
  ``max_iterations``);
* **the years are learned in turn, each from the record up to its end**: a year's fixed point
  reads the settled counts of that year and the years before, what the earlier years'
  conflicts taught (their converged counts), and the pairs of sources' sums up to it
  (:class:`lossledger.reconcile.copying.PairCounts`); never a later year. So a year is
  decided once and for all by what was known when it closed, and new reports can change
  their own year and the later ones only.

Settled cells only enter through per-(source, category, year) counts, so one step costs a few
group-bys over one year's conflicting cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from lossledger.reconcile.copying import CopyPairs, PairCounts, value_ids

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
    """Learn accuracy and copying year by year, each year from the record up to its end.

    A year's conflicting cells are decided by the fixed point of that year's votes (see
    :func:`_year_fixed_point`), with what earlier years settled carried as counts (accuracy)
    and sums (pairs of sources): never by what later years hold. So a year stays as it was
    decided when later reports arrive, and a new report can change only its own year and the
    years after it (:mod:`lossledger.reconcile.window`).

    Parameters
    ----------
    settled_counts
        source, category, year, n: votes in settled cells (all true by definition).
    conflict_votes
        One row per (cell, source) in conflicting cells: cell, source, rank, category, year,
        total, ``survives`` (bool, series evidence left it) and ``series_decided`` (null when
        the series left more than one candidate).

    Returns
    -------
    Truth
        ``posteriors`` of every year; ``accuracy`` per (source, category, year) as that year
        was decided; ``source_accuracy`` and ``copies`` from the whole record (the last
        year's view); ``iterations`` summed over the years.
    """
    counts_fixed = settled_counts.select(
        *_GROUP, pl.col("n").cast(pl.Float64), pl.col("n").cast(pl.Float64).alias("s")
    )
    votes = conflict_votes.with_columns(
        pl.col("survives").cast(pl.Float64).alias("alive"),
    ).with_columns(
        (pl.col("alive") / pl.col("alive").sum().over("cell")).alias("p_true"),
        pl.col("series_decided").is_not_null().alias("settled"),
    )
    names = pl.Enum(votes.get_column("source").unique().sort())
    pairs = PairCounts.empty(names)
    learned = counts_fixed.clear()
    years = sorted(
        set(counts_fixed.get_column("year").unique()) | set(votes.get_column("year").unique())
    )
    posteriors, accuracy, iterations = [], [], 0
    options = {"prior": prior, "smoothing": smoothing}
    for year in years:
        fixed = _summed(pl.concat([counts_fixed.filter(pl.col("year") <= year), learned]))
        of_year = votes.filter(pl.col("year") == year)
        if of_year.is_empty():
            per_group, _ = accuracies(fixed, **options)
        else:
            step = _year_fixed_point(
                fixed, of_year, pairs, false_values=false_values,
                copy_min_shared=copy_min_shared, copy_min_share=copy_min_share,
                decide_probability=decide_probability, max_iterations=max_iterations,
                **options,
            )
            per_group, posterior, pairs, year_counts, steps = step
            learned = pl.concat([learned, year_counts])
            posteriors.append(posterior)
            iterations += steps
        accuracy.append(per_group.filter(pl.col("year") == year))
    _, per_source = accuracies(_summed(pl.concat([counts_fixed, learned])), **options)
    return Truth(
        posteriors=pl.concat(posteriors) if posteriors else _no_posteriors(votes),
        accuracy=pl.concat(accuracy) if accuracy else _no_accuracy(),
        source_accuracy=per_source,
        copies=pairs.copies(min_shared=copy_min_shared, min_share=copy_min_share),
        iterations=iterations,
    )


def _year_fixed_point(
    fixed: pl.DataFrame,
    votes: pl.DataFrame,
    before: PairCounts,
    *,
    prior: float,
    smoothing: float,
    false_values: int,
    copy_min_shared: float,
    copy_min_share: float,
    decide_probability: float,
    max_iterations: int,
) -> tuple[pl.DataFrame, pl.DataFrame, PairCounts, pl.DataFrame, int]:
    """Iterate accuracy, copying and candidate probabilities over one year's conflicting
    ``votes`` to a fixed point, given the ``fixed`` counts (settled votes of the year and
    before, and what earlier years' conflicts taught) and the pair counts ``before`` it.

    Returns the year's accuracy per group, the candidates' posteriors, the pair counts and
    the conflict counts (source, category, year, n, s) to carry, and the iterations.
    """
    votes = votes.with_columns(value_ids())
    value_id = votes.get_column("value_id")
    # The source pairs meeting on a cell do not change from one iteration to the next.
    pairs = CopyPairs(votes, names=before.names, before=before)
    counted = pl.col("settled").cast(pl.Float64)
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007
        # Every group of the year appears (n = 0 where nothing is settled yet), so every
        # vote has an accuracy: the shrunk one of the level above when its own group taught
        # nothing.
        conflict_counts = votes.group_by(_GROUP).agg(
            counted.sum().alias("n"), (pl.col("p_true") * counted).sum().alias("s")
        )
        counts = (
            pl.concat([fixed, conflict_counts]).group_by(_GROUP)
            .agg(pl.col("n").sum(), pl.col("s").sum())
        )
        per_group, _ = accuracies(counts, prior=prior, smoothing=smoothing)
        copies = pairs.find(
            value_id, votes.get_column("p_true"),
            min_shared=copy_min_shared, min_share=copy_min_share,
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
        moved = updated.select((pl.col("p_true") - votes["p_true"]).abs().max()).item()
        votes = updated
        if moved is None or moved < 1e-6:
            break
    learned = votes.group_by(_GROUP).agg(
        counted.sum().alias("n"), (pl.col("p_true") * counted).sum().alias("s")
    )
    carried = pairs.counts(value_id, votes.get_column("p_true"))
    return per_group, posteriors, carried, learned.select(fixed.columns), iterations


def _summed(counts: pl.DataFrame) -> pl.DataFrame:
    """One row per group of ``counts`` (source, category, year, n, s)."""
    return counts.group_by(_GROUP).agg(pl.col("n").sum(), pl.col("s").sum())


def _no_posteriors(votes: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame(schema={
        "cell": votes.schema["cell"], "total": votes.schema["total"], "score": pl.Float64,
        "independent": pl.Int64, "series_decided": votes.schema["series_decided"],
        "posterior": pl.Float64,
    })


def _no_accuracy() -> pl.DataFrame:
    return pl.DataFrame(schema={"source": pl.String, "category": pl.String, "year": pl.Int32,
                                "accuracy": pl.Float64})


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
