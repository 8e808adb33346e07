"""SW200-SW209: token lengths per example, against the model's per-example limit.

Counts come from the split profiles (:func:`sftwise.audit.base.profile`), made with the model's
tokenizer when it loads offline and with the documented estimate of :mod:`sftwise.tokens` otherwise.
An example over the limit is an error: trainers truncate it silently (TRL's default ``max_length`` is
1024) and the tuning services drop or truncate it, so the model learns from a cut-off answer.

A limit is always in force (:func:`sftwise.audit.targets.choose_limit`) and every finding names where it
comes from. When it is a Gemini target's own limit, SW606 (:mod:`sftwise.audit.gemini_target`) reports the
over-long examples with the service's count, so SW201 stays silent rather than say it twice.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sftwise.audit.base import AuditContext, listed, split_check
from sftwise.conversation import Dataset
from sftwise.findings import Finding, emit
from sftwise.gemini.limits import is_gemini


@split_check
def check_lengths(split: str, dataset: Dataset, ctx: AuditContext) -> Iterator[Finding]:
    prof = ctx.profiles.get(split)
    if prof is None or len(prof) == 0:
        return
    file = dataset.path
    how = "estimated tokens" if ctx.counter.estimated else f"tokens ({ctx.counter.name})"
    yield emit("SW202", f"{split}: input {how} min/p50/p90/p99/max = {_dist(prof.input_tokens)}; output = {_dist(prof.output_tokens)}.",
               "Set max_length above the p99 of input + output.", file)
    limit = ctx.max_tokens
    if not limit:
        return
    source = f" ({ctx.token_limit.label})" if ctx.token_limit and ctx.token_limit.label else ""
    total = prof.total_tokens
    service_reports_it = ctx.token_limit is not None and ctx.token_limit.kind == "target" and is_gemini(ctx.target)
    over = np.flatnonzero(total > limit) if not service_reports_it else np.empty(0, dtype=int)
    yield from listed("SW201", ((prof.lines[k], f"{total[k]:,} {how} (input {prof.input_tokens[k]:,} + output {prof.output_tokens[k]:,}) > limit {limit:,}{source}; it would be truncated.") for k in over),
                      file, "Shorten the input, split the example, or drop it." + (f" The limit: {ctx.token_limit.source}." if ctx.token_limit else ""), ctx.max_listed,
                      lambda n: f"{n} more examples over the limit of {limit:,} tokens{source}.")
    near = np.flatnonzero((total > 0.9 * limit) & (total <= limit))
    yield from listed("SW206", ((prof.lines[k], f"{total[k]:,} {how}, within 10 % of the limit {limit:,}{source}.") for k in near),
                      file, "Leave room for chat-template tokens.", ctx.max_listed, lambda n: f"{n} more examples near the limit.")


def _dist(values: np.ndarray) -> str:
    return " / ".join(f"{int(v):,}" for v in np.percentile(values, [0, 50, 90, 99, 100], method="lower"))
