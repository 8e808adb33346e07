"""The canonical data model every stage of sftwise works on.

A fine-tuning example, whatever file format it came from, becomes a :class:`Conversation`: an
optional system instruction and a list of turns, each with the role ``user`` or ``model`` (Gemini's
spelling, since Gemini JSONL is our canonical file format) and a list of parts. Every record keeps
where it came from (:class:`Source`) so that a finding, a duplicate or a leaked example can always be
pointed at as ``file:line``.

These are plain slotted dataclasses rather than pydantic models on purpose: an audit of a million
examples builds millions of them, and validation happens in the format readers, which report
problems as findings instead of raising.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

USER = "user"
MODEL = "model"
ROLES = (USER, MODEL)


@dataclass(slots=True)
class FunctionCall:
    """A model turn's request to call a tool (Gemini ``functionCall``, OpenAI ``tool_calls[i]``).

    ``args`` is the decoded object; ``arguments_text`` keeps OpenAI's JSON string as written, so a
    messages file converted back is byte-for-byte what it was. ``id`` is OpenAI's call id (Gemini's
    optional ``functionCall.id``), which pairs the call with its :class:`FunctionResponse`.
    """

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    arguments_text: str | None = None


@dataclass(slots=True)
class FunctionResponse:
    """A tool's result, given back to the model (Gemini ``functionResponse``, an OpenAI ``tool`` message).

    Gemini holds an object; OpenAI a string. ``response`` is the object (a string result is held as
    ``{"content": text}``) and ``content_text`` keeps OpenAI's string as written.
    """

    name: str
    response: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    content_text: str | None = None


@dataclass(slots=True)
class Part:
    """One part of a turn: text, a reference to a file (image, audio, PDF) by URI, or a tool call / result."""

    text: str | None = None
    file_uri: str | None = None
    mime_type: str | None = None
    function_call: FunctionCall | None = None
    function_response: FunctionResponse | None = None

    @property
    def is_text(self) -> bool:
        return self.text is not None

    @property
    def is_tool(self) -> bool:
        return self.function_call is not None or self.function_response is not None

    def rendered(self) -> str | None:
        """The part as text: its text, a tool call or result as compact JSON, ``None`` for a file.

        Token counts, duplicates and lengths see tool traffic through this, since it is what the
        model reads and writes.
        """
        if self.text is not None:
            return self.text
        if self.function_call is not None:
            return orjson.dumps({"name": self.function_call.name, "args": self.function_call.args}).decode()
        if self.function_response is not None:
            return orjson.dumps({"name": self.function_response.name, "response": self.function_response.response}).decode()
        return None


@dataclass(slots=True)
class Turn:
    """One turn. ``index`` is its position in the source list (``contents[i]``, ``messages[i]``), so a
    finding points at the message the user wrote even when system or tool messages were folded in;
    ``weight`` (OpenAI's 0/1 per assistant message) and ``name`` are kept where the format has them."""

    role: str
    parts: list[Part]
    index: int | None = None
    weight: float | None = None
    name: str | None = None

    @property
    def text(self) -> str:
        """The turn's text parts (and tool calls / results as JSON) joined by newlines; file parts are skipped."""
        parts = self.parts
        if len(parts) == 1 and parts[0].text is not None:
            return parts[0].text
        return "\n".join(t for t in (p.rendered() for p in parts) if t is not None)

    @classmethod
    def of(cls, role: str, text: str) -> Turn:
        return cls(role=role, parts=[Part(text=text)])


@dataclass(slots=True)
class Conversation:
    """A system instruction (optional) and the turns of one example.

    ``meta`` holds fields the source format carried beside the conversation (an id, a label, a
    stratification key) so that they survive a conversion and can be used by ``split --stratify``.
    ``tools`` are the function declarations the example offers the model (``name``, ``description``,
    ``parameters`` as JSON Schema with lower-case types). ``skipped`` are the source indices of turns
    the reader could not read (already reported): dropped, or kept with their unreadable parts left
    out, so that shape checks do not report the gap or the empty turn a second time.
    """

    turns: list[Turn]
    system: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None
    skipped: tuple[int, ...] = ()

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[str, str]], system: str | None = None) -> Conversation:
        """Build from ``[(role, text), ...]``; handy in tests and in the sample generator."""
        return cls(turns=[Turn.of(r, t) for r, t in pairs], system=system)

    @property
    def prompt_turns(self) -> list[Turn]:
        """Every turn before the final model turn: what the model is given at serving time."""
        if self.turns and self.turns[-1].role == MODEL:
            return self.turns[:-1]
        return list(self.turns)

    @property
    def target(self) -> str | None:
        """The text of the final model turn (the label), or None if the example has none."""
        if self.turns and self.turns[-1].role == MODEL:
            return self.turns[-1].text
        return None

    @property
    def last_user_text(self) -> str:
        for turn in reversed(self.turns):
            if turn.role == USER:
                return turn.text
        return ""

    def input_text(self, system: bool = True) -> str:
        """System instruction and all prompt turns as one string (for dedup, skew and lengths)."""
        chunks = [self.system] if self.system and system else []
        chunks.extend(t.text for t in self.prompt_turns)
        return "\n".join(chunks)

    def output_text(self) -> str:
        """Every model turn's text: what the loss is computed on in SFT."""
        return "\n".join(t.text for t in self.turns if t.role == MODEL)

    def full_text(self, system: bool = True) -> str:
        chunks = [self.system] if self.system and system else []
        chunks.extend(t.text for t in self.turns)
        return "\n".join(chunks)

    def to_messages(self) -> list[dict[str, str]]:
        """OpenAI / Hugging Face chat messages (``assistant`` for ``model``), for chat templates."""
        messages: list[dict[str, str]] = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        for turn in self.turns:
            messages.append({"role": "assistant" if turn.role == MODEL else "user", "content": turn.text})
        return messages


@dataclass(slots=True, frozen=True)
class Source:
    """Where a record came from: the file and the 1-based line (row for CSV/Parquet, item for JSON)."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(slots=True)
class Record:
    conversation: Conversation
    source: Source


@dataclass
class Dataset:
    """The records read from one file, in file order, with the format they were read as."""

    records: list[Record] = field(default_factory=list)
    path: str | None = None
    format: str | None = None

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __getitem__(self, index: int) -> Record:
        return self.records[index]

    @property
    def conversations(self) -> list[Conversation]:
        return [r.conversation for r in self.records]

    @classmethod
    def from_conversations(cls, conversations: Sequence[Conversation], path: str = "<memory>") -> Dataset:
        return cls(
            records=[Record(c, Source(path, i + 1)) for i, c in enumerate(conversations)],
            path=path,
        )
