"""SmolLM2-135M-Instruct through the stages a user runs on it: its chat template and which tokens
carry loss, a short LoRA run that must lower the validation loss, baseline and tuned evaluation
through the CLI, and the model as a judge.

Each test names what it shows; the training run and the evaluations are done once (module scope)
and read by several tests, so the whole file costs about the price of one short run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.real_model, pytest.mark.slow]

TRAIN_EXAMPLES, VALIDATION_EXAMPLES, TEST_EXAMPLES = 48, 16, 16


def _lines(split: str, n: int) -> str:
    from sftwise.demo.sample import sample_paths

    return "".join(Path(sample_paths()[split]).read_text(encoding="utf-8").splitlines(keepends=True)[:n])


def _sftwise(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "sftwise", *args], cwd=cwd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_chatml_template_and_loss_on_the_answer_and_im_end_only(real_model):
    from sftwise.formats import load
    from sftwise.demo.sample import sample_paths
    from sftwise.models import load_tokenizer
    from sftwise.train.data import IGNORE_INDEX, encode_conversation

    tok = load_tokenizer(real_model)
    conversation = load(sample_paths()["train"]).conversations[0]
    messages = conversation.to_messages()
    answer = messages[-1]["content"]
    full = tok.apply_chat_template(messages, tokenize=False)
    prompt = tok.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    # ChatML, the system instruction kept as given (not SmolLM2's default system prompt)
    assert full.startswith("<|im_start|>system\n" + messages[0]["content"] + "<|im_end|>\n")
    assert prompt.endswith("<|im_start|>assistant\n") and full.startswith(prompt)  # no template skew between training and serving

    example = encode_conversation(tok, conversation)
    trained = [t for t, label in zip(example.input_ids, example.labels) if label != IGNORE_INDEX]
    assert tok.decode(trained) == answer + "<|im_end|>"  # the answer and the end-of-turn token: the model learns to stop
    masked = tok.decode([t for t, label in zip(example.input_ids, example.labels) if label == IGNORE_INDEX])
    assert messages[1]["content"] in masked and "<|im_start|>assistant" in masked  # the prompt, never trained on
    assert len(example.input_ids) == len(tok(full, add_special_tokens=False)["input_ids"])


@pytest.fixture(scope="module")
def tuned(real_model, tmp_path_factory) -> dict[str, Path]:
    """One short LoRA run (48 tickets, 1 epoch) and the base and tuned evaluations, through the CLI."""
    root = tmp_path_factory.mktemp("real")
    for split, n in (("train", TRAIN_EXAMPLES), ("validation", VALIDATION_EXAMPLES), ("test", TEST_EXAMPLES)):
        (root / f"{split}.jsonl").write_text(_lines(split, n), encoding="utf-8")
    _sftwise("train", "--model", real_model, "--train", "train.jsonl", "--validation", "validation.jsonl", "--run-dir", "run",
             "--epochs", "1", "--rank", "8", "--lr", "1e-3", "--batch-size", "8", "--max-length", "256", "--json", "train.json", cwd=root)
    result = json.loads((root / "train.json").read_text())
    checkpoint = root / "run" / result["checkpoints"][-1]
    common = ("--data", "test.jsonl", "--metrics", "exact_match,json_valid", "--max-new-tokens", "24", "--no-cache")
    _sftwise("eval", "--model", real_model, *common, "-o", "base", cwd=root)
    _sftwise("eval", "--model", str(checkpoint), *common, "-o", "tuned", cwd=root)
    return {"root": root, "train": root / "train.json", "checkpoint": checkpoint, "base": root / "base", "tuned": root / "tuned"}


def _metric(results: Path, name: str) -> float:
    return json.loads((results / "summary.json").read_text())["metrics"][name]["value"]


def test_a_short_lora_run_lowers_the_validation_loss(tuned):
    result = json.loads(tuned["train"].read_text())
    assert result["steps"] == TRAIN_EXAMPLES // 8
    # before training the JSON answer is far from what the instruct model would say; after six steps it is learnt
    assert result["initial_validation_accuracy"] < 0.8 < result["final_validation_accuracy"], result
    assert result["final_validation_loss"] < 0.5, result
    adapter = json.loads((tuned["checkpoint"] / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == "smollm2-135m-instruct"  # resolves again after the cache is cleared


def test_the_tuned_checkpoint_answers_in_the_format_the_base_model_does_not(tuned):
    base_valid, tuned_valid = _metric(tuned["base"], "json_valid"), _metric(tuned["tuned"], "json_valid")
    assert tuned_valid >= 0.9 and tuned_valid > base_valid, (base_valid, tuned_valid)
    predictions = [json.loads(line) for line in (tuned["tuned"] / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == TEST_EXAMPLES and all(p["prediction"].lstrip().startswith("{") for p in predictions)


def test_the_real_model_as_a_judge_grades_every_prediction(tuned, real_model):
    root = tuned["root"]
    _sftwise("judge", "base", "--judge", real_model, "--max-tokens", "48", "-o", "judged", "--no-cache", "--concurrency", "1", cwd=root)
    report = json.loads((root / "judged" / "judge.json").read_text())
    # every prediction accounted for: graded, or counted as missing with its reason, never dropped
    assert report["n"] == TEST_EXAMPLES and report["n_scored"] + report["n_missing"] == TEST_EXAMPLES, report
    assert sum(report["missing_reasons"].values()) == report["n_missing"], report


@pytest.mark.parametrize("keep", [4 << 20, 64 << 20])
def test_a_truncated_gguf_is_a_clear_error_naming_the_file(real_model, tmp_path, keep):
    """The header of the real file with the tensors cut off (a download that stopped): an error that
    names the file and says what to do, exit 2, no traceback, and no cache entry left behind."""
    from sftwise.models import BUNDLED

    source = BUNDLED[real_model].locate()
    truncated = tmp_path / "cut.gguf"
    with open(source, "rb") as handle:
        truncated.write_bytes(handle.read(keep))
    (tmp_path / "test.jsonl").write_text(_lines("test", 2), encoding="utf-8")
    cache = tmp_path / "cache"
    proc = subprocess.run([sys.executable, "-m", "sftwise", "eval", "--model", f"gguf:{truncated}", "--data", "test.jsonl", "-o", "out"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ, "SFTWISE_CACHE_DIR": str(cache)})
    assert proc.returncode == 2, proc.stdout + proc.stderr  # a bad --model is a usage error, as every bad flag value
    assert str(truncated) in proc.stderr and "truncated or corrupt" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    entries = [p for p in (cache / "models").glob("cut-*")] if (cache / "models").exists() else []
    assert entries == [], entries  # no half-written entry that a later load could take for a converted model
