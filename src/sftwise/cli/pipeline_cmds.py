"""Commands of the whole job: run, demo, report (and version)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sftwise.cli.app import app
from sftwise.cli.options import output_file_option


@app.command()
def run(
    config: Path = typer.Argument(..., help="pipeline YAML (see the annotated example in the README)"),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="where everything goes; default runs/<name>"),
    force: bool = typer.Option(False, "--force", help="tune even when the audit finds error-level problems"),
) -> None:
    """Run the whole workflow: audit → split → baseline → recommend → train → diagnose → eval → compare → report.

    Re-running continues where it stopped; a changed config redoes only the steps it affects.
    """
    from sftwise.pipeline.runner import run_pipeline
    from sftwise.pipeline.config import load_config

    cfg = load_config(config)
    target = run_dir or Path("runs") / cfg.name
    run_pipeline(cfg, target, force=force, echo=_echo)
    report = target / "report.html"
    if report.exists():
        typer.echo(f"\nReport: {report.resolve()}")


@app.command()
def demo(
    run_dir: Path = typer.Option(Path("runs/demo"), "--run-dir", help="where the demo run goes"),
    fresh: bool = typer.Option(False, "--fresh", help="start over instead of continuing an earlier demo run"),
) -> None:
    """The whole workflow on the bundled sample task with a tiny model built on this machine.

    No download: the model is built locally with random weights, so its baseline is zero and
    everything it knows after tuning it learned from the sample's 480 training examples.
    """
    import shutil

    from sftwise.pipeline.demo import demo_config
    from sftwise.pipeline.runner import run_pipeline

    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    typer.echo(
        "sftwise demo: routing support tickets to a team and priority, as JSON.\n"
        "The model is TINY (0.66 M parameters, random weights, built on this machine for the demo): its\n"
        "numbers show the workflow at work, not what a real model reaches. On 2 CPU cores this takes a few minutes.\n"
    )
    run_pipeline(demo_config(), run_dir, echo=_echo)
    typer.echo(f"\nReport: {(run_dir / 'report.html').resolve()}")


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="a run directory of `sftwise run` or `sftwise train`"),
    output: Optional[Path] = output_file_option(None, "-o", "--output", help="where to write the HTML; default RUN_DIR/report.html", example="report.html"),
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
