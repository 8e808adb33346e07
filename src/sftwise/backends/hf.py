"""Local generation with a Hugging Face transformers causal LM.

Features and their trade-offs:

* **Batched, left-padded.** Prompts are sorted by length and generated ``batch_size`` at a time
  with ``padding_side="left"`` (a decoder-only model continues from the last position, so the padding
  must sit on the left); results come back in request order. Batching multiplies throughput on CPU
  and GPU; the price is that, under sampling, an example's output depends on its batch neighbours
  (the random stream is shared), so sampled outputs are reproducible for the same batch size only.
* **The model's own chat template** (``tokenizer.apply_chat_template(..., add_generation_prompt=True)``).
  A template that refuses a system role (Gemma) gets the system text prepended to the first user
  turn; a tokenizer with no template gets a plain ``role: text`` transcript, flagged in ``settings``.
* **Greedy or sampled**: ``temperature == 0`` is greedy; otherwise sampling with ``temperature``,
  ``top_p`` and ``torch.manual_seed(params.seed)``.
* **Stop sequences**: passed to ``generate(stop_strings=...)`` so decoding halts early, and the text
  is cut at the first stop sequence afterwards (the stop sequence itself is not returned).
* **Throughput**: ``on_progress(examples, new_tokens)`` after every batch, for a tokens/s bar;
  ``last_stats`` holds the token count and wall time of the last call.

An exception inside one batch (e.g. out of memory) marks that batch's examples with ``error`` and the
run goes on with the next batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sftwise.backends.base import GenerationParams, GenerationRequest, GenerationResult
from sftwise.backends.hf_decode import PrefixStore, decode, unsupported
from sftwise.errors import ParameterError, SftwiseError
from sftwise.models import load_causal_lm, load_tokenizer


DEFAULT_BATCH_SIZE = 32
"""Prompts per batch. Measured on SmolLM2-135M, the sample's 60 test prompts, 24 new tokens, 2 CPU
cores: 42.8 / 62.4 / 82.0 / 92.4 tokens/s at batch 8 / 16 / 32 / 60 (one at a time: 11.3). Past 32
the gain is small and the KV cache grows with the batch; see benchmarks/results/bench_generate_smollm2.json."""


class HFGenerator:
    """Generate with the model ``model_path`` names: a model directory, a LoRA checkpoint of ``sftwise
    train`` (merged into its base), or a hub id (see :func:`sftwise.models.resolve`)."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str | None = None,
        dtype: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        model=None,
        tokenizer=None,
        use_generate: bool = False,
    ):
        if batch_size < 1:
            raise ParameterError("batch_size", f"must be >= 1, got {batch_size}.")
        try:
            import torch
        except ImportError:
            raise SftwiseError("the hf backend needs torch and transformers: pip install 'sftwise[train]'.") from None
        self._torch = torch
        self.model_path = str(model_path)
        self.name = f"hf:{self.model_path}"
        self.batch_size = batch_size
        self.on_progress = on_progress
        self.last_stats: dict[str, float] = {}
        self.tokenizer = tokenizer or load_tokenizer(self.model_path)
        self.model = model or load_causal_lm(self.model_path, dtype=dtype)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.has_chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.use_generate = use_generate
        self.fallback_reason: str | None = None  # why the last batch went through model.generate, if it did
        self._prefixes = PrefixStore()

    # ------------------------------------------------------------------ prompts
    def render(self, request: GenerationRequest) -> str:
        """The exact prompt string the model sees for ``request``."""
        messages = list(request.messages)
        if not self.has_chat_template:
            lines = [f"system: {request.system}"] if request.system else []
            lines += [f"{m['role']}: {m['content']}" for m in messages]
            return "\n".join(lines + ["assistant:"])
        with_system = ([{"role": "system", "content": request.system}] if request.system else []) + messages
        try:
            return self.tokenizer.apply_chat_template(with_system, tokenize=False, add_generation_prompt=True)
        except Exception:  # noqa: BLE001 - templates that reject a system role raise jinja errors
            if not request.system or not messages:
                raise
            first = dict(messages[0])
            first["content"] = f"{request.system}\n\n{first['content']}"
            return self.tokenizer.apply_chat_template([first, *messages[1:]], tokenize=False, add_generation_prompt=True)

    # ------------------------------------------------------------------ generation
    def _batch(self, prompts: list[str], ids: list[list[int]], params: GenerationParams) -> list[tuple[str, int, int]]:
        self.fallback_reason = "use_generate=True" if self.use_generate else unsupported(self.model, params.temperature > 0)
        if self.fallback_reason:
            return self._generate_batch(prompts, params)
        torch = self._torch
        tok = self.tokenizer
        stops = list(params.stop)

        def should_stop(new: list[int]) -> bool:
            text = tok.decode(new, skip_special_tokens=True)
            return any(stop in text for stop in stops)

        with torch.inference_mode():
            decoded = decode(
                self.model,
                ids,
                max_new_tokens=params.max_new_tokens,
                eos_ids=[tok.eos_token_id],
                pad_id=tok.pad_token_id,
                temperature=params.temperature,
                top_p=params.top_p,
                min_new_tokens=getattr(self.model.generation_config, "min_new_tokens", None) or 0,
                should_stop=should_stop if stops else None,
                store=self._prefixes,
            )
        return [(self._text(new, params), len(prompt), len(new) + int(ended)) for prompt, (new, ended) in zip(ids, decoded)]

    def _text(self, tokens: list[int], params: GenerationParams) -> str:
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        for stop in params.stop:
            cut = text.find(stop)
            if cut >= 0:
                text = text[:cut]
        return text

    def _generate_batch(self, prompts: list[str], params: GenerationParams) -> list[tuple[str, int, int]]:
        """The fallback: ``model.generate`` on a left-padded batch."""
        torch = self._torch
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        kwargs = {
            "max_new_tokens": params.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
        }
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        prompt_len = enc["input_ids"].shape[1]
        new = out[:, prompt_len:]
        eos, pad = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        rows = []
        for i, ids in enumerate(new.tolist()):
            kept = []
            for tok in ids:
                if tok == eos or (tok == pad and pad != eos):
                    break
                kept.append(tok)
            n_prompt = int(enc["attention_mask"][i].sum())
            rows.append((self._text(kept, params), n_prompt, len(kept) + (1 if len(kept) < len(ids) else 0)))
        return rows

    def generate(self, requests: Sequence[GenerationRequest], params: GenerationParams) -> list[GenerationResult]:
        torch = self._torch
        if params.temperature > 0:
            torch.manual_seed(params.seed)
        prompts = [self.render(r) for r in requests]
        ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        order = sorted(range(len(requests)), key=lambda i: len(ids[i]))
        results: list[GenerationResult | None] = [None] * len(requests)
        start_all = time.perf_counter()
        total_tokens = 0
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            t0 = time.perf_counter()
            try:
                rows = self._batch([prompts[i] for i in chunk], [ids[i] for i in chunk], params)
            except Exception as exc:  # noqa: BLE001 - one failed batch must not lose the others
                message = f"{type(exc).__name__}: {str(exc)[:300]}"
                for i in chunk:
                    results[i] = GenerationResult(id=requests[i].id, error=message)
                if self.on_progress:
                    self.on_progress(len(chunk), 0)
                continue
            latency = (time.perf_counter() - t0) / len(chunk)
            batch_tokens = 0
            for i, (text, n_prompt, n_new) in zip(chunk, rows):
                results[i] = GenerationResult(id=requests[i].id, text=text, prompt_tokens=n_prompt, completion_tokens=n_new, latency_s=latency)
                batch_tokens += n_new
            total_tokens += batch_tokens
            if self.on_progress:
                self.on_progress(len(chunk), batch_tokens)
        elapsed = time.perf_counter() - start_all
        self.last_stats = {"completion_tokens": total_tokens, "seconds": elapsed, "tokens_per_s": total_tokens / elapsed if elapsed else 0.0}
        return [r for r in results if r is not None]
