"""Task metrics during local training: answer a fixed, seeded subset of the validation prompts and score them.

The subset is drawn once per run (``eval_generate_examples`` prompts with a model answer, seeded by
the run's seed), so every evaluation scores the same examples and two checkpoints can be compared
by a paired test. Generation is greedy, batched, with at most ``eval_max_new_tokens`` new tokens,
through :class:`sftwise.backends.hf.HFGenerator` on the model being trained (LoRA layers in place,
no copy): the cost of one evaluation is bounded by those two numbers, and it is measured and logged
(``task_eval_seconds`` on the metric point).

Every evaluation's answers are kept in ``RUN_DIR/task_eval/step-NNNNNN.json``: the selection's
paired bootstrap recomputes the metric from them, a resumed run reads them back, and a user can see
what the numbers are made of.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftwise.backends.base import GenerationParams, GenerationRequest
from sftwise.io import read_json, write_json
from sftwise.train.data import load_conversations

TASK_EVAL_DIR = "task_eval"
GENERATE_BATCH = 32


@dataclass
class TaskEvalSet:
    """The prompts, references and sources (``file:line``) every task evaluation of a run uses."""

    requests: list[GenerationRequest]
    references: list[str]
    sources: list[str]
    note: str | None = None
    used: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.used = len(self.requests)


def task_eval_set(validation: str, format: str | None, size: int, seed: int) -> TaskEvalSet:
    """``size`` validation examples with a model answer, drawn by ``seed``; all of them (with a note) when fewer."""
    records = [r for r in load_conversations(validation, format) if r.conversation.target is not None]
    note = None
    if len(records) < size:
        note = (f"task metrics use all {len(records)} validation examples with a model answer "
                f"(fewer than eval_generate_examples={size})")
        chosen = records
    else:
        chosen = sorted(random.Random(seed).sample(records, size), key=lambda r: (str(r.source.path), r.source.line))
    requests = [GenerationRequest(id=str(i), system=r.conversation.system, messages=prompt_messages(r.conversation))
                for i, r in enumerate(chosen)]
    return TaskEvalSet(requests, [r.conversation.target for r in chosen], [str(r.source) for r in chosen], note)


def prompt_messages(conversation: Any) -> list[dict[str, str]]:
    """The serving-time prompt of ``conversation`` as chat messages (every turn before the final model turn)."""
    return [{"role": "assistant" if t.role == "model" else "user", "content": t.text} for t in conversation.prompt_turns]


def generate_answers(model: Any, tokenizer: Any, eval_set: TaskEvalSet, max_new_tokens: int, device: Any) -> list[str | None]:
    """Greedy answers of ``model`` (in training, LoRA layers in place) to the set's prompts; None where a batch failed.

    The tokenizer's padding side is set to left for generation and put back after: training pads
    itself, but nothing else should see a changed tokenizer."""
    from sftwise.backends.hf import HFGenerator

    # PEFT's wrapper hides forward's cache arguments; the base model it wraps holds the LoRA layers
    # and takes the fast decode path of HFGenerator.
    inner = model.get_base_model() if hasattr(model, "peft_config") else model
    side = tokenizer.padding_side
    was_training = model.training
    try:
        generator = HFGenerator("training", model=inner, tokenizer=tokenizer, device=str(device), batch_size=GENERATE_BATCH)
        results = generator.generate(eval_set.requests, GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0))
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return [r.text if r.error is None else None for r in results]


@dataclass
class TaskEvaluation:
    """One evaluation's scores, answers and cost."""

    step: int
    epoch: float
    metrics: dict[str, float]
    predictions: list[str | None]
    seconds: float
    checkpoint: str | None = None


def run_task_eval(model: Any, tokenizer: Any, eval_set: TaskEvalSet, evaluator: Any, max_new_tokens: int, device: Any,
                  step: int, epoch: float) -> TaskEvaluation:
    """Generate and score once, timing both (the logged cost of an evaluation)."""
    started = time.perf_counter()
    predictions = generate_answers(model, tokenizer, eval_set, max_new_tokens, device)
    metrics = evaluator.score(predictions, eval_set.references)
    return TaskEvaluation(step, epoch, {k: round(float(v), 6) for k, v in metrics.items()}, predictions, round(time.perf_counter() - started, 3))


def save_task_eval(run_dir: Path, evaluation: TaskEvaluation, eval_set: TaskEvalSet) -> None:
    """``task_eval/step-NNNNNN.json``: scores, cost and every answer with its source and reference."""
    examples = [{"source": s, "reference": r, "prediction": p} for s, r, p in zip(eval_set.sources, eval_set.references, evaluation.predictions)]
    write_json(run_dir / TASK_EVAL_DIR / f"step-{evaluation.step:06d}.json",
               {"step": evaluation.step, "epoch": evaluation.epoch, "checkpoint": evaluation.checkpoint, "metrics": evaluation.metrics,
                "seconds": evaluation.seconds, "examples": examples})


def load_task_evals(run_dir: Path, up_to_step: int) -> list[TaskEvaluation]:
    """The saved evaluations of a resumed run up to its checkpoint's step (later ones belong to lost work)."""
    folder = run_dir / TASK_EVAL_DIR
    out = []
    for path in sorted(folder.glob("step-*.json")) if folder.is_dir() else []:
        data = read_json(path)
        if data["step"] > up_to_step:
            path.unlink()
            continue
        out.append(TaskEvaluation(data["step"], data["epoch"], data["metrics"], [e["prediction"] for e in data["examples"]],
                                  data["seconds"], data.get("checkpoint")))
    return out
