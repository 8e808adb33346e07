"""Token counting for the audit: a Hugging Face tokenizer when one loads offline, else a documented estimate.

The estimate (:func:`estimate_tokens`) is **one token per 4 bytes of UTF-8, rounded up**. For English
text that is the usual "about 4 characters per token" of both Google's Gemini docs and OpenAI's
tokenizer guide; for text in other scripts the UTF-8 byte count grows (2-3 bytes per character for
Cyrillic, Greek, CJK), which matches the higher token count of those scripts better than characters
do. It is an estimate: it can be 20-30 % off for code, numbers or unusual text, so any length finding
made with it says so (SW203). Chat-template tokens (role markers, end-of-turn) are not counted.

A :class:`TokenCounter` with a model's real tokenizer comes from :func:`sftwise.models.get_counter`
(the one module that loads models; offline only, so a hub id must be in the local cache).

:data:`CONTEXT_LIMITS` holds the per-example token limits of known models (for tuning services, the
documented per-example limit of tuning; for open models, the context window of the base model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    """Counts tokens of texts; ``estimated`` is True for :func:`estimate_tokens` (no tokenizer)."""

    name: str = "estimate"
    estimated: bool = True
    context_limit: int | None = None
    _tokenizer: Any = field(default=None, repr=False)

    @property
    def method(self) -> str:
        """How the counts are made, in words, for reports (``tokenizer of MODEL`` or the estimate's rule)."""
        return f"estimate: {CHARS_PER_TOKEN} bytes of UTF-8 per token" if self._tokenizer is None else f"tokenizer of {self.name}"

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
