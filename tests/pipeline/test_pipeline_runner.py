"""The step runner: resumes after a failure, skips up-to-date steps, redoes only what a change touches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sftwise.pipeline import runner as pipeline
from sftwise.errors import SftwiseError
from sftwise.pipeline.config import DataConfig, ModelConfig, PipelineConfig, TrainStepConfig
from sftwise.pipeline.state import STATE_FILE


@pytest.fixture()
def fake_steps(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Replace every step body by one that writes a marker file and counts its calls."""
    calls: dict[str, int] = {}
    steps = []
    for step in pipeline.STEPS:
        def body(ctx: pipeline.RunContext, name: str = step.name) -> tuple[list[str], str]:
            calls[name] = calls.get(name, 0) + 1
            if name == "train" and (ctx.run_dir / "FAIL").exists():
                raise SftwiseError("disk full")
            (ctx.run_dir / f"{name}.out").write_text("x")
            return [f"{name}.out"], f"{name} ok"
        steps.append(pipeline.Step(step.name, step.depends, step.inputs, body, step.enabled))
    monkeypatch.setattr(pipeline, "STEPS", steps)
    return calls


def _config(tmp_path: Path, epochs: int = 2) -> PipelineConfig:
    train = tmp_path / "train.jsonl"
    if not train.exists():
        train.write_text("{}\n")
    return PipelineConfig(data=DataConfig(train=str(train), test=str(train)), model=ModelConfig(base="tiny"), train=TrainStepConfig(epochs=epochs))


def test_rerun_skips_done_steps(tmp_path: Path, fake_steps: dict[str, int]) -> None:
    run_dir = tmp_path / "run"
    pipeline.run_pipeline(_config(tmp_path), run_dir, echo=lambda s: None)
    first = dict(fake_steps)
    assert set(first) == {"audit", "baseline", "recommend", "train", "diagnose", "eval", "compare", "report"}  # split is off
    pipeline.run_pipeline(_config(tmp_path), run_dir, echo=lambda s: None)
    assert fake_steps == first


def test_changed_train_config_redoes_train_and_downstream_only(tmp_path: Path, fake_steps: dict[str, int]) -> None:
    run_dir = tmp_path / "run"
    pipeline.run_pipeline(_config(tmp_path), run_dir, echo=lambda s: None)
    pipeline.run_pipeline(_config(tmp_path, epochs=5), run_dir, echo=lambda s: None)
    assert fake_steps["audit"] == 1 and fake_steps["baseline"] == 1 and fake_steps["recommend"] == 1
    assert fake_steps["train"] == 2 and fake_steps["diagnose"] == 2 and fake_steps["eval"] == 2 and fake_steps["report"] == 2


def test_changed_data_redoes_everything(tmp_path: Path, fake_steps: dict[str, int]) -> None:
    run_dir = tmp_path / "run"
    pipeline.run_pipeline(_config(tmp_path), run_dir, echo=lambda s: None)
    (tmp_path / "train.jsonl").write_text('{"changed": 1}\n')
    pipeline.run_pipeline(_config(tmp_path), run_dir, echo=lambda s: None)
    assert all(count == 2 for count in fake_steps.values())


def test_failed_step_is_recorded_and_resumed(tmp_path: Path, fake_steps: dict[str, int]) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "FAIL").write_text("")
    with pytest.raises(SftwiseError, match="step 'train' failed: disk full"):
        pipeline.run_pipeline(_config(tmp_path), run_dir, echo=lambda s: None)
    state = json.loads((run_dir / STATE_FILE).read_text())
    assert state["steps"]["train"]["status"] == "failed" and "disk full" in state["steps"]["train"]["error"]
    assert state["steps"]["audit"]["status"] == "done"
    (run_dir / "FAIL").unlink()
    pipeline.run_pipeline(_config(tmp_path), run_dir, echo=lambda s: None)
    assert fake_steps["audit"] == 1 and fake_steps["train"] == 2 and fake_steps["report"] == 1


def test_missing_output_reruns_step(tmp_path: Path, fake_steps: dict[str, int]) -> None:
    run_dir = tmp_path / "run"
    pipeline.run_pipeline(_config(tmp_path), run_dir, echo=lambda s: None)
    (run_dir / "eval.out").unlink()
    pipeline.run_pipeline(_config(tmp_path), run_dir, echo=lambda s: None)
    assert fake_steps["eval"] == 2 and fake_steps["train"] == 1


def test_run_dir_from_another_version_is_refused(tmp_path: Path, fake_steps: dict[str, int]) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / STATE_FILE).write_text(json.dumps({"state_version": 0, "sftwise_version": "0.0.1", "steps": {}}))
    with pytest.raises(SftwiseError, match="sftwise 0.0.1"):
        pipeline.run_pipeline(_config(tmp_path), run_dir, echo=lambda s: None)


def test_unexpected_exception_keeps_traceback_in_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_steps: dict[str, int]) -> None:
    steps = list(pipeline.STEPS)

    def boom(ctx: pipeline.RunContext) -> tuple[list[str], str]:
        raise ZeroDivisionError("bad")

    steps[0] = pipeline.Step("audit", (), steps[0].inputs, boom, steps[0].enabled)
    monkeypatch.setattr(pipeline, "STEPS", steps)
    with pytest.raises(SftwiseError, match="ZeroDivisionError"):
        pipeline.run_pipeline(_config(tmp_path), tmp_path / "run", echo=lambda s: None)
    state = json.loads((tmp_path / "run" / STATE_FILE).read_text())
    assert "Traceback" in state["steps"]["audit"]["error"]
