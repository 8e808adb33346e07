"""Commands of the tuning stage: recommend, train, diagnose."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sftwise.cli.app import app
from sftwise.cli.options import json_option, output_dir_option, output_file_option
from sftwise.cli.paths import TRAIN_DIR_WRITES

_VERDICT_STYLE = {"healthy": "bold green", "under-trained": "bold yellow", "overfitting": "bold red", "data-issue": "bold magenta"}


@app.command()
def recommend(
    model: str = typer.Option(..., "--model", help="Gemini model id (gemini-2.5-flash, ...) or an open model (HF dir or hub id)"),
    data: Path = typer.Option(..., "--data", help="training file"),
    modality: str = typer.Option("text", "--modality", help="text, image or audio"),
    method: Optional[str] = typer.Option(None, "--method", help="open models: lora or full (default: lora; full for sftwise.demo.tiny models)"),
    json_out: Optional[Path] = json_option("write the recommendation as JSON"),
) -> None:
    """Recommend epochs, learning rate (multiplier) and adapter size / LoRA rank, from Google's published guidance."""
    from rich.console import Console
    from rich.table import Table

    from sftwise.errors import SftwiseError

    from sftwise.io import write_json
    from sftwise.recommend import recommend as run

    if modality not in ("text", "image", "audio"):
        raise SftwiseError(f"--modality must be text, image or audio, got {modality!r}")
    if method not in (None, "lora", "full"):
        raise SftwiseError(f"--method must be lora or full, got {method!r}")
    rec = run(model, data, modality, method=method)  # type: ignore[arg-type]
    console = Console(highlight=False)
    table = Table(title=f"Recommendation for {model} ({rec.family} guidance)")
    table.add_column("setting")
    table.add_column("value")
    rows = [("epochs", rec.epochs if rec.epochs is not None else "service default")]
    if rec.family == "open":
        rows += [("method", rec.method), ("learning rate", f"{rec.learning_rate:g}"), ("LoRA rank / alpha", f"{rec.lora_rank} / {rec.lora_alpha}")]
    else:
        rows += [("learning-rate multiplier", rec.lr_multiplier if rec.lr_multiplier is not None else "default (1.0)"), ("adapter size", rec.adapter_size)]
    rows += [("billable tokens", f"{rec.billable_tokens:,}" if rec.billable_tokens is not None else "-")]
    if rec.cost is not None:
        rows.append(("estimated cost", rec.cost.line()))
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    for reason in rec.reasons:
        console.print(f"  - {reason}")
    for warning in rec.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"[dim]source: {rec.source}[/]")
    if json_out:
        write_json(json_out, rec)


@app.command()
def train(
    model: Optional[str] = typer.Option(None, "--model", help="base model: local HF dir or hub id (local), Gemini id (vertex)"),
    train_file: Optional[Path] = typer.Option(None, "--train", help="training file"),
    validation: Optional[Path] = typer.Option(None, "--validation", help="validation file (diagnose needs one)"),
    run_dir: Optional[Path] = output_dir_option(None, "--run-dir", help="where metrics, checkpoints and TensorBoard logs go (runs/NAME)", writes=TRAIN_DIR_WRITES),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML TrainSpec; flags override it"),
    epochs: Optional[int] = typer.Option(None, "--epochs"),
    lr: Optional[float] = typer.Option(None, "--lr", help="peak learning rate (local)"),
    lr_multiplier: Optional[float] = typer.Option(None, "--lr-multiplier", help="Vertex learning-rate multiplier"),
    adapter_size: Optional[int] = typer.Option(None, "--adapter-size", help="Vertex adapter size"),
    rank: Optional[int] = typer.Option(None, "--rank", help="LoRA rank"),
    method: Optional[str] = typer.Option(None, "--method", help="lora (default) or full"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum", help="micro-batches per optimizer step"),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="tokens per example after the chat template"),
    truncate: bool = typer.Option(False, "--truncate", help="cut over-long examples at --max-length (counted and reported)"),
    drop: bool = typer.Option(False, "--drop", help="leave over-long examples out (counted and reported)"),
    batching: Optional[str] = typer.Option(None, "--batching", help="plain, length_grouped (default) or packed"),
    precision: Optional[str] = typer.Option(None, "--precision", help="auto, fp32, bf16, fp16"),
    chat_template: Optional[str] = typer.Option(None, "--chat-template", help="'chatml', 'chatml-tools' (ChatML with tool calls), a Jinja file, or template text, for tokenizers without one (or without tool support)"),
    log_every: Optional[int] = typer.Option(None, "--log-every", help="optimizer steps between log points"),
    eval_every: Optional[int] = typer.Option(None, "--eval-every", help="optimizer steps between mid-epoch validation passes"),
    seed: Optional[int] = typer.Option(None, "--seed", min=0),
    resume: bool = typer.Option(False, "--resume", help="continue from the last checkpoint in --run-dir (vertex: attach to the job recorded there)"),
    force: bool = typer.Option(False, "--force", help="vertex: create a new, paid tuning job even when --run-dir records one for this request"),
    backend: str = typer.Option("local", "--backend", help="local (transformers + PEFT) or vertex (Gemini tuning job)"),
    bucket: Optional[str] = typer.Option(None, "--bucket", help="vertex: gs:// bucket to upload the data to"),
    project: Optional[str] = typer.Option(None, "--project", help="vertex: Google Cloud project"),
    location: Optional[str] = typer.Option(None, "--location", help="vertex: region, e.g. us-central1"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="vertex: poll until the job ends"),
    poll: float = typer.Option(60.0, "--poll", min=0.0, help="vertex: seconds between polls of the job's state"),
    display_name: Optional[str] = typer.Option(None, "--display-name", help="vertex: tuned model display name"),
    json_out: Optional[Path] = json_option("write the result as JSON"),
) -> None:
    """Tune a model: LoRA or full fine-tuning locally, or a Gemini tuning job on Vertex AI.

    Multi-GPU: torchrun --nproc_per_node N -m sftwise.train.local spec.yaml (see sftwise.train.local).
    """
    from sftwise.errors import SftwiseError
    from sftwise.io import write_json
    from sftwise.train.spec import TrainSpec

    if truncate and drop:
        raise SftwiseError("--truncate and --drop exclude each other: choose one way to handle over-long examples")
    if backend not in ("local", "vertex"):
        raise SftwiseError(f"--backend must be local or vertex, got {backend!r}")
    if force and backend != "vertex":
        raise SftwiseError("--force creates a new Vertex AI tuning job: it goes with --backend vertex (a local run retrains or resumes by itself)")
    overrides = {
        "model": model, "train": str(train_file) if train_file else None, "validation": str(validation) if validation else None,
        "run_dir": str(run_dir) if run_dir else None, "epochs": epochs, "learning_rate": lr, "lr_multiplier": lr_multiplier,
        "adapter_size": adapter_size, "lora_rank": rank, "method": method, "batch_size": batch_size, "grad_accum": grad_accum,
        "max_length": max_length, "overlong": "truncate" if truncate else "drop" if drop else None, "batching": batching,
        "precision": precision, "chat_template": chat_template, "log_every": log_every, "eval_every": eval_every, "seed": seed,
    }
    if config is not None:
        spec = TrainSpec.from_yaml(config, **overrides)
    else:
        missing = [flag for flag, key in (("--model", "model"), ("--train", "train"), ("--run-dir", "run_dir")) if overrides[key] is None]
        if missing:
            raise SftwiseError(f"missing {', '.join(missing)} (or pass --config spec.yaml)")
        spec = TrainSpec.build({k: v for k, v in overrides.items() if v is not None})
    if backend == "vertex":
        try:
            from sftwise.train.vertex import train_vertex
        except ImportError as exc:
            raise SftwiseError(f"the Vertex backend is not available ({exc}); install sftwise[gemini]") from None
        result = train_vertex(spec, bucket=bucket, project=project, location=location, wait=wait, display_name=display_name,
                              poll_interval_s=poll, resume=resume, force=force)
    else:
        from rich.console import Console

        from sftwise.evaluate.training import training_evaluator
        from sftwise.train.local import OverlongExamples, train as run_local

        console = Console(highlight=False)
        try:
            result = run_local(spec, resume=resume, progress=True, evaluator=training_evaluator(spec))
        except OverlongExamples as exc:
            raise SftwiseError(f"{exc.problem} Choose: --truncate (cut them), --drop (leave them out), or a larger --max-length.") from None
        for report in result.data_report:
            console.print(f"{report['split']}: {report['examples_used']}/{report['examples_read']} examples used; "
                          f"over-long {report['overlong']} (truncated {report['truncated']}, dropped {report['dropped_overlong']}); "
                          f"no model turn {report['dropped_no_target']}")
        for note in result.warnings:
            console.print(f"[yellow]warning:[/] {note}")
        console.print(f"[bold]done[/]: {result.summary}; {result.tokens_per_second:,.0f} tokens/s")
        if result.task_eval_seconds:
            console.print(f"task metrics: {result.task_eval_seconds:.1f} s of {result.train_seconds:.1f} s "
                          f"({result.task_eval_seconds / max(result.train_seconds, 1e-9):.0%} of the run)")
        if result.selection_reason:
            console.print(f"kept {result.selected_checkpoint}: {result.selection_reason}")
        console.print(f"run dir: {result.run_dir}  (next: sftwise diagnose {result.run_dir})")
    if json_out:
        write_json(json_out, result)


@app.command()
def diagnose(
    run_dir: Path = typer.Argument(..., help="a run directory (or a metrics.jsonl file)"),
    plot: Optional[Path] = output_file_option(None, "--plot", help="where to draw the curves (PNG or SVG); default RUN_DIR/curves.png",
                                             example="curves.png", own=("curves.png", "curves.svg")),
    json_out: Optional[Path] = json_option("write the diagnosis as JSON", own=("diagnosis.json",)),
) -> None:
    """Read the loss curves: healthy, under-trained, overfitting or a data issue, with the checkpoint to keep."""
    from rich.console import Console

    from sftwise.diagnose import check_plot_path, diagnose as run_diagnose, diagnose_run, plot_diagnosis, require_points
    from sftwise.io import write_json
    from sftwise.runlog import read_metrics

    if plot is not None:
        check_plot_path(plot)
    if run_dir.is_dir():
        target = plot or run_dir / "curves.png"
        result = diagnose_run(run_dir, plot=target)
    else:
        points = require_points(read_metrics(run_dir), run_dir)
        result = run_diagnose(points)
        target = plot or run_dir.with_suffix(".png")
        plot_diagnosis(points, result, target)
    console = Console(highlight=False)
    style = _VERDICT_STYLE.get(result.verdict, "bold")
    console.print(f"[{style}]{result.verdict}[/] (confidence {result.confidence:.0%}): {result.message}")
    if result.best_checkpoint or result.best_epoch is not None:
        console.print(f"best: epoch {result.best_epoch:g}" + (f", checkpoint {result.best_checkpoint}" if result.best_checkpoint else ""))
    for line in result.advice:
        console.print(f"  - {line}")
    console.print(f"plot: {target}")
    if json_out:
        write_json(json_out, result)
