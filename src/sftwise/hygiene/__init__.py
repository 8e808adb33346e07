"""Duplicates and leakage: exact, near (MinHash + LSH), repeated substrings, semantic clusters.

Public API::

    dedup(dataset, DedupConfig(...)) -> (Dataset, DedupReport)        # sftwise dedup
    leakage(train, {"test": ds}, field="input") -> LeakageReport        # sftwise audit --test
    near_duplicates(texts, MinHashConfig(...)) -> NearDuplicates        # pairs + clusters
    cross_near_duplicates(queries, corpus, MinHashConfig(...))          # (query, corpus, jaccard)
    signatures(texts, cfg), band_keys(sig, bands, rows), candidate_pairs(keys)   # sharded stages
    repeated_spans(texts, min_tokens=50), cut_spans(texts, spans)       # ExactSubstr
    semantic_clusters(texts, threshold=0.95, model=None)                # embeddings + clustering
"""

from __future__ import annotations

from sftwise.hygiene.core import METHODS, DedupConfig, DedupReport, dedup
from sftwise.hygiene.exact import cross_exact, exact_groups
from sftwise.hygiene.leakage import LeakageReport, leakage
from sftwise.hygiene.minhash import (
    MinHashConfig,
    NearDuplicates,
    band_keys,
    candidate_pairs,
    cross_near_duplicates,
    estimate_jaccard,
    jaccard,
    near_duplicates,
    optimal_bands,
    shingle_set,
    signatures,
)
from sftwise.hygiene.substr import cut_spans, repeated_spans
from sftwise.hygiene.text import Normalization

__all__ = [
    "METHODS", "DedupConfig", "DedupReport", "LeakageReport", "MinHashConfig", "NearDuplicates", "Normalization",
    "band_keys", "candidate_pairs", "cross_exact", "cross_near_duplicates", "cut_spans", "dedup", "estimate_jaccard",
    "exact_groups", "jaccard", "leakage", "near_duplicates", "optimal_bands", "repeated_spans", "shingle_set", "signatures",
]


def semantic_clusters(*args, **kwargs):  # noqa: ANN002, ANN003 - sklearn is imported only when asked
    from sftwise.hygiene.semantic import semantic_clusters as impl

    return impl(*args, **kwargs)
