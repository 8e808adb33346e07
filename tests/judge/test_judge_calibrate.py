"""Calibration against human labels: picks the judge that tracks humans over one that is noise."""

from __future__ import annotations

import csv
import json
import random

import pytest
from judge_fakes import FakeGenerator, make_items, qualities, spec, write_results
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from sftwise.cli import app
from sftwise.errors import SftwiseError
from sftwise.evaluate.results import read_results
from sftwise.judge.autorater import run_judge
from sftwise.judge.calibrate import JudgeConfig, calibrate, load_judge_run, search
from sftwise.judge.rubric import load_rubric
from sftwise.judge.labels import Label

N = 150
ANNOTATORS = ["alice", "bob", "chen"]


def human_labels(q: list[int], ids: list[str], annotators=ANNOTATORS, seed: int = 7) -> list[Label]:
    """Each annotator sees the latent quality with an off-by-one slip 30 % of the time; each labels ~80 % of items."""
    rng = random.Random(seed)
    labels = []
    for ann in annotators:
        for item, quality in zip(ids, q):
            if rng.random() < 0.2:
                continue
            slip = rng.choices([-1, 0, 1], [0.15, 0.7, 0.15])[0]
            labels.append(Label(item_id=item, annotator=ann, task="task_specific", score=min(5, max(1, quality + slip))))
    return labels


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cal")
    items = make_items(N, seed=11)
    q = qualities(N, seed=12)
    res = write_results(tmp / "res", "tuned", items, q)
    rubric = load_rubric("task_specific")
    run_judge(res, FakeGenerator("good-judge"), rubric, tmp / "good")
    run_judge(res, FakeGenerator("noise-judge"), rubric, tmp / "noise")
    small = write_results(tmp / "small", "tuned", items[:50], q[:50])
    return {"tmp": tmp, "items": items, "q": q, "res": res, "small": small, "ids": [it["id"] for it in items]}


def test_picks_the_judge_that_tracks_humans(world):
    labels = human_labels(world["q"], world["ids"])
    scale = load_judge_run(world["tmp"] / "good")[1]
    runs = [load_judge_run(world["tmp"] / "noise")[0], load_judge_run(world["tmp"] / "good")[0]]
    report = calibrate(labels, runs, scale, seed=0)
    by_source = {c.source: c for c in report.candidates}
    g, n = by_source[str(world["tmp"] / "good")], by_source[str(world["tmp"] / "noise")]
    print("good:", g.heldout.kappa_quadratic.fmt(), "noise:", n.heldout.kappa_quadratic.fmt(), "IAA:", report.inter_annotator.mean_kappa)
    assert report.chosen == g.name != n.name
    assert g.heldout.kappa_quadratic.ci_low > 0.6 and n.heldout.kappa_quadratic.ci_high < 0.4
    assert g.heldout.spearman.value > 0.7 and abs(n.heldout.spearman.value) < 0.3
    assert set(report.tuning_ids).isdisjoint(report.heldout_ids) and len(report.heldout_ids) == pytest.approx(N / 2, abs=1)
    iaa = report.inter_annotator
    assert iaa.computable and len(iaa.pairs) == 3 and 0.5 < iaa.mean_kappa < 0.95
    assert "agrees with your annotators as well as they agree with each other" in report.verdict
    assert report.findings == []
    assert sum(map(sum, g.overall.confusion.matrix)) == g.overall.n


def test_inter_annotator_kappa_equals_sklearn(world):
    labels = human_labels(world["q"], world["ids"])
    run, scale = load_judge_run(world["tmp"] / "good")
    report = calibrate(labels, [run], scale)
    pair = next(p for p in report.inter_annotator.pairs if (p.rater_a, p.rater_b) == ("alice", "bob"))
    a = {lab.item_id: lab.score for lab in labels if lab.annotator == "alice"}
    b = {lab.item_id: lab.score for lab in labels if lab.annotator == "bob"}
    shared = [i for i in a if i in b]
    assert pair.n == len(shared)
    assert pair.kappa == pytest.approx(cohen_kappa_score([a[i] for i in shared], [b[i] for i in shared], weights="quadratic", labels=[1, 2, 3, 4, 5]))


def test_one_annotator_says_not_computable(world):
    labels = human_labels(world["q"], world["ids"], annotators=["alice"])
    run, scale = load_judge_run(world["tmp"] / "good")
    report = calibrate(labels, [run], scale)
    assert not report.inter_annotator.computable
    assert report.inter_annotator.note.startswith("not computable: only one annotator (alice)")
    assert "cannot be said" in report.verdict and "not computable" in report.verdict


def test_unknown_ids_become_findings(world, tmp_path):
    path = tmp_path / "labels.csv"
    rows = [{"id": world["ids"][i], "annotator": "alice", "score": world["q"][i]} for i in range(40)]
    rows += [{"id": "ex-9999", "annotator": "alice", "score": 3}]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "annotator", "score"])
        writer.writeheader()
        writer.writerows(rows)
    from sftwise.judge.labels import read_label_file

    run, scale = load_judge_run(world["tmp"] / "good")
    report = calibrate(read_label_file(path), [run], scale)
    assert len(report.findings) == 1
    f = report.findings[0]
    assert f.code == "SW801" and f.line == 42 and f.file == str(path) and "ex-9999" in f.message
    with pytest.raises(SftwiseError, match="no human scores refer to the judged example ids"):
        calibrate([Label(item_id="zz", annotator="a", task="t", score=3)], [run], scale)
    with pytest.raises(SftwiseError, match=r"outside the judge's scale"):
        calibrate([Label(item_id=world["ids"][0], annotator="a", task="t", score=7)], [run], scale)


def test_search_over_judges_rubric_and_few_shot(world):
    labels = human_labels(world["q"], world["ids"])
    preds = read_results(world["res"]).predictions
    configs = [JudgeConfig(judge=j, rubric="task_specific", few_shot=k) for j in ("noise-judge", "good-judge") for k in (0, 3)]
    report = search(preds, labels, configs, make_generator=FakeGenerator, resamples=200)
    assert report.chosen.startswith("good-judge / task_specific")
    shots = next(c for c in report.candidates if c.name == "good-judge / task_specific / 3-shot")
    assert shots.heldout.n == len(report.heldout_ids)  # few-shot items come from the tuning part only


def test_pairwise_calibration(world, tmp_path):
    items, qa = world["items"][:60], world["q"][:60]
    qb = qualities(60, seed=13)
    a = write_results(tmp_path / "a", "tuned", items, qa)
    b = write_results(tmp_path / "b", "base", items, qb, style=1)
    run_judge(a, FakeGenerator("good-judge"), load_rubric("task_specific"), tmp_path / "j", against=b)
    labels = [Label(item_id=it["id"], annotator=ann, task="pairwise", preference="A" if x > y else "B" if y > x else "tie")
              for ann in ("alice", "bob") for it, x, y in zip(items, qa, qb)]
    run, scale = load_judge_run(tmp_path / "j")
    report = calibrate(labels, [run], scale)
    c = report.candidates[0]
    assert report.mode == "pairwise" and c.overall.exact.value == 1.0 and c.position_consistency == 1.0
    assert "as well as they agree with each other" in report.verdict
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps({"id": lab.item_id, "annotator": lab.annotator, "preference": lab.preference}) + "\n" for lab in labels))
    out = CliRunner().invoke(app, ["calibrate", "--human", str(path), "--judge-results", str(tmp_path / "j")])
    assert out.exit_code == 0, out.output
    assert "position consistency" in out.output and "tie" in out.output


def test_cli_calibrate_and_search(world, tmp_path, judge_server):
    labels = human_labels(world["q"], world["ids"])
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps({"id": lab.item_id, "annotator": lab.annotator, "score": lab.score}) + "\n" for lab in labels))
    out = CliRunner().invoke(app, ["calibrate", "--human", str(path), "--judge-results", str(world["tmp"] / "good"),
                                   "--judge-results", str(world["tmp"] / "noise"), "--json", str(tmp_path / "cal.json")])
    assert out.exit_code == 0, out.output
    assert "agrees with your annotators as well as they agree with each other" in out.output and "confusion matrix" in out.output
    assert json.loads((tmp_path / "cal.json").read_text())["chosen"].startswith("fake:good-judge")
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"judges: ['{spec(judge_server, 'noise-judge')}', '{spec(judge_server, 'good-judge')}']\nrubrics: [task_specific]\n")
    out = CliRunner().invoke(app, ["calibrate", "--human", str(path), "--search", str(grid), "--results", str(world["small"]),
                                   "--json", str(tmp_path / "search.json")])
    assert out.exit_code == 0, out.output
    assert "good-judge" in json.loads((tmp_path / "search.json").read_text())["chosen"]
    bad = CliRunner().invoke(app, ["calibrate", "--human", str(path)])
    assert bad.exit_code == 2 and "--judge-results" in bad.output
    grid.write_text("judgs: [x]\nrubrics: [fluency]\n")
    bad = CliRunner().invoke(app, ["calibrate", "--human", str(path), "--search", str(grid), "--results", str(world["res"])])
    assert bad.exit_code == 2 and "judgs" in bad.output
