"""What a Gemini tuning job costs: billed training tokens x price, from a dated, configurable table.

Vertex AI bills supervised tuning per training token processed: dataset tokens x epochs (Google's
cost notebook also adds ~8 tokens of framing per example, which we include). No official per-token
price was in the stored sources; the defaults below are third-party figures, dated, and meant to be
replaced: pass ``prices=`` or point ``SFTWISE_GEMINI_PRICES`` at a JSON file
``{"gemini-2.5-flash": 5.0, ...}`` (USD per 1M training tokens).
"""

from __future__ import annotations

import json
import os
from datetime import date
from typing import Any

from pydantic import BaseModel

from sftwise.errors import SftwiseError
from sftwise.gemini.limits import count_dataset_tokens, resolve_model

PRICES_DATE = date(2026, 11, 1)
PRICES_SOURCE = "third-party notes collected 2026-11 (no official per-token price found); override with SFTWISE_GEMINI_PRICES"
TOKENS_PER_RECORD_OVERHEAD = 8

# USD per 1M training tokens.
TUNING_PRICES_USD_PER_M: dict[str, float] = {
    "gemini-2.5-pro": 25.0,
    "gemini-2.5-flash": 5.0,
    "gemini-2.5-flash-lite": 1.5,
}


class CostEstimate(BaseModel):
    model: str
    epochs: int
    dataset_tokens: int
    records: int
    billed_tokens: int
    usd_per_million: float | None
    usd: float | None
    prices_date: str
    prices_source: str
    tokens_counted_by: str

    def line(self) -> str:
        if self.usd is None:
            return f"{self.billed_tokens:,} billed tokens for {self.model}; no price known (set SFTWISE_GEMINI_PRICES)"
        return (f"~${self.usd:,.2f}: {self.billed_tokens:,} billed tokens x ${self.usd_per_million:g}/1M for {self.model} "
                f"(prices as of {self.prices_date}; tokens: {self.tokens_counted_by})")


def load_prices(path: str | None = None) -> dict[str, float]:
    """The default table, updated by the JSON file at ``path`` or ``$SFTWISE_GEMINI_PRICES``."""
    prices = dict(TUNING_PRICES_USD_PER_M)
    path = path or os.environ.get("SFTWISE_GEMINI_PRICES")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                extra = json.load(handle)
        except (OSError, json.JSONDecodeError) as exc:
            raise SftwiseError(f"price table {path}: cannot read it as JSON ({exc}); expected {{\"gemini-2.5-flash\": 5.0}}") from None
        if not isinstance(extra, dict) or not all(isinstance(v, (int, float)) for v in extra.values()):
            raise SftwiseError(f"price table {path}: expected an object of model -> USD per 1M tokens, e.g. {{\"gemini-2.5-flash\": 5.0}}")
        prices.update({str(k): float(v) for k, v in extra.items()})
    return prices


def estimate_tuning_cost(
    dataset_tokens: int,
    epochs: int,
    *,
    model: str,
    records: int = 0,
    prices: dict[str, float] | None = None,
    tokens_counted_by: str = "offline estimate",
) -> CostEstimate:
    """Billed tokens = epochs x (dataset tokens + 8 x records); cost = billed / 1M x the model's price."""
    if epochs < 1:
        raise SftwiseError(f"epochs must be >= 1, got {epochs}")
    if dataset_tokens < 0 or records < 0:
        raise SftwiseError(f"token and record counts must be >= 0, got {dataset_tokens} tokens, {records} records")
    table = prices if prices is not None else load_prices()
    short = model.split("/")[-1].removeprefix("gemini:")
    price = table.get(short)
    if price is None:  # versioned ids (gemini-2.5-flash-001) fall back to their family
        price = next((v for k, v in sorted(table.items(), key=lambda kv: -len(kv[0])) if short.startswith(k)), None)
    billed = epochs * (dataset_tokens + TOKENS_PER_RECORD_OVERHEAD * records)
    return CostEstimate(
        model=short, epochs=epochs, dataset_tokens=dataset_tokens, records=records, billed_tokens=billed,
        usd_per_million=price, usd=None if price is None else round(billed / 1e6 * price, 4),
        prices_date=PRICES_DATE.isoformat(), prices_source=PRICES_SOURCE, tokens_counted_by=tokens_counted_by,
    )


def estimate_dataset_cost(
    train: Any,
    epochs: int,
    *,
    model: str,
    token_counter: Any = "auto",
    prices: dict[str, float] | None = None,
) -> CostEstimate:
    """:func:`estimate_tuning_cost` for a training file or Dataset, counting its tokens for ``model``
    (the countTokens API when credentials are present, else the offline estimate, as the audit does)."""
    resolve_model(model)  # an untunable model is named as this function's parameter
    tokens, records, how = count_dataset_tokens(train, target=model, token_counter=token_counter)
    return estimate_tuning_cost(tokens, epochs, model=model, records=records, prices=prices, tokens_counted_by=how)
