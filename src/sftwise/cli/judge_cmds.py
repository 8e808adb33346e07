"""Commands of this stage: ``judge`` (rubric autorater), ``label`` (human labels), ``calibrate``.

The library is imported inside each command body so that ``sftwise --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sftwise.cli.app import app
from sftwise.cli.options import json_option, output_dir_option, output_file_option, seed_option
from sftwise.cli.paths import RESULTS_WRITES


@app.command("judge", rich_help_panel="Evaluate")
def judge_cmd(
    results: Path = typer.Argument(..., help="results directory of `sftwise eval` (predictions.jsonl + summary.json)"),
    judge: str = typer.Option(..., "--judge", help="judge model spec, e.g. openai:MODEL@http://127.0.0.1:8000/v1"),
    rubric: str = typer.Option("instruction_following", "--rubric", help="built-in rubric name or a rubric YAML file"),
    against: Optional[Path] = typer.Option(None, "--against", help="second results directory: judge pairwise, A=RESULTS vs B=this"),
    output: Path = output_dir_option(..., "-o", "--output", help="results directory to write, with the judge scores joined in (never RESULTS)",
                                     writes=(*RESULTS_WRITES, "judgments.jsonl", "judge.json")),
    max_tokens: int = typer.Option(512, "--max-tokens", help="judge reply length limit"),
    temperature: float = typer.Option(0.0, "--temperature"),
    seed: int = seed_option("seed of the judge's sampling"),
    price_input: Optional[float] = typer.Option(None, "--price-input", help="USD per million prompt tokens, for the cost estimate"),
    price_output: Optional[float] = typer.Option(None, "--price-output", help="USD per million completion tokens"),
    concurrency: int = typer.Option(8, "--concurrency", help="judge requests in flight at once"),
    max_retries: int = typer.Option(4, "--max-retries", help="retries of a failed judge request (429, 5xx, timeouts)"),
    cache: Optional[Path] = output_file_option(None, "--cache", help="SQLite response cache (default ~/.cache/sftwise/responses.sqlite)",
                                               example="responses.sqlite", own=("*.sqlite",)),
    no_cache: bool = typer.Option(False, "--no-cache", help="always ask the judge, never reuse a cached reply"),
    json_path: Optional[Path] = json_option("also write the judge report as JSON here"),
) -> None:
    """Grade predictions with a language-model judge against a rubric (pointwise, or pairwise in both orders)."""
    from rich.console import Console
    from rich.progress import Progress

    from sftwise.backends.base import GenerationParams
    from sftwise.io import write_json
    from sftwise.judge.autorater import run_judge
    from sftwise.judge.rubric import load_rubric

    console = Console()
    rub = load_rubric(rubric)
    params = GenerationParams(max_new_tokens=max_tokens, temperature=temperature, seed=seed)
    with Progress(console=console, transient=True) as bar:
        def factory(total: int):  # noqa: ANN202
            task = bar.add_task("judging", total=total)
            return lambda n: bar.advance(task, n)

        report = run_judge(results, judge, rub, output, against=against, params=params, price_input=price_input,
                           price_output=price_output, progress_factory=factory, cache=False if no_cache else cache,
                           concurrency=concurrency, max_retries=max_retries)
    _print_judge(console, report)
    console.print(f"wrote {output}/ (predictions.jsonl with scores['{report.metric}'], summary.json, judgments.jsonl, judge.json)")
    if json_path:
        write_json(json_path, report)


def _print_judge(console, report) -> None:  # noqa: ANN001
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"{report.mode} judge {report.judge} · rubric {report.rubric}"), show_header=False)
    table.add_row("items", f"{report.n} ({report.n_scored} scored, {report.n_missing} missing)")
    if report.mode == "pointwise":
        table.add_row("mean score [95% CI]", report.mean_score.fmt(2) if report.mean_score else "n/a")
        table.add_row("score counts", ", ".join(f"{k}: {v}" for k, v in report.score_counts.items()) or "none")
    else:
        table.add_row(escape(f"win rate of A ({report.model_a}) vs B ({report.model_b})"), report.win_rate.fmt(3) if report.win_rate else "n/a")
        table.add_row("wins / ties / losses", f"{report.wins} / {report.ties} / {report.losses}")
        table.add_row("position consistency", report.position_consistency.fmt(3) if report.position_consistency else "n/a")
        pb = report.position_bias
        if pb:
            table.add_row("win rate, A shown first", pb.win_rate_a_first.fmt(3))
            table.add_row("win rate, B shown first", pb.win_rate_b_first.fmt(3))
            table.add_row("position bias", f"[{'bold red' if pb.detected else 'green'}]{pb.message}[/]")
        if report.unmatched_ids:
            table.add_row("ids in only one result set", f"{len(report.unmatched_ids)} (not judged): {', '.join(report.unmatched_ids[:5])}")
    for reason, count in report.missing_reasons.items():
        table.add_row("missing", escape(f"{count} × {reason}"))
    if report.empty_explanations:
        table.add_row("empty explanations", str(report.empty_explanations))
    u = report.usage
    cost = f", ≈ ${u.cost_usd:.4f}" if u.cost_usd is not None else ""
    table.add_row("judge usage", f"{u.requests} requests ({u.cached} cached, {u.errors} errors), "
                  f"{u.prompt_tokens} prompt + {u.completion_tokens} completion tokens billed{cost}")
    console.print(table)


@app.command("label", rich_help_panel="Evaluate")
def label_cmd(
    results: Path = typer.Argument(..., help="results directory whose predictions are labelled"),
    db: Path = output_file_option(Path("labels.sqlite"), "--db", help="SQLite file the labels are saved to, one by one", example="labels.sqlite",
                                  own=("*.sqlite",)),
    annotator: str = typer.Option(..., "--annotator", help="your name; others can join with ?annotator=NAME in the address"),
    rubric: str = typer.Option("instruction_following", "--rubric", help="rubric whose scale is used for scores"),
    against: Optional[Path] = typer.Option(None, "--against", help="second results directory: collect preferences A / tie / B"),
    task: Optional[str] = typer.Option(None, "--task", help="label task name (default: the rubric name, or pairwise:RUBRIC)"),
    no_shuffle: bool = typer.Option(False, "--no-shuffle", help="preferences: always show RESULTS on the left (default: a stable random side per item and annotator, against human position bias)"),
    port: int = typer.Option(8765, "--port", help="port on 127.0.0.1 (0 picks a free one); the printed link carries a new token at each start"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on; keep 127.0.0.1 unless you trust the network"),
    import_path: Optional[Path] = typer.Option(None, "--import", help="import labels from a CSV/JSONL file into --db, then exit"),
    export_path: Optional[Path] = output_file_option(None, "--export", help="export the labels in --db to a .csv/.jsonl file, then exit", example="labels.csv"),
) -> None:
    """Label predictions by hand in a small local web app (or import/export labels)."""
    from rich.console import Console
    from rich.markup import escape

    from sftwise.errors import SftwiseError
    from sftwise.evaluate.results import read_results
    from sftwise.judge.rubric import load_rubric
    from sftwise.judge.label_server import LabelApp, check_port, serve
    from sftwise.judge.labels import export_labels, import_labels

    check_port(port)  # first: a nonsense --port is refused in every mode, before anything is created
    console = Console()
    preds = read_results(results).predictions
    if import_path or export_path:
        if import_path:
            n, findings = import_labels(import_path, db, known_ids=[p.id for p in preds])
            for f in findings:
                console.print(f"[yellow]{escape(str(f))}[/]", soft_wrap=True, highlight=False)
            console.print(f"imported {n} label(s) into {db}" + (f"; {len(findings)} with unknown ids skipped" if findings else ""))
        if export_path:
            n = export_labels(db, export_path)
            console.print(f"exported {n} label(s) to {export_path}")
        return
    preds_b = read_results(against).predictions if against else None
    label_app = LabelApp(preds, db, annotator, load_rubric(rubric), preds_b, task, shuffle=not no_shuffle)
    server = serve(label_app, host, port)
    url = server.url(annotator)  # with this start's token, required by every API call (other web pages lack it)
    console.print(f"labelling {len(label_app.items)} items ({label_app.config()['mode']}, task {label_app.task}) at [bold]{escape(url)}[/]",
                  soft_wrap=True, highlight=False)
    console.print(f"labels are saved to {db} as they are made; Ctrl-C stops the server")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    if not db.exists():
        raise SftwiseError(f"{db} was not created")


@app.command("calibrate", rich_help_panel="Evaluate")
def calibrate_cmd(
    human: Path = typer.Option(..., "--human", help="human labels: CSV, JSONL or the labels SQLite of `sftwise label`"),
    judge_results: list[Path] = typer.Option([], "--judge-results", help="output directory of `sftwise judge` (repeat to compare several)"),
    search_grid: Optional[Path] = typer.Option(None, "--search", help="YAML grid {judges: [...], rubrics: [...], few_shot: [0, 4]} to run and compare"),
    results: Optional[Path] = typer.Option(None, "--results", help="results directory the grid's judges grade (with --search)"),
    task: Optional[str] = typer.Option(None, "--task", help="only use labels of this task (rubric name or pairwise:RUBRIC)"),
    holdout: float = typer.Option(0.5, "--holdout", help="share of labelled items held out from the choice of judge"),
    seed: int = seed_option("seed of the tuning / held-out split of the labelled items"),
    json_path: Optional[Path] = json_option("write the calibration report as JSON here"),
) -> None:
    """How well does the judge agree with your annotators? Pick the judge configuration closest to them."""
    from rich.console import Console

    from sftwise.errors import SftwiseError

    from sftwise.io import write_json
    from sftwise.judge import calibrate as cal
    from sftwise.judge.labels import read_label_file

    console = Console()
    labels = read_label_file(human)
    if task:
        labels = [lab for lab in labels if lab.task == task]
        if not labels:
            raise SftwiseError(f"no labels of task '{task}' in {human}")
    if search_grid:
        if results is None:
            raise SftwiseError("--search needs --results RESULTS: the predictions the grid's judges grade")
        from sftwise.evaluate.results import read_results

        report = cal.search(read_results(results).predictions, labels, cal.load_grid(search_grid), holdout=holdout, seed=seed)
    else:
        if not judge_results:
            raise SftwiseError("give --judge-results J (one or more `sftwise judge` outputs) or --search GRID --results RESULTS")
        loaded = [cal.load_judge_run(path) for path in judge_results]
        scales = {tuple(scale) for _, scale in loaded}
        if len(scales) > 1:
            raise SftwiseError(f"the judge results use different scales {sorted(scales)}; calibrate runs of the same scale together")
        report = cal.calibrate(labels, [run for run, _ in loaded], loaded[0][1], holdout=holdout, seed=seed)
    _print_calibration(console, report)
    if json_path:
        write_json(json_path, report)


def _print_calibration(console, report) -> None:  # noqa: ANN001
    from rich.markup import escape
    from rich.table import Table

    for f in report.findings[:20]:
        console.print(f"[yellow]{escape(str(f))}[/]", soft_wrap=True, highlight=False)
    if len(report.findings) > 20:
        console.print(f"[yellow]… and {len(report.findings) - 20} more labels with unknown ids[/]")
    console.print(f"{report.n_labels} labels on {report.n_items} items by {len(report.annotators)} annotator(s): {', '.join(report.annotators)}; "
                  f"{len(report.tuning_ids)} items to choose the judge, {len(report.heldout_ids)} held out")
    iaa = report.inter_annotator
    if iaa.computable:
        console.print(f"inter-annotator agreement: {report.kappa_kind} kappa {iaa.mean_kappa:.3f}, exact {iaa.mean_exact:.3f} ({iaa.note})")
    else:
        console.print(f"inter-annotator agreement: {iaa.note}")
    table = Table(title="judge configurations (chosen on the tuning items, reported on held-out items)")
    pairwise = report.mode == "pairwise"
    table.add_column("judge", min_width=22, overflow="fold")
    for col in ("tuning κ", "held-out κ", "held-out exact", "±1", "Spearman", "Kendall", "bias", "vs each annotator κ", "missing"):
        table.add_column(col)
    if pairwise:
        table.add_column("position consistency")
    for c in report.candidates:
        h = c.heldout
        kappa = h.kappa_quadratic if report.kappa_kind != "plain" else h.kappa
        mark = " ✔" if c.name == report.chosen else ""
        table.add_row(escape(c.name) + mark, "n/a" if c.selection_kappa is None else f"{c.selection_kappa:.3f}", kappa.fmt(2), h.exact.fmt(2),
                      h.within_one.fmt(2), h.spearman.fmt(2), h.kendall.fmt(2), h.bias.fmt(2),
                      "n/a" if c.judge_vs_annotators is None else f"{c.judge_vs_annotators:.3f}", str(c.n_missing),
                      *([f"{c.position_consistency:.3f}" if c.position_consistency is not None else "n/a"] if pairwise else []))
    console.print(table)
    chosen = next(c for c in report.candidates if c.name == report.chosen)
    if pairwise and chosen.position_consistency is not None:
        console.print(f"position consistency of {escape(chosen.name)}: {chosen.position_consistency:.3f} (same winner in both orders)")
    cm = Table(title=escape(f"confusion matrix of {chosen.name}, all labelled items (rows: human, columns: judge)"))
    names = {0.0: "B", 1.0: "tie", 2.0: "A"} if pairwise else {}
    labels = [names.get(v, f"{v:g}") for v in chosen.overall.confusion.labels]
    cm.add_column("human \\ judge")
    for lab in labels:
        cm.add_column(lab)
    for lab, row in zip(labels, chosen.overall.confusion.matrix):
        cm.add_row(lab, *map(str, row))
    console.print(cm)
    console.print(f"[bold]{escape(report.verdict)}[/]", soft_wrap=True)
