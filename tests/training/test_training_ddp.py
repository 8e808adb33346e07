"""The DDP code path of the local recipe: 2 CPU processes (gloo) launched with torchrun."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from sftwise.runlog import read_metrics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_run_shards_steps_and_writes_once(tiny_model, small_data, tmp_path):
    train_file, val_file = small_data  # 48 examples: 6 batches of 8, 3 steps per process per epoch
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(dict(model=str(tiny_model), train=str(train_file), validation=str(val_file), run_dir=str(tmp_path / "run"),
                                        epochs=2, learning_rate=3e-3, batch_size=8, max_length=256, log_every=1, num_threads=1)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                           "--master_port", str(_free_port()), "-m", "sftwise.train.local", str(spec)],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    points = read_metrics(tmp_path / "run")
    steps = [p for p in points if p.split == "train" and p.scope == "step"]
    assert [p.step for p in steps] == list(range(1, 7))  # 6 optimizer steps, each logged once (rank 0 only)
    epoch_points = [p for p in points if p.scope == "epoch" and p.split == "train"]
    assert [p.epoch for p in epoch_points] == [1, 2]
    assert (Path(tmp_path / "run" / "checkpoints" / "epoch-2" / "adapter_model.safetensors")).exists()
