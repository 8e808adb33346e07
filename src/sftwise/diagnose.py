"""Reading a run's loss curves: healthy, under-trained, overfitting, or broken by its data.

Pure functions over :class:`sftwise.runlog.MetricPoint` lists, so the same diagnosis works on a local
run's ``metrics.jsonl``, on curves downloaded from a Vertex AI tuning job, or on numbers typed in by
hand. Only :func:`diagnose_run` touches files and :func:`plot_diagnosis` draws.

The rules, in the order they are tried (the first that fires wins)
------------------------------------------------------------------
Curves are first smoothed: step-level curves with a centred moving average over ``max(1, n/10)``
points (odd), epoch-level curves (full validation passes, little noise) are left as they are. The
*noise* of a curve is the standard deviation of raw minus smoothed. ``start`` is the mean of the
first 10 % of the raw training points (at least 3).

1. **data-issue** when any loss is NaN or infinite (confidence 0.99); when the initial training loss
   is above ``INITIAL_LOSS_MAX`` = 10 (a pretrained model on well-formed chat data starts around 2-4;
   above 10 points at a tokenizer/template mismatch or garbage targets; confidence grows with the
   excess); or when the loss *never moves*: the training loss (mean of the last 10 % vs the first 10 %, at
   least 3 points each) falls by less than ``FLAT_REL`` = 5 % of its start; with a validation
   curve (a full pass, little noise) it is the validation loss that never gets 5 % below its first
   value, the training loss then allowed to fall up to 15 % (noise) (confidence 0.6-0.95, highest when the change
   is ~0). Advice points at truncation, masking and format findings.
2. **overfitting** when the smoothed validation loss reaches its minimum before the end and then
   rises by more than ``OVERFIT_RISE_REL`` = 3 % of the minimum and by more than 3 noise levels
   (confidence 0.55-0.97, rising with the excess and with training loss still falling after the
   minimum). The best epoch is the checkpointed validation minimum; the recommended epoch count is
   that epoch, rounded up.
3. **under-trained** when the smoothed validation loss (training loss if there is no validation
   set) still falls over the last quarter of the run by more than ``UNDER_TAIL_FRAC`` = 8 % of its
   whole drop and by more than ``UNDER_TAIL_REL`` = 1.5 % of its level: no minimum was reached.
   Advice: more epochs (about 1.5-2x) or a higher learning rate (multiplier), then more data.
4. **data-issue** (plateau) when the curve has flattened but at a loss above ``PLATEAU_HIGH`` = 4.0
   nats per token: a working chat SFT run settles around 0.5-2.0 (Axolotl's rule of thumb), so a
   plateau at twice the top of that range means targets the model cannot predict (noise, shuffled
   or corrupted answers) or a model that cannot learn them (confidence 0.6-0.9). Not when the
   final token accuracy is at least ``PLATEAU_MAX_ACCURACY`` = 0.5: a model can rank the right
   token first while its probabilities stay flat (LoRA on a random-weight model does this).
5. **healthy** otherwise: validation loss flattened near its minimum. Confidence is higher the
   further the curve is from the under-trained and overfitting thresholds (0.55-0.95), and is capped
   at 0.6 with no validation curve (over-fitting cannot be seen without one).

The thresholds are module constants so a user can read, quote and (in code) change them.

Task metrics (local runs with ``eval_metrics``) are read after the rules: an *overfitting* verdict
from the validation loss is overturned to *healthy* when the run's first task metric has not fallen
since the loss minimum (``TASK_DROP_TOLERANCE`` = 0.01 below its value there at most) and ended higher
than it started: the loss rises because the model grows more confident on the tokens it still gets
wrong, while the task improves, which is not overfitting for the task. A metric that peaked and fell
while the loss looked fine is said in the advice. :func:`diagnose_run` also reads the run's
``selection.json`` (which checkpoint ``select_by`` kept, and why): that checkpoint is the diagnosis's
``best_checkpoint``, the one ``sftwise run`` evaluates and the report shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from sftwise.errors import ParameterError, SftwiseError
from sftwise.runlog import MetricPoint

INITIAL_LOSS_MAX = 10.0
FLAT_REL = 0.05
OVERFIT_RISE_REL = 0.03
OVERFIT_NOISE_K = 3.0
UNDER_TAIL_FRAC = 0.08
UNDER_TAIL_REL = 0.015
PLATEAU_HIGH = 4.0
PLATEAU_MAX_ACCURACY = 0.5
TASK_DROP_TOLERANCE = 0.01
THRESHOLDS = {
    "plateau_max_accuracy": PLATEAU_MAX_ACCURACY,
    "plateau_high": PLATEAU_HIGH,
    "initial_loss_max": INITIAL_LOSS_MAX,
    "flat_rel": FLAT_REL,
    "overfit_rise_rel": OVERFIT_RISE_REL,
    "overfit_noise_k": OVERFIT_NOISE_K,
    "under_tail_frac": UNDER_TAIL_FRAC,
    "under_tail_rel": UNDER_TAIL_REL,
    "task_drop_tolerance": TASK_DROP_TOLERANCE,
}

Verdict = Literal["healthy", "under-trained", "overfitting", "data-issue"]


class Diagnosis(BaseModel):
    """The verdict on one run's curves, with the checkpoint to keep and what to change next."""

    verdict: Verdict
    confidence: float = Field(description="0..1; how far the evidence is past the rule's threshold")
    message: str
    advice: list[str] = Field(default_factory=list)
    best_epoch: float | None = Field(None, description="epoch of the validation-loss minimum (the last epoch when it is still falling)")
    best_checkpoint: str | None = Field(None, description="checkpoint at the validation minimum, relative to the run dir")
    recommended_epochs: int | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    selection: dict[str, Any] | None = Field(None, description="the run's selection.json: the checkpoint select_by kept and why")
    label_noise: dict[str, Any] | None = Field(None, description="training examples whose loss under the kept checkpoint is far above "
                                               "the rest (example_losses.json without the full list): suspected label noise or hard examples")
    thresholds: dict[str, float] = Field(default_factory=lambda: dict(THRESHOLDS))

    def headline(self) -> str:
        return f"{self.verdict} ({self.confidence:.0%}): {self.message}"


# -- curves -------------------------------------------------------------------------------------------


class Curve(BaseModel):
    x: list[float]  # epochs
    y: list[float]
    steps: list[int]
    scope: str
    checkpoints: list[str | None] = Field(default_factory=list)


def curves(points: Sequence[MetricPoint]) -> tuple[Curve | None, Curve | None]:
    """(train, validation) loss curves: step-level points where there are enough, else epoch-level."""

    def pick(split: str, prefer: tuple[str, ...]) -> Curve | None:
        for scope in prefer:
            sel = sorted((p for p in points if p.split == split and p.scope == scope and p.loss is not None), key=lambda p: (p.step, p.epoch))
            if len(sel) >= (3 if scope == "step" else 1):
                return Curve(x=[p.epoch for p in sel], y=[p.loss for p in sel], steps=[p.step for p in sel], scope=scope, checkpoints=[p.checkpoint for p in sel])
        return None

    train = pick("train", ("step", "epoch"))
    val = pick("validation", ("epoch", "step"))
    if val is not None and val.scope == "epoch":
        # an epoch-level validation curve is too short to read when mid-epoch evaluations exist
        steps_val = pick("validation", ("step",))
        if steps_val is not None and len(steps_val.y) > 2 * len(val.y):
            merged = sorted(zip(val.x + steps_val.x, val.y + steps_val.y, val.steps + steps_val.steps, val.checkpoints + steps_val.checkpoints), key=lambda t: (t[2], t[0]))
            val = Curve(x=[m[0] for m in merged], y=[m[1] for m in merged], steps=[m[2] for m in merged], scope="step", checkpoints=[m[3] for m in merged])
    return train, val


def smooth(values: Sequence[float], scope: str = "step") -> list[float]:
    """Centred moving average over max(1, n/10) points (odd window); epoch curves unchanged."""
    n = len(values)
    if scope == "epoch" or n < 5:
        return list(values)
    w = max(1, n // 10)
    if w % 2 == 0:
        w += 1
    h = w // 2
    out = []
    for i in range(n):
        lo, hi = max(0, i - h), min(n, i + h + 1)
        out.append(sum(values[lo:hi]) / (hi - lo))
    return out


def noise(values: Sequence[float], smoothed: Sequence[float]) -> float:
    if len(values) < 3:
        return 0.0
    resid = [a - b for a, b in zip(values, smoothed)]
    mean = sum(resid) / len(resid)
    return math.sqrt(sum((r - mean) ** 2 for r in resid) / (len(resid) - 1))


def _clip(value: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, value))


# -- the diagnosis --------------------------------------------------------------------------------


def diagnose(points: Sequence[MetricPoint], *, data_notes: Sequence[str] = ()) -> Diagnosis:
    """Classify a run from its metric points (see the module docstring for the rules)."""
    points = list(points)
    return read_task_curves(_diagnose_loss(points, data_notes), points)


def task_curves(points: Sequence[MetricPoint]) -> dict[str, Curve]:
    """Validation task-metric curves (``MetricPoint.metrics``), epoch-level, by metric name, in logged order."""
    sel = sorted((p for p in points if p.split == "validation" and p.scope == "epoch" and p.metrics), key=lambda p: (p.step, p.epoch))
    out: dict[str, Curve] = {}
    for p in sel:
        for name, value in (p.metrics or {}).items():
            c = out.setdefault(name, Curve(x=[], y=[], steps=[], scope="epoch"))
            c.x.append(p.epoch), c.y.append(value), c.steps.append(p.step), c.checkpoints.append(p.checkpoint)
    return out


def read_task_curves(diagnosis: Diagnosis, points: Sequence[MetricPoint]) -> Diagnosis:
    """Overturn a loss-only 'overfitting' when the task metric still climbs; note a task metric that fell."""
    metrics = task_curves(points)
    if not metrics:
        return diagnosis
    from sftwise.train.spec import NOT_A_QUALITY

    name, curve = next(((n, c) for n, c in metrics.items() if n not in NOT_A_QUALITY), (None, None))
    if name is None:  # only length_ratio was logged: it says nothing about over- or under-fitting for the task
        return diagnosis
    diagnosis.evidence["task_metric"] = {"name": name, "epochs": curve.x, "values": curve.y}
    if len(curve.y) < 2:
        return diagnosis
    i_peak = max(range(len(curve.y)), key=lambda i: (curve.y[i], -i))
    at_loss_min = curve.y[min(range(len(curve.x)), key=lambda i: abs(curve.x[i] - diagnosis.best_epoch))] if diagnosis.best_epoch is not None else curve.y[0]
    still_climbs = curve.y[-1] >= at_loss_min - TASK_DROP_TOLERANCE and curve.y[-1] > curve.y[0]
    if diagnosis.verdict == "overfitting" and still_climbs:
        message = (f"validation loss rises after epoch {diagnosis.best_epoch:g}, but {name} still climbs ({curve.y[0]:.3f} -> {curve.y[-1]:.3f}): "
                   f"not overfitting for the task (the model grows more confident on the tokens it still gets wrong)")
        return diagnosis.model_copy(update={
            "verdict": "healthy", "confidence": 0.6, "message": message,
            "advice": [f"Choose the checkpoint by {name} (select_by: {name}), not by the validation loss; the loss minimum is epoch {diagnosis.best_epoch:g}.",
                       "More epochs may still help the task: watch the task metric, with early stopping on it."],
            "evidence": diagnosis.evidence | {"overturned": "overfitting", "loss_message": diagnosis.message},
        })
    if curve.y[-1] < curve.y[i_peak] - TASK_DROP_TOLERANCE and i_peak < len(curve.y) - 1:
        diagnosis.advice.append(f"{name} peaked at epoch {curve.x[i_peak]:g} ({curve.y[i_peak]:.3f}) and fell to {curve.y[-1]:.3f} by the end: "
                                f"the task over-fits even if the loss does not show it; keep {curve.checkpoints[i_peak] or f'epoch {curve.x[i_peak]:g}'} "
                                f"(select_by: {name}) or use early stopping on it.")
    return diagnosis


def _diagnose_loss(points: list[MetricPoint], data_notes: Sequence[str]) -> Diagnosis:
    """The loss-curve rules of the module docstring."""
    train, val = curves(points)
    if train is None and val is None:
        return Diagnosis(verdict="data-issue", confidence=0.5, message="no loss values were logged", advice=["Check that training ran and wrote metrics.jsonl."])
    evidence: dict[str, Any] = {"train_points": len(train.y) if train else 0, "validation_points": len(val.y) if val else 0}
    notes = list(data_notes)
    data_advice = ["Run `sftwise audit` on the training file and fix error-level findings (format, roles, empty turns).",
                   "Check the data report for truncated or dropped examples, and that the loss is on model turns only."] + notes

    # 1. data issues
    bad = [p for p in points if p.loss is not None and not math.isfinite(p.loss)]
    if bad:
        first = min(bad, key=lambda p: p.step)
        return Diagnosis(verdict="data-issue", confidence=0.99, message=f"the {first.split} loss is {first.loss} from step {first.step}",
                         advice=["A NaN/inf loss comes from a bad example (empty target, corrupt tokens), a learning rate far too high, or fp16 overflow; "
                                 "lower the learning rate or use bf16/fp32, and audit the data."] + data_advice,
                         evidence=evidence | {"first_nonfinite_step": first.step})
    ref = train or val
    assert ref is not None
    k0 = min(len(ref.y), max(3, len(ref.y) // 10))
    start = sum(ref.y[:k0]) / k0
    s_ref = smooth(ref.y, ref.scope)
    end = s_ref[-1]
    evidence |= {"initial_loss": round(start, 4), "final_loss": round(end, 4)}
    if start > INITIAL_LOSS_MAX:
        conf = _clip(0.7 + 0.3 * (start - INITIAL_LOSS_MAX) / INITIAL_LOSS_MAX, 0.7, 0.98)
        return Diagnosis(verdict="data-issue", confidence=round(conf, 3), message=f"the initial training loss is {start:.2f} (> {INITIAL_LOSS_MAX:g})",
                         advice=["A pretrained model on well-formed chat data starts around 2-4: check the chat template matches the model, "
                                 "and that targets are text the model could predict (not ids, base64 or shuffled tokens)."] + data_advice,
                         evidence=evidence)
    tail = sum(ref.y[-k0:]) / k0
    moved = (start - tail) / abs(start) if start else 0.0
    flat = moved < FLAT_REL
    if val is not None and len(val.y) >= 3 and val is not ref:
        # the validation curve is a full pass (little noise): trust it, with a looser bound on train
        val_moved = (val.y[0] - min(val.y)) / abs(val.y[0]) if val.y[0] else 0.0
        evidence["validation_relative_drop"] = round(val_moved, 4)
        flat = val_moved < FLAT_REL and moved < 3 * FLAT_REL
        moved = max(val_moved, 0.0)
    evidence["relative_drop"] = round(moved, 4)
    if len(ref.y) >= 3 and flat:
        conf = _clip(0.95 - 0.35 * moved / FLAT_REL, 0.6, 0.95)
        return Diagnosis(verdict="data-issue", confidence=round(conf, 3), message=f"the loss never moves (it falls {moved:.1%} from {start:.3f} over the run)",
                         advice=["A flat loss points at the data (targets unrelated to inputs, or noise), a learning rate far too low, "
                                 "or a masking error (no loss-bearing tokens)."] + data_advice,
                         evidence=evidence)

    # 2./3./4. read the validation curve (training curve when there is none)
    curve = val if val is not None and len(val.y) >= 3 else None
    basis = curve or ref
    s = smooth(basis.y, basis.scope)
    sigma = noise(basis.y, s)
    i_min = min(range(len(s)), key=lambda i: s[i])
    v_min, v_end, v_start = s[i_min], s[-1], s[0]
    total_drop = max(v_start - v_min, 1e-12)
    evidence |= {"basis": "validation" if curve else "train", "min_loss": round(v_min, 4), "end_loss": round(v_end, 4),
                 "noise": round(sigma, 5), "min_at_epoch": round(basis.x[i_min], 3), "last_epoch": round(basis.x[-1], 3)}
    best_epoch, best_ckpt = _best_checkpoint(val, points)
    last_epoch = max(p.epoch for p in points)

    rise = v_end - v_min
    rise_needed = max(OVERFIT_RISE_REL * abs(v_min), OVERFIT_NOISE_K * sigma)
    evidence["rise_after_min"] = round(rise, 5)
    if curve is not None and i_min < len(s) - 1 and rise > rise_needed:
        train_falling = _train_falls_after(train, basis.x[i_min])
        excess = rise / rise_needed
        conf = _clip(0.55 + 0.2 * math.log2(excess) + (0.1 if train_falling else -0.1), 0.55, 0.97)
        epochs = max(1, math.ceil(best_epoch if best_epoch is not None else basis.x[i_min]))
        return Diagnosis(
            verdict="overfitting", confidence=round(conf, 3),
            message=f"validation loss is lowest at epoch {best_epoch if best_epoch is not None else basis.x[i_min]:g} ({v_min:.3f}) and rises {rise / abs(v_min):.1%} after it"
            + (" while training loss keeps falling" if train_falling else ""),
            advice=[f"Keep the checkpoint at the minimum ({best_ckpt or f'epoch {best_epoch}'}); next time tune for {epochs} epoch(s).",
                    "Or lower the learning rate, or add more (and more varied) training data."],
            best_epoch=best_epoch, best_checkpoint=best_ckpt, recommended_epochs=epochs, evidence=evidence | {"train_falls_after_min": train_falling},
        )

    q = max(0, min(len(s) - 2, int(round(0.75 * (len(s) - 1)))))
    tail_drop = s[q] - v_end
    tail_frac = tail_drop / total_drop
    tail_rel = tail_drop / abs(v_end) if v_end else 0.0
    evidence |= {"tail_drop_fraction": round(tail_frac, 4), "tail_drop_relative": round(tail_rel, 4)}
    if tail_frac > UNDER_TAIL_FRAC and tail_rel > UNDER_TAIL_REL:
        excess = min(tail_frac / UNDER_TAIL_FRAC, tail_rel / UNDER_TAIL_REL)
        conf = _clip(0.55 + 0.2 * math.log2(excess), 0.55, 0.95)
        if curve is None:
            conf = min(conf, 0.7)
        epochs = max(2, math.ceil(last_epoch * 1.75))
        return Diagnosis(
            verdict="under-trained", confidence=round(conf, 3),
            message=f"{'validation' if curve else 'training'} loss is still falling at the end ({tail_frac:.0%} of its drop came in the last quarter); no minimum was reached",
            advice=[f"Train longer: about {epochs} epochs instead of {last_epoch:g}, or raise the learning rate (multiplier).",
                    "If more epochs do not help, add training data."],
            best_epoch=best_epoch, best_checkpoint=best_ckpt, recommended_epochs=epochs, evidence=evidence,
        )

    final_acc = _final_accuracy(points, "validation" if curve else "train")
    evidence["final_token_accuracy"] = final_acc
    if v_min > PLATEAU_HIGH and (final_acc is None or final_acc < PLATEAU_MAX_ACCURACY):
        conf = _clip(0.6 + 0.3 * (v_min - PLATEAU_HIGH) / PLATEAU_HIGH, 0.6, 0.9)
        return Diagnosis(
            verdict="data-issue", confidence=round(conf, 3),
            message=f"{'validation' if curve else 'training'} loss flattened at {v_min:.2f}, far above the 0.5-2.0 where working SFT runs settle",
            advice=["The targets look unpredictable from the inputs: check for corrupted, shuffled or noisy answers, a wrong chat template, "
                    "or a model too weak for the task (a LoRA on an untrained model cannot learn it)."] + data_advice,
            best_epoch=best_epoch, best_checkpoint=best_ckpt, evidence=evidence,
        )

    margin_under = 1 - min(1.0, max(tail_frac / UNDER_TAIL_FRAC, 0.0))
    margin_over = 1 - min(1.0, max(rise / rise_needed, 0.0)) if rise_needed > 0 else 1.0
    conf = _clip(0.55 + 0.4 * min(margin_under, margin_over), 0.55, 0.95)
    if curve is None:
        conf = min(conf, 0.6)
    advice = [f"Keep the final checkpoint{f' ({best_ckpt})' if best_ckpt else ''}; evaluate it on the test set."]
    if curve is None:
        advice.append("There is no validation curve: over-fitting cannot be ruled out. Tune with a validation set.")
    return Diagnosis(
        verdict="healthy", confidence=round(conf, 3),
        message=f"{'validation' if curve else 'training'} loss flattened near its minimum ({v_min:.3f}) by the end",
        advice=advice, best_epoch=best_epoch, best_checkpoint=best_ckpt, recommended_epochs=max(1, math.ceil(last_epoch)), evidence=evidence,
    )


def _best_checkpoint(val: Curve | None, points: Sequence[MetricPoint]) -> tuple[float | None, str | None]:
    """The validation minimum among checkpointed points (else among all validation points)."""
    with_ckpt = [p for p in points if p.split == "validation" and p.checkpoint and p.loss is not None and math.isfinite(p.loss)]
    if with_ckpt:
        best = min(with_ckpt, key=lambda p: (p.loss, p.step))
        return best.epoch, best.checkpoint
    if val is not None and val.y:
        i = min(range(len(val.y)), key=lambda i: val.y[i])
        return val.x[i], None
    return None, None


def _final_accuracy(points: Sequence[MetricPoint], split: str) -> float | None:
    accs = sorted(((p.step, p.epoch), p.token_accuracy) for p in points if p.split == split and p.token_accuracy is not None and math.isfinite(p.token_accuracy))
    return round(accs[-1][1], 4) if accs else None


def _train_falls_after(train: Curve | None, epoch: float) -> bool:
    if train is None:
        return False
    s = smooth(train.y, train.scope)
    after = [v for x, v in zip(train.x, s) if x >= epoch]
    return len(after) >= 2 and after[-1] < after[0]


# -- run directories and plots ------------------------------------------------------------------


def require_points(points: Sequence[MetricPoint], path: str | Path) -> Sequence[MetricPoint]:
    """``points`` read from ``path``, refused when there are none: a file without a single logged
    step is not a run to diagnose (the verdict would describe a training that never logged)."""
    if not points:
        raise SftwiseError(f"{path}: no metric points to diagnose (the file is empty); did training start? "
                           "Give the run directory of a run that logged at least one step.")
    return points


def diagnose_run(run_dir: str | Path, *, plot: str | Path | None = None) -> Diagnosis:
    """Read ``run_dir/metrics.jsonl`` (+ ``data_report.json`` for truncation notes), diagnose, optionally plot."""
    from sftwise.io import read_json
    from sftwise.runlog import read_metrics

    run_dir = Path(run_dir)
    if plot is not None:
        check_plot_path(plot)
    points = require_points(read_metrics(run_dir), run_dir)
    notes = []
    for split in read_json(run_dir / "data_report.json") or []:  # absent: a run from before the report
        if split.get("truncated"):
            notes.append(f"{split['truncated']} {split['split']} examples were truncated at max_length: their targets may be cut.")
            if split.get("dropped_overlong") or split.get("dropped_no_target"):
                notes.append(f"{split.get('dropped_overlong', 0) + split.get('dropped_no_target', 0)} {split['split']} examples were dropped (too long or no model turn).")
    diagnosis = apply_example_losses(apply_selection(diagnose(points, data_notes=notes), run_dir), run_dir)
    if plot is not None:
        plot_diagnosis(points, diagnosis, plot)
    return diagnosis


def apply_selection(diagnosis: Diagnosis, run_dir: Path) -> Diagnosis:
    """The checkpoint ``select_by`` kept (``selection.json``) becomes the diagnosis's best checkpoint, with its reason."""
    from sftwise.io import read_json
    from sftwise.train.selection import SELECTION_FILE

    selection = read_json(run_dir / SELECTION_FILE)
    if not isinstance(selection, dict) or not selection.get("checkpoint"):
        return diagnosis
    advice = [f"Checkpoint kept by {selection['select_by']}: {selection['checkpoint']} ({selection['reason']})."]
    advice += [f"Note: {note}." for note in selection.get("notes", [])]
    stop = selection.get("early_stopping") or {}
    if stop.get("stopped"):
        advice.append(f"Early stopping: {stop['reason']}.")
    return diagnosis.model_copy(update={"best_checkpoint": selection["checkpoint"], "best_epoch": selection.get("epoch", diagnosis.best_epoch),
                                        "advice": advice + diagnosis.advice, "selection": selection})


def apply_example_losses(diagnosis: Diagnosis, run_dir: Path) -> Diagnosis:
    """The run's per-example losses (``example_losses.json``): the high outliers, with ``file:line``, in the advice."""
    from sftwise.io import read_json
    from sftwise.train.example_loss import EXAMPLE_LOSSES_FILE, ExampleLosses

    data = read_json(run_dir / EXAMPLE_LOSSES_FILE)
    if data is None:
        return diagnosis
    losses = ExampleLosses.model_validate(data)
    advice = list(diagnosis.advice)
    if losses.suspects_total:
        advice.append(losses.headline() + ". Check those answers: fix wrong labels, or keep hard examples on purpose.")
    return diagnosis.model_copy(update={"advice": advice, "label_noise": losses.model_dump(exclude={"examples"})})


PLOT_FORMATS = ("png", "svg", "pdf")
"""The suffixes ``plot`` may have: the image formats a browser or a viewer opens (no suffix: PNG)."""


def check_plot_path(path: str | Path) -> str:
    """The image format of ``path`` from its suffix; any other suffix is a :class:`ParameterError`
    before any work is done (matplotlib would only refuse it after the diagnosis)."""
    suffix = Path(path).suffix.lstrip(".").lower() or "png"
    if suffix not in PLOT_FORMATS:
        raise ParameterError("plot", f"{path}: cannot draw a .{suffix} file; give a path ending in " + ", ".join(f".{s}" for s in PLOT_FORMATS) + ".")
    return suffix


def plot_diagnosis(points: Sequence[MetricPoint], diagnosis: Diagnosis, path: str | Path) -> Path:
    """Loss and token-accuracy curves (train, validation) with the verdict and best epoch drawn on."""
    suffix = check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sftwise.io import atomic_write

    train, val = curves(points)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"healthy": "tab:green", "under-trained": "tab:orange", "overfitting": "tab:red", "data-issue": "tab:purple"}
    for curve, name, color in ((train, "train", "tab:blue"), (val, "validation", "tab:orange")):
        if curve is None:
            continue
        finite = [(x, y) for x, y in zip(curve.x, curve.y) if math.isfinite(y)]
        if not finite:
            continue
        xs, ys = zip(*finite)
        if curve.scope == "step" and len(ys) >= 5:
            ax.plot(xs, ys, color=color, alpha=0.25, lw=1)
            ax.plot(xs, smooth(ys, "step"), color=color, lw=2, label=f"{name} (smoothed)")
        else:
            ax.plot(xs, ys, color=color, lw=2, marker="o", ms=3, label=name)
    for split, color in (("train", "tab:blue"), ("validation", "tab:orange")):
        acc = sorted((p.epoch, p.token_accuracy) for p in points if p.split == split and p.token_accuracy is not None and p.scope == "epoch" and math.isfinite(p.token_accuracy))
        if acc:
            ax2.plot(*zip(*acc), color=color, marker="o", ms=3, label=f"{split} token accuracy")
    for (metric, curve), color in zip(task_curves(points).items(), ("tab:green", "tab:red", "tab:purple", "tab:brown")):
        if all(0 <= y <= 1 for y in curve.y):  # the 0..1 metrics share the accuracy axis (BLEU/chrF are 0..100)
            ax2.plot(curve.x, curve.y, color=color, marker="s", ms=3, ls="--", label=f"validation {metric}")
    if diagnosis.best_epoch is not None:
        ax.axvline(diagnosis.best_epoch, color="gray", ls="--", lw=1, label=f"best epoch {diagnosis.best_epoch:g}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("token accuracy / task metric")
    ax2.set_ylim(0, 1)
    if ax2.lines:
        ax2.legend(fontsize=8)
    fig.suptitle(f"{diagnosis.verdict} ({diagnosis.confidence:.0%}): {diagnosis.message}"[:150], color=colors.get(diagnosis.verdict, "black"), fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format=suffix, dpi=110)
    plt.close(fig)
    return path
