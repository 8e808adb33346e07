"""The HTML report of a run directory."""

from sftwise.report.html import build_report

__all__ = ["build_report"]
