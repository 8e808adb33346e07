"""The multi-process code paths of the local recipe (DDP and FSDP): 2 CPU processes (gloo) launched with torchrun."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sftwise.runlog import read_metrics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_spec(path: Path, tiny_model: Path, small_data: tuple[Path, Path], run_dir: Path, **fields) -> Path:
    """A YAML spec for the tiny model on ``small_data`` (48 examples: 6 batches of 8, 3 steps per process per epoch)."""
    train_file, val_file = small_data
    spec = dict(model=str(tiny_model), train=str(train_file), validation=str(val_file), run_dir=str(run_dir),
                epochs=2, learning_rate=3e-3, batch_size=8, max_length=256, log_every=1, num_threads=1)
    path.write_text(yaml.safe_dump({**spec, **fields}))
    return path


def _torchrun(spec: Path, *args: str) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node 2 -m sftwise.train.local SPEC [args]``, one thread per process; asserts it succeeded."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                           "--master_port", str(_free_port()), "-m", "sftwise.train.local", str(spec), *args],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_two_process_gloo_run_shards_steps_and_writes_once(tiny_model, small_data, tmp_path):
    _torchrun(_write_spec(tmp_path / "spec.yaml", tiny_model, small_data, tmp_path / "run"))
    points = read_metrics(tmp_path / "run")
    steps = [p for p in points if p.split == "train" and p.scope == "step"]
    assert [p.step for p in steps] == list(range(1, 7))  # 6 optimizer steps, each logged once (rank 0 only)
    epoch_points = [p for p in points if p.scope == "epoch" and p.split == "train"]
    assert [p.epoch for p in epoch_points] == [1, 2]
    assert (Path(tmp_path / "run" / "checkpoints" / "epoch-2" / "adapter_model.safetensors")).exists()


def _fsdp_unavailable() -> str | None:
    """Why FSDP cannot run on 2 CPU processes here, or None."""
    try:
        import torch.distributed as td
    except ImportError as exc:
        return f"torch is not installed: {exc}"
    if not td.is_available() or not td.is_gloo_available():
        return "torch.distributed with gloo is not available"
    try:
        from torch.distributed.fsdp import fully_shard  # noqa: F401
    except ImportError as exc:
        return f"FSDP2 is not available in this torch: {exc}"
    return None


FSDP_UNAVAILABLE = _fsdp_unavailable()


@pytest.mark.skipif(FSDP_UNAVAILABLE is not None, reason=str(FSDP_UNAVAILABLE))
def test_fsdp_run_writes_once_checkpoints_full_weights_and_resumes(tiny_model, small_data, tmp_path):
    import torch

    from sftwise.models import load_causal_lm, load_tokenizer
    from sftwise.train.checkpoint import STATE_FILE
    from sftwise.train.data import load_conversations, prepare_split
    from sftwise.train.distributed import Dist
    from sftwise.train.local import evaluate_split

    run = tmp_path / "run"
    # full fine-tuning: the case FSDP exists for, and the one whose checkpoint needs every shard gathered.
    # batch_size 7: 7 train batches -> 6 used, 3 steps per process per epoch; 3 validation batches, so
    # one process evaluates a batch more than the other (the lockstep filler must keep them together).
    fsdp = dict(method="full", distributed="fsdp", batch_size=7)
    _torchrun(_write_spec(tmp_path / "spec.yaml", tiny_model, small_data, run, epochs=1, **fsdp))
    _torchrun(_write_spec(tmp_path / "spec.yaml", tiny_model, small_data, run, epochs=2, **fsdp), "--resume")

    points = read_metrics(run)
    assert [p.step for p in points if p.split == "train" and p.scope == "step"] == list(range(1, 7))  # once each, none redone
    for split, epochs in (("train", [1, 2]), ("validation", [0, 1, 2])):
        assert [p.epoch for p in points if p.scope == "epoch" and p.split == split] == epochs
    result = json.loads((run / "train_result.json").read_text())
    assert result["resumed_from"].endswith("epoch-1") and result["steps"] == 6

    # the checkpoint is an ordinary single-process one: eval's loader reads it and scores what was logged
    ckpt = run / "checkpoints" / "epoch-2"
    state = torch.load(ckpt / STATE_FILE, map_location="cpu", weights_only=False)
    assert all(isinstance(k, int) for k in state["optimizer"]["state"]) and state["step"] == 6
    model = load_causal_lm(ckpt, dtype=torch.float32)
    tokenizer = load_tokenizer(ckpt)
    val = prepare_split("validation", load_conversations(str(small_data[1]), None), tokenizer, 256, "error")
    loss, accuracy, _ = evaluate_split(model, val.examples, fsdp["batch_size"], tokenizer.pad_token_id, torch.device("cpu"), contextlib.nullcontext, Dist())
    [logged] = [p for p in points if p.scope == "epoch" and p.split == "validation" and p.epoch == 2]
    assert loss == pytest.approx(logged.loss, rel=1e-4) and accuracy == pytest.approx(logged.token_accuracy, abs=1e-6)


def test_distributed_mode_is_validated():
    from sftwise.errors import SftwiseError
    from sftwise.train.spec import TrainSpec

    assert TrainSpec.build({"model": "m", "train": "t"}).distributed == "ddp"
    with pytest.raises(SftwiseError, match="distributed"):
        TrainSpec.build({"model": "m", "train": "t", "distributed": "zero3"})
