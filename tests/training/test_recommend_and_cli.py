"""recommend (table, translation, too-small data) and the recommend / train / diagnose commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sftwise.cli import app
from sftwise.recommend import GEMINI_GUIDANCE, DataStats, recommend, register_cost_estimator

runner = CliRunner()


def _stats(n: int, ctx: float) -> DataStats:
    return DataStats(examples=n, avg_context_tokens=ctx, total_tokens=int(n * ctx), token_count_method="test")


def test_gemini_rows_follow_the_published_table():
    r = recommend("gemini-1.5-pro-002", stats=_stats(500, 200))
    assert (r.epochs, r.lr_multiplier, r.adapter_size, r.size_class) == (20, 10, 4, "small")
    r = recommend("gemini-1.5-pro-002", stats=_stats(5000, 200))
    assert (r.epochs, r.lr_multiplier, r.adapter_size) == (10, None, 4)
    r = recommend("gemini-1.5-flash-002", stats=_stats(500, 800))  # long context: large
    assert (r.epochs, r.lr_multiplier, r.adapter_size) == (None, None, 8)
    r = recommend("gemini-1.5-flash-002", stats=_stats(500, 100), modality="image")
    assert (r.epochs, r.lr_multiplier, r.adapter_size) == (15, 5, 16)
    r = recommend("gemini-1.5-pro-002", stats=_stats(500, 100), modality="audio")
    assert (r.epochs, r.lr_multiplier, r.adapter_size) == (20, 1, 4)
    assert len(GEMINI_GUIDANCE) == 8 and "Vertex AI" in r.source


def test_newer_gemini_migrates_the_multiplier_and_clamps_adapters():
    r = recommend("gemini-2.5-flash", stats=_stats(500, 100))
    assert r.lr_multiplier == pytest.approx(3.459, abs=1e-3) and any("log2" in x for x in r.reasons)
    r = recommend("gemini-2.5-pro", stats=_stats(500, 100), modality="image")
    assert r.adapter_size in (1, 2, 4, 8)


def test_open_model_translation_and_too_small_data():
    r = recommend("meta-llama/Llama-3.2-1B", stats=_stats(500, 100))
    assert (r.lora_rank, r.lora_alpha, r.learning_rate, r.epochs, r.method) == (8, 16, 1e-3, 20, "lora")
    r = recommend("meta-llama/Llama-3.2-1B", stats=_stats(20000, 900))
    assert r.learning_rate == 1e-4 and r.epochs == 10 and r.lora_rank == 8
    tiny = recommend("gemini-1.5-pro-002", stats=_stats(10, 100))
    assert tiny.too_small and "too few" in tiny.warnings[0] and tiny.headline().startswith("too small")


def test_cost_hook_and_real_data(tiny_model):
    from sftwise.demo.sample import sample_paths

    calls = []

    @register_cost_estimator
    def fake(rec):
        calls.append(rec.model)
        return {"usd": 1.0} if rec.family != "open" else None

    r = recommend("gemini-2.5-flash", sample_paths()["train"])
    assert r.cost == {"usd": 1.0} and r.examples == 480 and r.billable_tokens > 0
    r = recommend(str(tiny_model), sample_paths()["train"])
    assert r.method == "full" and "tokenizer of" in r.token_count_method and r.cost is None
    from sftwise import recommend as mod

    mod._COST_ESTIMATORS.remove(fake)


def test_cli_recommend_train_diagnose(tiny_model, small_data, tmp_path):
    train_file, val_file = small_data
    out = runner.invoke(app, ["recommend", "--model", "gemini-1.5-pro-002", "--data", str(train_file), "--json", str(tmp_path / "rec.json")])
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "rec.json").read_text())["epochs"] == 20 and "too few" not in out.output
    run = tmp_path / "run"
    out = runner.invoke(app, ["train", "--model", str(tiny_model), "--train", str(train_file), "--validation", str(val_file), "--run-dir", str(run),
                              "--epochs", "2", "--lr", "3e-3", "--method", "full", "--max-length", "256", "--batch-size", "16"])
    assert out.exit_code == 0, out.output
    assert "validation token accuracy" in out.output
    out = runner.invoke(app, ["diagnose", str(run), "--json", str(tmp_path / "d.json")])
    assert out.exit_code == 0, out.output
    d = json.loads((tmp_path / "d.json").read_text())
    assert d["verdict"] in ("healthy", "under-trained", "overfitting", "data-issue") and (run / "curves.png").exists()


@pytest.mark.parametrize("args,needle", [
    (["train", "--model", "m", "--train", "t.jsonl", "--run-dir", "r", "--epochs", "0"], "epochs must be >= 1"),
    (["train", "--model", "m", "--train", "t.jsonl", "--run-dir", "r", "--lr", "-0.1"], "learning_rate must be > 0"),
    (["train", "--model", "/no/such/model", "--train", "t.jsonl", "--run-dir", "r"], "does not exist"),
    (["train", "--model", "m", "--train", "t.jsonl", "--run-dir", "r", "--truncate", "--drop"], "exclude each other"),
    (["diagnose", "/no/such/run"], "does not exist"),
    (["recommend", "--model", "gemini-1.5-pro-002", "--data", "/no/such.jsonl"], "does not exist"),
])
def test_cli_bad_input_is_one_line_exit_2(args, needle):
    out = runner.invoke(app, args)
    assert out.exit_code == 2 and needle in out.output and "Traceback" not in out.output
