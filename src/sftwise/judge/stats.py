"""Agreement statistics between a judge and humans, each with a seeded percentile bootstrap CI.

Cohen's kappa (plain and quadratic-weighted) is computed here with numpy so that 1,000 bootstrap
resamples stay fast; it equals ``sklearn.metrics.cohen_kappa_score`` (parity-tested). Spearman and
Kendall (tau-b) are scipy's. Every function takes paired sequences where ``None``/NaN marks a missing
value; pairs with a missing side are dropped, and the number kept is reported as ``n``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel, Field

N_RESAMPLES = 1000
SEED = 12345


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


def paired(a: Sequence[float | None], b: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    """Drop pairs where either side is missing."""
    if len(a) != len(b):
        raise ValueError(f"paired statistics need equal lengths, got {len(a)} and {len(b)}")
    x = np.array([np.nan if v is None else float(v) for v in a], dtype=float)
    y = np.array([np.nan if v is None else float(v) for v in b], dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def cohen_kappa(x: np.ndarray, y: np.ndarray, weights: str | None = None, labels: Sequence[float] | None = None) -> float:
    """Cohen's kappa as scikit-learn defines it (``weights`` None, "linear" or "quadratic")."""
    cats = np.array(sorted(set(labels) if labels is not None else set(x.tolist()) | set(y.tolist())), dtype=float)
    k = len(cats)
    if k < 2 or len(x) == 0:
        return float("nan")
    xi = np.searchsorted(cats, x)
    yi = np.searchsorted(cats, y)
    confusion = np.zeros((k, k))
    np.add.at(confusion, (xi, yi), 1)
    expected = np.outer(confusion.sum(axis=1), confusion.sum(axis=0)) / confusion.sum()
    idx = np.arange(k)
    if weights is None:
        w = 1.0 - np.eye(k)
    elif weights == "linear":
        w = np.abs(idx[:, None] - idx[None, :]).astype(float)
    elif weights == "quadratic":
        w = ((idx[:, None] - idx[None, :]) ** 2).astype(float)
    else:
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    denom = (w * expected).sum()
    if denom == 0:
        return float("nan")
    return float(1.0 - (w * confusion).sum() / denom)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: Pearson's r of the average ranks (scipy's ``spearmanr``)."""
    from scipy.stats import rankdata

    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def kendall(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (scipy's ``kendalltau`` default), O(n^2) in numpy: fast for the few hundred items labelled."""
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    upper = np.triu_indices(len(x), 1)
    sx, sy = dx[upper], dy[upper]
    num = float(np.sum(sx * sy))
    denom = np.sqrt(float(np.count_nonzero(sx)) * float(np.count_nonzero(sy)))
    return num / denom if denom else float("nan")


def exact_agreement(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(x == y)) if len(x) else float("nan")


def within_one(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(x - y) <= 1)) if len(x) else float("nan")


def bias(x: np.ndarray, y: np.ndarray) -> float:
    """Mean of judge minus human (x is the judge): positive means the judge is more lenient."""
    return float(np.mean(x - y)) if len(x) else float("nan")


def bootstrap(stat: Callable[..., float], *arrays: np.ndarray, n_resamples: int = N_RESAMPLES, seed: int = SEED,
              confidence: float = 0.95) -> Estimate:
    """Percentile bootstrap over items (rows resampled together across ``arrays``)."""
    n = len(arrays[0])
    if n == 0:
        return Estimate(value=None, n=0, note="no paired items")
    value = stat(*arrays)
    if math.isnan(value):
        return Estimate(value=None, n=n, note="undefined on these data (a constant side or a single category)")
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_resamples):
        idx = rng.integers(0, n, n)
        v = stat(*(a[idx] for a in arrays))
        if not math.isnan(v):
            draws.append(v)
    if len(draws) < n_resamples // 2:
        return Estimate(value=value, n=n, note="CI not computable: too many degenerate resamples")
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(draws, [alpha, 1 - alpha])
    return Estimate(value=value, ci_low=float(lo), ci_high=float(hi), n=n)


def mean_ci(values: Sequence[float | None], n_resamples: int = N_RESAMPLES, seed: int = SEED) -> Estimate:
    """Mean of the non-missing values with a percentile bootstrap CI."""
    arr = np.array([v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], dtype=float)
    if len(arr) == 0:
        return Estimate(value=None, n=0, note="no scored items")
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, len(arr), (n_resamples, len(arr)))].mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return Estimate(value=float(arr.mean()), ci_low=float(lo), ci_high=float(hi), n=len(arr))


class Confusion(BaseModel):
    labels: list[float]
    matrix: list[list[int]] = Field(description="rows: human label, columns: judge label")


def confusion(judge: np.ndarray, human: np.ndarray, labels: Sequence[float]) -> Confusion:
    cats = sorted(float(v) for v in labels)
    index = {v: i for i, v in enumerate(cats)}
    m = [[0] * len(cats) for _ in cats]
    for j, h in zip(judge.tolist(), human.tolist()):
        if j in index and h in index:
            m[index[h]][index[j]] += 1
    return Confusion(labels=cats, matrix=m)


class Agreement(BaseModel):
    """How two raters (a judge and humans, or two humans) agree on the same items."""

    n: int
    exact: Estimate
    within_one: Estimate
    kappa: Estimate
    kappa_quadratic: Estimate
    spearman: Estimate
    kendall: Estimate
    bias: Estimate
    confusion: Confusion


def agreement(judge: Sequence[float | None], human: Sequence[float | None], labels: Sequence[float],
              n_resamples: int = N_RESAMPLES, seed: int = SEED) -> Agreement:
    """All the agreement statistics at once; ``labels`` is the rubric's scale (fixes the kappa categories)."""
    x, y = paired(judge, human)
    cats = sorted(set(float(v) for v in labels) | set(x.tolist()) | set(y.tolist()))

    def boot(fn: Callable[..., float]) -> Estimate:
        return bootstrap(fn, x, y, n_resamples=n_resamples, seed=seed)

    return Agreement(
        n=len(x),
        exact=boot(exact_agreement),
        within_one=boot(within_one),
        kappa=boot(lambda a, b: cohen_kappa(a, b, None, cats)),
        kappa_quadratic=boot(lambda a, b: cohen_kappa(a, b, "quadratic", cats)),
        spearman=boot(spearman),
        kendall=boot(kendall),
        bias=boot(bias),
        confusion=confusion(x, y, cats),
    )
