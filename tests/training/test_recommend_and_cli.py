"""recommend (table, translation, too-small data) and the recommend / train / diagnose commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sftwise.cli import app
from sftwise.recommend import GEMINI_GUIDANCE, DataStats, recommend

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
    # the Pro row's 20 epochs (and the 10 of the translated service default) capped at 3 for a pretrained open model
    assert (r.lora_rank, r.lora_alpha, r.learning_rate, r.epochs, r.method) == (8, 16, 1e-3, 3, "lora")
    assert any("capped at 3" in reason for reason in r.reasons)
    r = recommend("meta-llama/Llama-3.2-1B", stats=_stats(20000, 900))
    assert r.learning_rate == 1e-4 and r.epochs == 3 and r.lora_rank == 8
    tiny = recommend("gemini-1.5-pro-002", stats=_stats(10, 100))
    assert tiny.too_small and "too few" in tiny.warnings[0] and tiny.headline().startswith("too small")


def test_gemini_cost_and_real_data(tiny_model, monkeypatch):
    from sftwise.demo.sample import sample_paths

    monkeypatch.delenv("SFTWISE_GEMINI_PRICES", raising=False)
    r = recommend("gemini-2.5-flash", sample_paths()["train"])
    assert r.examples == 480 and r.cost is not None and r.cost.epochs == 4  # epochs left to the service: 4 assumed
    assert r.billable_tokens == r.cost.billed_tokens == 4 * (r.cost.dataset_tokens + 8 * 480)
    assert r.cost.usd == pytest.approx(r.billable_tokens / 1e6 * 5.0, abs=1e-4) and r.token_count_method.startswith("estimate")
    r = recommend("gemini-1.5-pro-002", stats=_stats(500, 200))
    assert r.cost.epochs == 20 and r.cost.usd is None  # no price known for 1.5 Pro: tokens only, never a made-up figure
    r = recommend(str(tiny_model), sample_paths()["train"])
    assert r.method == "full" and r.token_count_method == f"tokenizer of {tiny_model}" and r.cost is None


def test_token_estimate_is_the_audits(tmp_path):
    """Non-ASCII text: recommend counts UTF-8 bytes / 4 as the audit does, not characters / 4."""
    from sftwise.conversation import Conversation
    from sftwise.formats import write
    from sftwise.recommend import data_stats
    from sftwise.tokens import estimate_tokens

    rows = [Conversation.from_pairs([("user", "Привет, как дела?"), ("model", "Хорошо, спасибо.")]) for _ in range(20)]
    stats = data_stats(write(rows, tmp_path / "ru.jsonl"), "gemini-2.5-flash")
    assert stats.total_tokens == 20 * estimate_tokens(rows[0].full_text()) and stats.token_count_method.startswith("estimate")
    assert stats.total_tokens > 20 * -(-len(rows[0].full_text()) // 4)


def test_cli_recommend_shows_the_gemini_cost(small_data, tmp_path, monkeypatch):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"gemini-2.5-flash": 2.0}))
    monkeypatch.setenv("SFTWISE_GEMINI_PRICES", str(prices))
    out = runner.invoke(app, ["recommend", "--model", "gemini-2.5-flash", "--data", str(small_data[0]), "--json", str(tmp_path / "rec.json")])
    assert out.exit_code == 0, out.output
    cost = json.loads((tmp_path / "rec.json").read_text())["cost"]
    assert cost["usd_per_million"] == 2.0 and f"~${cost['usd']:,.2f}" in out.output and "estimated cost" in out.output
    out = runner.invoke(app, ["recommend", "--model", "meta-llama/Llama-3.2-1B", "--data", str(small_data[0])])
    assert out.exit_code == 0 and "estimated cost" not in out.output


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
    (["train", "--model", "m", "--train", "t.jsonl", "--run-dir", "r", "--epochs", "0"], "--epochs: must be >= 1"),
    (["train", "--model", "m", "--train", "t.jsonl", "--run-dir", "r", "--lr", "-0.1"], "--lr: must be > 0"),
    (["train", "--model", "/no/such/model", "--train", "t.jsonl", "--run-dir", "r"], "--model: path /no/such/model does not exist"),
    (["train", "--model", "m", "--train", "t.jsonl", "--run-dir", "r", "--truncate", "--drop"], "exclude each other"),
    (["diagnose", "/no/such/run"], "does not exist"),
    (["recommend", "--model", "gemini-1.5-pro-002", "--data", "/no/such.jsonl"], "no such file"),
])
def test_cli_bad_input_is_one_line_exit_2(args, needle):
    out = runner.invoke(app, args)
    assert out.exit_code == 2 and needle in out.output and "Traceback" not in out.output


def test_cli_train_restates_overlong_examples_as_its_flags(tiny_model, small_data, tmp_path):
    train_file, val_file = small_data
    out = runner.invoke(app, ["train", "--model", str(tiny_model), "--train", str(train_file), "--run-dir", str(tmp_path / "r"), "--max-length", "16"])
    assert out.exit_code == 2 and "48 of 48 train examples are longer than max_length=16" in out.output
    assert "--truncate (cut them), --drop (leave them out), or a larger --max-length" in out.output and "overlong=" not in out.output
