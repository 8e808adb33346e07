"""The local Hugging Face generator on a tiny random model: batching with left padding gives the same
greedy outputs as one-at-a-time, the chat template is used, stop sequences cut, sampling is seeded;
`sftwise eval` zero- and few-shot with a local model."""

from __future__ import annotations

import json

import pytest

from sftwise.backends.base import GenerationParams, GenerationRequest
from sftwise.evaluate.results import read_results

pytestmark = pytest.mark.slow


def _requests(n: int = 10) -> list[GenerationRequest]:
    return [
        GenerationRequest(id=str(i), system="Answer with one word." if i % 3 == 0 else None, messages=[{"role": "user", "content": f"What colour is item {i}? " + "red " * (i % 4)}])
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def generators(tiny_model):
    from sftwise.backends import get_generator

    return get_generator(f"hf:{tiny_model}", batch_size=4), get_generator(f"hf:{tiny_model}", batch_size=1)


def test_batched_left_padded_equals_one_at_a_time(generators):
    batched, single = generators
    assert batched.tokenizer.padding_side == "left"
    params = GenerationParams(max_new_tokens=12)
    a = batched.generate(_requests(), params)
    b = single.generate(_requests(), params)
    assert [r.id for r in a] == [str(i) for i in range(10)]
    assert [r.text for r in a] == [r.text for r in b]
    assert all(r.completion_tokens and r.completion_tokens <= 12 and r.error is None for r in a)
    assert batched.last_stats["tokens_per_s"] > 0


def test_chat_template_and_system_prompt(generators):
    gen, _ = generators
    prompt = gen.render(_requests()[0])
    assert prompt.startswith("<|im_start|>system\nAnswer with one word.<|im_end|>")
    assert prompt.endswith("<|im_start|>assistant\n")


def test_stop_sequences_cut_the_text(generators):
    gen, _ = generators
    req = _requests(1)
    full = gen.generate(req, GenerationParams(max_new_tokens=16))[0].text
    assert full
    stop = full[len(full) // 2 : len(full) // 2 + 1]
    cut = gen.generate(req, GenerationParams(max_new_tokens=16, stop=[stop]))[0].text
    assert cut == full[: full.index(stop)]


def test_sampling_is_seeded(generators):
    gen, _ = generators
    p = GenerationParams(max_new_tokens=10, temperature=1.0, seed=3)
    assert [r.text for r in gen.generate(_requests(4), p)] == [r.text for r in gen.generate(_requests(4), p)]


def test_eval_cli_zero_and_few_shot(tiny_model, qa_files, tmp_path):
    from typer.testing import CliRunner

    from sftwise.cli import app

    base = ["eval", "--model", f"hf:{tiny_model}", "--data", str(qa_files["test"]), "--metrics", "exact_match,f1,rougeL,chrf",
            "--max-new-tokens", "6", "--cache", str(tmp_path / "cache.sqlite"), "--resamples", "50"]
    zero = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "zero")])
    assert zero.exit_code == 0, zero.output
    read = read_results(tmp_path / "zero")
    summary, preds = read.summary, read.predictions
    assert summary.n_examples == 12 and summary.few_shot == 0 and summary.settings["padding_side"] == "left"
    assert preds[0].messages == [{"role": "user", "content": "What colour is item 0?"}] and preds[0].system == "Answer with one word."
    assert preds[0].reference == "red" and set(preds[0].scores) == {"exact_match", "f1", "rougeL", "chrf"}

    shots = []
    for where, seed in (("turns", 1), ("turns", 1), ("system", 2)):
        out = tmp_path / f"few-{where}-{seed}-{len(shots)}"
        result = CliRunner().invoke(app, [*base, "--few-shot", "3", "--shots-from", str(qa_files["train"]), "--shots-in", where, "--seed", str(seed), "-o", str(out)])
        assert result.exit_code == 0, result.output
        read = read_results(out)
        s, p = read.summary, read.predictions
        shots.append(s.settings["shots"])
        if where == "turns":
            assert len(p[0].messages) == 7 and p[0].messages[1]["role"] == "assistant"
        else:
            assert len(p[0].messages) == 1 and "Examples:" in p[0].system and p[0].system.startswith("Answer with one word.")
    assert shots[0] == shots[1] != shots[2]  # same seed, same shots
    assert all(str(qa_files["train"]) in s for s in shots[0])

    same = CliRunner().invoke(app, [*base, "--few-shot", "2", "--shots-from", str(qa_files["test"]), "-o", str(tmp_path / "bad")])
    assert same.exit_code == 2 and "is the eval file itself" in same.output
    missing = CliRunner().invoke(app, [*base, "--few-shot", "2", "-o", str(tmp_path / "bad2")])
    assert missing.exit_code == 2 and "--shots-from" in missing.output


def test_shots_exclude_eval_prompts(tiny_model, qa_files, tmp_path):
    from sftwise import formats
    from sftwise.evaluate.runner import draw_shots

    test = formats.load(qa_files["test"])
    eval_prompts = {" ".join(r.conversation.input_text().lower().split()) for r in test.records}
    shots = draw_shots(test, 0, 0, eval_prompts)
    assert shots == []
    from sftwise.errors import SftwiseError

    with pytest.raises(SftwiseError, match="usable"):
        draw_shots(test, 1, 0, eval_prompts)
    summary = json.loads((qa_files["test"]).read_text().splitlines()[0])
    assert summary["contents"][0]["role"] == "user"
