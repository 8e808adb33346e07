"""What every audit check shares: the context it runs in, the per-split profile, and the check registry.

A check is a plain function. Two kinds exist:

* a **split check** ``fn(split: str, dataset: Dataset, ctx: AuditContext) -> Iterable[Finding]`` runs
  once per split (train, validation, test);
* a **cross-split check** ``fn(splits: dict[str, Dataset], ctx: AuditContext) -> Iterable[Finding]``
  runs once with all splits (leakage, template drift, service limits).

A module in ``sftwise/audit/`` registers its checks with the :func:`split_check` and
:func:`cross_split_check` decorators; :func:`sftwise.audit.audit` imports every module of the package,
so adding a file is enough. ``ctx`` carries the options (``model``, ``max_tokens``, ``target``) and
the profile of each split (token counts and text hashes per example, computed once), so a check never
re-tokenises or re-hashes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sftwise.conversation import MODEL, USER, Dataset
from sftwise.findings import Finding, emit
from sftwise.tokens import TokenCounter, estimate_tokens

if TYPE_CHECKING:
    from sftwise.audit.targets import TokenLimit

SplitCheck = Callable[[str, Dataset, "AuditContext"], Iterable[Finding]]
CrossSplitCheck = Callable[[dict[str, Dataset], "AuditContext"], Iterable[Finding]]

SPLIT_CHECKS: list[SplitCheck] = []
CROSS_SPLIT_CHECKS: list[CrossSplitCheck] = []

MAX_LISTED = 50  # per code and file: locations listed one by one before a summary finding


def split_check(fn: SplitCheck) -> SplitCheck:
    """Register ``fn`` to run once per split."""
    if fn not in SPLIT_CHECKS:
        SPLIT_CHECKS.append(fn)
    return fn


def cross_split_check(fn: CrossSplitCheck) -> CrossSplitCheck:
    """Register ``fn`` to run once with every split (``{"train": ds, "validation": ds, ...}``)."""
    if fn not in CROSS_SPLIT_CHECKS:
        CROSS_SPLIT_CHECKS.append(fn)
    return fn


@dataclass
class SplitProfile:
    """Per-example numbers of one split, aligned with ``dataset.records``.

    ``input_*`` covers the system instruction and every turn before the final model turn (what the
    model is given), ``output_*`` every model turn (what the loss is on), ``total_tokens`` the whole
    example. Hashes are Python ``hash()`` of the texts: equal within one process only.
    """

    input_tokens: np.ndarray
    output_tokens: np.ndarray
    total_tokens: np.ndarray
    characters: np.ndarray
    messages: np.ndarray
    input_hash: np.ndarray
    output_hash: np.ndarray
    lines: np.ndarray

    def __len__(self) -> int:
        return len(self.lines)


def profile(dataset: Dataset, counter: TokenCounter) -> SplitProfile:
    """One pass over a split: token counts, characters, message counts and text hashes per example."""
    n = len(dataset.records)
    in_hash = np.empty(n, dtype=np.int64)
    out_hash = np.empty(n, dtype=np.int64)
    lines = np.empty(n, dtype=np.int64)
    chars: list[int] = []
    messages: list[int] = []
    in_tok: list[int] = []
    out_tok: list[int] = []
    total: list[int] = []
    estimate = counter.estimated
    in_texts: list[str] = []
    out_texts: list[str] = []
    full_texts: dict[int, str] = {}
    for k, record in enumerate(dataset.records):
        c = record.conversation
        turns = c.turns
        i, o = c.input_text(), c.output_text()
        in_hash[k] = hash(i)
        out_hash[k] = hash(o)
        lines[k] = record.source.line
        simple = len(turns) == 2 and turns[1].role == MODEL and turns[0].role == USER
        chars.append(len(i) + len(o) - (1 if c.system else 0) if simple else (len(c.system) if c.system else 0) + sum(len(t.text) for t in turns))
        messages.append(len(turns) + (1 if c.system else 0))
        if estimate:
            a, b = estimate_tokens(i), estimate_tokens(o)
            in_tok.append(a)
            out_tok.append(b)
            total.append(a + b if simple else estimate_tokens(c.full_text()))
        else:
            in_texts.append(i)
            out_texts.append(o)
            if not simple:
                full_texts[k] = c.full_text()
    if not estimate:
        in_tok = counter.count_many(in_texts)
        out_tok = counter.count_many(out_texts)
        total = [a + b for a, b in zip(in_tok, out_tok, strict=True)]
        if full_texts:
            for k, t in zip(full_texts, counter.count_many(list(full_texts.values())), strict=True):
                total[k] = t
    return SplitProfile(
        input_tokens=np.asarray(in_tok, dtype=np.int64),
        output_tokens=np.asarray(out_tok, dtype=np.int64),
        total_tokens=np.asarray(total, dtype=np.int64),
        characters=np.asarray(chars, dtype=np.int64),
        messages=np.asarray(messages, dtype=np.int64),
        input_hash=in_hash,
        output_hash=out_hash,
        lines=lines,
    )


@dataclass
class AuditContext:
    """Options and shared per-split data handed to every check."""

    model: str | None = None
    max_tokens: int | None = None  # the effective per-example limit (token_limit.value)
    target: str | None = None  # e.g. "gemini-2.5-flash" for the service-limit checks
    counter: TokenCounter = field(default_factory=TokenCounter)
    profiles: dict[str, SplitProfile] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    max_listed: int = MAX_LISTED
    token_limit: TokenLimit | None = None  # the limit with how it was chosen and its source (audit.targets)


def listed(code: str, items: Iterable[tuple[int, str]], file: str | None, hint: str, max_listed: int,
           summary: Callable[[int], str], field: str | None = None) -> Iterator[Finding]:
    """One finding per ``(line, message)`` up to ``max_listed``, then one summary finding for the rest."""
    extra = 0
    for n, (line, message) in enumerate(items):
        if max_listed and n >= max_listed:
            extra += 1
            continue
        yield emit(code, message, hint, file, int(line), field=field)
    if extra:
        yield emit(code, summary(extra), hint, file)
