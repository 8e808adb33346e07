"""The result files of an evaluation, read by ``compare``, ``judge``, ``hard-examples`` and ``report``.

A results directory holds ``predictions.jsonl`` (one :class:`Prediction` per eval example, with the
prompt that produced it) and ``summary.json`` (an :class:`EvalSummary`). Judges add their scores to
``Prediction.scores`` under their own metric names, so they join every downstream step unchanged.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PREDICTIONS_FILE = "predictions.jsonl"
SUMMARY_FILE = "summary.json"


class Prediction(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    source: str | None = None  # file:line of the eval example
    system: str | None = None
    messages: list[dict[str, str]] = Field(default_factory=list)  # the prompt, as sent
    reference: str | None = None
    prediction: str | None = None
    error: str | None = None
    scores: dict[str, float | None] = Field(default_factory=dict)


class MetricSummary(BaseModel):
    """A corpus-level score with its bootstrap confidence interval and the settings that made it."""

    name: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    signature: str = ""


class EvalSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    data: str
    n_examples: int
    n_errors: int = 0
    few_shot: int = 0
    metrics: dict[str, MetricSummary] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)  # generation params, seed, versions
