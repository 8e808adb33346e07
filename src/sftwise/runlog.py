"""The run directory's training log: one :class:`MetricPoint` per line of ``metrics.jsonl``.

Local training (``train/local.py``), Vertex AI jobs (``train/vertex.py``) and curves typed in by hand
all end up as this one shape, which is all that ``diagnose`` and ``report`` read. That is what lets a
Vertex run be diagnosed exactly like a local one.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from sftwise.errors import SftwiseError

from sftwise.io import WRITE_ERRNOS, atomic_write, output_error, read_jsonl

METRICS_FILE = "metrics.jsonl"


class MetricPoint(BaseModel):
    """One logged point of a training run.

    ``split`` is ``train`` or ``validation``; ``scope`` says whether the point is a step-level log
    (a running average over the last logging window) or an epoch-end evaluation over the whole split.
    ``token_accuracy`` is the fraction of correct next-token predictions over loss-bearing tokens.
    ``metrics`` holds task metrics (exact match, ROUGE, ...) of a validation point, computed by generating
    answers for ``task_eval_examples`` validation prompts in ``task_eval_seconds`` (local runs with
    ``eval_metrics``); a point without them has only the loss curves.
    """

    model_config = ConfigDict(extra="allow")

    step: int
    epoch: float
    split: Literal["train", "validation"]
    scope: Literal["step", "epoch"] = "step"
    loss: float | None = None
    token_accuracy: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    tokens_seen: int | None = None
    num_predictions: int | None = None
    checkpoint: str | None = None
    metrics: dict[str, float] | None = None
    task_eval_seconds: float | None = None
    task_eval_examples: int | None = None


def read_metrics(path: str | Path) -> list[MetricPoint]:
    """Read ``metrics.jsonl`` (or a run directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.exists():
        raise SftwiseError(f"{path} does not exist: is this a run directory of `sftwise train`?")
    return read_jsonl(path, MetricPoint.model_validate, what="a metric point", hint=" Each line needs step, epoch and split.")


def write_metrics(path: str | Path, points: Iterable[MetricPoint]) -> None:
    with atomic_write(path) as handle:
        for point in points:
            handle.write(point.model_dump_json(exclude_none=True) + "\n")


def append_metric(path: str | Path, point: MetricPoint) -> None:
    """Append one point and flush: a crash loses at most the line being written; a full disk or a
    read-only one is an :class:`~sftwise.io.OutputError` naming the log, not a bare ``OSError``."""
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(point.model_dump_json(exclude_none=True) + "\n")
            handle.flush()
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        raise output_error(path, exc) from None
