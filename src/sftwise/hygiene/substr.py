"""ExactSubstr: substrings repeated across the dataset, found with a suffix array (Lee et al. 2021).

Every text unit (each turn's text part; the system instruction only when asked, since one system
prompt shared by every example is normal) is encoded as UTF-8 and laid end to end with a ``0xFF``
separator (a byte UTF-8 never uses). pydivsufsort builds the suffix array and the LCP array in C;
two suffixes adjacent in the array whose common prefix, clipped at the separator, is at least
``min_bytes`` long mark a repeated substring at both places. Covered byte ranges are merged into
spans, moved to character boundaries and reported per unit. ``min_tokens`` converts to bytes at
Lee et al.'s 2 bytes per token (50 tokens = 100 bytes).

Cutting keeps the first occurrence (in file order) of each repeated span's text and removes the
later ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sftwise.errors import SftwiseError

BYTES_PER_TOKEN = 2
_SEP = 0xFF


@dataclass
class Span:
    unit: int  # index into the units given
    start: int  # character offsets in the unit's text
    end: int
    text: str
    occurrences: int = 0  # spans with the same text in the whole corpus
    first: bool = False  # the first occurrence of this text (kept when cutting)


def repeated_spans(texts: Sequence[str], min_tokens: int = 50, min_bytes: int | None = None) -> list[Span]:
    """Spans of ``texts`` that occur at least twice in the corpus, at least ``min_bytes`` long."""
    from pydivsufsort import divsufsort, kasai

    length = min_bytes if min_bytes is not None else min_tokens * BYTES_PER_TOKEN
    if length < 1:
        raise SftwiseError(f"min_tokens/min_bytes must be positive; got {length}.")
    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    if sum(len(e) for e in encoded) < 2 * length:
        return []
    blob = np.frombuffer(bytes([_SEP]).join(encoded) + bytes([_SEP]), dtype=np.uint8).copy()
    sa = divsufsort(blob)  # int32 below 2 GB: no 64-bit copies of the two big arrays
    lcp = kasai(blob, sa)
    seps = np.flatnonzero(blob == _SEP)
    hits = np.flatnonzero(lcp[:-1] >= length)
    if len(hits) == 0:
        return []
    a, b, common = sa[hits].astype(np.int64), sa[hits + 1].astype(np.int64), lcp[hits].astype(np.int64)
    next_a = seps[np.searchsorted(seps, a)]
    next_b = seps[np.searchsorted(seps, b)]
    clipped = np.minimum(common, np.minimum(next_a - a, next_b - b))
    keep = clipped >= length
    starts = np.concatenate([a[keep], b[keep]])
    ends = starts + np.concatenate([clipped[keep], clipped[keep]])
    diff = np.zeros(len(blob) + 1, dtype=np.int32)
    np.add.at(diff, starts, 1)
    np.add.at(diff, ends, -1)
    covered = np.cumsum(diff[:-1], dtype=np.int32) > 0
    del sa, lcp, diff
    edges = np.flatnonzero(np.diff(np.concatenate([[False], covered, [False]]).astype(np.int8)))
    run_starts, run_ends = edges[0::2], edges[1::2]
    unit_starts = np.concatenate([[0], seps[:-1] + 1])
    spans: list[Span] = []
    for s, e in zip(run_starts.tolist(), run_ends.tolist()):
        unit = int(np.searchsorted(unit_starts, s, side="right") - 1)
        raw = encoded[unit]
        bs, be = s - int(unit_starts[unit]), e - int(unit_starts[unit])
        while bs < be and (raw[bs] & 0xC0) == 0x80:  # move onto character boundaries
            bs += 1
        while be < len(raw) and (raw[be] & 0xC0) == 0x80:
            be -= 1
        if be - bs < length:
            continue
        cs = len(raw[:bs].decode("utf-8", "surrogatepass"))
        text = raw[bs:be].decode("utf-8", "surrogatepass")
        spans.append(Span(unit, cs, cs + len(text), text))
    counts: dict[str, int] = {}
    for span in spans:
        counts[span.text] = counts.get(span.text, 0) + 1
    seen: set[str] = set()
    for span in spans:
        span.occurrences = counts[span.text]
        span.first = span.text not in seen
        seen.add(span.text)
    return spans


def cut_spans(texts: Sequence[str], spans: Sequence[Span]) -> list[str]:
    """The texts with every non-first occurrence of a repeated span removed."""
    by_unit: dict[int, list[Span]] = {}
    for span in spans:
        if not span.first:
            by_unit.setdefault(span.unit, []).append(span)
    out = list(texts)
    for unit, items in by_unit.items():
        text = out[unit]
        for span in sorted(items, key=lambda s: s.start, reverse=True):
            text = text[: span.start] + text[span.end :]
        out[unit] = text
    return out
