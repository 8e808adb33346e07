"""Inject known duplicates into real data, to measure dedup precision and recall.

Kinds of copies (each of a random original record):

* ``exact``      the same text;
* ``ws_case``    whitespace and letter-case variants (doubled spaces, tabs, newlines, upper/lower);
* ``edit5`` / ``edit10`` / ``edit20``  word-level edits at 5, 10, 20 % of the words (replace with a
                 word from the corpus, delete, or insert), at least one edit;
* ``shuffle``    the sentences in a random order.

:func:`inject` returns the new list of texts and the truth: for every injected copy its index, the
index of its original and its kind. :func:`inject_leakage` copies training texts into an evaluation
set the same way. :func:`synthetic_corpus` builds many distinct documents from sentences of real
ones (for speed benchmarks beyond the size of the real data).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

KINDS = ("exact", "ws_case", "edit5", "edit10", "edit20", "shuffle")
NEAR_KINDS = ("ws_case", "edit5", "edit10", "edit20", "shuffle")
_SENT = re.compile(r"(?<=[.!?])\s+")


@dataclass
class Injected:
    index: int  # position of the copy in the returned list
    original: int  # position of its original
    kind: str


def _ws_case(text: str, rng: random.Random) -> str:
    out = []
    for word in text.split(" "):
        r = rng.random()
        if r < 0.15:
            word = word.upper()
        elif r < 0.3:
            word = word.lower()
        elif r < 0.4:
            word = word.capitalize()
        out.append(word)
    joined = ""
    for i, word in enumerate(out):
        joined += word if i == 0 else rng.choice([" ", " ", " ", "  ", "\t", "\n"]) + word
    return "  " + joined + " \n" if rng.random() < 0.5 else joined


def _edit(text: str, rate: float, rng: random.Random, vocab: Sequence[str]) -> str:
    words = text.split(" ")
    edits = max(1, round(len(words) * rate))
    for _ in range(edits):
        op = rng.random()
        i = rng.randrange(len(words))
        if op < 0.5 or len(words) < 3:
            words[i] = rng.choice(vocab)
        elif op < 0.75:
            del words[i]
        else:
            words.insert(i, rng.choice(vocab))
    return " ".join(words)


def _shuffle(text: str, rng: random.Random) -> str:
    sentences = _SENT.split(text.strip())
    if len(sentences) < 2:
        return text
    original = list(sentences)
    for _ in range(5):
        rng.shuffle(sentences)
        if sentences != original:
            break
    return " ".join(sentences)


def make_copy(text: str, kind: str, rng: random.Random, vocab: Sequence[str]) -> str:
    if kind == "exact":
        return text
    if kind == "ws_case":
        return _ws_case(text, rng)
    if kind.startswith("edit"):
        return _edit(text, int(kind[4:]) / 100, rng, vocab)
    if kind == "shuffle":
        return _shuffle(text, rng)
    raise ValueError(f"unknown kind {kind!r}")


def _vocab(texts: Sequence[str], rng: random.Random) -> list[str]:
    sample = rng.sample(list(texts), min(len(texts), 2000))
    return [w for t in sample for w in t.split()] or ["x"]


def inject(texts: Sequence[str], n_copies: int, seed: int = 0, kinds: Sequence[str] = KINDS) -> tuple[list[str], list[Injected]]:
    """``texts`` plus ``n_copies`` copies (kinds in rotation) inserted at random positions."""
    rng = random.Random(seed)
    vocab = _vocab(texts, rng)
    originals = [rng.randrange(len(texts)) for _ in range(n_copies)]
    copies = [(o, kinds[k % len(kinds)], make_copy(texts[o], kinds[k % len(kinds)], rng, vocab)) for k, o in enumerate(originals)]
    # positions: append the copies, then shuffle everything, remembering where each item went
    items = [("orig", i, None, t) for i, t in enumerate(texts)] + [("copy", o, kind, t) for o, kind, t in copies]
    order = list(range(len(items)))
    rng.shuffle(order)
    out_texts, where_orig, truth_raw = [], {}, []
    for pos, k in enumerate(order):
        tag, o, kind, t = items[k]
        out_texts.append(t)
        if tag == "orig":
            where_orig[o] = pos
        else:
            truth_raw.append((pos, o, kind))
    truth = [Injected(pos, where_orig[o], kind) for pos, o, kind in truth_raw]
    return out_texts, truth


def inject_leakage(train: Sequence[str], evaluation: Sequence[str], n_leaks: int, seed: int = 0,
                   kinds: Sequence[str] = KINDS) -> tuple[list[str], list[Injected]]:
    """``evaluation`` plus ``n_leaks`` copies of training texts; ``Injected.original`` indexes ``train``."""
    rng = random.Random(seed + 1)
    vocab = _vocab(train, rng)
    out = list(evaluation)
    truth = []
    for k in range(n_leaks):
        o = rng.randrange(len(train))
        kind = kinds[k % len(kinds)]
        truth.append(Injected(len(out), o, kind))
        out.append(make_copy(train[o], kind, rng, vocab))
    return out, truth


def synthetic_corpus(texts: Sequence[str], n: int, seed: int = 0, sentences_per_doc: tuple[int, int] = (3, 6)) -> list[str]:
    """``n`` distinct documents, each a random mix of sentences from ``texts`` (a sentence soup)."""
    rng = random.Random(seed)
    pool = [s for t in texts for s in _SENT.split(t.strip()) if len(s) > 15]
    lo, hi = sentences_per_doc
    return [" ".join(rng.choice(pool) for _ in range(rng.randint(lo, hi))) for _ in range(n)]
