"""Shared fixtures for the tuning tests: one tiny model per session, small data files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    import torch

    from sftwise.demo.tiny import build_tiny_model, sample_texts

    torch.set_num_threads(2)
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", sample_texts(), seed=0)


def write_gemini(path: Path, rows: list[tuple[str | None, str, str]]) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for system, user, model in rows:
            row = {"contents": [{"role": "user", "parts": [{"text": user}]}, {"role": "model", "parts": [{"text": model}]}]}
            if system:
                row["systemInstruction"] = {"parts": [{"text": system}]}
            f.write(json.dumps(row) + "\n")
    return path


@pytest.fixture()
def small_data(tmp_path) -> tuple[Path, Path]:
    from sftwise.demo.sample import sample_paths

    paths = sample_paths()
    lines = Path(paths["train"]).read_text(encoding="utf-8").splitlines()
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(lines[:48]) + "\n", encoding="utf-8")
    val = tmp_path / "val.jsonl"
    val.write_text("\n".join(Path(paths["validation"]).read_text(encoding="utf-8").splitlines()[:16]) + "\n", encoding="utf-8")
    return train, val
