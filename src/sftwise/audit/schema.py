"""SW120-SW129: the shape of each conversation, whatever format it was read from.

The format readers already reported what only the raw JSON shows (invalid JSON, unknown fields,
wrong roles: SW100-SW118); these checks look at the canonical conversation: empty turns, roles that do
not alternate, no model turn to learn from, a conversation that does not end with the model.
"""

from __future__ import annotations

from collections.abc import Iterator

from sftwise.audit.base import AuditContext, split_check
from sftwise.conversation import MODEL, Dataset
from sftwise.findings import Finding, emit


@split_check
def check_schema(split: str, dataset: Dataset, ctx: AuditContext) -> Iterator[Finding]:
    for record in dataset.records:
        c = record.conversation
        turns = c.turns
        file, line = record.source.path, record.source.line
        if not turns:
            yield emit("SW126", "the example has no turns.", "Add a user turn and a model turn, or delete the line.", file, line, field="contents")
            continue
        if c.system is not None and (not c.system or c.system.isspace()):
            yield emit("SW121", "the system instruction is empty.", "Fill it in or remove systemInstruction.", file, line, field="systemInstruction")
        prev = None
        has_model = False
        for i, turn in enumerate(turns):
            role = turn.role
            if role == MODEL:
                has_model = True
            if role == prev:
                yield emit("SW122", f"turns {i - 1} and {i} are both {role!r}.", "Merge them into one turn, or add the missing turn in between.", file, line, field=f"contents[{i}].role")
            prev = role
            parts = turn.parts
            if len(parts) == 1 and parts[0].text and not parts[0].text.isspace():
                continue  # the common case, checked without building the joined text
            if not any(p.file_uri or (p.text and not p.text.isspace()) for p in parts):
                what = "has no parts" if not parts else "has only empty text"
                fix = "Write the model's answer, or drop the example." if role == MODEL else "Write the prompt, or drop the example."
                yield emit("SW120", f"the {role} turn {what}.", fix, file, line, field=f"contents[{i}].parts")
        if not has_model:
            yield emit("SW123", "the example has no model turn, so nothing to learn from.", "Add the expected answer as a final model turn.", file, line, field="contents")
        elif turns[-1].role != MODEL:
            yield emit("SW124", f"the last turn is {turns[-1].role!r}, not 'model'.", "End the example with the model's answer, or drop the trailing turn.", file, line, field=f"contents[{len(turns) - 1}]")
        if turns[0].role == MODEL:
            yield emit("SW125", "the first turn is a model turn.", "Start with a user turn; move a fixed greeting into the system instruction.", file, line, field="contents[0]")
