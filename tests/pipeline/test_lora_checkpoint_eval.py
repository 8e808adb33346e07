"""A LoRA checkpoint written by `sftwise train` (adapter only) is a model `sftwise eval` can load."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftwise.conversation import Conversation
from sftwise.formats import write


@pytest.mark.slow
def test_lora_checkpoint_loads_as_generator(tmp_path: Path) -> None:
    pytest.importorskip("peft")
    from sftwise.backends import get_generator
    from sftwise.backends.base import GenerationParams, GenerationRequest
    from sftwise.demo.tiny import build_tiny_model
    from sftwise.train.local import train
    from sftwise.train.spec import TrainSpec

    rows = [Conversation.from_pairs([("user", f"say {w}"), ("model", w)]) for w in ["alpha", "beta", "gamma", "delta"] * 4]
    data = write(rows, tmp_path / "train.jsonl")
    base = build_tiny_model(tmp_path / "base", [c.full_text() for c in rows], hidden_size=32, num_layers=1)
    train(TrainSpec(model=str(base), train=str(data), validation=str(data), run_dir=str(tmp_path / "run"), epochs=1, method="lora", lora_rank=4, batch_size=8, max_length=64))
    checkpoint = tmp_path / "run" / "checkpoints" / "epoch-1"
    assert (checkpoint / "adapter_config.json").exists()
    generator = get_generator(f"hf:{checkpoint}")
    results = generator.generate([GenerationRequest(id="0", messages=[{"role": "user", "content": "say beta"}])], GenerationParams(max_new_tokens=4))
    assert results[0].error is None and results[0].text is not None
