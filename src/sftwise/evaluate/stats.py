"""The one bootstrap of sftwise: confidence intervals and paired tests, all seeded.

Every interval in sftwise (metric CIs in ``eval``, deltas in ``compare``, judge scores and
judge-human agreement in ``judge`` and ``calibrate``) comes from the same resampling here, so the
same seed draws the same example indices everywhere.

* :func:`bootstrap_draws`: the statistic on each seeded resample of the examples (default 1,000);
  the statistic is a function of the resampled *indices*, so a metric uses its own corpus aggregate
  on each resample (BLEU's CI resamples sentence statistics rather than averaging sentence BLEU) and
  paired data is resampled row by row.
* :func:`bootstrap_ci`: the percentile interval of those draws (95 % by default).
* :func:`estimate` / :func:`mean_ci`: the statistic on all examples with its interval, as an
  :class:`Estimate` that says why when there is no value or no interval.
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
DEFAULT_SEED = 0  # the --seed default of every command
DEFAULT_LEVEL = 0.95

Aggregate = Callable[[np.ndarray], float]


def _indices(n: int, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(resamples, n))


def bootstrap_draws(aggregate: Aggregate, n: int, *, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> np.ndarray:
    """``aggregate`` on each of ``resamples`` seeded resamples of ``n`` examples; undefined (NaN) draws dropped."""
    if n <= 0:
        return np.zeros(0)
    values = np.array([aggregate(idx) for idx in _indices(n, resamples, seed)], dtype=float)
    return values[~np.isnan(values)]


def _percentiles(draws: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1 - level) / 2
    return float(np.quantile(draws, alpha)), float(np.quantile(draws, 1 - alpha))


def bootstrap_ci(
    aggregate: Aggregate, n: int, *, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, level: float = DEFAULT_LEVEL
) -> tuple[float, float]:
    """(low, high) percentile interval of ``aggregate`` over ``resamples`` resamples of ``n`` examples (NaN when none is defined)."""
    draws = bootstrap_draws(aggregate, n, resamples=resamples, seed=seed)
    if not draws.size:
        return float("nan"), float("nan")
    return _percentiles(draws, level)


class Estimate(BaseModel):
    """A statistic with its bootstrap CI; ``value`` is None when not computable, with ``note`` saying why."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    note: str = ""

    def fmt(self, digits: int = 3) -> str:
        if self.value is None:
            return f"n/a ({self.note})" if self.note else "n/a"
        ci = f" [{self.ci_low:.{digits}f}, {self.ci_high:.{digits}f}]" if self.ci_low is not None and self.ci_high is not None else ""
        return f"{self.value:.{digits}f}{ci}"


def estimate(
    aggregate: Aggregate,
    n: int,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    empty_note: str = "no items",
    undefined_note: str = "undefined on these data",
) -> Estimate:
    """``aggregate`` over all ``n`` examples with its percentile CI.

    A statistic that is undefined on more than half the resamples (kappa on resamples that hold a
    single category, say) gets no interval rather than one built from the few resamples it survived.
    """
    if n <= 0:
        return Estimate(value=None, n=0, note=empty_note)
    value = float(aggregate(np.arange(n)))
    if math.isnan(value):
        return Estimate(value=None, n=n, note=undefined_note)
    draws = bootstrap_draws(aggregate, n, resamples=resamples, seed=seed)
    if draws.size < resamples // 2:
        return Estimate(value=value, n=n, note="CI not computable: too many degenerate resamples")
    low, high = _percentiles(draws, level)
    return Estimate(value=value, ci_low=low, ci_high=high, n=n)


def mean_ci(values: Sequence[float | None], *, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
            level: float = DEFAULT_LEVEL) -> Estimate:
    """Mean of the values with its percentile bootstrap CI; ``None`` and NaN are missing and skipped."""
    arr = np.array([v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], dtype=float)
    return estimate(lambda idx: float(arr[idx].mean()), arr.size, resamples=resamples, seed=seed, level=level, empty_note="no scored items")


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
    level: float = DEFAULT_LEVEL,
) -> PairedResult:
    """Delta ``b - a`` with a paired bootstrap CI and a two-sided p-value for "no difference"."""
    full = np.arange(n)
    a0, b0 = aggregate_a(full), aggregate_b(full)
    observed = b0 - a0
    d = bootstrap_draws(lambda idx: aggregate_b(idx) - aggregate_a(idx), n, resamples=resamples, seed=seed)
    if not d.size or math.isnan(observed):
        return PairedResult(value_a=a0, value_b=b0, delta=observed, ci_low=float("nan"), ci_high=float("nan"), p_value=float("nan"), resamples=resamples, seed=seed)
    centred = np.abs(d - d.mean())
    p = (float(np.sum(centred >= abs(observed))) + 1) / (d.size + 1)
    low, high = _percentiles(d, level)
    return PairedResult(
        value_a=a0,
        value_b=b0,
        delta=observed,
        ci_low=low,
        ci_high=high,
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
