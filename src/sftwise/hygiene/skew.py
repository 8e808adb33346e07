"""Training-serving skew: does the tuning data look like what the model will see in production?

:func:`skew` compares the prompts (and, where both sides have them, the system instructions and
outputs) of a tuning set with a sample of production inputs. Production may be prompts only: a
plain text file (one prompt per line), a JSONL of strings or of objects with a prompt-like field,
or any dataset format sftwise reads. Each signal has a statistic, a threshold, a verdict and the
examples that differ most:

- ``length:<role>``   Jensen-Shannon divergence (base 2) of log-binned word counts, as TFDV does for
                      numeric skew, plus the ratio of medians;
- ``vocabulary``      JSD of word-frequency distributions;
- ``characters``      JSD of character-class distributions (lower, upper, digit, space,
                      punctuation, symbol/emoji, CJK, other scripts);
- ``format:<feature>`` share of texts with markdown, JSON, code, URLs, emoji, chat slang, per script;
- ``system``          system-instruction mismatch;
- ``classifier``      a domain classifier (TF-IDF + logistic regression, 5-fold cross-validated
                      ROC-AUC) against the 95th percentile of AUCs under shuffled labels, as
                      Evidently does; its most confident examples and most characteristic words
                      are reported.

JSD thresholds are the larger of a fixed floor and the 95th percentile of the same statistic
between random halves of the pooled texts, so small samples do not raise false alarms.
The summary turns the verdicts into plain sentences ("tuning data is formal, production is chat
slang").
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from sftwise.conversation import Conversation, Dataset, Record, Source, Turn
from sftwise.findings import Finding, emit
from sftwise.errors import ParameterError, SftwiseError


_WORD = re.compile(r"\w+", re.UNICODE)
_SLANG = {"u", "ur", "pls", "plz", "thx", "lol", "lmao", "omg", "idk", "btw", "gonna", "wanna", "gotta", "ya", "yo", "hey",
          "nah", "yep", "imo", "tbh", "cuz", "k", "r", "y", "thnx", "ty", "dunno", "bro", "sup", "wat", "wtf", "rn", "asap"}
_PROMPT_KEYS = ("prompt", "text", "input", "question", "query", "instruction", "content", "message", "user")
_CLASSES = ("lower", "upper", "digit", "space", "punct", "symbol", "cjk", "other-letter", "other")


class SkewSignal(BaseModel):
    name: str
    statistic: float
    threshold: float
    verdict: str  # skew | ok | n/a
    detail: str
    train_value: float | None = None
    production_value: float | None = None
    train_examples: list[str] = Field(default_factory=list)
    production_examples: list[str] = Field(default_factory=list)


class SkewReport(BaseModel):
    train: str | None
    production: str | None
    n_train: int
    n_production: int
    production_kind: str
    verdict: str
    summary: list[str]
    signals: list[SkewSignal]
    characteristic_words: dict[str, list[str]] = Field(default_factory=dict)
    findings: list[Finding] = Field(default_factory=list)
    settings: dict[str, str] = Field(default_factory=dict)


# ---- reading production --------------------------------------------------------------------------


def load_production(path: str | os.PathLike[str]) -> tuple[Dataset, str]:
    """Production inputs as a Dataset and a description of how they were read."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SftwiseError(f"{path}: no such file. Give a file of production prompts (one per line, JSONL, or a dataset).")
    if os.path.isdir(path):
        raise SftwiseError(f"{path} is a directory; give a file of production prompts.")
    with open(path, "rb") as handle:
        raw = handle.read()
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise SftwiseError(f"{path} has no production prompts (the file is empty).")
    parsed: list[tuple[int, object]] = []
    is_json = path.endswith((".jsonl", ".json", ".csv", ".parquet"))
    if path.endswith((".jsonl", ".json")) or lines[0][1].lstrip().startswith(("{", "[", '"')):
        try:
            parsed = [(n, json.loads(line)) for n, line in lines]
            is_json = True
        except json.JSONDecodeError:
            parsed = []
    if is_json and (not parsed or all(isinstance(o, dict) for _, o in parsed)):
        from sftwise.formats import read

        try:
            result = read(path)
        except SftwiseError:
            result = None
        if result is not None and len(result.dataset) and not result.errors:
            return result.dataset, f"dataset ({result.dataset.format})"
    if parsed:
        records = []
        for n, obj in parsed:
            prompt = obj if isinstance(obj, str) else None
            if isinstance(obj, dict):
                prompt = next((obj[k] for k in _PROMPT_KEYS if isinstance(obj.get(k), str)), None)
            if prompt is not None:
                records.append(Record(Conversation(turns=[Turn.of("user", prompt)]), Source(path, n)))
        if records:
            return Dataset(records=records, path=path, format="prompts"), "prompts (JSONL)"
        raise SftwiseError(f"{path}: no prompt found; JSONL production records need one of the fields {', '.join(_PROMPT_KEYS)}, or be strings.")
    records = [Record(Conversation(turns=[Turn.of("user", line)]), Source(path, n)) for n, line in lines]
    return Dataset(records=records, path=path, format="prompts"), "prompts (one per line)"


# ---- features ------------------------------------------------------------------------------------


def prompt_text(c: Conversation) -> str:
    return "\n".join(t.text for t in c.prompt_turns if t.role == "user")


def char_class(ch: str) -> str:
    if ch.isspace():
        return "space"
    if ch.isdigit():
        return "digit"
    code = ord(ch)
    if 0x2E80 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF:
        return "cjk"
    if ch.isalpha():
        if code < 0x250:
            return "lower" if ch.islower() else "upper" if ch.isupper() else "other-letter"
        return "other-letter"
    cat = unicodedata.category(ch)
    if cat.startswith("P"):
        return "punct"
    if cat.startswith("S"):
        return "symbol"
    return "other"


def script(text: str) -> str:
    counts: Counter[str] = Counter()
    for ch in text[:2000]:
        if not ch.isalpha():
            continue
        code = ord(ch)
        if code < 0x250:
            counts["latin"] += 1
        elif 0x400 <= code < 0x530:
            counts["cyrillic"] += 1
        elif 0x590 <= code < 0x700:
            counts["hebrew/arabic"] += 1
        elif 0x3040 <= code < 0x3100:
            counts["japanese"] += 1
        elif 0xAC00 <= code <= 0xD7AF:
            counts["korean"] += 1
        elif 0x2E80 <= code <= 0x9FFF:
            counts["cjk"] += 1
        else:
            counts["other"] += 1
    return counts.most_common(1)[0][0] if counts else "none"


_FORMAT_TESTS: dict[str, Callable[[str], bool]] = {
    "markdown": lambda t: bool(re.search(r"(^|\n)(#{1,6} |\s*[-*] |\s*\d+\. |> )|\*\*[^*]+\*\*|\[[^\]]+\]\([^)]+\)", t)),
    "json": lambda t: t.strip()[:1] in ("{", "[") or bool(re.search(r'\{\s*"[^"]+"\s*:', t)),
    "code": lambda t: "```" in t or bool(re.search(r"(^|\n)\s*(def |class |import |function |public |#include|SELECT )|;\s*\n|\)\s*\{", t)),
    "url": lambda t: bool(re.search(r"https?://|www\.", t)),
    "emoji": lambda t: any(ord(ch) >= 0x1F300 or 0x2600 <= ord(ch) <= 0x27BF for ch in t),
    "chat slang": lambda t: _slang_share(t) >= 0.05 or (t[:1].islower() and not t.rstrip()[-1:] in ".?!:"),
    "question mark": lambda t: "?" in t,
}


def _slang_share(text: str) -> float:
    words = _WORD.findall(text.lower())
    return sum(w in _SLANG for w in words) / len(words) if words else 0.0


def formality(text: str) -> float:
    """A 0-1 score: capitalised start, final punctuation, no slang words, longer words."""
    t = text.strip()
    if not t:
        return 0.5
    words = _WORD.findall(t)
    avg = sum(len(w) for w in words) / len(words) if words else 0
    parts = [t[:1].isupper() or not t[:1].isalpha(), t[-1:] in ".?!:)\"'", _slang_share(t) < 0.02, avg >= 4.2, "!!" not in t]
    return sum(parts) / len(parts)


# ---- statistics ------------------------------------------------------------------------------------


def jsd(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of two count or probability vectors."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    if p.sum() == 0 or q.sum() == 0:
        return 0.0
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return max(0.0, min(1.0, (kl(p) + kl(q)) / 2))


def _null_threshold(rows: np.ndarray, n_a: int, stat: Callable[[np.ndarray, np.ndarray], float], rng: np.random.Generator,
                    floor: float, rounds: int = 20) -> float:
    """max(floor, 95th percentile of ``stat`` between random halves of the pooled per-text rows)."""
    values = []
    for _ in range(rounds):
        order = rng.permutation(rows.shape[0])
        values.append(stat(rows[order[:n_a]], rows[order[n_a:]]))
    return max(floor, float(np.percentile(values, 95)) if values else floor)


def _length_hist(lengths: np.ndarray) -> np.ndarray:
    bins = np.floor(np.log2(np.asarray(lengths, dtype=float).ravel() + 1) * 2).astype(int)
    return np.bincount(np.clip(bins, 0, 40), minlength=41)


def _sum_jsd(a, b) -> float:
    """JSD of the column sums of two row blocks (dense or sparse per-text count matrices)."""
    return jsd(np.asarray(a.sum(axis=0)).ravel(), np.asarray(b.sum(axis=0)).ravel())


def _class_rows(texts: Sequence[str]) -> np.ndarray:
    index = {c: i for i, c in enumerate(_CLASSES)}
    rows = np.zeros((len(texts), len(_CLASSES)))
    for r, t in enumerate(texts):
        for c, n in Counter(t[:5000]).items():
            rows[r, index[char_class(c)]] += n
    return rows


def _short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ---- the comparison --------------------------------------------------------------------------------


def skew(
    train: Dataset,
    production: Dataset,
    *,
    seed: int = 0,
    max_examples: int = 5000,
    permutations: int = 20,
    jsd_floor: float = 0.05,
    production_kind: str = "dataset",
) -> SkewReport:
    """Compare tuning data with production inputs; every signal has a threshold and a verdict.

    ``permutations`` shuffled-label runs set the classifier's threshold (the 95th percentile of their
    AUCs, at least 0.55); with 0 the threshold is 0.55 alone, quicker and less exact on small samples.
    """
    if permutations < 0:
        raise ParameterError("permutations", f"must be >= 0, got {permutations}.")
    if max_examples < 10:
        raise ParameterError("max_examples", f"must be >= 10 (fewer cannot show a skew), got {max_examples}.")
    if len(train) == 0:
        raise SftwiseError(f"{train.path or 'the tuning data'} has no records; nothing to compare.")
    if len(production) == 0:
        raise SftwiseError(f"{production.path or 'the production sample'} has no records; nothing to compare.")
    rng = np.random.default_rng(seed)

    def sample(ds: Dataset) -> list[Conversation]:
        convs = ds.conversations
        if len(convs) > max_examples:
            idx = np.sort(rng.choice(len(convs), max_examples, replace=False))
            convs = [convs[i] for i in idx]
        return convs

    tc, pc = sample(train), sample(production)
    tp, pp = [prompt_text(c) for c in tc], [prompt_text(c) for c in pc]
    signals: list[SkewSignal] = []
    summary: list[str] = []
    findings: list[Finding] = []

    def add(signal: SkewSignal, code: str, sentence: str | None = None) -> None:
        signals.append(signal)
        if signal.verdict == "skew":
            if sentence:
                summary.append(sentence)
            findings.append(emit(code, f"{signal.name}: {signal.detail}", hint=f"statistic {signal.statistic:.3f} > threshold {signal.threshold:.3f}.",
                                 file=production.path))

    # lengths per role
    roles = [("prompt", tp, pp)]
    to, po = [c.output_text() for c in tc], [c.output_text() for c in pc]
    if any(po):
        roles.append(("output", to, po))
    for role, a, b in roles:
        la, lb = [len(_WORD.findall(t)) or len(t) for t in a], [len(_WORD.findall(t)) or len(t) for t in b]
        stat = jsd(_length_hist(la), _length_hist(lb))
        thr = _null_threshold(np.array(la + lb, dtype=float)[:, None], len(la), lambda x, y: jsd(_length_hist(x), _length_hist(y)), rng, 0.1)
        ma, mb = float(np.median(la)), float(np.median(lb))
        verdict = "skew" if stat > thr else "ok"
        lo, hi = np.percentile(la, [5, 95])
        outside = sorted(range(len(lb)), key=lambda i: -max(lo - lb[i], lb[i] - hi))[:3]
        ratio = (mb + 1) / (ma + 1)
        word = "longer" if ratio > 1 else "shorter"
        factor = ratio if ratio > 1 else 1 / ratio
        add(SkewSignal(name=f"length:{role}", statistic=round(stat, 4), threshold=round(thr, 4), verdict=verdict,
                       detail=f"median {ma:.0f} words in tuning data vs {mb:.0f} in production (JSD of log-binned lengths).",
                       train_value=ma, production_value=mb, production_examples=[_short(b[i]) for i in outside if b[i]]),
            "SW501", f"production {role}s are {factor:.1f}x {word} (median {mb:.0f} vs {ma:.0f} words).")

    # vocabulary
    from sklearn.feature_extraction.text import CountVectorizer

    counter = CountVectorizer(token_pattern=r"(?u)\b\w+\b", lowercase=True)
    try:
        xv = counter.fit_transform(tp + pp).tocsr()
    except ValueError:  # no word on either side
        xv = None
    if xv is not None:
        xa, xb = xv[: len(tp)], xv[len(tp) :]
        stat = _sum_jsd(xa, xb)
        thr = _null_threshold(xv, len(tp), _sum_jsd, rng, jsd_floor)
        vocab = counter.get_feature_names_out()
        fa, fb = np.asarray(xa.sum(axis=0)).ravel(), np.asarray(xb.sum(axis=0)).ravel()
        share = fb / max(fb.sum(), 1) - fa / max(fa.sum(), 1)
        over = [vocab[i] for i in np.argsort(-share)[:10]]
        unseen = (fa == 0).astype(float)
        per_text = np.asarray(xb @ unseen).ravel() / np.maximum(np.asarray(xb.sum(axis=1)).ravel(), 1)
        odd = [pp[i] for i in np.argsort(-per_text)[:3] if per_text[i] > 0]
        oov = float(per_text.mean())
        add(SkewSignal(name="vocabulary", statistic=round(stat, 4), threshold=round(thr, 4), verdict="skew" if stat > thr else "ok",
                       detail=f"words much more frequent in production: {', '.join(over[:8])}; {oov:.0%} of a production prompt's words, on average, never occur in the tuning data.",
                       production_value=oov, production_examples=[_short(t) for t in odd]),
            "SW502", f"production uses other words (e.g. {', '.join(over[:5])}); {oov:.0%} of its words never occur in the tuning data.")

    # character classes
    rows = np.vstack([_class_rows(tp), _class_rows(pp)])
    stat = _sum_jsd(rows[: len(tp)], rows[len(tp) :])
    thr = _null_threshold(rows, len(tp), _sum_jsd, rng, 0.02)
    sa, sb = rows[: len(tp)].sum(axis=0), rows[len(tp) :].sum(axis=0)
    sa, sb = sa / max(sa.sum(), 1), sb / max(sb.sum(), 1)
    diffs = sorted(zip(_CLASSES, sb - sa), key=lambda x: -abs(x[1]))[:3]
    add(SkewSignal(name="characters", statistic=round(stat, 4), threshold=round(thr, 4), verdict="skew" if stat > thr else "ok",
                   detail="largest differences (production minus tuning share): " + ", ".join(f"{c} {d:+.1%}" for c, d in diffs)),
        "SW503", "character mix differs: " + ", ".join(f"{c} {d:+.1%}" for c, d in diffs[:2]) + " in production.")

    # formatting features, register and script
    for feature, test in _FORMAT_TESTS.items():
        fa = [test(t) for t in tp]
        fb = [test(t) for t in pp]
        ra, rb = float(np.mean(fa)), float(np.mean(fb))
        diff = abs(ra - rb)
        se = math.sqrt(max(ra * (1 - ra) / len(fa) + rb * (1 - rb) / len(fb), 1e-12))
        verdict = "skew" if diff >= 0.1 and diff / se > 3 else "ok"
        ex_b = [_short(t) for t, f in zip(pp, fb) if f != (rb < ra)][:3] if verdict == "skew" else []
        ex_a = [_short(t) for t, f in zip(tp, fa) if f != (ra < rb)][:3] if verdict == "skew" else []
        if feature != "chat slang":
            add(SkewSignal(name=f"format:{feature}", statistic=round(diff, 4), threshold=0.1, verdict=verdict,
                           detail=f"{rb:.0%} of production prompts vs {ra:.0%} of tuning prompts.", train_value=ra, production_value=rb,
                           train_examples=ex_a, production_examples=ex_b),
                "SW504", f"{rb:.0%} of production prompts have {feature} vs {ra:.0%} of tuning prompts.")
    fa_, fb_ = np.array([formality(t) for t in tp]), np.array([formality(t) for t in pp])
    diff = float(fa_.mean() - fb_.mean())
    verdict = "skew" if abs(diff) >= 0.15 else "ok"
    formal_side, casual_side = ("tuning data", "production") if diff > 0 else ("production", "tuning data")
    casual = pp if diff > 0 else tp
    slang = [t for t in casual if _slang_share(t) > 0 or formality(t) < 0.5][:3]
    add(SkewSignal(name="format:register", statistic=round(abs(diff), 4), threshold=0.15, verdict=verdict,
                   detail=f"mean formality {fa_.mean():.2f} in tuning data vs {fb_.mean():.2f} in production (capitalisation, final punctuation, slang words, word length).",
                   train_value=float(fa_.mean()), production_value=float(fb_.mean()),
                   production_examples=[_short(t) for t in slang] if diff > 0 else [], train_examples=[_short(t) for t in slang] if diff <= 0 else []),
        "SW504", f"{formal_side} is formal, {casual_side} is chat slang (formality {max(fa_.mean(), fb_.mean()):.2f} vs {min(fa_.mean(), fb_.mean()):.2f}).")
    sc_a, sc_b = Counter(script(t) for t in tp), Counter(script(t) for t in pp)
    for name in sorted(set(sc_a) | set(sc_b)):
        ra, rb = sc_a[name] / len(tp), sc_b[name] / len(pp)
        if max(ra, rb) < 0.05:
            continue
        verdict = "skew" if abs(ra - rb) >= 0.1 else "ok"
        add(SkewSignal(name=f"format:script:{name}", statistic=round(abs(ra - rb), 4), threshold=0.1, verdict=verdict,
                       detail=f"{rb:.0%} of production prompts vs {ra:.0%} of tuning prompts are mostly {name} script.", train_value=ra, production_value=rb,
                       production_examples=[_short(t) for t in pp if script(t) == name][:3] if rb > ra else []),
            "SW504", f"{rb:.0%} of production prompts are in {name} script vs {ra:.0%} of the tuning data.")

    # system instructions
    sys_a = Counter(c.system or "" for c in tc)
    sys_b = Counter(c.system or "" for c in pc)
    has_a, has_b = 1 - sys_a[""] / len(tc), 1 - sys_b[""] / len(pc)
    if production_kind.startswith("prompts"):
        verdict = "skew" if has_a > 0 else "ok"
        top = sys_a.most_common(1)[0][0] if has_a else ""
        add(SkewSignal(name="system", statistic=round(has_a, 4), threshold=0.0, verdict=verdict if has_a else "n/a",
                       detail=(f"{has_a:.0%} of tuning examples have a system instruction; production prompts carry none, so serve with the same one: "
                               f"{_short(top, 100)!r}") if has_a else "neither side has system instructions.",
                       train_examples=[_short(top)] if top else []),
            "SW505", "the tuning data has a system instruction that production prompts do not carry; send it at serving time.")
    else:
        unseen = sum(n for s, n in sys_b.items() if s not in sys_a) / len(pc)
        verdict = "skew" if unseen >= 0.1 or abs(has_a - has_b) >= 0.1 else "ok"
        odd = [s for s in sys_b if s not in sys_a][:3]
        add(SkewSignal(name="system", statistic=round(max(unseen, abs(has_a - has_b)), 4), threshold=0.1, verdict=verdict,
                       detail=f"{has_a:.0%} of tuning vs {has_b:.0%} of production examples have a system instruction; {unseen:.0%} of production uses one never seen in tuning.",
                       train_value=has_a, production_value=has_b, production_examples=[_short(s) or "(none)" for s in odd],
                       train_examples=[_short(s) or "(none)" for s, _ in sys_a.most_common(2)]),
            "SW505", f"system instructions differ: {unseen:.0%} of production uses one the tuning data never has.")

    # domain classifier
    words: dict[str, list[str]] = {}
    clf = _domain_classifier(tp, pp, seed, permutations)
    if clf is not None:
        auc, thr, top_a, top_b, ex_a, ex_b = clf
        words = {"tuning": top_a, "production": top_b}
        add(SkewSignal(name="classifier", statistic=round(auc, 4), threshold=round(thr, 4), verdict="skew" if auc > thr else "ok",
                       detail=f"TF-IDF + logistic regression tells the two apart with ROC-AUC {auc:.2f} (5-fold); words typical of production: {', '.join(top_b[:8])}; of tuning data: {', '.join(top_a[:8])}.",
                       train_examples=ex_a, production_examples=ex_b),
            "SW506", f"a classifier tells tuning data from production (AUC {auc:.2f} > {thr:.2f}); production is marked by {', '.join(top_b[:5])}.")
    else:
        signals.append(SkewSignal(name="classifier", statistic=0.0, threshold=0.0, verdict="n/a", detail="too few examples (need 10 per side) for a cross-validated classifier."))

    verdict = "skew" if any(s.verdict == "skew" for s in signals) else "ok"
    if verdict == "ok":
        summary.append("no signal of training-serving skew: the tuning data looks like the production sample.")
    return SkewReport(train=train.path, production=production.path, n_train=len(train), n_production=len(production),
                      production_kind=production_kind, verdict=verdict, summary=summary, signals=signals, characteristic_words=words,
                      findings=findings, settings={"seed": str(seed), "max_examples": str(max_examples), "permutations": str(permutations),
                                                   "jsd": "base 2, floor max(fixed, p95 of random halves)"})


def _domain_classifier(a: list[str], b: list[str], seed: int, permutations: int):
    if min(len(a), len(b)) < 10:
        return None
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    rng = np.random.default_rng(seed)
    cap = 1500  # per side: enough for a stable AUC, and 2 x 1500 keeps the permutation test to seconds
    if len(a) > cap:
        a = [a[i] for i in np.sort(rng.choice(len(a), cap, replace=False))]
    if len(b) > cap:
        b = [b[i] for i in np.sort(rng.choice(len(b), cap, replace=False))]
    texts = [t if t.strip() else "<empty>" for t in a + b]
    y = np.array([0] * len(a) + [1] * len(b))
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=20_000, token_pattern=r"(?u)\b\w+\b|[^\w\s]")
    x = vec.fit_transform(texts)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    model = LogisticRegression(solver="liblinear", C=1.0)
    proba = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, proba))
    null = []
    for _ in range(permutations):
        yp = rng.permutation(y)
        pp = cross_val_predict(model, x, yp, cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=seed), method="predict_proba")[:, 1]
        null.append(roc_auc_score(yp, pp))
    thr = max(0.55, float(np.percentile(null, 95))) if null else 0.55  # permutations=0: the fixed floor alone
    model.fit(x, y)
    names = vec.get_feature_names_out()
    coef = model.coef_[0]
    top_b = [names[i] for i in np.argsort(-coef)[:10]]
    top_a = [names[i] for i in np.argsort(coef)[:10]]
    ex_b = [_short(b[i]) for i in np.argsort(-proba[len(a):])[:3]]
    ex_a = [_short(a[i]) for i in np.argsort(proba[: len(a)])[:3]]
    return auc, thr, top_a, top_b, ex_a, ex_b


def skew_files(train: str | os.PathLike[str], production: str | os.PathLike[str], *, field_map: dict[str, str] | None = None, **kwargs) -> SkewReport:
    """:func:`skew` on files: the tuning data through ``sftwise.formats.load``, production through :func:`load_production`."""
    from sftwise.formats import load

    train_ds = load(train, field_map=field_map)
    prod_ds, kind = load_production(production)
    if Path(os.fspath(train)).resolve() == Path(os.fspath(production)).resolve():
        raise SftwiseError("TRAIN and PRODUCTION are the same file; give a sample of production inputs.")
    return skew(train_ds, prod_ds, production_kind=kind, **kwargs)
