from __future__ import annotations

import random

import numpy as np
import pytest

from sftwise.hygiene.minhash import (
    MinHashConfig,
    band_keys,
    candidate_pairs,
    cross_near_duplicates,
    estimate_jaccard,
    jaccard,
    near_duplicates,
    optimal_bands,
    shingle_set,
    signatures,
    words,
)
from sftwise.hygiene.text import Normalization


def _edited(text: str, rate: float, rng: random.Random) -> str:
    w = text.split()
    for _ in range(max(1, int(len(w) * rate))):
        w[rng.randrange(len(w))] = rng.choice(["apple", "zebra", "ninety", "quickly", "blue"])
    return " ".join(w)


def test_lsh_params_match_datasketch_rule():
    assert optimal_bands(0.8, 128) == (9, 13)
    assert optimal_bands(0.7, 128) == (14, 9)
    assert MinHashConfig().lsh_params() == (32, 4)
    assert MinHashConfig(bands=16, rows=8).lsh_params() == (16, 8)


def test_estimates_agree_with_exact_jaccard_and_datasketch(gsm8k_questions):
    datasketch = pytest.importorskip("datasketch")
    rng = random.Random(0)
    norm = Normalization()
    ours, exact, theirs = [], [], []
    for q in gsm8k_questions[:150]:
        a, b = norm.apply(q), norm.apply(_edited(q, rng.choice([0.05, 0.1, 0.2, 0.4]), rng))
        sig = signatures([a, b], MinHashConfig(num_perm=256))
        ours.append(estimate_jaccard(sig[0], sig[1]))
        sa, sb = shingle_set(a), shingle_set(b)
        exact.append(jaccard(sa, sb))
        ma, mb = datasketch.MinHash(num_perm=256), datasketch.MinHash(num_perm=256)
        ma.update_batch([s.encode() for s in sa])
        mb.update_batch([s.encode() for s in sb])
        theirs.append(ma.jaccard(mb))
    ours, exact, theirs = map(np.array, (ours, exact, theirs))
    # unbiased: mean error within a few standard errors; spread like a 256-permutation MinHash
    assert abs(np.mean(ours - exact)) < 0.01
    assert np.std(ours - exact) < 0.05
    assert abs(np.mean(ours - theirs)) < 0.015
    assert abs(np.std(ours - exact) - np.std(theirs - exact)) < 0.02


def test_near_duplicates_found_and_verified(gsm8k_questions):
    rng = random.Random(1)
    base = [Normalization().apply(q) for q in gsm8k_questions[:800]]
    copies = [Normalization().apply(_edited(gsm8k_questions[i], 0.1, rng)) for i in range(50)]
    result = near_duplicates(base + copies)
    found = {(a, b) for a, b, _ in result.pairs}
    hits = sum((i, 800 + i) in found for i in range(50))
    assert hits >= 48
    for a, b, s in result.pairs:
        assert s >= 0.5
        assert abs(jaccard(shingle_set((base + copies)[a]), shingle_set((base + copies)[b])) - s) < 1e-3


def test_sharding_gives_the_same_signatures():
    texts = [f"example number {i} with some words {i * 7}" for i in range(100)]
    cfg = MinHashConfig()
    whole = signatures(texts, cfg)
    parts = np.concatenate([signatures(texts[:37], cfg), signatures(texts[37:], cfg)])
    assert np.array_equal(whole, parts)
    bands, rows = cfg.lsh_params()
    assert band_keys(whole, bands, rows).shape == (100, bands)


def test_edge_texts_do_not_crash():
    texts = ["", "a", "a", "b", "ab", "日本語のテキストです", "日本語のテキストでした", "x" * 1_000_000]
    result = near_duplicates(texts)
    pairs = {(a, b) for a, b, _ in result.pairs}
    assert (1, 2) in pairs  # one-character identical texts
    assert (0, 1) not in pairs  # the empty text matches nothing
    assert len(signatures([], MinHashConfig())) == 0
    assert candidate_pairs(np.zeros((0, 4), dtype=np.uint64)).shape == (0, 2)


def test_cjk_is_shingled_by_characters():
    assert words("我喜欢机器学习 and tea") == ["我", "喜", "欢", "机", "器", "学", "习", "and", "tea"]
    a = "今天天气很好我们去公园散步吧然后一起吃午饭"
    b = "今天天气很好我们去公园散步吧然后一起吃晚饭"
    assert jaccard(shingle_set(a), shingle_set(b)) > 0.7
    assert cross_near_duplicates([b], ["完全不同的句子没有关系", a])[0][:2] == (0, 1)
    word_cfg = MinHashConfig(unit="word", ngram=3)
    assert near_duplicates([a, b], word_cfg).pairs


def test_estimate_filter_drops_far_pairs_and_keeps_pairs_at_the_threshold():
    from sftwise.hygiene.minhash import estimate_filter, sketch

    rng = random.Random(3)
    base = [" ".join(rng.choice("abcdefghij") * rng.randint(1, 6) for _ in range(60)) for _ in range(40)]
    texts = base + [_edited(t, 0.15, rng) for t in base]  # copies: Jaccard well above 0.5
    cfg = MinHashConfig()
    sk = sketch(signatures(texts, cfg))
    n = len(base)
    near = np.array([[i, i + n] for i in range(n)])
    far = np.array([[i, (i + 1) % n] for i in range(n)])
    exact_near = [jaccard(shingle_set(texts[a]), shingle_set(texts[b])) for a, b in near]
    assert min(exact_near) >= cfg.threshold
    assert len(estimate_filter(near, sk, sk, cfg.threshold)) == n  # nothing at or above the threshold is lost
    exact_far = [jaccard(shingle_set(texts[a]), shingle_set(texts[b])) for a, b in far]
    kept_far = estimate_filter(far, sk, sk, cfg.threshold)
    assert max(exact_far) < 0.3 and len(kept_far) < n // 4  # far pairs are dropped before verification


def test_verification_in_small_batches_equals_one_batch(monkeypatch, gsm8k_questions):
    import sftwise.hygiene.minhash as mh

    rng = random.Random(5)
    qs = [Normalization().apply(q) for q in gsm8k_questions[:300]]
    texts = qs + [_edited(q, 0.1, rng) for q in qs[:100]]
    whole = mh.near_duplicates(texts, MinHashConfig())
    monkeypatch.setattr(mh, "VERIFY_CHARS_PER_BATCH", 2_000)  # dozens of batches
    assert len(mh._pair_chunks(np.array([[i, i + 300] for i in range(100)]), texts, texts)) > 10
    batched = mh.near_duplicates(texts, MinHashConfig())
    assert batched.pairs == whole.pairs and len(whole.pairs) >= 100
