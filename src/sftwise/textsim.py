"""Exact text similarity: shingle sets and their Jaccard similarity, in pure Python.

One definition for every place that asks "are these two texts near duplicates?": the exact check of
MinHash candidate pairs (``hygiene.minhash``, which only *estimates* this Jaccard), the leakage guard
of hard-example mining (``evaluate.hard_examples``) and the generator of the bundled sample
(``demo.sample``), which keeps its splits free of the leakage ``sftwise audit`` looks for. It sits in
the ground layer, with no dependency, so that the demo below hygiene can use it too.

* Character shingles need no word boundaries, so CJK text without spaces is shingled like any other;
  in word mode every CJK character is a word of its own.
* A text shorter than ``ngram`` is one shingle; the empty text has none, and two empty texts are
  identical (Jaccard 1).
"""

from __future__ import annotations

import re
from typing import Literal

Unit = Literal["char", "word"]

_CJK = "\u2e80-\u2fff\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f"
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+", re.UNICODE)


def normalize(text: str) -> str:
    """Lower case with runs of whitespace as one space: the form in which two prompts count as "equal"."""
    return " ".join(text.lower().split())


def words(text: str) -> list[str]:
    """Word tokens; each CJK character is a word of its own (CJK is written without spaces)."""
    return _WORD.findall(text)


def shingle_set(text: str, unit: Unit = "char", ngram: int = 5) -> set:
    """The exact set of character (``str``) or word (``tuple``) ``ngram``-grams of ``text``, as it is."""
    if unit == "char":
        if not text:
            return set()
        if len(text) < ngram:
            return {text}
        return {text[i : i + ngram] for i in range(len(text) - ngram + 1)}
    w = words(text)
    if not w:
        return set()
    if len(w) < ngram:
        return {tuple(w)}
    return {tuple(w[i : i + ngram]) for i in range(len(w) - ngram + 1)}


def jaccard(a: set, b: set) -> float:
    """``|a & b| / |a | b|``; 1.0 for two empty sets."""
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)
