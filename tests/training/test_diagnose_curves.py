"""diagnose on a labelled set of curves: synthetic noisy families + tiny runs driven into each regime."""

from __future__ import annotations

import json
import math
from pathlib import Path

from curve_families import synthetic_set

from sftwise.diagnose import THRESHOLDS, diagnose, diagnose_run, smooth
from sftwise.runlog import MetricPoint, read_metrics, write_metrics

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "curves"


def labelled_set() -> list[tuple[str, str, list[MetricPoint]]]:
    cases = synthetic_set(per_kind=12)
    labels = json.loads((FIXTURES / "labels.json").read_text())
    for name, label in sorted(labels.items()):
        cases.append((name, label, read_metrics(FIXTURES / f"{name}.jsonl")))
    return cases


def test_diagnose_is_right_on_at_least_95_percent_of_the_labelled_curves():
    cases = labelled_set()
    assert len(cases) >= 40
    real = [c for c in cases if c[0].startswith("tiny-")]
    assert {label for _, label, _ in real} == {"healthy", "under-trained", "overfitting", "data-issue"}
    wrong = [(name, label, diagnose(points).verdict) for name, label, points in cases if diagnose(points).verdict != label]
    accuracy = 1 - len(wrong) / len(cases)
    print(f"diagnose accuracy {accuracy:.3f} on {len(cases)} curves ({len(real)} from tiny runs); wrong: {wrong}")
    assert accuracy >= 0.95, wrong


def test_overfitting_names_the_checkpoint_at_the_validation_minimum():
    points = []
    val = [3.0, 2.0, 1.5, 1.3, 1.35, 1.5, 1.7]
    for e, v in enumerate(val):
        points.append(MetricPoint(step=e * 10, epoch=e, split="train", scope="epoch", loss=3.0 * 0.7**e))
        points.append(MetricPoint(step=e * 10, epoch=e, split="validation", scope="epoch", loss=v, checkpoint=f"checkpoints/epoch-{e}" if e else None))
    d = diagnose(points)
    assert d.verdict == "overfitting"
    assert d.best_epoch == 3 and d.best_checkpoint == "checkpoints/epoch-3" and d.recommended_epochs == 3
    assert 0.5 < d.confidence <= 1


def test_data_issue_rules():
    nan = [MetricPoint(step=i, epoch=i / 10, split="train", loss=2.0 if i < 5 else float("nan")) for i in range(1, 20)]
    assert diagnose(nan).verdict == "data-issue" and diagnose(nan).confidence > 0.9
    high = [MetricPoint(step=i, epoch=i / 10, split="train", loss=12.0 - i * 0.05) for i in range(1, 20)]
    assert "initial training loss" in diagnose(high).message
    d = diagnose([], data_notes=["x"])
    assert d.verdict == "data-issue"


def test_thresholds_are_documented_and_smoothing_keeps_length():
    import sftwise.diagnose as mod

    for name in THRESHOLDS:
        assert name.upper() in mod.__doc__ or name in mod.__doc__.lower().replace(" ", "_") or getattr(mod, name.upper()) is not None
    assert len(smooth([1.0] * 50)) == 50 and smooth([1.0, 2.0], "epoch") == [1.0, 2.0]


def test_diagnose_run_writes_a_plot(tmp_path):
    name, label, points = synthetic_set(per_kind=1)[2]
    write_metrics(tmp_path / "metrics.jsonl", points)
    d = diagnose_run(tmp_path, plot=tmp_path / "curves.png")
    assert d.verdict == label
    png = (tmp_path / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert not math.isnan(d.confidence)
