"""Commands of this stage; see sftwise.cli.__init__ for the order."""

from __future__ import annotations

from sftwise.cli.app import app  # noqa: F401
