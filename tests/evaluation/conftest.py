"""Fixtures of the evaluation tests: GSM8K location, small eval files, one tiny model per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval_helpers import GSM8K, gemini_row, write_jsonl


@pytest.fixture(scope="session")
def gsm8k_solutions() -> Path:
    path = GSM8K / "example_model_solutions.jsonl"
    if not path.is_file():
        pytest.skip("../shared/data/gsm8k is absent")
    return path


@pytest.fixture(scope="session")
def qa_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qa")
    colours = ["red", "blue", "green", "yellow", "black", "white", "purple", "orange"]
    test = [gemini_row(f"What colour is item {i}?", colours[i % 8], system="Answer with one word.") for i in range(12)]
    train = [gemini_row(f"Name the colour of thing {i}.", colours[(i * 3) % 8]) for i in range(30)]
    return {"test": write_jsonl(root / "test.jsonl", test), "train": write_jsonl(root / "train.jsonl", train)}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from sftwise.demo.tiny import build_tiny_model

    texts = ["What colour is item 3? red blue green yellow black white purple orange", "Answer with one word.", "Name the colour of thing 7."] * 20
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", texts, seed=0)
