"""Plots for the report, rendered by matplotlib to inline SVG so report.html needs no network."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

COLORS = {"train": "#1f77b4", "validation": "#d62728", "test": "#ff7f0e", "baseline": "#7f7f7f", "tuned": "#2ca02c"}


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: the SVG is inlined in HTML


def _figure(width: float = 6.4, height: float = 3.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height))
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def curves_svg(points: Sequence[Any], metric: str, title: str, best_epoch: float | None = None, verdict: str | None = None) -> str | None:
    """Step-level train curve (faint), epoch-level train and validation curves, the chosen epoch marked."""
    fig, ax = _figure()
    drawn = False
    for split in ("train", "validation"):
        steps = [(p.epoch, getattr(p, metric)) for p in points if p.split == split and p.scope == "step" and getattr(p, metric) is not None]
        if steps and split == "train":
            ax.plot(*zip(*steps), color=COLORS[split], alpha=0.25, linewidth=1, label=f"{split} (steps)")
            drawn = True
        epochs = [(p.epoch, getattr(p, metric)) for p in points if p.split == split and p.scope == "epoch" and getattr(p, metric) is not None]
        if epochs:
            ax.plot(*zip(*epochs), color=COLORS[split], marker="o", linewidth=2, label=f"{split} (epoch end)")
            drawn = True
    if not drawn:
        import matplotlib.pyplot as plt

        plt.close(fig)
        return None
    if best_epoch is not None:
        ax.axvline(best_epoch, color="#444", linestyle="--", linewidth=1)
        ax.annotate(f"chosen: epoch {best_epoch:g}" + (f"\n{verdict}" if verdict else ""), xy=(best_epoch, ax.get_ylim()[1]), xytext=(4, -4), textcoords="offset points", va="top", fontsize=8)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    return _svg(fig)


def task_metrics_svg(points: Sequence[Any], best_epoch: float | None = None) -> str | None:
    """The validation task metrics (exact match, ...) at each evaluation during training, the kept epoch marked."""
    from sftwise.diagnose import task_curves

    metrics = task_curves(points)
    if not metrics:
        return None
    fig, ax = _figure()
    for name, curve in metrics.items():
        ax.plot(curve.x, curve.y, marker="s", linewidth=2, label=f"validation {name}")
    if best_epoch is not None:
        ax.axvline(best_epoch, color="#444", linestyle="--", linewidth=1)
        ax.annotate(f"kept: epoch {best_epoch:g}", xy=(best_epoch, ax.get_ylim()[1]), xytext=(4, -4), textcoords="offset points", va="top", fontsize=8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("task metric")
    ax.set_title("task metrics during training")
    ax.legend(fontsize=8, frameon=False)
    return _svg(fig)


def histogram_svg(series: dict[str, Sequence[float]], title: str, xlabel: str, limit: float | None = None) -> str | None:
    values = {k: v for k, v in series.items() if len(v)}
    if not values:
        return None
    fig, ax = _figure()
    for name, data in values.items():
        ax.hist(data, bins=30, alpha=0.55, label=f"{name} (n={len(data)})", color=COLORS.get(name))
    longest = max(max(v) for v in values.values())
    if limit and limit <= 2 * longest:
        ax.axvline(limit, color="#d62728", linestyle="--", linewidth=1)
        ax.annotate("context limit", xy=(limit, ax.get_ylim()[1]), xytext=(-4, -4), textcoords="offset points", ha="right", va="top", fontsize=8)
    elif limit:  # the audit always has a limit (a default of 65,536 or more): far off, it would squash the bars to one
        title = f"{title} (limit {limit:,.0f}, off the scale)"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("examples")
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    return _svg(fig)


def metric_bars_svg(rows: dict[str, dict[str, tuple[float, float | None, float | None]]], title: str) -> str | None:
    """Grouped bars per metric (one bar per model) with their confidence intervals as error bars."""
    if not rows:
        return None
    metrics = sorted({m for scores in rows.values() for m in scores})
    if not metrics:
        return None
    fig, ax = _figure(width=max(6.4, 1.4 * len(metrics) + 2))
    width = 0.8 / len(rows)
    for i, (model, scores) in enumerate(rows.items()):
        xs, heights, low, high = [], [], [], []
        for j, metric in enumerate(metrics):
            if metric not in scores:
                continue
            value, lo, hi = scores[metric]
            xs.append(j + i * width)
            heights.append(value)
            low.append(value - lo if lo is not None else 0)
            high.append(hi - value if hi is not None else 0)
        color = COLORS.get(model.split()[0], None)
        ax.bar(xs, heights, width=width, yerr=[low, high], capsize=3, label=model, color=color)
    ax.set_xticks([j + width * (len(rows) - 1) / 2 for j in range(len(metrics))], metrics)
    ax.set_ylabel("score (95 % CI)")
    ax.set_title(title)
    # under the axes: inside them the legend covers a bar whichever corner it picks
    ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(len(rows), 3))
    return _svg(fig)
