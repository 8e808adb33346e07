"""``sftwise eval``, ``sftwise compare``, ``sftwise hard-examples``.

Only typer is imported at module level; the evaluation library (numpy, sacrebleu, sklearn, torch for
``hf:`` models) is imported inside the command bodies so ``sftwise --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sftwise.cli.app import app
from sftwise.cli.options import json_option, output_dir_option, output_file_option, seed_option
from sftwise.cli.paths import RESULTS_WRITES


def _console():
    import sys

    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def _fmt(value: float | None, scale: float = 1.0) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value * scale:.4g}"


@app.command("eval")
def eval_cmd(
    output: Path = output_dir_option(..., "-o", "--output", help="Results directory to write (predictions.jsonl + summary.json).", writes=RESULTS_WRITES),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="hf:PATH | openai:MODEL@http://host:port/v1 | gemini:MODEL."),
    data: Optional[Path] = typer.Option(None, "--data", help="Eval set (any format sftwise reads); the last model turn is the reference."),
    predictions: Optional[Path] = typer.Option(None, "--predictions", help="Score saved predictions (JSONL/JSON) without a model."),
    prediction_field: str = typer.Option("prediction", "--prediction-field", help="Field of --predictions holding the output (a.b for nested)."),
    reference_field: str = typer.Option("reference", "--reference-field", help="Field of --predictions holding the reference (a.b for nested)."),
    id_field: Optional[str] = typer.Option(None, "--id-field", help="Field of --predictions holding a stable example id."),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma list: exact_match,f1,accuracy,macro_f1,bleu,chrf,rouge1,rouge2,rougeL,rougeLsum (or rouge),math_accuracy,json_valid,json_schema,json_match,length_ratio. Default exact_match,f1."),
    few_shot: int = typer.Option(0, "--few-shot", help="Number of shots (K)."),
    shots_from: Optional[Path] = typer.Option(None, "--shots-from", help="File to draw shots from (never the eval set)."),
    shots_in: str = typer.Option("turns", "--shots-in", help="turns (alternating chat turns) or system (examples in the system instruction)."),
    seed: int = seed_option("Seed for shots, sampling and the bootstrap."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
    temperature: float = typer.Option(0.0, "--temperature", help="0 = greedy."),
    top_p: float = typer.Option(1.0, "--top-p"),
    stop: Optional[list[str]] = typer.Option(None, "--stop", help="Stop sequence (repeatable)."),
    batch_size: int = typer.Option(32, "--batch-size", help="hf: prompts per batch (32: the measured sweet spot on CPU, see benchmarks/)."),
    concurrency: int = typer.Option(8, "--concurrency", help="openai/gemini: requests in flight."),
    max_retries: int = typer.Option(4, "--max-retries", help="openai: retries on 429/5xx/timeouts/malformed responses."),
    timeout: float = typer.Option(120.0, "--timeout", help="openai: seconds per request."),
    normalize: str = typer.Option("squad", "--normalize", help="exact_match/f1 normalisation: squad, none, or a comma list of lower,punct,articles,space."),
    rouge_stemmer: bool = typer.Option(False, "--rouge-stemmer", help="Porter-stem ROUGE tokens (rouge-score use_stemmer=True)."),
    rouge_tokenizer: str = typer.Option("default", "--rouge-tokenizer", help="default (rouge-score's; drops non-ASCII) or unicode."),
    json_schema: Optional[Path] = typer.Option(None, "--json-schema", help="JSON Schema file for the json_schema metric."),
    case_sensitive_labels: bool = typer.Option(False, "--case-sensitive-labels", help="accuracy/macro_f1: compare labels case-sensitively."),
    resamples: int = typer.Option(1000, "--resamples", help="Bootstrap resamples for the 95 % CIs."),
    cache: Optional[Path] = output_file_option(None, "--cache", help="Response cache (SQLite); default ~/.cache/sftwise/responses.sqlite.",
                                               example="responses.sqlite", own=("*.sqlite",)),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the response cache."),
    json_out: Optional[Path] = json_option("Also write the summary as JSON here."),
) -> None:
    """Evaluate a model zero-/few-shot on an eval set, or score saved predictions; metrics with 95 % CIs."""
    import json

    from rich.table import Table

    from sftwise.backends.base import GenerationParams
    from sftwise.evaluate.metrics import MetricOptions, TextNormalization
    from sftwise.evaluate.runner import evaluate
    from sftwise.errors import SftwiseError
    from sftwise.io import read_text, write_json

    if rouge_tokenizer not in ("default", "unicode"):
        raise SftwiseError(f"--rouge-tokenizer {rouge_tokenizer!r}: expected default or unicode.")
    schema = None
    if json_schema is not None:
        try:
            schema = json.loads(read_text(json_schema, f"--json-schema {json_schema}"))
        except json.JSONDecodeError as exc:
            raise SftwiseError(f"--json-schema {json_schema}: not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    options = MetricOptions(
        normalization=TextNormalization.parse(normalize),
        label_case_sensitive=case_sensitive_labels,
        rouge_stemmer=rouge_stemmer,
        rouge_tokenizer=rouge_tokenizer,
        json_schema=schema,
    )
    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, stop=list(stop or []), seed=seed)
    from sftwise.progress import generation_progress

    with generation_progress() as (on_start, on_progress):
        summary = evaluate(
            output=output, model=model, data=data, predictions=predictions, prediction_field=prediction_field,
            reference_field=reference_field, id_field=id_field, metrics=metrics, few_shot=few_shot, shots_from=shots_from,
            shots_in=shots_in, seed=seed, params=params, metric_options=options, cache=False if no_cache else cache,
            generator_opts={"batch_size": batch_size, "concurrency": concurrency, "max_retries": max_retries, "timeout_s": timeout},
            resamples=resamples, on_progress=on_progress, on_start=on_start,
        )
    out = _console()
    table = Table(title=f"{summary.model} on {summary.data} ({summary.n_examples} examples, {summary.few_shot}-shot)")
    for col in ("metric", "value", "95% CI", "n", "failed"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for m in summary.metrics.values():
        table.add_row(m.name, _fmt(m.value), f"[{_fmt(m.ci_low)}, {_fmt(m.ci_high)}]", str(m.n), str(summary.n_errors))
    if summary.n_errors and summary.n_errors == summary.n_examples:
        # nothing came back (a wrong key, a server down): not a score of 0, a failed command
        typer.echo(f"error: {summary.failure_note()}. Fix the cause and run the same command again; "
                   f"each error is in {output}/predictions.jsonl.", err=True)
        raise typer.Exit(code=1)
    out.print(table)
    notes = []
    if summary.n_errors:
        retry = " Run the same command again to retry only those (the others come from the cache)." if not no_cache and predictions is None else ""
        notes.append(f"{summary.failure_note()}; see 'error' in predictions.jsonl.{retry}")
    if getattr(summary, "n_missing_reference", 0):
        notes.append(f"{summary.n_missing_reference} example(s) without a reference: not scored")
    if summary.settings.get("tokens_per_s") is not None:
        notes.append(f"{summary.settings['new_tokens']} new tokens at {summary.settings['tokens_per_s']} tok/s, {summary.settings.get('cache_hits', 0)} cache hit(s)")
    for note in notes:
        out.print(f"[yellow]note:[/] {note}")
    out.print(f"wrote {output}/predictions.jsonl and {output}/summary.json")
    if json_out:
        write_json(json_out, summary)


@app.command("compare")
def compare_cmd(
    results: list[Path] = typer.Argument(..., help="Results directories; the first is the baseline."),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma list of metrics to compare (default: all shared)."),
    resamples: int = typer.Option(1000, "--resamples", help="Paired bootstrap resamples."),
    seed: int = seed_option("Seed of the paired bootstrap."),
    top: int = typer.Option(5, "--top", help="Examples to show that changed most each way."),
    json_out: Optional[Path] = json_option("Write the ComparisonReport as JSON here.", own=("comparison.json",)),
) -> None:
    """Per-metric deltas with paired bootstrap CIs and p-values (McNemar for 0/1 metrics), win/tie/loss."""
    from rich.console import Console
    from rich.table import Table

    from sftwise.evaluate.compare import compare
    from sftwise.io import write_json

    names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    report = compare(results, metrics=names, resamples=resamples, seed=seed, top=top)
    out = _console()
    for pair in report.comparisons:
        table = Table(title=f"B = {pair.b}  vs  A = {pair.a}  ({pair.n_common} shared examples)")
        for col in ("metric", "A", "B", "B - A", "95% CI", "p", "test", "win/tie/loss"):
            table.add_column(col, justify="left" if col in ("metric", "test") else "right", no_wrap=True)
        for d in pair.metrics:
            flag = "" if d.comparable else " [red](signatures differ)[/]"
            table.add_row(
                d.metric + flag, _fmt(d.value_a), _fmt(d.value_b), _fmt(d.delta), f"[{_fmt(d.ci_low)}, {_fmt(d.ci_high)}]",
                _fmt(d.p_value), d.test, f"{d.wins}/{d.ties}/{d.losses}",
            )
        out.print(table)
        if pair.only_in_a or pair.only_in_b:
            out.print(f"[yellow]note:[/] {pair.only_in_a} example(s) only in A, {pair.only_in_b} only in B: not compared")
        for title, items in (("improved most", pair.improved), ("regressed most", pair.regressed)):
            if items:
                out.print(f"[bold]{title}[/] ({items[0].metric}):")
                for c in items:
                    out.print(f"  {c.id}: {_fmt(c.score_a)} -> {_fmt(c.score_b)}  {c.prompt[:80]!r}")
    if json_out:
        write_json(json_out, report)


@app.command("hard-examples")
def hard_examples_cmd(
    results: Path = typer.Argument(..., help="Results directory of the model to mine failures from."),
    train_pool: Path = typer.Option(..., "--train-pool", help="Candidate training data (any format sftwise reads)."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Metric deciding failure (default: the first in the summary)."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Score below which an example failed (default 1 for 0/1 metrics, else 0.5)."),
    per_failure: int = typer.Option(3, "--per-failure", help="Nearest pool examples proposed per failure."),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most this many candidates."),
    min_similarity: float = typer.Option(0.1, "--min-similarity", help="Minimum TF-IDF cosine to a failure."),
    near_dup: float = typer.Option(0.5, "--near-dup", help="Drop candidates with char-5-gram Jaccard >= this to any eval example."),
    output: Optional[Path] = output_file_option(None, "-o", "--output", help="Write the selected pool examples here (Gemini JSONL).", example="hard.jsonl"),
    json_out: Optional[Path] = json_option("Write the report as JSON here."),
) -> None:
    """The failed eval examples and the most similar training candidates, guarded against eval near-duplicates."""
    from rich.console import Console

    from sftwise.evaluate.hard_examples import find_hard_examples
    from sftwise.io import write_json

    report, records = find_hard_examples(
        results, train_pool, metric=metric, threshold=threshold, per_failure=per_failure, limit=limit,
        min_similarity=min_similarity, near_dup_jaccard=near_dup,
    )
    out = _console()
    out.print(f"{len(report.failed)} of {report.n_eval} eval examples failed ({report.metric} < {report.threshold:g}).")
    out.print(f"{len(report.candidates)} pool candidate(s) selected, {len(report.excluded_near_duplicates)} excluded as near duplicates of the eval set.")
    for c in report.candidates[:10]:
        out.print(f"  {c.source}  sim {c.similarity:.3f}  (like {c.nearest_failure})  {c.prompt[:70]!r}")
    if output is not None:
        from sftwise import formats

        formats.write([r.conversation for r in records], output, "gemini")
        out.print(f"wrote {len(records)} example(s) to {output}")
    if json_out:
        write_json(json_out, report)
