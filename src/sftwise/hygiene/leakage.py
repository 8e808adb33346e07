"""Leakage between splits: validation/test records that are exact or near duplicates of training records.

A leaked evaluation example measures memory, not skill, and inflates every metric. The comparison
is on the *input* by default (system instruction + prompt turns): a test question present in the
training data leaks even when the two answers are worded differently. Exact matches use the
normalised text; near matches use MinHash + LSH with every candidate verified by exact Jaccard
(the same defaults as ``sftwise dedup``). A record that leaks exactly is not reported again as near.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field

from sftwise.conversation import Dataset
from sftwise.hygiene.minhash import MinHashConfig
from sftwise.hygiene.text import Normalization, check_field, shared_systems, texts_of


class LeakedRecord(BaseModel):
    split: str
    file: str | None
    line: int
    train_file: str | None
    train_line: int
    kind: str  # exact | near
    similarity: float


class LeakageReport(BaseModel):
    field: str
    settings: str
    counts: dict[str, dict[str, int]] = Field(default_factory=dict)  # split -> records / exact / near
    leaked: list[LeakedRecord] = Field(default_factory=list)


def leakage(
    train: Dataset,
    others: Mapping[str, Dataset],
    *,
    field: str = "input",
    normalization: Normalization | None = None,
    minhash: MinHashConfig | None = None,
    near: bool = True,
) -> LeakageReport:
    """Every record of ``others`` (split name -> dataset) that duplicates a training record."""
    from sftwise.hygiene.exact import cross_exact
    from sftwise.hygiene.minhash import cross_near_duplicates

    check_field(field)
    norm = normalization or Normalization()
    cfg = minhash or MinHashConfig()
    drop = shared_systems(*(d.conversations for d in (train, *others.values())))
    train_texts = [norm.apply(t) for t in texts_of(train.conversations, field, drop)]
    report = LeakageReport(field=field, settings=f"{norm.signature()}|{cfg.signature() if near else 'exact only'}")
    for split, data in others.items():
        texts = [norm.apply(t) for t in texts_of(data.conversations, field, drop)]
        exact = {i: j for i, j in cross_exact(texts, train_texts) if texts[i]}
        found: list[LeakedRecord] = []
        for i, j in sorted(exact.items()):
            found.append(_leak(split, data, i, train, j, "exact", 1.0))
        n_near = 0
        if near:
            rest = [i for i in range(len(texts)) if i not in exact and texts[i]]
            corpus_ids = [j for j in range(len(train_texts)) if train_texts[j]]
            pairs = cross_near_duplicates([texts[i] for i in rest], [train_texts[j] for j in corpus_ids], cfg)
            best: dict[int, tuple[int, float]] = {}
            for qi, cj, sim in pairs:
                i, j = rest[qi], corpus_ids[cj]
                if i not in best or sim > best[i][1]:
                    best[i] = (j, sim)
            for i, (j, sim) in sorted(best.items()):
                found.append(_leak(split, data, i, train, j, "near", sim))
            n_near = len(best)
        report.counts[split] = {"records": len(texts), "exact": len(exact), "near": n_near}
        report.leaked.extend(found)
    return report


def _leak(split: str, data: Dataset, i: int, train: Dataset, j: int, kind: str, sim: float) -> LeakedRecord:
    src, tsrc = data.records[i].source, train.records[j].source
    return LeakedRecord(split=split, file=src.path, line=src.line, train_file=tsrc.path, train_line=tsrc.line, kind=kind, similarity=sim)
