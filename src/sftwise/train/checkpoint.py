"""Checkpoints of the local recipe: what one holds, how it is written without tearing, how a run resumes.

A checkpoint is ``run_dir/checkpoints/epoch-N/``: the adapter (LoRA) or the model (full), the
tokenizer, ``trainer_state.pt`` (optimizer, scheduler, scaler and RNG states, epochs run, step,
tokens seen, seed) and ``checkpoint.json``, written last, which marks it complete. It is written
into a temporary directory and renamed into place, so a crash or a full disk mid-write leaves the
previous checkpoint intact; once a new one is in place the trainer state of the older ones is
removed (they stay loadable for evaluation, not for resuming).

Resuming reads the newest checkpoint that still has its trainer state, compares the spec with the
run's saved ``config.json`` (a different training is refused first: ``train/fingerprint.py``), and drops the log lines
written after that checkpoint so no step is logged twice.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from sftwise.errors import SftwiseError
from sftwise.runlog import METRICS_FILE, read_metrics, write_metrics
from sftwise.train.distributed import gather_optimizer, load_sharded_optimizer
from sftwise.train.spec import CONFIG_FILE, TrainSpec

CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.pt"
DONE_FILE = "checkpoint.json"


def save_checkpoint(run_dir: Path, name: str, model: Any, tokenizer: Any, state: dict[str, Any], spec: TrainSpec,
                    weights: dict[str, Any] | None = None) -> Path:
    """Write ``checkpoints/<name>`` atomically: temp dir, then rename; a failure leaves older ones intact.

    ``weights``: the full state dict to write instead of reading ``model``'s own (FSDP: its
    parameters are shards, so the caller passes the gathered full tensors).
    """
    import torch

    root = run_dir / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.tmp-"))
    try:
        model.save_pretrained(tmp, state_dict=weights)  # PEFT models save the adapter only
        tokenizer.save_pretrained(tmp)
        torch.save(state, tmp / STATE_FILE)
        (tmp / DONE_FILE).write_text(json.dumps({"epoch": state["epochs_run"], "step": state["step"], "method": spec.method, "base_model": spec.model}), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        previous = latest_checkpoint(run_dir)
        kept = f"the previous checkpoint {previous} is intact" if previous else "no earlier checkpoint exists"
        reason = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else f"{exc.strerror or exc}"
        raise SftwiseError(f"could not write checkpoint {final}: {reason}; the partial checkpoint was removed and {kept}. Free space and resume the run.") from None
    for older in complete_checkpoints(run_dir):
        if older != final:
            with contextlib.suppress(FileNotFoundError):
                (older / STATE_FILE).unlink()
    return final


def complete_checkpoints(run_dir: str | Path) -> list[Path]:
    """Every complete checkpoint of a run (its ``checkpoint.json`` written), oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / DONE_FILE).exists()]
    return sorted(found, key=lambda p: json.loads((p / DONE_FILE).read_text(encoding="utf-8"))["step"])


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint that can be resumed from (has its trainer state), or None."""
    resumable = [p for p in complete_checkpoints(Path(run_dir)) if (p / STATE_FILE).exists()]
    return resumable[-1] if resumable else None


def load_trainer_state(checkpoint: Path) -> dict[str, Any]:
    """The trainer state saved with a checkpoint (on the CPU: each process moves what it needs)."""
    import torch

    return torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=False)


def restore_weights(model: Any, checkpoint: Path, spec: TrainSpec) -> None:
    """Load a checkpoint's weights into the freshly built model (before any sharding: they are full tensors)."""
    from safetensors.torch import load_file

    if spec.method == "lora":
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(str(checkpoint / "adapter_model.safetensors")))
    else:
        state = {}
        for shard in sorted(checkpoint.glob("*.safetensors")):
            state.update(load_file(str(shard)))
        model.load_state_dict(state, strict=False)


def optimizer_state(model: Any, optimizer: Any, *, fsdp: bool) -> dict[str, Any]:
    """The optimizer state to save, index-keyed whatever the mode (under FSDP every process must call it)."""
    return gather_optimizer(model, optimizer) if fsdp else optimizer.state_dict()


def restore_training_state(state: dict[str, Any], model: Any, optimizer: Any, scheduler: Any, scaler: Any, *, fsdp: bool) -> None:
    """Optimizer (scattered into the shards under FSDP), scheduler, loss scaler and RNG states, as saved."""
    if fsdp:
        load_sharded_optimizer(model, optimizer, state["optimizer"])
    else:
        optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    restore_rng(state["rng"])


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch and CUDA random states, so a resumed run draws what the uninterrupted one would."""
    import numpy as np
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def restore_rng(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def check_config(spec: TrainSpec, run_dir: Path) -> list[str]:
    """Warn about every setting that differs from the run's saved config (more epochs simply continues)."""
    saved_path = run_dir / CONFIG_FILE
    if not saved_path.exists():
        return [f"{saved_path} is missing; cannot check the resumed config"]
    saved = TrainSpec.model_validate_json(saved_path.read_text(encoding="utf-8"))
    notes = []
    for key, (now, before) in spec.differences(saved).items():
        msg = f"resume: {key} was {before!r} in the saved config, now {now!r}"
        warnings.warn(msg, stacklevel=2)
        notes.append(msg)
    return notes


def truncate_log(run_dir: Path, step: int) -> None:
    """Drop the metric points logged after ``step`` (-1: all of them), which a resume will log again."""
    path = run_dir / METRICS_FILE
    if path.exists():
        write_metrics(path, [p for p in read_metrics(path) if p.step <= step])
