"""Which text of an example is compared, and how it is normalised before comparison.

Every dedup method works on one string per record. ``field`` chooses it: ``full`` (system
instruction and every turn), ``input`` (what the model is given: system + prompt turns) or
``output`` (the model turns, i.e. the label). A system instruction that more than one record
carries is left out of the compared text (:func:`shared_systems`). :class:`Normalization` makes the comparison blind to
differences a user does not care about; each step can be switched off.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Container, Iterable, Sequence
from typing import Literal

from pydantic import BaseModel

from sftwise.conversation import Conversation
from sftwise.errors import SftwiseError

Field = Literal["full", "input", "output"]
FIELDS: tuple[str, ...] = ("full", "input", "output")

_WS = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


class Normalization(BaseModel):
    """Normalisation applied before exact comparison and shingling (each step switchable)."""

    unicode: bool = True  # NFKC: full-width forms, ligatures, compatibility characters
    case: bool = True  # casefold
    whitespace: bool = True  # collapse runs of whitespace to one space, strip the ends
    punctuation: bool = False  # drop punctuation (off by default: "3+4" and "3-4" differ)

    def apply(self, text: str) -> str:
        if self.unicode:
            text = unicodedata.normalize("NFKC", text)
        if self.case:
            text = text.casefold()
        if self.punctuation:
            text = _PUNCT.sub(" " if self.whitespace else "", text)
        if self.whitespace:
            text = _WS.sub(" ", text).strip()
        return text

    def signature(self) -> str:
        on = [name for name in ("unicode", "case", "whitespace", "punctuation") if getattr(self, name)]
        return "+".join(on) or "none"


def check_field(field: str) -> str:
    if field not in FIELDS:
        raise SftwiseError(f"field must be one of {', '.join(FIELDS)}; got {field!r}.")
    return field


def shared_systems(*groups: Iterable[Conversation]) -> frozenset[str]:
    """System instructions carried by more than one record across ``groups``.

    A system instruction shared by many examples is a template, not content: left in the compared
    text, a 250-character instruction in front of a 60-character ticket makes every pair of tickets
    look like near duplicates. A system instruction unique to its record (one that holds the
    document to summarise, say) is content and stays in.
    """
    counts = Counter(c.system for group in groups for c in group if c.system)
    return frozenset(s for s, n in counts.items() if n > 1)


def text_of(conversation: Conversation, field: str = "full", drop_systems: Container[str] = frozenset()) -> str:
    """The text compared for ``field``; a system instruction in ``drop_systems`` is left out."""
    keep_system = conversation.system not in drop_systems
    if field == "input":
        return conversation.input_text(system=keep_system)
    if field == "output":
        return conversation.output_text()
    return conversation.full_text(system=keep_system)


def texts_of(conversations: Sequence[Conversation], field: str = "full", drop_systems: Container[str] | None = None) -> list[str]:
    """The compared texts of ``conversations``, shared system instructions left out (those shared
    within ``conversations``, or ``drop_systems`` when a comparison spans several datasets)."""
    check_field(field)
    drop = shared_systems(conversations) if drop_systems is None else drop_systems
    return [text_of(c, field, drop) for c in conversations]
