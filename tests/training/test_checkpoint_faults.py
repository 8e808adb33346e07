"""Checkpoints under faults: a full disk as the serialisers report it, temps left by kills, resume
after a failure (no step twice in metrics.jsonl or TensorBoard), a deleted newest checkpoint."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from sftwise.errors import SftwiseError
from sftwise.runlog import read_metrics
from sftwise.train.checkpoint import STATE_FILE, latest_checkpoint
from sftwise.train.local import train
from sftwise.train.spec import TrainSpec

pytestmark = pytest.mark.slow


def _spec(model, train_file, val_file, run_dir, **kw) -> TrainSpec:
    fields = dict(model=str(model), train=str(train_file), validation=str(val_file), run_dir=str(run_dir),
                  max_length=256, batch_size=16, log_every=1, num_threads=2, learning_rate=3e-3, epochs=2)
    fields.update(kw)
    return TrainSpec(**fields)


def _tensorboard_steps(tb_dir: Path) -> Counter:
    """(tag, step) of every scalar in the event files, read as any event reader would (no purging)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    seen: Counter = Counter()
    for path in sorted(tb_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                seen[(value.tag, event.step)] += 1
    return seen


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("fault", ["torch", "safetensors"])
def test_disk_full_in_the_serialisers_is_a_clear_error_and_resume_logs_no_step_twice(tiny_model, small_data, tmp_path, monkeypatch, fault):
    import safetensors.torch
    import torch

    train_file, val_file = small_data
    run = tmp_path / "run"
    # what each serialiser raises on a full disk (seen on a 5 MB tmpfs), raised where it raises it:
    # torch.save on the trainer state, safetensors while transformers writes the weights
    if fault == "torch":
        real, owner, attr = torch.save, torch, "save"
        error = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
    else:
        import transformers.modeling_utils as mu

        real, owner, attr = mu.safe_save_file, mu, "safe_save_file"
        error = safetensors.SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    calls = {"n": 0}

    def failing_on_the_second_checkpoint(obj, path, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            Path(path).write_bytes(b"\0" * 1000)  # the part written before the disk filled up
            raise error
        return real(obj, path, *a, **k)

    monkeypatch.setattr(owner, attr, failing_on_the_second_checkpoint)
    if fault == "torch":  # torch's error has lost the errno: the free space tells a full disk
        import shutil

        real_usage = shutil.disk_usage
        monkeypatch.setattr(shutil, "disk_usage", lambda p: real_usage(p)._replace(free=4096 if calls["n"] >= 2 else real_usage(p).free))
    with pytest.raises(SftwiseError, match=r"could not write checkpoint .*epoch-2: the disk is full \(a checkpoint needs about [\d.]+ [KM]B, .* free .*epoch-1 is intact") as info:
        train(_spec(tiny_model, train_file, val_file, run, method="full"))
    assert "inline_container" not in str(info.value)
    monkeypatch.undo()
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["epoch-1"]  # the partial folder is gone
    epoch2_steps = {p.step for p in read_metrics(run) if p.epoch > 1}
    assert epoch2_steps  # epoch 2 was logged before its checkpoint failed: the resume logs it again

    resumed = train(_spec(tiny_model, train_file, val_file, run, method="full"), resume=True)
    assert resumed.resumed_from.endswith("epoch-1") and latest_checkpoint(run).name == "epoch-2"
    keys = Counter((p.split, p.scope, p.step) for p in read_metrics(run))
    assert max(keys.values()) == 1, [k for k, n in keys.items() if n > 1]
    tb = _tensorboard_steps(run / "tb")
    assert tb and max(tb.values()) == 1, sorted(k for k, n in tb.items() if n > 1)[:5]
    assert any(step in epoch2_steps for _, step in tb)


def test_resume_while_the_disk_is_still_full_says_so_before_training(tiny_model, small_data, tmp_path, monkeypatch):
    import shutil

    train_file, val_file = small_data
    run = tmp_path / "run"
    train(_spec(tiny_model, train_file, val_file, run, epochs=1))
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=2048))
    metrics = (run / "metrics.jsonl").read_bytes()
    with pytest.raises(SftwiseError, match=r"cannot resume .*: the disk is full \(the next checkpoint needs about .* 2.0 KB is free"):
        train(_spec(tiny_model, train_file, val_file, run, epochs=2), resume=True)
    assert (run / "metrics.jsonl").read_bytes() == metrics


def test_resume_after_the_newest_checkpoint_was_deleted_explains_the_older_one(tiny_model, small_data, tmp_path):
    import shutil

    train_file, val_file = small_data
    run = tmp_path / "run"
    train(_spec(tiny_model, train_file, val_file, run, epochs=2))
    assert not (run / "checkpoints" / "epoch-1" / STATE_FILE).exists()
    shutil.rmtree(run / "checkpoints" / "epoch-2")
    metrics = (run / "metrics.jsonl").read_bytes()
    with pytest.raises(SftwiseError, match=r"newest checkpoint left, epoch-1, has no trainer state\. Only the newest checkpoint keeps "
                                           r"the optimizer, scheduler and random states.*weights of epoch 1.*another run_dir"):
        train(_spec(tiny_model, train_file, val_file, run, epochs=3), resume=True)
    assert (run / "metrics.jsonl").read_bytes() == metrics  # not wiped by a silent start from scratch
    assert (run / "checkpoints" / "epoch-1" / "model.safetensors").exists() or (run / "checkpoints" / "epoch-1" / "adapter_model.safetensors").exists()


def test_stale_checkpoint_temps_of_dead_processes_are_removed_live_ones_kept(tiny_model, small_data, tmp_path):
    from sftwise.io import _HOST
    from sftwise.train.checkpoint import remove_stale_checkpoint_temps

    train_file, val_file = small_data
    run = tmp_path / "run"
    root = run / "checkpoints"
    dead = root / f".epoch-1.tmp-{_dead_pid()}@{_HOST}-abcd1234"
    live = root / f".epoch-1.tmp-{os.getppid()}@{_HOST}-efgh5678"
    other_host = root / f".epoch-1.tmp-{_dead_pid()}@elsewhere-ijkl9012"
    old_unstamped = root / ".epoch-2.tmp-mnop3456"
    for d in (dead, live, other_host, old_unstamped):
        d.mkdir(parents=True)
        (d / "model.safetensors").write_bytes(b"\0" * 4096)
    os.utime(old_unstamped, (1, 1))
    train(_spec(tiny_model, train_file, val_file, run, epochs=1))
    left = sorted(p.name for p in root.iterdir())
    assert left == sorted(["epoch-1", live.name, other_host.name])
    assert remove_stale_checkpoint_temps(run) == []
    mode = (root / "epoch-1").stat().st_mode & 0o777
    assert mode == 0o777 & ~_umask(), oct(mode)  # not mkdtemp's 0700


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def test_a_full_disk_while_logging_a_metric_names_the_log(tmp_path, monkeypatch):
    import builtins

    from sftwise.runlog import MetricPoint, append_metric

    log = tmp_path / "metrics.jsonl"
    real_open = builtins.open

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, text):
            return len(text)

        def flush(self):  # where the buffered write reaches write(2)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(builtins, "open", lambda f, mode="r", *a, **k: Full(real_open(f, mode, *a, **k)) if Path(f) == log else real_open(f, mode, *a, **k))
    with pytest.raises(SftwiseError, match=r"cannot write .*metrics.jsonl: No space left on device \(ENOSPC\); the disk is full"):
        append_metric(log, MetricPoint(step=1, epoch=0.5, split="train", loss=1.0))


def test_a_real_full_disk_while_checkpointing_and_resuming(tiny_model, small_data, tmp_path):
    """On a real tmpfs with room for one checkpoint and a half (skipped where mount is not allowed)."""
    import shutil

    train_file, val_file = small_data
    train(_spec(tiny_model, train_file, val_file, tmp_path / "probe", epochs=1, method="full"))
    size = sum(f.stat().st_size for f in (tmp_path / "probe" / "checkpoints" / "epoch-1").rglob("*") if f.is_file())
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={int(size * 1.6)}", "tmpfs", str(disk)], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        mounted = False
    if not mounted:
        pytest.skip("mount -t tmpfs is not allowed here")
    try:
        run = disk / "run"
        with pytest.raises(SftwiseError, match=r"epoch-2: the disk is full \(a checkpoint needs about .* free .*epoch-1 is intact"):
            train(_spec(tiny_model, train_file, val_file, run, method="full"))
        assert [p.name for p in (run / "checkpoints").iterdir()] == ["epoch-1"]
        assert shutil.disk_usage(disk).free > size * 0.5  # the partial checkpoint does not keep the disk full
        with pytest.raises(SftwiseError, match=r"cannot resume .*: the disk is full"):
            train(_spec(tiny_model, train_file, val_file, run, method="full"), resume=True)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=10)


KILLED_WHILE_CHECKPOINTING = """
import os, signal, sys
import torch
from sftwise.train.local import train
from sftwise.train.spec import TrainSpec

real_save, calls = torch.save, []
def save_then_die(*a, **k):
    calls.append(1)
    if len(calls) == 2:  # the second checkpoint: its weights and tokenizer are in the temp folder
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(*a, **k)
torch.save = save_then_die
model, train_file, val_file, run = sys.argv[1:]
train(TrainSpec(model=model, train=train_file, validation=val_file, run_dir=run, max_length=256, batch_size=16,
                num_threads=2, learning_rate=3e-3, epochs=2, method="full", log_every=1))
"""


def test_the_temp_folder_of_a_run_killed_while_checkpointing_goes_on_resume(tiny_model, small_data, tmp_path):
    train_file, val_file = small_data
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", KILLED_WHILE_CHECKPOINTING, str(tiny_model), str(train_file), str(val_file), str(run)],
                          env=env, capture_output=True, timeout=300)
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    [temp] = [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".epoch-2.tmp-")]
    assert (temp / "model.safetensors").exists()  # what the kill left: a partial checkpoint
    resumed = train(_spec(tiny_model, train_file, val_file, run, method="full"), resume=True)
    assert resumed.resumed_from.endswith("epoch-1")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-1", "epoch-2"]
