"""sftwise.models: one resolver for every model reference, and the loaders everything else calls."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sftwise.errors import ParameterError
from sftwise.models import ModelRef, get_counter, is_tiny, resolve


def _hf_dir(path: Path, **files: str) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def test_import_needs_neither_torch_nor_transformers():
    code = "import sys, sftwise.models; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_resolve_tells_the_kinds_apart(tmp_path):
    from sftwise.demo.tiny import TINY_MARKER

    hf = _hf_dir(tmp_path / "hf")
    tiny = _hf_dir(tmp_path / "tiny", **{f"{TINY_MARKER}.txt": "tiny"})
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(hf), "peft_type": "LORA"}))

    assert resolve(hf) == ModelRef(kind="hf", path=str(hf), reference=str(hf))
    assert resolve(tiny).kind == "tiny" and is_tiny(str(tiny)) and is_tiny("tiny") and not is_tiny(str(hf))
    ref = resolve(str(adapter))
    assert (ref.kind, ref.base, ref.is_local) == ("lora", str(hf), True)
    hub = resolve("org/some-model", local_files_only=True)
    assert (hub.kind, hub.path, hub.local_files_only, hub.is_local) == ("hub", "org/some-model", True, False)
    assert resolve("gpt2").kind == "hub" and resolve(hub) is hub


@pytest.mark.parametrize("reference,needle", [
    ("", "is empty"),
    ("./no/such/model", "path ./no/such/model does not exist"),
    ("/no/such/model", "does not exist"),
    ("a/b/c", "does not exist"),  # deeper than org/name: a path, not a hub id
    ("model.gguf", "GGUF"),
])
def test_resolve_refuses_what_cannot_be_a_model(reference, needle):
    with pytest.raises(ParameterError, match=needle) as info:
        resolve(reference)
    assert info.value.parameter == "model"


def test_a_directory_that_is_no_model_says_what_is_missing(tmp_path):
    with pytest.raises(ParameterError, match=r"not a Hugging Face model directory \(no config.json\)"):
        resolve(tmp_path)
    bad = tmp_path / "bad-adapter"
    bad.mkdir()
    (bad / "adapter_config.json").write_text("[1, 2]")
    with pytest.raises(ParameterError, match="not a readable PEFT adapter config"):
        resolve(bad)


def test_counter_without_a_loadable_tokenizer_is_the_estimate(tmp_path):
    counter, problem = get_counter("gemini-2.5-flash")
    assert counter.estimated and counter.context_limit == 131_072 and "could not be loaded offline" in problem
    counter, problem = get_counter(str(tmp_path / "missing"))
    assert counter.estimated and "does not exist" in problem
    assert get_counter(None) == (counter.__class__(), None)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from sftwise.demo.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", ["say alpha beta gamma delta"] * 20, hidden_size=16, num_layers=1, num_heads=2)


@pytest.mark.slow
def test_tiny_model_loads_and_counts(tiny):
    from sftwise.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(tiny)
    model = load_causal_lm(str(tiny), for_training=True)
    assert tokenizer.chat_template and next(model.parameters()).dtype.is_floating_point
    assert str(next(model.parameters()).dtype) == "torch.float32"
    counter, problem = get_counter(str(tiny))
    assert problem is None and not counter.estimated and counter.context_limit == 512
    assert counter.count("say alpha") == len(tokenizer("say alpha", add_special_tokens=False)["input_ids"])
    assert counter.method == f"tokenizer of {tiny}"


@pytest.mark.slow
def test_not_a_causal_lm_is_named(tiny, tmp_path):
    from sftwise.models import load_causal_lm

    t5 = tmp_path / "t5"
    t5.mkdir()
    (t5 / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 16, "num_layers": 1, "num_heads": 2, "d_kv": 8, "d_ff": 16, "vocab_size": 64}))
    with pytest.raises(ParameterError, match="is a 't5' model, not a causal language model"):
        load_causal_lm(t5)


@pytest.mark.slow
def test_lora_adapter_loads_merged_and_is_refused_for_training(tiny, tmp_path):
    pytest.importorskip("peft")
    import torch
    from peft import LoraConfig, get_peft_model

    from sftwise.models import load_causal_lm, load_tokenizer

    torch.manual_seed(0)
    peft_model = get_peft_model(load_causal_lm(tiny), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)  # the adapter alone: no tokenizer, no config.json
    ids = load_tokenizer(tiny)("say alpha beta", return_tensors="pt")["input_ids"]

    merged = load_causal_lm(adapter)
    assert not hasattr(merged, "peft_config")
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, peft_model.eval()(ids).logits, atol=1e-5)
        assert not torch.allclose(merged(ids).logits, load_causal_lm(tiny)(ids).logits, atol=1e-5)
    assert load_tokenizer(adapter).chat_template  # from the base, since the adapter saved none
    with pytest.raises(ParameterError, match="is a LoRA adapter.*train from its base model"):
        load_causal_lm(adapter, for_training=True)
