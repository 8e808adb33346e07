"""Metrics against their reference implementations: sacrebleu, scikit-learn, statsmodels, SQuAD."""

from __future__ import annotations

import random

import numpy as np
import pytest

from sftwise.evaluate.metrics import (
    MetricOptions,
    TextNormalization,
    compute,
    exact_match,
    extract_final_answer,
    normalize_number,
    parse_metric_list,
    token_f1,
)
from sftwise.evaluate.stats import bootstrap_ci, mcnemar_exact, paired_bootstrap
from sftwise.errors import ParameterError, SftwiseError

HYPS = ["The cat sat on the mat.", "A quick brown fox", "", "Completely different words here", "Il pleut aujourd'hui, dit-il.", "数字 123"]
REFS = ["The cat is on the mat.", "The quick brown fox jumps", "Something", "Nothing in common at all", "Il pleut aujourd'hui.", "数字 124"]


def test_squad_exact_match_and_f1():
    assert exact_match("The Eiffel Tower!", "eiffel   tower") == 1.0
    assert exact_match("The Eiffel Tower!", "eiffel tower", TextNormalization(lowercase=False)) == 0.0
    assert exact_match("eiffel tower!", "eiffel tower", TextNormalization(punctuation=False)) == 0.0
    assert exact_match("the tower", "tower", TextNormalization(articles=False)) == 0.0
    assert exact_match("a  b", "a b", TextNormalization.none()) == 0.0
    assert exact_match("x", ["y", "x"]) == 1.0  # best over references
    assert token_f1("the cat sat", "a cat sat down") == pytest.approx(2 * (2 / 2) * (2 / 3) / (2 / 2 + 2 / 3))
    assert token_f1("", "") == 1.0 and token_f1("", "x") == 0.0
    assert exact_match("x", None) is None
    assert TextNormalization.parse("lower,space") == TextNormalization(True, False, False, True)
    with pytest.raises(SftwiseError, match="unknown part"):
        TextNormalization.parse("lower,stem")


def test_bleu_and_chrf_equal_sacrebleu():
    sacrebleu = pytest.importorskip("sacrebleu")
    bleu = compute("bleu", HYPS, REFS)
    assert bleu.value == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score, abs=1e-9)
    for h, r, s in zip(HYPS, REFS, bleu.per_example):
        assert s == pytest.approx(sacrebleu.sentence_bleu(h, [r]).score, abs=1e-9)
    assert bleu.signature.startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    chrf = compute("chrf", HYPS, REFS)
    assert chrf.value == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score, abs=1e-9)
    for h, r, s in zip(HYPS, REFS, chrf.per_example):
        assert s == pytest.approx(sacrebleu.sentence_chrf(h, [r]).score, abs=1e-9)
    # the bootstrap aggregate over all indices is the corpus score
    assert bleu.aggregate(np.arange(len(HYPS))) == pytest.approx(bleu.value)


def test_bleu_parity_on_random_corpus():
    sacrebleu = pytest.importorskip("sacrebleu")
    rng = random.Random(1)
    words = "the a of cat dog runs ran quickly slow , . ! 1 2 3".split()
    hyps = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 25))) for _ in range(400)]
    refs = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 25))) for _ in range(400)]
    assert compute("bleu", hyps, refs).value == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)
    assert compute("chrf", hyps, refs).value == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9)


def test_accuracy_and_macro_f1_equal_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(2)
    labels = ["billing", "bug", "feature", "other"]
    gold = [rng.choice(labels) for _ in range(300)]
    pred = [g if rng.random() < 0.6 else rng.choice(labels) for g in gold]
    pred_noisy = [f"  {p.upper()} " for p in pred]
    acc = compute("accuracy", pred_noisy, gold)
    assert acc.value == pytest.approx(metrics.accuracy_score(gold, pred))
    f1 = compute("macro_f1", pred_noisy, gold)
    assert f1.value == pytest.approx(metrics.f1_score(gold, pred, average="macro"))
    assert compute("accuracy", pred_noisy, gold, MetricOptions(label_case_sensitive=True)).value == 0.0


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("so 3 + 4 = 7\n#### 1,234", "1,234"),
        ("reasoning <<2*3=6>>6 more\nA: $18.00", "$18.00"),
        ("The answer is 42 apples, not 41.", "41."),
        ("no digits here", None),
        ("#### -5", "-5"),
        ("she paid 1/2 of it\nA: 1/2", "1/2"),
    ],
)
def test_math_answer_extraction(text, answer):
    got = extract_final_answer(text)
    assert got == answer or (got is not None and answer is not None and got.strip() == answer.strip().rstrip("."))


def test_numeric_normalisation():
    assert normalize_number("1,234") == normalize_number("1234.00") == "1234"
    assert normalize_number("$18") == "18"
    assert normalize_number("0.50") == normalize_number("1/2") == "0.5"
    assert normalize_number("-3.") == "-3"
    assert compute("math_accuracy", ["... #### 18.0", "A: 7", None], ["A: 18", "#### 8", "#### 1"]).per_example == [1.0, 0.0, 0.0]


def test_json_metrics_and_length_ratio():
    schema = {"type": "object", "required": ["label"], "properties": {"label": {"enum": ["a", "b"]}}}
    preds = ['{"label": "a"}', '```json\n{"label": "c"}\n```', "not json", None]
    refs = ['{"label":"a"}', '{"label": "c"}', "{}", "{}"]
    assert compute("json_valid", preds, refs).per_example == [1.0, 1.0, 0.0, 0.0]
    assert compute("json_schema", preds, refs, MetricOptions(json_schema=schema)).per_example == [1.0, 0.0, 0.0, 0.0]
    assert compute("json_match", preds, refs).per_example == [1.0, 1.0, 0.0, 0.0]
    with pytest.raises(ParameterError, match="json_schema: is required"):
        compute("json_schema", preds, refs)
    with pytest.raises(SftwiseError, match="not valid"):
        compute("json_schema", preds, refs, MetricOptions(json_schema={"type": "nonsense"}))
    assert compute("length_ratio", ["abcd", ""], ["ab", "abc"]).per_example == [2.0, 0.0]


def test_metric_list_validation():
    assert parse_metric_list("exact_match,rouge,f1") == ["exact_match", "rouge1", "rouge2", "rougeL", "rougeLsum", "f1"]
    with pytest.raises(SftwiseError, match="unknown metric 'blue'"):
        parse_metric_list("blue")


def test_mcnemar_equals_statsmodels():
    tables = pytest.importorskip("statsmodels.stats.contingency_tables")
    rng = random.Random(5)
    for _ in range(60):
        n = rng.randint(1, 200)
        a = [rng.random() < 0.6 for _ in range(n)]
        b = [x if rng.random() < 0.7 else rng.random() < 0.5 for x in a]
        ours = mcnemar_exact(a, b)
        table = [[sum(x and y for x, y in zip(a, b)), sum(x and not y for x, y in zip(a, b))], [sum(y and not x for x, y in zip(a, b)), sum(not x and not y for x, y in zip(a, b))]]
        ref = tables.mcnemar(np.array(table), exact=True)
        assert ours.statistic == ref.statistic
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)


def test_bootstrap_is_seeded_and_covers_the_mean():
    rng = np.random.default_rng(0)
    values = rng.random(500)
    agg = lambda idx: float(values[idx].mean())  # noqa: E731
    first = bootstrap_ci(agg, 500, seed=7)
    assert first == bootstrap_ci(agg, 500, seed=7)
    assert first != bootstrap_ci(agg, 500, seed=8)
    assert first[0] < values.mean() < first[1]
    same = paired_bootstrap(agg, agg, 500, seed=1)
    assert same.delta == 0 and same.p_value == 1.0
    better = paired_bootstrap(agg, lambda idx: float(values[idx].mean() + 0.1), 500, seed=1)
    assert better.delta == pytest.approx(0.1) and better.p_value < 0.01


def test_bad_inputs_do_not_crash():
    big = "word " * 200_000  # 1 MB prediction
    preds = ["", big, "日本語の答え", None]
    refs = ["answer", "word", "日本語の答え", None]
    for name in ("exact_match", "f1", "bleu", "chrf", "rougeL", "rougeLsum", "math_accuracy", "json_valid", "length_ratio"):
        result = compute(name, preds, refs)
        assert result.per_example[3] is None or name == "json_valid"
        assert result.n >= 3
    assert compute("exact_match", preds, refs).per_example[:3] == [0.0, 0.0, 1.0]
    assert compute("rougeL", preds, refs).per_example[2] == 0.0  # rouge-score tokenizer: non-ASCII dropped
    assert compute("rougeL", preds, refs, MetricOptions(rouge_tokenizer="unicode")).per_example[2] == 1.0
