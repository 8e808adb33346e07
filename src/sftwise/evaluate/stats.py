"""Confidence intervals and paired tests for evaluation scores, all seeded.

* :func:`bootstrap_ci`: percentile bootstrap over examples (default 1,000 resamples, 95 %), using the
  metric's own corpus aggregate on each resample, so BLEU's CI resamples sentence statistics rather
  than averaging sentence BLEU.
* :func:`paired_bootstrap`: both systems scored on the *same* resampled example indices; the p-value is
  sacrebleu's paired-bootstrap recipe (deltas re-centred on their mean, two-sided,
  ``p = (count + 1) / (B + 1)``).
* :func:`mcnemar_exact`: McNemar's test with the exact binomial distribution on the discordant pairs,
  equal to ``statsmodels.stats.contingency_tables.mcnemar(table, exact=True)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 12345

Aggregate = Callable[[np.ndarray], float]


def _indices(n: int, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(resamples, n))


def bootstrap_ci(
    aggregate: Aggregate, n: int, *, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, level: float = 0.95
) -> tuple[float, float]:
    """(low, high) percentile interval of ``aggregate`` over ``resamples`` resamples of ``n`` examples."""
    if n <= 0:
        return float("nan"), float("nan")
    values = np.array([aggregate(idx) for idx in _indices(n, resamples, seed)], dtype=float)
    values = values[~np.isnan(values)]
    if not values.size:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def mean_ci(values: Sequence[float | None], **kwargs) -> tuple[float, float]:
    """Bootstrap CI of the mean of ``values`` (``None`` skipped)."""
    arr = np.array([v for v in values if v is not None], dtype=float)
    return bootstrap_ci(lambda idx: float(arr[idx].mean()), arr.size, **kwargs)


class PairedResult(BaseModel):
    value_a: float
    value_b: float
    delta: float  # b - a
    ci_low: float
    ci_high: float
    p_value: float
    resamples: int
    seed: int


def paired_bootstrap(
    aggregate_a: Aggregate,
    aggregate_b: Aggregate,
    n: int,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> PairedResult:
    """Delta ``b - a`` with a paired bootstrap CI and a two-sided p-value for "no difference"."""
    full = np.arange(n)
    a0, b0 = aggregate_a(full), aggregate_b(full)
    observed = b0 - a0
    deltas = []
    for idx in _indices(n, resamples, seed):
        deltas.append(aggregate_b(idx) - aggregate_a(idx))
    d = np.array(deltas, dtype=float)
    d = d[~np.isnan(d)]
    if not d.size or math.isnan(observed):
        return PairedResult(value_a=a0, value_b=b0, delta=observed, ci_low=float("nan"), ci_high=float("nan"), p_value=float("nan"), resamples=resamples, seed=seed)
    alpha = (1 - level) / 2
    centred = np.abs(d - d.mean())
    p = (float(np.sum(centred >= abs(observed))) + 1) / (d.size + 1)
    return PairedResult(
        value_a=a0,
        value_b=b0,
        delta=observed,
        ci_low=float(np.quantile(d, alpha)),
        ci_high=float(np.quantile(d, 1 - alpha)),
        p_value=min(1.0, p),
        resamples=resamples,
        seed=seed,
    )


class McNemarResult(BaseModel):
    a_only: int  # A correct, B wrong
    b_only: int  # A wrong, B correct
    statistic: float
    p_value: float


def mcnemar_exact(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> McNemarResult:
    """Exact McNemar test on paired 0/1 outcomes (statsmodels ``mcnemar(exact=True)``)."""
    if len(correct_a) != len(correct_b):
        raise ValueError(f"paired outcomes differ in length: {len(correct_a)} vs {len(correct_b)}")
    a_only = sum(1 for a, b in zip(correct_a, correct_b) if a and not b)
    b_only = sum(1 for a, b in zip(correct_a, correct_b) if b and not a)
    k, total = min(a_only, b_only), a_only + b_only
    if total == 0:
        return McNemarResult(a_only=0, b_only=0, statistic=0.0, p_value=1.0)
    from scipy.stats import binom

    p = min(1.0, float(binom.cdf(k, total, 0.5)) * 2)
    return McNemarResult(a_only=a_only, b_only=b_only, statistic=float(k), p_value=p)
