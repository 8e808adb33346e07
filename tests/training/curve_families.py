"""Synthetic, labelled loss curves (noisy) for the diagnose accuracy test.

Each family is a parametric shape with the regime's defining property, drawn with seeded noise:
step-level training loss with multiplicative Gaussian noise (3-8 %), epoch-level validation loss
with small noise (a full pass over the split). Parameters are spread over realistic ranges so the
set is not one curve repeated.
"""

from __future__ import annotations

import math
import random

from sftwise.runlog import MetricPoint


def _run(rng: random.Random, epochs: int, steps_per_epoch: int, train_fn, val_fn, train_noise: float, val_noise: float, nan_at: int | None = None):
    points = []
    total = epochs * steps_per_epoch
    for step in range(1, total + 1):
        t = step / steps_per_epoch
        loss = train_fn(t) * (1 + rng.gauss(0, train_noise))
        if nan_at is not None and step >= nan_at:
            loss = float("nan")
        points.append(MetricPoint(step=step, epoch=t, split="train", scope="step", loss=loss))
    for e in range(0, epochs + 1):
        v = val_fn(e) * (1 + rng.gauss(0, val_noise))
        if nan_at is not None and e * steps_per_epoch >= nan_at:
            v = float("nan")
        points.append(MetricPoint(step=e * steps_per_epoch, epoch=e, split="validation", scope="epoch", loss=v,
                                  checkpoint=f"checkpoints/epoch-{e}" if e else None))
    return points


def family(kind: str, seed: int) -> list[MetricPoint]:
    rng = random.Random(f"{kind}-{seed}")
    epochs = rng.choice([4, 6, 8, 10, 12])
    spe = rng.choice([10, 20, 40])
    a = rng.uniform(1.0, 3.0)
    c = rng.uniform(0.3, 1.2)
    gap = rng.uniform(0.02, 0.25)
    tn, vn = rng.uniform(0.03, 0.08), rng.uniform(0.002, 0.008)
    if kind == "healthy":
        tau = epochs * rng.uniform(0.08, 0.16)
        return _run(rng, epochs, spe, lambda t: c + a * math.exp(-t / tau), lambda e: c + gap + a * math.exp(-e / tau), tn, vn)
    if kind == "under-trained":
        tau = epochs * rng.uniform(0.6, 1.5)
        return _run(rng, epochs, spe, lambda t: c + a * math.exp(-t / tau), lambda e: c + gap + a * math.exp(-e / tau), tn, vn)
    if kind == "overfitting":
        tau = epochs * rng.uniform(0.08, 0.15)
        t0 = epochs * rng.uniform(0.3, 0.6)
        b = rng.uniform(0.04, 0.15)
        return _run(rng, epochs, spe, lambda t: 0.5 * c * (1 + math.exp(-t / tau)) + a * math.exp(-t / tau) - 0.02 * t,
                    lambda e: c + gap + a * math.exp(-e / tau) + b * max(0.0, e - t0) ** 1.3, tn, vn)
    if kind == "data-issue":
        sub = seed % 3
        if sub == 0:  # garbage targets: starts very high
            hi = rng.uniform(10.5, 14)
            return _run(rng, epochs, spe, lambda t: hi - 0.3 * t, lambda e: hi + 0.2 - 0.3 * e, tn, vn)
        if sub == 1:  # never moves
            lvl = rng.uniform(1.5, 6.0)
            return _run(rng, epochs, spe, lambda t: lvl, lambda e: lvl + 0.05, tn, vn)
        tau = epochs * 0.2  # diverges to NaN
        return _run(rng, epochs, spe, lambda t: c + a * math.exp(-t / tau), lambda e: c + gap + a * math.exp(-e / tau), tn, vn,
                    nan_at=rng.randint(spe, epochs * spe - 1))
    raise ValueError(kind)


KINDS = ("healthy", "under-trained", "overfitting", "data-issue")


def synthetic_set(per_kind: int = 12) -> list[tuple[str, str, list[MetricPoint]]]:
    return [(f"synthetic-{kind}-{i}", kind, family(kind, i)) for kind in KINDS for i in range(per_kind)]
