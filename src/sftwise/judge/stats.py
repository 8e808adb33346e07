"""Agreement statistics between a judge and humans, each with a seeded percentile bootstrap CI.

The intervals come from the one bootstrap of :mod:`sftwise.evaluate.stats` (the paired items are
resampled together, row by row); this module holds only what is particular to calibration.

Cohen's kappa (plain and quadratic-weighted) is computed here with numpy so that 1,000 bootstrap
resamples stay fast; it equals ``sklearn.metrics.cohen_kappa_score`` (parity-tested). Spearman and
Kendall (tau-b) are scipy's. Every function takes paired sequences where ``None``/NaN marks a missing
value; pairs with a missing side are dropped, and the number kept is reported as ``n``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel, Field

from sftwise.evaluate.stats import DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, Estimate, estimate


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


def bootstrap(stat: Callable[..., float], *arrays: np.ndarray, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
              level: float = DEFAULT_LEVEL) -> Estimate:
    """``stat`` of paired ``arrays`` with a percentile bootstrap CI (rows resampled together across ``arrays``)."""
    return estimate(lambda idx: stat(*(a[idx] for a in arrays)), len(arrays[0]), resamples=resamples, seed=seed, level=level,
                    empty_note="no paired items", undefined_note="undefined on these data (a constant side or a single category)")


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
              resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> Agreement:
    """All the agreement statistics at once; ``labels`` is the rubric's scale (fixes the kappa categories)."""
    x, y = paired(judge, human)
    cats = sorted(set(float(v) for v in labels) | set(x.tolist()) | set(y.tolist()))

    def boot(fn: Callable[..., float]) -> Estimate:
        return bootstrap(fn, x, y, resamples=resamples, seed=seed)

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
