"""Token counting for the audit: a Hugging Face tokenizer when one loads offline, else a documented estimate.

The estimate (:func:`estimate_tokens`) is **one token per 4 bytes of UTF-8, rounded up**. For English
text that is the usual "about 4 characters per token" of both Google's Gemini docs and OpenAI's
tokenizer guide; for text in other scripts the UTF-8 byte count grows (2-3 bytes per character for
Cyrillic, Greek, CJK), which matches the higher token count of those scripts better than characters
do. It is an estimate: it can be 20-30 % off for code, numbers or unusual text, so any length finding
made with it says so (SW203). Chat-template tokens (role markers, end-of-turn) are not counted.

:func:`get_counter` loads ``AutoTokenizer.from_pretrained(model, local_files_only=True)`` (no network,
so a name works only if it is in the local Hugging Face cache); transformers is imported only then.

:data:`CONTEXT_LIMITS` holds the per-example token limits of known models (for tuning services, the
documented per-example limit of tuning; for open models, the context window of the base model).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHARS_PER_TOKEN = 4  # bytes of UTF-8 per estimated token

#: per-example token limits; matched on the lower-cased model name by the longest key it contains.
CONTEXT_LIMITS: dict[str, int] = {
    # Gemini supervised tuning on Vertex AI: tokens per example (see ../shared/reference/gemini-vertex.md)
    "gemini-1.5-pro": 32_000,
    "gemini-1.5-flash": 128_000,
    "gemini-2.0-flash": 131_072,
    "gemini-2.5-flash": 131_072,
    "gemini-2.5-pro": 131_072,
    "gemini-1.0-pro": 32_768,
    # OpenAI fine-tuning: training context per example
    "gpt-3.5-turbo": 16_385,
    "gpt-4o-mini": 65_536,
    "gpt-4o": 65_536,
    "gpt-4.1": 65_536,
    # open models: context window of the base model
    "gpt2": 1_024,
    "tinyllama": 2_048,
    "llama-2": 4_096,
    "llama-3": 8_192,
    "llama-3.1": 131_072,
    "llama-3.2": 131_072,
    "llama-3.3": 131_072,
    "mistral-7b": 32_768,
    "mixtral": 32_768,
    "qwen2": 32_768,
    "qwen2.5": 32_768,
    "qwen3": 32_768,
    "gemma-2": 8_192,
    "gemma-3": 131_072,
    "phi-3-mini-4k": 4_096,
    "phi-3-mini-128k": 131_072,
    "phi-4": 16_384,
    "smollm2": 8_192,
    "smollm": 2_048,
}


def estimate_tokens(text: str) -> int:
    """Estimated tokens of ``text``: UTF-8 bytes / 4, rounded up (0 for an empty string)."""
    n = len(text) if text.isascii() else len(text.encode("utf-8"))
    return (n + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def context_limit(model: str | None) -> int | None:
    """The per-example token limit of a known model name or path, else ``None``."""
    if not model:
        return None
    name = model.lower().rstrip("/").replace("_", "-")
    best = None
    for key in CONTEXT_LIMITS:
        if key in name and (best is None or len(key) > len(best)):
            best = key
    return CONTEXT_LIMITS[best] if best else None


@dataclass
class TokenCounter:
    """Counts tokens of texts; ``estimated`` is True for the chars-based estimate."""

    name: str = "estimate"
    estimated: bool = True
    context_limit: int | None = None
    _tokenizer: Any = field(default=None, repr=False)

    def count(self, text: str) -> int:
        if self._tokenizer is None:
            return estimate_tokens(text)
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_many(self, texts: list[str], batch_size: int = 1024) -> list[int]:
        if self._tokenizer is None:
            return [estimate_tokens(t) for t in texts]
        counts: list[int] = []
        for i in range(0, len(texts), batch_size):
            ids = self._tokenizer(texts[i : i + batch_size], add_special_tokens=False)["input_ids"]
            counts.extend(len(x) for x in ids)
        return counts


def get_counter(model: str | None = None) -> tuple[TokenCounter, str | None]:
    """A counter for ``model`` and, when its tokenizer could not be loaded, the reason (else None).

    Without a model, or when the tokenizer is not available offline, the counter is the estimate;
    its context limit still comes from :data:`CONTEXT_LIMITS` when the name is known.
    """
    if not model:
        return TokenCounter(), None
    limit = context_limit(model)
    try:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        from transformers import AutoTokenizer
    except ImportError:
        return TokenCounter(context_limit=limit), "transformers is not installed (pip install 'sftwise[train]')"
    try:
        tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
    except Exception as exc:  # missing files, no network, unknown tokenizer class: all mean "not available"
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return TokenCounter(context_limit=limit), f"the tokenizer of {model!r} could not be loaded offline ({first})"
    return TokenCounter(name=model, estimated=False, context_limit=limit or _hf_limit(model, tokenizer), _tokenizer=tokenizer), None


def _hf_limit(model: str, tokenizer: Any) -> int | None:
    """The context window from config.json (max_position_embeddings) or the tokenizer's model_max_length."""
    config = Path(model) / "config.json"
    if os.path.isfile(config):
        try:
            data = json.loads(config.read_text())
            for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
                if isinstance(data.get(key), int):
                    return data[key]
        except (OSError, ValueError):
            pass
    value = getattr(tokenizer, "model_max_length", None)
    return int(value) if isinstance(value, int) and 0 < value < 10_000_000 else None
