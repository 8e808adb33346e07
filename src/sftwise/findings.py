"""Findings: what the audit and the other checks report, in the style of a linter.

Every finding has a stable code (``SW101``), a severity, a location (``train.jsonl:17:5
contents[2].role``), one sentence on what is wrong and one on how to fix it. Each code is described
once in :data:`RULES` so that ``sftwise explain SW101`` can show what it checks and why.

Code ranges (one per family, so a code says where it comes from):

========  ==============================================================
SW1xx     schema and encoding (format readers, ``audit/schema``)
SW2xx     lengths and truncation (``audit/lengths``)
SW3xx     dataset level: size, system instructions, templates, outliers
SW4xx     duplicates and leakage (``audit`` first pass, ``dedup``)
SW5xx     training-serving skew (``skew``)
SW6xx     Gemini / Vertex AI service limits (``audit --target gemini-*``)
SW8xx     human labels and judging (``label``, ``calibrate``)
========  ==============================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from pydantic import BaseModel


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


class Finding(BaseModel):
    code: str
    severity: Severity
    message: str
    hint: str = ""
    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None

    @property
    def location(self) -> str:
        """``file:line:col field`` with whatever parts are known."""
        loc = self.file or ""
        if self.line is not None:
            loc += f":{self.line}"
            if self.column is not None:
                loc += f":{self.column}"
        if self.field:
            loc = f"{loc} {self.field}" if loc else self.field
        return loc

    def __str__(self) -> str:
        text = f"{self.location}: {self.code} [{self.severity.value}] {self.message}"
        return f"{text} {self.hint}".rstrip() if self.hint else text


@dataclass(frozen=True, slots=True)
class Rule:
    """The documentation of one finding code, shown by ``sftwise explain``."""

    code: str
    name: str
    severity: Severity
    summary: str
    why: str
    example: str = ""


RULES: dict[str, Rule] = {}


def rule(code: str, name: str, severity: Severity, summary: str, why: str, example: str = "") -> Rule:
    """Register the documentation of a finding code; each check module calls this for its codes."""
    if code in RULES and RULES[code].name != name:
        raise ValueError(f"finding code {code} is registered twice ({RULES[code].name!r} and {name!r})")
    RULES[code] = Rule(code, name, severity, summary, why, example)
    return RULES[code]


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then by file, line and code, so the output reads top to bottom."""
    return sorted(
        findings,
        key=lambda f: (_SEVERITY_RANK[f.severity], f.file or "", f.line or 0, f.code),
    )


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
