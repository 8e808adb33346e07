"""Semantic clusters: embeddings + clustering, to find paraphrases and over-represented topics.

Embeddings come from a sentence-transformers model given by name or path when that library is
installed; otherwise (and by default, since sftwise never downloads at run time) from an offline
TF-IDF + LSA pipeline (word 1-2-grams and character 3-4-grams, truncated SVD, L2-normalised).
Clustering follows SemDeDup: k-means into coarse topics, then inside each topic every pair with
cosine similarity >= ``threshold`` is linked; connected components are the semantic duplicate
clusters. Topics larger than ``min_topic_size`` are reported so a user sees what the data
over-represents, with their most characteristic terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sftwise.errors import ParameterError, SftwiseError


@dataclass
class Topic:
    members: list[int]
    terms: list[str] = field(default_factory=list)


@dataclass
class SemanticResult:
    clusters: list[list[int]]  # semantic duplicate clusters (size >= 2)
    similarities: dict[tuple[int, int], float]  # linked pairs
    topics: list[Topic]  # k-means topics larger than min_topic_size, largest first
    embedder: str


def embed(texts: Sequence[str], model: str | None = None, seed: int = 0, dims: int = 128) -> tuple[np.ndarray, str, list[str] | None, object]:
    """L2-normalised embeddings, the embedder's description, and (TF-IDF only) its vocabulary."""
    if model:
        try:
            from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]
        except ImportError:
            raise ParameterError(
                "embedding_model",
                f"{model!r} needs the sentence-transformers package, which is not installed."
                " Install it (pip install sentence-transformers) or leave the model out to use the offline TF-IDF/LSA embeddings."
            ) from None
        try:
            st = SentenceTransformer(model)
        except Exception as exc:  # the library raises many kinds for a missing model
            raise SftwiseError(f"could not load sentence-transformers model {model!r}: {exc}. Give a local path or a cached model name.") from None
        vecs = np.asarray(st.encode(list(texts), normalize_embeddings=True, show_progress_bar=False), dtype=np.float32)
        return vecs, f"sentence-transformers:{model}", None, None
    from scipy.sparse import hstack
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=20_000)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), sublinear_tf=True, max_features=20_000)
    try:
        xw = words.fit_transform(texts)
    except ValueError:  # no word at all (punctuation-only texts)
        xw = None
    xc = chars.fit_transform(texts)
    x = xc if xw is None else hstack([xw, xc]).tocsr()
    k = min(dims, x.shape[1] - 1, x.shape[0] - 1)
    if k >= 2:
        vecs = TruncatedSVD(n_components=k, n_iter=3, random_state=seed).fit_transform(x)
    else:
        vecs = x.toarray()
    vocab = list(words.get_feature_names_out()) if xw is not None else None
    return normalize(vecs).astype(np.float32), f"tfidf-lsa:{k}d", vocab, xw


def semantic_clusters(
    texts: Sequence[str],
    threshold: float = 0.95,
    model: str | None = None,
    min_topic_size: int = 50,
    seed: int = 0,
) -> SemanticResult:
    if not 0 < threshold <= 1:
        raise ParameterError("semantic_threshold", f"must be in (0, 1]; got {threshold}.")
    n = len(texts)
    if n < 2:
        return SemanticResult([], {}, [], "none (fewer than 2 texts)")
    if not any(t.strip() for t in texts):
        return SemanticResult([], {}, [], "none (all texts empty)")
    vecs, name, vocab, xw = embed([t if t.strip() else "<empty>" for t in texts], model, seed)
    from sklearn.cluster import MiniBatchKMeans

    k = max(1, min(n // 50, 1000))
    if k == 1:
        labels = np.zeros(n, dtype=np.int64)
    else:
        labels = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096).fit_predict(vecs)
    from sftwise.hygiene.minhash import UnionFind

    uf = UnionFind(n)
    sims: dict[tuple[int, int], float] = {}
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        for lo in range(0, len(members), 2048):  # blocks keep the similarity matrix small
            block = members[lo : lo + 2048]
            s = vecs[block] @ vecs[members].T
            ii, jj = np.nonzero(s >= threshold)
            for a, b in zip(ii.tolist(), jj.tolist()):
                i, j = int(block[a]), int(members[b])
                if i < j:
                    uf.union(i, j)
                    sims[(i, j)] = round(float(s[a, b]), 4)
    clusters = uf.groups({x for pair in sims for x in pair})
    topics = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) >= min_topic_size:
            terms: list[str] = []
            if xw is not None and vocab is not None:
                weights = np.asarray(xw[members].mean(axis=0)).ravel() - np.asarray(xw.mean(axis=0)).ravel()
                terms = [vocab[t] for t in np.argsort(-weights)[:8]]
            topics.append(Topic(members.tolist(), terms))
    topics.sort(key=lambda t: -len(t.members))
    return SemanticResult(clusters, sims, topics, name)
