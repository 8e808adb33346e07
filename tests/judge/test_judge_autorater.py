"""Pointwise and pairwise judging against a fake OpenAI-compatible judge server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from judge_fakes import FakeGenerator, make_items, qualities, spec, write_results
from typer.testing import CliRunner

from sftwise.cli import app
from sftwise.evaluate.results import EvalSummary, read_results
from sftwise.errors import SftwiseError
from sftwise.io import read_jsonl
from sftwise.judge.autorater import run_judge
from sftwise.judge.rubric import load_rubric

N = 120


@pytest.fixture(scope="module")
def items():
    return make_items(N, seed=1)


def _equal_pair(tmp_path: Path, items) -> tuple[Path, Path, float]:
    """Two models of equal overall quality: item pairs (i, i+1) swap their qualities between A and B."""
    qa = qualities(N, seed=2)
    qb = [qa[i + 1] if i % 2 == 0 else qa[i - 1] for i in range(N)]
    a = write_results(tmp_path / "a", "model-a", items, qa, style=0)
    b = write_results(tmp_path / "b", "model-b", items, qb, style=1)
    truth = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x, y in zip(qa, qb)) / N
    return a, b, truth


def test_pairwise_detects_position_bias_and_both_orders_cancel_it(tmp_path, items, judge_server):
    a, b, truth = _equal_pair(tmp_path, items)
    assert truth == 0.5
    rubric = load_rubric("task_specific")
    biased = run_judge(a, spec(judge_server, "biased-judge"), rubric, tmp_path / "out", against=b, cache=False)
    pb = biased.position_bias
    print("biased judge:", pb.message, "| both orders:", biased.win_rate.fmt(3), "| consistency:", biased.position_consistency.fmt(3))
    assert pb.detected and pb.p_value < 1e-3 and pb.first_position_rate > 0.6
    # one order alone is fooled: A looks better when shown first, worse when shown second
    assert pb.win_rate_a_first.ci_low > 0.55 and pb.win_rate_b_first.ci_high < 0.45
    # both orders together: the win rate is back at the truth, its CI covers 0.5
    assert biased.win_rate.ci_low < 0.5 < biased.win_rate.ci_high
    assert abs(biased.win_rate.value - truth) < 0.03
    assert biased.position_consistency.value < 0.8
    assert "position bias detected" in pb.message

    fair = run_judge(a, spec(judge_server, "good-judge"), rubric, tmp_path / "out-fair", against=b, cache=False)
    assert not fair.position_bias.detected and fair.position_consistency.value == 1.0
    assert fair.win_rate.value == pytest.approx(truth)
    assert abs(fair.position_bias.win_rate_a_first.value - fair.position_bias.win_rate_b_first.value) < 1e-9

    # the pairwise score joins the results directory as a metric with a CI
    judged = read_results(tmp_path / "out")
    preds, summary = judged.predictions, judged.summary
    metric = "judge:task_specific:win_rate"
    assert all(metric in p.scores for p in preds)
    assert summary.metrics[metric].ci_low is not None and summary.metrics[metric].n == N
    rows = read_jsonl(tmp_path / "out" / "judgments.jsonl")
    assert {"verdict_a_first", "verdict_b_first", "consistent"} <= set(rows[0])


def test_pairwise_direction_survives_bias_when_a_is_better(tmp_path, items, judge_server):
    qa = [min(5, q + 1) for q in qualities(N, seed=3)]
    qb = qualities(N, seed=3)
    a = write_results(tmp_path / "a", "tuned", items, qa)
    b = write_results(tmp_path / "b", "base", items, qb, style=1)
    report = run_judge(a, spec(judge_server, "biased-judge"), load_rubric("task_specific"), tmp_path / "out", against=b, cache=False)
    assert report.win_rate.ci_low > 0.5 and report.wins > report.losses
    assert report.model_a == "tuned" and report.model_b == "base"


def test_pointwise_joins_scores_counts_tokens_and_caches(tmp_path, items, judge_server):
    q = qualities(N, seed=4)
    res = write_results(tmp_path / "res", "model-a", items, q)
    cache = tmp_path / "cache.sqlite"
    calls = judge_server.calls
    report = run_judge(res, spec(judge_server, "good-judge"), load_rubric("task_specific"), tmp_path / "out", cache=cache,
                       price_input=1.0, price_output=2.0)
    assert judge_server.calls - calls == N
    assert report.n_scored == N and report.n_missing == 0
    assert report.score_counts == {str(k): q.count(k) for k in sorted(set(q))}
    assert report.usage.prompt_tokens > 0 and report.usage.completion_tokens > 0 and report.usage.cost_usd > 0
    judged = read_results(tmp_path / "out")
    preds, summary = judged.predictions, judged.summary
    assert [p.scores["judge:task_specific"] for p in preds] == [float(x) for x in q]
    m = summary.metrics["judge:task_specific"]
    assert m.ci_low < m.value < m.ci_high and "rubric:task_specific@" in m.signature
    # a second run is answered from the cache: nothing billed, nothing sent
    again = run_judge(res, spec(judge_server, "good-judge"), load_rubric("task_specific"), tmp_path / "out2", cache=cache,
                      price_input=1.0, price_output=2.0)
    assert judge_server.calls - calls == N
    assert again.usage.cached == N and again.usage.prompt_tokens == 0 and again.usage.cost_usd == 0
    assert again.mean_score == report.mean_score


def test_bad_judge_replies_are_missing_with_reasons(tmp_path, items):
    res = write_results(tmp_path / "res", "m", items[:10], [3] * 10)
    rubric = load_rubric("task_specific")
    prose = run_judge(res, FakeGenerator("prose-judge"), rubric, tmp_path / "p")
    assert prose.n_missing == 10 and prose.mean_score.value is None
    assert list(prose.missing_reasons) == ["no JSON object with a score in the reply"]
    out = run_judge(res, FakeGenerator("outofscale-judge"), rubric, tmp_path / "o")
    assert out.missing_reasons == {"score 9 is outside the scale 1..5": 10}
    judged = read_results(tmp_path / "o")
    preds, summary = judged.predictions, judged.summary
    assert all(p.scores["judge:task_specific"] is None for p in preds)
    assert "judge:task_specific" not in summary.metrics  # no fake zero
    empty = run_judge(res, FakeGenerator("empty-explanation-judge"), rubric, tmp_path / "e")
    assert empty.n_scored == 10 and empty.empty_explanations == 10


def test_generation_errors_and_unmatched_ids(tmp_path, items):
    res = write_results(tmp_path / "res", "m", items[:6], [3] * 6)
    rows = read_jsonl(res / "predictions.jsonl")
    rows[0]["prediction"], rows[0]["error"] = None, "timeout"
    (res / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    other = write_results(tmp_path / "other", "m2", items[2:8], [4] * 6)
    report = run_judge(res, FakeGenerator(), load_rubric("task_specific"), tmp_path / "out", against=other)
    assert report.n == 4 and set(report.unmatched_ids) == {items[0]["id"], items[1]["id"], items[6]["id"], items[7]["id"]}
    point = run_judge(res, FakeGenerator(), load_rubric("task_specific"), tmp_path / "pt")
    assert point.missing_reasons == {"no prediction to judge (generation error: timeout)": 1}
    with pytest.raises(SftwiseError, match="not a results directory"):
        run_judge(tmp_path / "nope", FakeGenerator(), load_rubric("fluency"), tmp_path / "x")


def test_cli_judge_pairwise(tmp_path, items, judge_server):
    a, b, _ = _equal_pair(tmp_path, items)
    result = CliRunner().invoke(app, ["judge", str(a), "--judge", spec(judge_server, "biased-judge"), "--rubric", "task_specific",
                                      "--against", str(b), "-o", str(tmp_path / "out"), "--no-cache", "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "position bias detected" in result.output and "position consistency" in result.output
    assert json.loads((tmp_path / "r.json").read_text())["position_bias"]["detected"] is True
    EvalSummary.model_validate_json((tmp_path / "out" / "summary.json").read_text())
    bad = CliRunner().invoke(app, ["judge", str(a), "--judge", "nonsense", "--rubric", "fluency", "-o", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown backend" in bad.output and "Traceback" not in bad.output
    typo = CliRunner().invoke(app, ["judge", str(a), "--judge", spec(judge_server, "good-judge"), "--rubric", "fluensy", "-o", str(tmp_path / "x")])
    assert typo.exit_code == 2 and "did you mean 'fluency'" in typo.output


def test_judge_scores_join_compare(tmp_path, items):
    compare = pytest.importorskip("sftwise.evaluate.compare").compare
    qa, qb = qualities(40, seed=5), [min(5, q + 1) for q in qualities(40, seed=5)]
    a = write_results(tmp_path / "a", "base", items[:40], qa)
    b = write_results(tmp_path / "b", "tuned", items[:40], qb, style=1)
    rubric = load_rubric("task_specific")
    run_judge(a, FakeGenerator(), rubric, tmp_path / "a_judged")  # never in place: the judged results are a new directory
    run_judge(b, FakeGenerator(), rubric, tmp_path / "b_judged")
    report = compare([tmp_path / "a_judged", tmp_path / "b_judged"], metrics=["judge:task_specific"], resamples=200)
    delta = report.comparisons[0].metrics[0].model_dump()
    assert delta["metric"] == "judge:task_specific" and delta["delta"] == pytest.approx(sum(y - x for x, y in zip(qa, qb)) / 40)
    assert delta["ci_low"] > 0
