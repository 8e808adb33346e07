"""The step runner: resumes after a failure, skips up-to-date steps, redoes only what a change touches."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from sftwise.pipeline import runner as pipeline
from sftwise.errors import ParameterError, SftwiseError
from sftwise.pipeline.config import (
    AuditStepConfig,
    BaselineStepConfig,
    DataConfig,
    ModelConfig,
    PipelineConfig,
    SplitStepConfig,
    TrainStepConfig,
)
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


# ---- a library ParameterError is restated as the config key that sets the parameter ---------------


def _only(monkeypatch: pytest.MonkeyPatch, name: str, body) -> None:  # noqa: ANN001 - a step body
    step = next(s for s in pipeline.STEPS if s.name == name)
    monkeypatch.setattr(pipeline, "STEPS", [pipeline.Step(step.name, (), lambda c: (), body, lambda c: True, step.section, step.keys)])


@pytest.mark.parametrize(
    "step, parameter, key",
    [("eval", "max_new_tokens", "eval.max_new_tokens"), ("baseline", "max_new_tokens", "eval.max_new_tokens"),
     ("baseline", "few_shot", "baseline.few_shot"), ("train", "overlong", "train.overlong"), ("train", "max_length", "model.max_length"),
     ("train", "validation", "data.validation"), ("split", "validation", "split.validation"), ("audit", "max_tokens", "audit.max_tokens"),
     ("compare", "seed", "seed")],
)
def test_parameter_error_names_its_config_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, parameter: str, key: str) -> None:
    def body(ctx: pipeline.RunContext) -> tuple[list[str], str]:
        raise ParameterError(parameter, "is wrong, got 0.")

    _only(monkeypatch, step, body)
    with pytest.raises(SftwiseError) as err:
        pipeline.run_pipeline(_config(tmp_path), tmp_path / "run", echo=lambda s: None)
    assert str(err.value).startswith(f"step '{step}' failed: {key}: is wrong, got 0.")
    assert json.loads((tmp_path / "run" / STATE_FILE).read_text())["steps"][step]["error"] == f"{key}: is wrong, got 0."


def test_a_real_library_parameter_error_in_the_split_step(tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"prompt": f"question {i}", "completion": f"answer {i}"}) + "\n" for i in range(20)))
    config = PipelineConfig(data=DataConfig(train=str(train)), model=ModelConfig(base="tiny"), audit=AuditStepConfig(enabled=False),
                            split=SplitStepConfig(enabled=True, validation=0.6, test=0.5), baseline=BaselineStepConfig(enabled=False),
                            train=TrainStepConfig(enabled=False), report=False)
    with pytest.raises(SftwiseError, match=r"step 'split' failed: split.test: validation \+ test must leave something to train on"):
        pipeline.run_pipeline(config, tmp_path / "run", echo=lambda s: None)


# ---- the train step: every train key reaches the TrainSpec; vertex gets bucket, project, location ----


def _train_step_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **config: object) -> object:
    from sftwise.train import local, vertex

    seen = {}

    def fake(spec, **kwargs):  # noqa: ANN001, ANN003 - records what the step passes
        seen["spec"], seen["kwargs"] = spec, kwargs
        return SimpleNamespace(summary="tuned")

    monkeypatch.setattr(local, "train", fake)
    monkeypatch.setattr(vertex, "train_vertex", fake)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "recommendation.json").write_text(json.dumps({"epochs": 4, "learning_rate": 1e-4, "lora_rank": 16, "lora_alpha": 32}))
    cfg = _config(tmp_path).model_copy(update=config)
    assert pipeline._step_train(pipeline.RunContext(config=cfg, run_dir=run_dir)) == (["train"], "tuned")
    return seen


def test_train_keys_and_the_recommendation_reach_the_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train = TrainStepConfig(epochs=2, grad_accum=3, lora_dropout=0.1, batching="packed", overlong="drop")
    seen = _train_step_spec(tmp_path, monkeypatch, model=ModelConfig(base="some/model", max_length=128), train=train)
    spec = seen["spec"]
    assert (spec.epochs, spec.grad_accum, spec.lora_dropout, spec.batching, spec.overlong) == (2, 3, 0.1, "packed", "drop")  # the config wins
    assert (spec.learning_rate, spec.lora_rank, spec.lora_alpha) == (1e-4, 16, 32)  # not set: the recommendation
    assert (spec.model, spec.max_length, spec.run_dir) == ("some/model", 128, str(tmp_path / "run" / "train"))


def test_vertex_backend_gets_bucket_project_and_location_from_the_train_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train = TrainStepConfig(bucket="gs://my-bucket", project="my-project", location="europe-west4", adapter_size=8)
    seen = _train_step_spec(tmp_path, monkeypatch, model=ModelConfig(base="gemini-2.5-flash"), backend="vertex", train=train)
    spec = seen["spec"]
    assert (spec.bucket, spec.project, spec.location, spec.adapter_size) == ("gs://my-bucket", "my-project", "europe-west4", 8)
    assert seen["kwargs"]["wait"] is True  # and train_vertex reads bucket/project/location from the spec (tests/vertex)
