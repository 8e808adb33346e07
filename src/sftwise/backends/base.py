"""The one interface every text generator implements: local HF models, OpenAI-compatible servers,
Gemini. Evaluation, judging and hard-example mining only ever see a :class:`Generator`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field


class GenerationParams(BaseModel):
    """Decoding settings; part of the response-cache key, so equal params mean equal outputs."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: list[str] = Field(default_factory=list)
    seed: int = 0


class GenerationRequest(BaseModel):
    """A chat prompt: optional system instruction and OpenAI-style messages (``user``/``assistant``)."""

    id: str
    system: str | None = None
    messages: list[dict[str, str]]


class GenerationResult(BaseModel):
    id: str
    text: str | None = None
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached: bool = False
    latency_s: float | None = None


@runtime_checkable
class Generator(Protocol):
    """Turns requests into results, in order; a failed request gets ``error`` set, never raises."""

    name: str

    def generate(self, requests: Sequence[GenerationRequest], params: GenerationParams) -> list[GenerationResult]: ...
