"""Regenerate the real-run half of the labelled curve set: tiny runs driven into each regime.

    python tests/training/make_curve_fixtures.py      # ~2 minutes on 2 CPU cores

Each run trains a tiny random-weight model (``sftwise.demo.tiny``) on the bundled sample task (or a
deliberately damaged copy of it) with settings chosen to produce the regime named in its label;
the label is the *design* of the run, not diagnose's output. The metrics are written to
``fixtures/curves/<name>.jsonl`` and the labels to ``fixtures/curves/labels.json``.

* under-trained: 1-2 epochs at a low constant learning rate (validation still falling);
* overfitting: 8 training examples, 90 epochs at a high constant learning rate (memorisation);
* healthy: the full 480 examples, enough epochs for the validation loss to flatten;
* data-issue: model turns replaced by uniformly random tokens (nothing to learn: the loss never
  moves), or a learning rate so high the loss turns NaN/inf.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "fixtures" / "curves"


def _conversations(path):
    from sftwise.train.data import load_conversations

    return load_conversations(path).conversations


def _write(path: Path, conversations) -> str:
    rows = []
    for c in conversations:
        rows.append({"systemInstruction": {"parts": [{"text": c.system}]} if c.system else None,
                     "contents": [{"role": t.role, "parts": [{"text": t.text}]} for t in c.turns]})
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            if r["systemInstruction"] is None:
                del r["systemInstruction"]
            f.write(json.dumps(r) + "\n")
    return str(path)


def _corrupt(conversations, tokenizer, seed: int):
    from sftwise.conversation import Conversation, Turn

    rng = random.Random(seed)
    specials = set(tokenizer.all_special_ids)
    vocab = [i for i in range(len(tokenizer)) if i not in specials]
    out = []
    for c in conversations:
        turns = [Turn.of(t.role, tokenizer.decode([rng.choice(vocab) for _ in range(24)]) if t.role == "model" else t.text) for t in c.turns]
        out.append(Conversation(turns=turns, system=c.system))
    return out


RUNS = [
    # name, label, data, TrainSpec overrides. Constant schedules where the regime needs the curve's
    # end to mean something: a cosine decay to 0 flattens the end of any run, which hides
    # under-training and stops over-fitting from growing (diagnose cannot see past the schedule).
    ("tiny-under-1", "under-trained", "full", dict(epochs=1, learning_rate=3e-4, scheduler="constant", method="full", eval_every=3, batch_size=16)),
    ("tiny-under-2", "under-trained", "full", dict(epochs=2, learning_rate=1e-4, scheduler="constant", method="full", eval_every=5, batch_size=16)),
    ("tiny-under-3", "under-trained", "full", dict(epochs=1, learning_rate=1e-3, scheduler="constant", method="full", eval_every=3, batch_size=16, seed=3)),
    ("tiny-over-1", "overfitting", "small8a", dict(epochs=90, learning_rate=3e-3, scheduler="constant", method="full", batch_size=8, log_every=2)),
    ("tiny-over-2", "overfitting", "small8b", dict(epochs=90, learning_rate=3e-3, scheduler="constant", method="full", batch_size=8, log_every=2, seed=1)),
    ("tiny-healthy-1", "healthy", "full", dict(epochs=6, learning_rate=3e-3, method="full", batch_size=16)),
    ("tiny-healthy-2", "healthy", "full", dict(epochs=8, learning_rate=3e-3, method="lora", lora_rank=32, batch_size=16, seed=1)),
    ("tiny-healthy-3", "healthy", "full", dict(epochs=6, learning_rate=2e-3, method="full", batch_size=8, seed=2)),
    ("tiny-corrupt-1", "data-issue", "corrupt", dict(epochs=3, learning_rate=3e-3, method="full", batch_size=16)),
    ("tiny-corrupt-2", "data-issue", "corrupt", dict(epochs=4, learning_rate=1e-3, method="lora", lora_rank=16, batch_size=16, seed=1)),
    ("tiny-diverge-1", "data-issue", "full", dict(epochs=2, learning_rate=50.0, method="full", batch_size=16, max_grad_norm=0.0, warmup_ratio=0.0)),
]


def main(only: list[str] | None = None) -> None:
    import torch

    from sftwise.demo.sample import sample_paths
    from sftwise.demo.tiny import build_tiny_model, sample_texts
    from sftwise.train.local import train
    from sftwise.train.spec import TrainSpec

    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    labels_path = OUT / "labels.json"
    labels = json.loads(labels_path.read_text()) if labels_path.exists() else {}
    paths = sample_paths()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_tiny_model(tmp / "model", sample_texts(), seed=0)
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model)
        train_conv = _conversations(paths["train"])
        data = {
            "full": (str(paths["train"]), str(paths["validation"])),
            "small8a": (_write(tmp / "s8a.jsonl", train_conv[:8]), str(paths["validation"])),
            "small8b": (_write(tmp / "s8b.jsonl", train_conv[200:208]), str(paths["validation"])),
            "corrupt": (_write(tmp / "ct.jsonl", _corrupt(train_conv, tok, 0)), _write(tmp / "cv.jsonl", _corrupt(_conversations(paths["validation"]), tok, 1))),
        }
        for name, label, which, overrides in RUNS:
            if only and name not in only:
                continue
            run_dir = tmp / name
            shutil.rmtree(run_dir, ignore_errors=True)
            fields = dict(model=str(model), train=data[which][0], validation=data[which][1], run_dir=str(run_dir), max_length=256, log_every=5, tensorboard=False)
            fields.update(overrides)
            train(TrainSpec(**fields))
            shutil.copy(run_dir / "metrics.jsonl", OUT / f"{name}.jsonl")
            labels[name] = label
            print(name, label, flush=True)
    labels_path.write_text(json.dumps(labels, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:] or None)
