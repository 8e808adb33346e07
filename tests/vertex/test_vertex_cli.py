"""sftwise jobs list | get | cancel | best, driven through the CLI against the emulator."""

from __future__ import annotations

import json

from vertex_data import LOCATION, PROJECT
from typer.testing import CliRunner

from sftwise.cli import app
from sftwise.train.spec import TrainSpec
from sftwise.train.vertex import train_vertex

runner = CliRunner()


def start_job(tmp_path, datasets, **kw):
    train, val = datasets
    spec = TrainSpec(model="gemini-2.5-flash", train=str(train), validation=str(val), run_dir=str(tmp_path / "run"))
    return train_vertex(spec, bucket="gs://sftwise-test", echo=lambda _l: None, **kw).job


def test_list_get_with_run_dir_and_best(emulator, datasets, tmp_path):
    job = start_job(tmp_path, datasets)
    result = runner.invoke(app, ["jobs", "list", "--json", str(tmp_path / "list.json")])
    assert result.exit_code == 0, result.output
    assert "1001" in result.output and "PENDING" in result.output
    assert json.loads((tmp_path / "list.json").read_text())[0]["name"] == job.name
    run_dir = tmp_path / "fetched"
    result = runner.invoke(app, ["jobs", "get", "1001", "--wait", "--poll", "0", "--run-dir", str(run_dir), "--json", str(tmp_path / "job.json")])
    assert result.exit_code == 0, result.output
    assert "JOB_STATE_SUCCEEDED" in result.output and "checkpoint 2: epoch 2, step 8" in result.output
    assert "15 metric points" in result.output  # 12 train steps + 3 validation epochs
    assert json.loads((tmp_path / "job.json").read_text())["adapter_size"] == "ADAPTER_SIZE_FOUR"
    result = runner.invoke(app, ["jobs", "best", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert f"gemini:projects/{PROJECT}/locations/{LOCATION}/endpoints/10012" in result.output


def test_cancel_moves_the_job_to_cancelled(emulator, datasets, tmp_path):
    job = start_job(tmp_path, datasets)
    result = runner.invoke(app, ["jobs", "cancel", job.name])
    assert result.exit_code == 0 and "cancellation requested" in result.output
    assert emulator.bodies("POST", "/tuningJobs/1001:cancel") == [None]
    result = runner.invoke(app, ["jobs", "get", "1001"])
    assert "JOB_STATE_CANCELLED" in result.output
    result = runner.invoke(app, ["jobs", "cancel", "1001"])
    assert result.exit_code == 2 and "Cannot cancel tuning job" in result.output and "Traceback" not in result.output


def test_failed_job_exits_1_with_the_cause(emulator, datasets, tmp_path):
    emulator.fail_jobs_with = (3, "Could not parse line 4 of the training dataset: unknown field 'role'.")
    start_job(tmp_path, datasets)
    result = runner.invoke(app, ["jobs", "get", "1001", "--wait", "--poll", "0"])
    assert result.exit_code == 1
    assert "Could not parse line 4" in result.output and "not in the Gemini tuning schema" in result.output


def test_cli_errors_are_one_line_without_traceback(emulator, tmp_path, monkeypatch):
    cases = [
        (["jobs", "get", "not-a-job"], "neither a numeric job id"),
        (["jobs", "get", "999"], "not found (404)"),
        (["jobs", "list", "--location", "mars-central1"], "region 'mars-central1' does not offer Gemini tuning"),
        (["jobs", "best", str(tmp_path)], "vertex_job.json does not exist"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    from sftwise.gemini import client

    monkeypatch.setattr(client, "default_credentials", lambda: (object(), None))
    result = runner.invoke(app, ["jobs", "list"])
    assert result.exit_code == 2 and "--project: no Google Cloud project given" in result.output


def test_train_config_bucket_project_and_location_are_used(emulator, datasets, tmp_path):
    """TrainSpec's bucket/project/location keys reach the job (before, only the flags did)."""
    train, val = datasets
    spec = tmp_path / "spec.yaml"
    text = (f"model: gemini-2.5-flash\ntrain: {train}\nvalidation: {val}\nrun_dir: {tmp_path / 'run'}\n"
            f"bucket: gs://sftwise-test/from-spec\nproject: {PROJECT}\nlocation: {LOCATION}\n")
    spec.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["train", "--config", str(spec), "--backend", "vertex", "--no-wait"])
    assert result.exit_code == 0, result.output
    assert emulator.objects and all(name.startswith("from-spec/") for _, name in emulator.objects)  # no --bucket flag given
    assert emulator.bodies("POST", f"/v1beta1/projects/{PROJECT}/locations/{LOCATION}/tuningJobs")
    spec.write_text(text.replace(LOCATION, "mars-central1"), encoding="utf-8")
    result = runner.invoke(app, ["train", "--config", str(spec), "--backend", "vertex", "--no-wait"])
    assert result.exit_code == 2 and "region 'mars-central1' does not offer Gemini tuning" in " ".join(result.output.split())
    result = runner.invoke(app, ["train", "--config", str(spec), "--backend", "vertex", "--no-wait", "--location", LOCATION])
    assert result.exit_code == 2 and "already holds tuning job" in result.output  # the same request: never a second job by accident
    result = runner.invoke(app, ["train", "--config", str(spec), "--backend", "vertex", "--no-wait", "--location", LOCATION, "--force"])
    assert result.exit_code == 0, result.output  # a flag wins over the spec
    assert len(emulator.bodies("POST", f"/v1beta1/projects/{PROJECT}/locations/{LOCATION}/tuningJobs")) == 2


def test_train_resume_attaches_to_the_recorded_job_and_never_creates_a_second(emulator, datasets, tmp_path):
    train, val = datasets
    args = ["train", "--backend", "vertex", "--model", "gemini-2.5-flash", "--train", str(train), "--validation", str(val),
            "--run-dir", str(tmp_path / "run"), "--bucket", "gs://sftwise-test", "--lr-multiplier", "2.0"]
    result = runner.invoke(app, [*args, "--no-wait"])
    assert result.exit_code == 0, result.output
    assert len(emulator.jobs) == 1
    result = runner.invoke(app, args)  # the same request again, without --resume: refused, with what a second job costs
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "--run-dir: " in text and "already holds tuning job" in text
    assert "pass --resume to attach to it, or --force to create a second job (a new paid job costing ~$" in text
    result = runner.invoke(app, [*args, "--resume", "--poll", "0"])
    assert result.exit_code == 0, result.output
    assert "attaching to tuning job projects/demo-project/locations/us-central1/tuningJobs/1001" in result.output
    assert "15 metric points" in result.output and len(emulator.jobs) == 1
    result = runner.invoke(app, [*args, "--resume", "--poll", "0"])  # succeeded: goes straight on to the curves
    assert result.exit_code == 0 and "(JOB_STATE_SUCCEEDED)" in result.output and len(emulator.jobs) == 1
    result = runner.invoke(app, [*args, "--force", "--no-wait"])
    assert result.exit_code == 0 and "--force: creating a new tuning job beside" in result.output and len(emulator.jobs) == 2
    result = runner.invoke(app, ["train", "--model", "tiny", "--train", str(train), "--run-dir", str(tmp_path / "local"), "--force"])
    assert result.exit_code == 2 and "goes with --backend vertex" in result.output
