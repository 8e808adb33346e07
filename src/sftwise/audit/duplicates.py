"""SW400-SW409: exact duplicates, a first pass (near duplicates and n-gram leakage live in ``sftwise.hygiene``).

Examples are compared by hashes of their input text (system instruction + prompt turns) and output
text (model turns), computed once in the split profile, so a million examples take a sort, not a
dictionary of strings.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sftwise.audit.base import AuditContext, SplitProfile, cross_split_check, listed, split_check
from sftwise.conversation import Dataset
from sftwise.findings import Finding


def _example_keys(prof: SplitProfile) -> np.ndarray:
    return prof.input_hash * np.int64(1_000_003) ^ prof.output_hash


@split_check
def check_duplicates(split: str, dataset: Dataset, ctx: AuditContext) -> Iterator[Finding]:
    prof = ctx.profiles.get(split)
    if prof is None or len(prof) < 2:
        return
    file = dataset.path
    with np.errstate(over="ignore"):
        keys = _example_keys(prof)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    boundary = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    if not boundary.all():
        run_start = np.maximum.accumulate(np.where(boundary, np.arange(len(keys)), 0))
        dup_pos = np.flatnonzero(~boundary)
        pairs = sorted(zip(prof.lines[order[dup_pos]].tolist(), prof.lines[order[run_start[dup_pos]]].tolist(), strict=True))
        yield from listed("SW401", ((line, f"duplicate of line {first}.") for line, first in pairs), file,
                          "Remove the repeated example (sftwise dedup).", ctx.max_listed, lambda n: f"{n} more exact duplicates.")
    # conflicting outputs: same input hash, several output hashes
    order = np.lexsort((prof.output_hash, prof.input_hash))
    ins, outs = prof.input_hash[order], prof.output_hash[order]
    boundary = np.r_[True, ins[1:] != ins[:-1]]
    group = np.cumsum(boundary) - 1
    new_output = np.r_[True, (ins[1:] != ins[:-1]) | (outs[1:] != outs[:-1])]
    distinct = np.bincount(group, weights=new_output)
    conflicted = np.flatnonzero(distinct[group] > 1)
    if len(conflicted):
        lines = prof.lines[order]
        first = np.full(len(distinct), np.iinfo(np.int64).max)
        np.minimum.at(first, group, lines)
        items = sorted(zip(lines[conflicted].tolist(), first[group[conflicted]].tolist(), strict=True))
        yield from listed("SW402", ((line, f"same input as line {first}, with a different output.") for line, first in items if line != first),
                          file, "Decide which output is right and remove or fix the other.", ctx.max_listed,
                          lambda n: f"{n} more examples whose input has conflicting outputs.")


@cross_split_check
def check_split_overlap(splits: dict[str, Dataset], ctx: AuditContext) -> Iterator[Finding]:
    for earlier, later in (("train", "validation"), ("train", "test"), ("validation", "test")):
        a, b = ctx.profiles.get(earlier), ctx.profiles.get(later)
        if a is None or b is None or not len(a) or not len(b):
            continue
        hits = np.flatnonzero(np.isin(b.input_hash, a.input_hash))
        if not len(hits):
            continue
        order = np.argsort(a.input_hash, kind="stable")
        where = a.lines[order[np.searchsorted(a.input_hash[order], b.input_hash[hits])]]
        yield from listed("SW403", ((b.lines[k], f"the same input is in {earlier} (line {w}).") for k, w in zip(hits, where, strict=True)),
                          splits[later].path, f"Remove it from {later} (or from {earlier}); re-split with sftwise split to be sure.", ctx.max_listed,
                          lambda n, e=earlier: f"{n} more {later} inputs also in {e}.")
