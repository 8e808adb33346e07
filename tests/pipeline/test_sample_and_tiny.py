"""The bundled sample is what its generator makes, and the tiny model is a real HF model directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sftwise.demo.sample import PRIORITIES, SPLIT_SIZES, TEAMS, generate, sample_paths, write_sample


def test_shipped_sample_equals_generator_output(tmp_path: Path) -> None:
    fresh = write_sample(tmp_path)
    for split, path in fresh.items():
        assert path.read_bytes() == sample_paths()[split].read_bytes(), f"{split}.jsonl is stale: run python -m sftwise.demo.sample"


def test_sample_labels_are_valid_json_with_allowed_values() -> None:
    splits = generate()
    assert {k: len(v) for k, v in splits.items()} == SPLIT_SIZES
    texts = [c.last_user_text for rows in splits.values() for c in rows]
    assert len(texts) == len(set(texts)), "ticket texts must be unique across splits (no exact leakage)"
    for rows in splits.values():
        for conversation in rows:
            label = json.loads(conversation.target or "")
            assert label["team"] in TEAMS and label["priority"] in PRIORITIES


def test_tiny_model_round_trips_text_and_masks_assistant(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sftwise.demo.tiny import build_tiny_model, sample_texts

    path = build_tiny_model(tmp_path / "tiny", sample_texts()[:200], hidden_size=32, num_layers=1)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    text = '{"team": "billing", "priority": "high"} — ünïcödé 日本語'
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}, {"role": "assistant", "content": "A1"}]
    encoded = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    trained = [i for i, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m]
    assert tokenizer.decode(trained) == "A1<|im_end|>"  # the end-of-turn token carries loss: the model learns to stop
    assert model.config.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")


def test_sample_margin_is_below_the_near_duplicate_default() -> None:
    """The sample is leakage-free as the audit checks it only while its margin stays under the default."""
    from sftwise.hygiene.minhash import MinHashConfig
    from sftwise.demo.sample import LEAKAGE_THRESHOLD

    assert LEAKAGE_THRESHOLD < MinHashConfig().threshold
