"""Tiny causal language models built on the spot, for the demo and the tests (no download).

``build_tiny_model`` trains a byte-level BPE tokenizer on the given texts (byte-level, so any text
round-trips exactly, which exact-match scoring of generated JSON needs), writes a ChatML-style chat
template whose assistant turns are wrapped in ``{% generation %}`` (so transformers can return the
assistant mask), and saves a randomly initialised Llama-architecture model. The result is an ordinary
Hugging Face model directory: everything that works on it works on a real local model.

The model knows nothing before tuning, so its baseline is honest zero; it is small enough (about
0.2 M parameters at the defaults) to be fully fine-tuned, or LoRA-tuned with a high rank, on two
CPU cores in a minute or two.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sftwise.errors import SftwiseError

BOS = "<|bos|>"
PAD = "<|pad|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [PAD, BOS, IM_START, IM_END]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

TINY_MARKER = "sftwise_tiny_model"


def build_tokenizer(texts: Iterable[str], vocab_size: int = 1024):
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``texts`` with our chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(list(texts), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=IM_END,
        pad_token=PAD,
        additional_special_tokens=[IM_START],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.padding_side = "left"
    return tokenizer


def build_tiny_model(
    out_dir: str | Path,
    texts: Iterable[str],
    *,
    seed: int = 0,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    vocab_size: int = 1024,
    max_positions: int = 512,
) -> Path:
    """Build and save a random-weight Llama-style model and its tokenizer in ``out_dir``.

    ``texts`` should cover the task's vocabulary (the sample's system instruction, prompts and
    answers): the tokenizer is trained on them, so unseen words still encode (byte level) but
    into more pieces.
    """
    try:
        import torch
        from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SftwiseError(
            "building a tiny model needs the training extras: pip install torch==2.13.0 && pip install -e '.[train]'"
        ) from exc
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if hidden_size % num_heads:
        raise SftwiseError(f"hidden_size={hidden_size} must be divisible by num_heads={num_heads}")

    out = Path(out_dir)
    tokenizer = build_tokenizer(texts, vocab_size=vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 4,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / f"{TINY_MARKER}.txt").write_text(
        "A tiny random-weight model built by sftwise.demo.tiny for demos and tests; it knows nothing until tuned.\n",
        encoding="utf-8",
    )
    return out


def sample_texts() -> list[str]:
    """All texts of the bundled sample task (system, prompts, answers) to train the tokenizer on."""
    from sftwise.demo.sample import generate

    texts: list[str] = []
    for rows in generate().values():
        for conversation in rows:
            if conversation.system:
                texts.append(conversation.system)
            texts.extend(turn.text for turn in conversation.turns)
    return texts
