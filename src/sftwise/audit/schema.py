"""SW120-SW129: the shape of each conversation, whatever format it was read from.

The format readers already reported what only the raw JSON shows (invalid JSON, unknown fields,
wrong roles: SW100-SW118); these checks look at the canonical conversation: empty turns, roles that do
not alternate, no model turn to learn from, a conversation that does not end with the model, tool
calls and results in the wrong turn or without their counterpart.

Findings speak the file's own language: ``messages[3]`` and "assistant" in a messages file (the
turn's source index, so folded system and tool messages do not shift it), ``contents[3]`` and "model"
in a Gemini file. A turn the reader skipped as malformed (``Conversation.skipped``) is not reported
a second time as a gap in the roles.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from sftwise.audit.base import AuditContext, split_check
from sftwise.conversation import MODEL, Conversation, Dataset, Turn
from sftwise.findings import Finding, emit


class _Words(NamedTuple):
    """How a format names its turn list, its model role and where its system instruction lives."""

    turns: str
    model: str
    user: str
    system: str


_WORDS = {
    "messages": _Words("messages", "assistant", "user", "the system message"),
    "sharegpt": _Words("conversations", "gpt", "human", "the system message"),
    "prompt_completion": _Words("prompt", "assistant", "user", "system"),
}
_GEMINI = _Words("contents", "model", "user", "systemInstruction")


def _at(words: _Words, turn: Turn, position: int) -> str:
    return f"{words.turns}[{turn.index if turn.index is not None else position}]"


def _role(words: _Words, role: str) -> str:
    return words.model if role == MODEL else words.user


def _skipped_between(c: Conversation, low: int | None, high: int | None) -> bool:
    """Whether the reader skipped a malformed turn between source indices ``low`` and ``high``."""
    if not c.skipped:
        return False
    lo = -1 if low is None else low
    hi = 1 << 62 if high is None else high
    return any(lo < s < hi for s in c.skipped)


@split_check
def check_schema(split: str, dataset: Dataset, ctx: AuditContext) -> Iterator[Finding]:
    words = _WORDS.get(dataset.format or "", _GEMINI)
    for record in dataset.records:
        c = record.conversation
        turns = c.turns
        file, line = record.source.path, record.source.line
        if not turns:
            if not c.skipped:
                yield emit("SW126", "the example has no turns.", "Add a user turn and a model turn, or delete the line.", file, line, field=words.turns)
            continue
        if c.system is not None and (not c.system or c.system.isspace()):
            yield emit("SW121", "the system instruction is empty.", f"Fill it in or remove {words.system}.", file, line, field=words.system if words is _GEMINI else None)
        prev: Turn | None = None
        has_model = False
        for i, turn in enumerate(turns):
            role = turn.role
            if role == MODEL:
                has_model = True
            if prev is not None and role == prev.role and not _skipped_between(c, prev.index, turn.index):
                yield emit("SW122", f"{_at(words, prev, i - 1)} and {_at(words, turn, i)} are both {_role(words, role)!r}.",
                           "Merge them into one turn, or add the missing turn in between.", file, line, field=f"{_at(words, turn, i)}.role")
            prev = turn
            parts = turn.parts
            if len(parts) == 1 and parts[0].text and not parts[0].text.isspace():
                continue  # the common case, checked without building the joined text
            if not any(p.file_uri or p.is_tool or (p.text and not p.text.isspace()) for p in parts) and turn.index not in c.skipped:
                what = "has no parts" if not parts else "has only empty text"
                fix = "Write the model's answer, or drop the example." if role == MODEL else "Write the prompt, or drop the example."
                yield emit("SW120", f"the {_role(words, role)} turn {what}.", fix, file, line, field=f"{_at(words, turn, i)}.parts" if words is _GEMINI else f"{_at(words, turn, i)}.content")
            yield from _tool_parts(c, words, i, turn, file, line)
        if not has_model:
            if not c.skipped or set(c.skipped) <= {t.index for t in turns}:  # no turn was dropped (that may have been the model's)
                yield emit("SW123", f"the example has no {words.model} turn, so nothing to learn from.", f"Add the expected answer as a final {words.model} turn.", file, line, field=words.turns)
        elif turns[-1].role != MODEL and not _skipped_between(c, turns[-1].index, None):
            yield emit("SW124", f"the last turn is {_role(words, turns[-1].role)!r}, not {words.model!r}.", f"End the example with the {words.model}'s answer, or drop the trailing turn.",
                       file, line, field=_at(words, turns[-1], len(turns) - 1))
        if turns[0].role == MODEL and not _skipped_between(c, None, turns[0].index):
            yield emit("SW125", f"the first turn is {'an' if words.model[0] in 'aeiou' else 'a'} {words.model} turn.", "Start with a user turn; move a fixed greeting into the system instruction.",
                       file, line, field=_at(words, turns[0], 0))


def _tool_parts(c: Conversation, words: _Words, i: int, turn: Turn, file: str, line: int) -> Iterator[Finding]:
    """SW127: a call outside a model turn, a result in one, a result that answers no earlier call."""
    for j, p in enumerate(turn.parts):
        where = f"{_at(words, turn, i)}.parts[{j}]" if words is _GEMINI else _at(words, turn, i)
        if p.function_call is not None and turn.role != MODEL:
            yield emit("SW127", f"a call of {p.function_call.name!r} in a {_role(words, turn.role)} turn; only the {words.model} calls tools.",
                       f"Move the call into a {words.model} turn.", file, line, field=where)
        resp = p.function_response
        if resp is None:
            continue
        if turn.role == MODEL:
            yield emit("SW127", f"a result of {resp.name or 'a tool'!r} in a {words.model} turn; results come back in a {'tool' if words is not _GEMINI else 'user'} turn.",
                       f"Move the result into its own {'tool message' if words is not _GEMINI else 'user turn'} after the call.", file, line, field=where)
        elif (resp.name or resp.id) and not _answers_a_call(c, i, resp.name, resp.id):  # neither: the reader reported the result
            what = f"tool_call_id {resp.id!r}" if resp.id else f"function {resp.name!r}"
            yield emit("SW127", f"a tool result for {what}, which no earlier {words.model} turn called.",
                       "Give each result the id (messages) or name (Gemini) of a call made before it, or add the call.", file, line, field=where)


def _answers_a_call(c: Conversation, before: int, name: str, call_id: str | None) -> bool:
    for turn in c.turns[:before]:
        for p in turn.parts:
            call = p.function_call
            if call is not None and (call.id == call_id if call_id and call.id else call.name == name):
                return True
    return False
