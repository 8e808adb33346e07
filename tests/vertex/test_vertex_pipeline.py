"""``sftwise run`` with ``backend: vertex`` end to end against the emulator, counting the jobs it saw.

The emulator finishes a job on the third poll; ``vertex.poll_interval_s: 0`` makes that instant. Each
test counts the jobs the emulator created: the workflow must never pay for a second one by accident.
"""

from __future__ import annotations

import json

import pytest
from vertex_data import LOCATION, PROJECT, example, write_gemini

from sftwise.errors import SftwiseError
from sftwise.gemini import jobs as vjobs
from sftwise.pipeline.config import PipelineConfig
from sftwise.pipeline.runner import run_pipeline
from sftwise.pipeline.state import load_state

PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
ANSWER = '{"team": "shipping"}'


def quiet(_line: str) -> None:
    pass


def tuned_answers_right(model: str, _body: dict) -> str:
    """The tuned endpoints answer in the trained format; the base model rambles."""
    return ANSWER if model.startswith("endpoints/") else "I would route this to shipping."


@pytest.fixture
def vertex_config(tmp_path):
    train = write_gemini(tmp_path / "train.jsonl", [example(f"ticket {i} about order {i}") for i in range(120)])
    val = write_gemini(tmp_path / "val.jsonl", [example(f"held-out ticket {i}") for i in range(6)])
    test = write_gemini(tmp_path / "test.jsonl", [example(f"test ticket {i}") for i in range(8)])

    def build(train_keys: dict | None = None, **vertex_keys):
        return PipelineConfig.model_validate({
            "name": "tickets",
            "data": {"train": str(train), "validation": str(val), "test": str(test)},
            "model": {"base": "gemini-2.5-flash"},
            "backend": "vertex",
            "train": {"bucket": "gs://sftwise-test", **(train_keys or {})},
            "vertex": {"poll_interval_s": 0, **vertex_keys},
            "eval": {"metrics": ["exact_match", "f1"], "max_new_tokens": 16},
        })

    return build


def created(emulator) -> list[dict]:
    """The create requests the emulator answered with a job (an injected error creates none)."""
    return [job.body for job in emulator.jobs.values()]


def generate_paths(emulator) -> set[str]:
    return {r.path.split(f"/{PARENT}/", 1)[1].split(":")[0] for r in emulator.requests if r.path.endswith(":generateContent")}


def test_full_run_on_vertex_tunes_once_diagnoses_evaluates_the_endpoints_and_reports(emulator, vertex_config, tmp_path):
    emulator.responder = tuned_answers_right
    run_dir = tmp_path / "run"
    state = run_pipeline(vertex_config(), run_dir, echo=quiet)

    assert len(created(emulator)) == 1
    assert {name: s.status for name, s in state.steps.items()} == {name: "done" for name in
                                                                   ("audit", "baseline", "recommend", "train", "diagnose", "eval", "compare", "report")}
    assert state.steps["train"].summary.startswith("job 1001 succeeded, 3 epochs (set by the service)")  # was: 'VertexRun' object has no attribute 'summary'
    # the curves, read back as metric points, diagnosed: the emulator's validation loss bottoms out at epoch 2
    diagnosis = json.loads((run_dir / "diagnosis.json").read_text())
    assert diagnosis["best_epoch"] == 2 and (run_dir / "train" / "metrics.jsonl").is_file()
    # baseline on the untuned model; eval on the tuned endpoint and on the best checkpoint's endpoint, never a path
    assert generate_paths(emulator) == {"publishers/google/models/gemini-2.5-flash", "endpoints/1001", "endpoints/10012"}
    assert state.steps["eval"].outputs == ["eval/tuned", "eval/checkpoint-2"]
    comparison = json.loads((run_dir / "comparison.json").read_text())
    assert [c["b"] for c in comparison["comparisons"]] == [str(run_dir / "eval" / "tuned"), str(run_dir / "eval" / "checkpoint-2")]
    exact = comparison["comparisons"][0]["metrics"][0]
    assert exact["metric"] == "exact_match" and exact["value_a"] == 0.0 and exact["value_b"] == 1.0 and exact["ci_low"] is not None
    html = (run_dir / "report.html").read_text()
    assert "1001" in html and "~$" in html  # the job and the recommendation's cost estimate
    # the request sent is saved beside the job
    saved = json.loads((run_dir / "train" / "vertex_request.json").read_text())
    assert saved["job"] == f"{PARENT}/tuningJobs/1001" and saved["request"]["tuned_model_display_name"] == "sftwise-tickets"

    again = run_pipeline(vertex_config(), run_dir, echo=quiet)  # everything up to date: nothing new
    assert len(created(emulator)) == 1 and again.steps["train"].status == "done"


def test_the_recommended_lr_multiplier_and_adapter_reach_the_request(emulator, vertex_config, tmp_path):
    run_pipeline(vertex_config(), tmp_path / "run", echo=quiet)
    rec = json.loads((tmp_path / "run" / "recommendation.json").read_text())
    assert rec["lr_multiplier"] not in (None, 1.0) and rec["adapter_size"] is not None
    (body,) = created(emulator)
    hp = body["supervisedTuningSpec"]["hyperParameters"]
    assert hp["learningRateMultiplier"] == pytest.approx(rec["lr_multiplier"])  # was: 1.0 (the open-model translation dropped it)
    assert rec["epochs"] is None and "epochCount" not in hp  # 'default' epochs: the service sets them from the dataset size
    assert hp["adapterSize"] == f"ADAPTER_SIZE_{['ONE', 'TWO', 'FOUR', 'EIGHT', 'SIXTEEN'][[1, 2, 4, 8, 16].index(rec['adapter_size'])]}"


def test_configured_project_region_hyperparameters_and_display_name_reach_the_requests(emulator, vertex_config, tmp_path):
    config = vertex_config({"epochs": 2, "lr_multiplier": 0.5, "adapter_size": 8, "location": "europe-west4", "project": "yaml-project"},
                           display_name="tickets-v2", eval_checkpoint="none")
    state = run_pipeline(config, tmp_path / "run", echo=quiet)
    where = "/v1beta1/projects/yaml-project/locations/europe-west4"
    assert [r.path for r in emulator.requests if r.method == "POST" and r.path.endswith("/tuningJobs")] == [f"{where}/tuningJobs"]
    generated = {r.path for r in emulator.requests if r.path.endswith(":generateContent")}
    assert generated == {f"{where}/publishers/google/models/gemini-2.5-flash:generateContent", f"{where}/endpoints/1001:generateContent"}
    (body,) = created(emulator)
    assert body["supervisedTuningSpec"]["hyperParameters"] == {"epochCount": 2, "learningRateMultiplier": 0.5, "adapterSize": "ADAPTER_SIZE_EIGHT"}
    assert body["tunedModelDisplayName"] == "tickets-v2"
    assert state.steps["eval"].outputs == ["eval/tuned"]  # eval_checkpoint: none


def test_a_403_while_polling_fails_the_step_and_the_rerun_attaches_to_the_same_job(emulator, vertex_config, tmp_path):
    emulator.inject("/tuningJobs/1001", 403, "Permission 'aiplatform.tuningJobs.get' denied", method="GET")
    with pytest.raises(SftwiseError) as err:
        run_pipeline(vertex_config(), tmp_path / "run", echo=quiet)
    assert "permission denied (403)" in str(err.value) and "sftwise jobs cancel projects/" in str(err.value)
    assert load_state(tmp_path / "run").steps["train"].status == "failed"
    assert len(created(emulator)) == 1

    lines: list[str] = []
    state = run_pipeline(vertex_config(), tmp_path / "run", echo=lines.append)
    assert len(created(emulator)) == 1  # was: a second job
    assert any(line.startswith(f"attaching to tuning job {PARENT}/tuningJobs/1001") for line in lines)
    assert state.steps["train"].status == "done" and "(attached)" in state.steps["train"].summary
    assert state.steps["report"].status == "done"


def test_a_kill_while_polling_leaves_the_job_running_and_the_rerun_attaches(emulator, vertex_config, tmp_path, monkeypatch):
    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(vjobs, "_sleep", interrupted)
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(vertex_config(), tmp_path / "run", echo=lines.append)
    assert any("keeps running on the service" in line and f"sftwise jobs cancel {PARENT}/tuningJobs/1001" in line for line in lines)
    assert emulator.jobs[f"{PARENT}/tuningJobs/1001"].body["state"] == "JOB_STATE_RUNNING"  # not cancelled
    assert json.loads((tmp_path / "run" / "train" / "vertex_request.json").read_text())["job"].endswith("/1001")

    monkeypatch.undo()  # (the emulator fixture's own patches are applied again below by re-entering nothing: re-set what we need)
    from sftwise.gemini import client as gclient
    from sftwise.gemini import errors
    from google.oauth2.credentials import Credentials

    monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", emulator.base_url)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.base_url.rstrip("/"))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setattr(gclient, "default_credentials", lambda: (Credentials(token="test-token"), PROJECT))
    monkeypatch.setattr(errors, "RETRY_BASE_DELAY_S", 0.0)
    state = run_pipeline(vertex_config(), tmp_path / "run", echo=quiet)
    assert len(created(emulator)) == 1
    assert state.steps["train"].status == "done" and state.steps["eval"].status == "done"


def test_a_job_that_fails_on_the_service_stops_and_a_rerun_never_recreates_it(emulator, vertex_config, tmp_path):
    emulator.fail_jobs_with = (3, "Could not parse line 4 of the training dataset.")
    for _ in range(2):
        with pytest.raises(SftwiseError) as err:
            run_pipeline(vertex_config(), tmp_path / "run", echo=quiet)
        text = str(err.value)
        assert "failed on the service: Could not parse line 4 of the training dataset. (code 3)" in text
        assert "not in the Gemini tuning schema" in text and "No new job was created" in text and "--new-job" in text
        assert len(created(emulator)) == 1
    assert load_state(tmp_path / "run").steps["train"].status == "failed"


def test_new_job_and_a_changed_request_create_a_new_job_and_say_what_it_costs(emulator, vertex_config, tmp_path):
    run_pipeline(vertex_config(), tmp_path / "run", echo=quiet)
    lines: list[str] = []
    run_pipeline(vertex_config({"epochs": 2}), tmp_path / "run", echo=lines.append)
    assert len(created(emulator)) == 2
    assert any(line.startswith("the request changed (epoch_count None -> 2): creating a new tuning job beside") and "costing ~$" in line for line in lines)
    lines.clear()
    (tmp_path / "run" / "pipeline_state.json").unlink()  # every step runs again: the job is attached to, not re-created
    run_pipeline(vertex_config({"epochs": 2}), tmp_path / "run", echo=lines.append)
    assert len(created(emulator)) == 2
    (tmp_path / "run" / "pipeline_state.json").unlink()
    lines.clear()
    run_pipeline(vertex_config({"epochs": 2}), tmp_path / "run", new_job=True, echo=lines.append)
    assert len(created(emulator)) == 3
    assert any(line.startswith("--force: creating a new tuning job beside") for line in lines)


def test_a_429_on_create_is_retried_and_creates_one_job(emulator, vertex_config, tmp_path):
    emulator.inject("/tuningJobs", 429, "Quota exceeded for tuning jobs", method="POST", times=2)
    state = run_pipeline(vertex_config(), tmp_path / "run", echo=quiet)
    assert len([r for r in emulator.requests if r.method == "POST" and r.path.endswith("/tuningJobs")]) == 3
    assert len(created(emulator)) == 1 and state.steps["train"].status == "done"


def test_an_epoch_past_the_last_is_a_config_error(emulator, vertex_config, tmp_path):
    with pytest.raises(SftwiseError, match=r"vertex\.eval_checkpoint: epoch 7 is past the job's last epoch \(3\)"):
        run_pipeline(vertex_config(eval_checkpoint=7), tmp_path / "run", echo=quiet)
    assert len(created(emulator)) == 1


def test_the_annotated_example_runs_through_the_cli_with_one_job(emulator, tmp_path):
    """``sftwise run examples/pipeline-vertex.yaml`` as a user runs it, with their project and bucket filled in."""
    from pathlib import Path

    from typer.testing import CliRunner

    from sftwise.cli import app

    root = Path(__file__).resolve().parents[2]
    text = (root / "examples" / "pipeline-vertex.yaml").read_text(encoding="utf-8")
    for placeholder, value in (("YOUR_PROJECT", PROJECT), ("gs://YOUR_BUCKET/sftwise", "gs://sftwise-test/sftwise"),
                               ("poll_interval_s: 60", "poll_interval_s: 0"), ("# max_examples: 50", "max_examples: 6"),
                               ("../src/", f"{root}/src/")):
        assert placeholder in text
        text = text.replace(placeholder, value)
    config = tmp_path / "pipeline-vertex.yaml"
    config.write_text(text, encoding="utf-8")
    emulator.responder = tuned_answers_right
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(config), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "Report:" in result.output and len(created(emulator)) == 1
    (body,) = created(emulator)
    assert body["tunedModelDisplayName"] == "sftwise-tickets-gemini"
    assert body["supervisedTuningSpec"]["trainingDatasetUri"].startswith("gs://sftwise-test/sftwise/")
    result = runner.invoke(app, ["run", str(config), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 0 and "up to date" in result.output and len(created(emulator)) == 1


def test_changing_the_evaluated_checkpoint_reruns_eval_only_and_attaches_nothing_new(emulator, vertex_config, tmp_path):
    run_pipeline(vertex_config(), tmp_path / "run", echo=quiet)
    lines: list[str] = []
    state = run_pipeline(vertex_config(eval_checkpoint=1), tmp_path / "run", echo=lines.append)
    assert state.steps["eval"].outputs == ["eval/tuned", "eval/checkpoint-1"]
    assert any(line.startswith("✓ train     up to date") for line in lines) and len(created(emulator)) == 1
    assert "endpoints/10011" in generate_paths(emulator)
    run_pipeline(vertex_config(display_name="tickets-v3"), tmp_path / "run", echo=quiet)  # part of the request: a new job
    assert len(created(emulator)) == 2 and list(emulator.jobs.values())[-1].body["tunedModelDisplayName"] == "tickets-v3"


KILLED_RUN = """
import sys
from google.oauth2.credentials import Credentials
from sftwise.gemini import client
from sftwise.pipeline.config import PipelineConfig
from sftwise.pipeline.runner import run_pipeline

client.default_credentials = lambda: (Credentials(token="test-token"), "demo-project")
config = PipelineConfig.model_validate_json(open(sys.argv[1]).read())
run_pipeline(config, sys.argv[2], echo=lambda line: None)
"""


def test_a_real_kill_while_polling_and_a_rerun_make_one_job(emulator, vertex_config, tmp_path):
    """SIGKILL (no handler runs) between two polls: the job's name is already on disk, the re-run attaches."""
    import os
    import signal
    import subprocess
    import sys
    import time

    config = vertex_config(poll_interval_s=30)  # the child sleeps between polls: that is when it is killed
    (tmp_path / "config.json").write_text(config.model_dump_json(), encoding="utf-8")
    run_dir = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(tmp_path / "config.json"), str(run_dir)],
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not any(job.polls for job in emulator.jobs.values()):
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the child never polled its job"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert len(created(emulator)) == 1 and (run_dir / "train" / "vertex_request.json").is_file()
    assert load_state(run_dir).steps["train"].status == "running"  # killed mid-step: nothing recorded it as done or failed

    lines: list[str] = []
    state = run_pipeline(vertex_config(poll_interval_s=30), run_dir, echo=lines.append)  # same config: the same request
    assert len(created(emulator)) == 1
    assert any(line.startswith(f"attaching to tuning job {PARENT}/tuningJobs/1001") for line in lines)
    assert state.steps["report"].status == "done"
