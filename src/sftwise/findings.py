"""Findings: what the audit and the other checks report, in the style of a linter.

Every finding has a stable code (``SW101``), a severity, a location (``train.jsonl:17:5
contents[2].role``), one sentence on what is wrong and one on how to fix it. The codes are declared
once, as data, in :mod:`sftwise.codes`; :data:`RULES` is that table keyed by code, so that ``sftwise
explain SW101`` can show what a code checks and why, and :func:`emit` is the one way to make a
finding, with the severity the table gives its code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from pydantic import BaseModel

from sftwise.codes import CODES


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


def _catalogue() -> dict[str, Rule]:
    """:data:`sftwise.codes.CODES` keyed by code; a code declared twice is a bug caught at import."""
    rules: dict[str, Rule] = {}
    for code, name, severity, summary, why, example in CODES:
        if code in rules:
            raise ValueError(f"finding code {code} is declared twice in sftwise.codes ({rules[code].name!r} and {name!r})")
        rules[code] = Rule(code, name, Severity(severity), summary, why, example)
    return rules


RULES: dict[str, Rule] = _catalogue()


def emit(
    code: str,
    message: str,
    hint: str = "",
    file: str | None = None,
    line: int | None = None,
    column: int | None = None,
    field: str | None = None,
) -> Finding:
    """A :class:`Finding` for a catalogued code, with the catalogue's severity, so a code can never be
    reported with two different severities (a code missing from :mod:`sftwise.codes` is a KeyError)."""
    return Finding(
        code=code, severity=RULES[code].severity, message=message, hint=hint, file=file, line=line, column=column, field=field
    )


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then by file, line and code, so the output reads top to bottom."""
    return sorted(
        findings,
        key=lambda f: (_SEVERITY_RANK[f.severity], f.file or "", f.line or 0, f.code),
    )


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
