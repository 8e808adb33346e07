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
