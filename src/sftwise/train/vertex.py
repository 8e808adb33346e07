"""Tuning Gemini on Vertex AI: validate, upload, create the job, optionally wait and fetch its curves.

The order matters and is the point of this module:

1. **Validate the base model and region** (no network): a model that cannot be tuned, a discontinued
   one, an adapter size the model does not offer or a region without tuning stop here.
2. **Audit the datasets against the model's limits** (``audit/gemini_target`` reading
   ``gemini/limits``, no network): a line the
   service would reject or an example over the token limit stops the run *before* anything is
   uploaded, with the limit and the offending ``file:line``\\ s. Files in another format are converted
   to Gemini JSONL in the run directory first. ``gs://`` inputs are taken as they are (not audited).
3. **Credentials**, then **upload** local files to the user's bucket (content-addressed, so a re-run
   does not upload again) with google-cloud-storage.
4. **Create the job** with ``client.tunings.tune`` and ``types.CreateTuningJobConfig``: epochs from the
   spec, learning-rate multiplier (default 1.0, the service's recommendation for a first run), adapter
   size (the model's default unless given), validation set, display name. 429 and 503 are retried;
   400 / 403 become a sentence saying what to fix.
5. Write ``run_dir/vertex_request.json`` (the job's name and the request) the moment the service
   returns the job, before any polling, then ``vertex_job.json`` (the job as last seen); print the job name and console link; with
   ``wait=True`` poll until a terminal state, then fetch the curves into ``run_dir/metrics.jsonl``
   (so ``sftwise diagnose`` and ``report`` work unchanged). A job that fails server-side raises with
   the service's error and the likely dataset cause.

**Never a second paid job.** A run directory that already records a job for the very same request
(same model, data bytes, hyperparameters, display name) is *attached to* with ``resume=True``: a
running job is polled on, a succeeded one goes on to its curves, a failed or cancelled one is
reported and stops. Without ``resume`` it is refused; a new job needs ``force=True`` or a changed
request, and the message says what it costs. Ctrl-C or a failure while polling leaves the job
running and says how to attach again or cancel it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sftwise.audit.gemini_target import check_gemini_target
from sftwise.errors import ParameterError, SftwiseError
from sftwise.findings import Severity, sort_findings
from sftwise.gemini import jobs as vjobs
from sftwise.gemini.client import VertexContext, check_region, genai_client, resolve_context, storage_client
from sftwise.gemini.errors import with_retries
from sftwise.gemini.limits import adapter_enum, resolve_model
from sftwise.gemini.storage import parse_gs_uri, upload_file
from sftwise.io import write_json
from sftwise.train.spec import CONFIG_FILE, TrainSpec

MAX_DISPLAY_NAME = 128


class VertexRun(BaseModel):
    """What ``train_vertex`` did: the request it sent and the job as last seen.

    It answers what the pipeline asks of every tuner's result (``run_dir``, ``checkpoints``,
    ``summary``), as :class:`sftwise.train.local.TrainResult` does for a local run.
    """

    job: vjobs.JobInfo
    request: dict[str, Any]
    run_dir: str
    metrics_points: int = 0
    attached: bool = False  # True: the job was created by an earlier run and this one attached to it

    @property
    def checkpoints(self) -> list[str]:
        """The job's checkpoint ids, oldest first (each has an endpoint once the job succeeded)."""
        return [c.checkpoint_id or "" for c in self.job.checkpoints]

    @property
    def summary(self) -> str:
        """One line for the pipeline's step log: the job, its state, what it ran, what it produced."""
        job_id = self.job.name.rsplit("/", 1)[-1]
        parts = [f"job {job_id} {self.job.state.removeprefix('JOB_STATE_').lower()}" + (" (attached)" if self.attached else "")]
        sent = self.request.get("epoch_count")
        epochs = f"{sent} epochs" if sent else f"{self.job.epoch_count or '?'} epochs (set by the service)"
        adapter = str(self.request.get("adapter_size") or "").removeprefix("ADAPTER_SIZE_").lower()
        parts.append(f"{epochs}, lr multiplier {self.request.get('learning_rate_multiplier')}, {adapter} adapter")
        if self.job.tuning_steps:
            parts.append(f"{self.job.tuning_steps} steps")
        if self.metrics_points:
            parts.append(f"{self.metrics_points} metric points")
        if self.job.checkpoints:
            parts.append(f"{len(self.job.checkpoints)} checkpoints")
        return ", ".join(parts)


def _prepare_dataset(path: str, role: str, run_dir: Path, fmt: str | None = None) -> tuple[str, bool]:
    """(path or gs:// URI, is_local); other formats are converted to Gemini JSONL in the run dir."""
    if path.startswith("gs://"):
        parse_gs_uri(path, parameter=role)
        return path, False
    local = Path(path)
    if not local.is_file():
        raise ParameterError(role, f"{path}: no such file")
    if fmt in (None, "gemini") and local.suffix.lower() == ".jsonl" and _looks_gemini(local):
        return str(local), True
    from sftwise import formats

    converted = run_dir / "vertex" / f"{role}.jsonl"
    converted.parent.mkdir(parents=True, exist_ok=True)
    formats.write(formats.load(str(local), fmt), str(converted), format="gemini")
    return str(converted), True


def _looks_gemini(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                return '"contents"' in line
    return True


def validate_for_vertex(train: str, validation: str | None, model: str, *, max_listed: int = 10) -> None:
    """Raise with the limits and offending lines when the local datasets would be rejected."""
    findings = check_gemini_target(train, validation, target=model, max_listed=max_listed)
    errors = [f for f in sort_findings(findings) if f.severity is Severity.ERROR]
    if not errors:
        return
    shown = "\n  ".join(str(f) for f in errors[:max_listed])
    more = f"\n  ... and {len(errors) - max_listed} more" if len(errors) > max_listed else ""
    raise SftwiseError(
        f"the dataset would be rejected by Vertex AI tuning of {model}; nothing was uploaded. "
        f"{len(errors)} problem(s):\n  {shown}{more}\nRun `sftwise audit --target {model} FILE` for the full list."
    )


def build_request(spec: TrainSpec, model: str, train_uri: str, validation_uri: str | None, display_name: str | None,
                  *, service_epochs: bool = False) -> tuple[dict[str, Any], Any]:
    """The ``tunings.tune`` keyword arguments for ``spec`` (and a plain-dict view of them for the record).

    ``service_epochs``: send no epoch count, so the service sets it from the dataset size (what the
    guide recommends for Gemini 2.x); ``spec.epochs`` is then not used.
    """
    from google.genai import types

    limits = resolve_model(model)
    adapter = adapter_enum(spec.adapter_size or limits.default_adapter_size, limits)
    multiplier = spec.lr_multiplier if spec.lr_multiplier is not None else 1.0
    name = (display_name or f"sftwise-{Path(spec.run_dir).name}")[:MAX_DISPLAY_NAME]
    epochs = None if service_epochs else spec.epochs
    config = types.CreateTuningJobConfig(
        epoch_count=epochs,
        learning_rate_multiplier=multiplier,
        adapter_size=adapter,
        tuned_model_display_name=name,
        validation_dataset=types.TuningValidationDataset(gcs_uri=validation_uri) if validation_uri else None,
    )
    kwargs = {"base_model": limits.model, "training_dataset": types.TuningDataset(gcs_uri=train_uri), "config": config}
    record = {"base_model": limits.model, "training_dataset_uri": train_uri, "validation_dataset_uri": validation_uri,
              "epoch_count": epochs, "learning_rate_multiplier": multiplier, "adapter_size": adapter,
              "tuned_model_display_name": name}
    return kwargs, record


def train_vertex(
    spec: TrainSpec,
    *,
    bucket: str | None = None,
    project: str | None = None,
    location: str | None = None,
    wait: bool = False,
    display_name: str | None = None,
    poll_interval_s: float = 60.0,
    resume: bool = False,
    force: bool = False,
    service_epochs: bool = False,
    client: Any = None,
    storage: Any = None,
    echo: Callable[[str], Any] = print,
) -> VertexRun:
    """Tune ``spec.model`` (a Gemini id) on Vertex AI with ``spec.train`` / ``spec.validation``.

    ``client`` / ``storage`` (a google-genai client, a google-cloud-storage client) are built from
    Application Default Credentials when not given. ``resume`` attaches to the job an earlier run
    recorded in ``spec.run_dir`` for the same request; ``force`` creates a new one anyway;
    ``service_epochs`` leaves the epoch count to the service. Returns a :class:`VertexRun`; raises
    :class:`SftwiseError` with what to fix for every expected failure.
    """
    for name in ("eval_metrics", "select_by", "early_stopping"):
        if getattr(spec, name):
            raise ParameterError(name, "is for local training only: a Vertex AI tuning job generates nothing during training and keeps "
                                       "its own checkpoints; evaluate the tuned model with `sftwise eval` instead")
    run_dir = Path(spec.run_dir)
    bucket, project, location = bucket or spec.bucket, project or spec.project, location or spec.location  # arguments win over the spec
    limits = resolve_model(spec.model)  # 1. model, adapter, region: no network
    adapter_enum(spec.adapter_size or limits.default_adapter_size, limits)
    if location is not None:
        check_region(location)
    if bucket is not None:
        parse_gs_uri(bucket)
    if display_name is not None and not 0 < len(display_name) <= MAX_DISPLAY_NAME:
        raise ParameterError("display_name", f"must have 1 to {MAX_DISPLAY_NAME} characters, got {len(display_name)}")

    train_path, train_local = _prepare_dataset(spec.train, "train", run_dir, spec.format)  # 2. audit before upload
    val_path, val_local = _prepare_dataset(spec.validation, "validation", run_dir, spec.format) if spec.validation else (None, False)
    if val_local and not train_local:
        raise ParameterError("validation", "a local file needs a local train file too, or give both as gs:// URIs")
    if train_local:
        validate_for_vertex(train_path, val_path if val_local else None, limits.model)
    if (train_local or val_local) and not bucket:
        raise ParameterError("bucket", "local dataset files need a Cloud Storage bucket to upload to: pass one as gs://YOUR_BUCKET (see docs/vertex.md)")

    ctx: VertexContext | None = None  # 3. credentials, upload
    if client is None or ((train_local or val_local) and storage is None):
        ctx = resolve_context(project, location)
    if client is None:
        client = genai_client(ctx)
    local_train = train_path if train_local else None  # what a new job's cost is counted on
    if train_local or val_local:
        storage = storage if storage is not None else storage_client(ctx)
        if train_local:
            echo(f"uploading {train_path} ...")
            train_path = upload_file(storage, train_path, bucket)
        if val_local:
            echo(f"uploading {val_path} ...")
            val_path = upload_file(storage, val_path, bucket)

    kwargs, record = build_request(spec, limits.model, train_path, val_path, display_name, service_epochs=service_epochs)
    # where the job lives is part of the request: another project or region is another job, not this one
    record |= {"project": ctx.project if ctx else project, "location": ctx.location if ctx else location}
    previous = recorded_job(run_dir)
    if previous is not None:  # never a second paid job by accident
        old_name, old_request = previous
        same = old_request is None or old_request == record  # a job without its request record counts as this request's
        if same and not force:
            if not resume:
                raise ParameterError("run_dir", f"{run_dir} already holds tuning job {old_name} for this very request: pass --resume to attach "
                                     f"to it, or --force to create a second job ({_cost_line(record.get('epoch_count'), local_train, limits.model)}).")
            return _attach(client, old_name, record, run_dir, limits.model, wait, poll_interval_s, echo)
        why = "--force" if same else f"the request changed ({', '.join(_changed(old_request or {}, record))})"
        echo(f"{why}: creating a new tuning job beside {old_name}, {_cost_line(record.get('epoch_count'), local_train, limits.model)}")
        echo(f"  if the earlier job still runs, cancel it with: sftwise jobs cancel {old_name}")

    job = with_retries(lambda: vjobs.tune(client, **kwargs), action=f"creating the tuning job for {limits.model}", retry_codes=(429, 503))  # 4. create
    info = vjobs.job_info(job)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / REQUEST_FILE, {"job": info.name, "request": record})  # first, one atomic file: a re-run attaches to this job
    write_json(run_dir / vjobs.JOB_FILE, info)
    write_json(run_dir / CONFIG_FILE, spec)
    echo(f"tuning job: {info.name}")
    echo(f"console:    {info.console_url}")
    result = VertexRun(job=info, request=record, run_dir=str(run_dir))
    return _follow(client, result, limits.model, wait, poll_interval_s, echo)


REQUEST_FILE = "vertex_request.json"
"""The job an earlier run created and the request it sent, ``{"job": NAME, "request": {...}}``,
written atomically the moment the service returns the job: what a re-run attaches to."""


def recorded_job(run_dir: Path) -> tuple[str, dict[str, Any] | None] | None:
    """(job name, the request it was created with, or None when unknown) of the job in ``run_dir``."""
    from sftwise.io import read_json

    path = run_dir / REQUEST_FILE
    if path.is_file():
        data = read_json(path)
        if not (isinstance(data, dict) and isinstance(data.get("job"), str) and isinstance(data.get("request"), dict)):
            raise SftwiseError(f"{path}: not the job record sftwise writes; if you know the job, fetch it with "
                               f"`sftwise jobs get JOB --run-dir {run_dir}`, else move the file away to create a new job")
        return data["job"], data["request"]
    if (run_dir / vjobs.JOB_FILE).is_file():  # fetched by `sftwise jobs get --run-dir`: its request is not known
        return vjobs.read_job(run_dir).name, None
    return None


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def _cost_line(epochs: int | None, train_path: str | None, model: str) -> str:
    """What a new job costs, from the local training file (offline token estimate); for gs:// data, where to look."""
    if train_path is None:
        return "a new paid job: `sftwise recommend --model MODEL TRAIN` estimates its cost"
    from sftwise.gemini.cost import estimate_dataset_cost

    try:
        from sftwise.recommend import SERVICE_DEFAULT_EPOCHS

        cost = estimate_dataset_cost(train_path, epochs or SERVICE_DEFAULT_EPOCHS, model=model, token_counter=None)
    except SftwiseError:
        return "a new paid job"
    return f"a new paid job costing {cost.line()}"


def _attach(client: Any, name: str, record: dict[str, Any], run_dir: Path, model: str,
            wait: bool, poll_interval_s: float, echo: Callable[[str], Any]) -> VertexRun:
    """Carry on with the job an earlier run created: look at it, then go on as if it had just been created."""
    info = vjobs.job_info(vjobs.get_job(client, name))
    write_json(run_dir / vjobs.JOB_FILE, info)
    echo(f"attaching to tuning job {info.name} ({info.state}) recorded in {run_dir}; no new job is created")
    result = VertexRun(job=info, request=record, run_dir=str(run_dir), attached=True)
    return _follow(client, result, model, wait, poll_interval_s, echo)


def _follow(client: Any, result: VertexRun, model: str, wait: bool, poll_interval_s: float, echo: Callable[[str], Any]) -> VertexRun:
    """Wait for the job (when asked) and fetch its curves; a failed job raises with the service's error."""
    run_dir, info = Path(result.run_dir), result.job
    if not wait and not info.ended:
        echo(f"follow it with: sftwise jobs get {info.name} --run-dir {run_dir}")
        return result
    if not info.ended:
        try:
            info = vjobs.wait_for_job(client, info.name, interval_s=poll_interval_s)
        except KeyboardInterrupt:
            echo(f"\ninterrupted: tuning job {info.name} keeps running on the service. Re-run the same command (`sftwise train` with --resume) to attach to it "
                 f"(no new job), or cancel it: sftwise jobs cancel {info.name}")
            raise
        except SftwiseError as exc:
            raise SftwiseError(f"{exc}\nTuning job {info.name} keeps running on the service: re-run the same command (`sftwise train` with --resume) to attach to it "
                               f"(no new job is created), or cancel it: sftwise jobs cancel {info.name}") from None
        result.job = info
        write_json(run_dir / vjobs.JOB_FILE, info)
    new_job = "pass --force (sftwise train) or --new-job (sftwise run) for a new, paid job, or change the config"
    if info.state == "JOB_STATE_FAILED":
        raise SftwiseError(f"tuning job {info.name} failed on the service: {info.error}. Likely cause: {info.likely_cause}\n"
                           f"No new job was created; once the cause is fixed, {new_job}.")
    if info.state != "JOB_STATE_SUCCEEDED":
        raise SftwiseError(f"tuning job {info.name} ended as {info.state}; nothing to fetch. No new job was created; {new_job}.")
    if info.truncated_examples:
        echo(f"warning: the service truncated {info.truncated_examples} over-long example(s); see `sftwise audit --target {model}` (SW606)")
    try:  # the job succeeded: a failure to read its curves is a warning, not a failed run
        result.metrics_points = len(vjobs.save_job_metrics(client, info, run_dir))
        echo(f"{result.metrics_points} metric points -> {run_dir / 'metrics.jsonl'}")
    except SftwiseError as exc:
        echo(f"warning: could not fetch the training curves ({exc}); retry with `sftwise jobs get {info.name} --run-dir {run_dir}`")
    echo(f"tuned model endpoint: {info.endpoint}")
    return result
