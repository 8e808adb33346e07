"""GSM8K: `sftwise eval --predictions` reproduces every published is_correct flag and the four accuracies;
`compare` and `hard-examples` on the results; bad input gives one-line errors (exit 2), never tracebacks."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from eval_helpers import GSM8K, gemini_row, write_jsonl
from sftwise.cli import app
from sftwise.evaluate.compare import compare
from sftwise.evaluate.results import read_results

MODELS = ["6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"]
runner = CliRunner()


def _run(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="module")
def gsm8k_results(gsm8k_solutions, tmp_path_factory):
    root = tmp_path_factory.mktemp("gsm8k")
    out = {}
    for name in MODELS:
        result = _run(
            "eval", "--predictions", str(gsm8k_solutions), "--prediction-field", f"{name}.solution",
            "--reference-field", "ground_truth", "--metrics", "math_accuracy,exact_match", "--resamples", "200", "-o", str(root / name),
        )
        assert result.exit_code == 0, result.output
        out[name] = root / name
    return out


def test_every_is_correct_flag_and_accuracy_reproduced(gsm8k_solutions, gsm8k_results):
    rows = [json.loads(line) for line in gsm8k_solutions.read_text(encoding="utf-8").splitlines()]
    for name in MODELS:
        read = read_results(gsm8k_results[name])
        summary, predictions = read.summary, read.predictions
        assert len(predictions) == len(rows) == 1319
        flags = [row[name]["is_correct"] for row in rows]
        assert [p.scores["math_accuracy"] == 1.0 for p in predictions] == flags
        acc = summary.metrics["math_accuracy"]
        assert acc.value == pytest.approx(sum(flags) / len(flags))
        assert acc.ci_low < acc.value < acc.ci_high


def test_compare_uses_mcnemar_and_pairs_by_id(gsm8k_results, tmp_path):
    report = compare([gsm8k_results["6b_finetuning"], gsm8k_results["175b_verification"]], resamples=200)
    pair = report.comparisons[0]
    acc = next(m for m in pair.metrics if m.metric == "math_accuracy")
    assert acc.test == "mcnemar-exact" and acc.p_value < 1e-10 and acc.delta > 0.3
    assert acc.ci_low < acc.delta < acc.ci_high
    assert acc.wins > acc.losses and acc.wins + acc.ties + acc.losses == 1319
    assert pair.improved and all(c.delta > 0 for c in pair.improved)
    assert pair.regressed and all(c.delta < 0 for c in pair.regressed)
    out = tmp_path / "cmp.json"
    result = _run("compare", str(gsm8k_results["6b_finetuning"]), str(gsm8k_results["175b_verification"]), "--resamples", "100", "--json", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["comparisons"][0]["metrics"][0]["metric"] == "math_accuracy"


def test_hard_examples_finds_similar_training_questions_and_guards_leaks(gsm8k_results, tmp_path):
    train = GSM8K / "train.jsonl"
    test_rows = [json.loads(line) for line in (GSM8K / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    pool_rows = [json.loads(line) for line in train.read_text(encoding="utf-8").splitlines()[:1500]]
    pool = [gemini_row(r["question"], r["answer"]) for r in pool_rows]
    # plant a near duplicate of a failed eval question: it must never be selected
    read = read_results(gsm8k_results["6b_finetuning"])
    summary, predictions = read.summary, read.predictions
    failed = next(p for p in predictions if p.scores["math_accuracy"] == 0.0)
    leak = failed.messages[-1]["content"].replace("every", "each")
    pool.append(gemini_row(leak, "#### 1"))
    pool_path = write_jsonl(tmp_path / "pool.jsonl", pool)
    out = tmp_path / "selected.jsonl"
    report_path = tmp_path / "hard.json"
    result = _run("hard-examples", str(gsm8k_results["6b_finetuning"]), "--train-pool", str(pool_path), "--limit", "50", "-o", str(out), "--json", str(report_path))
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert len(report["failed"]) == round((1 - summary.metrics["math_accuracy"].value) * 1319)
    assert len(report["candidates"]) == 50
    assert f"{pool_path}:{len(pool)}" in report["excluded_near_duplicates"]
    assert all(c["max_eval_jaccard"] < 0.5 for c in report["candidates"])
    assert len(out.read_text().splitlines()) == 50
    assert len(test_rows) == 1319


def test_bad_input_is_a_one_line_error(tmp_path, gsm8k_solutions):
    cases = [
        (["eval", "--predictions", str(gsm8k_solutions), "--prediction-field", "6b_finetuning.solution", "-o", str(tmp_path / "a")], "--reference-field: no row of"),
        (["eval", "--predictions", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "b")], "no such file"),
        (["eval", "--model", "nope:x", "--data", str(gsm8k_solutions), "-o", str(tmp_path / "c")], "unknown backend"),
        (["eval", "-o", str(tmp_path / "d")], "--model: is required"),
        (["eval", "--predictions", str(gsm8k_solutions), "--metrics", "bleu,wer", "-o", str(tmp_path / "e")], "unknown metric 'wer'"),
        (["compare", str(tmp_path)], "at least two"),
        (["compare", str(tmp_path), str(tmp_path)], "not a results directory"),
    ]
    for args, message in cases:
        result = _run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)


def test_missing_reference_empty_and_huge_predictions(tmp_path):
    rows = [
        {"id": "1", "prediction": "Paris", "reference": "paris"},
        {"id": "2", "prediction": "", "reference": "London"},
        {"id": "3", "prediction": "Rome"},
        {"id": "4", "prediction": "word " * 200_000, "reference": "word"},
        {"id": "5", "prediction": "東京です", "reference": "東京です"},
    ]
    path = write_jsonl(tmp_path / "preds.jsonl", rows)
    result = _run("eval", "--predictions", str(path), "--metrics", "exact_match,f1,rougeL,bleu", "--rouge-tokenizer", "unicode", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "without a reference" in result.output
    read = read_results(tmp_path / "out")
    summary, predictions = read.summary, read.predictions
    assert summary.n_missing_reference == 1 and summary.metrics["exact_match"].n == 4
    assert [p.scores["exact_match"] for p in predictions] == [1.0, 0.0, None, 0.0, 1.0]
    assert predictions[4].scores["rougeL"] == 1.0
    # the output of `eval --predictions` can never overwrite its own input
    result = _run("eval", "--predictions", str(tmp_path / "out" / "predictions.jsonl"), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2 and "never overwrites input" in result.output


def test_compare_recomputes_corpus_bleu_and_flags_signature_mismatch(tmp_path):
    import random

    import sacrebleu

    rng = random.Random(0)
    words = "the cat dog sat ran on a mat quickly".split()
    refs = [" ".join(rng.choice(words) for _ in range(8)) for _ in range(60)]
    good = [r if i % 2 else " ".join(rng.choice(words) for _ in range(8)) for i, r in enumerate(refs)]
    bad = [" ".join(rng.choice(words) for _ in range(8)) for _ in refs]
    dirs = []
    for name, preds, extra in (("a", bad, []), ("b", good, []), ("c", good, ["--rouge-stemmer"])):
        path = write_jsonl(tmp_path / f"{name}.jsonl", [{"id": str(i), "prediction": p, "reference": r} for i, (p, r) in enumerate(zip(preds, refs))])
        result = _run("eval", "--predictions", str(path), "--metrics", "bleu,rougeL", "--resamples", "50", *extra, "-o", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        dirs.append(tmp_path / name)
    report = compare(dirs, resamples=200)
    bleu = report.comparisons[0].metrics[0]
    assert bleu.metric == "bleu" and bleu.test == "paired-bootstrap"
    expected = sacrebleu.corpus_bleu(good, [refs]).score - sacrebleu.corpus_bleu(bad, [refs]).score
    assert bleu.delta == pytest.approx(expected)
    assert bleu.ci_low < bleu.delta < bleu.ci_high and bleu.p_value < 0.05
    rouge_b = report.comparisons[0].metrics[1]
    rouge_c = report.comparisons[1].metrics[1]
    assert rouge_b.comparable and not rouge_c.comparable  # stemmer on in c: signatures differ
