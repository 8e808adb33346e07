"""The Typer application object, shared by the command modules that register on it.

The CLI is thin: each command validates its arguments, calls one library function, renders the
result with rich and writes JSON. Command modules import the library lazily inside the command body
so that ``sftwise --help`` never imports torch or the evaluation stack.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from sftwise.cli.options import flag_for
from sftwise.cli.paths import SftwiseCommand
from sftwise.errors import ParameterError, SftwiseError


class SftwiseGroup(TyperGroup):
    """Turns :class:`SftwiseError` into a one-line message and exit code 2, never a traceback.

    So does an ``OSError`` about a named file that no library call restated (a read-only mount, a
    full disk, a missing folder met by a writer other than :func:`~sftwise.io.atomic_write`): the
    message names the file and the system's reason (:func:`~sftwise.io.os_error_message`).

    A :class:`ParameterError` from the library names a Python parameter; it is shown with the
    flag of the command that was run (:func:`~sftwise.cli.options.flag_for`), so ``max_new_tokens:``
    reads ``--max-new-tokens:`` on the command line. Command groups nested in the app (``jobs``)
    use this class too, so their commands are known as well.
    """

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(self.commands)  # keep the workflow order of registration, not alphabetical

    def resolve_command(self, ctx: typer.Context, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta[_COMMAND] = command  # meta is shared by the whole context chain: the innermost wins
        return name, command, rest

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SftwiseError as exc:
            from rich.console import Console
            from rich.markup import escape

            message = exc.restated(flag_for(exc.parameter, ctx.meta.get(_COMMAND))) if isinstance(exc, ParameterError) else str(exc)
            Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
            raise typer.Exit(code=2) from None
        except OSError as exc:
            if exc.filename is None:  # not about a file the user named: a bug, keep its traceback
                raise
            from rich.console import Console
            from rich.markup import escape

            from sftwise.io import os_error_message

            Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {escape(os_error_message(exc))}", soft_wrap=True)
            raise typer.Exit(code=2) from None


_COMMAND = "sftwise.command"


class SftwiseTyper(typer.Typer):
    """A Typer app whose commands are all :class:`~sftwise.cli.paths.SftwiseCommand`: each refuses an
    output that would overwrite an input before its body runs. ``app`` and nested groups (``jobs``) use it."""

    def command(self, name: str | None = None, *, cls: Any = None, **kwargs: Any) -> Any:
        return super().command(name, cls=cls or SftwiseCommand, **kwargs)


app = SftwiseTyper(
    name="sftwise",
    cls=SftwiseGroup,
    help="Supervised fine-tuning done right: audit your data, get a baseline, tune, diagnose, evaluate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain click help: the rich help renderer alone costs ~0.3 s of start-up
)
