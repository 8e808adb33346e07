"""The result files of an evaluation, read by ``compare``, ``judge``, ``hard-examples`` and ``report``.

A results directory holds ``predictions.jsonl`` (one :class:`Prediction` per eval example, with the
prompt that produced it) and ``summary.json`` (an :class:`EvalSummary`). Judges add their scores to
``Prediction.scores`` under their own metric names, so they join every downstream step unchanged.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sftwise.errors import SftwiseError
from sftwise.io import read_jsonl, read_text, write_json, write_jsonl

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
    n_errors: int = 0  # failed generations: not scored, so every metric is over the n_examples - n_errors others
    first_error: str | None = None  # the first failed generation's message (all of them: 'error' in predictions.jsonl)
    few_shot: int = 0
    metrics: dict[str, MetricSummary] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)  # generation params, seed, versions
    n_missing_reference: int = 0  # examples with no reference: generated, not scored
    n_empty_prediction: int = 0  # empty outputs of successful generations: scored as wrong


    def failure_note(self) -> str | None:
        """One sentence on the failed generations (None when none failed): how many, the first
        error, and that they were not scored; the CLI and ``sftwise run`` print it."""
        if not self.n_errors:
            return None
        first = f"first error: {self.first_error or 'unknown'}"
        if self.n_errors == self.n_examples:
            return f"every generation failed ({first}); nothing was scored"
        return f"{self.n_errors} of {self.n_examples} generations failed ({first}); they are not scored: the metrics are over the {self.n_examples - self.n_errors} others"


def write_results(output_dir: str | Path, predictions: list[Prediction], summary: EvalSummary) -> None:
    """Write ``predictions.jsonl`` then ``summary.json`` (atomically each) into ``output_dir``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / PREDICTIONS_FILE, predictions)
    write_json(out / SUMMARY_FILE, summary)


@dataclass(frozen=True)
class Results:
    """A results directory read back: its predictions, its summary when it has one, and where they came from.

    Named fields rather than a tuple: the two readers this replaces returned the pair in opposite orders.
    """

    predictions: list[Prediction]
    summary: EvalSummary | None  # None for a bare predictions file without summary.json beside it
    path: Path  # the predictions file read

    def require_summary(self) -> EvalSummary:
        """The summary, or a SftwiseError for steps that need the corpus metrics (compare, hard examples)."""
        if self.summary is None:
            raise SftwiseError(f"{self.path.parent}: not a results directory (no {SUMMARY_FILE}); pass a directory written by 'sftwise eval -o'.")
        return self.summary


def _predictions_file(path: Path) -> Path:
    """A results directory, its ``summary.json`` or a predictions file -> the predictions file."""
    if path.is_dir():
        return path / PREDICTIONS_FILE
    if path.name == SUMMARY_FILE:
        return path.parent / PREDICTIONS_FILE
    return path


def read_results(path: str | Path) -> Results:
    """Read a results directory (or its ``predictions.jsonl`` or ``summary.json``).

    Every prediction is validated (the error names file:line), the file must hold at least one and
    their ids must be unique, since every consumer joins on them. ``summary.json`` is optional here;
    :meth:`Results.require_summary` is for the steps that need it.
    """
    file = _predictions_file(Path(path))
    if not file.is_file():
        raise SftwiseError(f"{path}: not a results directory (no {PREDICTIONS_FILE}); pass a directory written by 'sftwise eval -o'.")
    predictions = read_jsonl(file, validate=Prediction.model_validate, what="a prediction")
    if not predictions:
        raise SftwiseError(f"{file} holds no predictions.")
    repeated = [i for i, count in Counter(p.id for p in predictions).items() if count > 1]
    if repeated:
        raise SftwiseError(f"{file}: example ids must be unique; repeated: {', '.join(repeated[:5])}.")
    summary_path = file.parent / SUMMARY_FILE
    summary = None
    if summary_path.is_file():
        try:
            summary = EvalSummary.model_validate(json.loads(read_text(summary_path)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise SftwiseError(f"{summary_path}: not a valid evaluation summary ({str(exc).splitlines()[0]}).") from None
    return Results(predictions=predictions, summary=summary, path=file)
