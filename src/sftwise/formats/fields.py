"""The findings every format reader writes about a single field: a wrong type, a missing field.

Shared by :mod:`sftwise.formats.records` and :mod:`sftwise.formats.tools` so that a wrong type reads
the same ("messages[2].content is a number, expected a string.") whichever reader found it.
"""

from __future__ import annotations

from typing import Any

from sftwise.findings import Finding, emit

Out = list[Finding]


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def wrong_type(out: Out, file: str, line: int, field: str, value: Any, expected: str, hint: str = "") -> None:
    out.append(emit("SW104", f"{field} is {type_name(value)}, expected {expected}.", hint or f"Write {field} as {expected}.", file, line, field=field))


def missing(out: Out, file: str, line: int, field: str, what: str, hint: str = "") -> None:
    out.append(emit("SW103", f"missing {what}.", hint or f"Add {field}, or drop the example.", file, line, field=field))
