"""SW650: what OpenAI chat fine-tuning would reject, for ``sftwise audit --target openai:MODEL``.

The per-example token limit of the target (:data:`sftwise.audit.targets.OPENAI_LIMITS`) is checked by
:mod:`sftwise.audit.lengths` (SW201, naming the source); this module checks the layout the service parses:
a file in another layout (Gemini ``contents``, CSV...) is one error that names ``sftwise convert``, and a
key the service does not know at the top of a line or inside a message is an error (the cookbook's
``message_unrecognized_key``: the upload is rejected), where without a target it is only SW102's warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sftwise.audit.base import AuditContext, cross_split_check
from sftwise.audit.targets import FORMATS_REFERENCE, openai_model
from sftwise.conversation import Dataset
from sftwise.findings import Finding, emit
from sftwise.gemini.limits import iter_raw

#: keys of an OpenAI chat fine-tuning line and of one message (formats-2026.md, cookbook checks and tool calls)
LINE_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call", "refusal"})


@cross_split_check
def check_openai_target(splits: Mapping[str, Dataset], ctx: AuditContext) -> list[Finding]:
    """SW650 findings on train and validation when the audit's ``target`` is ``openai:MODEL``."""
    if not ctx.target or openai_model(ctx.target) is None:
        return []
    out: list[Finding] = []
    for split in ("train", "validation"):
        dataset = splits.get(split)
        if dataset is None:
            continue
        path = dataset.path or "<memory>"
        if dataset.format != "messages":
            first = dataset.records[0].source.line if dataset.records else None
            out.append(emit("SW650", f"{split}: the file is in the {dataset.format} layout; OpenAI fine-tuning of {ctx.target} reads the messages layout "
                                     f"({FORMATS_REFERENCE}) and would reject it.",
                            f"Write the messages file with: sftwise convert {path} -o OUT.jsonl --to messages", path, first))
        elif dataset.path and dataset.path.endswith(".jsonl"):
            out.extend(f for ex in iter_raw(dataset.path) for f in _check_line(ex.obj, ex.file, ex.line, ctx.target))
    return out


def _check_line(obj: Any, file: str, line: int, target: str) -> list[Finding]:
    """Unknown keys of one raw line and of its messages (other defects are the reader's SW1xx findings)."""
    if not isinstance(obj, dict):
        return []
    out = [emit("SW650", f"unknown top-level key {key!r}; {target} fine-tuning rejects it.",
                f"A line holds {', '.join(sorted(LINE_KEYS))}; move ids and labels to a separate file.", file, line, field=key)
           for key in sorted(set(obj) - LINE_KEYS)]
    messages = obj.get("messages")
    for i, message in enumerate(messages if isinstance(messages, list) else ()):
        if not isinstance(message, dict):
            continue
        for key in sorted(set(message) - MESSAGE_KEYS):
            out.append(emit("SW650", f"unknown key {key!r} in a message; {target} fine-tuning rejects it (message_unrecognized_key).",
                            f"A message holds {', '.join(sorted(MESSAGE_KEYS))}.", file, line, field=f"messages[{i}].{key}"))
    return out
