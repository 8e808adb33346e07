"""Gemini as a :class:`~sftwise.backends.base.Generator`: a base model or a tuned endpoint on Vertex AI.

``GeminiGenerator("gemini-2.5-flash", project=..., location=...)`` queries the base model (the
baseline); ``GeminiGenerator("projects/P/locations/L/endpoints/E", ...)`` queries a tuned model or one of
its checkpoints (see ``sftwise jobs get``). Both go through google-genai ``generate_content`` with the
request's system instruction, so ``sftwise eval`` and ``compare`` treat them like any other backend.

Requests run concurrently (``concurrency`` threads); 429 and 5xx are retried with backoff, and a
request that still fails gets ``error`` set rather than raising (the Generator contract).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sftwise.backends.base import GenerationParams, GenerationRequest, GenerationResult
from sftwise.gemini.cost import CostEstimate, estimate_tuning_cost
from sftwise.gemini.errors import with_retries
from sftwise.errors import SftwiseError

__all__ = ["CostEstimate", "GeminiGenerator", "estimate_tuning_cost"]


class GeminiGenerator:
    """Generate with a Gemini model or tuned endpoint through google-genai (Vertex AI mode)."""

    def __init__(
        self,
        model: str,
        *,
        project: str | None = None,
        location: str | None = None,
        client: Any = None,
        concurrency: int = 4,
        max_retries: int = 4,
        on_progress: Callable[[int, int], None] | None = None,
        name: str | None = None,
    ) -> None:
        model = model.removeprefix("gemini:")
        if not model:
            raise SftwiseError("GeminiGenerator needs a model id (gemini-2.5-flash) or an endpoint (projects/P/locations/L/endpoints/E)")
        if concurrency < 1:
            raise SftwiseError(f"concurrency must be >= 1, got {concurrency}")
        if model.startswith("projects/") and "/endpoints/" not in model and "/models/" not in model:
            raise SftwiseError(f"{model!r} is neither a model id nor projects/P/locations/L/endpoints/E")
        self.model = model
        self.name = name or f"gemini:{model}"
        self.concurrency = concurrency
        self.max_retries = max(0, max_retries)
        self.on_progress = on_progress
        if client is None:
            from sftwise.gemini.client import genai_client, resolve_context

            if location is None and model.startswith("projects/"):
                location = model.split("/")[3]
            client = genai_client(resolve_context(project, location, for_tuning=False))
        self.client = client

    def _config(self, system: str | None, params: GenerationParams) -> Any:
        from google.genai import types

        return types.GenerateContentConfig(
            system_instruction=system,
            temperature=params.temperature,
            top_p=params.top_p,
            max_output_tokens=params.max_new_tokens,
            stop_sequences=params.stop or None,
            seed=params.seed,
            candidate_count=1,
        )

    def _one(self, request: GenerationRequest, params: GenerationParams) -> GenerationResult:
        from google.genai import types

        contents = [
            types.Content(role="model" if m["role"] in ("assistant", "model") else "user", parts=[types.Part(text=m["content"])])
            for m in request.messages
            if m.get("role") != "system"
        ]
        system = request.system or "\n".join(m["content"] for m in request.messages if m.get("role") == "system") or None
        config = self._config(system, params)
        start = time.perf_counter()
        try:
            response = with_retries(
                lambda: self.client.models.generate_content(model=self.model, contents=contents, config=config),
                action=f"generating with {self.model}",
                attempts=self.max_retries + 1,
            )
        except SftwiseError as exc:
            return self._done(GenerationResult(id=request.id, error=str(exc), latency_s=time.perf_counter() - start))
        usage = response.usage_metadata
        text = response.text
        error = None
        if text is None:
            reason = response.candidates[0].finish_reason if response.candidates else None
            blocked = response.prompt_feedback.block_reason if response.prompt_feedback else None
            error = f"no text in the response (finish reason {reason}, block reason {blocked})"
        return self._done(GenerationResult(
            id=request.id, text=text, error=error, latency_s=time.perf_counter() - start,
            prompt_tokens=usage.prompt_token_count if usage else None,
            completion_tokens=usage.candidates_token_count if usage else None,
        ))

    def _done(self, result: GenerationResult) -> GenerationResult:
        if self.on_progress is not None:
            self.on_progress(1, result.completion_tokens or 0)
        return result

    def generate(self, requests: Sequence[GenerationRequest], params: GenerationParams) -> list[GenerationResult]:
        if self.concurrency == 1 or len(requests) <= 1:
            return [self._one(r, params) for r in requests]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda r: self._one(r, params), requests))
