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
    n_missing_reference: int = 0  # examples with no reference: generated, not scored
    n_empty_prediction: int = 0  # empty or missing outputs (errors included): scored as wrong


def write_results(output_dir, predictions: list[Prediction], summary: EvalSummary) -> None:
    """Write ``predictions.jsonl`` then ``summary.json`` (atomically each) into ``output_dir``."""
    from pathlib import Path

    from sftwise.io import write_json, write_jsonl

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / PREDICTIONS_FILE, predictions)
    write_json(out / SUMMARY_FILE, summary)


def read_results(results_dir) -> tuple[EvalSummary, list[Prediction]]:
    """Read a results directory; raises SftwiseError naming what is missing or malformed."""
    import json
    from pathlib import Path

    from pydantic import ValidationError

    from sftwise.errors import SftwiseError

    from sftwise.io import read_jsonl

    root = Path(results_dir)
    if root.is_file() and root.name in (PREDICTIONS_FILE, SUMMARY_FILE):
        root = root.parent
    summary_path, predictions_path = root / SUMMARY_FILE, root / PREDICTIONS_FILE
    for path in (summary_path, predictions_path):
        if not path.is_file():
            raise SftwiseError(f"{root}: not a results directory (no {path.name}); pass a directory written by 'sftwise eval -o'.")
    try:
        summary = EvalSummary.model_validate(json.loads(summary_path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise SftwiseError(f"{summary_path}: not a valid evaluation summary ({str(exc).splitlines()[0]}).") from None
    predictions = []
    for number, row in enumerate(read_jsonl(predictions_path), 1):
        try:
            predictions.append(Prediction.model_validate(row))
        except ValidationError as exc:
            raise SftwiseError(f"{predictions_path}:{number}: not a valid prediction ({str(exc).splitlines()[0]}).") from None
    return summary, predictions
