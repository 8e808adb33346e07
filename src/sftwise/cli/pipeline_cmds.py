"""Commands of the whole job: run, demo, report (and version)."""

from __future__ import annotations

import typer

from sftwise.cli.app import app


@app.command()
def version() -> None:
    """Print the sftwise version."""
    from sftwise import __version__

    typer.echo(__version__)
