"""Starting hyperparameters for a tuning run, from Google's published Gemini guidance, with reasons.

The table
---------
:data:`GEMINI_GUIDANCE` is Google's recommended-configuration table for supervised tuning of
Gemini 1.5 Pro and Gemini 1.5 Flash (Vertex AI documentation, "Tune Gemini models by using
supervised fine-tuning", recommended configurations by modality and dataset size; the rows as
collected in sftwise issue 5, 2026-11). ``None`` means "leave the service default" (Vertex picks
the epoch count from the dataset size; the default learning-rate multiplier is 1.0). A dataset is
*small* for the text rows when it has fewer than 1,000 examples **and** an average context under 500
tokens.

Newer Gemini models
-------------------
Google's migration note for 1.5 Flash -> 2.5 Flash: new multiplier = min(10, log2(1 + old)),
adapter size unchanged. We apply it to every 2.x model (Flash rows for flash / flash-lite, Pro rows
for pro) and clamp the adapter size to the sizes the model accepts.

Open models (the translation, documented)
-----------------------------------------
Open models use the Gemini 1.5 **Pro** rows, which give explicit numbers for every cell, translated:

* **adapter size -> LoRA rank**: Vertex's adapter size is the rank of the LoRA adapters it trains.
  We keep the rows' ratios but double them and floor at 8: ``rank = max(8, 2 x adapter_size)``
  (4 -> 8, 8 -> 16, 16 -> 32), because the open models people tune locally are far narrower than
  Gemini and the community defaults for them are r = 8..16 (PEFT 8, LLaMA-Factory 8, Axolotl and
  Unsloth 16). ``lora_alpha = 2 x rank`` (TRL's and LLaMA-Factory's ratio).
* **multiplier -> learning rate**: ``lr = BASE_LORA_LR x multiplier`` clamped to
  [``MIN_LR``, ``MAX_LR``], with ``BASE_LORA_LR`` = 1e-4 (LLaMA-Factory's LoRA default, the low end of
  the usual 1e-4..3e-4), so the "multiplier 10 on small data" row becomes 1e-3. For full fine-tuning
  the base is 1e-5.
* **"default" epochs**: 3 epochs at >= 10,000 examples, 5 at >= 1,000, 10 below.
* **Pretrained open models: at most** ``OPEN_MAX_EPOCHS`` = 3 epochs. The Pro rows' 20 epochs for small
  text data are Gemini's schedule (a multiplier-scaled rate on a far larger model); a small open
  model at the translated LoRA rate has learnt the data long before. Measured on
  SmolLM2-135M-Instruct, LoRA r8 at lr 1e-3, the sample task's first 100 training tickets, the 60
  validation tickets: validation token accuracy 0.664 / 0.963 / 0.986 / 0.998 / 1.000 and loss
  1.80 / 0.114 / 0.027 / 0.009 / 0.006 before training and after epochs 1-4: the task is learnt by
  epoch 2-3 and later epochs only sharpen what is already right, at the risk of overfitting. 3 is
  also TRL's, LLaMA-Factory's and Axolotl's default. The diagnosis then keeps the best epoch's
  checkpoint, so a cap that is one epoch too many costs time, not quality.
* A random-weight model built by ``sftwise.demo.tiny`` knows nothing, so LoRA-sized rates do not move
  it: it is tuned with full fine-tuning at ``TINY_LR`` = 3e-3.

Token counts use the model's own tokenizer when an open model's loads offline
(:func:`sftwise.models.get_counter`), else :func:`sftwise.tokens.estimate_tokens` (UTF-8 bytes / 4,
the audit's estimate); the result's ``token_count_method`` says which.

Cost
----
For Gemini models ``Recommendation.cost`` is :func:`sftwise.gemini.cost.estimate_tuning_cost` over the
dataset's tokens and the recommended epochs (4 when left to the service), and
``billable_tokens`` is its billed-token count (dataset tokens + 8 per example, x epochs, as Vertex
bills). Open models have no bill: ``billable_tokens`` is dataset tokens x epochs, the tokens the
run will process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from sftwise.errors import ParameterError, SftwiseError
from sftwise.gemini.cost import CostEstimate, estimate_tuning_cost
from sftwise.models import TINY_NAME, get_counter, is_tiny
from sftwise.tokens import TokenCounter

SOURCE = (
    "Google Cloud, Vertex AI docs: 'Tune Gemini models by using supervised fine-tuning', recommended configurations "
    "for Gemini 1.5 Pro / 1.5 Flash by modality and dataset size (as collected in sftwise issue 5, 2026-11); "
    "2.x migration rule from Google's 1.5 Flash -> 2.5 Flash migration note"
)
SMALL_EXAMPLES = 1000
SMALL_CONTEXT_TOKENS = 500
MIN_EXAMPLES = 16  # below this, do not tune at all (Gemini 1.0's hard minimum)
FEW_EXAMPLES = 100  # below this, expect noisy results (Google suggests 100-500 to start)
BASE_LORA_LR = 1e-4
BASE_FULL_LR = 1e-5
MIN_LR, MAX_LR = 5e-5, 1e-3
TINY_LR = 3e-3
OPEN_MAX_EPOCHS = 3  # pretrained open models: see "Pretrained open models" above
SERVICE_DEFAULT_EPOCHS = 4  # what the bill assumes when the epochs are left to Vertex

Modality = Literal["text", "image", "audio"]


@dataclass(frozen=True)
class GuidanceRow:
    family: str  # gemini-1.5-pro | gemini-1.5-flash
    modality: str
    size: str  # small | large | any
    epochs: int | None  # None = service default
    lr_multiplier: float | None  # None = service default (1.0)
    adapter_size: int
    note: str = ""


GEMINI_GUIDANCE: tuple[GuidanceRow, ...] = (
    GuidanceRow("gemini-1.5-pro", "text", "small", 20, 10, 4, "< 1000 examples and average context < 500 tokens"),
    GuidanceRow("gemini-1.5-pro", "text", "large", 10, None, 4, "otherwise; multiplier default or 5"),
    GuidanceRow("gemini-1.5-pro", "image", "any", 15, 5, 4, "about 1000 examples"),
    GuidanceRow("gemini-1.5-pro", "audio", "any", 20, 1, 4, ""),
    GuidanceRow("gemini-1.5-flash", "text", "small", None, 10, 4, "< 1000 examples and average context < 500 tokens"),
    GuidanceRow("gemini-1.5-flash", "text", "large", None, None, 8, "otherwise"),
    GuidanceRow("gemini-1.5-flash", "image", "small", 15, 5, 16, "epochs >= 15"),
    GuidanceRow("gemini-1.5-flash", "image", "large", 15, None, 4, "epochs <= 15"),
)

ADAPTER_SIZES = {
    "gemini-1.5-pro": (1, 4),
    "gemini-1.5-flash": (1, 4, 8, 16),
    "gemini-2.0-flash": (1, 2, 4, 8),
    "gemini-2.5-flash": (1, 2, 4, 8, 16),
    "gemini-2.5-pro": (1, 2, 4, 8),
}


class DataStats(BaseModel):
    examples: int
    avg_context_tokens: float
    total_tokens: int
    token_count_method: str


class Recommendation(BaseModel):
    """Hyperparameters to start from, each with the reason it was chosen."""

    model: str
    modality: str
    family: str = Field(description="the guidance rows used: gemini-1.5-pro, gemini-1.5-flash, or open (translated Pro rows)")
    examples: int
    avg_context_tokens: float
    token_count_method: str
    size_class: Literal["small", "large"]
    epochs: int | None = Field(None, description="None: leave the Vertex service default")
    lr_multiplier: float | None = Field(None, description="Vertex learning-rate multiplier; None: default 1.0")
    adapter_size: int | None = None
    learning_rate: float | None = Field(None, description="open models: peak learning rate")
    lora_rank: int | None = None
    lora_alpha: int | None = None
    method: Literal["lora", "full"] | None = None
    too_small: bool = False
    reasons: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    billable_tokens: int | None = Field(None, description="Gemini: tokens Vertex bills (dataset + 8 per example, x epochs; 4 assumed when left "
                                                          "to the service); open models: dataset tokens x epochs")
    cost: CostEstimate | None = Field(None, description="Gemini models: the tuning cost from sftwise.gemini.cost")
    source: str = SOURCE

    def headline(self) -> str:
        if self.too_small:
            return f"too small to tune: {self.examples} examples"
        parts = [f"epochs {self.epochs if self.epochs is not None else 'default'}"]
        if self.family == "open":
            parts += [f"lr {self.learning_rate:g}", f"{self.method} rank {self.lora_rank}" if self.method == "lora" else "full fine-tuning"]
        else:
            parts += [f"lr multiplier {self.lr_multiplier if self.lr_multiplier is not None else 'default'}", f"adapter {self.adapter_size}"]
        return ", ".join(parts)


def gemini_family(model: str) -> tuple[str, str | None]:
    """(guidance family, 2.x model key or None) for a Gemini model id; ('open', None) for anything else."""
    if not _is_gemini(model):
        return "open", None
    name = model.lower().rsplit("/", 1)[-1]
    for key in ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash"):
        if name.startswith(key):
            return ("gemini-1.5-pro" if "pro" in key else "gemini-1.5-flash"), key
    if "pro" in name:
        return "gemini-1.5-pro", None
    if "flash" in name:
        return "gemini-1.5-flash", None
    raise ParameterError("model", f"{model!r}: no tuning guidance for this Gemini model; use a 1.5/2.x Pro or Flash model id.")


def data_stats(path: str | Path, model: str | None = None) -> DataStats:
    """Example count and average context (system + all turns) in tokens.

    An open model's own tokenizer counts when it loads offline; Gemini models (whose tokenizer is
    not local) and the rest get the audit's estimate.
    """
    from sftwise.formats import load

    texts = [c.full_text() for c in load(path).conversations]
    counter = get_counter(model)[0] if model and model != TINY_NAME and not _is_gemini(model) else TokenCounter()
    total = sum(counter.count_many(texts))
    return DataStats(examples=len(texts), avg_context_tokens=round(total / len(texts), 1) if texts else 0.0, total_tokens=total,
                     token_count_method=counter.method)


def recommend(model: str, data: str | Path | None = None, modality: Modality = "text", *, stats: DataStats | None = None, method: Literal["lora", "full"] | None = None) -> Recommendation:
    """Recommend epochs, learning rate (multiplier) and adapter size / LoRA rank for ``model`` on ``data``.

    Give ``data`` (a training file) or precomputed ``stats``. Explains each choice in ``reasons``.
    """
    if modality not in ("text", "image", "audio"):
        raise ParameterError("modality", f"must be text, image or audio, got {modality!r}.")
    if stats is None:
        if data is None:
            raise ParameterError("data", "recommend needs the training data (a file) or its statistics (stats).")
        stats = data_stats(data, model)
    family, newer = gemini_family(model)
    guidance_family = "gemini-1.5-pro" if family == "open" else family
    small = stats.examples < SMALL_EXAMPLES and stats.avg_context_tokens < SMALL_CONTEXT_TOKENS
    size_class = "small" if small else "large"
    row = _row(guidance_family, modality, size_class)
    reasons = [
        f"{stats.examples} examples, average context {stats.avg_context_tokens:g} tokens ({stats.token_count_method}): "
        + (f"small (< {SMALL_EXAMPLES} examples and < {SMALL_CONTEXT_TOKENS} tokens)" if small else f"large (>= {SMALL_EXAMPLES} examples or >= {SMALL_CONTEXT_TOKENS} tokens)"),
        f"guidance row: {row.family} {row.modality} {row.size}: epochs {row.epochs or 'default'}, multiplier {row.lr_multiplier or 'default'}, adapter {row.adapter_size}"
        + (f" ({row.note})" if row.note else ""),
    ]
    warns: list[str] = []
    rec: dict[str, Any] = {}
    too_small = stats.examples < MIN_EXAMPLES
    if too_small:
        warns.append(f"only {stats.examples} examples: too few to tune at all (at least {MIN_EXAMPLES}, better 100-500). "
                     "Try few-shot prompting of the base model, or collect more examples.")
    elif stats.examples < FEW_EXAMPLES:
        warns.append(f"only {stats.examples} examples: tuning will be noisy and overfit fast; Google suggests starting with 100-500.")
    if modality != "text" and family == "open":
        warns.append(f"{modality} data on an open model: the local recipe tunes text only; the {modality} rows are used for the schedule only.")

    if family == "open":
        tiny = is_tiny(model)
        epochs = row.epochs if row.epochs is not None else _default_epochs(stats.examples)
        mult = row.lr_multiplier if row.lr_multiplier is not None else 1.0
        chosen_method = method or ("full" if tiny else "lora")
        if tiny:
            lr = TINY_LR
            reasons.append(f"{model} is a random-weight sftwise.demo.tiny model: full fine-tuning at lr {TINY_LR:g} (LoRA-sized rates do not move an untrained model)")
        else:
            base = BASE_LORA_LR if chosen_method == "lora" else BASE_FULL_LR
            lr = min(MAX_LR, max(MIN_LR, base * mult)) if chosen_method == "lora" else base * min(mult, 5)
            reasons.append(f"learning rate {lr:g} = base {base:g} x multiplier {mult:g}" + (f", clamped to [{MIN_LR:g}, {MAX_LR:g}]" if chosen_method == "lora" else ", multiplier capped at 5 for full fine-tuning"))
        rank = max(8, 2 * row.adapter_size)
        reasons.append(f"LoRA rank {rank} = max(8, 2 x adapter size {row.adapter_size}), alpha {2 * rank}")
        reasons.append(f"epochs {epochs}" + (" (the row's value)" if row.epochs is not None else f" (service default translated: {_default_epochs_rule()})"))
        if not tiny and epochs > OPEN_MAX_EPOCHS:
            reasons.append(f"epochs capped at {OPEN_MAX_EPOCHS} for a pretrained open model: measured on SmolLM2-135M with LoRA, the "
                           "validation token accuracy reaches 0.99 by epoch 2-3 and later epochs only risk overfitting "
                           "(the diagnosis keeps the best epoch's checkpoint)")
            epochs = OPEN_MAX_EPOCHS
        rec.update(epochs=epochs, learning_rate=lr, lora_rank=rank, lora_alpha=2 * rank, method=chosen_method)
    else:
        mult = row.lr_multiplier
        adapter = row.adapter_size
        if newer is not None:
            old = mult if mult is not None else 1.0
            mult = round(min(10.0, math.log2(1 + old)), 3)
            reasons.append(f"{newer}: multiplier min(10, log2(1 + {old:g})) = {mult:g} (Google's 1.5 -> 2.5 migration rule)")
        allowed = ADAPTER_SIZES.get(newer or family, ())
        if allowed and adapter not in allowed:
            fitted = max(a for a in allowed if a <= adapter) if any(a <= adapter for a in allowed) else min(allowed)
            reasons.append(f"adapter size {adapter} is not offered for {newer or family} ({allowed}); using {fitted}")
            adapter = fitted
        if row.epochs is None:
            reasons.append("epochs left to the service default (set from the dataset size)")
        rec.update(epochs=row.epochs, lr_multiplier=mult, adapter_size=adapter)
    epochs_for_bill = rec.get("epochs") or SERVICE_DEFAULT_EPOCHS
    cost = None
    if family != "open":
        cost = estimate_tuning_cost(stats.total_tokens, epochs_for_bill, model=model, records=stats.examples, tokens_counted_by=stats.token_count_method)
    return Recommendation(
        model=model, modality=modality, family=family, examples=stats.examples, avg_context_tokens=stats.avg_context_tokens,
        token_count_method=stats.token_count_method, size_class=size_class, too_small=too_small, reasons=reasons, warnings=warns,
        billable_tokens=cost.billed_tokens if cost else stats.total_tokens * epochs_for_bill, cost=cost, **rec,
    )


def _row(family: str, modality: str, size: str) -> GuidanceRow:
    rows = [r for r in GEMINI_GUIDANCE if r.family == family and r.modality == modality]
    if not rows and modality == "audio":
        rows = [r for r in GEMINI_GUIDANCE if r.family == "gemini-1.5-pro" and r.modality == "audio"]
    for r in rows:
        if r.size in (size, "any"):
            return r
    raise SftwiseError(f"no guidance row for {family} {modality}")  # pragma: no cover - the table covers every case


def _default_epochs(examples: int) -> int:
    return 3 if examples >= 10_000 else 5 if examples >= 1_000 else 10


def _default_epochs_rule() -> str:
    return "3 at >= 10k examples, 5 at >= 1k, 10 below"


def _is_gemini(model: str) -> bool:
    return model.lower().rsplit("/", 1)[-1].startswith("gemini")
