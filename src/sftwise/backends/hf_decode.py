"""The decoding loop of the hf backend: shared-prefix KV cache, per-row stopping, last-position logits.

One call of :func:`decode` generates for one batch of token-id prompts:

1. **Shared prefix, computed once.** The longest common token prefix of the batch (the chat
   template's system turn, the few-shot examples) is run through the model once, at batch size 1,
   and its KV cache is expanded along the batch. :class:`PrefixStore` keeps the last prefix, so the
   next batch with the same system instruction reuses it and only runs what differs. At least one
   token of every prompt is left out of the prefix, so every row has a last position to predict from.
2. **Suffix prefill, padding in the middle.** Each row's remaining tokens are left-padded to the
   longest suffix, so the cache layout is ``[prefix | pads | suffix]`` and every row's last token is in
   the last column. The 2-D attention mask masks the pads; position ids skip them (the suffix starts
   at ``len(prefix)``), so each row sees exactly the positions and tokens it would see alone.
3. **Decode.** Logits for the last position only (``logits_to_keep=1``); greedy is ``argmax`` (ties
   go to the lowest id, as in ``generate``); sampling divides by ``temperature``, keeps the smallest
   set of tokens whose probability reaches ``top_p`` (at least one), and draws with
   ``torch.multinomial`` from the global generator (seeded by the caller).
4. **Rows stop on their own.** A row ends at its end-of-turn token, at a stop string (``should_stop``)
   or at ``max_new_tokens``; finished rows are dropped from the batch and the cache
   (``Cache.batch_select_indices``), so the batch shrinks instead of carrying every row to the longest.

Numerics: in fp32 the outputs equal one-at-a-time ``generate`` except for floating-point rounding:
a matrix product over a batch (or over prefix and suffix run separately) may add in a different
order than the same product for one row, and a masked softmax sums over the pad columns (each
contributing exactly 0) in another blocking. The differences are ~1e-6 relative; they change a
greedy token only where the two best logits are that close.

:func:`unsupported` says when this loop cannot reproduce ``generate`` (encoder-decoders, caches that
are not plain full-attention layers, attention kernels other than sdpa/eager, generation-config
settings such as a repetition penalty); the caller then uses ``model.generate``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

# generation_config fields that add a logits processor this loop does not implement, with the value
# that means "off"; a model whose config sets one of them is decoded by ``generate`` instead.
_OFF = {
    "repetition_penalty": (None, 1.0),
    "encoder_repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,),
    "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "sequence_bias": (None,),
    "exponential_decay_length_penalty": (None,),
    "min_length": (None, 0),
    "num_beams": (None, 1),
    "guidance_scale": (None, 1.0),
    "watermarking_config": (None,),
}
# applied only when sampling
_OFF_SAMPLING = {"top_k": (None, 0), "min_p": (None,), "typical_p": (None, 1.0), "epsilon_cutoff": (None, 0.0), "eta_cutoff": (None, 0.0)}


def unsupported(model, sampling: bool) -> str | None:
    """Why :func:`decode` cannot stand in for ``model.generate`` on ``model``, or ``None`` when it can."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    config = model.config
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder model"
    implementation = getattr(config, "_attn_implementation", None)
    if implementation not in ("sdpa", "eager"):
        return f"attention implementation {implementation!r}"
    params = inspect.signature(model.forward).parameters
    if "cache" not in params or "position_ids" not in params:
        return "forward() takes no cache or position_ids"
    try:
        layers = DynamicCache(config=config).layers
    except Exception as exc:  # noqa: BLE001 - any failure means: let generate handle it
        return f"no dynamic cache ({type(exc).__name__})"
    if not layers or any(type(layer) is not DynamicLayer for layer in layers):
        return "sliding-window, linear or hybrid cache layers"
    gc = getattr(model, "generation_config", None)
    checks = {**_OFF, **(_OFF_SAMPLING if sampling else {})}
    for name, off in checks.items():
        value = getattr(gc, name, None)
        if value not in off:
            return f"generation_config.{name}={value!r}"
    return None


def _common_prefix(rows: Sequence[Sequence[int]]) -> int:
    first = rows[0]
    n = min(len(r) for r in rows)
    for row in rows[1:]:
        i = 0
        limit = min(n, len(row))
        while i < limit and row[i] == first[i]:
            i += 1
        n = i
        if n == 0:
            break
    return n


class PrefixStore:
    """The KV cache (batch 1) of the last shared prefix, reused by the next batch that starts with it."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.kv: list[tuple] = []  # per layer (keys, values), each [1, heads, len(ids), head_dim]

    def get(self, model, ids: list[int]) -> list[tuple]:
        import torch
        from transformers.cache_utils import DynamicCache

        keep = _common_prefix([self.ids, ids]) if self.ids else 0
        if keep == len(ids) and keep:
            return [(k[:, :, :keep], v[:, :, :keep]) for k, v in self.kv]
        cache = DynamicCache(config=model.config)
        if keep:
            for layer, (k, v) in zip(cache.layers, self.kv):
                layer.update(k[:, :, :keep], v[:, :, :keep])
        device = model.device
        rest = torch.tensor([ids[keep:]], device=device)
        positions = torch.arange(keep, len(ids), device=device).unsqueeze(0)
        model(input_ids=rest, attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=device), position_ids=positions,
              cache=cache, use_cache=True, logits_to_keep=1)
        self.ids = list(ids)
        self.kv = [(layer.keys, layer.values) for layer in cache.layers]
        return self.kv


def _sample(logits, temperature: float, top_p: float):
    import torch

    logits = logits / temperature
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(dim=-1)
        drop = probs.cumsum(dim=-1) - probs >= top_p  # keep up to and including the token reaching top_p
        drop[..., 0] = False
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return torch.multinomial(logits.softmax(dim=-1), num_samples=1).squeeze(-1)


def decode(
    model,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    eos_ids: Sequence[int],
    pad_id: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    min_new_tokens: int = 0,
    should_stop: Callable[[list[int]], bool] | None = None,
    store: PrefixStore | None = None,
) -> list[tuple[list[int], bool]]:
    """New token ids for each prompt (without the end-of-turn token) and whether it ended with one."""
    import torch
    from transformers.cache_utils import DynamicCache

    device = model.device
    batch = len(prompts)
    n_prefix = min(_common_prefix(prompts), min(len(p) for p in prompts) - 1)
    suffixes = [list(p[n_prefix:]) for p in prompts]
    width = max(len(s) for s in suffixes)
    input_ids = torch.full((batch, width), pad_id, dtype=torch.long)
    mask = torch.zeros((batch, n_prefix + width), dtype=torch.long)
    mask[:, :n_prefix] = 1
    positions = torch.ones((batch, width), dtype=torch.long)  # pads: any valid position, they are masked
    for i, s in enumerate(suffixes):
        input_ids[i, width - len(s) :] = torch.tensor(s)
        mask[i, n_prefix + width - len(s) :] = 1
        positions[i, width - len(s) :] = torch.arange(n_prefix, n_prefix + len(s))
    input_ids, mask, positions = input_ids.to(device), mask.to(device), positions.to(device)

    cache = DynamicCache(config=model.config)
    if n_prefix:
        kv = (store or PrefixStore()).get(model, list(prompts[0][:n_prefix]))
        for layer, (k, v) in zip(cache.layers, kv):
            layer.update(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))

    eos = torch.tensor(list(eos_ids), dtype=torch.long, device=device)
    generated: list[list[int]] = [[] for _ in range(batch)]
    ended = [False] * batch
    active = list(range(batch))  # original row of each row still in the batch
    next_pos = positions[:, -1] + 1
    step_ids = input_ids
    step_pos = positions
    for step in range(max_new_tokens):
        out = model(input_ids=step_ids, attention_mask=mask, position_ids=step_pos, cache=cache, use_cache=True, logits_to_keep=1)
        logits = out.logits[:, -1, :].float()
        if step < min_new_tokens:
            logits[:, eos] = float("-inf")
        tokens = logits.argmax(dim=-1) if temperature <= 0 else _sample(logits, temperature, top_p)
        keep = []
        for j, token in enumerate(tokens.tolist()):
            row = active[j]
            if token in eos_ids:
                ended[row] = True
                continue
            generated[row].append(token)
            if should_stop is not None and should_stop(generated[row]):
                continue
            keep.append(j)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, dtype=torch.long, device=device)
            cache.batch_select_indices(index)
            mask, tokens, next_pos = mask[index], tokens[index], next_pos[index]
            active = [active[j] for j in keep]
        step_ids = tokens.unsqueeze(-1)
        step_pos = next_pos.unsqueeze(-1)
        next_pos = next_pos + 1
        mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=-1)
    return [(generated[i], ended[i]) for i in range(batch)]
