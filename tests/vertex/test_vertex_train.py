"""sftwise train --backend vertex: exact requests through the real SDKs, waiting, curves, bad input."""

from __future__ import annotations

import json

import pytest
from vertex_data import LOCATION, PROJECT, example, write_gemini

from sftwise.errors import SftwiseError
from sftwise.runlog import read_metrics
from sftwise.train.spec import TrainSpec
from sftwise.train.vertex import train_vertex

PARENT = f"/v1beta1/projects/{PROJECT}/locations/{LOCATION}"


def spec(train, val=None, tmp_path=None, **kw):
    return TrainSpec(model=kw.pop("model", "gemini-2.5-flash"), train=str(train), validation=str(val) if val else None,
                     run_dir=str(tmp_path / "run"), **kw)


def quiet(_line: str) -> None:
    pass


def test_create_request_body_is_exactly_what_the_service_expects(emulator, datasets, tmp_path):
    train, val = datasets
    run = train_vertex(spec(train, val, tmp_path, epochs=5, lr_multiplier=0.5, adapter_size=8), bucket="gs://sftwise-test/tuning",
                       display_name="tickets-v1", echo=quiet)
    (body,) = emulator.bodies("POST", f"{PARENT}/tuningJobs")
    train_uri = run.request["training_dataset_uri"]
    val_uri = run.request["validation_dataset_uri"]
    assert body == {
        "baseModel": "gemini-2.5-flash",
        "supervisedTuningSpec": {
            "trainingDatasetUri": train_uri,
            "validationDatasetUri": val_uri,
            "hyperParameters": {"epochCount": 5, "learningRateMultiplier": 0.5, "adapterSize": "ADAPTER_SIZE_EIGHT"},
        },
        "tunedModelDisplayName": "tickets-v1",
    }
    assert train_uri.startswith("gs://sftwise-test/tuning/sftwise/") and train_uri.endswith("/train.jsonl")
    bucket, name = train_uri[5:].split("/", 1)
    assert emulator.objects[(bucket, name)] == train.read_bytes()
    assert emulator.objects[tuple(val_uri[5:].split("/", 1))] == val.read_bytes()
    assert run.job.state == "JOB_STATE_PENDING"
    assert run.job.console_url == "https://console.cloud.google.com/vertex-ai/generative/language/locations/us-central1/tuning/tuningJob/1001?project=demo-project"
    saved = json.loads((tmp_path / "run" / "vertex_job.json").read_text())
    assert saved["name"] == f"projects/{PROJECT}/locations/{LOCATION}/tuningJobs/1001"
    auth = [r.headers.get("authorization") for r in emulator.requests if "tuningJobs" in r.path]
    assert auth == ["Bearer test-token"]


def test_defaults_are_the_recommended_ones_and_uploads_are_not_repeated(emulator, datasets, tmp_path):
    train, _ = datasets
    train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", echo=quiet)
    train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", force=True, echo=quiet)
    first, second = emulator.bodies("POST", f"{PARENT}/tuningJobs")
    assert first == second
    assert first["supervisedTuningSpec"]["hyperParameters"] == {"epochCount": 3, "learningRateMultiplier": 1.0, "adapterSize": "ADAPTER_SIZE_FOUR"}
    assert "validationDatasetUri" not in first["supervisedTuningSpec"]
    uploads = [r for r in emulator.requests if r.path.startswith("/upload/")]
    assert len(uploads) == 1  # content-addressed: the second run found the object


def test_gs_uris_are_taken_as_they_are(emulator, tmp_path):
    emulator.objects[("sftwise-test", "d/train.jsonl")] = b"{}\n"
    train_vertex(spec("gs://sftwise-test/d/train.jsonl", None, tmp_path), echo=quiet)
    (body,) = emulator.bodies("POST", f"{PARENT}/tuningJobs")
    assert body["supervisedTuningSpec"]["trainingDatasetUri"] == "gs://sftwise-test/d/train.jsonl"
    assert not [r for r in emulator.requests if "storage" in r.path]


def test_wait_polls_to_success_and_writes_metrics_for_diagnose(emulator, datasets, tmp_path):
    from sftwise.diagnose import diagnose_run
    from sftwise.gemini.jobs import best_checkpoint, read_job

    train, val = datasets
    run = train_vertex(spec(train, val, tmp_path, epochs=3), bucket="gs://sftwise-test", wait=True, poll_interval_s=0, echo=quiet)
    assert run.job.state == "JOB_STATE_SUCCEEDED"
    assert [c.epoch for c in run.job.checkpoints] == [1, 2, 3]
    points = read_metrics(tmp_path / "run")
    train_points = [p for p in points if p.split == "train"]
    val_points = [p for p in points if p.split == "validation"]
    assert len(train_points) == 12 and train_points[0].epoch == 0.25 and train_points[-1].epoch == 3.0
    assert train_points[0].loss > train_points[-1].loss and train_points[-1].token_accuracy > 0.9
    assert [(p.epoch, p.scope, p.checkpoint) for p in val_points] == [(1.0, "epoch", "1"), (2.0, "epoch", "2"), (3.0, "epoch", "3")]
    diagnosis = diagnose_run(tmp_path / "run")
    assert diagnosis.best_epoch == 2.0
    best = best_checkpoint(read_job(tmp_path / "run"), diagnosis.best_epoch, diagnosis.headline())
    assert best.checkpoint.checkpoint_id == "2"
    assert best.model_spec == f"gemini:projects/{PROJECT}/locations/{LOCATION}/endpoints/10012"
    gets = [r for r in emulator.requests if r.method == "GET" and r.path.endswith("/tuningJobs/1001")]
    assert len(gets) == 3  # pending -> running -> running (tuning) -> succeeded


def test_server_side_failure_shows_the_error_and_likely_cause(emulator, datasets, tmp_path):
    emulator.fail_jobs_with = (3, "Dataset validation failed: line 7 exceeds the maximum token count.")
    train, _ = datasets
    with pytest.raises(SftwiseError) as err:
        train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", wait=True, poll_interval_s=0, echo=quiet)
    text = str(err.value)
    assert "failed on the service: Dataset validation failed: line 7 exceeds the maximum token count. (code 3)" in text
    assert "longer than the model's token limit" in text and "sftwise audit --target gemini-2.5-flash" in text
    assert json.loads((tmp_path / "run" / "vertex_job.json").read_text())["state"] == "JOB_STATE_FAILED"


def test_dataset_over_limits_is_caught_before_upload(emulator, tmp_path):
    rows = [example() for _ in range(3)] + [example(user="word " * 700_000)]
    bad_role = example()
    bad_role["contents"][0]["role"] = "human"
    train = write_gemini(tmp_path / "train.jsonl", rows + [bad_role])
    with pytest.raises(SftwiseError) as err:
        train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", echo=quiet)
    text = str(err.value)
    assert "nothing was uploaded" in text
    assert f"{train}:4: SW606" in text and "accepts at most 131,072 per example" in text
    assert f"{train}:5:" not in text or "SW601" in text
    assert "role must be 'user' or 'model', got 'human'" in text
    assert emulator.requests == []


def test_other_formats_are_converted_to_gemini_jsonl_first(emulator, tmp_path):
    src = tmp_path / "chat.jsonl"
    src.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}) + "\n" for i in range(3)))
    run = train_vertex(spec(src, None, tmp_path), bucket="gs://sftwise-test", echo=quiet)
    uri = run.request["training_dataset_uri"]
    uploaded = emulator.objects[tuple(uri[5:].split("/", 1))].decode().splitlines()
    assert json.loads(uploaded[0])["contents"][1] == {"role": "model", "parts": [{"text": "a"}]}
    assert (tmp_path / "run" / "vertex" / "train.jsonl").exists()  # the converted file sits in the run dir


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "gemini-9-ultra"}, "cannot be tuned on Vertex AI"),
        ({"adapter_size": 32}, "adapter size 32 is not offered for gemini-2.5-flash"),
        ({"location": "asia-south2"}, "region 'asia-south2' does not offer Gemini tuning"),
        ({"bucket": "my-bucket"}, "^bucket: must be a gs:// URI"),
        ({"bucket": None}, "^bucket: local dataset files need a Cloud Storage bucket to upload to"),
        ({"bucket": "gs://no-such-bucket"}, "bucket gs://no-such-bucket does not exist"),
        ({"display_name": "x" * 129}, "^display_name: must have 1 to 128 characters, got 129"),
    ],
)
def test_bad_input_gives_a_clear_error(emulator, datasets, tmp_path, kwargs, message):
    train, _ = datasets
    model = kwargs.pop("model", "gemini-2.5-flash")
    adapter = kwargs.pop("adapter_size", None)
    call = {"bucket": "gs://sftwise-test", "echo": quiet, **kwargs}
    with pytest.raises(SftwiseError, match=message):
        train_vertex(spec(train, None, tmp_path, model=model, adapter_size=adapter), **call)
    assert not emulator.bodies("POST", "tuningJobs")


def test_no_credentials(emulator, datasets, tmp_path, monkeypatch):
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    from sftwise.gemini import client as gclient

    monkeypatch.undo()  # the real default_credentials, with google.auth.default failing as on a fresh machine
    def no_adc(**_kw):
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_adc)
    assert gclient.default_credentials.__module__ == "sftwise.gemini.client"
    train, _ = datasets
    with pytest.raises(SftwiseError, match="no Google Cloud credentials found. Run `gcloud auth application-default login`"):
        train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", echo=quiet)


def test_400_invalid_dataset_is_explained(emulator, datasets, tmp_path):
    emulator.inject("/tuningJobs", 400, "Invalid dataset: line 3 could not be parsed.", method="POST")
    train, _ = datasets
    with pytest.raises(SftwiseError) as err:
        train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", echo=quiet)
    assert "rejected the request (400 INVALID_ARGUMENT): Invalid dataset: line 3 could not be parsed." in str(err.value)
    assert "sftwise audit --target" in str(err.value)
    assert len(emulator.bodies("POST", "/tuningJobs")) == 1  # 400 is not retried


def test_403_names_the_roles(emulator, datasets, tmp_path):
    emulator.inject("/tuningJobs", 403, "Permission 'aiplatform.tuningJobs.create' denied on resource", method="POST")
    train, _ = datasets
    with pytest.raises(SftwiseError, match=r"permission denied \(403\).*roles/aiplatform.user.*roles/storage.objectAdmin"):
        train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", echo=quiet)


def test_429_is_retried_then_succeeds_and_persistent_429_is_explained(emulator, datasets, tmp_path):
    train, _ = datasets
    emulator.inject("/tuningJobs", 429, "Quota exceeded", method="POST", times=2)
    run = train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", echo=quiet)
    assert run.job.name.endswith("/tuningJobs/1001")
    assert len(emulator.bodies("POST", "/tuningJobs")) == 3
    emulator.inject("/tuningJobs", 429, "Quota exceeded for tuning", method="POST", times=10)
    with pytest.raises(SftwiseError, match=r"quota exhausted \(429\) after 5 attempt\(s\): Quota exceeded for tuning"):
        train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", force=True, echo=quiet)


def test_5xx_while_polling_is_retried(emulator, datasets, tmp_path):
    train, _ = datasets
    run = train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", echo=quiet)
    emulator.inject(run.job.name, 503, "The service is currently unavailable.", method="GET", times=2)
    from sftwise.gemini.jobs import wait_for_job

    info = wait_for_job(emulator_client(), run.job.name, interval_s=0)
    assert info.state == "JOB_STATE_SUCCEEDED"


def emulator_client():
    from sftwise.gemini.client import genai_client, resolve_context

    return genai_client(resolve_context(PROJECT, LOCATION))


def test_bucket_without_access_names_the_roles(emulator, datasets, tmp_path):
    emulator.inject("/storage/v1/b/sftwise-test", 403, "caller does not have storage.buckets.get access", method="GET")
    train, _ = datasets
    with pytest.raises(SftwiseError, match=r"looking up bucket gs://sftwise-test: permission denied \(403\): .*caller does not have storage.buckets.get access.*roles/storage.objectAdmin"):
        train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", echo=quiet)
    assert not emulator.bodies("POST", "tuningJobs")


def test_expired_credentials_say_to_log_in_again(emulator, tmp_path):
    from google.oauth2.credentials import Credentials

    from sftwise.gemini.client import VertexContext, genai_client

    stale = genai_client(VertexContext(PROJECT, LOCATION, Credentials(token=None)))  # no token, no refresh token
    emulator.objects[("sftwise-test", "d/train.jsonl")] = b"{}\n"
    with pytest.raises(SftwiseError, match="could not be used .*Run `gcloud auth application-default login` again"):
        train_vertex(spec("gs://sftwise-test/d/train.jsonl", None, tmp_path), client=stale, echo=quiet)
    assert not emulator.requests


def test_list_pages_through_the_service(emulator, tmp_path):
    from sftwise.gemini.jobs import list_jobs

    emulator.objects[("sftwise-test", "d/train.jsonl")] = b"{}\n"
    for _ in range(3):
        train_vertex(spec("gs://sftwise-test/d/train.jsonl", None, tmp_path), force=True, echo=quiet)
    client = emulator_client()
    assert [j.name.rsplit("/", 1)[1] for j in list_jobs(client, limit=2)] == ["1001", "1002"]
    assert len(list_jobs(client, limit=50)) == 3
    pages = [r.query for r in emulator.requests if r.method == "GET" and r.path.endswith("/tuningJobs")]
    assert pages[0] == {"pageSize": ["2"]}


def test_files_over_8_mib_go_through_a_resumable_upload(emulator, tmp_path):
    long_answer = "x" * 3000
    train = write_gemini(tmp_path / "big.jsonl", [example(f"ticket {i}", long_answer) for i in range(3000)])
    assert train.stat().st_size > 8 * 1024 * 1024
    run = train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", echo=quiet)
    uri = run.request["training_dataset_uri"]
    assert emulator.objects[tuple(uri[5:].split("/", 1))] == train.read_bytes()
    assert any(r.query.get("uploadType") == ["resumable"] for r in emulator.requests)


def test_curves_unavailable_is_a_warning_once_the_job_succeeded(emulator, datasets, tmp_path):
    emulator.inject("metadataStores/default/contexts/", 404, "Context not found.", method="GET")
    train, _ = datasets
    lines: list[str] = []
    run = train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", wait=True, poll_interval_s=0, echo=lines.append)
    assert run.job.state == "JOB_STATE_SUCCEEDED" and run.metrics_points == 0
    assert any(line.startswith("warning: could not fetch the training curves") and "not found (404)" in line for line in lines)
    assert any(line.startswith("tuned model endpoint: projects/") for line in lines)


@pytest.mark.parametrize("extra", [{"eval_metrics": ["exact_match"]}, {"select_by": "validation_loss"}, {"early_stopping": {"patience": 2}}])
def test_local_only_selection_settings_are_refused_not_ignored(tmp_path, extra):
    from sftwise.errors import ParameterError

    with pytest.raises(ParameterError, match="local training only") as err:
        train_vertex(spec("gs://b/train.jsonl", "gs://b/val.jsonl", tmp_path, **extra), echo=quiet)
    assert err.value.parameter == next(iter(extra))


def test_both_tuners_return_one_result_shape(emulator, datasets, tmp_path):
    """The pipeline records ``result.summary`` of either tuner (a VertexRun had none: the train step crashed after paying)."""
    from sftwise.train.local import TrainResult
    from sftwise.train.spec import TuningResult

    train, val = datasets
    run = train_vertex(spec(train, val, tmp_path), bucket="gs://sftwise-test", wait=True, poll_interval_s=0, echo=quiet)
    assert isinstance(run, TuningResult) and isinstance(TrainResult(run_dir="r", epochs_run=1, steps=2, tokens_seen=3), TuningResult)
    assert run.summary == "job 1001 succeeded, 3 epochs, lr multiplier 1.0, four adapter, 12 steps, 15 metric points, 3 checkpoints"
    assert run.checkpoints == ["1", "2", "3"]
    assert run.request["project"] == PROJECT and run.request["location"] == "us-central1"


def test_another_region_is_another_job_not_an_attach(emulator, datasets, tmp_path):
    train, _ = datasets
    train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", location="us-central1", echo=quiet)
    lines: list[str] = []
    train_vertex(spec(train, None, tmp_path), bucket="gs://sftwise-test", location="europe-west4", resume=True, echo=lines.append)
    assert any("the request changed (location 'us-central1' -> 'europe-west4')" in line for line in lines)
