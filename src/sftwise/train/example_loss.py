"""Per-example training loss under the kept checkpoint, and the examples whose loss stays far above the rest.

After training, every training example's mean token loss (over its loss-bearing tokens) under the
checkpoint the run keeps is written to ``RUN_DIR/example_losses.json``. An example the model still
cannot fit after the others are fitted is either a wrong label (the answer does not follow from the
prompt: label noise) or a genuinely hard example; both are worth a look, with ``file:line``.

Why a robust z-score: the loss distribution of a tuned model is skewed (most examples near 0, a
tail), and the outliers to find would inflate a plain mean and standard deviation. The modified
z-score of Iglewicz and Hoaglin, ``0.6745 * (x - median) / MAD``, uses the median and the median
absolute deviation, which a few outliers do not move; above ``Z_THRESHOLD`` = 3.5 (their suggested
cut-off) an example is listed. When the MAD is 0 (over half the examples share one loss) the mean
absolute deviation stands in (``1.2533 * mean |x - median|``, the same scale for normal data).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from pydantic import BaseModel, Field

EXAMPLE_LOSSES_FILE = "example_losses.json"
Z_THRESHOLD = 3.5
MAX_LISTED = 50


class ExampleLoss(BaseModel):
    source: str = Field(description="file:line of the training example")
    loss: float = Field(description="mean loss per loss-bearing token")
    tokens: int = Field(description="loss-bearing tokens")
    z: float = Field(description="robust (modified) z-score of the loss")


class ExampleLosses(BaseModel):
    """Every training example's loss under ``checkpoint``, and the suspected label-noise / hard ones."""

    checkpoint: str | None
    median: float
    mad: float
    threshold: float = Z_THRESHOLD
    suspects: list[ExampleLoss] = Field(default_factory=list, description=f"z > threshold, highest first (at most {MAX_LISTED})")
    suspects_total: int = 0
    examples: list[ExampleLoss] = Field(default_factory=list, description="every example, in file order")

    def headline(self) -> str:
        if not self.suspects_total:
            return f"no training example has a loss far above the rest (robust z > {self.threshold:g}) under {self.checkpoint}"
        shown = ", ".join(f"{s.source} (loss {s.loss:.2f})" for s in self.suspects[:5])
        return (f"{self.suspects_total} of {len(self.examples)} training examples keep a loss far above the rest under {self.checkpoint} "
                f"(robust z > {self.threshold:g}): suspected label noise or hard examples: {shown}")


def robust_z(values: Sequence[float]) -> tuple[list[float], float, float]:
    """(modified z-scores, median, MAD) of ``values``."""
    median = statistics.median(values)
    deviations = [abs(v - median) for v in values]
    mad = statistics.median(deviations)
    scale = mad / 0.6745 if mad > 0 else 1.2533 * (sum(deviations) / len(deviations))
    z = [(v - median) / scale if scale > 0 else 0.0 for v in values]
    return z, median, mad


def summarise(checkpoint: str | None, sources: Sequence[str], losses: Sequence[float], tokens: Sequence[int]) -> ExampleLosses:
    z, median, mad = robust_z(losses)
    rows = [ExampleLoss(source=s, loss=round(v, 6), tokens=n, z=round(zz, 3)) for s, v, n, zz in zip(sources, losses, tokens, z)]
    suspects = sorted((r for r in rows if r.z > Z_THRESHOLD), key=lambda r: -r.z)
    return ExampleLosses(checkpoint=checkpoint, median=round(median, 6), mad=round(mad, 6), suspects=suspects[:MAX_LISTED],
                         suspects_total=len(suspects), examples=rows)
