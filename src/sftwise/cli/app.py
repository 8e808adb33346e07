"""The Typer application object, shared by the command modules that register on it.

The CLI is thin: each command validates its arguments, calls one library function, renders the
result with rich and writes JSON. Command modules import the library lazily inside the command body
so that ``sftwise --help`` never imports torch or the evaluation stack.
"""

from __future__ import annotations

from typing import Any

import click
import typer
from typer.core import TyperGroup

from sftwise.errors import SftwiseError


class _SftwiseGroup(TyperGroup):
    """Turns :class:`SftwiseError` into a one-line message and exit code 2, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # keep the workflow order of registration, not alphabetical

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SftwiseError as exc:
            from rich.console import Console

            Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {exc}", soft_wrap=True)
            raise typer.Exit(code=2) from None


app = typer.Typer(
    name="sftwise",
    cls=_SftwiseGroup,
    help="Supervised fine-tuning done right: audit your data, get a baseline, tune, diagnose, evaluate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain click help: the rich help renderer alone costs ~0.3 s of start-up
)
