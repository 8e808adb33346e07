"""The recipe's loss on loss-bearing positions only equals the full-logits loss: sums, counts and gradients."""

from __future__ import annotations

import warnings

import pytest

from sftwise.train import local
from sftwise.train.data import IGNORE_INDEX, collate, load_conversations, pack, prepare_split


@pytest.fixture(scope="module")
def rows(tiny_model):
    from sftwise.demo.sample import sample_paths
    from sftwise.models import load_tokenizer

    tok = load_tokenizer(tiny_model)
    split = prepare_split("train", load_conversations(sample_paths()["train"]), tok, 256)
    return split.examples[:12], tok.pad_token_id


def _model(tiny_model, lora=False, checkpointing=False):
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    if checkpointing:
        model.gradient_checkpointing_enable()
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"))
        for name, p in model.named_parameters():  # LoRA's B starts at zero; make the adapter matter
            if "lora_B" in name:
                torch.nn.init.normal_(p, std=0.05)
    return model


def _reference(model, batch):
    """The plain computation: every position's logits, then cross-entropy over the loss-bearing ones."""
    import torch

    kwargs = {"input_ids": batch.input_ids, "use_cache": False}
    if batch.attention_mask is not None:
        kwargs["attention_mask"] = batch.attention_mask
    if batch.position_ids is not None:
        kwargs["position_ids"] = batch.position_ids
    logits = model(**kwargs).logits[:, :-1].float()
    labels = batch.labels[:, 1:]
    mask = labels != IGNORE_INDEX
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum")
    return loss, int(((logits.argmax(-1) == labels) & mask).sum()), int(mask.sum())


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}


def _check(model, batch):
    import torch

    local._heads.clear()  # forget splits found for earlier models
    want_loss, want_correct, want_count = _reference(model, batch)
    want_loss.backward()
    want_grads = _grads(model)
    model.zero_grad(set_to_none=True)
    loss, correct, count = local._forward(model, batch, torch.device("cpu"))
    loss.backward()
    got_grads = _grads(model)
    model.zero_grad(set_to_none=True)
    assert count == want_count > 0
    assert correct == want_correct
    assert float(loss.detach()) == pytest.approx(float(want_loss.detach()), rel=1e-5)
    assert got_grads.keys() == want_grads.keys() and got_grads
    for name, g in want_grads.items():
        assert torch.allclose(got_grads[name], g, rtol=1e-4, atol=1e-6), name
    return local._heads[model]


def test_plain_model_matches_full_logits(tiny_model, rows):
    examples, pad = rows
    head = _check(_model(tiny_model), collate(examples[:8], pad))
    assert head is not None  # the split was used, not the fallback


def test_lora_model_matches_full_logits_and_lora_grads(tiny_model, rows):
    examples, pad = rows
    model = _model(tiny_model, lora=True)
    assert _check(model, collate(examples[:8], pad)) is not None


def test_packed_batch_matches(tiny_model, rows):
    examples, pad = rows
    packed = pack(examples, 256, pad)
    assert any("," in r.source for r in packed)  # rows really hold several examples
    assert _check(_model(tiny_model, lora=True), collate(packed[:4], pad, packed=True)) is not None


def test_chunked_head_and_gradient_checkpointing_match(tiny_model, rows, monkeypatch):
    examples, pad = rows
    monkeypatch.setattr(local, "HEAD_CHUNK", 7)  # many chunks: each is recomputed in backward
    model = _model(tiny_model, lora=True, checkpointing=True)
    model.train()
    assert _check(model, collate(examples[:8], pad)) is not None


def test_evaluation_without_grad_matches(tiny_model, rows):
    import torch

    examples, pad = rows
    model = _model(tiny_model, lora=True)
    batch = collate(examples[:8], pad)
    local._heads.clear()
    with torch.no_grad():
        want = _reference(model, batch)
        got = local._forward(model, batch, torch.device("cpu"))
    assert got[1:] == want[1:] and float(got[0]) == pytest.approx(float(want[0]), rel=1e-5)


def test_batch_without_loss_tokens_still_backpropagates(tiny_model, rows):
    import torch

    examples, pad = rows
    batch = collate(examples[:2], pad)
    batch.labels[:] = IGNORE_INDEX
    local._heads.clear()
    loss, correct, count = local._forward(_model(tiny_model, lora=True), batch, torch.device("cpu"))
    loss.backward()
    assert (float(loss), correct, count) == (0.0, 0, 0)


def test_logit_postprocessing_the_split_cannot_reproduce_falls_back(tiny_model, rows):
    """A config naming a soft-cap the model's forward does not apply: the one-time check sees the
    split disagree with the model's own logits and the full-logits path is used (with a warning)."""
    examples, pad = rows
    model = _model(tiny_model)
    model.config.final_logit_softcapping = 0.5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _check(model, collate(examples[:8], pad)) is None
    assert any("full logits" in str(w.message) for w in caught)


def test_wrapped_and_prompt_learning_models_use_the_full_path(tiny_model):
    from peft import PromptTuningConfig, get_peft_model

    prompt = get_peft_model(_model(tiny_model), PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=2))
    assert local._find_loss_head(prompt) is None
    assert local._find_loss_head(_model(tiny_model)) is not None


def test_cpu_precision_choices():
    """bf16 on a CPU is autocast (fp32 master weights); fp16 has no CPU autocast worth using: a clear error."""
    import torch

    from sftwise.errors import ParameterError
    from sftwise.train.distributed import Dist
    from sftwise.train.local import _precision

    if torch.cuda.is_available():
        pytest.skip("checks the CPU choices")
    single = Dist()
    assert _precision("bf16", single) == (torch.device("cpu"), torch.bfloat16, False)
    assert _precision("auto", single) == (torch.device("cpu"), None, False)
    with pytest.raises(ParameterError, match="fp16 needs a GPU"):
        _precision("fp16", single)
