"""The options many commands share, declared once, so that one option means one thing everywhere.

``--seed`` defaults to 0 in every command; ``--map OLD=NEW`` renames input fields the same way in
``convert``, ``dedup``, ``split`` and ``skew``; every output file (``--json``, ``--report``, a file
``-o``) is refused when it names a directory, and every output directory when it names a file,
before any work is done (the check runs while the flags are parsed). Declaring an output with these
helpers also tags it for :mod:`sftwise.cli.paths`, the one check that no output overwrites an input:
a command's outputs must use them.

:func:`flag_for` is the one place that turns a library parameter name (``json_out``, ``lora_rank``)
into the flag a user typed: the CLI's error handler restates every
:class:`~sftwise.errors.ParameterError` with it.

Only typer is imported here: ``sftwise --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from sftwise.cli.paths import OutputSpec, mark_output, param_flag
from sftwise.errors import SftwiseError

MAP_HELP = "rename an input field, e.g. --map question=prompt --map answer=completion"

FLAGS: dict[str, str] = {
    # library parameter -> flag, where the flag is not --parameter-name and no command parameter
    # of that name says so; add a row when a library function and its command name a value differently
    "json_out": "--json",
    "json_path": "--json",
    "output": "-o",
    "output_dir": "-o",
    "report_path": "--report",
    "field_map": "--map",
    "lora_rank": "--rank",
    "learning_rate": "--lr",
    "overlong": "--truncate/--drop",
    "near_dup_jaccard": "--near-dup",
    "runs": "--judge-results",
    "timeout_s": "--timeout",
}

COMMAND_FLAGS: dict[str, dict[str, str]] = {
    # per command, where one library parameter is set by a differently named flag there only
    "judge": {"model": "--judge"},
    "calibrate": {"model": "--search judges"},  # a judge spec of the grid file
}


def flag_for(parameter: str, command: Any = None) -> str:
    """The flag that sets library ``parameter``: the invoked command's own option of that name (or
    its positional argument, as ``RUN_DIR``), else :data:`COMMAND_FLAGS` for that command, else
    :data:`FLAGS`, else ``--`` + the name with dashes (``max_new_tokens`` -> ``--max-new-tokens``)."""
    for param in getattr(command, "params", ()):
        if param.name == parameter and (param.param_type_name == "argument" or param.opts):
            return param_flag(param)
    own = COMMAND_FLAGS.get(getattr(command, "name", None) or "", {})
    return own.get(parameter) or FLAGS.get(parameter) or "--" + parameter.replace("_", "-")


# ---- output paths: checked while the flags are parsed ------------------------------------------


def _output_file(example: str | None, own: tuple[str, ...]) -> Any:
    spec = OutputSpec("file", own=own)

    def check(ctx: typer.Context, param: typer.CallbackParam, value: Optional[Path]) -> Optional[Path]:
        mark_output(param, spec)
        if value is not None and value.is_dir():
            raise SftwiseError(f"{param_flag(param)} {value} is a directory; give a file path such as {value / (example or f'{ctx.info_name}.json')}.")
        return value

    return check


def _output_dir(writes: tuple[str, ...]) -> Any:
    spec = OutputSpec("dir", writes=writes)

    def check(ctx: typer.Context, param: typer.CallbackParam, value: Optional[Path]) -> Optional[Path]:
        mark_output(param, spec)
        if value is not None and value.exists() and not value.is_dir():
            raise SftwiseError(f"{param_flag(param)} {value} is a file; give a directory to write into.")
        return value

    return check


def output_file_option(default: Any, *flags: str, help: str, example: str | None = None, own: tuple[str, ...] = ()) -> Any:
    """An option naming a file to write; a directory there is a usage error. ``example`` is the
    file name suggested inside that directory (default ``COMMAND.json``); ``own``: the files (patterns
    relative to an input directory) this option writes by default and may replace on a re-run
    (:class:`~sftwise.cli.paths.OutputSpec`)."""
    return typer.Option(default, *flags, help=help, callback=_output_file(example, own))


def output_dir_option(default: Any, *flags: str, help: str, writes: tuple[str, ...] = ()) -> Any:
    """An option naming a directory to write into; an existing file there is a usage error.
    ``writes``: what the command writes inside it (patterns), so that no input there is overwritten."""
    return typer.Option(default, *flags, help=help, callback=_output_dir(writes))


def output_file_argument(help: str, example: str, own: tuple[str, ...] = ()) -> Any:
    """A positional argument naming a file to write, checked as :func:`output_file_option` is."""
    return typer.Argument(..., help=help, callback=_output_file(example, own))


def json_option(help: str = "also write the result as JSON here", own: tuple[str, ...] = ()) -> Any:
    """``--json PATH``: the command's result as JSON, in every command that has one. Inside an input
    directory it may replace ``COMMAND.json`` (the name suggested for it) and ``own``, no other file."""
    return output_file_option(None, "--json", help=help, own=("{command}.json", *own))


# ---- inputs and randomness ---------------------------------------------------------------------


def seed_option(help: str = "seed of every random choice; the same seed gives the same result") -> Any:
    """``--seed N``, 0 unless given, in every command that makes a random choice."""
    return typer.Option(0, "--seed", min=0, help=help)  # numpy's generators refuse a negative seed


def map_option(help: str = MAP_HELP) -> Any:
    """``--map OLD=NEW`` (repeatable); parse it with :func:`parse_field_map`."""
    return typer.Option([], "--map", help=help)


def parse_field_map(items: list[str]) -> dict[str, str] | None:
    """``["question=prompt", ...]`` -> ``{"question": "prompt", ...}`` (None when no --map is given)."""
    mapping = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise SftwiseError(f"--map {item!r}: expected OLD=NEW, e.g. --map question=prompt.")
        mapping[old] = new
    return mapping or None
