"""Near duplicates: MinHash signatures, LSH banding, exact Jaccard verification, clusters.

How it works, and why it is fast in plain numpy:

1. **Shingles.** Character n-grams (default 5) of the normalised text, or word n-grams. Character
   shingles need no word boundaries, so CJK text without spaces is shingled like any other; in word
   mode CJK characters count as one word each. On short instruction data character 5-grams separate
   an edited copy from the nearest *other* example far better than the web-page default of word
   5-grams (see ``../shared/data/README.md``: a 5 % word edit keeps Jaccard 0.87 at p5 with char
   5-grams, 0.58 with word 5-grams; the most similar other GSM8K question reaches 0.24 at most).
   A text shorter than n is one shingle.
2. **Hashing.** The texts of a shard are laid end to end as one array of code points; every n-gram
   is hashed at once with a polynomial over the window and the splitmix64 finaliser (stable across
   runs and machines: no Python ``hash``).
3. **Signatures: one-permutation hashing with densification** (Li, Owen & Zhang 2012; Shrivastava
   & Li 2014). Instead of evaluating ``num_perm`` hash functions on every shingle (the classic
   scheme datasketch implements: work = shingles x permutations), each shingle is hashed once; the
   top bits choose one of ``num_perm`` bins and the low 32 bits are its value; a signature holds the
   minimum of each bin. Empty bins borrow from the nearest non-empty bin in a direction fixed per bin
   (plus the distance, so borrowed values never collide with real ones). The probability that two
   signatures agree in a bin is again the Jaccard similarity, so bands and thresholds mean what they
   mean for classic MinHash (``tests/hygiene`` checks the estimates against exact Jaccard and
   datasketch), at a cost linear in the number of shingles.
4. **LSH.** ``bands x rows = num_perm``; every band of ``rows`` values is hashed to one 64-bit key;
   records sharing a key in any band are candidates. Bands and rows default to the choice that
   minimises 0.1 x false positives + 0.9 x false negatives around the threshold (datasketch's rule
   with recall-heavy weights, since every candidate is verified anyway): 32 x 4 for 128
   permutations at 0.5, which catches a pair of Jaccard 0.55 with probability 0.95.
5. **Verification.** Candidates whose signature estimate lies four standard deviations below the
   threshold are dropped first (:func:`estimate_filter`: most LSH candidates are pairs of Jaccard
   ~0.3, and comparing two signatures costs ~50x less than an exact check). Every remaining
   candidate pair's *exact* Jaccard similarity of the shingle sets is computed (on 63-bit shingle
   fingerprints, vectorised over batches of pairs); only pairs at or above the threshold are reported. Within one bucket the pairs checked
   are each member against the first and against its predecessor (a bucket of k records costs 2k
   checks, not k^2); connected components of verified pairs are the duplicate clusters.

Sharding: :func:`signatures` and :func:`band_keys` work on one shard at a time and only the band
keys (``bands`` x 8 bytes per record) are kept, so memory grows with the number of records, not
with the text. ``docs/dedup-at-scale.md`` shows the same stages on Ray Data and Spark.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from sftwise.errors import SftwiseError
from sftwise.textsim import Unit, jaccard, shingle_set, words  # noqa: F401  the exact Jaccard, re-exported beside its estimate

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_POLY = np.uint64(0x100000001B3)  # FNV-64 prime as the polynomial base
_LOW32 = np.uint64(0xFFFFFFFF)
_EMPTY = np.uint64(1 << 63)  # marks an empty bin before densification


class MinHashConfig(BaseModel):
    """Parameters of the near-duplicate search; the defaults are measured on GSM8K (see module doc)."""

    unit: Unit = "char"
    ngram: int = Field(5, ge=1, le=64)
    num_perm: int = Field(128, ge=8, le=4096)
    threshold: float = Field(0.5, gt=0.0, le=1.0)
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)
    seed: int = 1

    def lsh_params(self) -> tuple[int, int]:
        if self.bands is None and self.rows is None:
            # every candidate is verified exactly, so a false positive only costs a check while a
            # false negative is a missed duplicate: weigh them 0.1 / 0.9 (datasketch's rule, skewed)
            return optimal_bands(self.threshold, self.num_perm, 0.1, 0.9)
        bands = self.bands or self.num_perm // (self.rows or 1)
        rows = self.rows or self.num_perm // bands
        if bands < 1 or rows < 1 or bands * rows > self.num_perm:
            raise SftwiseError(
                f"bands x rows must fit in num_perm: got bands={self.bands}, rows={self.rows}, num_perm={self.num_perm}."
                " Give bands and rows with bands*rows <= num_perm, or neither to choose them from the threshold."
            )
        return bands, rows

    def signature(self) -> str:
        bands, rows = self.lsh_params()
        return f"minhash:{self.unit}{self.ngram}-gram|perm={self.num_perm}|b={bands}xr={rows}|t={self.threshold}|seed={self.seed}"


# ---- LSH parameters ----------------------------------------------------------------------------


def _integrate(f: Callable[[np.ndarray], np.ndarray], a: float, b: float, steps: int = 200) -> float:
    if b <= a:
        return 0.0
    x = np.linspace(a, b, steps)
    return float(np.trapezoid(f(x), x))


@functools.lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """Bands and rows minimising weighted false-positive and false-negative areas (datasketch's rule)."""
    best, best_err = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = _integrate(lambda s: 1 - (1 - s**rows) ** bands, 0.0, threshold)
            fn = _integrate(lambda s: (1 - s**rows) ** bands, threshold, 1.0)
            err = fp_weight * fp + fn_weight * fn
            if err < best_err:
                best, best_err = (bands, rows), err
    return best


# ---- hashing -----------------------------------------------------------------------------------


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, vectorised (uint64 arithmetic wraps, as intended)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def _char_shingle_hashes(texts: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(doc index, 64-bit hash) of every character n-gram of every text, computed in one pass."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    pad = "\x00" * max(n - 1, 0)
    joined = pad.join(texts) + pad + "\x00"
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    offsets = np.zeros(len(texts), dtype=np.int64)
    if len(texts) > 1:
        offsets[1:] = np.cumsum(lengths[:-1] + (n - 1))
    counts = np.where(lengths >= n, lengths - n + 1, np.where(lengths > 0, 1, 0))
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    docs = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    starts = np.repeat(offsets - first, counts) + np.arange(total, dtype=np.int64)
    # the polynomial over every window of the whole array (contiguous slices), then the valid starts
    width = len(cps) - n + 1
    rolled = cps[:width].copy()
    for k in range(1, n):
        rolled *= _POLY
        rolled += cps[k : k + width]
    h = rolled[starts]
    return docs, splitmix64(h ^ np.uint64(n))


_word_cache: dict[str, int] = {}


def _word_hash(word: str) -> int:
    value = _word_cache.get(word)
    if value is None:
        import hashlib

        value = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
        if len(_word_cache) < 2_000_000:
            _word_cache[word] = value
    return value


def _word_shingle_hashes(texts: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    docs_out, hashes_out = [], []
    all_words: list[int] = []
    lengths = []
    for t in texts:
        w = words(t)
        lengths.append(len(w))
        all_words.extend(_word_hash(x) for x in w)
    lengths_a = np.asarray(lengths, dtype=np.int64)
    if not all_words:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    # lay the documents' word hashes end to end with n-1 zero pads, like the character path
    pads = max(n - 1, 0)
    wh = np.zeros(int(lengths_a.sum()) + pads * len(texts) + 1, dtype=np.uint64)
    offsets = np.zeros(len(texts), dtype=np.int64)
    if len(texts) > 1:
        offsets[1:] = np.cumsum(lengths_a[:-1] + pads)
    src = np.asarray(all_words, dtype=np.uint64)
    pos = np.repeat(offsets - (np.cumsum(lengths_a) - lengths_a), lengths_a) + np.arange(len(src))
    wh[pos] = src
    counts = np.where(lengths_a >= n, lengths_a - n + 1, np.where(lengths_a > 0, 1, 0))
    total = int(counts.sum())
    docs = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    starts = np.repeat(offsets - first, counts) + np.arange(total, dtype=np.int64)
    h = np.zeros(total, dtype=np.uint64)
    for k in range(n):
        h = splitmix64(h ^ wh[starts + k])
    docs_out.append(docs)
    hashes_out.append(h)
    return np.concatenate(docs_out), np.concatenate(hashes_out)


def shingle_hashes(texts: Sequence[str], unit: Unit = "char", ngram: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """``(doc_index, hash)`` arrays of every shingle of ``texts`` (duplicates within a text kept)."""
    if unit == "char":
        return _char_shingle_hashes(texts, ngram)
    if unit == "word":
        return _word_shingle_hashes(texts, ngram)
    raise SftwiseError(f"shingle unit must be 'char' or 'word'; got {unit!r}.")


# ---- signatures --------------------------------------------------------------------------------


def _salt(seed: int) -> np.uint64:
    return splitmix64(np.array([seed], dtype=np.uint64))[0]


def signatures(texts: Sequence[str], config: MinHashConfig | None = None) -> np.ndarray:
    """MinHash signatures (``len(texts) x num_perm`` uint64) by one-permutation hashing + densification.

    A text with no shingle (the empty string) gets a row of ``2**63``, which never matches anything
    in :func:`band_keys` (its keys are made unique per row).
    """
    cfg = config or MinHashConfig()
    n_docs, p = len(texts), cfg.num_perm
    sig = np.full(n_docs * p, _EMPTY, dtype=np.uint64)
    docs, h = shingle_hashes(texts, cfg.unit, cfg.ngram)
    if len(h):
        h = splitmix64(h ^ _salt(cfg.seed))
        bins = ((h >> np.uint64(32)) * np.uint64(p)) >> np.uint64(32)
        np.minimum.at(sig, docs * p + bins.astype(np.int64), h & _LOW32)
    sig = sig.reshape(n_docs, p)
    _densify(sig, cfg.seed)
    return sig


def _densify(sig: np.ndarray, seed: int) -> None:
    """Fill empty bins in place from the nearest non-empty bin (direction fixed per bin by the seed)."""
    if sig.size == 0:
        return
    n_docs, p = sig.shape
    empty = sig == _EMPTY
    rows = np.flatnonzero(empty.any(axis=1) & ~empty.all(axis=1))
    if len(rows) == 0:
        return
    rng = np.random.default_rng(seed)
    go_right = rng.random(p) < 0.5
    chunk = 65536
    for lo in range(0, len(rows), chunk):
        idx = rows[lo : lo + chunk]
        sub, e = sig[idx], empty[idx]
        full2 = np.concatenate([~e, ~e], axis=1)
        pos = np.arange(2 * p)
        # nearest non-empty at or to the right of each position (circular)
        right = np.where(full2, pos, 4 * p)
        right = np.minimum.accumulate(right[:, ::-1], axis=1)[:, ::-1][:, :p]
        # nearest non-empty at or to the left (positions p..2p-1 stand for 0..p-1)
        left = np.where(full2, pos, -1)
        left = np.maximum.accumulate(left, axis=1)[:, p:]
        j = np.arange(p)
        dist = np.where(go_right, right - j, (j + p) - left)
        donor = np.where(go_right, right, left) % p
        borrowed = np.take_along_axis(sub, donor, axis=1) + (dist.astype(np.uint64) << np.uint64(32))
        sig[idx] = np.where(e, borrowed, sub)


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Fraction of signature positions that agree: the MinHash estimate of Jaccard similarity."""
    return float(np.mean(sig_a == sig_b))


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band (``len(sig) x bands``); rows without shingles get unique keys."""
    n_docs = sig.shape[0]
    part = sig[:, : bands * rows].reshape(n_docs, bands, rows)
    keys = np.zeros((n_docs, bands), dtype=np.uint64)
    for r in range(rows):
        keys = splitmix64(keys ^ part[:, :, r])
    no_shingles = sig[:, 0] == _EMPTY
    if no_shingles.any():
        # salted by the band so that they can never collide with each other
        keys[no_shingles] = _EMPTY | np.uint64(0x5EED)
    return keys


# ---- candidates, verification, clusters --------------------------------------------------------


def candidate_pairs(keys: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Candidate pairs ``(i, j)``, ``i < j``, from band keys (star + chain inside each bucket)."""
    n_docs, n_bands = keys.shape
    if valid is None:
        valid = keys[:, 0] != (_EMPTY | np.uint64(0x5EED))
    ids = np.flatnonzero(valid)
    chunks = []
    for b in range(n_bands):
        col = keys[ids, b]
        order = np.argsort(col, kind="stable")
        sk, so = col[order], ids[order]
        same = sk[1:] == sk[:-1]
        if not same.any():
            continue
        # chain: each member with its predecessor in the bucket
        nxt = np.flatnonzero(same) + 1
        chunks.append(np.stack([so[nxt - 1], so[nxt]], axis=1))
        # star: each member with the first of its bucket
        start_flags = np.concatenate([[True], ~same])
        run_start = np.maximum.accumulate(np.where(start_flags, np.arange(len(sk)), 0))
        star = nxt[run_start[nxt] != nxt - 1]
        if len(star):
            chunks.append(np.stack([so[run_start[star]], so[star]], axis=1))
    if not chunks:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(chunks)
    pairs = np.sort(pairs, axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    codes = np.unique(pairs[:, 0].astype(np.int64) * n_docs + pairs[:, 1])
    return np.stack([codes // n_docs, codes % n_docs], axis=1)


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return int(root)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb

    def groups(self, members: Iterable[int] | None = None) -> list[list[int]]:
        """Groups of size >= 2, each sorted, ordered by their first member."""
        found: dict[int, list[int]] = {}
        for i in (range(len(self.parent)) if members is None else sorted(set(members))):
            found.setdefault(self.find(int(i)), []).append(int(i))
        return sorted((g for g in found.values() if len(g) > 1), key=lambda g: g[0])


@dataclass
class NearDuplicates:
    """Verified pairs ``(i, j, jaccard)`` and the clusters (connected components) they form."""

    pairs: list[tuple[int, int, float]]
    clusters: list[list[int]]
    candidates: int
    bands: int
    rows: int


def verify_pairs(
    pairs: np.ndarray, texts: Sequence[str], config: MinHashConfig, texts_b: Sequence[str] | None = None
) -> list[tuple[int, int, float]]:
    """Exact Jaccard of each candidate pair's shingle sets; keeps pairs at or above the threshold.

    All pairs at once: the shingle sets of the records involved become the rows of a sparse 0/1
    matrix (columns = 63-bit shingle fingerprints; two different shingles share one with
    probability ~2**-63), and the intersection of a pair is the dot product of its two rows.
    """
    from scipy.sparse import csr_matrix

    if len(pairs) == 0:
        return []
    other = texts if texts_b is None else texts_b
    kept: list[tuple[int, int, float]] = []
    for lo, hi in _pair_chunks(pairs, texts, other):
        li, ri = np.asarray(pairs[lo:hi, 0]), np.asarray(pairs[lo:hi, 1])
        ua, inv_a = np.unique(li, return_inverse=True)
        ub, inv_b = np.unique(ri, return_inverse=True)
        docs = [texts[int(i)] for i in ua] + [other[int(j)] for j in ub]
        doc_ids, h = shingle_hashes(docs, config.unit, config.ngram)
        # the fingerprint itself (63 bits) is the column: no global sort to number the columns,
        # only the per-row sort of sum_duplicates
        cols = (h >> np.uint64(1)).astype(np.int64)
        m = csr_matrix((np.ones(len(h), dtype=np.float32), (doc_ids, cols)), shape=(len(docs), 2**63 - 1))
        m.sum_duplicates()
        m.data[:] = 1.0
        sizes = np.diff(m.indptr)
        rows_a, rows_b = inv_a.ravel(), len(ua) + inv_b.ravel()
        inter = np.asarray(m[rows_a].multiply(m[rows_b]).sum(axis=1)).ravel()
        union = sizes[rows_a] + sizes[rows_b] - inter
        score = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        for k in np.flatnonzero(score >= config.threshold).tolist():
            kept.append((int(li[k]), int(ri[k]), round(float(score[k]), 4)))
    return kept


VERIFY_CHARS_PER_BATCH = 4_000_000
SHARD_SIZE = 20_000  # records signed at once: ~0.5 GB of transient arrays at 400 characters a record


def _pair_chunks(pairs: np.ndarray, texts: Sequence[str], other: Sequence[str]) -> list[tuple[int, int]]:
    """Consecutive ``[lo, hi)`` slices of ``pairs`` whose texts hold about 4 M characters each.

    The shingle arrays and matrix of a batch cost about 90 bytes per character of the texts in it, so a batch
    bounded by characters (not by pairs) keeps verification near 0.4 GB however long the texts:
    a fixed 500,000-pair batch over 1,000,000 records took 9 GB.
    """
    len_a = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    len_b = len_a if other is texts else np.fromiter((len(t) for t in other), dtype=np.int64, count=len(other))
    cost = np.cumsum(len_a[pairs[:, 0]] + len_b[pairs[:, 1]])
    batch = cost // VERIFY_CHARS_PER_BATCH  # batch number of each pair, non-decreasing
    cuts = np.flatnonzero(np.diff(batch)) + 1
    bounds = [0, *cuts.tolist(), len(pairs)]
    return [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]


def all_band_keys(
    texts: Sequence[str], config: MinHashConfig, shard_size: int = SHARD_SIZE, progress: Callable[[int], None] | None = None
) -> np.ndarray:
    """Band keys of every text, computed one shard at a time (only the keys are kept)."""
    return _keys_and_sketches(texts, config, shard_size, progress, with_sketches=False)[0]


def _keys_and_sketches(
    texts: Sequence[str], config: MinHashConfig, shard_size: int = SHARD_SIZE, progress: Callable[[int], None] | None = None,
    with_sketches: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Band keys and 32-bit sketches (:func:`sketch`) of every text, one shard at a time
    (``with_sketches=False``: the sketches array has no columns, so nothing is kept for them)."""
    bands, rows = config.lsh_params()
    keys = np.zeros((len(texts), bands), dtype=np.uint64)
    sketches = np.zeros((len(texts), config.num_perm if with_sketches else 0), dtype=np.uint32)
    for lo in range(0, len(texts), shard_size):
        shard = texts[lo : lo + shard_size]
        sig = signatures(shard, config)
        keys[lo : lo + len(shard)] = band_keys(sig, bands, rows)
        if with_sketches:
            sketches[lo : lo + len(shard)] = sketch(sig)
        if progress:
            progress(len(shard))
    return keys, sketches


def sketch(sig: np.ndarray) -> np.ndarray:
    """Signatures folded to 32 bits (half the memory; two different values fold alike with
    probability 2**-32, which shifts a Jaccard estimate by nothing measurable)."""
    return (sig ^ (sig >> np.uint64(32))).astype(np.uint32)


def estimate_filter(pairs: np.ndarray, sketches_a: np.ndarray, sketches_b: np.ndarray, threshold: float) -> np.ndarray:
    """Candidate pairs whose MinHash estimate is not far below ``threshold``.

    LSH buckets also pair records of Jaccard 0.3 with each other (a 32 x 4 banding makes such a pair
    a candidate one time in four), and on real corpora those are most candidates. Exact
    verification costs ~50x more per pair than comparing two signatures, so the pairs whose
    estimate lies more than four standard deviations (sqrt(0.25 / num_perm): 0.18 at 128
    permutations) below the threshold are dropped first. A pair truly at the threshold is lost
    with probability ~3e-5; every pair reported is still verified exactly.
    """
    if len(pairs) == 0:
        return pairs
    margin = 4 * math.sqrt(0.25 / sketches_a.shape[1])
    keep = np.zeros(len(pairs), dtype=bool)
    step = max(1, 8_000_000 // sketches_a.shape[1])  # pairs per batch: ~2 x 32 MB of gathered rows
    for lo in range(0, len(pairs), step):
        a, b = pairs[lo : lo + step, 0], pairs[lo : lo + step, 1]
        estimate = (sketches_a[a] == sketches_b[b]).mean(axis=1)
        keep[lo : lo + step] = estimate >= threshold - margin
    return pairs[keep]


def near_duplicates(
    texts: Sequence[str],
    config: MinHashConfig | None = None,
    shard_size: int = SHARD_SIZE,
    progress: Callable[[int], None] | None = None,
) -> NearDuplicates:
    """Near-duplicate pairs and clusters among ``texts`` (already normalised)."""
    cfg = config or MinHashConfig()
    bands, rows = cfg.lsh_params()
    keys, sketches = _keys_and_sketches(texts, cfg, shard_size, progress)
    cands = candidate_pairs(keys)
    del keys
    verified = verify_pairs(estimate_filter(cands, sketches, sketches, cfg.threshold), texts, cfg)
    uf = UnionFind(len(texts))
    for i, j, _ in verified:
        uf.union(i, j)
    members = [x for i, j, _ in verified for x in (i, j)]
    return NearDuplicates(verified, uf.groups(members), len(cands), bands, rows)


def cross_near_duplicates(
    queries: Sequence[str], corpus: Sequence[str], config: MinHashConfig | None = None, shard_size: int = SHARD_SIZE
) -> list[tuple[int, int, float]]:
    """Pairs ``(query_index, corpus_index, jaccard)`` with Jaccard >= threshold (leakage checks)."""
    cfg = config or MinHashConfig()
    if not queries or not corpus:
        return []
    keys_c, sketches_c = _keys_and_sketches(corpus, cfg, shard_size)
    keys_q, sketches_q = _keys_and_sketches(queries, cfg, shard_size)
    nc = len(corpus)
    keys = np.concatenate([keys_c, keys_q])
    pairs = candidate_pairs(keys)
    # inside a bucket every member is paired with the first (lowest index: a corpus member when there is one)
    cross = pairs[(pairs[:, 0] < nc) & (pairs[:, 1] >= nc)]
    cands = np.stack([cross[:, 1] - nc, cross[:, 0]], axis=1) if len(cross) else np.zeros((0, 2), np.int64)
    return verify_pairs(estimate_filter(cands, sketches_q, sketches_c, cfg.threshold), queries, cfg, texts_b=corpus)
