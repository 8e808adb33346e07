"""Fixtures of the pipeline tests: a run directory written by hand, and a headless-browser check."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from sftwise.evaluate.results import EvalSummary, MetricSummary, Prediction
from sftwise.io import write_json, write_jsonl
from sftwise.runlog import MetricPoint, write_metrics
from sftwise.demo.sample import sample_paths


@pytest.fixture()
def finished_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    paths = sample_paths()
    write_json(run / "config.json", {"name": "fixture", "model": {"base": "tiny"}, "data": {k: str(paths[k]) for k in ("train", "validation", "test")}})
    write_json(run / "audit.json", {
        "findings": [
            {"code": "SW104", "severity": "error", "message": "roles do not alternate", "hint": "merge the two user turns", "file": str(paths["train"]), "line": 17, "field": "contents[2].role"},
            {"code": "SW301", "severity": "warning", "message": "only 480 examples", "hint": "", "file": str(paths["train"])},
        ],
        "stats": {"train": {"example_count": 480, "total_characters": 100000, "input_tokens": {"min": 40, "p50": 60, "p90": 70, "p99": 80, "max": 90}}},
    })
    write_json(run / "recommendation.json", {"epochs": 12, "learning_rate": 0.002, "lora_rank": 4, "reasons": ["480 examples < 1000: more epochs"]})
    points = []
    for epoch in range(1, 9):
        for k in range(4):
            step = (epoch - 1) * 4 + k + 1
            points.append(MetricPoint(step=step, epoch=epoch - 1 + (k + 1) / 4, split="train", loss=3 * math.exp(-step / 8) + 0.1, token_accuracy=1 - math.exp(-step / 8)))
        points.append(MetricPoint(step=epoch * 4, epoch=epoch, split="train", scope="epoch", loss=3 * math.exp(-epoch / 2), token_accuracy=1 - math.exp(-epoch / 2)))
        points.append(MetricPoint(step=epoch * 4, epoch=epoch, split="validation", scope="epoch", loss=3 * math.exp(-epoch / 2) + 0.05 * max(0, epoch - 5) ** 2, token_accuracy=0.9 - math.exp(-epoch / 2)))
    write_metrics(run / "train" / "metrics.jsonl", points)
    write_json(run / "diagnosis.json", {"verdict": "overfitting", "confidence": 0.9, "message": "validation loss is lowest at epoch 5 and rises after", "best_epoch": 5, "advice": ["Keep checkpoint epoch-5; tune for 5 epochs next time."]})
    for name, correct in (("baseline-tiny-model-0shot", 0.0), ("tuned", 0.8)):
        preds = []
        for i in range(10):
            hit = 1.0 if i < correct * 10 else 0.0
            preds.append(Prediction(id=str(i), messages=[{"role": "user", "content": f"ticket <b>{i}</b>"}], reference='{"team": "billing"}', prediction='{"team": "billing"}' if hit else "garbage", scores={"exact_match": hit}))
        write_jsonl(run / "eval" / name / "predictions.jsonl", preds)
        summary = EvalSummary(model=name, data="test.jsonl", n_examples=10, metrics={"exact_match": MetricSummary(name="exact_match", value=correct, ci_low=max(0, correct - 0.2), ci_high=min(1, correct + 0.2), n=10)})
        write_json(run / "eval" / name / "summary.json", summary)
    from sftwise.evaluate.compare import compare

    write_json(run / "comparison.json", compare([run / "eval" / "baseline-tiny-model-0shot", run / "eval" / "tuned"], resamples=200))
    return run


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture()
def render_in_chromium() -> Callable[[Path, str, int], list[str]]:
    """Open a report in Debian's chromium (Playwright, system binary), check that at least
    ``min_plots`` plots are visible, keep a full-page screenshot in test-artifacts/, and return the
    console errors. Skips when chromium or Playwright is absent."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")

    def render(path: Path, screenshot: str, min_plots: int = 4) -> list[str]:
        errors: list[str] = []
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(path.resolve().as_uri())
            plots = page.locator("figure.plot svg")
            assert plots.count() >= min_plots, f"{plots.count()} plots, expected at least {min_plots}"
            for i in range(plots.count()):
                box = plots.nth(i).bounding_box()
                assert box and box["width"] > 100 and box["height"] > 50, f"plot {i} is not visible"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
            browser.close()
        return errors

    return render
