"""Dataset statistics in the shape Vertex AI reports for a tuning dataset.

Vertex's ``supervised_tuning_data_stats`` gives an example count, a total character count and, per
role, a token distribution with ``sum, min, max, mean, median, p5, p95, buckets``. :class:`Distribution`
has those fields plus ``p50 / p90 / p99`` (the audit's own summary) so one object serves both.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from sftwise.audit.base import SplitProfile


class Bucket(BaseModel):
    count: int
    left: float
    right: float


class Distribution(BaseModel):
    count: int = 0
    sum: int = 0
    min: float = 0
    max: float = 0
    mean: float = 0
    median: float = 0
    p5: float = 0
    p50: float = 0
    p90: float = 0
    p95: float = 0
    p99: float = 0
    buckets: list[Bucket] = []

    @classmethod
    def of(cls, values: np.ndarray, bins: int = 10) -> Distribution:
        if len(values) == 0:
            return cls()
        p5, p50, p90, p95, p99 = (float(x) for x in np.percentile(values, [5, 50, 90, 95, 99]))
        counts, edges = np.histogram(values, bins=bins)
        return cls(
            count=len(values), sum=int(values.sum()), min=float(values.min()), max=float(values.max()),
            mean=round(float(values.mean()), 3), median=p50, p5=p5, p50=p50, p90=p90, p95=p95, p99=p99,
            buckets=[Bucket(count=int(c), left=float(edges[i]), right=float(edges[i + 1])) for i, c in enumerate(counts)],
        )

    def short(self) -> str:
        """``min / p50 / p90 / p99 / max`` for a table cell."""
        return " / ".join(f"{v:,.0f}" for v in (self.min, self.p50, self.p90, self.p99, self.max))


class DatasetStats(BaseModel):
    """Statistics of one split (the names of Vertex's fields in brackets)."""

    split: str
    file: str | None = None
    format: str | None = None
    example_count: int  # tuning_dataset_example_count
    total_characters: int  # total_tuning_character_count
    total_tokens: int  # total_billable_token_count (before the service's per-record overhead)
    tokenizer: str
    tokens_estimated: bool
    context_limit: int | None = None
    truncated_example_count: int = 0  # total_truncated_example_count
    input_tokens: Distribution  # user_input_token_distribution
    output_tokens: Distribution  # user_output_token_distribution
    example_tokens: Distribution
    messages_per_example: Distribution  # user_message_per_example_distribution


def dataset_stats(split: str, file: str | None, format: str | None, prof: SplitProfile, tokenizer: str, estimated: bool,
                  limit: int | None) -> DatasetStats:
    truncated = int((prof.total_tokens > limit).sum()) if limit else 0
    return DatasetStats(
        split=split, file=file, format=format, example_count=len(prof), total_characters=int(prof.characters.sum()),
        total_tokens=int(prof.total_tokens.sum()), tokenizer=tokenizer, tokens_estimated=estimated, context_limit=limit,
        truncated_example_count=truncated, input_tokens=Distribution.of(prof.input_tokens),
        output_tokens=Distribution.of(prof.output_tokens), example_tokens=Distribution.of(prof.total_tokens),
        messages_per_example=Distribution.of(prof.messages),
    )
