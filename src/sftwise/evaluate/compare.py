"""``compare()``: is system B really better than system A, on which examples, and by how much beyond noise?

The first results directory is the baseline; every other one is compared with it on the examples the
two share (matched by ``id``; examples in only one are counted, not scored). For every metric both
summaries hold:

* the delta ``B - A`` of the corpus score with a paired bootstrap 95 % CI and p-value (both systems
  scored on the same resampled examples; BLEU, chrF and macro-F1 are re-aggregated from their
  statistics on each resample, every other metric is a mean of per-example scores, judge scores
  included);
* for 0/1 metrics (exact match, accuracy, math accuracy, JSON validity) also McNemar's exact test,
  the standard test for two classifiers on the same items;
* win / tie / loss counts on the per-example scores;
* the examples that moved most in each direction on the first metric.

A metric whose signatures differ between A and B (different normalisation, tokenizer, stemmer) is
still compared but flagged: the numbers are not comparable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from sftwise.evaluate.results import EvalSummary, Prediction, read_results
from sftwise.evaluate.stats import DEFAULT_RESAMPLES, DEFAULT_SEED, McNemarResult, mcnemar_exact, paired_bootstrap
from sftwise.errors import ParameterError, SftwiseError, require_at_least

RECOMPUTED = ("bleu", "chrf", "macro_f1")


class MetricDelta(BaseModel):
    metric: str
    value_a: float
    value_b: float
    delta: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    test: str  # "paired-bootstrap" or "mcnemar-exact"
    bootstrap_p_value: float | None = None
    mcnemar: McNemarResult | None = None
    wins: int = 0  # B better than A
    ties: int = 0
    losses: int = 0
    n: int = 0
    comparable: bool = True
    signature_a: str = ""
    signature_b: str = ""


class ChangedExample(BaseModel):
    id: str
    metric: str
    score_a: float | None
    score_b: float | None
    delta: float
    prompt: str
    reference: str | None
    prediction_a: str | None
    prediction_b: str | None


class PairComparison(BaseModel):
    a: str
    b: str
    model_a: str
    model_b: str
    n_common: int
    only_in_a: int
    only_in_b: int
    metrics: list[MetricDelta] = Field(default_factory=list)
    improved: list[ChangedExample] = Field(default_factory=list)
    regressed: list[ChangedExample] = Field(default_factory=list)


class ComparisonReport(BaseModel):
    baseline: str
    comparisons: list[PairComparison]
    resamples: int
    seed: int


def _prompt_text(p: Prediction) -> str:
    for message in reversed(p.messages):
        if message.get("role") == "user":
            return message.get("content", "")
    return ""


def _is_binary(values: Sequence[float | None]) -> bool:
    seen = [v for v in values if v is not None]
    return bool(seen) and all(v in (0.0, 1.0) for v in seen)


def _aggregate(metric: str, preds: list[Prediction], summary: EvalSummary):
    """The function from resampled indices to the corpus score of ``metric`` over ``preds``."""
    if metric in RECOMPUTED:
        from sftwise.evaluate.metrics import compute
        from sftwise.evaluate.runner import options_from_dict

        options = options_from_dict(summary.settings.get("metric_options"))
        # a failed generation is unscored, as in the summary: its reference is withheld
        return compute(metric, [p.prediction for p in preds], [None if p.error else p.reference for p in preds], options).aggregate
    values = np.array([np.nan if p.scores.get(metric) is None else float(p.scores[metric]) for p in preds], dtype=float)

    def aggregate(idx: np.ndarray) -> float:
        sample = values[idx]
        sample = sample[~np.isnan(sample)]
        return float(sample.mean()) if sample.size else float("nan")

    return aggregate


def _strip_bootstrap(signature: str) -> str:
    return "|".join(part for part in signature.split("|") if not part.startswith(("bs:", "rs:")))


def compare_pair(
    a: tuple[str, EvalSummary, list[Prediction]],
    b: tuple[str, EvalSummary, list[Prediction]],
    *,
    metrics: Sequence[str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    top: int = 5,
) -> PairComparison:
    name_a, sum_a, preds_a = a
    name_b, sum_b, preds_b = b
    by_id_b = {p.id: p for p in preds_b}
    ids_a = {p.id for p in preds_a}
    common = [(p, by_id_b[p.id]) for p in preds_a if p.id in by_id_b]
    if not common:
        raise SftwiseError(f"{name_a} and {name_b} share no example ids; were they evaluated on the same data?")
    shared = [m for m in sum_a.metrics if m in sum_b.metrics]
    if metrics:
        missing = [m for m in metrics if m not in shared]
        if missing:
            raise ParameterError("metrics", f"{', '.join(missing)} not in both results (shared: {', '.join(shared) or 'none'}).")
        shared = list(metrics)
    if not shared:
        raise SftwiseError(f"{name_a} and {name_b} have no metric in common.")
    left = [pa for pa, _ in common]
    right = [pb for _, pb in common]
    out = PairComparison(
        a=name_a,
        b=name_b,
        model_a=sum_a.model,
        model_b=sum_b.model,
        n_common=len(common),
        only_in_a=len(ids_a - set(by_id_b)),
        only_in_b=len(set(by_id_b) - ids_a),
    )
    for metric in shared:
        paired = paired_bootstrap(_aggregate(metric, left, sum_a), _aggregate(metric, right, sum_b), len(common), resamples=resamples, seed=seed)
        sa = [p.scores.get(metric) for p in left]
        sb = [p.scores.get(metric) for p in right]
        both = [(x, y) for x, y in zip(sa, sb) if x is not None and y is not None]
        wins = sum(1 for x, y in both if y > x)
        losses = sum(1 for x, y in both if y < x)
        sig_a, sig_b = _strip_bootstrap(sum_a.metrics[metric].signature), _strip_bootstrap(sum_b.metrics[metric].signature)
        delta = MetricDelta(
            metric=metric,
            value_a=paired.value_a,
            value_b=paired.value_b,
            delta=paired.delta,
            ci_low=paired.ci_low,
            ci_high=paired.ci_high,
            p_value=paired.p_value,
            bootstrap_p_value=paired.p_value,
            test="paired-bootstrap",
            wins=wins,
            ties=len(both) - wins - losses,
            losses=losses,
            n=len(both),
            comparable=sig_a == sig_b,
            signature_a=sig_a,
            signature_b=sig_b,
        )
        if _is_binary(sa) and _is_binary(sb):
            mc = mcnemar_exact([x == 1.0 for x, _ in both], [y == 1.0 for _, y in both])
            delta.mcnemar, delta.p_value, delta.test = mc, mc.p_value, "mcnemar-exact"
        out.metrics.append(delta)
    first = shared[0]
    changes = []
    for pa, pb in common:
        x, y = pa.scores.get(first), pb.scores.get(first)
        if x is None or y is None or x == y:
            continue
        changes.append(
            ChangedExample(
                id=pa.id, metric=first, score_a=x, score_b=y, delta=y - x, prompt=_prompt_text(pa)[:500],
                reference=pa.reference, prediction_a=pa.prediction, prediction_b=pb.prediction,
            )
        )
    changes.sort(key=lambda c: (c.delta, c.id))
    out.regressed = [c for c in changes[:top] if c.delta < 0]
    out.improved = [c for c in reversed(changes[-top:]) if c.delta > 0]
    return out


def compare(
    results: Sequence[str | Path],
    *,
    metrics: Sequence[str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    top: int = 5,
) -> ComparisonReport:
    """Compare every results directory after the first with the first (the baseline)."""
    if len(results) < 2:
        raise SftwiseError(f"compare needs at least two results directories, got {len(results)}.")
    if resamples < 1:
        raise ParameterError("resamples", f"must be >= 1, got {resamples}.")
    require_at_least("top", top, 0, " (0 lists no examples)")
    loaded = []
    for path in results:
        read = read_results(path)
        loaded.append((str(path), read.require_summary(), read.predictions))
    comparisons = [compare_pair(loaded[0], other, metrics=metrics, resamples=resamples, seed=seed, top=top) for other in loaded[1:]]
    return ComparisonReport(baseline=str(results[0]), comparisons=comparisons, resamples=resamples, seed=seed)
