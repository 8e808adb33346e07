"""``sftwise`` command line: one subcommand per stage of the workflow (see DESIGN.md)."""

from __future__ import annotations

from sftwise.cli.app import app

# Each module registers its commands on ``app``; the order here is the order of ``sftwise --help``.
from sftwise.cli import pipeline_cmds as _pipeline  # noqa: E402,F401  run, demo, report
from sftwise.cli import data_cmds as _data  # noqa: E402,F401  audit, convert, explain
from sftwise.cli import inspect_cmds as _inspect  # noqa: E402,F401  inspect
from sftwise.cli import hygiene_cmds as _hygiene  # noqa: E402,F401  dedup, split, skew
from sftwise.cli import train_cmds as _train  # noqa: E402,F401  recommend, train, diagnose
from sftwise.cli import eval_cmds as _eval  # noqa: E402,F401  eval, compare, hard-examples
from sftwise.cli import judge_cmds as _judge  # noqa: E402,F401  judge, label, calibrate
from sftwise.cli import vertex_cmds as _vertex  # noqa: E402,F401  jobs


def main() -> None:
    app()


__all__ = ["app", "main"]
