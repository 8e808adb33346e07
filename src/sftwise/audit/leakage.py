"""Audit check: validation/test examples that duplicate training examples (SW420 exact, SW421 near).

The work is done by :func:`sftwise.dedup.leakage.leakage`; this module turns its report into
findings, one per leaked record, located at the validation/test record and naming the training
record it copies.
"""

from __future__ import annotations

from collections.abc import Mapping

from sftwise.conversation import Dataset
from sftwise.dedup.minhash import MinHashConfig
from sftwise.dedup.text import Normalization
from sftwise.findings import Finding, Severity, rule

rule("SW420", "exact-leakage", Severity.ERROR,
     "A validation or test example whose (normalised) input is identical to a training example's.",
     "The model has seen the answer during training, so the metric on this example measures memory, not skill; "
     "over 4 % of standard validation sets overlap their training sets (Lee et al. 2021).",
     "test.jsonl:17: SW420 [error] exact copy of train.jsonl:912; remove it from one of the two files.")
rule("SW421", "near-leakage", Severity.WARNING,
     "A validation or test example whose input is a near duplicate (shingle Jaccard >= threshold) of a training example's.",
     "Edited copies leak as much as exact ones; the metric on them is inflated.",
     "test.jsonl:5: SW421 [warning] near duplicate (Jaccard 0.86) of train.jsonl:77.")


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
    from sftwise.dedup.leakage import leakage

    report = leakage(train, others, field=field, normalization=normalization, minhash=minhash, near=near)
    findings = []
    for leak in report.leaked:
        where = f"{leak.train_file}:{leak.train_line}"
        if leak.kind == "exact":
            findings.append(Finding(code="SW420", severity=Severity.ERROR, file=leak.file, line=leak.line,
                                    message=f"this {leak.split} example's {field} is an exact copy of training example {where}.",
                                    hint="Remove it from one of the two files (sftwise split keeps duplicates on one side)."))
        else:
            findings.append(Finding(code="SW421", severity=Severity.WARNING, file=leak.file, line=leak.line,
                                    message=f"this {leak.split} example's {field} is a near duplicate (Jaccard {leak.similarity:.2f}) of training example {where}.",
                                    hint="Remove it from one of the two files, or re-split with sftwise split."))
    return findings
