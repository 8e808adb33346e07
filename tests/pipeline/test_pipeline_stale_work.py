"""``sftwise run`` never reuses stale work: failed generations are not results, and a changed
training config retrains (or, for more epochs only, continues and says so)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
from fake_openai_server import FakeOpenAI  # noqa: E402

from sftwise.errors import SftwiseError  # noqa: E402
from sftwise.pipeline import runner as pipeline  # noqa: E402
from sftwise.pipeline.config import (  # noqa: E402
    AuditStepConfig,
    BaselineStepConfig,
    DataConfig,
    EvalStepConfig,
    ModelConfig,
    PipelineConfig,
    TrainStepConfig,
)
from sftwise.pipeline.state import load_state  # noqa: E402


def _rows(n: int) -> str:
    rows = []
    for i in range(n):
        rows.append({"contents": [{"role": "user", "parts": [{"text": f"question {i}"}]}, {"role": "model", "parts": [{"text": f"echo: question {i}"}]}]})
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.mark.slow
def test_failed_baseline_generations_are_not_done_and_a_rerun_retries_only_them(tmp_path: Path) -> None:
    pytest.importorskip("openai")
    pytest.importorskip("torch")
    data = tmp_path / "test.jsonl"
    data.write_text(_rows(4), encoding="utf-8")
    with FakeOpenAI() as fake:
        spec = f"openai:fake@{fake.base_url}"
        config = PipelineConfig(
            data=DataConfig(train=str(data), test=str(data)), model=ModelConfig(base="tiny", candidates=[spec], max_length=64),
            audit=AuditStepConfig(enabled=False), baseline=BaselineStepConfig(few_shot=[0]), train=TrainStepConfig(enabled=False),
            eval=EvalStepConfig(metrics=["exact_match"], max_new_tokens=4), report=False,
        )
        run_dir = tmp_path / "run"
        fake.fail_status = 401
        with pytest.raises(SftwiseError, match=r"(?s)4 generation\(s\) failed.*every generation failed \(first error: .*401"):
            pipeline.run_pipeline(config, run_dir, echo=lambda s: None)
        assert load_state(run_dir).steps["baseline"].status == "failed"
        assert fake.calls and sum(fake.calls.values()) == 4

        fake.fail_status = None
        fake.calls.clear()
        lines: list[str] = []
        state = pipeline.run_pipeline(config, run_dir, echo=lines.append)
        assert state.steps["baseline"].status == "done"
        assert sum(fake.calls.values()) == 4  # the four failed ones, sent again; the tiny model's came from its cache
        assert any("4 failed: retrying" in line for line in lines), lines
        (candidate,) = [p for p in (run_dir / "eval").iterdir() if p.name != "baseline-tiny-model-0shot"]
        summary = json.loads((candidate / "summary.json").read_text())
        assert summary["n_errors"] == 0 and summary["metrics"]["exact_match"]["value"] == 1.0


def _adapter_sha(run_dir: Path, epoch: int) -> str:
    import hashlib

    return hashlib.sha256((run_dir / "train" / "checkpoints" / f"epoch-{epoch}" / "adapter_model.safetensors").read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_changed_training_config_retrains_and_more_epochs_continue(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from sftwise.demo.sample import sample_paths

    paths = sample_paths()
    train = tmp_path / "train.jsonl"
    train.write_text("".join(Path(paths["train"]).read_text(encoding="utf-8").splitlines(keepends=True)[:16]), encoding="utf-8")
    val = tmp_path / "val.jsonl"
    val.write_text("".join(Path(paths["validation"]).read_text(encoding="utf-8").splitlines(keepends=True)[:8]), encoding="utf-8")
    run_dir = tmp_path / "run"

    def run(**train_keys: object) -> list[str]:
        config = PipelineConfig(
            data=DataConfig(train=str(train), validation=str(val)), model=ModelConfig(base="tiny", max_length=256),
            audit=AuditStepConfig(enabled=False, force=True), baseline=BaselineStepConfig(enabled=False),
            train=TrainStepConfig(batch_size=16, num_threads=2, lora_rank=4, **train_keys), eval=EvalStepConfig(enabled=False), report=False,
        )
        lines: list[str] = []
        pipeline.run_pipeline(config, run_dir, echo=lines.append)
        return lines

    def trained() -> dict:
        return json.loads((run_dir / "train" / "config.json").read_text())

    run(epochs=1, learning_rate=3e-3)
    first = _adapter_sha(run_dir, 1)

    lines = run(epochs=1, learning_rate=1e-3)
    assert any("train config changed (learning_rate 0.003 -> 0.001): retraining" in line for line in lines), lines
    assert _adapter_sha(run_dir, 1) != first  # new weights, not the old ones under a new config
    assert trained()["learning_rate"] == 1e-3
    retrained = _adapter_sha(run_dir, 1)

    lines = run(epochs=2, learning_rate=1e-3)
    assert any("epochs 1 -> 2 with every other setting unchanged: continuing" in line for line in lines), lines
    result = json.loads((run_dir / "train" / "train_result.json").read_text())
    assert result["resumed_from"].endswith("epoch-1") and _adapter_sha(run_dir, 1) == retrained
    assert trained()["epochs"] == 2

    lines = run(epochs=1, learning_rate=1e-3)  # fewer epochs: epoch-2 must not be what is evaluated
    assert any("epochs 2 -> 1" in line and "retraining" in line for line in lines), lines
    assert sorted(p.name for p in (run_dir / "train" / "checkpoints").iterdir()) == ["epoch-1"]
    assert json.loads((run_dir / "diagnosis.json").read_text())["best_checkpoint"].endswith("epoch-1")
    assert trained()["epochs"] == 1 and not (run_dir / ".train.stale").exists()
