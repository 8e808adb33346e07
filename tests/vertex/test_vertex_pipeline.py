"""``sftwise run`` with ``backend: vertex`` end to end against the emulator, counting the jobs it saw."""

from __future__ import annotations

import json

import pytest
from vertex_data import example, write_gemini

from sftwise.errors import SftwiseError
from sftwise.pipeline.config import PipelineConfig
from sftwise.pipeline.runner import run_pipeline


def quiet(_line: str) -> None:
    pass


@pytest.fixture
def vertex_config(tmp_path):
    train = write_gemini(tmp_path / "train.jsonl", [example(f"ticket {i} about order {i}") for i in range(120)])
    val = write_gemini(tmp_path / "val.jsonl", [example(f"held-out ticket {i}") for i in range(6)])
    test = write_gemini(tmp_path / "test.jsonl", [example(f"test ticket {i}") for i in range(6)])

    def build(**train_keys):
        return PipelineConfig.model_validate({
            "name": "tickets",
            "data": {"train": str(train), "validation": str(val), "test": str(test)},
            "model": {"base": "gemini-2.5-flash"},
            "backend": "vertex",
            "train": {"bucket": "gs://sftwise-test", **train_keys},
            "vertex": {"poll_interval_s": 0},
            "eval": {"metrics": ["exact_match", "f1"], "max_new_tokens": 16},
        })

    return build


def jobs_created(emulator) -> int:
    return len(emulator.jobs)


def test_full_run_on_vertex(emulator, vertex_config, tmp_path):
    state = run_pipeline(vertex_config(), tmp_path / "run", echo=print)
    assert jobs_created(emulator) == 1
    assert all(s.status == "done" for s in state.steps.values())
