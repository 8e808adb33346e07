"""Commands of the data stage: audit, convert, explain."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sftwise.cli.app import app
from sftwise.cli.options import json_option, map_option, output_file_argument, parse_field_map

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


@app.command()
def audit(
    train: Path = typer.Argument(..., help="training file (.jsonl, .json, .csv, .parquet; any supported format)"),
    validation: Optional[Path] = typer.Option(None, "--validation", help="validation file, checked and compared with train"),
    test: Optional[Path] = typer.Option(None, "--test", help="test file, checked for overlap with train and validation"),
    model: Optional[str] = typer.Option(None, "--model", help="local model directory or cached HF name: its tokenizer counts tokens, its context sets the limit"),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help="per-example token limit (your trainer's max_length); overrides the target's, the model's and the default (131,072 for Gemini files, 65,536 for others)"),
    target: Optional[str] = typer.Option(None, "--target", help="check a tuning service's limits too: gemini-2.5-flash (or publishers/google/models/...), openai:gpt-4.1-mini"),
    json_out: Optional[Path] = json_option("write the full report (every finding, not capped by --max-listed, and statistics) as JSON"),
    max_listed: int = typer.Option(50, "--max-listed", min=0, help="locations listed per finding code and file (0 = all)"),
    chat_template: Optional[str] = typer.Option(None, "--chat-template", help="with --model: the chat template (text, a Jinja file, or 'chatml') the supervision checks use when the tokenizer has none"),
) -> None:
    """Check a fine-tuning dataset before tuning: schema, lengths, dataset-level problems, duplicates.

    With --model, also which tokens carry loss under its chat template (as `sftwise inspect`, SW21x).
    Exit code 1 when any error-level finding exists, 0 otherwise, 2 on usage errors.
    Look up any code with `sftwise explain CODE`.
    """
    from rich.console import Console

    from sftwise.audit import audit as run_audit
    from sftwise.io import write_json

    with Console(stderr=True).status(f"Auditing {train}" + (f", {validation}" if validation else "") + (f", {test}" if test else "") + " ..."):
        # the JSON report is for scripts: every finding, whatever --max-listed caps on screen
        report = run_audit(train, validation=validation, test=test, model=model, max_tokens=max_tokens, target=target, max_listed=0 if json_out else max_listed)
        if model and not (target or model).startswith("gemini"):
            from sftwise.train.supervision import add_to_audit

            add_to_audit(report, train, model, max_length=max_tokens, chat_template=chat_template)
    if json_out:
        write_json(json_out, report)
        report = report.capped(max_listed)
    _render(report)
    if report.supervision and not report.supervision.get("checked"):
        typer.echo(f"note: which tokens carry loss was not checked: {report.supervision['reason']}")
    if json_out:
        typer.echo(f"JSON report: {json_out}")
    if report.has_errors:
        raise typer.Exit(code=1)


def render_findings(console, findings, rows_per_code: int = 10) -> None:  # noqa: ANN001 - rich Console, Findings
    """The findings table of ``audit`` and ``inspect``: at most ``rows_per_code`` rows per code, the hint once."""
    from rich.markup import escape
    from rich.table import Table

    if not findings:
        return
    table = Table(title="Findings", expand=False)
    table.add_column("severity")
    table.add_column("code")
    table.add_column("where", overflow="fold")
    table.add_column("finding (and how to fix it, first time)", overflow="fold")
    shown: dict[str, int] = {}
    for f in findings:
        n = shown[f.code] = shown.get(f.code, 0) + 1
        if n > rows_per_code:
            continue
        sev = f.severity.value
        text = escape(f.message) + (f"\n[dim]{escape(f.hint)}[/]" if f.hint and n == 1 else "")
        table.add_row(f"[{_SEVERITY_STYLE[sev]}]{sev}[/]", f.code, escape(f.location or "-"), text)
    for code, n in shown.items():
        if n > rows_per_code:
            table.add_row("", code, "", f"[dim]... {n - rows_per_code} more {code} findings (all of them with --json)[/]")
    console.print(table)


def _render(report, rows_per_code: int = 10) -> None:  # noqa: ANN001 - AuditReport, imported lazily
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    render_findings(console, report.findings, rows_per_code)
    stats = Table(title="Statistics" + (" (estimated tokens)" if any(s.tokens_estimated for s in report.stats.values()) else ""))
    stats.caption = "input / output tokens: min / p50 / p90 / p99 / max"
    for col in ("split", "examples", "chars", "tokens", "input tokens", "output tokens", "over limit"):
        stats.add_column(col, justify="right" if col in ("examples", "chars", "tokens", "over limit") else "left", no_wrap=col == "split")
    for name, s in report.stats.items():
        stats.add_row(name, f"{s.example_count:,}", f"{s.total_characters:,}", f"{s.total_tokens:,}", s.input_tokens.short(),
                      s.output_tokens.short(), f"{s.truncated_example_count:,}" if s.context_limit else "-")
    console.print(stats)
    counts = report.counts
    verdict = "[bold red]errors found[/]" if report.has_errors else "[green]no errors[/]"
    limit = f"limit {report.max_tokens:,} tokens" + (f", {report.max_tokens_label}" if report.max_tokens_label else "") if report.max_tokens else "no token limit"
    console.print(f"{verdict}: {counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes ({limit}; tokenizer: {report.tokenizer}). "
                  "Explain a code with `sftwise explain CODE`.")


@app.command()
def convert(
    input: Path = typer.Argument(..., help="file to convert (.jsonl, .json, .csv, .parquet)"),
    output: Path = output_file_argument("file to write; the container comes from its extension", example="converted.jsonl"),
    to: str = typer.Option("gemini", "--to", help="output format: gemini, messages, prompt_completion, alpaca, sharegpt"),
    from_format: Optional[str] = typer.Option(None, "--from", help="input format (default: detected per record)"),
    system: Optional[str] = typer.Option(None, "--system", help="system instruction to add to examples that have none"),
    instruction_prefix: Optional[str] = typer.Option(None, "--instruction-prefix", help="text put before each example's first user turn"),
    field_map: list[str] = map_option(),
    force: bool = typer.Option(False, "--force", help="convert the records that could be read even when the input has errors"),
) -> None:
    """Convert a dataset between formats (and add a system instruction or an instruction prefix)."""
    from sftwise.findings import sort_findings
    from sftwise.formats import FORMATS, conversion_losses, read, write
    from sftwise.errors import SftwiseError

    if to not in FORMATS:  # OUTPUT is never INPUT: sftwise.cli.paths checked it before this body
        raise SftwiseError(f"--to {to!r} is not a format; expected one of {', '.join(FORMATS)}.")
    result = read(input, from_format, field_map=parse_field_map(field_map))
    errors = result.errors
    if errors and not force:
        shown = "\n  ".join(str(f) for f in sort_findings(errors)[:5])
        raise SftwiseError(f"{input} has {len(errors)} error(s):\n  {shown}\nFix them (`sftwise audit {input}` lists all), or pass --force to convert the {len(result.dataset)} records that could be read.")
    write(result.dataset, output, to, system=system, instruction_prefix=instruction_prefix)
    note = f" ({len(errors)} errors skipped with --force)" if errors else ""
    typer.echo(f"wrote {len(result.dataset)} examples to {output} as {to} (read as {result.dataset.format}){note}")
    for loss in conversion_losses(result.dataset.conversations, to):
        typer.echo(f"note: {loss}", err=True)


@app.command()
def explain(
    code: Optional[str] = typer.Argument(None, help="a finding code such as SW201; omit to list every code"),
) -> None:
    """What a finding code checks, why it matters, and an example."""
    from rich.console import Console
    from rich.table import Table

    from sftwise.findings import RULES
    from sftwise.errors import SftwiseError

    console = Console(highlight=False)
    if code is None:
        table = Table(title="Finding codes")
        for col in ("code", "name", "severity", "what it checks"):
            table.add_column(col, overflow="fold")
        for key in sorted(RULES):
            r = RULES[key]
            table.add_row(r.code, r.name, r.severity.value, r.summary)
        console.print(table)
        return
    r = RULES.get(code.strip().upper())
    if r is None:
        raise SftwiseError(f"unknown finding code {code!r}; run `sftwise explain` to list every code.")
    console.print(f"[bold]{r.code}[/] {r.name} ([{_SEVERITY_STYLE[r.severity.value]}]{r.severity.value}[/])\n")
    console.print(r.summary)
    console.print(f"\n[bold]Why it matters[/]\n{r.why}")
    if r.example:
        console.print("\n[bold]Example[/]")
        console.print(r.example, markup=False)
