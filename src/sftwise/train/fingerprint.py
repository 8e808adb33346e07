"""What a run's weights depend on, and whether a new spec may continue a run that already has some.

Resuming is sound only when the new spec would have trained the same weights up to the checkpoint:
the same base model, the same data (by content, not by path) and the same optimisation settings.
So a run directory keeps ``fingerprint.json`` (the weight-relevant spec fields and the sha256 of each
data file) beside ``config.json``, and :func:`compare_run` sorts a new spec against it:

* ``fresh``: nothing trained there yet;
* ``same``: continue (a resume after a crash or a kill);
* ``extend``: only ``epochs`` grew: continuing from the last checkpoint trains the extra epochs;
* ``retrain``: anything else (a new learning rate, fewer epochs, edited data ...): continuing would
  mix two trainings into one set of weights, and the run's config would describe neither.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from sftwise.io import input_digest, write_json
from sftwise.train.spec import CONFIG_FILE, TrainSpec

FINGERPRINT_FILE = "fingerprint.json"

NOT_WEIGHTS = ("run_dir", "log_every", "eval_every", "tensorboard", "num_threads", "eval_metrics", "eval_generate_examples",
               "eval_max_new_tokens", "select_by", "early_stopping", "example_losses")
"""Spec fields that change what is logged, where, or how fast, never the weights."""

DATA_FIELDS = ("train", "validation")
"""The data files: compared by content (a moved file is the same data; an edited one is not)."""


class TrainingFingerprint(BaseModel):
    """Everything a run's weights depend on that a spec can say."""

    spec: dict[str, Any]  # the spec's fields but NOT_WEIGHTS
    data: dict[str, str] = Field(default_factory=dict)  # split -> sha256 of the file's bytes ('' for none)


class RunComparison(BaseModel):
    """How a new spec relates to the training already in a run directory."""

    action: Literal["fresh", "same", "extend", "retrain"]
    changes: dict[str, tuple[Any, Any]] = Field(default_factory=dict)  # field -> (before, now)

    def describe(self) -> str:
        """``learning_rate 0.0002 -> 0.001, epochs 6 -> 3``: what differs, for messages."""
        return ", ".join(f"{key} {_show(before)} -> {_show(now)}" for key, (before, now) in self.changes.items())


def _show(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return f"sha256 {value[:12]}"  # a data digest
    return "none" if value is None else str(value)


def training_fingerprint(spec: TrainSpec) -> TrainingFingerprint:
    return TrainingFingerprint(
        spec=spec.model_dump(mode="json", exclude=set(NOT_WEIGHTS + DATA_FIELDS)),
        data={"train": input_digest(spec.train), "validation": input_digest(spec.validation)},
    )


def write_fingerprint(spec: TrainSpec, run_dir: Path, fingerprint: TrainingFingerprint | None = None) -> None:
    """Record what made the run's weights; ``fingerprint`` when the caller already hashed the data."""
    write_json(run_dir / FINGERPRINT_FILE, fingerprint or training_fingerprint(spec))


def saved_fingerprint(run_dir: Path) -> TrainingFingerprint | None:
    """The fingerprint a run directory recorded; for a run from before fingerprints, its
    ``config.json`` (the data then cannot be checked); None when neither exists or reads."""
    path = run_dir / FINGERPRINT_FILE
    try:
        if path.is_file():
            return TrainingFingerprint.model_validate_json(path.read_text(encoding="utf-8"))
        config = run_dir / CONFIG_FILE
        if config.is_file():
            saved = TrainSpec.model_validate_json(config.read_text(encoding="utf-8"))
            return TrainingFingerprint(spec=saved.model_dump(mode="json", exclude=set(NOT_WEIGHTS + DATA_FIELDS)))
    except (OSError, ValueError, ValidationError):
        return None
    return None


def has_training(run_dir: Path) -> bool:
    """Whether a run directory holds any trace of a training (a log, a checkpoint, a config)."""
    return any((run_dir / name).exists() for name in ("metrics.jsonl", "checkpoints", CONFIG_FILE, FINGERPRINT_FILE))


def compare_run(spec: TrainSpec, run_dir: str | Path, current: TrainingFingerprint | None = None) -> RunComparison:
    """Sort ``spec`` against the training in ``run_dir`` (see the module docstring); ``current`` is
    ``spec``'s fingerprint when the caller already has it (hashing the data once per training)."""
    run_dir = Path(run_dir)
    if not has_training(run_dir):
        return RunComparison(action="fresh")
    saved = saved_fingerprint(run_dir)
    if saved is None:  # a log or checkpoints but no readable record of what made them
        return RunComparison(action="retrain", changes={"config": ("unknown", "this spec")})
    now = current or training_fingerprint(spec)
    changes: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(saved.spec) | set(now.spec)):
        before, after = saved.spec.get(key), now.spec.get(key)
        if json.dumps(before, sort_keys=True) != json.dumps(after, sort_keys=True):
            changes[key] = (before, after)
    for split, digest in now.data.items():
        if split in saved.data and saved.data[split] != digest:
            changes[f"{split} data"] = (saved.data[split], digest)
    if not changes:
        return RunComparison(action="same")
    if set(changes) == {"epochs"} and changes["epochs"][1] > changes["epochs"][0]:
        return RunComparison(action="extend", changes=changes)
    return RunComparison(action="retrain", changes=changes)
