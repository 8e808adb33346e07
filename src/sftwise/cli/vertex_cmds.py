"""Vertex AI tuning jobs: ``sftwise jobs list | get | cancel | best``.

``sftwise train --backend vertex`` (train_cmds) creates the jobs; these commands follow them. The
library is imported inside each command so ``sftwise --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sftwise.cli.app import SftwiseGroup, SftwiseTyper, app
from sftwise.cli.options import json_option, output_dir_option

jobs_app = SftwiseTyper(help="Vertex AI tuning jobs: list, get (and fetch curves into a run dir), cancel, best checkpoint.", no_args_is_help=True,
                       cls=SftwiseGroup)
app.add_typer(jobs_app, name="jobs")

_PROJECT = typer.Option(None, "--project", help="Google Cloud project; default $GOOGLE_CLOUD_PROJECT or the ADC project")
_LOCATION = typer.Option(None, "--location", help="region, e.g. us-central1; default $GOOGLE_CLOUD_LOCATION or us-central1")
_JSON = json_option("also write the result as JSON to this path")


def _client(project: Optional[str], location: Optional[str]):  # noqa: ANN202 - google-genai client
    from sftwise.gemini.client import genai_client, resolve_context

    ctx = resolve_context(project, location)
    return ctx, genai_client(ctx)


@jobs_app.command("list")
def list_cmd(
    project: Optional[str] = _PROJECT,
    location: Optional[str] = _LOCATION,
    limit: int = typer.Option(20, "--limit", min=1, help="at most this many jobs, newest first"),
    json_path: Optional[Path] = _JSON,
) -> None:
    """List the project's tuning jobs in a region."""
    from rich.console import Console
    from rich.table import Table

    from sftwise.gemini.jobs import job_info, list_jobs
    from sftwise.io import write_json

    _, client = _client(project, location)
    infos = [job_info(j) for j in list_jobs(client, limit)]
    table = Table("job", "state", "base model", "display name", "created")
    for info in infos:
        table.add_row(info.name.rsplit("/", 1)[-1], info.state.removeprefix("JOB_STATE_"), info.base_model or "", info.display_name or "", info.create_time or "")
    Console().print(table if infos else "no tuning jobs in this project and region")
    if json_path:
        write_json(json_path, [i.model_dump(mode="json") for i in infos])


@jobs_app.command("get")
def get_cmd(
    job: str = typer.Argument(..., help="job id or projects/P/locations/L/tuningJobs/ID"),
    project: Optional[str] = _PROJECT,
    location: Optional[str] = _LOCATION,
    run_dir: Optional[Path] = output_dir_option(None, "--run-dir", help="fetch the job's curves into RUN_DIR/metrics.jsonl (for diagnose and report)",
                                                writes=("metrics.jsonl", "vertex_job.json")),
    wait: bool = typer.Option(False, "--wait", help="poll until the job ends"),
    poll: float = typer.Option(60.0, "--poll", min=0.0, help="seconds between polls with --wait"),
    json_path: Optional[Path] = _JSON,
) -> None:
    """Show one job: state, hyperparameters, datasets, tuned model, checkpoints, the service's error."""
    from rich.console import Console

    from sftwise.gemini.jobs import get_job, job_info, qualify_job_name, save_job_metrics, wait_for_job
    from sftwise.io import write_json

    ctx, client = _client(project, location)
    name = qualify_job_name(job, ctx.project, ctx.location)
    info = wait_for_job(client, name, interval_s=poll) if wait else job_info(get_job(client, name))
    console = Console(highlight=False)
    console.print(f"[bold]{info.name}[/]  {info.state}" + (f" ({info.detail})" if info.detail else ""))
    console.print(f"console: {info.console_url}")
    console.print(f"base model {info.base_model}; epochs {info.epoch_count}, lr multiplier {info.learning_rate_multiplier}, adapter {info.adapter_size}")
    console.print(f"train {info.training_dataset_uri}\nvalidation {info.validation_dataset_uri or '-'}")
    if info.endpoint:
        console.print(f"tuned model {info.tuned_model}\nendpoint {info.endpoint}")
    for cp in info.checkpoints:
        console.print(f"  checkpoint {cp.checkpoint_id}: epoch {cp.epoch}, step {cp.step}, endpoint {cp.endpoint}")
    if info.error:
        console.print(f"[red]error:[/] {info.error}\nlikely cause: {info.likely_cause}")
    if run_dir is not None:
        points = save_job_metrics(client, info, run_dir)
        console.print(f"{len(points)} metric points -> {run_dir / 'metrics.jsonl'}; next: sftwise diagnose {run_dir}")
    if json_path:
        write_json(json_path, info)
    if info.state == "JOB_STATE_FAILED":
        raise typer.Exit(code=1)


@jobs_app.command("cancel")
def cancel_cmd(
    job: str = typer.Argument(..., help="job id or projects/P/locations/L/tuningJobs/ID"),
    project: Optional[str] = _PROJECT,
    location: Optional[str] = _LOCATION,
) -> None:
    """Ask the service to cancel a running job (it passes through CANCELLING to CANCELLED)."""
    from sftwise.gemini.jobs import cancel_job, qualify_job_name

    ctx, client = _client(project, location)
    name = qualify_job_name(job, ctx.project, ctx.location)
    cancel_job(client, name)
    typer.echo(f"cancellation requested for {name}")


@jobs_app.command("best")
def best_cmd(
    run_dir: Path = typer.Argument(..., help="run dir of a Vertex job with metrics.jsonl (sftwise jobs get --run-dir)"),
    json_path: Optional[Path] = _JSON,
) -> None:
    """Diagnose the run's curves and name the checkpoint endpoint of the best epoch, ready for `sftwise eval --model`."""
    from sftwise.diagnose import diagnose_run
    from sftwise.gemini.jobs import best_checkpoint, read_job
    from sftwise.io import write_json

    info = read_job(run_dir)
    diagnosis = diagnose_run(run_dir)
    best = best_checkpoint(info, diagnosis.best_epoch, diagnosis.headline())
    typer.echo(best.verdict)
    typer.echo(f"best epoch {best.best_epoch}: checkpoint {best.checkpoint.checkpoint_id} -> {best.model_spec}")
    if json_path:
        write_json(json_path, best)
