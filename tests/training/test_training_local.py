"""The local recipe end to end on a tiny in-process model: learning, monitoring, checkpoints, resume, bad input."""

from __future__ import annotations

import errno
import json
import time
from pathlib import Path

import pytest

from sftwise.errors import ParameterError, SftwiseError
from sftwise.runlog import read_metrics
from sftwise.train.checkpoint import STATE_FILE, latest_checkpoint
from sftwise.train.local import OverlongExamples, train
from sftwise.train.spec import TrainSpec

METRICS = ("loss", "token_accuracy", "tokens_seen", "lr", "grad_norm")


def _spec(model, train_file, val_file, run_dir, **kw) -> TrainSpec:
    fields = dict(model=str(model), train=str(train_file), validation=str(val_file) if val_file else None, run_dir=str(run_dir),
                  max_length=256, batch_size=16, log_every=5, num_threads=2)
    fields.update(kw)
    return TrainSpec(**fields)


def test_tiny_model_learns_fast_with_every_metric_for_both_splits(tiny_model, tmp_path):
    from sftwise.demo.sample import sample_paths

    paths = sample_paths()
    spec = _spec(tiny_model, paths["train"], paths["validation"], tmp_path / "run", epochs=3, method="full", learning_rate=3e-3)
    started = time.perf_counter()
    result = train(spec)
    elapsed = time.perf_counter() - started
    assert elapsed < 120, f"took {elapsed:.0f}s"
    assert result.initial_validation_accuracy is not None and result.final_validation_accuracy is not None
    assert result.final_validation_accuracy > result.initial_validation_accuracy + 0.5
    points = read_metrics(tmp_path / "run")
    for epoch in (1, 2, 3):
        for split in ("train", "validation"):
            [p] = [p for p in points if p.scope == "epoch" and p.split == split and p.epoch == epoch]
            wanted = METRICS if split == "train" else ("loss", "token_accuracy", "tokens_seen")
            for key in wanted:
                assert getattr(p, key) is not None, (split, epoch, key)
            assert p.checkpoint == f"checkpoints/epoch-{epoch}"
    steps = [p for p in points if p.scope == "step" and p.split == "train"]
    assert steps and all(p.lr is not None and p.grad_norm is not None for p in steps)
    assert (tmp_path / "run" / "config.json").exists() and list((tmp_path / "run" / "tb").iterdir())
    assert [Path(c).name for c in result.checkpoints] == ["epoch-1", "epoch-2", "epoch-3"]


def test_lora_checkpoint_is_adapter_only_and_resume_continues(tiny_model, small_data, tmp_path):
    train_file, val_file = small_data
    run = tmp_path / "run"
    first = train(_spec(tiny_model, train_file, val_file, run, epochs=1, learning_rate=3e-3, lora_rank=8))
    ckpt = run / first.checkpoints[-1]
    assert (ckpt / "adapter_model.safetensors").exists() and not (ckpt / "model.safetensors").exists()
    with pytest.raises(ParameterError, match="run_dir: .*already holds a run.*resume it"):
        train(_spec(tiny_model, train_file, val_file, run, epochs=2, learning_rate=3e-3, lora_rank=8))
    second = train(_spec(tiny_model, train_file, val_file, run, epochs=2, learning_rate=3e-3, lora_rank=8), resume=True)
    assert sum("epochs 1 -> 2" in note and "continuing" in note for note in second.warnings) == 1  # said once
    assert second.resumed_from and second.resumed_from.endswith("epoch-1")
    assert second.steps == 2 * first.steps
    epochs = sorted(p.epoch for p in read_metrics(run) if p.scope == "epoch" and p.split == "validation")
    assert epochs == [0, 1, 2]  # one validation point per epoch, none duplicated by the resume
    assert latest_checkpoint(run).name == "epoch-2"
    assert not (run / "checkpoints" / "epoch-1" / STATE_FILE).exists()  # only the newest keeps optimizer state


def test_resume_refuses_a_different_training_and_says_what_differs(tiny_model, small_data, tmp_path):
    """Resuming with another learning rate, or edited data, would continue weights this config did not
    make; it is refused before anything loads, naming the difference."""
    train_file, val_file = small_data
    run = tmp_path / "run"
    train(_spec(tiny_model, train_file, val_file, run, epochs=1, learning_rate=3e-3, lora_rank=4))
    config_before = (run / "config.json").read_bytes()
    with pytest.raises(ParameterError, match=r"resume: .* different config \(epochs 1 -> 2, learning_rate 0.003 -> 0.001\).*new run directory"):
        train(_spec(tiny_model, train_file, val_file, run, epochs=2, learning_rate=1e-3, lora_rank=4), resume=True)
    train_file.write_text(train_file.read_text(encoding="utf-8").splitlines(keepends=True)[0] * 20, encoding="utf-8")
    with pytest.raises(ParameterError, match=r"resume: .*train data sha256 \w+ -> sha256 \w+"):
        train(_spec(tiny_model, train_file, val_file, run, epochs=2, learning_rate=3e-3, lora_rank=4), resume=True)
    assert (run / "config.json").read_bytes() == config_before  # the run still describes what trained it


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(tiny_model, small_data, tmp_path, monkeypatch):
    import torch

    train_file, val_file = small_data
    run = tmp_path / "run"
    real_save = torch.save
    calls = {"n": 0}

    def flaky_save(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", flaky_save)
    with pytest.raises(SftwiseError, match="disk is full.*epoch-1 is intact"):
        train(_spec(tiny_model, train_file, val_file, run, epochs=2, learning_rate=3e-3))
    monkeypatch.setattr(torch, "save", real_save)
    assert latest_checkpoint(run).name == "epoch-1"
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["epoch-1"]  # no torn temp dir left
    resumed = train(_spec(tiny_model, train_file, val_file, run, epochs=2, learning_rate=3e-3), resume=True)
    assert resumed.resumed_from.endswith("epoch-1") and latest_checkpoint(run).name == "epoch-2"


def test_overlong_examples_stop_the_run_with_counts(tiny_model, small_data, tmp_path):
    train_file, val_file = small_data
    with pytest.raises(OverlongExamples, match=r"48 of 48 train examples are longer than max_length=16.*overlong='truncate'.*overlong='drop'"):
        train(_spec(tiny_model, train_file, val_file, tmp_path / "r", max_length=16))
    assert not (tmp_path / "r" / "metrics.jsonl").exists()


def test_bad_inputs_are_clear_errors(tiny_model, small_data, tmp_path):
    train_file, val_file = small_data
    with pytest.raises(SftwiseError, match="does not exist"):
        train(_spec(tmp_path / "nope", train_file, val_file, tmp_path / "r"))
    not_causal = tmp_path / "t5"
    not_causal.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (tiny_model / name).exists():
            (not_causal / name).write_bytes((tiny_model / name).read_bytes())
    (not_causal / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 16, "num_layers": 1, "num_heads": 2, "d_kv": 8, "d_ff": 16, "vocab_size": 1100}))
    with pytest.raises(SftwiseError, match="not a causal language model"):
        train(_spec(not_causal, train_file, val_file, tmp_path / "r2"))
    for bad in ({"epochs": 0}, {"learning_rate": -1.0}):
        with pytest.raises(SftwiseError, match=list(bad)[0]):
            TrainSpec.build({"model": "m", "train": "t", **bad})
    with pytest.warns(UserWarning, match="larger than the training set"):
        train(_spec(tiny_model, val_file, train_file, tmp_path / "r3", epochs=1, batch_size=32))
