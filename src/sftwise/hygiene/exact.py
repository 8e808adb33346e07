"""Exact duplicates: records whose normalised text is identical (a 128-bit digest per record)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def exact_groups(texts: Sequence[str]) -> list[list[int]]:
    """Groups (size >= 2) of indices whose texts are identical, in order of first appearance."""
    seen: dict[bytes, list[int]] = {}
    for i, text in enumerate(texts):
        seen.setdefault(digest(text), []).append(i)
    return [g for g in seen.values() if len(g) > 1]


def cross_exact(queries: Sequence[str], corpus: Sequence[str]) -> list[tuple[int, int]]:
    """``(query_index, first corpus_index)`` for every query whose text occurs in the corpus."""
    index: dict[bytes, int] = {}
    for j, text in enumerate(corpus):
        index.setdefault(digest(text), j)
    out = []
    for i, text in enumerate(queries):
        j = index.get(digest(text))
        if j is not None:
            out.append((i, j))
    return out
