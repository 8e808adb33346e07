"""Evaluation: task metrics (:mod:`.metrics`, :mod:`.rouge`), statistics (:mod:`.stats`), the runner
(:func:`evaluate`), system comparison (:func:`compare`) and the result files (:mod:`.results`).

``evaluate`` and ``compare`` are imported on first use, so ``import sftwise.evaluate`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compare", "evaluate"]


def __getattr__(name: str) -> Any:
    if name == "evaluate":
        from sftwise.evaluate.runner import evaluate

        return evaluate
    if name == "compare":
        from sftwise.evaluate.compare import compare

        return compare
    raise AttributeError(f"module 'sftwise.evaluate' has no attribute {name!r}")
