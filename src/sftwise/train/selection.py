"""Choosing the checkpoint by the task, and stopping early: pure decisions over a run's epoch-end evaluations.

Why here, and why pure: the training loop (``train/local.py``) asks two questions after every
epoch-end evaluation (*stop now?* and, at the end, *which checkpoint?*), and ``diagnose``, ``eval``
and the report must show the same answer with its reason. So the answer is computed once, from the
evaluations alone, and written to ``RUN_DIR/selection.json`` (:data:`SELECTION_FILE`).

* **The quantity** is ``select_by`` (``validation_loss``, lower is better, or a task metric, higher
  is better; ``length_ratio`` is not a quality and cannot be chosen by).
* **Ties and noise.** A task metric on 64 examples moves by several points between two equally good
  checkpoints. The best checkpoint is compared with every earlier one by a paired bootstrap over the
  same examples (the metric recomputed from both checkpoints' saved answers, so BLEU and macro-F1
  are resampled as corpus scores, not as means); the earliest whose difference to the best has a
  95 % interval containing 0 is kept, and the reason says so. Earlier is preferred because it is the
  cheaper, less over-fitted model that is not measurably worse. The validation loss is a mean over
  thousands of tokens: ties there are exact ties only (earliest kept).
* **Early stopping** watches ``early_stopping.on`` (default: the selection quantity) and stops once
  it has not improved on its best by more than ``min_delta`` for ``patience`` evaluations.

The statistics (the metric, the bootstrap) live in ``sftwise.evaluate``, a later layer: they reach
this module as a :class:`TaskEvaluator` passed in by the caller (the CLI, the pipeline, the API).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, Field

from sftwise.train.spec import VALIDATION_LOSS

SELECTION_FILE = "selection.json"


class PairedDelta(BaseModel):
    """``b - a`` of one metric on the same examples, with a paired bootstrap interval."""

    delta: float
    ci_low: float
    ci_high: float

    @property
    def within_noise(self) -> bool:
        return self.ci_low <= 0 <= self.ci_high


class TaskEvaluator(Protocol):
    """Scores generated answers with the run's task metrics (implemented in ``sftwise.evaluate.training``)."""

    names: list[str]

    def score(self, predictions: Sequence[str | None], references: Sequence[str]) -> dict[str, float]:
        """Corpus value of every metric in ``names``."""
        ...

    def paired(self, metric: str, predictions_a: Sequence[str | None], predictions_b: Sequence[str | None],
               references: Sequence[str]) -> PairedDelta:
        """Paired bootstrap of ``metric`` between two sets of answers to the same prompts."""
        ...


class Candidate(BaseModel):
    """One checkpointed epoch-end evaluation."""

    checkpoint: str
    epoch: float
    step: int
    validation_loss: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    predictions: list[str | None] = Field(default_factory=list, exclude=True)

    def value(self, quantity: str) -> float | None:
        return self.validation_loss if quantity == VALIDATION_LOSS else self.metrics.get(quantity)


class Tie(BaseModel):
    checkpoint: str
    value: float
    delta_to_best: float
    ci_low: float
    ci_high: float
    within_noise: bool


class EarlyStop(BaseModel):
    on: str
    patience: int
    min_delta: float
    stopped: bool
    at_epoch: float | None = None
    best_epoch: float | None = None
    reason: str = ""


class Selection(BaseModel):
    """The checkpoint a run keeps and why (``RUN_DIR/selection.json``)."""

    select_by: str
    checkpoint: str | None
    epoch: float | None = None
    value: float | None = None
    best_checkpoint: str | None = Field(None, description="the strictly best value's checkpoint (may be later than the one kept, when within noise)")
    reason: str
    candidates: list[Candidate] = Field(default_factory=list)
    compared: list[Tie] = Field(default_factory=list, description="earlier checkpoints tested against the best by paired bootstrap")
    early_stopping: EarlyStop | None = None
    notes: list[str] = Field(default_factory=list)


def higher_is_better(quantity: str) -> bool:
    return quantity != VALIDATION_LOSS


def _better(a: float, b: float, quantity: str, margin: float = 0.0) -> bool:
    """``a`` improves on ``b`` by more than ``margin``."""
    return a > b + margin if higher_is_better(quantity) else a < b - margin


def choose(candidates: Sequence[Candidate], quantity: str, evaluator: TaskEvaluator | None = None,
           references: Sequence[str] = ()) -> Selection:
    """The checkpoint to keep by ``quantity``: the best, or the earliest within noise of it (task metrics)."""
    scored = [c for c in candidates if c.value(quantity) is not None]
    if not scored:
        return Selection(select_by=quantity, checkpoint=None, reason=f"no checkpoint has a {quantity} value", candidates=list(candidates))
    best = scored[0]
    for c in scored[1:]:
        if _better(c.value(quantity), best.value(quantity), quantity):  # type: ignore[arg-type]
            best = c
    kept, compared = best, []
    word = "highest" if higher_is_better(quantity) else "lowest"
    reason = f"{quantity} is {word} at epoch {best.epoch:g} ({best.value(quantity):.4g})"
    if quantity != VALIDATION_LOSS and evaluator is not None and best.predictions:
        for c in scored:
            if c is best or c.epoch > best.epoch or not c.predictions:
                continue
            d = evaluator.paired(quantity, best.predictions, c.predictions, references)
            compared.append(Tie(checkpoint=c.checkpoint, value=c.value(quantity), delta_to_best=round(-d.delta, 6),  # type: ignore[arg-type]
                                ci_low=round(-d.ci_high, 6), ci_high=round(-d.ci_low, 6), within_noise=d.within_noise))
            if d.within_noise and kept is best:
                kept = c
        if kept is not best:
            tie = next(t for t in compared if t.checkpoint == kept.checkpoint)
            reason += (f"; epoch {kept.epoch:g} ({kept.value(quantity):.4g}) is within noise of it (paired bootstrap over the same "
                       f"{len(references)} examples: best - it = {tie.delta_to_best:+.3g}, 95% CI [{tie.ci_low:+.3g}, {tie.ci_high:+.3g}]), "
                       "so the earlier checkpoint is kept")
        elif compared:
            reason += "; every earlier checkpoint is measurably worse (paired bootstrap, 95% CI excludes 0)"
    return Selection(select_by=quantity, checkpoint=kept.checkpoint, epoch=kept.epoch, value=kept.value(quantity),
                     best_checkpoint=best.checkpoint, reason=reason, candidates=list(candidates), compared=compared)


def early_stop(candidates: Sequence[Candidate], on: str, patience: int, min_delta: float) -> EarlyStop:
    """Whether ``on`` has failed to improve by more than ``min_delta`` for ``patience`` evaluations."""
    values = [(c.epoch, c.value(on)) for c in candidates if c.value(on) is not None]
    result = EarlyStop(on=on, patience=patience, min_delta=min_delta, stopped=False)
    if not values:
        return result
    best_epoch, best, since = values[0][0], values[0][1], 0
    for epoch, value in values[1:]:
        if _better(value, best, on, min_delta):  # type: ignore[arg-type]
            best_epoch, best, since = epoch, value, 0
        else:
            since += 1
        if since >= patience:
            result.stopped, result.at_epoch, result.best_epoch = True, epoch, best_epoch
            result.reason = (f"{on} has not improved on {best:.4g} (epoch {best_epoch:g}) by more than {min_delta:g} "
                             f"for {patience} evaluation(s): stopped after epoch {epoch:g}")
            return result
    result.best_epoch = best_epoch
    return result
