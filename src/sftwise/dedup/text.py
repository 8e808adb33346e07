"""Which text of an example is compared, and how it is normalised before comparison.

Every dedup method works on one string per record. ``field`` chooses it: ``full`` (system
instruction and every turn), ``input`` (what the model is given: system + prompt turns) or
``output`` (the model turns, i.e. the label). :class:`Normalization` makes the comparison blind to
differences a user does not care about; each step can be switched off.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from sftwise.conversation import Conversation
from sftwise.io import SftwiseError

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


def text_of(conversation: Conversation, field: str = "full") -> str:
    if field == "input":
        return conversation.input_text()
    if field == "output":
        return conversation.output_text()
    return conversation.full_text()


def texts_of(conversations: Sequence[Conversation], field: str = "full") -> list[str]:
    check_field(field)
    return [text_of(c, field) for c in conversations]
