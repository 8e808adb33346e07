"""``sftwise inspect``: which tokens of each example carry loss, after the model's chat template.

The library (:mod:`sftwise.train.supervision`) builds the report with the trainer's own masking;
this module renders it: the findings, the totals, and ``--show K`` examples token by token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from sftwise.cli.app import app
from sftwise.cli.options import json_option

# token boundaries are visible as alternating shades: trained tokens green, masked ones dimmed
_TRAINED = ("bold black on green3", "bold black on pale_green3")
_MASKED = ("grey62 on grey15", "grey62 on grey27")


@app.command()
def inspect(
    data: Path = typer.Argument(..., help="training file (.jsonl, .json, .csv, .parquet; any supported format)"),
    model: str = typer.Option(..., "--model", help="local model directory, bundled model or cached HF name: its tokenizer and chat template are used"),
    max_length: Optional[int] = typer.Option(None, "--max-length", min=1, help="tokens per example the trainer keeps (default: train's max_length, 1024)"),
    chat_template: Optional[str] = typer.Option(None, "--chat-template", help="a chat template (text, a Jinja file, or 'chatml') for a tokenizer without one"),
    show: int = typer.Option(0, "--show", min=0, help="render K examples token by token (those with problems first)"),
    json_out: Optional[Path] = json_option("write the full report (findings, totals, every example) as JSON"),
    max_listed: int = typer.Option(50, "--max-listed", min=0, help="locations listed per finding code (0 = all)"),
) -> None:
    """Show what training is given: per example the prompt tokens, the tokens that carry loss, the
    end-of-turn token, truncation at max_length; per dataset the share of loss-bearing tokens;
    chat-template problems (no generation markers, skew between training and generation, an injected
    system prompt). Exit code 1 when any error-level finding exists, 0 otherwise, 2 on usage errors.
    """
    from rich.console import Console

    from sftwise.io import write_json
    from sftwise.train.supervision import inspect_supervision

    with Console(stderr=True).status(f"Inspecting {data} under the chat template of {model} ..."):
        report = inspect_supervision(data, model, max_length=max_length, chat_template=chat_template, show=max(show, 3), max_listed=max_listed)
    if json_out:
        write_json(json_out, report)
    console = Console(highlight=False)
    from sftwise.cli.data_cmds import render_findings

    render_findings(console, report.findings)
    for view in report.shown[:show]:
        console.print(token_view(view))
    counts = {s: sum(f.severity.value == s for f in report.findings) for s in ("error", "warning", "info")}
    verdict = "[bold red]errors found[/]" if report.has_errors else "[green]no errors[/]"
    console.print(f"{verdict}: {counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes; "
                  f"{report.loss_share:.1%} of {report.tokens:,} tokens carry loss over {report.examples:,} examples (max_length {report.max_length:,}).")
    if json_out:
        typer.echo(f"JSON report: {json_out}")
    if report.has_errors:
        raise typer.Exit(code=1)


def token_view(view: Any) -> Any:
    """A :class:`~sftwise.train.supervision.TokenView` as rich text: a header, then every token, trained
    ones highlighted, masked ones dimmed, neighbours in alternating shades, newlines shown as ``⏎``."""
    from rich.text import Text

    text = Text()
    problems = f" [{', '.join(view.problems)}]" if view.problems else ""
    text.append(f"line {view.line}{problems}: ", style="bold")
    text.append("trained", style=_TRAINED[0])
    text.append(" masked", style=_MASKED[0])
    text.append("\n")
    for k, (piece, trained) in enumerate(zip(view.tokens, view.trained)):
        if view.cut is not None and k == view.cut:
            text.append(f" ✂ max_length {view.cut}: the rest is cut off ", style="bold white on red")
        styles = _TRAINED if trained else _MASKED
        shown = piece.replace("\n", "⏎\n")
        text.append(shown, style=styles[k % 2])
    if view.hidden_tokens:
        text.append(f" … {view.hidden_tokens:,} more tokens", style="italic")
    text.append("\n")
    return text
