"""The local tuning recipe: LoRA (PEFT) or full fine-tuning of a causal LM on transformers, loop in view.

Features and their trade-offs
-----------------------------
* **Chat template, assistant-only loss.** Examples are rendered with the model's own chat template
  (``tokenizer.apply_chat_template``); only model turns carry loss, *including their end-of-turn
  token*, so the tuned model learns to stop (see ``train/data.py`` for how the turns are located).
  Examples with no loss-bearing token are counted and dropped, never trained on silently.
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
* **Checkpoints** at every epoch end hold the adapter only (LoRA) or the model (full), the
  tokenizer, and ``trainer_state.pt`` (optimizer, scheduler, RNG states, epochs run, step, tokens
  seen). Each is written into a temporary directory and renamed into place, so a crash or a full
  disk mid-write leaves the previous checkpoint intact; the optimizer state of older checkpoints is
  removed once the new one is in place (they stay loadable for evaluation, not for resuming).
* **Resume** (``resume=True``) restores from the newest complete checkpoint: weights, optimizer,
  scheduler, RNG states, epochs run and tokens seen; log lines written after that checkpoint are
  dropped. The spec is compared with the saved ``config.json``: differences are warned about
  (more epochs than before simply continues).
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
  ``--resume`` (under either mode) read them as before. Resume loads the weights before sharding
  and scatters the optimizer state into the shards.

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
LM, a tokenizer without a chat template (naming the template to pass), over-long examples under
``overlong="error"``, an empty split, fp16/bf16 on CPU, a full disk while checkpointing,
``distributed: fsdp`` on a torch without ``torch.distributed.fsdp.fully_shard``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from sftwise.errors import SftwiseError

from sftwise.io import write_json
from sftwise.runlog import METRICS_FILE, MetricPoint, append_metric, read_metrics, write_metrics
from sftwise.train.data import IGNORE_INDEX, PreparedSplit, batch_order, ensure_chat_template, iter_batches, load_conversations, pack, prepare_split
from sftwise.train.spec import CONFIG_FILE, TrainSpec

CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.pt"
DONE_FILE = "checkpoint.json"


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

    @property
    def summary(self) -> str:
        acc = ""
        if self.final_validation_accuracy is not None:
            acc = f", validation token accuracy {self.initial_validation_accuracy or 0:.3f} -> {self.final_validation_accuracy:.3f}"
        return f"{self.epochs_run} epochs, {self.steps} steps, {self.tokens_seen} tokens{acc}"


# -- the recipe -------------------------------------------------------------------------------------


def train(spec: TrainSpec, *, resume: bool = False, progress: bool = False) -> TrainResult:
    """Tune ``spec.model`` on ``spec.train`` and return what happened; everything lands in ``spec.run_dir``."""
    import torch

    run_dir = Path(spec.run_dir)
    dist = _Dist.setup()
    notes: list[str] = []
    fsdp = spec.distributed == "fsdp" and dist.world > 1
    if spec.distributed == "fsdp" and not fsdp:
        notes.append("distributed=fsdp ignored: a single process has nothing to shard across (launch with torchrun or accelerate)")

    # 1. Numerics first: the model is loaded in the dtype they decide.
    device, amp_dtype, use_scaler = _precision(spec.precision, dist)
    if spec.num_threads:
        torch.set_num_threads(spec.num_threads)
    _seed_everything(spec.seed + dist.rank)

    # 2. Tokenizer, then data: the rows depend on the template, and the length report must come
    #    before anything expensive (the model load), so a bad dataset fails fast.
    tokenizer = _load_tokenizer(spec)
    splits = _prepare_data(spec, tokenizer, notes)
    train_split, val_split = splits["train"], splits.get("validation")

    # 3. Model, then the adapter on it. Under FSDP it stays on the CPU: fully_shard moves each
    #    process's shard to the GPU, so the whole model never has to fit on one.
    model = _load_model(spec, tokenizer, torch.device("cpu") if fsdp else device)

    # 4. Resume state: config check and the checkpoint to restore (weights restored before the
    #    optimizer is built over them, and before FSDP shards them: the checkpoint holds full tensors).
    start_epoch, global_step, tokens_seen, state = 0, 0, 0, None
    latest = latest_checkpoint(run_dir) if resume else None
    if resume and latest is None and dist.is_main:
        notes.append(f"--resume: no checkpoint in {run_dir / CHECKPOINTS}, starting from scratch")
        _truncate_log(run_dir, -1)  # a run that died before its first checkpoint left only stale log lines
    if latest is not None:
        notes += _check_config(spec, run_dir)
        state = torch.load(latest / STATE_FILE, map_location="cpu", weights_only=False)
        _restore_weights(model, latest, spec)
        start_epoch, global_step, tokens_seen = state["epochs_run"], state["step"], state["tokens_seen"]
    elif dist.is_main:
        if (run_dir / METRICS_FILE).exists() and not resume:
            raise SftwiseError(f"{run_dir} already holds a run (metrics.jsonl); pass --resume to continue it or choose another --run-dir")
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / CONFIG_FILE, spec)
        write_json(run_dir / "data_report.json", [s.report() for s in splits.values()])

    train_rows = pack(train_split.examples, spec.max_length, tokenizer.pad_token_id) if spec.batching == "packed" else train_split.examples
    steps_per_epoch = math.ceil(math.ceil(len(train_rows) / spec.batch_size) / dist.world / spec.grad_accum)
    total_steps = steps_per_epoch * spec.epochs

    # 5. Optimizer over the trainable parameters, then the scheduler, which needs the step count.
    #    Under FSDP the optimizer is built over the shards, so each process keeps only its share of
    #    the AdamW state.
    if fsdp:
        model = _shard(model, device, dist, notes)
    elif dist.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=spec.learning_rate, weight_decay=spec.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(spec, total_steps))
    scaler = _grad_scaler(use_scaler, fsdp)
    if state is not None:
        if fsdp:
            _load_sharded_optimizer(model, optimizer, state["optimizer"])
        else:
            optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        _restore_rng(state["rng"])
        if dist.is_main:
            _truncate_log(run_dir, global_step)

    log = _Logger(run_dir, spec.tensorboard and dist.is_main, dist)
    pad_id = tokenizer.pad_token_id
    packed = spec.batching == "packed"

    def autocast():
        return torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()

    def validate() -> tuple[float, float, int]:
        return evaluate_split(_unwrap(model), val_split.examples, spec.batch_size, pad_id, device, autocast, dist, lockstep=fsdp)

    # 6. Where the model starts.
    init_val = None
    if val_split is not None and start_epoch == 0:
        init_val = validate()
        log.point(MetricPoint(step=0, epoch=0, split="validation", scope="epoch", loss=init_val[0], token_accuracy=init_val[1], tokens_seen=0, num_predictions=init_val[2]))

    peak = _PeakMemory(device)
    started, trained_tokens = time.perf_counter(), 0
    checkpoints = [str(p.relative_to(run_dir)) for p in _complete_checkpoints(run_dir)] if latest is not None else []
    bar = _progress(progress and dist.is_main, total_steps, global_step)

    # 7. The loop.
    for epoch in range(start_epoch, spec.epochs):
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
                log.point(MetricPoint(step=global_step, epoch=epoch + (w_idx + 1) / len(windows), split="validation", scope="step",
                                      loss=v[0], token_accuracy=v[1], tokens_seen=tokens_seen, num_predictions=v[2]))
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
            log.point(MetricPoint(step=global_step, epoch=epoch + 1, split="validation", scope="epoch", loss=v[0], token_accuracy=v[1],
                                  tokens_seen=tokens_seen, num_predictions=v[2], checkpoint=ckpt_rel))
        # Under FSDP every process must take part in gathering the shards; rank 0 alone receives them.
        weights = _gather_weights(model, spec.method == "lora") if fsdp else None
        optimizer_state = _gather_optimizer(model, optimizer) if fsdp else optimizer.state_dict()
        if dist.is_main:
            state = {
                "epochs_run": epoch + 1, "step": global_step, "tokens_seen": tokens_seen,
                "optimizer": optimizer_state, "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler else None, "rng": _rng_state(), "seed": spec.seed,
                "total_epochs": spec.epochs,
            }
            save_checkpoint(run_dir, name, _unwrap(model), tokenizer, state, spec, weights=weights)
            checkpoints.append(ckpt_rel)
        dist.barrier()
    if bar:
        bar.stop()
    log.close()
    elapsed = time.perf_counter() - started
    points = read_metrics(run_dir) if (run_dir / METRICS_FILE).exists() else []
    final_val = [p for p in points if p.split == "validation" and p.scope == "epoch"]
    final_train = [p for p in points if p.split == "train" and p.scope == "epoch"]
    result = TrainResult(
        run_dir=str(run_dir), epochs_run=spec.epochs, steps=global_step, tokens_seen=tokens_seen, checkpoints=checkpoints,
        final_train_loss=final_train[-1].loss if final_train else None,
        final_validation_loss=final_val[-1].loss if final_val else None,
        initial_validation_accuracy=final_val[0].token_accuracy if final_val else None,
        final_validation_accuracy=final_val[-1].token_accuracy if final_val else None,
        train_seconds=round(elapsed, 3), tokens_per_second=round(trained_tokens / elapsed, 1) if elapsed > 0 else 0.0,
        peak_memory_mb=peak.read(), data_report=[s.report() for s in splits.values()], warnings=notes,
        resumed_from=str(latest) if latest is not None else None,
    )
    if dist.is_main:
        write_json(run_dir / "train_result.json", result)
    dist.close()
    return result


# -- steps of the recipe ----------------------------------------------------------------------------


def _forward(model: Any, batch: Any, device: Any) -> tuple[Any, int, int]:
    """Summed token loss, correct top-1 predictions and loss-bearing token count of one batch."""
    import torch

    kwargs = {"input_ids": batch.input_ids.to(device), "use_cache": False}
    if batch.attention_mask is not None:
        kwargs["attention_mask"] = batch.attention_mask.to(device)
    if batch.position_ids is not None:
        kwargs["position_ids"] = batch.position_ids.to(device)
    logits = model(**kwargs).logits[:, :-1, :].float()
    labels = batch.labels[:, 1:].to(device)
    loss_sum = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum")
    mask = labels != IGNORE_INDEX
    correct = int(((logits.argmax(-1) == labels) & mask).sum())
    return loss_sum, correct, int(mask.sum())


def evaluate_split(model: Any, examples: list, batch_size: int, pad_id: int, device: Any, autocast: Any, dist: _Dist,
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


def save_checkpoint(run_dir: Path, name: str, model: Any, tokenizer: Any, state: dict[str, Any], spec: TrainSpec,
                    weights: dict[str, Any] | None = None) -> Path:
    """Write ``checkpoints/<name>`` atomically: temp dir, then rename; a failure leaves older ones intact.

    ``weights``: the full state dict to write instead of reading ``model``'s own (FSDP: its
    parameters are shards, so the caller passes the gathered full tensors).
    """
    import torch

    root = run_dir / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.tmp-"))
    try:
        model.save_pretrained(tmp, state_dict=weights)  # PEFT models save the adapter only
        tokenizer.save_pretrained(tmp)
        torch.save(state, tmp / STATE_FILE)
        (tmp / DONE_FILE).write_text(json.dumps({"epoch": state["epochs_run"], "step": state["step"], "method": spec.method, "base_model": spec.model}), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        previous = latest_checkpoint(run_dir)
        kept = f"the previous checkpoint {previous} is intact" if previous else "no earlier checkpoint exists"
        reason = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else f"{exc.strerror or exc}"
        raise SftwiseError(f"could not write checkpoint {final}: {reason}; the partial checkpoint was removed and {kept}. Free space and rerun with --resume.") from None
    for older in _complete_checkpoints(run_dir):
        if older != final:
            with contextlib.suppress(FileNotFoundError):
                (older / STATE_FILE).unlink()
    return final


def _complete_checkpoints(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / DONE_FILE).exists()]
    return sorted(found, key=lambda p: json.loads((p / DONE_FILE).read_text(encoding="utf-8"))["step"])


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint that can be resumed from (has its trainer state), or None."""
    resumable = [p for p in _complete_checkpoints(Path(run_dir)) if (p / STATE_FILE).exists()]
    return resumable[-1] if resumable else None


def _check_config(spec: TrainSpec, run_dir: Path) -> list[str]:
    saved_path = run_dir / CONFIG_FILE
    if not saved_path.exists():
        return [f"{saved_path} is missing; cannot check the resumed config"]
    saved = TrainSpec.model_validate_json(saved_path.read_text(encoding="utf-8"))
    notes = []
    for key, (now, before) in spec.differences(saved).items():
        msg = f"resume: {key} was {before!r} in the saved config, now {now!r}"
        warnings.warn(msg, stacklevel=2)
        notes.append(msg)
    return notes


def _truncate_log(run_dir: Path, step: int) -> None:
    path = run_dir / METRICS_FILE
    if path.exists():
        write_metrics(path, [p for p in read_metrics(path) if p.step <= step])


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
    from transformers import AutoTokenizer

    _check_model_path(spec.model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.model)
    except (OSError, ValueError) as exc:
        raise SftwiseError(f"could not load a tokenizer for {spec.model}: {str(exc).splitlines()[0]}") from None
    ensure_chat_template(tokenizer, spec.model, spec.chat_template)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _check_model_path(model: str) -> None:
    path = Path(model)
    exists = os.path.exists(model)  # os.path: an over-long name is 'missing', not an OSError
    looks_local = model.startswith((".", "/", "~")) or exists or model.count("/") > 1
    if looks_local and not exists:
        raise SftwiseError(f"model path {model} does not exist; pass a Hugging Face model directory or a hub id")
    if exists and not (path / "config.json").exists():
        raise SftwiseError(f"{model} is not a Hugging Face model directory (no config.json)")


def _load_model(spec: TrainSpec, tokenizer: Any, device: Any) -> Any:
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(spec.model)
    except (OSError, ValueError) as exc:
        raise SftwiseError(f"could not load the config of {spec.model}: {str(exc).splitlines()[0]}") from None
    try:
        model = AutoModelForCausalLM.from_pretrained(spec.model, dtype="float32")
    except ValueError as exc:
        raise SftwiseError(f"{spec.model} is a {config.model_type!r} model, not a causal language model; sftwise tunes decoder-only (causal LM) models") from None
    except OSError as exc:
        raise SftwiseError(f"could not load {spec.model}: {str(exc).splitlines()[0]}") from None
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    if spec.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if spec.method == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=spec.lora_rank, lora_alpha=spec.lora_alpha, lora_dropout=spec.lora_dropout, target_modules=spec.lora_targets, task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
    return model.to(device)


def _restore_weights(model: Any, checkpoint: Path, spec: TrainSpec) -> None:
    from safetensors.torch import load_file

    if spec.method == "lora":
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(str(checkpoint / "adapter_model.safetensors")))
    else:
        state = {}
        for shard in sorted(checkpoint.glob("*.safetensors")):
            state.update(load_file(str(shard)))
        model.load_state_dict(state, strict=False)


# -- FSDP -------------------------------------------------------------------------------------------


def _shard(model: Any, device: Any, dist: _Dist, notes: list[str]) -> Any:
    """Shard ``model`` in place with FSDP2: each decoder layer its own unit, then the root.

    Per-layer units are what make FSDP pay: a layer's full weights exist only during its own
    forward/backward. The root unit takes the rest (embeddings, final norm, head; tied weights stay
    tied since both ends are in it). ``fully_shard`` moves each shard to the mesh's device.
    """
    import torch

    try:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard
    except ImportError:
        raise SftwiseError(f"distributed: fsdp needs torch.distributed.fsdp.fully_shard (torch >= 2.6), this is torch {torch.__version__}; "
                           "upgrade torch or use distributed: ddp") from None
    mesh = init_device_mesh(device.type, (dist.world,))
    layers = _decoder_layers(model)
    if not layers:
        notes.append("fsdp: no decoder layers found; the model is sharded as one unit, so every forward gathers all of its weights at once")
    for layer in layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def _decoder_layers(model: Any) -> list[Any]:
    """The repeated blocks of a transformers model: the classes it marks as not to be split
    (``_no_split_modules``, e.g. ``LlamaDecoderLayer``), else the entries of a ``layers`` ModuleList."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # through a PEFT wrapper
    kinds = set(getattr(base, "_no_split_modules", None) or ())
    layers = [m for m in model.modules() if type(m).__name__ in kinds]
    if not layers:
        layers = [layer for name, m in model.named_modules() if name.split(".")[-1] == "layers" and isinstance(m, torch.nn.ModuleList) for layer in m]
    return layers


def _grad_scaler(enabled: bool, fsdp: bool) -> Any:
    """fp16's loss scaler. Under FSDP each process sees only its gradient shard, so an overflow may
    show on one process alone: ``ShardedGradScaler`` agrees on it across processes so all of them
    skip the same steps (a plain GradScaler would let the shards diverge)."""
    if not enabled:
        return None
    if fsdp:
        from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler

        return ShardedGradScaler("cuda")
    import torch

    return torch.amp.GradScaler("cuda")


def _full_state_options(**kw: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kw)


def _gather_weights(model: Any, trainable_only: bool) -> dict[str, Any]:
    """The full (unsharded) weights on rank 0's CPU, ``{}`` on the others; every process must call it.

    ``trainable_only`` (LoRA) gathers the adapter alone, as the checkpoint holds nothing else. The
    gather returns tied weights (embeddings and head) as separate copies; they are tied again so
    ``save_pretrained`` drops the duplicate, as it does for an unsharded model.
    """
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    weights = get_model_state_dict(model, options=_full_state_options(cpu_offload=True, ignore_frozen_params=trainable_only))
    first: dict[int, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if name in weights:
            weights[name] = weights[first.setdefault(id(param), name)]
    return weights


def _gather_optimizer(model: Any, optimizer: Any) -> dict[str, Any]:
    """The full optimizer state on rank 0's CPU (``{}`` elsewhere), in ``optimizer.state_dict()``'s
    format; every process must call it."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    by_name = get_optimizer_state_dict(model, optimizer, options=_full_state_options(cpu_offload=True))
    return _optimizer_state_by_index(by_name) if by_name else {}


def _load_sharded_optimizer(model: Any, optimizer: Any, saved: dict[str, Any]) -> None:
    """Scatter a checkpoint's full optimizer state (index-keyed, from any mode) into the shards."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    names = [name for name, p in model.named_parameters() if p.requires_grad]  # the optimizer's parameter order
    set_optimizer_state_dict(model, optimizer, _optimizer_state_by_name(saved, names), options=_full_state_options())


def _optimizer_state_by_index(state: dict[str, Any]) -> dict[str, Any]:
    """torch.distributed.checkpoint's parameter-name-keyed optimizer state -> ``optimizer.state_dict()``'s
    index-keyed one, so a checkpoint reads the same whichever mode wrote it."""
    index: dict[str, int] = {}
    groups = [{**g, "params": [index.setdefault(name, len(index)) for name in g["params"]]} for g in state["param_groups"]]
    return {"state": {index[name]: v for name, v in state["state"].items()}, "param_groups": groups}


def _optimizer_state_by_name(state: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The inverse of :func:`_optimizer_state_by_index`; ``names[i]`` is the optimizer's i-th parameter."""
    if sum(len(g["params"]) for g in state["param_groups"]) != len(names):
        raise SftwiseError(f"the checkpoint's optimizer state covers {sum(len(g['params']) for g in state['param_groups'])} parameters, "
                           f"this model trains {len(names)}; was the method or the LoRA config changed?")
    groups = [{**g, "params": [names[i] for i in g["params"]]} for g in state["param_groups"]]
    return {"state": {names[i]: v for i, v in state["state"].items()}, "param_groups": groups}


class OverlongExamples(SftwiseError):
    """Examples longer than ``max_length`` under ``overlong="error"``. ``problem`` says which; the
    message adds the CLI's choices, and ``sftwise run`` restates them as config keys."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"{problem} Choose: --truncate (cut them), --drop (leave them out), or a larger --max-length.")


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


def _precision(precision: str, dist: _Dist) -> tuple[Any, Any, bool]:
    import torch

    if torch.cuda.is_available():
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
        if precision in ("auto", "bf16") and torch.cuda.is_bf16_supported():
            return device, torch.bfloat16, False
        if precision == "bf16":
            raise SftwiseError("bf16 is not supported on this GPU. Please use --precision fp16 or fp32.")
        if precision in ("auto", "fp16"):
            return device, torch.float16, True
        return device, None, False
    if precision in ("bf16", "fp16"):
        raise SftwiseError(f"{precision} needs a GPU and none is available. Please use --precision fp32 (or auto).")
    return torch.device("cpu"), None, False


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _restore_rng(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _unwrap(model: Any) -> Any:
    return model.module if hasattr(model, "module") and not hasattr(model, "peft_config") else model


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

    def reduce(self, dist: _Dist) -> tuple[float, float, int]:
        loss, correct, count = dist.sum_floats([self.loss, float(self.correct), float(self.count)])
        if count == 0:
            return float("nan"), float("nan"), 0
        return loss / count, correct / count, int(count)


class _Dist:
    """torch.distributed when launched by torchrun/accelerate (WORLD_SIZE > 1), else a no-op."""

    def __init__(self, rank: int = 0, world: int = 1, local_rank: int = 0) -> None:
        self.rank, self.world, self.local_rank = rank, world, local_rank
        self.is_main = rank == 0

    @classmethod
    def setup(cls) -> _Dist:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        import torch
        import torch.distributed as td

        if not td.is_initialized():
            td.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return cls(td.get_rank(), td.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    def sum_floats(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        import torch
        import torch.distributed as td

        t = torch.tensor(values, dtype=torch.float64, device="cuda" if torch.cuda.is_available() else "cpu")
        td.all_reduce(t)
        return t.tolist()

    def sum_int(self, value: int) -> int:
        return int(self.sum_floats([float(value)])[0]) if self.world > 1 else value

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as td

            td.barrier()

    def close(self) -> None:
        if self.world > 1:
            import torch.distributed as td

            td.barrier()
            td.destroy_process_group()


class _Logger:
    """metrics.jsonl (append + flush per point) and TensorBoard scalars, rank 0 only."""

    def __init__(self, run_dir: Path, tensorboard: bool, dist: _Dist) -> None:
        self.path = run_dir / METRICS_FILE
        self.active = dist.is_main
        self.tb = None
        if tensorboard and self.active:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tb"))

    def point(self, p: MetricPoint) -> None:
        if not self.active:
            return
        append_metric(self.path, p)
        if self.tb is not None:
            prefix = f"{p.split}/{p.scope}"
            for key in ("loss", "token_accuracy", "lr", "grad_norm", "tokens_seen"):
                value = getattr(p, key)
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
