"""SW300-SW309: properties of a whole split, and differences between train and validation.

* size: fewer than ~100 training examples is too few to tell whether tuning helped;
* system instructions missing in some examples, or several variants of it;
* prompt templates, output formats or turn structure that differ between train and validation (the
  validation loss then measures something other than what was trained);
* outputs whose length is far from the rest (a pasted document, a truncated label).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np

from sftwise.audit.base import AuditContext, cross_split_check, listed, split_check
from sftwise.conversation import USER, Conversation, Dataset
from sftwise.findings import Finding, Severity, emit

RECOMMENDED_MIN_EXAMPLES = 100
TEMPLATE_SAMPLE = 20_000  # examples per split looked at for template differences


@split_check
def check_dataset(split: str, dataset: Dataset, ctx: AuditContext) -> Iterator[Finding]:
    file = dataset.path
    n = len(dataset.records)
    if split == "train" and 0 < n < RECOMMENDED_MIN_EXAMPLES:
        yield emit("SW301", f"only {n} training examples (recommended: at least {RECOMMENDED_MIN_EXAMPLES}).",
                   "Collect more examples, or start with few-shot prompting until you have them.", file)
    if n == 0:
        return
    systems: Counter[str] = Counter()
    missing: list[int] = []
    for record in dataset.records:
        s = record.conversation.system
        if s:
            systems[s] += 1
        else:
            missing.append(record.source.line)
    if not systems:
        yield emit("SW306", f"{split}: no example has a system instruction.", "Consider one that states the task and output format.", file)
    elif missing:
        yield from listed("SW302", ((line, f"no system instruction, while {n - len(missing)} of {n} examples have one.") for line in missing),
                          file, "Add the same system instruction to every example (sftwise convert --system ...).", ctx.max_listed,
                          lambda k: f"{k} more examples without a system instruction.")
    if len(systems) > 1:
        top, top_n = systems.most_common(1)[0]
        if len(systems) <= 10:
            odd = ((r.source.line, f"system instruction differs from the one {top_n} of {n} examples use ({_clip(r.conversation.system)!r} vs {_clip(top)!r}).")
                   for r in dataset.records if r.conversation.system and r.conversation.system != top)
            yield from listed("SW303", odd, file, "Use one system instruction, the one you will serve with.", ctx.max_listed,
                              lambda k: f"{k} more examples with a different system instruction.")
        else:
            yield emit("SW303", f"{len(systems)} distinct system instructions; the most common is used by {top_n} of {n} examples.",
                       "Fine if they are per-example by design; otherwise normalise them.", file).model_copy(update={"severity": Severity.INFO})
    yield from _outliers(split, dataset, ctx)


def _outliers(split: str, dataset: Dataset, ctx: AuditContext) -> Iterator[Finding]:
    prof = ctx.profiles.get(split)
    if prof is None or len(prof) < 20:
        return
    out = prof.output_tokens
    q1, med, q3 = np.percentile(out, [25, 50, 75])
    iqr = max(q3 - q1, 1.0)
    high = max(q3 + 3 * iqr, 2 * med)
    low = q1 - 3 * iqr
    idx = np.flatnonzero((out > high) | ((out < low) & (out > 0)))
    yield from listed("SW305", ((prof.lines[k], f"output of {out[k]:,} tokens; the split's median is {med:,.0f} (quartiles {q1:,.0f}-{q3:,.0f}).") for k in idx),
                      dataset.path, "Check that the output is complete and is one answer.", ctx.max_listed,
                      lambda k: f"{k} more output length outliers.")


def _clip(text: str | None, n: int = 40) -> str:
    text = text or ""
    return text if len(text) <= n else text[: n - 1] + "…"


def _template(dataset: Dataset) -> tuple[dict[str, tuple[str, float]], dict[str, Counter[str]]]:
    """The dominant value and its share for each template feature of a split (first examples only),
    and the counts of every value."""
    feats: dict[str, Counter[str]] = {k: Counter() for k in ("system instruction", "prompt start", "prompt end", "output format", "turns")}
    records = dataset.records[:TEMPLATE_SAMPLE]
    for r in records:
        c: Conversation = r.conversation
        feats["system instruction"][_clip(c.system, 60) if c.system else "(none)"] += 1
        user = next((t.text for t in c.turns if t.role == USER), "")
        feats["prompt start"][" ".join(user[:80].split()[:3])] += 1
        feats["prompt end"][" ".join(user[-80:].split()[-3:])] += 1
        target = (c.target or "").lstrip()
        feats["output format"]["JSON" if target[:1] in ("{", "[") else "text"] += 1
        feats["turns"][str(len(c.turns))] += 1
    n = max(len(records), 1)
    result = {}
    for name, counter in feats.items():
        value, count = counter.most_common(1)[0] if counter else ("", 0)
        result[name] = (value, count / n)
    return result, feats


@cross_split_check
def check_template_drift(splits: dict[str, Dataset], ctx: AuditContext) -> Iterator[Finding]:
    train = splits.get("train")
    if train is None or not train.records:
        return
    base, _ = _template(train)
    for name in ("validation", "test"):
        other = splits.get(name)
        if other is None or not other.records:
            continue
        theirs, counters = _template(other)
        total = max(min(len(other.records), TEMPLATE_SAMPLE), 1)
        for feature, (value, share) in base.items():
            if share < 0.5:
                continue  # no dominant template in train for this feature
            their_share = counters[feature][value] / total
            if their_share < share / 2:
                their_value, their_top = theirs[feature]
                yield emit("SW304", f"{feature}: {share:.0%} of train has {value!r}, but only {their_share:.0%} of {name} (mostly {their_value!r}, {their_top:.0%}).",
                           f"Build {name} with the same template as train, or re-split one pool of data (sftwise split).", other.path)
