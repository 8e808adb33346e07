"""Hard-example mining: the eval examples a model fails, and the training candidates most like them.

1. **Failures**: predictions whose score on ``metric`` is below ``threshold`` (default: the first
   metric of the summary; 0/1 metrics fail below 1, others below 0.5), or that errored.
2. **Similarity**: TF-IDF (word unigrams + bigrams, sublinear tf, fitted on the pool and the eval
   prompts together) cosine between each failed prompt and each pool example's prompt; each failure
   proposes its ``per_failure`` nearest pool examples with similarity >= ``min_similarity``.
3. **Leakage guard**: a candidate is dropped when it is a near duplicate of *any* eval example (not
   just the failures): its prompt equals an eval prompt after case/whitespace normalisation, or the
   Jaccard similarity of their character 5-gram sets is >= ``near_dup_jaccard`` (default 0.5). On
   GSM8K questions, a copy with 5 % of words edited keeps character-5-gram Jaccard >= 0.87 (5th
   percentile) while the most similar *different* question reaches at most 0.24, so 0.5 separates
   the two with room on both sides. Jaccard is checked against the ``guard_top`` eval prompts with
   the highest TF-IDF cosine to the candidate, which is where any near duplicate sits.
4. Candidates are ranked by their best similarity to a failure, each pool example once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from sftwise.evaluate.results import Prediction, read_results
from sftwise.errors import ParameterError, require_at_least, require_within
from sftwise.textsim import jaccard, normalize, shingle_set


class FailedExample(BaseModel):
    id: str
    source: str | None
    prompt: str
    reference: str | None
    prediction: str | None
    score: float | None
    error: str | None = None


class Candidate(BaseModel):
    source: str  # file:line in the pool
    prompt: str
    similarity: float
    nearest_failure: str  # id of the failed eval example it is most similar to
    max_eval_jaccard: float


class HardExamplesReport(BaseModel):
    results: str
    pool: str
    metric: str
    threshold: float
    n_eval: int
    failed: list[FailedExample]
    candidates: list[Candidate]
    excluded_near_duplicates: list[str] = Field(default_factory=list)  # pool file:line
    settings: dict = Field(default_factory=dict)


def _prompt(p: Prediction) -> str:
    for message in reversed(p.messages):
        if message.get("role") == "user":
            return message.get("content", "")
    return ""


def _shingles(text: str) -> set[str]:
    """Character 5-grams of the case- and whitespace-normalised text (the leakage guard's unit)."""
    return shingle_set(normalize(text), "char", 5)


def find_hard_examples(
    results: str | Path,
    train_pool: str | Path,
    *,
    metric: str | None = None,
    threshold: float | None = None,
    per_failure: int = 3,
    limit: int | None = None,
    min_similarity: float = 0.1,
    near_dup_jaccard: float = 0.5,
    guard_top: int = 5,
) -> tuple[HardExamplesReport, list]:
    """Return the report and the selected pool records (in ranking order)."""
    if per_failure < 1:
        raise ParameterError("per_failure", f"must be >= 1, got {per_failure}.")
    require_at_least("limit", limit, 1, " (omit it for no limit)")
    require_at_least("threshold", threshold, 0, " (scores are never negative, so nothing would count as failed)")
    require_within("min_similarity", min_similarity, 0, 1)
    if not 0 < near_dup_jaccard <= 1:
        raise ParameterError("near_dup_jaccard", f"must be in (0, 1], got {near_dup_jaccard}.")
    loaded = read_results(results)
    summary, predictions = loaded.require_summary(), loaded.predictions
    metric = metric or next(iter(summary.metrics), None)
    if metric is None:
        raise ParameterError("metric", f"is required: the summary of {results} has no metric to default to.")
    if metric not in summary.metrics and not any(metric in p.scores for p in predictions):
        raise ParameterError("metric", f"{metric!r} is not in {results} (has: {', '.join(summary.metrics) or 'none'}).")
    values = [p.scores.get(metric) for p in predictions]
    binary = all(v in (0.0, 1.0) for v in values if v is not None)
    if threshold is None:
        threshold = 1.0 if binary else 0.5
    failed = [p for p in predictions if p.error or (p.scores.get(metric) is not None and p.scores[metric] < threshold)]

    from sftwise import formats

    pool_path = Path(train_pool)
    if not pool_path.exists():
        raise ParameterError("train_pool", f"{train_pool}: no such file.")
    pool = formats.load(pool_path)
    report = HardExamplesReport(
        results=str(results),
        pool=str(train_pool),
        metric=metric,
        threshold=threshold,
        n_eval=len(predictions),
        failed=[FailedExample(id=p.id, source=p.source, prompt=_prompt(p), reference=p.reference, prediction=p.prediction, score=p.scores.get(metric), error=p.error) for p in failed],
        candidates=[],
        settings={"per_failure": per_failure, "min_similarity": min_similarity, "near_dup_jaccard": near_dup_jaccard, "tfidf": "word 1-2 grams, sublinear tf"},
    )
    if not failed or not len(pool):
        return report, []

    from sklearn.feature_extraction.text import TfidfVectorizer

    pool_texts = [r.conversation.input_text() for r in pool.records]
    eval_texts = [_prompt(p) for p in predictions]
    failed_texts = [_prompt(p) for p in failed]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    vectorizer.fit(pool_texts + eval_texts)
    pool_m = vectorizer.transform(pool_texts)
    sims = (vectorizer.transform(failed_texts) @ pool_m.T).toarray()  # failures x pool, rows L2-normed
    eval_m = vectorizer.transform(eval_texts)

    best: dict[int, tuple[float, int]] = {}
    for f, row in enumerate(sims):
        for j in np.argsort(-row, kind="stable")[:per_failure]:
            s = float(row[j])
            if s < min_similarity:
                break
            if j not in best or s > best[j][0]:
                best[j] = (s, f)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
    eval_norm = {normalize(t) for t in eval_texts}
    eval_shingles = [_shingles(t) for t in eval_texts]
    selected, records = [], []
    excluded = []
    for j, (s, f) in ranked:
        text = pool_texts[j]
        near = (eval_m @ pool_m[j].T).toarray().ravel()
        top_eval = np.argsort(-near)[:guard_top]
        cand = _shingles(text)
        max_jac = max((jaccard(cand, eval_shingles[e]) for e in top_eval), default=0.0)
        if normalize(text) in eval_norm or max_jac >= near_dup_jaccard:
            excluded.append(str(pool.records[j].source))
            continue
        selected.append(Candidate(source=str(pool.records[j].source), prompt=text[:1000], similarity=round(s, 6), nearest_failure=failed[f].id, max_eval_jaccard=round(max_jac, 6)))
        records.append(pool.records[j])
        if limit is not None and len(selected) >= limit:
            break
    report.candidates = selected
    report.excluded_near_duplicates = excluded
    return report, records
