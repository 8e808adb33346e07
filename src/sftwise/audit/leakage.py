"""Audit check: validation/test examples that duplicate training examples (SW420 exact, SW421 near).

The work is done by :func:`sftwise.hygiene.leakage.leakage`. :func:`find_leakage` turns its report
into findings, one per leaked record, located at the validation/test record and naming the training
record it copies; :func:`check_near_leakage` is the same check registered with the audit's
cross-split hook, so ``sftwise audit --validation V --test T`` reports near leakage too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from sftwise.audit.base import AuditContext, cross_split_check, listed
from sftwise.conversation import Dataset
from sftwise.hygiene.minhash import MinHashConfig
from sftwise.hygiene.text import Normalization
from sftwise.findings import Finding, emit


def find_leakage(
    train: Dataset,
    others: Mapping[str, Dataset],
    *,
    field: str = "input",
    normalization: Normalization | None = None,
    minhash: MinHashConfig | None = None,
    near: bool = True,
) -> list[Finding]:
    """Findings for every record of ``others`` (split name -> dataset) that leaks from ``train``."""
    from sftwise.hygiene.leakage import leakage

    report = leakage(train, others, field=field, normalization=normalization, minhash=minhash, near=near)
    findings = []
    for leak in report.leaked:
        where = f"{leak.train_file}:{leak.train_line}"
        if leak.kind == "exact":
            findings.append(emit("SW420", f"this {leak.split} example's {field} is an exact copy of training example {where}.",
                                 hint="Remove it from one of the two files (sftwise split keeps duplicates on one side).",
                                 file=leak.file, line=leak.line))
        else:
            findings.append(emit("SW421", f"this {leak.split} example's {field} is a near duplicate (Jaccard {leak.similarity:.2f}) of training example {where}.",
                                 hint="Remove it from one of the two files, or re-split with sftwise split.",
                                 file=leak.file, line=leak.line))
    return findings


@cross_split_check
def check_near_leakage(splits: dict[str, Dataset], ctx: AuditContext) -> Iterator[Finding]:
    """``sftwise audit --validation V --test T``: near (and normalised-exact) leakage between splits.

    Inputs identical byte for byte are already SW403 (``audit/duplicates.py``); this check adds the
    inputs identical only after normalisation (case, whitespace, Unicode: SW420) and the near
    duplicates (SW421), for validation and test against train and test against validation.
    """
    from sftwise.hygiene.leakage import leakage

    for later, earlier_list in (("validation", ("train",)), ("test", ("train", "validation"))):
        data = splits.get(later)
        if data is None or not len(data):
            continue
        for earlier in earlier_list:
            base = splits.get(earlier)
            if base is None or not len(base):
                continue
            report = leakage(base, {later: data})
            exact_items, near_items = [], []
            for leak in report.leaked:
                where = f"{earlier} (line {leak.train_line})"
                if leak.kind == "exact":
                    raw_a = data.records[_index(data, leak.line)].conversation.input_text()
                    raw_b = base.records[_index(base, leak.train_line)].conversation.input_text()
                    if raw_a != raw_b:  # identical raw inputs are SW403 already
                        exact_items.append((leak.line, f"the same input, up to case/whitespace, is in {where}."))
                else:
                    near_items.append((leak.line, f"a near duplicate of this input (Jaccard {leak.similarity:.2f}) is in {where}."))
            hint = f"Remove it from {later} (or from {earlier}); re-split with sftwise split to keep duplicates on one side."
            yield from listed("SW420", exact_items, data.path, hint, ctx.max_listed, lambda n, e=earlier: f"{n} more {later} inputs also in {e} up to case/whitespace.")
            yield from listed("SW421", near_items, data.path, hint, ctx.max_listed, lambda n, e=earlier: f"{n} more {later} inputs near-duplicate {e}.")


def _index(data: Dataset, line: int) -> int:
    lookup = getattr(data, "_sftwise_line_index", None)
    if lookup is None:
        lookup = {r.source.line: i for i, r in enumerate(data.records)}
        data._sftwise_line_index = lookup  # type: ignore[attr-defined]
    return lookup[line]
