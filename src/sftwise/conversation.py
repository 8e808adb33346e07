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

USER = "user"
MODEL = "model"
ROLES = (USER, MODEL)


@dataclass(slots=True)
class Part:
    """One part of a turn: text, or a reference to a file (image, audio, PDF) by URI."""

    text: str | None = None
    file_uri: str | None = None
    mime_type: str | None = None

    @property
    def is_text(self) -> bool:
        return self.text is not None


@dataclass(slots=True)
class Turn:
    role: str
    parts: list[Part]

    @property
    def text(self) -> str:
        """The turn's text parts joined by newlines (file parts are skipped)."""
        return "\n".join(p.text for p in self.parts if p.text is not None)

    @classmethod
    def of(cls, role: str, text: str) -> Turn:
        return cls(role=role, parts=[Part(text=text)])


@dataclass(slots=True)
class Conversation:
    """A system instruction (optional) and the turns of one example.

    ``meta`` holds fields the source format carried beside the conversation (an id, a label, a
    stratification key) so that they survive a conversion and can be used by ``split --stratify``.
    """

    turns: list[Turn]
    system: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

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
