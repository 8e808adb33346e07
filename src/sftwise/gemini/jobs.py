"""Vertex AI tuning jobs after creation: look at them, wait for them, cancel them, read their curves.

- :func:`job_info` turns a google-genai ``TuningJob`` into a :class:`JobInfo` (what ``sftwise jobs get``
  prints and ``--json`` writes): state, console link, hyperparameters, dataset URIs, the tuned model,
  its endpoint and checkpoints, the service's error.
- :func:`wait_for_job` polls with a rich progress display until a terminal state.
- :func:`fetch_metric_series` reads the job's TensorBoard time series (the service writes
  ``/train_total_loss``, ``/train_fraction_of_correct_next_step_preds``, ``/train_num_predictions`` and
  their ``/eval_*`` twins there); :func:`metrics_from_series` turns them into :class:`MetricPoint`\\ s,
  so ``diagnose`` and ``report`` read a Vertex run like a local one.
- :func:`checkpoint_for_epoch` and :func:`best_checkpoint` map the diagnosis's best epoch to a checkpoint
  and its endpoint (the caller runs ``diagnose``: ``gemini`` sits below it).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sftwise.gemini.client import console_url
from sftwise.gemini.errors import with_retries
from sftwise.errors import ParameterError, SftwiseError, first_line
from sftwise.io import read_text, write_json
from sftwise.runlog import METRICS_FILE, MetricPoint, write_metrics

TERMINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED", "JOB_STATE_PARTIALLY_SUCCEEDED"}
JOB_FILE = "vertex_job.json"

SERIES = {
    "/train_total_loss": ("train", "loss"),
    "/train_fraction_of_correct_next_step_preds": ("train", "token_accuracy"),
    "/train_num_predictions": ("train", "num_predictions"),
    "/eval_total_loss": ("validation", "loss"),
    "/eval_fraction_of_correct_next_step_preds": ("validation", "token_accuracy"),
    "/eval_num_predictions": ("validation", "num_predictions"),
}


class Checkpoint(BaseModel):
    checkpoint_id: str | None = None
    epoch: int | None = None
    step: int | None = None
    endpoint: str | None = None


class JobInfo(BaseModel):
    name: str
    state: str
    detail: str | None = None
    console_url: str
    display_name: str | None = None
    base_model: str | None = None
    training_dataset_uri: str | None = None
    validation_dataset_uri: str | None = None
    epoch_count: int | None = None
    learning_rate_multiplier: float | None = None
    adapter_size: str | None = None
    create_time: str | None = None
    end_time: str | None = None
    tuned_model: str | None = None
    endpoint: str | None = None
    checkpoints: list[Checkpoint] = []
    experiment: str | None = None
    tuning_steps: int | None = None
    billable_tokens: int | None = None
    examples: int | None = None
    truncated_examples: int | None = None
    error: str | None = None
    likely_cause: str | None = None

    @property
    def ended(self) -> bool:
        return self.state in TERMINAL


def _enum(value: Any) -> str | None:
    if value is None:
        return None
    return getattr(value, "value", None) or str(value)


def job_info(job: Any) -> JobInfo:
    """Everything sftwise shows about a google-genai ``TuningJob``."""
    spec = job.supervised_tuning_spec
    hp = spec.hyper_parameters if spec else None
    tuned = job.tuned_model
    stats = job.tuning_data_stats.supervised_tuning_data_stats if job.tuning_data_stats else None
    error = None
    if job.error is not None and (job.error.message or job.error.code):
        error = f"{job.error.message or 'no message'} (code {job.error.code})"
    info = JobInfo(
        name=job.name or "",
        state=_enum(job.state) or "JOB_STATE_UNSPECIFIED",
        detail=_enum(getattr(job, "tuning_job_state", None)),
        console_url=console_url(job.name or ""),
        display_name=job.tuned_model_display_name,
        base_model=job.base_model,
        training_dataset_uri=spec.training_dataset_uri if spec else None,
        validation_dataset_uri=spec.validation_dataset_uri if spec else None,
        epoch_count=(hp.epoch_count if hp else None) or _epochs_from_checkpoints(tuned),
        learning_rate_multiplier=hp.learning_rate_multiplier if hp else None,
        adapter_size=_enum(hp.adapter_size) if hp else None,
        create_time=job.create_time.isoformat() if job.create_time else None,
        end_time=job.end_time.isoformat() if job.end_time else None,
        tuned_model=tuned.model if tuned else None,
        endpoint=tuned.endpoint if tuned else None,
        checkpoints=[Checkpoint(checkpoint_id=c.checkpoint_id, epoch=c.epoch, step=c.step, endpoint=c.endpoint)
                     for c in (tuned.checkpoints or [])] if tuned else [],
        experiment=job.experiment,
        tuning_steps=stats.tuning_step_count if stats else None,
        billable_tokens=stats.total_billable_token_count if stats else None,
        examples=stats.tuning_dataset_example_count if stats else None,
        truncated_examples=stats.total_truncated_example_count if stats else None,
        error=error,
    )
    if info.state == "JOB_STATE_FAILED":
        info.likely_cause = likely_cause(job.error.message if job.error else "", info)
    return info


def _epochs_from_checkpoints(tuned: Any) -> int | None:
    """The epochs a job ran when the request left them to the service (no epochCount in its
    hyperparameters): its last checkpoint's epoch, once it has checkpoints."""
    epochs = [c.epoch for c in (tuned.checkpoints or [])] if tuned is not None else []
    epochs = [e for e in epochs if e]
    return max(epochs) if epochs else None


def likely_cause(message: str, info: JobInfo) -> str:
    """A guess at the dataset problem behind a server-side failure, from the service's message."""
    low = (message or "").lower()
    model = (info.base_model or "gemini-MODEL").split("/")[-1]
    audit = f"run `sftwise audit --target {model} TRAIN.jsonl` and fix its errors"
    if any(k in low for k in ("token", "too long", "exceeds", "length")):
        return f"an example is longer than the model's token limit; {audit} (SW606)."
    if any(k in low for k in ("parse", "json", "schema", "field", "role", "contents")):
        return f"a line of the dataset is not in the Gemini tuning schema; {audit} (SW601/SW602)."
    if any(k in low for k in ("gs://", "read", "permission", "access", "not found")):
        return "the service could not read the dataset or an image URI: grant the Vertex AI service agent read access to the bucket (docs/vertex.md)."
    if any(k in low for k in ("mime", "image", "file")):
        return f"a file part has an unsupported mime type or URI; {audit} (SW604)."
    if any(k in low for k in ("quota", "capacity", "resource")):
        return "not a dataset problem: the region ran out of tuning capacity or quota; retry later or in another region."
    return f"unknown; {audit} to rule out the dataset, then read the console page."


# -- calls -------------------------------------------------------------------------------------

def get_job(client: Any, name: str) -> Any:
    _check_name(name)
    return with_retries(lambda: client.tunings.get(name=name), action=f"getting tuning job {name}")


def list_jobs(client: Any, limit: int = 20) -> list[Any]:
    def fetch() -> list[Any]:
        out = []
        for job in client.tunings.list(config={"page_size": min(limit, 100)}):
            out.append(job)
            if len(out) >= limit:
                break
        return out

    return with_retries(fetch, action="listing tuning jobs")


def cancel_job(client: Any, name: str) -> None:
    _check_name(name)
    with_retries(lambda: client.tunings.cancel(name=name), action=f"cancelling tuning job {name}", retry_codes=(429, 503))


def qualify_job_name(name: str, project: str, location: str) -> str:
    """Accept a bare job id or a full ``projects/P/locations/L/tuningJobs/ID``."""
    if name.startswith("projects/"):
        return name
    if name.isdigit():
        return f"projects/{project}/locations/{location}/tuningJobs/{name}"
    raise SftwiseError(f"job {name!r} is neither a numeric job id nor projects/P/locations/L/tuningJobs/ID; see `sftwise jobs list`")


def _check_name(name: str) -> None:
    parts = name.split("/")
    if len(parts) != 6 or parts[0] != "projects" or parts[2] != "locations" or parts[4] != "tuningJobs":
        raise SftwiseError(f"job name {name!r} is not projects/P/locations/L/tuningJobs/ID; see `sftwise jobs list`")


def _sleep(seconds: float) -> None:
    """The wait between polls (a test replaces it to interrupt a run mid-poll)."""
    time.sleep(seconds)


def wait_for_job(
    client: Any,
    name: str,
    *,
    interval_s: float = 60.0,
    timeout_s: float | None = None,
    echo: Callable[[str], Any] | None = None,
    sleep: Callable[[float], Any] | None = None,
) -> JobInfo:
    """Poll until the job ends, showing state and elapsed time in a rich progress display.

    ``sleep`` defaults to :func:`_sleep`, looked up at each call so a test can stand in for the wait.
    """
    sleep = sleep or _sleep
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    start = time.monotonic()
    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task(f"waiting for {name.rsplit('/', 1)[-1]}", total=None)
        while True:
            info = job_info(get_job(client, name))
            detail = f" ({info.detail.removeprefix('TUNING_JOB_STATE_').lower()})" if info.detail and not info.ended else ""
            progress.update(task, description=f"tuning job {name.rsplit('/', 1)[-1]}: {info.state.removeprefix('JOB_STATE_').lower()}{detail}")
            if info.ended:
                break
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                raise SftwiseError(f"tuning job {name} still {info.state} after {timeout_s:.0f}s; it keeps running: `sftwise jobs get {name}`")
            sleep(interval_s)
    if echo:
        echo(f"tuning job {name}: {info.state}")
    return info


# -- metrics -----------------------------------------------------------------------------------

def fetch_metric_series(client: Any, experiment: str) -> dict[str, list[tuple[int, float]]]:
    """The job's scalar curves ``{"/train_total_loss": [(step, value), ...], ...}`` from its TensorBoard.

    ``experiment`` is the metadata context ``projects/P/locations/L/metadataStores/default/contexts/E``
    of ``job.experiment``; its ``backing_tensorboard_resource`` names the TensorBoard, whose experiment
    ``E`` holds one run per job with one time series per metric (the REST path behind
    google-cloud-aiplatform's ``TensorboardRun.read_time_series_data``). Uses the genai client's
    authenticated session, so no extra SDK is needed.
    """
    api = client._api_client  # google-genai's authenticated HTTP session (base URL, token, errors)

    def get(path: str) -> dict[str, Any]:
        response = with_retries(lambda: api.request("get", path, {}), action=f"reading {path}")
        return json.loads(response.body) if response.body else {}

    context = get(experiment)
    tensorboard = (context.get("metadata") or {}).get("backing_tensorboard_resource")
    if not tensorboard:
        raise SftwiseError(f"experiment {experiment} has no TensorBoard; the service keeps curves only for Gemini 2.0 and later")
    tb_experiment = f"{tensorboard}/experiments/{experiment.rsplit('/', 1)[1]}"
    series: dict[str, list[tuple[int, float]]] = {}
    for run in get(f"{tb_experiment}/runs?pageSize=1000").get("tensorboardRuns", []):
        for ts in get(f"{run['name']}/timeSeries?pageSize=1000").get("tensorboardTimeSeries", []):
            data = get(f"{ts['name']}:read").get("timeSeriesData", {})
            points = [(int(v.get("step", 0)), float((v.get("scalar") or {}).get("value", 0.0))) for v in data.get("values", [])]
            series.setdefault(ts.get("displayName") or ts["name"], []).extend(points)
    return series


def metrics_from_series(series: dict[str, list[tuple[int, float]]], *, steps_per_epoch: float | None,
                        checkpoints: list[Checkpoint] | None = None) -> list[MetricPoint]:
    """One :class:`MetricPoint` per (split, step), merging loss, accuracy and prediction counts.

    Validation points at an epoch boundary are ``scope="epoch"`` (the evaluation diagnose compares
    across epochs) and carry the checkpoint id saved at that step.
    """
    by_step = {c.step: c.checkpoint_id for c in checkpoints or [] if c.step is not None}
    merged: dict[tuple[str, int], dict[str, Any]] = {}
    for key, points in series.items():
        if key not in SERIES:
            continue
        split, fieldname = SERIES[key]
        for step, value in points:
            row = merged.setdefault((split, step), {})
            row[fieldname] = int(value) if fieldname == "num_predictions" else value
    out = []
    for (split, step), values in sorted(merged.items(), key=lambda kv: (kv[0][1], kv[0][0] != "train")):
        epoch = step / steps_per_epoch if steps_per_epoch else 0.0
        at_boundary = bool(steps_per_epoch) and abs(epoch - round(epoch)) < 1e-9
        scope = "epoch" if split == "validation" and at_boundary else "step"
        out.append(MetricPoint(step=step, epoch=round(epoch, 6), split=split, scope=scope,
                               checkpoint=by_step.get(step) if split == "validation" else None, **values))
    return out


def save_job_metrics(client: Any, info: JobInfo, run_dir: str | Path) -> list[MetricPoint]:
    """Fetch the curves of a job into ``run_dir/metrics.jsonl`` and its description into ``vertex_job.json``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / JOB_FILE, info)
    if not info.experiment:
        raise SftwiseError(f"job {info.name} has no experiment yet (state {info.state}); curves appear once tuning has started")
    series = fetch_metric_series(client, info.experiment)
    steps_per_epoch = info.tuning_steps / info.epoch_count if info.tuning_steps and info.epoch_count else None
    points = metrics_from_series(series, steps_per_epoch=steps_per_epoch, checkpoints=info.checkpoints)
    write_metrics(run_dir / METRICS_FILE, points)
    return points


def checkpoint_for_epoch(info: JobInfo, epoch: float) -> Checkpoint:
    """The checkpoint saved at ``epoch`` (the diagnosis's best epoch), else the last one before it."""
    if not info.checkpoints:
        if info.endpoint:
            return Checkpoint(checkpoint_id=None, epoch=info.epoch_count, endpoint=info.endpoint)
        raise SftwiseError(f"job {info.name} has no checkpoints (state {info.state}); they exist once it has succeeded")
    target = round(epoch)
    exact = [c for c in info.checkpoints if c.epoch == target]
    if exact:
        return exact[0]
    earlier = [c for c in info.checkpoints if c.epoch is not None and c.epoch <= target]
    return max(earlier, key=lambda c: c.epoch or 0) if earlier else info.checkpoints[0]


def tune(client: Any, **kwargs: Any) -> Any:
    """``client.tunings.tune`` without the SDK's 'experimental' warning on every call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return client.tunings.tune(**kwargs)


class BestCheckpoint(BaseModel):
    """The checkpoint of a Vertex run to evaluate: the diagnosis's best epoch mapped to its endpoint."""

    job: str
    best_epoch: float | None
    checkpoint: Checkpoint
    verdict: str
    model_spec: str  # what to pass to `sftwise eval --model`


def read_job(run_dir: str | Path) -> JobInfo:
    """The job recorded in ``run_dir/vertex_job.json`` by ``train_vertex`` or ``sftwise jobs get --run-dir``."""
    run_dir = Path(run_dir)
    path = run_dir / JOB_FILE
    if not path.exists():
        raise ParameterError("run_dir", f"{path} does not exist, so {run_dir} is not the run directory of a Vertex AI tuning job "
                             "(train_vertex and save_job_metrics write one).")
    try:
        return JobInfo.model_validate_json(read_text(path))
    except ValueError as exc:  # pydantic's ValidationError, broken JSON included
        raise SftwiseError(f"{path}: not a Vertex AI job record ({first_line(exc)}); fetch it again with `sftwise jobs get JOB --run-dir {run_dir}`.") from None


def best_checkpoint(info: JobInfo, best_epoch: float | None, verdict: str) -> BestCheckpoint:
    """Map the best epoch of the run's diagnosis (``sftwise.diagnose``, run by the caller: this layer
    sits below it) to the job's checkpoint endpoint; without one, the last epoch."""
    epoch = best_epoch if best_epoch is not None else float(info.epoch_count or 1)
    checkpoint = checkpoint_for_epoch(info, epoch)
    if not checkpoint.endpoint:
        raise SftwiseError(f"checkpoint {checkpoint.checkpoint_id} of {info.name} has no endpoint; deploy it from the console page {info.console_url}")
    return BestCheckpoint(job=info.name, best_epoch=best_epoch, checkpoint=checkpoint,
                          verdict=verdict, model_spec=f"gemini:{checkpoint.endpoint}")
