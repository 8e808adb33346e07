"""The task evaluator local training calls at each evaluation: the run's eval metrics and the paired bootstrap.

``sftwise.train`` sits below ``sftwise.evaluate`` in the layers, so training cannot import the
metrics; it takes this object (a :class:`sftwise.train.selection.TaskEvaluator`) from its caller,
the CLI, the pipeline or the API, which build it with :func:`training_evaluator`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sftwise.errors import ParameterError
from sftwise.evaluate.metrics import MetricOptions, compute, parse_metric_list
from sftwise.evaluate.stats import paired_bootstrap
from sftwise.train.selection import PairedDelta


class MetricsEvaluator:
    """Scores answers with :func:`sftwise.evaluate.metrics.compute` (the same numbers as ``sftwise eval``)."""

    def __init__(self, names: Sequence[str], options: MetricOptions | None = None) -> None:
        try:
            self.names = parse_metric_list(list(names))
        except ParameterError as exc:
            raise ParameterError("eval_metrics", exc.problem) from None
        self.options = options or MetricOptions()
        try:  # a metric that needs a setting (json_schema needs a schema) fails now, not after an epoch of training
            self.score([""], [""])
        except ParameterError as exc:
            raise ParameterError("eval_metrics", f"{exc.parameter} {exc.problem}") from None

    def score(self, predictions: Sequence[str | None], references: Sequence[str]) -> dict[str, float]:
        return {name: compute(name, predictions, references, self.options).value for name in self.names}

    def paired(self, metric: str, predictions_a: Sequence[str | None], predictions_b: Sequence[str | None],
               references: Sequence[str]) -> PairedDelta:
        a = compute(metric, predictions_a, references, self.options)
        b = compute(metric, predictions_b, references, self.options)
        result = paired_bootstrap(a.aggregate, b.aggregate, len(references))
        return PairedDelta(delta=result.delta, ci_low=result.ci_low, ci_high=result.ci_high)


def training_evaluator(spec) -> MetricsEvaluator | None:
    """The evaluator for ``spec.eval_metrics`` (None when the spec computes none); a metric that is
    not a quality (``length_ratio``) was refused as ``select_by`` when the spec was made (``selection_problem``)."""
    if not spec.eval_metrics:
        return None
    return MetricsEvaluator(spec.eval_metrics)
