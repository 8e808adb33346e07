"""Checkpoints of the local recipe: what one holds, how it is written without tearing, how a run resumes.

A checkpoint is ``run_dir/checkpoints/epoch-N/``: the adapter (LoRA) or the model (full), the
tokenizer, ``trainer_state.pt`` (optimizer, scheduler, scaler and RNG states, epochs run, step,
tokens seen, seed) and ``checkpoint.json``, written last, which marks it complete. It is written
into a temporary directory and renamed into place, so a crash or a full disk mid-write leaves the
previous checkpoint intact; once a new one is in place the trainer state of the older ones is
removed (they stay loadable for evaluation, not for resuming).

Resuming reads the newest checkpoint that still has its trainer state, compares the spec with the
run's saved ``config.json`` (a different training is refused first: ``train/fingerprint.py``), and drops the log lines
and TensorBoard events written after that checkpoint so no step is logged twice. A run whose
checkpoints have all lost their trainer state (the newest was deleted) is refused with what the
older ones are still good for, and a disk without room for the next checkpoint is refused up front.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from sftwise.errors import SftwiseError, first_line
from sftwise.io import STAMP_PATTERN, atomic_write, format_bytes, free_space, is_stale_stamp, output_error, temp_stamp, umask
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

    The serialisers do not raise ``OSError`` on a full disk: torch.save raises ``RuntimeError``
    (``inline_container.cc``) and safetensors ``SafetensorError`` (``os error 28``). Those are
    caught too, the partial folder is removed (it would keep the disk full), and the error says how
    much space a checkpoint needs against what is free. The temp folder is stamped with the process
    (``.epoch-N.tmp-<pid>@<host>-<random>``), so the next save removes what a killed run left.
    """
    import torch

    root = run_dir / CHECKPOINTS
    final = root / name
    tmp: Path | None = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        remove_stale_checkpoint_temps(run_dir)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.tmp-{temp_stamp()}-"))
        os.chmod(tmp, 0o777 & ~umask())  # mkdtemp's 0700 would hide the checkpoint from colleagues
        model.save_pretrained(tmp, state_dict=weights)  # PEFT models save the adapter only
        tokenizer.save_pretrained(tmp)
        torch.save(state, tmp / STATE_FILE)
        (tmp / DONE_FILE).write_text(json.dumps({"epoch": state["epochs_run"], "step": state["step"], "method": spec.method, "base_model": spec.model}), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        code = _write_errno(exc)
        if code is False:
            raise
        try:
            needed = _estimate_bytes(run_dir, model, spec, weights)
        except Exception:  # noqa: BLE001 - an estimate must not hide the error it explains
            needed = None
        raise _checkpoint_error(run_dir, final, exc, code, needed) from None
    for older in complete_checkpoints(run_dir):
        if older != final:
            with contextlib.suppress(FileNotFoundError):
                (older / STATE_FILE).unlink()
    return final


_SERIALISER_IO = re.compile(r"inline_container|PytorchStreamWriter|file write failed|os error \d+|I/O error|No space left", re.IGNORECASE)


def _write_errno(exc: BaseException) -> int | None | bool:
    """The errno of a failed checkpoint write (None: an I/O failure whose errno the serialiser lost),
    or False when ``exc`` is not a write failure at all (a bug: re-raised as it is)."""
    if isinstance(exc, OSError):
        return exc.errno
    if type(exc).__name__ == "SafetensorError" or isinstance(exc, RuntimeError):
        text = str(exc)
        if _SERIALISER_IO.search(text) is None:
            return False
        code = re.search(r"os error (\d+)", text)
        return int(code.group(1)) if code else (errno.ENOSPC if "no space left" in text.lower() else None)
    return False


def _checkpoint_error(run_dir: Path, final: Path, exc: BaseException, code: int | None, needed: int | None) -> SftwiseError:
    """What a failed checkpoint says: why, the space needed against the space free, what is kept."""
    previous = latest_checkpoint(run_dir)
    kept = f"the previous checkpoint {previous} is intact" if previous else "no earlier checkpoint exists"
    free = free_space(final.parent)
    space = ""
    if free is not None:
        space = (f"a checkpoint needs about {format_bytes(needed)}, " if needed else "") + f"{format_bytes(free)} is free on the disk of {final.parent}"
    full = code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1), errno.EFBIG) or (code is None and None not in (free, needed) and free < needed)
    if full:
        reason = ("the disk is full" if code != errno.EFBIG else "a file would be larger than this system allows") + (f" ({space})" if space else "")
        fix = "Free space and resume the run."
    elif isinstance(exc, OSError) and exc.errno is not None:
        reason = str(output_error(exc.filename or final, exc)).split(": ", 1)[-1]
        fix = "Resume the run once it can be written."
    else:
        reason = f"writing failed ({first_line(exc)})" + (f"; {space}" if space else "")
        fix = "Check the disk and resume the run."
    return SftwiseError(f"could not write checkpoint {final}: {reason}; the partial checkpoint was removed and {kept}. {fix}")


def _estimate_bytes(run_dir: Path, model: Any, spec: TrainSpec, weights: dict[str, Any] | None) -> int:
    """Bytes a checkpoint takes: the newest complete one's size, else the weights it holds (LoRA: the
    trainable ones) plus AdamW's two moments per trainable parameter."""
    done = complete_checkpoints(run_dir)
    newest = _dir_bytes(done[-1]) if done else 0
    params = list(model.parameters())
    trainable = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
    if done and (done[-1] / STATE_FILE).exists():
        return newest
    if done:  # its trainer state was removed: add the optimizer's moments back
        return newest + 2 * trainable
    if weights is not None:
        saved = sum(t.numel() * t.element_size() for t in weights.values() if hasattr(t, "numel"))
    else:
        saved = trainable if spec.method == "lora" else sum(p.numel() * p.element_size() for p in params)
    return saved + 2 * trainable + TOKENIZER_BYTES


TOKENIZER_BYTES = 4 * 2**20
"""What the tokenizer files of a checkpoint take at most, roughly (tokenizer.json of a 150k vocabulary)."""


def remove_stale_checkpoint_temps(run_dir: str | Path) -> list[Path]:
    """Remove the temp folders (``.epoch-N.tmp-*``) that killed runs left in ``checkpoints/``.

    Only those of a process that is gone (:func:`sftwise.io.is_stale_stamp`): never a live one's.
    """
    root = Path(run_dir) / CHECKPOINTS
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for candidate in root.glob(".*.tmp-*"):
        match = _TEMP_DIR.fullmatch(candidate.name)
        if match is None or not candidate.is_dir():
            continue
        if is_stale_stamp(match if match["pid"] else None, candidate):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


_TEMP_DIR = re.compile(rf"\..+\.tmp-(?:{STAMP_PATTERN}-)?[a-z0-9_]{{8}}")


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
    """Warn about every setting that differs from the run's saved config and that the fingerprint
    lets through (logging, threads); more epochs is the fingerprint check's own note."""
    saved_path = run_dir / CONFIG_FILE
    if not saved_path.exists():
        return [f"{saved_path} is missing; cannot check the resumed config"]
    saved = TrainSpec.model_validate_json(saved_path.read_text(encoding="utf-8"))
    notes = []
    for key, (now, before) in spec.differences(saved).items():
        if key == "epochs":
            continue
        msg = f"resume: {key} was {before!r} in the saved config, now {now!r}"
        warnings.warn(msg, stacklevel=2)
        notes.append(msg)
    return notes


def truncate_log(run_dir: Path, step: int) -> None:
    """Drop the metric points and TensorBoard scalars logged after ``step`` (-1: all of them), which
    a resume will log again: without it TensorBoard draws those steps twice."""
    path = run_dir / METRICS_FILE
    if path.exists():
        points = read_metrics(path)
        kept = [p for p in points if p.step <= step]
        if len(kept) != len(points):
            write_metrics(path, kept)
    truncate_tensorboard(run_dir / TENSORBOARD_DIR, step)


TENSORBOARD_DIR = "tb"


def truncate_tensorboard(tb_dir: Path, step: int) -> None:
    """Rewrite each event file of ``tb_dir`` without the summaries of steps after ``step``.

    Rewritten rather than hidden with ``SummaryWriter(purge_step=...)``: a purge marker is honoured by
    TensorBoard's Python loader only, while tbparse, the Rust data server and a plain event reader
    would still see every step twice.
    """
    files = sorted(p for p in tb_dir.rglob("events.out.tfevents.*") if p.is_file()) if tb_dir.is_dir() else []
    if not files:
        return
    try:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
        from tensorboard.summary.writer.record_writer import RecordWriter
    except ImportError:  # pragma: no cover - torch's SummaryWriter needs tensorboard: no writer, no reader
        return

    for path in files:
        events = list(EventFileLoader(str(path)).Load())
        kept = [e for e in events if not e.HasField("summary") or e.step <= step]
        if len(kept) == len(events):
            continue
        with atomic_write(path, "wb") as handle:
            writer = RecordWriter(handle)
            for event in kept:
                writer.write(event.SerializeToString())


def check_space(run_dir: Path, latest: Path) -> None:
    """Refuse to resume onto a disk without room for the next checkpoint (the size of ``latest``):
    the save at the end of the epoch would fail, after the epoch's training."""
    needed = _dir_bytes(latest)
    free = free_space(latest.parent)
    if free is not None and free < needed:
        raise SftwiseError(f"cannot resume {run_dir}: the disk is full (the next checkpoint needs about {format_bytes(needed)}, "
                           f"{format_bytes(free)} is free on the disk of {latest.parent}). Free space and resume again.")


def unresumable(run_dir: Path, spec: TrainSpec) -> SftwiseError:
    """Why a run whose checkpoints all lack their trainer state cannot be resumed, and what remains.

    Only the newest checkpoint keeps the optimizer, scheduler and random states (an older one's are
    removed once a newer one is in place), so this is a run whose newest checkpoint was deleted.
    """
    newest = complete_checkpoints(run_dir)[-1]
    reuse = (f" or train on from its weights in a new run (model: {newest}, another run_dir), where AdamW's moments and the "
             "learning-rate schedule start afresh, so the result will not match an uninterrupted run") if spec.method == "full" else ""
    return SftwiseError(
        f"cannot resume {run_dir}: its newest checkpoint left, {newest.name}, has no trainer state. Only the newest checkpoint keeps "
        f"the optimizer, scheduler and random states (an older one's are removed once a newer one is written), and the newest one "
        f"was deleted, so the run cannot continue exactly where it stopped. {newest} still holds the weights of epoch "
        f"{_epoch_of(newest)}: evaluate it as it is{reuse}; or start over in another run_dir (starting over here would discard "
        "its log and checkpoints).")


def _epoch_of(checkpoint: Path) -> Any:
    try:
        return json.loads((checkpoint / DONE_FILE).read_text(encoding="utf-8"))["epoch"]
    except (OSError, ValueError, KeyError):
        return checkpoint.name


def _dir_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder``: what a checkpoint like it needs on disk."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
