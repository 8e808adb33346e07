"""The agreement statistics equal scikit-learn's and scipy's on the same inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from sftwise.evaluate.stats import bootstrap_ci, mean_ci
from sftwise.judge.stats import agreement, bootstrap, bias, cohen_kappa, exact_agreement, kendall, paired, spearman

pairs = st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=3, max_size=60)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
@settings(max_examples=150, deadline=None)
@given(pairs, st.sampled_from([None, "linear", "quadratic"]))
def test_kappa_equals_sklearn(data, weights):
    x = np.array([a for a, _ in data], dtype=float)
    y = np.array([b for _, b in data], dtype=float)
    ours = cohen_kappa(x, y, weights, labels=[1, 2, 3, 4, 5])
    with np.errstate(all="ignore"):
        theirs = cohen_kappa_score(x, y, weights=weights, labels=[1, 2, 3, 4, 5])
    if math.isnan(theirs):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(theirs, abs=1e-12)


def test_kappa_without_labels_uses_observed_categories():
    x = np.array([0, 1, 1, 0, 1, 1, 0, 1], dtype=float)
    y = np.array([0, 1, 0, 0, 1, 1, 1, 1], dtype=float)
    assert cohen_kappa(x, y) == pytest.approx(cohen_kappa_score(x, y))
    assert cohen_kappa(x, y, "quadratic") == pytest.approx(cohen_kappa_score(x, y, weights="quadratic"))


@settings(max_examples=100, deadline=None)
@given(pairs)
def test_correlations_equal_scipy(data):
    x = np.array([a for a, _ in data], dtype=float)
    y = np.array([b for _, b in data], dtype=float)
    if np.all(x == x[0]) or np.all(y == y[0]):
        assert math.isnan(spearman(x, y)) and math.isnan(kendall(x, y))
        return
    assert spearman(x, y) == pytest.approx(sps.spearmanr(x, y).statistic, abs=1e-12)
    assert kendall(x, y) == pytest.approx(sps.kendalltau(x, y).statistic, abs=1e-12)


def test_agreement_report_matches_references_and_drops_missing():
    rng = np.random.default_rng(3)
    human = rng.integers(1, 6, 200).astype(float)
    judge = np.clip(human + rng.choice([-1, 0, 0, 0, 1], 200), 1, 5)
    judge_list = [None if i % 17 == 0 else float(v) for i, v in enumerate(judge)]
    a = agreement(judge_list, human.tolist(), labels=[1, 2, 3, 4, 5], resamples=300)
    x, y = paired(judge_list, human.tolist())
    assert a.n == len(x) == 200 - len(range(0, 200, 17))
    assert a.exact.value == pytest.approx(np.mean(x == y))
    assert a.within_one.value == pytest.approx(np.mean(np.abs(x - y) <= 1))
    assert a.kappa.value == pytest.approx(cohen_kappa_score(x, y, labels=[1, 2, 3, 4, 5]))
    assert a.kappa_quadratic.value == pytest.approx(cohen_kappa_score(x, y, weights="quadratic", labels=[1, 2, 3, 4, 5]))
    assert a.spearman.value == pytest.approx(sps.spearmanr(x, y).statistic)
    assert a.kendall.value == pytest.approx(sps.kendalltau(x, y).statistic)
    assert a.bias.value == pytest.approx(np.mean(x - y))
    # confusion: rows human, columns judge (sklearn: rows y_true, columns y_pred)
    assert np.array_equal(np.array(a.confusion.matrix), confusion_matrix(y, x, labels=[1, 2, 3, 4, 5]))
    for est in (a.exact, a.kappa, a.kappa_quadratic, a.spearman, a.kendall, a.bias):
        assert est.ci_low <= est.value <= est.ci_high


def test_bootstrap_matches_scipy_percentile_interval_and_is_seeded():
    rng = np.random.default_rng(0)
    data = rng.normal(3, 1, 150)
    ours = mean_ci(data.tolist(), resamples=4000, seed=1)
    theirs = sps.bootstrap((data,), np.mean, n_resamples=4000, method="percentile", random_state=1).confidence_interval
    assert ours.value == pytest.approx(data.mean())
    assert ours.ci_low == pytest.approx(theirs.low, abs=0.03)
    assert ours.ci_high == pytest.approx(theirs.high, abs=0.03)
    assert mean_ci(data.tolist(), seed=5) == mean_ci(data.tolist(), seed=5)


def test_judge_and_eval_intervals_come_from_the_same_resamples():
    rng = np.random.default_rng(3)
    x, y = rng.integers(1, 6, 80).astype(float), rng.integers(1, 6, 80).astype(float)
    judged = bootstrap(bias, x, y, resamples=500, seed=9)
    evaluated = bootstrap_ci(lambda idx: bias(x[idx], y[idx]), len(x), resamples=500, seed=9)
    assert (judged.ci_low, judged.ci_high) == evaluated
    scores = mean_ci((x - y).tolist(), resamples=500, seed=9)
    assert (scores.ci_low, scores.ci_high) == evaluated


def test_degenerate_inputs_say_not_computable():
    x = np.ones(10)
    y = np.arange(10, dtype=float)
    est = bootstrap(spearman, x, y)
    assert est.value is None and "constant" in est.note
    assert bootstrap(exact_agreement, np.array([]), np.array([])).note == "no paired items"
    assert mean_ci([None, None]).value is None
