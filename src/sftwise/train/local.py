"""The local tuning recipe: LoRA (PEFT) or full fine-tuning of a causal LM on transformers, loop in view.

Features and their trade-offs
-----------------------------
* **The model** is whatever :func:`sftwise.models.resolve` reads (a model directory, a hub id),
  loaded in float32 (autocast lowers the compute, not the master weights); a LoRA adapter
  directory is refused, since a new checkpoint on its merged weights would name the wrong base.
* **Chat template, assistant-only loss.** Examples are rendered with the model's own chat template
  (``tokenizer.apply_chat_template``); only model turns carry loss, *including their end-of-turn
  token*, so the tuned model learns to stop (see ``train/data.py`` for how the turns are located).
  Examples with no loss-bearing token are counted and dropped, never trained on silently.
* **Loss positions only.** The output layer (vocabulary x hidden) is applied only where the shifted
  label carries loss, in chunks (``_forward``): the full ``batch x length x vocab`` logits are never
  built (400 MB in float32 for SmolLM2 at 8 x 256, three times that with the softmax and its
  gradient). DDP/FSDP-wrapped models, and models whose split cannot be found or does not reproduce
  their own logits, keep the full-logits path. On the CPU, glibc is told to return freed blocks to
  the OS (``_return_freed_memory``), which keeps the resident peak at the live tensors' peak.
* **Over-long examples** are counted and reported *before* training. ``overlong="error"`` (default)
  stops with the count and the first offenders; ``"truncate"`` cuts them at ``max_length``;
  ``"drop"`` leaves them out. The counts are in ``data_report.json`` either way.
* **Monitoring.** Every ``log_every`` optimizer steps and at every epoch end, for train *and*
  validation: loss (mean over loss-bearing tokens), token accuracy (top-1 next-token prediction
  over loss-bearing tokens, the quantity TRL calls ``mean_token_accuracy`` and Vertex
  ``fraction_of_correct_next_step_preds``), tokens seen, learning rate and grad norm. They go to
  ``metrics.jsonl`` (:class:`sftwise.runlog.MetricPoint`) and TensorBoard (``tb/``). The epoch-end
  *train* point is the token-weighted average over the epoch's batches (the model moved during the
  epoch, as on Vertex); the epoch-end *validation* point is a full pass over the validation split.
  A validation pass before the first step (epoch 0) records where the model started.
* **Task metrics** (``eval_metrics``, single process): at every epoch end, and every ``eval_every``
  steps, greedy answers to a fixed, seeded subset of the validation prompts (``eval_generate_examples``,
  at most ``eval_max_new_tokens`` new tokens each) are scored with the run's metrics by the
  ``evaluator`` the caller passes (``sftwise.evaluate`` is a later layer); the values and the seconds
  they took go on the validation point (``train/task_eval.py``), and a run where they took over a
  quarter of the time says so, with the knobs that bound them.
* **The checkpoint kept** (``select_by``) and **early stopping** are decided from the epoch-end
  evaluations by ``train/selection.py`` and written to ``selection.json``; the training loss of every
  example under that checkpoint goes to ``example_losses.json`` (``train/example_loss.py``).
* **Checkpoints** at every epoch end hold the adapter only (LoRA) or the model (full), the
  tokenizer, and ``trainer_state.pt`` (optimizer, scheduler, RNG states, epochs run, step, tokens
  seen). Each is written into a temporary directory and renamed into place, so a crash or a full
  disk mid-write leaves the previous checkpoint intact; the optimizer state of older checkpoints is
  removed once the new one is in place (they stay loadable for evaluation, not for resuming).
  The file side of checkpoints and resuming lives in ``train/checkpoint.py``.
* **Resume** (``resume=True``) restores from the newest complete checkpoint: weights, optimizer,
  scheduler, RNG states, epochs run and tokens seen; log lines and TensorBoard events written
  after that checkpoint are dropped, so no step shows twice. Only the newest checkpoint keeps that
  state: when it was deleted, resume refuses and says what the older ones can still be used for;
  a disk without room for the next checkpoint is refused before training. Only the same training
  may be resumed (``train/fingerprint.py``: same base model, same data by content, same settings);
  more epochs with everything else equal continues, with a note; any other difference is refused,
  naming what differs.
* **Gradient accumulation**: effective batch = ``batch_size`` x ``grad_accum`` x processes. The
  loss of a window is the sum over its loss-bearing tokens divided by the window's token count, so
  accumulation does not change the result (unlike averaging per micro-batch).
* **Batching**: ``length_grouped`` (default) sorts within shuffled mega-batches to cut padding;
  ``packed`` bin-packs whole examples into ``max_length`` rows with position ids restarting per
  example, which transformers turns into a block-diagonal mask (no cross-example attention).
* **Precision**: ``auto`` = bf16 autocast on GPUs that support it, fp16 autocast with a gradient
  scaler on others, fp32 on CPU. fp16/bf16 on CPU is refused.
* **Many GPUs (DDP or FSDP)**: launch this module with torchrun or accelerate and a YAML TrainSpec::

      torchrun --nproc_per_node 8 -m sftwise.train.local spec.yaml [--resume]
      accelerate launch --multi_gpu --num_processes 8 -m sftwise.train.local spec.yaml [--resume]

  (``accelerate launch`` only starts the processes and sets ``WORLD_SIZE``/``RANK``; its own
  ``--use_fsdp`` options are not read, the spec's ``distributed`` field decides.) Each process
  trains on every ``world_size``-th batch (the last ``< world_size`` batches of an epoch are
  skipped so all processes take the same number of steps); metric sums are all-reduced so the
  logged numbers cover all data; only rank 0 writes. The backend is NCCL on GPUs and gloo on CPU
  (both modes tested with 2 CPU processes).

  ``distributed: ddp`` (default) keeps a whole model on every process and averages gradients with
  ``DistributedDataParallel``. ``distributed: fsdp`` is for models whose weights, gradients and
  AdamW state do not fit one GPU: PyTorch's FSDP2 (``fully_shard``) shards each decoder layer
  (transformers' ``_no_split_modules``, e.g. ``LlamaDecoderLayer``) and then the rest of the model
  over the processes; a layer's weights are gathered only for its forward and backward. The model
  is loaded on the CPU and each shard moved to its GPU, so no GPU ever holds the whole model.
  Gradients are reduce-scattered every micro-batch (no unsharded gradient copy is kept during
  accumulation); fp16 uses ``ShardedGradScaler`` so all processes skip the same overflowing steps.
  Validation runs the sharded model on every process in lockstep (a process without a batch of its
  own runs a filler batch that is not counted), since each forward gathers weights collectively.
  Checkpoints are unchanged: the full weights (LoRA: the adapter only) and the optimizer state are
  gathered to rank 0's CPU and written in the single-process format, so ``diagnose``, eval and
  ``resume=True`` (under either mode) read them as before. Resume loads the weights before sharding
  and scatters the optimizer state into the shards. The process group, the wrapping and the
  gathering live in ``train/distributed.py``.

Why not TRL's ``SFTTrainer``
----------------------------
It would serve for the happy path, but: it truncates at ``max_length`` silently and drops
examples without trainable tokens silently (we must count and report both); its token accuracy on
the eval split is computed only when an eval loop runs and its train accuracy is a per-logging-step
value, not the epoch-level train *and* validation pair diagnose needs; checkpoints are written in
place (a full disk can leave a torn ``checkpoint-N``); and the loop is inside ``Trainer``'s
callbacks. ``benchmarks/bench_train.py`` measures that this explicit loop costs nothing in
throughput against it.

Raises :class:`sftwise.errors.SftwiseError` for: a model path that does not exist or is not a causal
LM (``ParameterError`` for ``model``), a tokenizer without a chat template (naming the template to
pass), over-long examples under ``overlong="error"`` (:class:`OverlongExamples`), an empty split,
fp16/bf16 on CPU (``precision``), a run directory that already holds a run without ``resume``
(``run_dir``), a full disk while checkpointing, ``distributed="fsdp"`` on a torch without
``torch.distributed.fsdp.fully_shard``.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import sys
import time
import warnings
import weakref
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from sftwise.errors import ParameterError, SftwiseError
from sftwise.io import require_dir_or_absent, write_json
from sftwise.models import load_causal_lm, load_tokenizer
from sftwise.runlog import METRICS_FILE, MetricPoint, append_metric, read_metrics
from sftwise.train.checkpoint import (
    CHECKPOINTS, TENSORBOARD_DIR, check_config, check_space, complete_checkpoints, latest_checkpoint, load_trainer_state, optimizer_state,
    remove_stale_checkpoint_temps, restore_training_state, restore_weights, rng_state, save_checkpoint, truncate_log,
    unresumable,
)
from sftwise.train.data import IGNORE_INDEX, PreparedSplit, batch_order, ensure_chat_template, iter_batches, load_conversations, pack, prepare_split
from sftwise.train.distributed import Dist, gather_weights, grad_scaler, parallelize, unwrap
from sftwise.train.fingerprint import TrainingFingerprint, compare_run, training_fingerprint, write_fingerprint
from sftwise.train.example_loss import EXAMPLE_LOSSES_FILE, summarise
from sftwise.train.selection import SELECTION_FILE, Candidate, Selection, TaskEvaluator, choose, early_stop
from sftwise.train.spec import CONFIG_FILE, VALIDATION_LOSS, TrainSpec
from sftwise.train.task_eval import TaskEvalSet, load_task_evals, run_task_eval, save_task_eval, task_eval_set

class TrainResult(BaseModel):
    """What a finished (or resumed-and-finished) local run produced."""

    run_dir: str
    epochs_run: int
    steps: int
    tokens_seen: int
    checkpoints: list[str] = Field(default_factory=list, description="checkpoint dirs relative to run_dir, oldest first")
    final_train_loss: float | None = None
    final_validation_loss: float | None = None
    initial_validation_accuracy: float | None = None
    final_validation_accuracy: float | None = None
    train_seconds: float = 0.0
    tokens_per_second: float = 0.0
    peak_memory_mb: float | None = None
    data_report: list[dict[str, Any]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    resumed_from: str | None = None
    selected_checkpoint: str | None = Field(None, description="the checkpoint diagnose, eval and the report use (selection.json says why)")
    selection_reason: str | None = None
    stopped_early: bool = False
    task_eval_seconds: float = Field(0.0, description="seconds spent generating and scoring task metrics (included in train_seconds)")

    @property
    def summary(self) -> str:
        acc = ""
        if self.final_validation_accuracy is not None:
            acc = f", validation token accuracy {self.initial_validation_accuracy or 0:.3f} -> {self.final_validation_accuracy:.3f}"
        kept = f"; kept {self.selected_checkpoint}" if self.selected_checkpoint else ""
        stop = " (stopped early)" if self.stopped_early else ""
        return f"{self.epochs_run} epochs{stop}, {self.steps} steps, {self.tokens_seen} tokens{acc}{kept}"


# -- the recipe -------------------------------------------------------------------------------------


def train(spec: TrainSpec, *, resume: bool = False, progress: bool = False, evaluator: TaskEvaluator | None = None) -> TrainResult:
    """Tune ``spec.model`` on ``spec.train`` and return what happened; everything lands in ``spec.run_dir``.

    ``evaluator`` scores the task metrics ``spec.eval_metrics`` names (built by the caller with
    ``sftwise.evaluate.training.training_evaluator(spec)``: the metrics live in a later layer)."""
    import torch

    run_dir = require_dir_or_absent(spec.run_dir, "run_dir")
    dist = Dist.setup()
    notes: list[str] = []
    fsdp = spec.distributed == "fsdp" and dist.world > 1
    if spec.distributed == "fsdp" and not fsdp:
        notes.append("distributed=fsdp ignored: a single process has nothing to shard across (launch with torchrun or accelerate)")

    # 1. Numerics first: the model is loaded in the dtype they decide.
    device, amp_dtype, use_scaler = _precision(spec.precision, dist)
    if spec.num_threads:
        torch.set_num_threads(spec.num_threads)
    _seed_everything(spec.seed + dist.rank)

    # Resume continues only the same training (or the same with more epochs): checked before
    # anything is loaded, so a mismatch fails in a second.
    fingerprint = training_fingerprint(spec)  # the data hashed once: compared on resume, then recorded
    if resume and latest_checkpoint(run_dir) is not None:
        notes += _check_resumable(spec, run_dir, fingerprint)

    # 2. Tokenizer, then data: the rows depend on the template, and the length report must come
    #    before anything expensive (the model load), so a bad dataset fails fast.
    tokenizer = _load_tokenizer(spec)
    splits = _prepare_data(spec, tokenizer, notes)
    train_split, val_split = splits["train"], splits.get("validation")
    eval_set = _task_eval_setup(spec, evaluator, dist, notes)

    # 3. Model, then the adapter on it. Under FSDP it stays on the CPU: fully_shard moves each
    #    process's shard to the GPU, so the whole model never has to fit on one.
    model = _load_model(spec, tokenizer, torch.device("cpu") if fsdp else device)
    if device.type == "cpu" and sum(p.numel() for p in model.parameters()) >= MMAP_MIN_PARAMETERS:
        _return_freed_memory()

    # 4. Resume state: config check and the checkpoint to restore (weights restored before the
    #    optimizer is built over them, and before FSDP shards them: the checkpoint holds full tensors).
    start_epoch, global_step, tokens_seen, state = 0, 0, 0, None
    if resume and dist.is_main:
        remove_stale_checkpoint_temps(run_dir)  # a killed save's folder: before the space check it may fail
    latest = latest_checkpoint(run_dir) if resume else None
    if resume and latest is None and complete_checkpoints(run_dir):
        raise unresumable(run_dir, spec)  # starting over would discard the log and overwrite those checkpoints
    if resume and latest is None and dist.is_main:
        notes.append(f"resume: no checkpoint in {run_dir / CHECKPOINTS}, starting from scratch")
        truncate_log(run_dir, -1)  # a run that died before its first checkpoint left only stale log lines
    if latest is not None:
        notes += check_config(spec, run_dir)
        state = load_trainer_state(latest)
        if state["epochs_run"] < spec.epochs:
            check_space(run_dir, latest)  # a disk still full: say so now, not after an epoch of training
        restore_weights(model, latest, spec)
        start_epoch, global_step, tokens_seen = state["epochs_run"], state["step"], state["tokens_seen"]
    elif dist.is_main:
        if (run_dir / METRICS_FILE).exists() and not resume:
            raise ParameterError("run_dir", f"{run_dir} already holds a run (metrics.jsonl); resume it or choose another directory.")
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / CONFIG_FILE, spec)
        write_fingerprint(spec, run_dir, fingerprint)
        write_json(run_dir / "data_report.json", [s.report() for s in splits.values()])

    train_rows = pack(train_split.examples, spec.max_length, tokenizer.pad_token_id) if spec.batching == "packed" else train_split.examples
    steps_per_epoch = math.ceil(math.ceil(len(train_rows) / spec.batch_size) / dist.world / spec.grad_accum)
    total_steps = steps_per_epoch * spec.epochs

    # 5. DDP/FSDP wrapping, then the optimizer over the trainable parameters, then the scheduler,
    #    which needs the step count. Under FSDP the optimizer is built over the shards, so each
    #    process keeps only its share of the AdamW state.
    model = parallelize(model, device, dist, fsdp=fsdp, notes=notes)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=spec.learning_rate, weight_decay=spec.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(spec, total_steps))
    scaler = grad_scaler(use_scaler, fsdp)
    if state is not None:
        restore_training_state(state, model, optimizer, scheduler, scaler, fsdp=fsdp)
        if dist.is_main:
            truncate_log(run_dir, global_step)

    log = _Logger(run_dir, spec.tensorboard and dist.is_main, dist)
    pad_id = tokenizer.pad_token_id
    packed = spec.batching == "packed"

    def autocast():
        return torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()

    def validate() -> tuple[float, float, int]:
        return evaluate_split(unwrap(model), val_split.examples, spec.batch_size, pad_id, device, autocast, dist, lockstep=fsdp)

    task_seconds = 0.0

    def task_point(step: int, epoch: float, checkpoint: str | None) -> dict[str, Any]:
        """Task metrics of the model as it is now (empty without eval_metrics), saved with their answers."""
        nonlocal task_seconds
        if eval_set is None:
            return {}
        with autocast():
            evaluation = run_task_eval(unwrap(model), tokenizer, eval_set, evaluator, spec.eval_max_new_tokens, device, step, epoch)
        evaluation.checkpoint = checkpoint
        task_seconds += evaluation.seconds
        save_task_eval(run_dir, evaluation, eval_set)
        history_answers[step] = evaluation.predictions
        return {"metrics": evaluation.metrics, "task_eval_seconds": evaluation.seconds, "task_eval_examples": eval_set.used}

    history_answers: dict[int, list[str | None]] = {}
    if eval_set is not None and latest is not None:
        history_answers = {e.step: e.predictions for e in load_task_evals(run_dir, global_step)}
    candidates = _candidates(run_dir, history_answers) if latest is not None else []
    stopping = _stopping(spec, candidates)

    # 6. Where the model starts.
    init_val = None
    if val_split is not None and start_epoch == 0:
        init_val = validate()
        log.point(MetricPoint(step=0, epoch=0, split="validation", scope="epoch", loss=init_val[0], token_accuracy=init_val[1], tokens_seen=0, num_predictions=init_val[2]))

    peak = _PeakMemory(device)
    started, trained_tokens = time.perf_counter(), 0
    checkpoints = [str(p.relative_to(run_dir)) for p in complete_checkpoints(run_dir)] if latest is not None else []
    bar = _progress(progress and dist.is_main, total_steps, global_step)

    # 7. The loop (skipped when the run being resumed had already stopped early).
    epochs_run = start_epoch
    last_epoch = start_epoch if stopping and stopping.stopped else spec.epochs  # a run that already stopped early trains nothing more
    for epoch in range(start_epoch, last_epoch):
        model.train()
        rng = random.Random(spec.seed * 1000 + epoch)
        order = batch_order(train_rows, spec.batch_size, "plain" if packed else spec.batching, rng)
        if dist.world > 1:  # every process needs the same number of steps, or DDP's all-reduce waits forever
            order = order[: len(order) - len(order) % dist.world]
        order = order[dist.rank :: dist.world]
        windows = [order[i : i + spec.grad_accum] for i in range(0, len(order), spec.grad_accum)]
        ep = _Sums()
        win = _Sums()
        for w_idx, window in enumerate(windows):
            batches = list(iter_batches(train_rows, window, pad_id, packed))
            window_tokens = sum(b.n_loss_tokens for b in batches)
            grad_norm = None
            for k, batch in enumerate(batches):
                # DDP all-reduces only the window's last micro-batch; FSDP reduce-scatters every one
                # into the sharded gradients, which is what keeps no full-size gradient around
                accumulate = dist.world > 1 and not fsdp and k < len(batches) - 1
                with (model.no_sync() if accumulate else contextlib.nullcontext()), autocast():
                    loss_sum, correct, count = _forward(model, batch, device)
                    loss = loss_sum / max(window_tokens, 1)
                (scaler.scale(loss) if scaler else loss).backward()
                value = float(loss_sum.detach())
                ep.add(value, correct, count, batch.n_tokens)
                win.add(value, correct, count, batch.n_tokens)
            if scaler:
                scaler.unscale_(optimizer)
            if spec.max_grad_norm > 0:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, spec.max_grad_norm))
            else:
                grad_norm = float(torch.norm(torch.stack([p.grad.detach().norm() for p in trainable if p.grad is not None])))
            lr = scheduler.get_last_lr()[0]
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            global_step += 1
            step_tokens = dist.sum_int(sum(b.n_tokens for b in batches))
            tokens_seen += step_tokens
            trained_tokens += step_tokens
            if not math.isfinite(value):
                notes.append(f"non-finite training loss at step {global_step}")
            if global_step % spec.log_every == 0:
                loss_w, acc_w, n_w = win.reduce(dist)
                log.point(MetricPoint(step=global_step, epoch=epoch + (w_idx + 1) / len(windows), split="train", scope="step",
                                      loss=loss_w, token_accuracy=acc_w, lr=lr, grad_norm=grad_norm, tokens_seen=tokens_seen, num_predictions=n_w))
                win = _Sums()
            if spec.eval_every and val_split is not None and global_step % spec.eval_every == 0:
                v = validate()
                at = epoch + (w_idx + 1) / len(windows)
                log.point(MetricPoint(step=global_step, epoch=at, split="validation", scope="step", loss=v[0], token_accuracy=v[1],
                                      tokens_seen=tokens_seen, num_predictions=v[2], **task_point(global_step, at, None)))
                model.train()
            if bar:
                bar.update(1)
        # 8. Epoch end: train average, a validation pass, a checkpoint.
        loss_e, acc_e, n_e = ep.reduce(dist)
        name = f"epoch-{epoch + 1}"
        ckpt_rel = f"{CHECKPOINTS}/{name}"
        log.point(MetricPoint(step=global_step, epoch=epoch + 1, split="train", scope="epoch", loss=loss_e, token_accuracy=acc_e,
                              lr=scheduler.get_last_lr()[0], grad_norm=grad_norm, tokens_seen=tokens_seen, num_predictions=n_e, checkpoint=ckpt_rel))
        if val_split is not None:
            v = validate()
            task = task_point(global_step, epoch + 1, ckpt_rel)
            log.point(MetricPoint(step=global_step, epoch=epoch + 1, split="validation", scope="epoch", loss=v[0], token_accuracy=v[1],
                                  tokens_seen=tokens_seen, num_predictions=v[2], checkpoint=ckpt_rel, **task))
            candidates.append(Candidate(checkpoint=ckpt_rel, epoch=epoch + 1, step=global_step, validation_loss=v[0],
                                        metrics=task.get("metrics", {}), predictions=history_answers.get(global_step, [])))
        # Under FSDP every process must take part in gathering the shards; rank 0 alone receives them.
        weights = gather_weights(model, spec.method == "lora") if fsdp else None
        optimizer_saved = optimizer_state(model, optimizer, fsdp=fsdp)
        if dist.is_main:
            state = {
                "epochs_run": epoch + 1, "step": global_step, "tokens_seen": tokens_seen,
                "optimizer": optimizer_saved, "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler else None, "rng": rng_state(), "seed": spec.seed,
                "total_epochs": spec.epochs,
            }
            save_checkpoint(run_dir, name, unwrap(model), tokenizer, state, spec, weights=weights)
            checkpoints.append(ckpt_rel)
        dist.barrier()
        epochs_run = epoch + 1
        stopping = _stopping(spec, candidates)
        if stopping and stopping.stopped:
            notes.append(f"early stopping: {stopping.reason}")
            break
    if bar:
        bar.stop()
    log.close()
    elapsed = time.perf_counter() - started
    if task_seconds > TASK_EVAL_SHARE_WARN * elapsed:
        notes.append(f"task metrics took {task_seconds:.0f} s of the run's {elapsed:.0f} s ({task_seconds / elapsed:.0%}); to bound them, lower "
                     f"eval_generate_examples ({spec.eval_generate_examples}) or eval_max_new_tokens ({spec.eval_max_new_tokens}), or evaluate less often (eval_every)")
    selection = _select(spec, candidates, evaluator, eval_set, stopping, checkpoints)
    if dist.is_main and selection is not None:
        write_json(run_dir / SELECTION_FILE, selection)
    if spec.example_losses and dist.world > 1:
        notes.append("example_losses skipped: per-example losses are computed in a single process (run `sftwise train` on one device)")
    elif spec.example_losses:
        kept = selection.checkpoint if selection else None
        if kept and checkpoints and kept != checkpoints[-1]:
            restore_weights(unwrap(model), run_dir / kept, spec)  # the kept checkpoint's weights, not the last epoch's
        losses = example_losses(unwrap(model), train_split.examples, pad_id, device, autocast)
        write_json(run_dir / EXAMPLE_LOSSES_FILE, summarise(kept, [e.source for e in train_split.examples], *zip(*losses)))
    points = read_metrics(run_dir) if (run_dir / METRICS_FILE).exists() else []
    final_val = [p for p in points if p.split == "validation" and p.scope == "epoch"]
    final_train = [p for p in points if p.split == "train" and p.scope == "epoch"]
    result = TrainResult(
        run_dir=str(run_dir), epochs_run=epochs_run, steps=global_step, tokens_seen=tokens_seen, checkpoints=checkpoints,
        final_train_loss=final_train[-1].loss if final_train else None,
        final_validation_loss=final_val[-1].loss if final_val else None,
        initial_validation_accuracy=final_val[0].token_accuracy if final_val else None,
        final_validation_accuracy=final_val[-1].token_accuracy if final_val else None,
        train_seconds=round(elapsed, 3), tokens_per_second=round(trained_tokens / elapsed, 1) if elapsed > 0 else 0.0,
        peak_memory_mb=peak.read(), data_report=[s.report() for s in splits.values()], warnings=notes,
        resumed_from=str(latest) if latest is not None else None,
        selected_checkpoint=selection.checkpoint if selection else None, selection_reason=selection.reason if selection else None,
        stopped_early=bool(stopping and stopping.stopped), task_eval_seconds=round(task_seconds, 3),
    )
    if dist.is_main:
        write_json(run_dir / "train_result.json", result)
    dist.close()
    return result


# -- steps of the recipe ----------------------------------------------------------------------------


def _task_eval_setup(spec: TrainSpec, evaluator: TaskEvaluator | None, dist: Dist, notes: list[str]) -> TaskEvalSet | None:
    """The task-evaluation prompts when ``spec.eval_metrics`` asks for them; what cannot work is refused up front."""
    needs_validation = [name for name, on in (("eval_metrics", spec.eval_metrics), ("early_stopping", spec.early_stopping),
                                              ("select_by", spec.select_by)) if on]
    if needs_validation and not spec.validation:
        raise ParameterError(needs_validation[0], "needs a validation set (validation=...): it is computed on the validation split")
    if not spec.eval_metrics:
        return None
    if evaluator is None:
        raise ParameterError("eval_metrics", "task metrics need an evaluator: start the run with `sftwise train` or `sftwise run`, or pass "
                                             "evaluator=sftwise.evaluate.training.training_evaluator(spec) to train()")
    if dist.world > 1:
        raise ParameterError("eval_metrics", "task metrics during training run in a single process; under torchrun leave eval_metrics "
                                             "empty and evaluate the checkpoints afterwards with `sftwise eval`")
    eval_set = task_eval_set(spec.validation, spec.format, spec.eval_generate_examples, spec.seed)
    if not eval_set.requests:
        raise ParameterError("eval_metrics", f"the validation set {spec.validation} has no example with a model answer to score")
    if eval_set.note:
        notes.append(eval_set.note)
    return eval_set


def _candidates(run_dir: Path, answers: dict[int, list[str | None]]) -> list[Candidate]:
    """The checkpointed epoch-end evaluations a resumed run already made (from its log, already truncated)."""
    return [Candidate(checkpoint=p.checkpoint, epoch=p.epoch, step=p.step, validation_loss=p.loss, metrics=p.metrics or {},
                      predictions=answers.get(p.step, []))
            for p in read_metrics(run_dir) if p.split == "validation" and p.scope == "epoch" and p.checkpoint]


def _stopping(spec: TrainSpec, candidates: list[Candidate]) -> Any:
    if spec.early_stopping is None:
        return None
    return early_stop(candidates, spec.stopping_quantity, spec.early_stopping.patience, spec.early_stopping.min_delta)


def _select(spec: TrainSpec, candidates: list[Candidate], evaluator: TaskEvaluator | None, eval_set: TaskEvalSet | None,
            stopping: Any, checkpoints: list[str]) -> Selection | None:
    """The checkpoint to keep, by ``spec.selection_quantity`` (the last one, said so, without a validation set)."""
    if not checkpoints:
        return None
    if not candidates:
        return Selection(select_by=spec.selection_quantity, checkpoint=checkpoints[-1], reason="no validation set: the last checkpoint is kept")
    selection = choose(candidates, spec.selection_quantity, evaluator, eval_set.references if eval_set else ())
    selection.early_stopping = stopping
    if spec.selection_quantity != VALIDATION_LOSS:
        by_loss = choose(candidates, VALIDATION_LOSS)
        if by_loss.checkpoint != selection.checkpoint:
            selection.notes.append(f"by validation loss it would be {by_loss.checkpoint} ({by_loss.reason})")
    return selection


def _check_resumable(spec: TrainSpec, run_dir: Path, fingerprint: TrainingFingerprint) -> list[str]:
    """Refuse to resume a run trained with another config (its weights would carry both); allow more
    epochs with everything else equal, saying what continuing means for the schedule."""
    verdict = compare_run(spec, run_dir, fingerprint)
    if verdict.action == "retrain":
        fewer = ""
        if set(verdict.changes) == {"epochs"}:
            before, after = verdict.changes["epochs"]
            fewer = (f" ({CHECKPOINTS}/epoch-{after} holds that run after {after} of its {before} epochs, on its {before}-epoch "
                     "learning-rate schedule: evaluate it directly if that is what you want.)")
        raise ParameterError(
            "resume",
            f"{run_dir} was trained with a different config ({verdict.describe()}); resuming would continue those "
            f"weights as if this config had made them. Train this config in a new run directory, or remove {run_dir} "
            f"to retrain from scratch; only more epochs with every other setting unchanged can continue a run.{fewer}",
        )
    if verdict.action == "extend":
        before, after = verdict.changes["epochs"]
        return [f"resume: epochs {before} -> {after} with every other setting unchanged: continuing from the last checkpoint; "
                f"the learning-rate schedule is re-planned over {after} epochs from there, so the weights are not those of a fresh "
                f"{after}-epoch run (train one in a new run directory for that)"]
    return []


TASK_EVAL_SHARE_WARN = 0.25  # above this share of the run's time, the task evaluation's cost is pointed out, with the knobs that bound it

HEAD_CHUNK = 1024  # loss-bearing rows projected onto the vocabulary at a time (x vocab x 4 bytes: 200 MB at 49k)

# config keys of a final scaling of the logits, as in the models' own forward; the one-time check in
# ``_loss_head`` catches any family whose forward does something else to them
_SOFTCAP_KEY = "final_logit_softcapping"                     # Gemma 2/3: cap * tanh(logits / cap)
_MULTIPLY_KEYS = ("logit_scale", "output_multiplier", "lm_head_multiplier")  # Cohere, Falcon-H1 ...
_DIVIDE_KEY = "logits_scaling"                               # Granite, MiniCPM3

_heads: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> _LossHead | None (None: the full-logits path)


def _forward(model: Any, batch: Any, device: Any) -> tuple[Any, int, int]:
    """Summed token loss, correct top-1 predictions and loss-bearing token count of one batch.

    Only the model turns carry loss (about one position in nine in the sample task), so the
    output layer is applied only there: the backbone gives hidden states for every position, the
    rows whose *shifted* label is not ``IGNORE_INDEX`` are picked out, and the head (vocabulary x
    hidden, 49,152 rows for SmolLM2) is applied to them in chunks of ``HEAD_CHUNK`` rows. The full
    ``batch x length x vocab`` float32 logits (400 MB at 8 x 256 x 49k, three times that with the
    log-softmax and its gradient) and the argmax over them are never built. With more than one chunk
    each chunk is recomputed in the backward pass (``torch.utils.checkpoint``) so memory stays at
    one chunk's logits; one chunk (the usual case) is not recomputed. The loss sum, the correct count
    and the count equal the full-logits computation's up to float rounding; the mask, the positions
    and the count are computed on the CPU from the labels, so they cost no device sync.

    Works for plain transformers causal LMs (backbone ``base_model_prefix``, head
    ``get_output_embeddings()``, tied or not), LoRA through PEFT (the LoRA layers live inside those
    modules), packed rows (position ids go to the backbone, which builds the block-diagonal mask)
    and gradient checkpointing (it sits in the decoder layers). Logit scaling and soft-capping named
    by the config are applied as the models' forward applies them.

    Falls back to the full logits of ``model(...)`` when the split is unsafe or unknown:
    DDP- and FSDP-wrapped models (calling their submodules directly would skip DDP's forward
    bookkeeping and FSDP2's all-gather of the root's weights, the embeddings and head), PEFT prompt
    learning (it changes the inputs in the wrapper's forward), models without a backbone or output
    layer to find, and any model whose split disagrees with its own forward on the first batch
    (checked once per model on a short slice, so a family that post-processes its logits in a way
    not listed above is caught rather than trained wrong).
    """
    import torch
    from torch.utils.checkpoint import checkpoint

    kwargs = {"input_ids": batch.input_ids.to(device), "use_cache": False}
    if batch.attention_mask is not None:
        kwargs["attention_mask"] = batch.attention_mask.to(device)
    if batch.position_ids is not None:
        kwargs["position_ids"] = batch.position_ids.to(device)
    labels = batch.labels[:, 1:]
    rows, cols = (labels != IGNORE_INDEX).nonzero(as_tuple=True)  # on the CPU: no device sync
    count = int(rows.numel())
    head = _loss_head(model, kwargs)
    if head is None:
        logits = model(**kwargs).logits[:, :-1, :].float()
        labels = labels.to(device)
        loss_sum = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum")
        correct = int(((logits.argmax(-1) == labels) & (labels != IGNORE_INDEX)).sum())
        return loss_sum, correct, count
    hidden = head.backbone(**kwargs)[0]
    if count == 0:
        return hidden.sum() * 0.0, 0, 0  # still a graph, so backward() works on an all-prompt batch
    width = hidden.size(1)
    picked = hidden.reshape(-1, hidden.size(-1)).index_select(0, (rows * width + cols).to(device, non_blocking=True))
    targets = labels[rows, cols].to(device, non_blocking=True)
    chunks = range(0, count, HEAD_CHUNK)
    loss_sum, correct = 0, 0
    for start in chunks:
        h, t = picked[start : start + HEAD_CHUNK], targets[start : start + HEAD_CHUNK]
        if len(chunks) > 1 and torch.is_grad_enabled():
            part_loss, part_correct = checkpoint(head.loss, h, t, use_reentrant=False)
        else:
            part_loss, part_correct = head.loss(h, t)
        loss_sum, correct = loss_sum + part_loss, correct + part_correct
    return loss_sum, int(correct), count


class _LossHead:
    """A causal LM split into its backbone (hidden states) and its output layer, with the final
    scaling of the logits its forward applies."""

    def __init__(self, backbone: Any, head: Any, scale: float, softcap: float | None) -> None:
        self.backbone, self.head, self.scale, self.softcap = backbone, head, scale, softcap

    def logits(self, hidden: Any) -> Any:
        logits = self.head(hidden)
        if self.scale != 1.0:
            logits = logits * self.scale
        if self.softcap:
            logits = (logits / self.softcap).tanh() * self.softcap
        return logits

    def loss(self, hidden: Any, targets: Any) -> tuple[Any, Any]:
        import torch

        logits = self.logits(hidden).float()
        return torch.nn.functional.cross_entropy(logits, targets, reduction="sum"), (logits.argmax(-1) == targets).sum()


def _loss_head(model: Any, kwargs: dict[str, Any]) -> _LossHead | None:
    """The split of ``model`` for :func:`_forward` (found and checked once per model), or None."""
    if model not in _heads:
        head = _find_loss_head(model)
        if head is not None and not _agrees_with_forward(model, head, kwargs):
            warnings.warn(f"{type(model).__name__}: the output layer applied to the backbone's hidden states does not reproduce the "
                          "model's logits; computing the full logits instead (slower, more memory)", stacklevel=3)
            head = None
        _heads[model] = head
    return _heads[model]


def _find_loss_head(model: Any) -> _LossHead | None:
    import torch

    if isinstance(model, torch.nn.parallel.DistributedDataParallel) or _is_fsdp(model):
        return None
    base = model
    if hasattr(model, "peft_config"):
        if any(getattr(c, "is_prompt_learning", False) for c in model.peft_config.values()):
            return None
        base = model.get_base_model()
    backbone = getattr(base, getattr(base, "base_model_prefix", "") or "", None)
    get_head = getattr(base, "get_output_embeddings", None)
    head = get_head() if callable(get_head) else None
    if not isinstance(backbone, torch.nn.Module) or backbone is base or not isinstance(head, torch.nn.Module):
        return None
    config = base.config.get_text_config() if hasattr(base.config, "get_text_config") else base.config
    scale = 1.0
    for key in _MULTIPLY_KEYS:
        if getattr(config, key, None) is not None:
            scale = float(getattr(config, key))
            break
    else:
        if getattr(config, _DIVIDE_KEY, None):
            scale = 1.0 / float(getattr(config, _DIVIDE_KEY))
    return _LossHead(backbone, head, scale, getattr(config, _SOFTCAP_KEY, None))


def _is_fsdp(model: Any) -> bool:
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # pragma: no cover - torch without FSDP2 never shards
        return False
    return any(isinstance(m, FSDPModule) for m in model.modules())


def _agrees_with_forward(model: Any, head: _LossHead, kwargs: dict[str, Any]) -> bool:
    """The split's logits match ``model(...)``'s on the first row's first 16 positions (eval mode, no grad)."""
    import torch

    small = {k: (v[:1, :16] if torch.is_tensor(v) else v) for k, v in kwargs.items()}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            want = model(**small).logits.float()
            got = head.logits(head.backbone(**small)[0]).float()
    except Exception:  # noqa: BLE001 - any failure of the split means: use the model's own forward
        return False
    finally:
        model.train(was_training)
    return want.shape == got.shape and bool(torch.allclose(got, want, rtol=1e-2, atol=1e-2 * max(1.0, float(want.abs().max()))))


def evaluate_split(model: Any, examples: list, batch_size: int, pad_id: int, device: Any, autocast: Any, dist: Dist,
                   *, lockstep: bool = False) -> tuple[float, float, int]:
    """(loss, token accuracy, predictions) over a whole split, sharded across processes.

    ``lockstep``: every process runs the same number of forward passes, those short of a batch
    running an uncounted filler. FSDP needs it: each forward gathers the weights collectively, so a
    process that stopped early would leave the others waiting forever. (DDP evaluates the
    unwrapped module, which communicates nothing, so it does not pay for the filler.)
    """
    import torch

    model.eval()
    sums = _Sums()
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    every = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    batches = every[dist.rank :: dist.world]
    counted = len(batches)
    if lockstep:
        batches += every[: math.ceil(len(every) / dist.world) - counted]
    with torch.no_grad(), autocast():
        for k, batch in enumerate(iter_batches(examples, batches, pad_id, False)):
            loss_sum, correct, count = _forward(model, batch, device)
            if k < counted:
                sums.add(float(loss_sum), correct, count, batch.n_tokens)
    model.train()
    return sums.reduce(dist)


def example_losses(model: Any, examples: list, pad_id: int, device: Any, autocast: Any) -> list[tuple[float, int]]:
    """(mean token loss, loss-bearing tokens) of every example, one at a time (no padding, exact per example)."""
    import torch

    model.eval()
    out = []
    with torch.no_grad(), autocast():
        for batch in iter_batches(examples, [[i] for i in range(len(examples))], pad_id, False):
            loss_sum, _, count = _forward(model, batch, device)
            out.append((float(loss_sum) / max(count, 1), count))
    model.train()
    return out


def _prepare_data(spec: TrainSpec, tokenizer: Any, notes: list[str]) -> dict[str, PreparedSplit]:
    splits = {"train": prepare_split("train", load_conversations(spec.train, spec.format), tokenizer, spec.max_length, spec.overlong)}
    if spec.validation:
        splits["validation"] = prepare_split("validation", load_conversations(spec.validation, spec.format), tokenizer, spec.max_length, spec.overlong)
    for split in splits.values():
        if split.overlong and spec.overlong == "error":
            raise OverlongExamples(
                f"{split.overlong} of {split.total} {split.name} examples are longer than max_length={spec.max_length} tokens "
                f"(longest {split.max_tokens}; e.g. {', '.join(split.overlong_sources[:3])})."
            )
        if split.overlong:
            notes.append(f"{split.name}: {split.overlong} over-long examples {'truncated' if spec.overlong == 'truncate' else 'dropped'}")
        if split.dropped_no_target:
            notes.append(f"{split.name}: {split.dropped_no_target} examples have no model-turn tokens and were left out")
        if split.file_parts_dropped:
            notes.append(f"{split.name}: {split.file_parts_dropped} file parts (images, audio, documents) in {split.examples_with_files} examples were left out: "
                         "the local trainer tunes text models on the text around them; tune multimodal examples with --backend vertex")
        if not split.examples:
            raise SftwiseError(f"{split.name} split ({getattr(spec, split.name)}) has no usable example: every one was dropped or it is empty")
    val = splits.get("validation")
    if val is not None and len(val.examples) > len(splits["train"].examples):
        msg = f"the validation set ({len(val.examples)} examples) is larger than the training set ({len(splits['train'].examples)}); were the files swapped?"
        warnings.warn(msg, stacklevel=2)
        notes.append(msg)
    if val is None:
        notes.append("no validation set: diagnose cannot tell over-fitting from health without one")
    return splits


def _load_tokenizer(spec: TrainSpec) -> Any:
    """The model's tokenizer with a chat template (the spec's, else its own) and a pad token."""
    tokenizer = load_tokenizer(spec.model)
    ensure_chat_template(tokenizer, spec.model, spec.chat_template)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_model(spec: TrainSpec, tokenizer: Any, device: Any) -> Any:
    """The base model in float32, grown to the tokenizer (a chat template may add tokens), then the adapter."""
    model = load_causal_lm(spec.model, for_training=True)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    if spec.gradient_checkpointing:
        # transformers 5 renamed it (the old name warns); older releases have only the old one
        (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
        model.config.use_cache = False
    if spec.method == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=spec.lora_rank, lora_alpha=spec.lora_alpha, lora_dropout=spec.lora_dropout, target_modules=spec.lora_targets, task_type="CAUSAL_LM")
        with warnings.catch_warnings():  # peft reads transformers' deprecated is_gradient_checkpointing: not the user's concern
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            model = get_peft_model(model, lora)
    return model.to(device)


class OverlongExamples(SftwiseError):
    """Examples longer than ``max_length`` under ``overlong="error"``. ``problem`` says which (the
    counts and the first offenders); the message adds the choices in parameter terms, which the CLI
    restates as its flags and ``sftwise run`` as its config keys."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"{problem} Choose overlong='truncate' (cut them) or overlong='drop' (leave them out), or a larger max_length.")


def _schedule(spec: TrainSpec, total_steps: int):
    warmup = int(spec.warmup_ratio * total_steps)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if spec.scheduler == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total_steps - warmup)
        if spec.scheduler == "linear":
            return max(0.0, 1 - progress)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _precision(precision: str, dist: Dist) -> tuple[Any, Any, bool]:
    import torch

    if torch.cuda.is_available():
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
        if precision in ("auto", "bf16") and torch.cuda.is_bf16_supported():
            return device, torch.bfloat16, False
        if precision == "bf16":
            raise ParameterError("precision", "bf16 is not supported on this GPU. Please use fp16 or fp32.")
        if precision in ("auto", "fp16"):
            return device, torch.float16, True
        return device, None, False
    if precision == "bf16":  # CPU autocast: bf16 matmuls (AMX / avx512_bf16 where the CPU has them), fp32 master weights
        return torch.device("cpu"), torch.bfloat16, False
    if precision == "fp16":
        raise ParameterError("precision", "fp16 needs a GPU and none is available. Please use fp32, bf16 or auto.")
    return torch.device("cpu"), None, False


MMAP_MIN_PARAMETERS = 20_000_000  # below this, mmap'd activations cost more time than the memory they save


def _return_freed_memory() -> None:
    """Have glibc give large freed blocks back to the OS (CPU training of models >= 20 M parameters).

    glibc raises its mmap threshold each time a large block is freed, up to 32 MB, so after the
    first step the activations (blocks of a few MB each) come from the heap, and freed heap memory
    is kept by the process, fragmented, instead of returned. On SmolLM2-135M (batch 8) the resident
    peak grew from 2.1 GB after the first step to 3.6 GB after the third, with no more live tensors.
    A fixed 128 KiB threshold (``mallopt(M_MMAP_THRESHOLD)``, which also stops the adjustment) keeps
    it at 2.2 GB at the same step time. On a small model it is the other way round: the tiny demo
    model (0.66 M parameters, steps of a few milliseconds) trained at half the tokens/s with it
    (8.6k against 16.9k), every block paying the page faults of a fresh mapping, for 8 % less memory;
    hence ``MMAP_MIN_PARAMETERS``. Process-wide and never undone: the rest of a training process
    allocates the same way. No-op off glibc.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class _Sums:
    """Token-weighted sums of loss and correct predictions over a window of batches."""

    def __init__(self) -> None:
        self.loss = 0.0
        self.correct = 0
        self.count = 0
        self.tokens = 0

    def add(self, loss_sum: float, correct: int, count: int, tokens: int) -> None:
        self.loss += loss_sum
        self.correct += correct
        self.count += count
        self.tokens += tokens

    def reduce(self, dist: Dist) -> tuple[float, float, int]:
        loss, correct, count = dist.sum_floats([self.loss, float(self.correct), float(self.count)])
        if count == 0:
            return float("nan"), float("nan"), 0
        return loss / count, correct / count, int(count)


class _Logger:
    """metrics.jsonl (append + flush per point) and TensorBoard scalars, rank 0 only."""

    def __init__(self, run_dir: Path, tensorboard: bool, dist: Dist) -> None:
        self.path = run_dir / METRICS_FILE
        self.active = dist.is_main
        self.tb = None
        if tensorboard and self.active:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / TENSORBOARD_DIR))

    def point(self, p: MetricPoint) -> None:
        if not self.active:
            return
        append_metric(self.path, p)
        if self.tb is not None:
            prefix = f"{p.split}/{p.scope}"
            scalars = {key: getattr(p, key) for key in ("loss", "token_accuracy", "lr", "grad_norm", "tokens_seen", "task_eval_seconds")}
            for key, value in {**scalars, **(p.metrics or {})}.items():
                if value is not None and math.isfinite(value):
                    self.tb.add_scalar(f"{prefix}/{key}", value, p.step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


class _PeakMemory:
    def __init__(self, device: Any) -> None:
        import torch

        self.device = device
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def read(self) -> float | None:
        import torch

        if self.device.type == "cuda":
            return round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
        try:
            import resource

            return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB; process peak RSS
        except ImportError:  # pragma: no cover - non-Unix
            return None


def _progress(enabled: bool, total: int, done: int) -> Any:
    if not enabled:
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("training"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"), TimeRemainingColumn())
    task = progress.add_task("train", total=total, completed=done)
    progress.start()

    class _Bar:
        def update(self, n: int) -> None:
            progress.update(task, advance=n)

        def stop(self) -> None:
            progress.stop()

    return _Bar()


def main(argv: list[str] | None = None) -> int:
    """``python -m sftwise.train.local SPEC.yaml [--resume]`` (the entry point for torchrun / accelerate)."""
    args = list(sys.argv[1:] if argv is None else argv)
    resume = "--resume" in args
    args = [a for a in args if a != "--resume"]
    if len(args) != 1:
        print("usage: python -m sftwise.train.local SPEC.yaml [--resume]", file=sys.stderr)
        return 2
    try:
        result = train(TrainSpec.from_yaml(args[0]), resume=resume)
    except SftwiseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(result.summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
