"""The hf backend's own decoding loop (shared-prefix KV cache, rows dropped as they finish) against
one-at-a-time ``model.generate`` on a tiny random model: identical greedy outputs across batch
sizes, early-finishing rows, stop strings, seeded sampling, a LoRA checkpoint, the fallback."""

from __future__ import annotations

import pytest

from sftwise.backends.base import GenerationParams, GenerationRequest

pytestmark = pytest.mark.slow

SYSTEM = "Answer with one word. Name the colour of the item."


def _requests(n: int = 8) -> list[GenerationRequest]:
    # one system instruction (a shared prefix), user turns of different lengths
    return [GenerationRequest(id=str(i), system=SYSTEM, messages=[{"role": "user", "content": f"What colour is item {i}? " + "red blue " * (i % 5)}]) for i in range(n)]


@pytest.fixture(scope="module")
def reference(tiny_model):
    from sftwise.backends.hf import HFGenerator

    return HFGenerator(tiny_model, batch_size=1, device="cpu", use_generate=True)


def _fast(reference, batch_size: int):
    from sftwise.backends.hf import HFGenerator

    return HFGenerator(reference.model_path, batch_size=batch_size, device="cpu", model=reference.model, tokenizer=reference.tokenizer)


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_greedy_equals_one_at_a_time_generate(reference, batch_size):
    params = GenerationParams(max_new_tokens=12)
    want = reference.generate(_requests(), params)
    fast = _fast(reference, batch_size)
    got = fast.generate(_requests(), params)
    assert fast.fallback_reason is None and reference.fallback_reason == "use_generate=True"
    assert [r.id for r in got] == [str(i) for i in range(8)]
    assert [r.text for r in got] == [r.text for r in want]
    assert [r.completion_tokens for r in got] == [r.completion_tokens for r in want]
    assert [r.prompt_tokens for r in got] == [r.prompt_tokens for r in want]
    assert fast._prefixes.ids  # the system turn was computed once and kept
    assert fast.last_stats["tokens_per_s"] > 0


def test_rows_finishing_early_equal_generate(reference):
    """A token the model emits part-way through is taken as end-of-turn: rows end at different steps
    and leave the batch; what remains must still match ``generate`` row by row."""
    import torch

    from sftwise.backends.hf_decode import PrefixStore, decode

    import copy

    tok, model = reference.tokenizer, copy.deepcopy(reference.model)
    # the fixture's std-0.02 weights repeat one token forever; larger weights vary from row to row
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    prompts = [tok(reference.render(r), add_special_tokens=False)["input_ids"] for r in _requests()]
    with torch.inference_mode():
        free = decode(model, prompts, max_new_tokens=10, eos_ids=[tok.eos_token_id], pad_id=tok.pad_token_id)
        counts: dict[int, int] = {}
        for new, _ in free:
            for t in set(new[1:]):
                counts[t] = counts.get(t, 0) + 1
        firsts = {new[0] for new, _ in free if new}
        # a token some rows emit part-way through and others never, and that no row emits first
        stop_id = max(counts, key=lambda t: (t not in firsts, 0 < counts[t] < len(prompts), counts[t]))
        got = decode(model, prompts, max_new_tokens=10, eos_ids=[stop_id], pad_id=tok.pad_token_id, store=PrefixStore())
        for prompt, (new, ended) in zip(prompts, got):
            out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long), max_new_tokens=10,
                                 do_sample=False, eos_token_id=stop_id, pad_token_id=tok.pad_token_id)[0, len(prompt):].tolist()
            assert new + ([stop_id] if ended else []) == out
    lengths = {len(new) for new, _ in got}
    assert any(ended for _, ended in got) and len(lengths) > 1


def test_stop_strings_match_generate(reference):
    fast = _fast(reference, 8)
    full = fast.generate(_requests(), GenerationParams(max_new_tokens=16))
    stop = full[0].text[len(full[0].text) // 2]
    params = GenerationParams(max_new_tokens=16, stop=[stop])
    got = fast.generate(_requests(), params)
    want = reference.generate(_requests(), params)
    assert [r.text for r in got] == [r.text for r in want]
    assert got[0].text == full[0].text[: full[0].text.index(stop)]
    assert got[0].completion_tokens < full[0].completion_tokens  # decoding stopped, not only the text cut


def test_sampling_is_seeded_and_top_p_zero_is_greedy(reference):
    fast = _fast(reference, 3)
    p = GenerationParams(max_new_tokens=10, temperature=1.0, seed=3)
    first = [r.text for r in fast.generate(_requests(6), p)]
    assert first == [r.text for r in fast.generate(_requests(6), p)]
    assert first != [r.text for r in fast.generate(_requests(6), p.model_copy(update={"seed": 4}))]
    greedy = [r.text for r in fast.generate(_requests(6), GenerationParams(max_new_tokens=10))]
    assert [r.text for r in fast.generate(_requests(6), p.model_copy(update={"top_p": 1e-9}))] == greedy


def test_lora_checkpoint_equals_generate(tiny_model, tmp_path):
    pytest.importorskip("peft")
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from sftwise.backends import get_generator
    from sftwise.backends.hf import HFGenerator

    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    adapted = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapted.save_pretrained(tmp_path / "adapter")
    fast = get_generator(f"hf:{tmp_path / 'adapter'}", batch_size=8)
    single = HFGenerator(fast.model_path, batch_size=1, device="cpu", model=fast.model, tokenizer=fast.tokenizer, use_generate=True)
    params = GenerationParams(max_new_tokens=8)
    assert [r.text for r in fast.generate(_requests(), params)] == [r.text for r in single.generate(_requests(), params)]
    assert fast.fallback_reason is None


def test_unsupported_generation_settings_fall_back_to_generate(reference):
    fast = _fast(reference, 4)
    config = fast.model.generation_config
    config.repetition_penalty = 1.3
    try:
        got = fast.generate(_requests(4), GenerationParams(max_new_tokens=6))
        assert fast.fallback_reason == "generation_config.repetition_penalty=1.3"
        assert all(r.error is None and r.text is not None for r in got)
    finally:
        config.repetition_penalty = 1.0
