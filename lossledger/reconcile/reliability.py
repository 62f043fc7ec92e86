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
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from lossledger.reconcile.copying import CopyPairs, PairCounts, value_ids

__all__ = [
    "LEARNED_SCHEMAS",
    "Learned",
    "Truth",
    "VoteKeys",
    "accuracies",
    "echoes",
    "learned_sources",
    "no_learning",
    "truth_discovery",
    "vote_keys",
]

_GROUP = ["source", "category", "year"]
_LEARNED = ("counts", "accuracy", "copies", "pairs")
#: The schemas of :class:`Learned`'s frames.
LEARNED_SCHEMAS = {
    "counts": pl.Schema({"source": pl.String, "category": pl.String, "year": pl.Int32,
                         "n": pl.Float64, "s": pl.Float64}),
    "accuracy": pl.Schema({"source": pl.String, "category": pl.String, "year": pl.Int32,
                           "accuracy": pl.Float64}),
    "copies": pl.Schema({"year": pl.Int32, "source": pl.String, "original": pl.String}),
    "pairs": pl.Schema({"year": pl.Int32, "source": pl.String, "other": pl.String,
                        "both": pl.Float64, "differ": pl.Float64, "shared_false": pl.Float64,
                        "source_rank": pl.Int64, "other_rank": pl.Int64}),
}
#: Sources per Int64 bit set in :func:`echoes`.
_WORD_BITS = 62


@dataclass(frozen=True, slots=True)
class Learned:
    """What truth discovery learned, year by year: enough to decide the later years again
    without the earlier ones' votes (see :func:`truth_discovery`'s ``before``)."""

    counts: pl.DataFrame
    """source, category, year, n, s: each year's votes in settled cells and expected true
    votes (settled cells, and the year's conflicts at its fixed point)."""
    accuracy: pl.DataFrame
    """source, category, year, accuracy: as each year was decided."""
    copies: pl.DataFrame
    """year, source, original: the copies each year was decided with."""
    pairs: pl.DataFrame
    """year, source, other, both, differ, shared_false, source_rank, other_rank: the pairs of
    sources' sums up to the end of each year (:class:`~lossledger.reconcile.copying.
    PairCounts`), for pairs that met."""

    def before(self, year: int) -> Learned:
        """What was learned of the years before ``year``."""
        early = pl.col("year") < year
        return Learned(*(getattr(self, name).filter(early) for name in _LEARNED))


@dataclass(frozen=True, slots=True)
class Truth:
    """What truth discovery settled on."""

    posteriors: pl.DataFrame
    """cell, total, score, independent (sources not copying another that gives the same
    value), posterior (0..1): one row per conflicting candidate."""
    source_accuracy: pl.DataFrame
    """source, accuracy: per source over everything it reported."""
    copies: pl.DataFrame
    """source, original: sources found to copy another."""
    learned: Learned
    """Per year: counts, accuracy, copies and pair sums (for a later window)."""
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
    before: Learned | None = None,
    learn_from: int | None = None,
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
    before, learn_from
        What a run over all the years before ``learn_from`` learned (:attr:`Truth.learned`):
        those years are not learned again. Their votes here (some of them) are decided with
        the accuracy and copies they were decided with, and their settled counts here are
        ignored (``before`` holds them all). The years from ``learn_from`` must come whole.

    Returns
    -------
    Truth
        ``posteriors`` of every year; ``source_accuracy`` and ``copies`` from the whole
        record (the last year's view); what was ``learned`` per year; ``iterations`` summed
        over the years.
    """
    if before is None or learn_from is None:
        before, learn_from = no_learning(), None
    else:
        before = before.before(learn_from)
    learning = pl.lit(True) if learn_from is None else pl.col("year") >= learn_from
    counts_fixed = settled_counts.filter(learning).select(
        *_GROUP, pl.col("n").cast(pl.Float64), pl.col("n").cast(pl.Float64).alias("s")
    )
    votes = conflict_votes.with_columns(
        pl.col("survives").cast(pl.Float64).alias("alive"),
    ).with_columns(
        (pl.col("alive") / pl.col("alive").sum().over("cell")).alias("p_true"),
        pl.col("series_decided").is_not_null().alias("settled"),
    )
    frozen_years = sorted(set(votes.filter(~learning).get_column("year").unique()))
    names = pl.Enum(
        pl.concat([votes.get_column("source").cast(pl.String),
                   before.pairs.get_column("source"), before.pairs.get_column("other")])
        .unique().sort()
    )
    pairs = _pair_counts(before.pairs, names)
    learned = before.counts
    posteriors, iterations = [], 0
    parts: dict[str, list[pl.DataFrame]] = {name: [] for name in ("accuracy", "copies", "pairs")}
    for year in frozen_years:
        # Decided as they were: with the accuracy and copies of their year.
        copies = before.copies.filter(pl.col("year") == year).drop("year")
        posteriors.append(candidate_posteriors(
            votes.filter(pl.col("year") == year),
            before.accuracy.filter(pl.col("year") == year), copies, false_values=false_values,
        ))
    years = sorted(
        set(counts_fixed.get_column("year").unique())
        | set(votes.filter(learning).get_column("year").unique())
    )
    options = {"prior": prior, "smoothing": smoothing}
    for year in years:
        # The earlier years' counts are final (settled and conflicts): ``learned``.
        fixed = _summed(pl.concat([counts_fixed.filter(pl.col("year") == year), learned]))
        of_year = votes.filter(pl.col("year") == year)
        if of_year.is_empty():
            per_group, _ = accuracies(fixed, **options)
            year_counts = counts_fixed.filter(pl.col("year") == year)
        else:
            step = _year_fixed_point(
                fixed, of_year, pairs, false_values=false_values,
                copy_min_shared=copy_min_shared, copy_min_share=copy_min_share,
                decide_probability=decide_probability, max_iterations=max_iterations,
                **options,
            )
            per_group, posterior, pairs, copies, conflict_counts, steps = step
            year_counts = _summed(pl.concat([
                counts_fixed.filter(pl.col("year") == year), conflict_counts
            ]))
            posteriors.append(posterior)
            parts["copies"].append(copies.select(pl.lit(year, pl.Int32).alias("year"), "*"))
            iterations += steps
        learned = pl.concat([learned, year_counts.select(learned.columns)])
        parts["accuracy"].append(per_group.filter(pl.col("year") == year))
        parts["pairs"].append(_pair_frame(pairs, year))
    _, per_source = accuracies(_summed(learned), **options)
    return Truth(
        posteriors=pl.concat(posteriors) if posteriors else _no_posteriors(votes),
        source_accuracy=per_source,
        copies=pairs.copies(min_shared=copy_min_shared, min_share=copy_min_share),
        learned=Learned(
            counts=_conform(_summed(learned), "counts").sort(_GROUP),
            **{
                name: _conform(pl.concat([getattr(before, name), *frames]), name)
                for name, frames in parts.items()
            },
        ),
        iterations=iterations,
    )


def learned_sources(
    learned: Learned, *, prior: float, smoothing: float, copy_min_shared: float,
    copy_min_share: float,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per source its accuracy over its whole record, and the copies (source, original) the
    pair sums up to the last year show: :attr:`Truth.source_accuracy` and
    :attr:`Truth.copies` of the run that ``learned`` it."""
    _, per_source = accuracies(learned.counts, prior=prior, smoothing=smoothing)
    names = pl.Enum(
        pl.concat([learned.pairs.get_column("source"), learned.pairs.get_column("other")])
        .unique().sort()
    )
    copies = _pair_counts(learned.pairs, names).copies(
        min_shared=copy_min_shared, min_share=copy_min_share
    )
    return per_source, copies


def no_learning() -> Learned:
    """A :class:`Learned` of no year."""
    return Learned(*(pl.DataFrame(schema=LEARNED_SCHEMAS[name]) for name in _LEARNED))


def _conform(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    schema = LEARNED_SCHEMAS[name]
    return frame.select(schema.names()).cast(dict(schema))


def _pair_counts(frame: pl.DataFrame, names: pl.Enum) -> PairCounts:
    """The :class:`PairCounts` of the last year of ``frame`` (:attr:`Learned.pairs`), laid
    out on ``names``."""
    counts = PairCounts.empty(names)
    if frame.is_empty():
        return counts
    last = frame.filter(pl.col("year") == pl.col("year").max())

    def code(name: str) -> np.ndarray:
        return last.get_column(name).cast(names).to_physical().cast(pl.Int64).to_numpy()

    a, b = code("source"), code("other")
    for matrix, column in ((counts.both, "both"), (counts.differ, "differ"),
                           (counts.shared_false, "shared_false")):
        values = last.get_column(column).to_numpy()
        matrix[a, b] = values
        matrix[b, a] = values
    counts.rank[a] = last.get_column("source_rank").to_numpy()
    counts.rank[b] = last.get_column("other_rank").to_numpy()
    return counts


def _pair_frame(counts: PairCounts, year: int) -> pl.DataFrame:
    """``counts`` as rows of :attr:`Learned.pairs` (pairs that met, each once)."""
    n = counts.rank.size
    a, b = np.triu_indices(n, k=1)
    met = counts.both[a, b] > 0
    a, b = a[met], b[met]
    names = counts.names.categories
    return pl.DataFrame({
        "year": pl.repeat(year, a.size, dtype=pl.Int32, eager=True),
        "source": names.gather(pl.Series(a, dtype=pl.Int64)),
        "other": names.gather(pl.Series(b, dtype=pl.Int64)),
        "both": counts.both[a, b],
        "differ": counts.differ[a, b],
        "shared_false": counts.shared_false[a, b],
        "source_rank": counts.rank[a],
        "other_rank": counts.rank[b],
    })


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
) -> tuple[pl.DataFrame, pl.DataFrame, PairCounts, pl.DataFrame, pl.DataFrame, int]:
    """Iterate accuracy, copying and candidate probabilities over one year's conflicting
    ``votes`` to a fixed point, given the ``fixed`` counts (settled votes of the year and
    before, and what earlier years' conflicts taught) and the pair counts ``before`` it.

    Returns the year's accuracy per group, the candidates' posteriors, the pair counts to
    carry, the copies the year was decided with, the conflict counts (source, category, year,
    n, s) to carry, and the iterations.
    """
    votes = votes.with_columns(value_ids())
    value_id = votes.get_column("value_id")
    # The source pairs meeting on a cell do not change from one iteration to the next, nor
    # do the votes' groups and the sources giving each value.
    pairs = CopyPairs(votes, names=before.names, before=before)
    keys = vote_keys(votes)
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
        posteriors = candidate_posteriors(
            votes, per_group, copies, false_values=false_values, keys=keys
        )
        agreed = (pl.col("posterior") >= decide_probability) & (pl.col("independent") >= 2)
        settled = pl.col("series_decided").is_not_null() | agreed.any().over("cell")
        updated = votes.drop("p_true", "settled").join(
            posteriors.select(
                "cell", "total", pl.col("posterior").alias("p_true"), settled.alias("settled")
            ),
            on=["cell", "total"],
            how="left",
            # Row for row: the pairs' value ids and the vote keys were worked out once.
            maintain_order="left",
        )
        moved = updated.select((pl.col("p_true") - votes["p_true"]).abs().max()).item()
        votes = updated
        if moved is None or moved < 1e-6:
            break
    learned = votes.group_by(_GROUP).agg(
        counted.sum().alias("n"), (pl.col("p_true") * counted).sum().alias("s")
    )
    carried = pairs.counts(value_id, votes.get_column("p_true"))
    return per_group, posteriors, carried, copies, learned.select(fixed.columns), iterations


def _summed(counts: pl.DataFrame) -> pl.DataFrame:
    """One row per group of ``counts`` (source, category, year, n, s)."""
    return counts.group_by(_GROUP).agg(pl.col("n").sum(), pl.col("s").sum())


def _no_posteriors(votes: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame(schema={
        "cell": votes.schema["cell"], "total": votes.schema["total"], "score": pl.Float64,
        "independent": pl.Int64, "series_decided": votes.schema["series_decided"],
        "posterior": pl.Float64,
    })


def candidate_posteriors(
    votes: pl.DataFrame,
    accuracy: pl.DataFrame,
    copies: pl.DataFrame,
    *,
    false_values: int,
    keys: VoteKeys | None = None,
) -> pl.DataFrame:
    """Return cell, total, score and posterior for every conflicting candidate.

    ``keys``: :func:`vote_keys` of ``votes``, when a fixed point asks again and again of
    the same votes (worked out here otherwise).
    """
    keys = keys if keys is not None else vote_keys(votes)
    log_n = math.log(false_values)
    # The accuracy of each vote's group, by the group's number (no join of the votes on
    # their names in every step of a fixed point).
    of_group = keys.groups.join(
        accuracy.select(*_GROUP, "accuracy"), on=_GROUP, how="left", maintain_order="left"
    ).get_column("accuracy")
    weighted = votes.with_columns(
        echoes(votes, copies, keys=keys).alias("echo"),
        of_group.gather(keys.group).alias("accuracy"),
    ).with_columns(
        pl.when("echo")
        .then(0.0)
        .otherwise(log_n + (pl.col("accuracy") / (1 - pl.col("accuracy"))).log())
        .alias("weight")
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


@dataclass(frozen=True, slots=True)
class VoteKeys:
    """What :func:`candidate_posteriors` and :func:`echoes` read of a set of votes besides
    the accuracies and copies: the same in every step of a fixed point over them."""

    groups: pl.DataFrame
    """source, category, year: the votes' groups, the ``i``-th numbered ``i``."""
    group: pl.Series
    """Per vote, the number of its group."""
    names: pl.Enum
    """The votes' sources, sorted."""
    src: np.ndarray
    """Per vote, its source's code in ``names``."""
    given: tuple[np.ndarray, ...]
    """Per word of :data:`_WORD_BITS` sources (codes ``first`` to ``first + 61``): per vote,
    the bit set of the word's sources giving the vote's value (bit ``code - first``)."""


def vote_keys(votes: pl.DataFrame) -> VoteKeys:
    """The :class:`VoteKeys` of ``votes`` (cell, total, source, category, year; and
    ``value_id``, else it is worked out).

    >>> votes = pl.DataFrame({"cell": [1, 1, 1], "total": [5, 5, 6], "source": ["b", "a", "c"],
    ...                       "category": ["tanks"] * 3, "year": [2024] * 3})
    >>> keys = vote_keys(votes)
    >>> keys.group.to_list(), keys.src.tolist(), keys.given[0].tolist()
    ([1, 0, 2], [1, 0, 2], [3, 3, 4])
    """
    names = pl.Enum(votes.get_column("source").unique().sort())
    numbered = votes.select(
        (pl.struct(_GROUP).rank("dense") - 1).cast(pl.UInt32).alias("group"),
        pl.col("value_id") if "value_id" in votes.columns else value_ids(),
        pl.col("source").cast(names).to_physical().cast(pl.Int64).alias("src"),
        *_GROUP,
    )
    groups = numbered.select("group", *_GROUP).unique("group").sort("group").drop("group")
    given = []
    for first in range(0, len(names.categories), _WORD_BITS):
        bit = _bits(first, len(names.categories))
        # One vote per (value, source): sums of distinct powers of two are the bit sets.
        given.append(numbered.select(
            bit("src").sum().over("value_id").alias("given")
        ).to_series().to_numpy())
    return VoteKeys(groups, numbered.get_column("group"), names,
                    numbered.get_column("src").to_numpy(), tuple(given))


def _bits(first: int, n_sources: int) -> Callable[[str], pl.Expr]:
    """An expression factory: a column of source codes as one bit each for the codes of the
    word from ``first`` (0 for the others)."""
    bits = {s: 1 << (s - first) for s in range(first, min(n_sources, first + _WORD_BITS))}

    def bit(name: str) -> pl.Expr:
        return pl.col(name).replace_strict(bits, default=0, return_dtype=pl.Int64)

    return bit


def echoes(
    votes: pl.DataFrame, copies: pl.DataFrame, *, keys: VoteKeys | None = None
) -> pl.Series:
    """Return, per vote, whether its source copies a source that gives the same value (a
    copier adds nothing to a value its original also gives).

    ``keys``: :func:`vote_keys` of ``votes`` (worked out here otherwise).
    """
    if not copies.height:
        return pl.repeat(False, votes.height, eager=True)
    # Early iterations may find every pair dependent: integer (value, source) keys, and one
    # bit per source (sets of up to 62 sources in one Int64 word), spare the copier-by-original
    # expansion: a vote is an echo when its value's sources and its source's originals meet.
    keys = keys if keys is not None else vote_keys(votes)
    n_sources = len(keys.names.categories)

    def code(name: str) -> pl.Expr:
        return pl.col(name).cast(keys.names).to_physical().cast(pl.Int64)

    pairs = copies.select(code("source").alias("src"), code("original").alias("original"))
    echo = np.zeros(votes.height, dtype=bool)
    for first, given in zip(range(0, n_sources, _WORD_BITS), keys.given, strict=True):
        bit = _bits(first, n_sources)
        # Per source code, the bit set of its originals in this word (0: none).
        originals = pairs.group_by("src").agg(bit("original").sum().alias("originals"))
        table = np.zeros(n_sources, dtype=np.int64)
        table[originals.get_column("src").to_numpy()] = originals.get_column(
            "originals").to_numpy()
        echo |= (given & table[keys.src]) != 0
    return pl.Series("echo", echo)
