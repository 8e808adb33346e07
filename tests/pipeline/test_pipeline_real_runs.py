"""The whole chain with nothing faked: `sftwise demo` on the sample, `sftwise run` on GSM8K.

The other pipeline tests replace the steps with fakes to check resuming and invalidation quickly;
these run every real step (audit, baseline, recommend, train, diagnose, eval, compare, report) as a
user would, through the command line, and read what the run directory then holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

GSM8K = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "gsm8k"
STEPS = ("audit", "baseline", "recommend", "train", "diagnose", "eval", "compare", "report")


def _sftwise(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sftwise", *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def _exact_match_delta(run: Path) -> dict:
    comparison = json.loads((run / "comparison.json").read_text())
    (row,) = [m for m in comparison["comparisons"][0]["metrics"] if m["metric"] == "exact_match"]
    return row


@pytest.mark.slow
@pytest.mark.browser
def test_demo_beats_its_baseline_and_its_report_renders(tmp_path: Path, render_in_chromium) -> None:
    run = tmp_path / "demo"
    proc = _sftwise("demo", "--tiny", "--run-dir", str(run), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "TINY" in proc.stdout and "random weights" in proc.stdout  # honest about the model
    for step in STEPS:
        assert f"✓ {step}" in proc.stdout, step
    assert f"Report: {(run / 'report.html').resolve()}" in proc.stdout
    state = json.loads((run / "pipeline_state.json").read_text())
    assert all(s["status"] in ("done", "skipped") for s in state["steps"].values()), state
    row = _exact_match_delta(run)
    # a clear margin: the tuned model gets most of the held-out tickets right, the baseline none
    assert row["value_a"] <= 0.05 and row["value_b"] >= 0.6 and row["ci_low"] > 0.4, row
    assert row["p_value"] < 1e-3
    diagnosis = json.loads((run / "diagnosis.json").read_text())
    assert diagnosis["verdict"] in {"healthy", "under-trained", "overfitting"} and diagnosis["best_checkpoint"]
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "n/a (full fine-tuning)" in html and "&lt; 0.001" in html  # no LoRA rank shown as used; p-values never "0.000"
    assert render_in_chromium(run / "report.html", "demo-report.png", min_plots=4) == []

    rerun = _sftwise("demo", "--tiny", "--run-dir", str(run), cwd=tmp_path)  # a finished run is not redone
    assert rerun.returncode == 0 and rerun.stdout.count("up to date") >= len(STEPS), rerun.stdout


@pytest.mark.slow
@pytest.mark.skipif(not (GSM8K / "train.jsonl").exists(), reason="../shared/data/gsm8k is absent")
def test_run_on_gsm8k_subset_completes_with_a_coherent_report(tmp_path: Path) -> None:
    """A smoke test of the chain on real data: a few hundred GSM8K problems, the tiny model."""
    lines = (GSM8K / "train.jsonl").read_text(encoding="utf-8").splitlines()
    test_lines = (GSM8K / "test.jsonl").read_text(encoding="utf-8").splitlines()
    for name, rows in (("train", lines[:300]), ("validation", lines[300:340]), ("test", test_lines[:30])):
        (tmp_path / f"raw-{name}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
        proc = _sftwise("convert", f"raw-{name}.jsonl", f"{name}.jsonl", "--map", "question=prompt", "--map", "answer=completion",
                        "--system", "Solve the math word problem. End with '#### ' and the final number.", cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    (tmp_path / "gsm8k.yaml").write_text(
        "name: gsm8k-smoke\n"
        "data: {train: train.jsonl, validation: validation.jsonl, test: test.jsonl}\n"
        "model: {base: tiny, max_length: 384}\n"
        "train: {method: full, epochs: 2, learning_rate: 0.002, batch_size: 16}\n"
        "eval: {metrics: [math_accuracy, rougeL], max_new_tokens: 32}\n",
        encoding="utf-8",
    )
    proc = _sftwise("run", "gsm8k.yaml", cwd=tmp_path)
    # some worked solutions are longer than 384 tokens: the run stops at train and says which, in config terms
    assert proc.returncode == 2 and "✓ baseline" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    said = proc.stdout + proc.stderr
    assert "longer than max_length=384" in said and "train.overlong: truncate" in said and "train.jsonl:" in said
    assert "Traceback" not in said and "--truncate" not in said
    config = (tmp_path / "gsm8k.yaml").read_text(encoding="utf-8")
    (tmp_path / "gsm8k.yaml").write_text(config.replace("batch_size: 16}", "batch_size: 16, overlong: truncate}"), encoding="utf-8")
    proc = _sftwise("run", "gsm8k.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("up to date") >= 3  # audit, baseline and recommend were kept
    run = tmp_path / "runs" / "gsm8k-smoke"
    for step in STEPS:
        assert f"✓ {step}" in proc.stdout, step
    assert "truncated" in (run / "train" / "train_result.json").read_text(encoding="utf-8")
    points = [json.loads(x) for x in (run / "train" / "metrics.jsonl").read_text().splitlines()]
    for split in ("train", "validation"):
        epochs = [p for p in points if p["split"] == split and p.get("scope") == "epoch"]
        assert len(epochs) >= 2 and all(p["token_accuracy"] is not None and p["loss"] > 0 for p in epochs), split
    train_epochs = [p for p in points if p["split"] == "train" and p.get("scope") == "epoch"]
    assert train_epochs[-1]["loss"] < train_epochs[0]["loss"]  # it learnt something from real text
    html = (run / "report.html").read_text(encoding="utf-8")
    for heading in ("Data audit", "Training curves and diagnosis", "Baseline vs tuned"):
        assert heading in html
    assert "math_accuracy" in html and "gsm8k-smoke" in html
    summary = json.loads((run / "eval" / "tuned" / "summary.json").read_text())
    assert summary["n_examples"] == 30 and "math_accuracy" in summary["metrics"]
