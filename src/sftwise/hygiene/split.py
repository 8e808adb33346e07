"""Leakage-safe train / validation / test splits.

Random splitting leaks whenever the data holds duplicates: two copies of one example land on both
sides and the test metric measures memory. :func:`split_dataset` therefore

1. optionally removes exact and near duplicates first (``dedup=True``, the ``sftwise dedup``
   defaults on the whole conversation);
2. groups what is left by *input*: records whose prompts are exact or near duplicates (MinHash +
   LSH, verified Jaccard) form one group, and a group is never divided between splits;
3. shuffles the groups with ``seed`` and deals them out, largest deficit first, so each split gets
   close to its share; with ``stratify`` this happens inside each value of that ``meta`` field, so
   every split keeps the label mix;
4. checks the result with :func:`sftwise.hygiene.leakage.leakage` and records it in the summary.

The same data and seed give the same split on any machine (no Python ``hash``, no set order).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from sftwise.conversation import Dataset, Record
from sftwise.errors import ParameterError, SftwiseError

SPLITS = ("train", "validation", "test")


class SplitResult(BaseModel):
    input: str | None
    seed: int
    fractions: dict[str, float]
    counts: dict[str, int]
    files: dict[str, str] = Field(default_factory=dict)
    stratify: str | None = None
    strata: dict[str, dict[str, int]] = Field(default_factory=dict)  # split -> stratum -> count
    duplicates_removed: int = 0
    groups: int = 0
    groups_kept_together: int = 0  # groups of two or more records placed on one side
    largest_group: int = 0
    leakage_after: dict[str, dict[str, int]] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    settings: dict[str, str] = Field(default_factory=dict)


def _check_fractions(validation: float, test: float) -> None:
    for name, value in (("validation", validation), ("test", test)):
        if not 0 <= value < 1:
            raise ParameterError(name, f"must be a fraction in [0, 1); got {value}. Example: {name}=0.1")
    if validation + test >= 1:
        raise ParameterError("test", f"validation + test must leave something to train on; got {validation} + {test} = {validation + test}.")


def input_groups(dataset: Dataset, near: bool = True) -> list[list[int]]:
    """Indices grouped so that records with exact or near duplicate inputs share a group."""
    from sftwise.hygiene.exact import exact_groups
    from sftwise.hygiene.minhash import MinHashConfig, UnionFind, near_duplicates
    from sftwise.hygiene.text import Normalization, texts_of

    norm = Normalization()
    texts = [norm.apply(t) for t in texts_of([r.conversation for r in dataset.records], "input")]
    uf = UnionFind(len(texts))
    for group in exact_groups(texts):
        for i in group[1:]:
            uf.union(group[0], i)
    if near:
        ids = [i for i, t in enumerate(texts) if t]
        result = near_duplicates([texts[i] for i in ids], MinHashConfig())
        for a, b, _ in result.pairs:
            uf.union(ids[a], ids[b])
    roots: dict[int, list[int]] = {}
    for i in range(len(texts)):
        roots.setdefault(uf.find(i), []).append(i)
    return sorted(roots.values(), key=lambda g: g[0])


def _deal(groups: list[list[int]], fractions: dict[str, float], rng: np.random.Generator) -> dict[str, list[int]]:
    """Shuffle groups and give each to the split furthest below its target size."""
    order = rng.permutation(len(groups))
    total = sum(len(g) for g in groups)
    targets = {s: f * total for s, f in fractions.items()}
    got: dict[str, list[int]] = {s: [] for s in fractions}
    for k in order:
        group = groups[int(k)]
        # the split with the largest remaining deficit (relative to the group's size), ties in SPLITS order
        best = max(fractions, key=lambda s: (targets[s] - len(got[s]) - len(group) / 2, -SPLITS.index(s)))
        got[best].extend(group)
    return got


def split_dataset(
    data: str | os.PathLike[str] | Dataset,
    *,
    validation: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    dedup: bool = True,
    stratify: str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    format: str | None = None,
    field_map: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> SplitResult:
    """Split ``data`` into train/validation/test without letting duplicates straddle splits.

    With ``output_dir`` the splits are written there as ``train.jsonl``, ``validation.jsonl`` and
    ``test.jsonl`` (in ``format``, default the input's format), atomically.
    """
    say = progress or (lambda _m: None)
    _check_fractions(validation, test)
    if isinstance(data, Dataset):
        dataset = data
    else:
        from sftwise.formats import load

        dataset = load(data, field_map=field_map)
    if len(dataset) == 0:
        raise SftwiseError(f"{dataset.path or 'the dataset'} has no records; there is nothing to split.")
    fractions = {"train": 1 - validation - test, "validation": validation, "test": test}
    warnings: list[str] = []
    removed = 0
    if dedup:
        from sftwise.hygiene.core import DedupConfig
        from sftwise.hygiene.core import dedup as run_dedup

        say("removing exact and near duplicates")
        dataset, report = run_dedup(dataset, DedupConfig(methods=["exact", "near"]))
        removed = report.removed
    records = dataset.records
    say("grouping records with duplicate inputs")
    groups = input_groups(dataset)
    strata_of: list[str] = []
    if stratify:
        present = [stratify in r.conversation.meta for r in records]
        if not any(present):
            keys = sorted({k for r in records for k in r.conversation.meta})
            raise ParameterError(
                "stratify", f"{stratify!r}: no record has that field. Fields available in the records' meta: {', '.join(keys) or 'none'}."
            )
        missing = present.count(False)
        if missing:
            warnings.append(f"{missing} records have no {stratify!r} field; they form the stratum '<missing>'.")
        strata_of = [str(r.conversation.meta.get(stratify, "<missing>")) for r in records]
    rng = np.random.default_rng(seed)
    if stratify:
        by_stratum: dict[str, list[list[int]]] = {}
        for g in groups:
            label = Counter(strata_of[i] for i in g).most_common(1)[0][0]
            by_stratum.setdefault(label, []).append(g)
        assigned: dict[str, list[int]] = {s: [] for s in SPLITS}
        for label in sorted(by_stratum):
            part = _deal(by_stratum[label], fractions, rng)
            for s in SPLITS:
                assigned[s].extend(part[s])
    else:
        assigned = _deal(groups, fractions, rng)
    for s in SPLITS:
        assigned[s].sort()
    counts = {s: len(assigned[s]) for s in SPLITS}
    for s in ("validation", "test"):
        if fractions[s] > 0 and counts[s] == 0:
            warnings.append(f"{s} is empty: {len(records)} records (in {len(groups)} duplicate-free groups) are too few for a {fractions[s]:.0%} {s} split.")
    splits = {s: Dataset(records=[Record(records[i].conversation, records[i].source) for i in assigned[s]], path=dataset.path, format=dataset.format) for s in SPLITS}
    say("checking the splits for leakage")
    from sftwise.hygiene.leakage import leakage

    others = {s: splits[s] for s in ("validation", "test") if len(splits[s])}
    leak = leakage(splits["train"], others) if len(splits["train"]) and others else None
    leakage_after = {s: {"exact": c["exact"], "near": c["near"]} for s, c in (leak.counts.items() if leak else [])}
    result = SplitResult(
        input=dataset.path, seed=seed, fractions=fractions, counts=counts, stratify=stratify,
        duplicates_removed=removed, groups=len(groups), groups_kept_together=sum(1 for g in groups if len(g) > 1),
        largest_group=max(len(g) for g in groups), leakage_after=leakage_after, warnings=warnings,
        settings={"grouping": "input: exact + minhash char5 t=0.5", "dedup": "exact+near on full text" if dedup else "off"},
    )
    if stratify:
        result.strata = {s: dict(sorted(Counter(strata_of[i] for i in assigned[s]).items())) for s in SPLITS}
    if output_dir is not None:
        from sftwise.formats import write

        out = Path(output_dir)
        fmt = format or dataset.format or "gemini"
        for s in SPLITS:
            target = out / f"{s}.jsonl"
            if dataset.path:
                from sftwise.io import refuse_overwrite_input

                refuse_overwrite_input(target, dataset.path)
            write(splits[s].conversations, target, format=fmt)
            result.files[s] = str(target)
    return result
