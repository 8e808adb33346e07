"""Task metrics during training, checkpoint selection by the task, early stopping (issue 13, items 2-4)."""

from __future__ import annotations

import json

import pytest

from sftwise.errors import ParameterError
from sftwise.runlog import MetricPoint, read_metrics
from sftwise.train.selection import Candidate, choose, early_stop
from sftwise.train.spec import TrainSpec


def _spec(tiny_model, small_data, tmp_path, **extra) -> TrainSpec:
    train, val = small_data
    fields = dict(model=str(tiny_model), train=str(train), validation=str(val), run_dir=str(tmp_path / "run"), epochs=2,
                  batch_size=8, learning_rate=3e-3, tensorboard=False, eval_max_new_tokens=8)
    return TrainSpec.build({**fields, **extra})


def test_task_metrics_are_logged_selected_and_resumed(tiny_model, small_data, tmp_path):
    from sftwise.diagnose import diagnose_run
    from sftwise.evaluate.training import training_evaluator
    from sftwise.train.local import train

    spec = _spec(tiny_model, small_data, tmp_path, eval_metrics=["f1", "exact_match"], eval_generate_examples=6, eval_every=3,
                 early_stopping={"patience": 1, "min_delta": 0.5}, epochs=3)
    result = train(spec, evaluator=training_evaluator(spec))
    run = tmp_path / "run"
    val_epoch = [p for p in read_metrics(run) if p.split == "validation" and p.scope == "epoch" and p.checkpoint]
    assert val_epoch and all(set(p.metrics) == {"f1", "exact_match"} and p.task_eval_examples == 6 and p.task_eval_seconds > 0 for p in val_epoch)
    mid = [p for p in read_metrics(run) if p.split == "validation" and p.scope == "step"]
    assert mid and all(p.metrics for p in mid)  # eval_every points carry the task metrics too
    saved = json.loads((run / "task_eval" / f"step-{val_epoch[0].step:06d}.json").read_text())
    assert len(saved["examples"]) == 6 and all(e["source"].startswith(str(small_data[1])) for e in saved["examples"])
    # min_delta 0.5 on f1 cannot be met: stops after patience=1 evaluation, before the 3 epochs
    assert result.stopped_early and result.epochs_run == 2
    selection = json.loads((run / "selection.json").read_text())
    assert selection["select_by"] == "f1" and selection["early_stopping"]["stopped"]
    assert result.selected_checkpoint == selection["checkpoint"] and result.task_eval_seconds > 0
    assert diagnose_run(run).best_checkpoint == selection["checkpoint"]
    # a resume of a run that stopped early trains nothing more
    again = train(spec, resume=True, evaluator=training_evaluator(spec))
    assert again.epochs_run == 2 and again.steps == result.steps and again.selected_checkpoint == result.selected_checkpoint


def test_a_validation_set_smaller_than_the_subset_is_used_whole_with_a_note(tiny_model, small_data, tmp_path):
    from sftwise.evaluate.training import training_evaluator
    from sftwise.train.local import train

    spec = _spec(tiny_model, small_data, tmp_path, eval_metrics=["exact_match"], epochs=1)
    result = train(spec, evaluator=training_evaluator(spec))
    assert any("all 16 validation examples" in n and "eval_generate_examples=64" in n for n in result.warnings)
    assert read_metrics(tmp_path / "run")[-1].task_eval_examples == 16


@pytest.mark.parametrize("extra, parameter, words", [
    ({"select_by": "rougeL"}, "select_by", "not computed during training"),
    ({"eval_metrics": ["exact_match"], "early_stopping": {"patience": 1, "on": "f1"}}, "early_stopping.on", "add it to eval_metrics"),
    ({"early_stopping": {"patience": 0}}, "early_stopping", "must be >= 1"),
    ({"early_stopping": {"patience": -2}}, "early_stopping", "must be >= 1"),
    ({"eval_generate_examples": 0}, "eval_generate_examples", "must be >= 1"),
])
def test_bad_selection_settings_are_refused_naming_the_parameter(extra, parameter, words):
    with pytest.raises(ParameterError) as err:
        TrainSpec.build({"model": "m", "train": "t.jsonl", **extra})
    assert err.value.parameter == parameter and words in str(err.value)


def test_task_metrics_need_a_validation_set_an_evaluator_and_known_metrics(tiny_model, small_data, tmp_path):
    from sftwise.evaluate.training import training_evaluator
    from sftwise.train.local import train

    no_val = _spec(tiny_model, small_data, tmp_path, eval_metrics=["exact_match"]).model_copy(update={"validation": None})
    with pytest.raises(ParameterError, match="needs a validation set"):
        train(no_val, evaluator=training_evaluator(no_val))
    with pytest.raises(ParameterError, match="need an evaluator"):
        train(_spec(tiny_model, small_data, tmp_path, eval_metrics=["exact_match"]))
    with pytest.raises(ParameterError) as err:
        training_evaluator(_spec(tiny_model, small_data, tmp_path, eval_metrics=["exact_macth"]))
    assert err.value.parameter == "eval_metrics" and "unknown metric 'exact_macth'" in str(err.value)
    with pytest.raises(ParameterError) as err:
        training_evaluator(_spec(tiny_model, small_data, tmp_path, eval_metrics=["json_schema"]))
    assert err.value.parameter == "eval_metrics" and "json_schema" in str(err.value)
    with pytest.raises(ParameterError, match="not a quality"):
        training_evaluator(_spec(tiny_model, small_data, tmp_path, eval_metrics=["length_ratio"], select_by="length_ratio"))
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # refused before training


def _candidates(answers: list[list[str]], losses: list[float]) -> list[Candidate]:
    from sftwise.evaluate.training import MetricsEvaluator

    refs = ["yes"] * len(answers[0])
    ev = MetricsEvaluator(["exact_match"])
    return [Candidate(checkpoint=f"checkpoints/epoch-{i + 1}", epoch=i + 1, step=10 * (i + 1), validation_loss=loss,
                      metrics=ev.score(a, refs), predictions=a) for i, (a, loss) in enumerate(zip(answers, losses))]


def test_choose_prefers_the_earlier_checkpoint_within_noise_and_the_best_when_clearly_better():
    from sftwise.evaluate.training import MetricsEvaluator

    ev, refs = MetricsEvaluator(["exact_match"]), ["yes"] * 64
    close = _candidates([["yes"] * 40 + ["no"] * 24, ["yes"] * 42 + ["no"] * 22], [1.0, 0.9])
    picked = choose(close, "exact_match", ev, refs)
    assert picked.best_checkpoint == "checkpoints/epoch-2" and picked.checkpoint == "checkpoints/epoch-1"
    assert picked.compared[0].within_noise and "within noise" in picked.reason
    far = _candidates([["yes"] * 10 + ["no"] * 54, ["yes"] * 60 + ["no"] * 4], [1.0, 1.2])
    picked = choose(far, "exact_match", ev, refs)
    assert picked.checkpoint == "checkpoints/epoch-2" and not picked.compared[0].within_noise and "measurably worse" in picked.reason
    assert choose(far, "validation_loss").checkpoint == "checkpoints/epoch-1"  # lower is better for the loss


def test_early_stop_counts_evaluations_without_improvement_beyond_min_delta():
    c = [Candidate(checkpoint=f"c{i}", epoch=i, step=i, validation_loss=v) for i, v in enumerate([2.0, 1.5, 1.49, 1.6, 1.2], 1)]
    assert early_stop(c, "validation_loss", patience=2, min_delta=0.05).at_epoch == 4  # 1.49 is within min_delta of 1.5
    assert not early_stop(c, "validation_loss", patience=3, min_delta=0.0).stopped


def _points(losses: list[float], em: list[float] | None) -> list[MetricPoint]:
    points = [MetricPoint(step=10 * i, epoch=i, split="train", scope="epoch", loss=3.0 - 0.4 * i) for i in range(1, len(losses) + 1)]
    for i, loss in enumerate(losses, 1):
        points.append(MetricPoint(step=10 * i, epoch=i, split="validation", scope="epoch", loss=loss, checkpoint=f"checkpoints/epoch-{i}",
                                  metrics={"exact_match": em[i - 1]} if em else None))
    return points


def test_diagnose_val_loss_rising_while_exact_match_climbs_is_not_overfitting_for_the_task():
    from sftwise.diagnose import diagnose

    losses = [2.0, 1.2, 1.0, 1.1, 1.3, 1.5]
    assert diagnose(_points(losses, None)).verdict == "overfitting"
    d = diagnose(_points(losses, [0.1, 0.3, 0.4, 0.5, 0.55, 0.6]))
    assert d.verdict == "healthy" and "not overfitting for the task" in d.message and d.evidence["overturned"] == "overfitting"
    assert "select_by: exact_match" in d.advice[0]
    falling = diagnose(_points(losses, [0.1, 0.5, 0.4, 0.3, 0.2, 0.1]))
    assert falling.verdict == "overfitting" and any("peaked at epoch 2" in a for a in falling.advice)


def _noisy_routing(path, n: int = 100, seed: int = 0) -> set[int]:
    """A routing task the tiny model learns in a few epochs, with 5 % of the team labels flipped; the flipped lines (1-based)."""
    import random

    teams, prios = ["billing", "shipping", "technical", "account"], ["low", "normal", "high"]
    rng = random.Random(seed)
    rows = [(rng.choice(teams), rng.choice(prios)) for _ in range(n)]
    flipped = set(rng.sample(range(n), n // 20))
    with open(path, "w", encoding="utf-8") as f:
        for i, (team, prio) in enumerate(rows):
            answer = rng.choice([t for t in teams if t != team]) if i in flipped else team
            f.write(json.dumps({"contents": [{"role": "user", "parts": [{"text": f"Please route this {team} ticket, priority {prio}."}]},
                                             {"role": "model", "parts": [{"text": json.dumps({"team": answer, "priority": prio})}]}]}) + "\n")
    return {i + 1 for i in flipped}


@pytest.mark.slow
def test_flipped_labels_rank_at_the_top_of_the_per_example_loss(tiny_model, tmp_path):
    from sftwise.diagnose import diagnose_run
    from sftwise.train.local import train

    data = tmp_path / "noisy.jsonl"
    flipped = _noisy_routing(data)
    spec = TrainSpec.build(dict(model=str(tiny_model), train=str(data), run_dir=str(tmp_path / "run"), epochs=5, method="full",
                                learning_rate=1e-2, batch_size=4, tensorboard=False))
    train(spec)
    losses = json.loads((tmp_path / "run" / "example_losses.json").read_text())
    assert losses["checkpoint"] == "checkpoints/epoch-5"  # no validation set: the last checkpoint, said so in selection.json
    ranked = sorted(losses["examples"], key=lambda e: -e["loss"])
    top = {int(e["source"].rsplit(":", 1)[1]) for e in ranked[: len(ranked) // 10]}
    assert len(top & flipped) >= 0.8 * len(flipped)  # measured: 5 of 5
    suspects = {int(s["source"].rsplit(":", 1)[1]) for s in losses["suspects"]}
    assert suspects and suspects <= flipped  # every listed suspect is a flipped label
    d = diagnose_run(tmp_path / "run")
    assert d.label_noise["suspects_total"] == len(suspects)
    assert any(f"{data}:{min(suspects)}" in a for a in d.advice)


def test_length_ratio_never_picks_the_checkpoint(tiny_model, small_data, tmp_path):
    """length_ratio is not a quality: first in eval_metrics it is passed over for the default choice,
    named as early_stopping.on it is refused, and diagnose does not read its curve as the task's."""
    from sftwise.diagnose import Diagnosis, read_task_curves
    from sftwise.runlog import MetricPoint
    from sftwise.train.spec import EarlyStopping

    spec = _spec(tiny_model, small_data, tmp_path, eval_metrics=["length_ratio", "exact_match"])
    assert spec.selection_quantity == "exact_match"
    assert _spec(tiny_model, small_data, tmp_path, eval_metrics=["length_ratio"]).selection_quantity == "validation_loss"
    with pytest.raises(ParameterError, match="early_stopping.on.*not a quality"):
        _spec(tiny_model, small_data, tmp_path, eval_metrics=["length_ratio", "exact_match"], early_stopping=EarlyStopping(patience=1, on="length_ratio"))
    points = [MetricPoint(step=e, epoch=e, split="validation", scope="epoch", loss=1.0 + e, metrics={"length_ratio": 0.5 + e}) for e in (1, 2, 3)]
    verdict = Diagnosis(verdict="overfitting", confidence=0.9, message="validation loss rises", best_epoch=1)
    assert read_task_curves(verdict, points).verdict == "overfitting"
