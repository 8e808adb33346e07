"""The one check that no command writes over what it reads, run before every command's body.

Every output parameter is declared with :mod:`sftwise.cli.options` (``output_file_option``,
``output_dir_option``, ``output_file_argument``, ``json_option``); while the flags are parsed, their
callbacks tag the parameter with its :class:`OutputSpec`. Every other parameter whose value names an
existing file or directory (``Path`` options and arguments, and strings such as ``--model DIR``,
``--rubric FILE`` or ``--model hf:DIR``) is an input. :class:`SftwiseCommand` runs
:func:`check_outputs_against_inputs` after parsing and before the command body, for every command
of the app (``jobs`` included), so no command has to remember a call of its own.

The rules (each refusal is a :class:`~sftwise.errors.SftwiseError`: exit 2, one line naming the
flags, both paths and what to do instead):

1. an output file may not be an input file (symlinks resolved, hard links found with
   :func:`os.path.samefile`), nor another output of the same command;
2. an output file may not be an existing file inside an input directory (a run or results
   directory, a model directory), unless that file is one this very output writes there by default
   (``OutputSpec.own``: ``report RUN -o RUN/report.html``, ``diagnose RUN --json
   RUN/diagnosis.json``, ``label R --db R/labels.sqlite``, and for every ``--json`` the name
   ``COMMAND.json`` re-run fine). Everything else there (``metrics.jsonl``, ``pipeline_state.json``,
   ``train/config.json``, ``predictions.jsonl``, checkpoints, a user's own file) was written by
   another stage or by the user and is protected. New files are always fine; to replace a protected
   file, write the output elsewhere;
3. an output directory may not be an input directory (``judge R -o R``, ``train --model M
   --run-dir M``), and no input may sit inside an output directory where the command writes
   (``OutputSpec.writes``: ``eval -o D --predictions D/predictions.jsonl``).

Outputs a library function picks by default (``report RUN`` writing ``RUN/report.html``) are not
flags and are not checked here; the library guards (:func:`sftwise.io.refuse_overwrite_input`) keep
covering the Python API.

Only the standard library and typer are imported: this runs on every command line.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator
from typing import Any, Literal

from typer.core import TyperCommand

from sftwise.errors import SftwiseError

MARK = "sftwise_output"
"""Attribute set on a click parameter (by the options' callbacks) holding its :class:`OutputSpec`."""

TRAIN_DIR_WRITES = (
    "config.json", "metrics.jsonl", "checkpoints", "checkpoints/*", "tb", "tb/*", "data_report.json", "train_result.json",
    "fingerprint.json", "selection.json", "example_losses.json", "task_eval", "task_eval/*",
    "vertex", "vertex/*", "vertex_request.json", "vertex_job.json",
)
"""What ``sftwise train`` writes into ``--run-dir`` (local or Vertex): an input there would be overwritten."""

RUN_DIR_WRITES = (
    *TRAIN_DIR_WRITES, "train", "train/*", "eval", "eval/*", "cache", "cache/*", "data", "data/*", "demo-data", "demo-data/*",
    "tiny-model", "tiny-model/*", "audit.json", "split.json", "model.json", "recommendation.json", "diagnosis.json", "curves.png",
    "comparison.json", "report.html", "pipeline_state.json",
)
"""What ``sftwise run`` / ``demo`` write into a run directory (CONTRIBUTING: Run directory)."""

RESULTS_WRITES = ("predictions.jsonl", "summary.json")
"""What ``sftwise eval`` writes into its results directory."""


@dataclass(frozen=True)
class OutputSpec:
    """What an output parameter writes: a ``file`` or a ``dir``.

    ``own``: paths (fnmatch patterns, relative to an input directory; ``{command}`` stands for the
    command's name) of files this output writes by default and may therefore replace on a re-run even
    inside an input directory (rule 2).
    ``writes``: for a directory, the paths it writes inside it; an input there is refused (rule 3).
    """

    kind: Literal["file", "dir"]
    own: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()


class SftwiseCommand(TyperCommand):
    """Every sftwise command: refuses an output that would overwrite an input before the body runs."""

    def invoke(self, ctx: Any) -> Any:
        check_outputs_against_inputs(ctx)
        return super().invoke(ctx)


def mark_output(param: Any, spec: OutputSpec) -> None:
    """Tag a click parameter as an output (called by the callbacks of :mod:`sftwise.cli.options`)."""
    setattr(param, MARK, spec)


def check_outputs_against_inputs(ctx: Any) -> None:
    """Refuse (``SftwiseError``) when an output of the parsed command would overwrite an input; see the module doc."""
    outputs: list[tuple[str, Path, OutputSpec]] = []
    inputs: list[tuple[str, Path]] = []
    for param in ctx.command.params:
        spec = getattr(param, MARK, None)
        for value in _values(ctx.params.get(param.name)):
            if spec is not None:
                outputs.append((param_flag(param), Path(value), spec))
            else:
                existing = _existing_path(value)
                if existing is not None:
                    inputs.append((param_flag(param), existing))
    for i, (flag, out, spec) in enumerate(outputs):
        for in_flag, inp in inputs:
            _check(flag, out, spec, in_flag, inp, ctx.info_name or "")
        for other_flag, other, other_spec in outputs[i + 1:]:
            if spec.kind == other_spec.kind == "file" and _same(out, other):
                raise SftwiseError(f"{flag} {out} and {other_flag} {other} are the same file: one output would overwrite the other. Give them different paths.")


def _check(flag: str, out: Path, spec: OutputSpec, in_flag: str, inp: Path, command: str) -> None:
    fix = f"sftwise never overwrites input files: choose another path for {flag}."
    if spec.kind == "file":
        if _same(out, inp):
            raise SftwiseError(f"{flag} {out} is the input {in_flag} {inp}. {fix}")
        if inp.is_dir() and out.is_file():
            rel = _relative(out, inp)
            if rel is not None and not _matches(rel, tuple(p.replace("{command}", command) for p in spec.own)):
                raise SftwiseError(f"{flag} {out} would overwrite {rel}, an existing file inside the input directory {in_flag} {inp}. {fix}")
        return
    if inp.is_dir() and _same(out, inp):
        raise SftwiseError(f"{flag} {out} is the input directory {in_flag} {inp}: writing there would overwrite its files. {fix}")
    rel = _relative(inp, out)
    if rel is not None and _matches(rel, spec.writes):
        raise SftwiseError(f"{flag} {out} would overwrite the input {in_flag} {inp} ({flag} writes {rel} there). {fix}")


def _values(value: Any) -> Iterator[str]:
    """The path-like strings of a parameter value (lists, as ``compare A B``, give each item)."""
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _values(item)
    elif isinstance(value, (str, os.PathLike)) and str(value):
        yield os.fspath(value)


def _existing_path(value: str) -> Path | None:
    """``value`` as an existing path, also after a ``scheme:`` prefix (``hf:DIR``); else None."""
    for candidate in (value, value.partition(":")[2]):
        try:
            if candidate and os.path.exists(candidate):
                return Path(candidate)
        except (OSError, ValueError):  # a name too long or with a NUL byte is not a path of an input
            continue
    return None


def _same(a: Path, b: Path) -> bool:
    """The same file or directory: one inode when both exist (hard links, symlinks), else one resolved path."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _relative(inner: Path, outer: Path) -> str | None:
    """``inner`` relative to directory ``outer`` (posix, symlinks resolved) when strictly inside it, else None."""
    try:
        rel = inner.resolve().relative_to(outer.resolve())
    except (ValueError, OSError):
        return None
    return rel.as_posix() if rel.parts else None


def _matches(rel: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(rel, pattern) for pattern in patterns)


def param_flag(param: Any) -> str:
    """How the user wrote it: ``--json``, ``-o``, or ``RUN_DIR`` for a positional argument."""
    return param.opts[0] if param.param_type_name == "option" else str(param.name).upper()
