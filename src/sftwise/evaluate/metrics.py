"""Task metrics: per-example scores, a corpus value, and a signature of the settings behind them.

Every metric is computed by :func:`compute` and returns a :class:`MetricResult`:

* ``per_example``: one float per example (``None`` where the example has no reference);
* ``value``: the corpus score (the mean of ``per_example`` for every metric except BLEU, chrF and
  macro-F1, which are computed from summed statistics / the confusion matrix, as their authors define);
* ``aggregate(indices)``: the corpus score over a resample of the examples, which is what the
  bootstrap in :mod:`sftwise.evaluate.stats` and the paired test in ``compare`` call;
* ``signature``: the settings, sacrebleu style (``em|lower:yes|punct:yes|...``), so two numbers are
  comparable only when their signatures match.

Normalisations (documented because every one of them moves scores):

* ``exact_match`` / ``f1``: SQuAD's ``normalize_answer`` by default (lower-case, drop ASCII
  punctuation, drop the articles a/an/the, collapse whitespace); each part can be switched off
  with :class:`TextNormalization`. F1 is bag-of-tokens overlap after normalisation; empty vs
  empty scores 1, empty vs non-empty 0 (SQuAD 2.0 convention). Several references: the best.
* ``accuracy`` / ``macro_f1``: labels compared after stripping surrounding whitespace (and
  lower-casing unless ``label_case_sensitive``). Macro-F1 averages over the labels present in the
  references or predictions.
* ``bleu`` / ``chrf``: sacrebleu with its defaults (BLEU: 13a, exp smoothing, mixed case, 4-grams;
  chrF: character 6-grams, beta 2, no word n-grams). Corpus scores are sacrebleu's corpus scores;
  per-example scores are sacrebleu's sentence scores (BLEU with ``effective_order``, as
  ``sentence_bleu`` does). Scale 0..100, as sacrebleu reports.
* ``rouge1`` / ``rouge2`` / ``rougeL`` / ``rougeLsum``: F1 equal to Google's rouge-score (see
  :mod:`sftwise.evaluate.rouge`, which also explains the ``unicode`` tokenizer for non-English text).
* ``math_accuracy``: final answers extracted by :func:`extract_final_answer` from the prediction and
  the reference, compared numerically (see :func:`normalize_number`).
* ``json_valid``: the prediction parses as JSON (a fenced ```json block is unwrapped first);
  ``json_schema``: it parses and validates against a JSON schema (jsonschema, the schema's own
  draft); ``json_match``: parsed prediction equals parsed reference.
* ``length_ratio``: prediction characters / reference characters (the corpus value is the mean ratio).

Predictions that are missing (a generation error) are scored as the empty string: a failure to answer
counts as a wrong answer, never silently shrinks the denominator.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import numpy as np

from sftwise.errors import ParameterError, SftwiseError

Reference = str | Sequence[str] | None

METRICS = (
    "exact_match",
    "f1",
    "accuracy",
    "macro_f1",
    "bleu",
    "chrf",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "math_accuracy",
    "json_valid",
    "json_schema",
    "json_match",
    "length_ratio",
)


@dataclass(frozen=True)
class TextNormalization:
    """Which parts of SQuAD's answer normalisation to apply before exact match and token F1."""

    lowercase: bool = True
    punctuation: bool = True
    articles: bool = True
    whitespace: bool = True

    @classmethod
    def none(cls) -> TextNormalization:
        return cls(False, False, False, False)

    @classmethod
    def parse(cls, spec: str | None) -> TextNormalization:
        """``"squad"`` (all), ``"none"``, or a comma list of ``lower,punct,articles,space``."""
        if spec is None or spec.strip().lower() in ("", "squad", "all"):
            return cls()
        if spec.strip().lower() == "none":
            return cls.none()
        parts = {p.strip().lower() for p in spec.split(",") if p.strip()}
        known = {"lower", "punct", "articles", "space"}
        if parts - known:
            raise ParameterError("normalize", f"unknown part(s) {sorted(parts - known)}; expected 'squad', 'none' or a comma list of {sorted(known)}.")
        return cls("lower" in parts, "punct" in parts, "articles" in parts, "space" in parts)

    def signature(self) -> str:
        yn = {True: "yes", False: "no"}
        return f"lower:{yn[self.lowercase]}|punct:{yn[self.punctuation]}|articles:{yn[self.articles]}|space:{yn[self.whitespace]}"


_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.IGNORECASE)


def normalize_text(text: str, norm: TextNormalization = TextNormalization()) -> str:
    """SQuAD's ``normalize_answer`` (in its order: lower, punctuation, articles, whitespace), part by part."""
    if norm.lowercase:
        text = text.lower()
    if norm.punctuation:
        text = "".join(ch for ch in text if ch not in _PUNCT)
    if norm.articles:
        text = _ARTICLES.sub(" ", text)
    if norm.whitespace:
        text = " ".join(text.split())
    return text


@dataclass
class MetricResult:
    name: str
    per_example: list[float | None]
    value: float
    signature: str
    aggregate: Callable[[np.ndarray], float] = field(repr=False)
    n: int = 0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class MetricOptions:
    """Settings of every metric; part of each metric's signature."""

    normalization: TextNormalization = field(default_factory=TextNormalization)
    label_case_sensitive: bool = False
    rouge_stemmer: bool = False
    rouge_tokenizer: str = "default"
    json_schema: dict[str, Any] | None = None


def _refs(reference: Reference) -> list[str] | None:
    if reference is None:
        return None
    if isinstance(reference, str):
        return [reference]
    refs = [r for r in reference if r is not None]
    return refs or None


def _mean_result(name: str, per_example: list[float | None], signature: str, **details: Any) -> MetricResult:
    values = np.array([np.nan if v is None else v for v in per_example], dtype=float)
    valid = ~np.isnan(values)

    def aggregate(idx: np.ndarray) -> float:
        sample = values[idx]
        sample = sample[~np.isnan(sample)]
        return float(sample.mean()) if sample.size else float("nan")

    n = int(valid.sum())
    value = float(values[valid].mean()) if n else float("nan")
    return MetricResult(name, per_example, value, signature, aggregate, n, dict(details))


# ---------------------------------------------------------------- exact match and token F1


def exact_match(prediction: str, reference: Reference, norm: TextNormalization = TextNormalization()) -> float | None:
    refs = _refs(reference)
    if refs is None:
        return None
    pred = normalize_text(prediction or "", norm)
    return float(any(pred == normalize_text(r, norm) for r in refs))


def token_f1(prediction: str, reference: Reference, norm: TextNormalization = TextNormalization()) -> float | None:
    refs = _refs(reference)
    if refs is None:
        return None
    pred_tokens = normalize_text(prediction or "", norm).split()
    best = 0.0
    for ref in refs:
        ref_tokens = normalize_text(ref, norm).split()
        if not pred_tokens or not ref_tokens:
            score = float(pred_tokens == ref_tokens)
        else:
            from collections import Counter

            common = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
            if common == 0:
                score = 0.0
            else:
                precision = common / len(pred_tokens)
                recall = common / len(ref_tokens)
                score = 2 * precision * recall / (precision + recall)
        best = max(best, score)
    return best


# ---------------------------------------------------------------- labels


def _label(text: str | None, case_sensitive: bool) -> str:
    text = (text or "").strip()
    return text if case_sensitive else text.lower()


def _macro_f1(preds: list[str], golds: list[str]) -> float:
    labels = sorted(set(preds) | set(golds))
    if not labels:
        return float("nan")
    p = np.array(preds, dtype=object)
    g = np.array(golds, dtype=object)
    scores = []
    for label in labels:
        tp = float(np.sum((p == label) & (g == label)))
        fp = float(np.sum((p == label) & (g != label)))
        fn = float(np.sum((p != label) & (g == label)))
        denom = 2 * tp + fp + fn
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def _macro_f1_result(predictions: Sequence[str | None], references: Sequence[Reference], case_sensitive: bool) -> MetricResult:
    pairs = [(i, _label(p, case_sensitive), _label(_refs(r)[0], case_sensitive)) for i, (p, r) in enumerate(zip(predictions, references)) if _refs(r)]
    index_of = {i: k for k, (i, _, _) in enumerate(pairs)}
    preds = [p for _, p, _ in pairs]
    golds = [g for _, _, g in pairs]
    per_example: list[float | None] = [None] * len(predictions)
    for i, p, g in pairs:
        per_example[i] = float(p == g)

    def aggregate(idx: np.ndarray) -> float:
        keep = [index_of[i] for i in idx.tolist() if i in index_of]
        return _macro_f1([preds[k] for k in keep], [golds[k] for k in keep])

    sig = f"macro_f1|case:{'yes' if case_sensitive else 'no'}|strip:yes"
    return MetricResult("macro_f1", per_example, _macro_f1(preds, golds), sig, aggregate, len(pairs), {"labels": sorted(set(golds))})


# ---------------------------------------------------------------- sacrebleu


def _sacrebleu_result(name: str, predictions: Sequence[str | None], references: Sequence[Reference]) -> MetricResult:
    import sacrebleu
    from sacrebleu.metrics import BLEU, CHRF

    keep = [i for i, r in enumerate(references) if _refs(r)]
    hyps = [predictions[i] or "" for i in keep]
    refs = [_refs(references[i])[0] for i in keep]
    if name == "bleu":
        corpus_metric, sentence_metric = BLEU(), BLEU(effective_order=True)
    else:
        corpus_metric, sentence_metric = CHRF(), CHRF()
    per_example: list[float | None] = [None] * len(predictions)
    if not keep:
        return MetricResult(name, per_example, float("nan"), "", lambda idx: float("nan"), 0)
    stats = np.array(corpus_metric._extract_corpus_statistics(hyps, [refs]), dtype=float)
    corpus = corpus_metric._compute_score_from_stats(stats.sum(axis=0).tolist())
    for k, i in enumerate(keep):
        per_example[i] = float(sentence_metric._compute_score_from_stats(stats[k].tolist()).score)
    position = np.full(len(predictions), -1, dtype=int)
    position[keep] = np.arange(len(keep))

    def aggregate(idx: np.ndarray) -> float:
        rows = position[idx]
        rows = rows[rows >= 0]
        if not rows.size:
            return float("nan")
        return float(corpus_metric._compute_score_from_stats(stats[rows].sum(axis=0).tolist()).score)

    signature = str(corpus_metric.get_signature())
    return MetricResult(name, per_example, float(corpus.score), signature, aggregate, len(keep), {"sacrebleu": sacrebleu.__version__, "corpus": str(corpus)})


# ---------------------------------------------------------------- math final answers

_NUMBER = re.compile(r"-?[$]?\s?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_HASH_ANSWER = re.compile(r"####\s*(.+)")
_A_ANSWER = re.compile(r"(?:^|\n)\s*A:\s*(.+)")


def extract_final_answer(text: str | None) -> str | None:
    """The final answer of a math solution: after the last ``####``, else after the last ``A:`` line
    (GSM8K's ``example_model_solutions`` style), else the last number in the text. None if no number.

    Calculator annotations ``<<48/2=24>>`` are removed first so their numbers never count.
    """
    if not text:
        return None
    text = re.sub(r"<<[^>]*>>", "", text)
    for pattern in (_HASH_ANSWER, _A_ANSWER):
        found = pattern.findall(text)
        if found:
            numbers = _NUMBER.findall(found[-1])
            if numbers:
                return numbers[0]
            return found[-1].strip() or None
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def normalize_number(answer: str | None) -> str | None:
    """A canonical string for a numeric answer: no ``$``, thousands commas, spaces or trailing
    ``.``/``%``; fractions ``a/b`` evaluated; trailing zeros dropped (``3.0`` -> ``3``, ``1,000`` ->
    ``1000``). Text that is not a number comes back stripped and lower-cased."""
    if answer is None:
        return None
    cleaned = answer.strip().replace(",", "").replace("$", "").replace(" ", "").rstrip(".").rstrip("%")
    try:
        if "/" in cleaned:
            num, den = cleaned.split("/", 1)
            value = Decimal(num) / Decimal(den)
        else:
            value = Decimal(cleaned)
    except (InvalidOperation, ValueError, ZeroDivisionError):
        return answer.strip().lower()
    if not value.is_finite() or abs(value.adjusted()) > 100:  # "inf", "1e999999": not an answer to write out
        return answer.strip().lower()
    if value == value.to_integral_value():
        # not quantize(): it raises past the context's 28 digits; formatting is exact at any size
        return format(value, "f").partition(".")[0]
    return format(value.normalize(), "f")


def math_correct(prediction: str | None, reference: Reference) -> float | None:
    refs = _refs(reference)
    if refs is None:
        return None
    pred = normalize_number(extract_final_answer(prediction))
    if pred is None:
        return 0.0
    return float(any(pred == normalize_number(extract_final_answer(r)) for r in refs))


# ---------------------------------------------------------------- JSON


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.DOTALL | re.IGNORECASE)


def parse_json(text: str | None) -> tuple[bool, Any]:
    if text is None:
        return False, None
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        return True, json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError):
        return False, None


@lru_cache(maxsize=16)
def _validator(schema_json: str):
    import jsonschema

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SftwiseError(f"the JSON schema is not valid: {exc.message}") from None
    return cls(schema)


def json_schema_ok(prediction: str | None, schema: dict[str, Any]) -> float:
    ok, value = parse_json(prediction)
    if not ok:
        return 0.0
    return float(_validator(json.dumps(schema, sort_keys=True)).is_valid(value))


# ---------------------------------------------------------------- the entry point


def _best_over_refs(predictions: Sequence[str | None], references: Sequence[Reference], score: Callable[[str, str], float]) -> list[float | None]:
    """``max(score(prediction, ref))`` over each example's references; None where it has none."""
    out: list[float | None] = []
    for p, r in zip(predictions, references):
        refs = _refs(r)
        out.append(None if refs is None else max(score(p or "", ref) for ref in refs))
    return out


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("sftwise", "sacrebleu", "jsonschema", "nltk"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def compute(
    name: str,
    predictions: Sequence[str | None],
    references: Sequence[Reference],
    options: MetricOptions | None = None,
) -> MetricResult:
    """Score ``predictions`` against ``references`` (same length; ``None`` reference = unscored)."""
    options = options or MetricOptions()
    if len(predictions) != len(references):
        raise SftwiseError(f"predictions and references differ in length ({len(predictions)} vs {len(references)}).")
    norm = options.normalization
    if name == "exact_match":
        return _mean_result(name, [exact_match(p or "", r, norm) for p, r in zip(predictions, references)], f"em|{norm.signature()}")
    if name == "f1":
        return _mean_result(name, [token_f1(p or "", r, norm) for p, r in zip(predictions, references)], f"f1|tok:whitespace|{norm.signature()}")
    if name == "accuracy":
        cs = options.label_case_sensitive
        scores = [None if _refs(r) is None else float(_label(p, cs) == _label(_refs(r)[0], cs)) for p, r in zip(predictions, references)]
        return _mean_result(name, scores, f"accuracy|case:{'yes' if cs else 'no'}|strip:yes")
    if name == "macro_f1":
        return _macro_f1_result(predictions, references, options.label_case_sensitive)
    if name in ("bleu", "chrf"):
        return _sacrebleu_result(name, predictions, references)
    if name in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        from sftwise.evaluate.rouge import rouge_scores

        scores = _best_over_refs(
            predictions, references, lambda p, ref: rouge_scores(ref, p, (name,), use_stemmer=options.rouge_stemmer, tokenizer=options.rouge_tokenizer)[name][2]
        )
        sig = f"{name}|tok:{'rouge-score' if options.rouge_tokenizer == 'default' else 'unicode'}|stem:{'yes' if options.rouge_stemmer else 'no'}|agg:mean-f1"
        return _mean_result(name, scores, sig)
    if name == "math_accuracy":
        return _mean_result(name, [math_correct(p, r) for p, r in zip(predictions, references)], "math|extract:####,A:,last-number|numeric:yes")
    if name == "json_valid":
        return _mean_result(name, [float(parse_json(p)[0]) for p in predictions], "json_valid|fence:unwrap")
    if name == "json_schema":
        if options.json_schema is None:
            raise ParameterError("json_schema", "is required by the json_schema metric: give a JSON Schema.")
        _validator(json.dumps(options.json_schema, sort_keys=True))
        return _mean_result(name, [json_schema_ok(p, options.json_schema) for p in predictions], "json_schema|fence:unwrap")
    if name == "json_match":
        def match(p: str, ref: str) -> float:
            ok, value = parse_json(p)
            return float(ok and parse_json(ref) == (True, value))

        scores = _best_over_refs(predictions, references, match)
        return _mean_result(name, scores, "json_match|parsed-equal")
    if name == "length_ratio":
        scores = []
        for p, r in zip(predictions, references):
            refs = _refs(r)
            scores.append(None if refs is None or not refs[0] else len(p or "") / len(refs[0]))
        return _mean_result(name, scores, "length_ratio|unit:chars")
    raise SftwiseError(f"unknown metric {name!r}; choose from: {', '.join(METRICS)}.")


def parse_metric_list(spec: str | Sequence[str] | None, default: Sequence[str] = ("exact_match", "f1")) -> list[str]:
    """Validate a comma list (or sequence) of metric names, keeping order and dropping repeats."""
    if spec is None:
        return list(default)
    items = spec.split(",") if isinstance(spec, str) else [s for part in spec for s in part.split(",")]
    names = []
    for item in (s.strip() for s in items):
        if not item:
            continue
        if item == "rouge":
            for r in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
                if r not in names:
                    names.append(r)
            continue
        if item not in METRICS:
            raise ParameterError("metrics", f"unknown metric {item!r}; choose from: {', '.join(METRICS)} (or 'rouge' for all four).")
        if item not in names:
            names.append(item)
    if not names:
        raise ParameterError("metrics", "no metric given.")
    return names


def compute_all(names: Sequence[str], predictions: Sequence[str | None], references: Sequence[Reference], options: MetricOptions | None = None) -> dict[str, MetricResult]:
    return {name: compute(name, predictions, references, options) for name in names}


def versions() -> dict[str, str]:
    return _versions()
