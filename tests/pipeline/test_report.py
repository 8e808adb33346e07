"""report.html: self-contained, every section present, and it renders in a real headless browser."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftwise.errors import SftwiseError
from sftwise.report import build_report


def test_report_has_every_section_and_no_external_resources(finished_run: Path) -> None:
    html = build_report(finished_run).read_text(encoding="utf-8")
    for heading in ("Data audit", "Hyperparameters and why", "Training curves and diagnosis", "Baseline vs tuned", "Most improved examples", "What to do next"):
        assert heading in html
    assert "SW104" in html and "train.jsonl:17" in html
    assert "overfitting" in html and "epoch 5" in html
    assert html.count("<svg") >= 4
    assert "ticket &lt;b&gt;3&lt;/b&gt;" in html  # user text is escaped
    import re

    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the report must load nothing from the network"
    assert "<script src" not in html and "<link" not in html
    assert "tiny model" in html


def test_report_on_a_partial_run_says_what_has_not_run(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text('{"name": "r"}', encoding="utf-8")  # a run whose first step has not finished
    html = build_report(tmp_path / "r").read_text(encoding="utf-8")
    assert "The audit step has not run" in html and "The train step has not run" in html


def test_report_on_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(SftwiseError, match="not a directory"):
        build_report(tmp_path / "nope")


@pytest.mark.browser
def test_report_renders_in_headless_chromium(finished_run: Path, render_in_chromium) -> None:
    assert render_in_chromium(build_report(finished_run), "report.png", min_plots=4) == []


def test_report_on_a_train_run_names_its_model(tmp_path: Path) -> None:
    """``sftwise train`` saves its TrainSpec as config.json, where ``model`` is a name, not a mapping."""
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text('{"model": "HuggingFaceTB/SmolLM2-135M-Instruct", "train": "t.jsonl"}', encoding="utf-8")
    html = build_report(run).read_text(encoding="utf-8")
    assert "model HuggingFaceTB/SmolLM2-135M-Instruct" in html


def test_report_shows_the_task_metric_curve_the_checkpoint_kept_and_the_suspected_label_noise(tmp_path: Path) -> None:
    """A run with eval_metrics: both curves drawn, the select_by decision and its reason, the per-example loss outliers."""
    import json

    from sftwise.diagnose import diagnose_run
    from sftwise.runlog import MetricPoint, write_metrics
    from sftwise.train.example_loss import summarise
    from sftwise.train.selection import Candidate, choose

    run = tmp_path / "r"
    (run / "train").mkdir(parents=True)
    (run / "config.json").write_text('{"name": "r"}', encoding="utf-8")
    points, candidates = [], []
    for i, (loss, em) in enumerate([(2.0, 0.1), (1.2, 0.3), (1.0, 0.4), (1.1, 0.5), (1.3, 0.55), (1.5, 0.6)], 1):
        ckpt = f"checkpoints/epoch-{i}"
        points += [MetricPoint(step=10 * i, epoch=i, split="train", scope="epoch", loss=3.0 - 0.4 * i),
                   MetricPoint(step=10 * i, epoch=i, split="validation", scope="epoch", loss=loss, checkpoint=ckpt, metrics={"exact_match": em})]
        candidates.append(Candidate(checkpoint=ckpt, epoch=i, step=10 * i, validation_loss=loss, metrics={"exact_match": em}))
    write_metrics(run / "train" / "metrics.jsonl", points)
    selection = choose(candidates, "exact_match")
    selection.notes.append("by validation loss it would be checkpoints/epoch-3")
    (run / "train" / "selection.json").write_text(selection.model_dump_json(), encoding="utf-8")
    losses = [0.1 + 0.001 * i for i in range(40)] + [3.0]
    noise = summarise("checkpoints/epoch-6", [f"train.jsonl:{i + 1}" for i in range(41)], losses, [12] * 41)
    (run / "train" / "example_losses.json").write_text(noise.model_dump_json(), encoding="utf-8")
    (run / "diagnosis.json").write_text(diagnose_run(run / "train").model_dump_json(), encoding="utf-8")
    html = build_report(run).read_text(encoding="utf-8")
    assert "task metrics during training" in html and "validation exact_match" in html
    assert "Checkpoint kept" in html and "checkpoints/epoch-6</b>, by exact_match" in html
    assert "by validation loss it would be checkpoints/epoch-3" in html and "not overfitting for the task" in html
    assert "Per-example training loss" in html and "train.jsonl:41" in html and "train.jsonl:40" not in html
    assert json.loads((run / "diagnosis.json").read_text())["best_checkpoint"] == "checkpoints/epoch-6"
