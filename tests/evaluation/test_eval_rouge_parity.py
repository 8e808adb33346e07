"""ROUGE equals Google's rouge-score, score for score, on random and real texts, with and without stemming."""

from __future__ import annotations

import json
import random

import pytest

from sftwise.evaluate.rouge import lcs_length, rouge_scores, tokenize

rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


def _random_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    vocab = ["the", "a", "cat", "cats", "running", "runs", "ran", "dog", "1", "42", "x", "Über", "naïve", "中文", "!", ",", "generously", "happily"]
    seps = [" ", " ", " ", "\n", "  ", ", ", ". "]

    def text() -> str:
        return "".join(rng.choice(vocab) + rng.choice(seps) for _ in range(rng.randint(0, 40)))

    pairs = [(text(), text()) for _ in range(n)]
    pairs += [("", ""), ("", "a b"), ("a b", ""), ("\n\n", "\n"), ("same text here", "same text here")]
    return pairs


def _real_pairs(gsm8k_path, limit: int = 1200) -> list[tuple[str, str]]:
    pairs = []
    with open(gsm8k_path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            pairs.append((row["ground_truth"], row["175b_verification"]["solution"]))
            pairs.append((row["question"], row["6b_finetuning"]["solution"]))
            if len(pairs) >= limit:
                break
    return pairs


def _check(pairs, stem: bool) -> None:
    scorer = rouge_scorer.RougeScorer(TYPES, use_stemmer=stem)
    for target, prediction in pairs:
        expected = scorer.score(target, prediction)
        got = rouge_scores(target, prediction, TYPES, use_stemmer=stem)
        for t in TYPES:
            assert got[t] == tuple(expected[t]), (t, target, prediction)


@pytest.mark.parametrize("stem", [False, True])
def test_random_texts_match_rouge_score(stem):
    _check(_random_pairs(2500, seed=int(stem)), stem)


@pytest.mark.parametrize("stem", [False, True])
def test_gsm8k_texts_match_rouge_score(gsm8k_solutions, stem):
    _check(_real_pairs(gsm8k_solutions), stem)


def test_lcs_matches_dynamic_programming():
    rng = random.Random(3)
    for _ in range(300):
        a = [rng.choice("abcd") for _ in range(rng.randint(0, 90))]
        b = [rng.choice("abcd") for _ in range(rng.randint(0, 90))]
        table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                table[i][j] = table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(table[i - 1][j], table[i][j - 1])
        assert lcs_length(a, b) == table[-1][-1]


def test_default_tokenizer_drops_non_ascii_and_unicode_option_keeps_it():
    chinese = "今天天气很好"
    assert tokenize(chinese) == []
    assert rouge_scores(chinese, chinese, ["rougeL"])["rougeL"][2] == 0.0  # rouge-score's behaviour, kept
    assert tokenize(chinese, tokenizer="unicode") == list(chinese)
    assert rouge_scores(chinese, chinese, ["rougeL"], tokenizer="unicode")["rougeL"][2] == 1.0
    assert tokenize("Straße Über naïve café", tokenizer="unicode") == ["strasse", "über", "naïve", "café"]
    russian = rouge_scores("кошка сидит на окне", "кошка спит на окне", ["rouge1"], tokenizer="unicode")["rouge1"][2]
    assert russian == pytest.approx(0.75)


def test_megabyte_prediction_is_scored_quickly():
    import time

    big = ("lorem ipsum dolor sit amet " * 40_000)[:1_000_000]
    start = time.perf_counter()
    scores = rouge_scores("lorem ipsum dolor", big, ["rouge1", "rougeL"])
    assert time.perf_counter() - start < 10
    assert scores["rougeL"][1] == 1.0  # recall: the whole reference is in there
