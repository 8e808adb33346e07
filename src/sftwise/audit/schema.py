"""SW120-SW129: the shape of each conversation, whatever format it was read from.

The format readers already reported what only the raw JSON shows (invalid JSON, unknown fields,
wrong roles: SW100-SW118); these checks look at the canonical conversation: empty turns, roles that do
not alternate, no model turn to learn from, a conversation that does not end with the model.
"""

from __future__ import annotations

from collections.abc import Iterator

from sftwise.audit.base import AuditContext, split_check
from sftwise.conversation import MODEL, Dataset
from sftwise.findings import Finding, rule
from sftwise.formats.rules import E, W, emit

rule("SW120", "empty-turn", E, "A turn with no parts, or whose parts are all empty or whitespace.",
     "An empty model turn trains the model to answer with nothing; an empty user turn is a prompt with no content. Vertex rejects empty text parts.",
     '{"role": "model", "parts": [{"text": ""}]}')
rule("SW121", "empty-system-instruction", W, "A system instruction that is present but empty.",
     "Usually a template placeholder that was never filled in.", '{"systemInstruction": {"parts": [{"text": ""}]}, ...}')
rule("SW122", "roles-not-alternating", E, "Two consecutive turns with the same role (user, user or model, model).",
     "Gemini tuning rejects consecutive same-role turns, and chat templates render them in ways the model never sees at serving time. Merge the two turns.",
     "contents: user, user, model")
rule("SW123", "no-model-turn", E, "A conversation without any model turn.",
     "Supervised fine-tuning learns only from model turns; this example contributes no training signal (TRL drops such examples silently).")
rule("SW124", "not-ending-with-model", W, "A conversation whose last turn is not a model turn.",
     "The trailing user turn is never learned from; usually the answer was lost when the file was made. (No service document requires it, hence a warning.)",
     "contents: user, model, user")
rule("SW125", "starts-with-model", W, "A conversation whose first turn is a model turn.",
     "Gemini expects contents to start with a user turn; a leading model turn is usually a greeting that belongs in the system instruction.")
rule("SW126", "no-turns", E, "A record with an empty list of turns.", "There is nothing to train on.", '{"contents": []}')


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
