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
