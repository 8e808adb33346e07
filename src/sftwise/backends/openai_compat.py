"""Generation through any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp, TGI, OpenAI itself).

Uses the official ``openai`` SDK pointed at ``base_url`` with the SDK's own retries switched off, so
that the retry policy is ours and visible:

* requests run on a thread pool of ``concurrency`` workers (the server's queue, not ours, decides
  the order in which it works; results always come back in request order);
* a 429, any 5xx, a timeout, a dropped connection, or a malformed response (body that is not JSON,
  no ``choices``, no text) is retried up to ``max_retries`` times with exponential backoff
  (``backoff_s * 2**attempt``, plus up to 25 % jitter, capped at 30 s), or after the wait the
  server asked for (``retry-after-ms`` / ``Retry-After``) when that is longer, capped at
  :data:`sftwise.errors.RETRY_AFTER_MAX_S`;
* other 4xx (bad request, unknown model, auth) are not retried: retrying cannot fix them;
* when the retries are spent the example gets ``error`` set, and every other example keeps its result;
  the message has the API key (and any credential in the environment) redacted, since servers echo it.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from sftwise.backends.base import GenerationParams, GenerationRequest, GenerationResult
from sftwise.errors import SftwiseError, redact, retry_after_seconds


class OpenAICompatGenerator:
    """Chat completions from ``base_url`` (e.g. ``http://localhost:8000/v1``) for ``model``."""

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        max_retries: int = 4,
        timeout_s: float = 120.0,
        backoff_s: float = 1.0,
        on_progress: Callable[[int, int], None] | None = None,
    ):
        try:
            import openai
        except ImportError:
            raise SftwiseError("the openai backend needs the openai package: pip install 'sftwise[openai]'.") from None
        if not model:
            raise SftwiseError("openai backend: the model name is empty; use openai:MODEL@http://host:port/v1.")
        if concurrency < 1:
            raise SftwiseError(f"concurrency must be >= 1, got {concurrency}.")
        self._openai = openai
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        self.name = f"openai:{model}@{self.base_url}"
        self.concurrency = concurrency
        self.max_retries = max(0, max_retries)
        self.backoff_s = backoff_s
        self.on_progress = on_progress
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=self._api_key,
            max_retries=0,
            timeout=timeout_s,
        )
        self._rng = random.Random(0)
        self._lock = threading.Lock()

    def _retryable(self, exc: BaseException) -> bool:
        o = self._openai
        if isinstance(exc, (o.APITimeoutError, o.APIConnectionError, o.RateLimitError)):
            return True
        if isinstance(exc, o.APIStatusError):
            return exc.status_code == 429 or exc.status_code >= 500
        return True  # malformed responses: JSON errors, validation errors, missing fields

    def _sleep(self, attempt: int, exc: BaseException | None = None) -> None:
        """Back off before retry ``attempt + 1``: exponential, or the server's Retry-After if longer."""
        with self._lock:
            jitter = self._rng.random() * 0.25
        delay = min(30.0, self.backoff_s * (2**attempt) * (1 + jitter))
        asked = retry_after_seconds(exc) if exc is not None else None
        time.sleep(max(delay, asked or 0.0))

    def _one(self, request: GenerationRequest, params: GenerationParams) -> GenerationResult:
        messages = ([{"role": "system", "content": request.system}] if request.system else []) + list(request.messages)
        kwargs = {
            "model": self.model,
            "messages": messages,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
        }
        if params.stop:
            kwargs["stop"] = params.stop[:4]
        last_error = "no attempt made"
        start = time.perf_counter()
        for attempt in range(self.max_retries + 1):
            try:
                response = self._client.chat.completions.create(**kwargs)
                choices = getattr(response, "choices", None)
                if not choices:
                    raise ValueError("response has no choices")
                text = choices[0].message.content
                if not isinstance(text, str):
                    raise ValueError("response choice has no text content")
                usage = getattr(response, "usage", None)
                return GenerationResult(
                    id=request.id,
                    text=text,
                    prompt_tokens=getattr(usage, "prompt_tokens", None),
                    completion_tokens=getattr(usage, "completion_tokens", None),
                    latency_s=time.perf_counter() - start,
                )
            except Exception as exc:  # noqa: BLE001 - every failure becomes this example's error
                last_error = f"{type(exc).__name__}: {redact(str(exc), self._api_key)[:300]}"
                if not self._retryable(exc) or attempt == self.max_retries:
                    break
                self._sleep(attempt, exc)
        tries = attempt + 1
        return GenerationResult(id=request.id, error=f"{last_error} (after {tries} attempt{'s' if tries > 1 else ''})", latency_s=time.perf_counter() - start)

    def generate(self, requests: Sequence[GenerationRequest], params: GenerationParams) -> list[GenerationResult]:
        if not requests:
            return []

        def run(req: GenerationRequest) -> GenerationResult:
            result = self._one(req, params)
            if self.on_progress:
                self.on_progress(1, result.completion_tokens or 0)
            return result

        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(run, requests))
