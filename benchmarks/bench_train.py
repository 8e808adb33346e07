"""Training throughput and peak memory: sftwise's local recipe vs plain TRL SFTTrainer, same model and data.

    python benchmarks/bench_train.py [--epochs 2] [--out benchmarks/results/bench_train.json]
    python benchmarks/bench_train.py --model smollm2-135m-instruct --out benchmarks/results/bench_train_smollm2.json

**Real model** (``--model REF``: anything :func:`sftwise.models.resolve` reads, a directory or a
name such as ``smollm2-135m-instruct``): the first 120 training examples of the bundled sample,
one epoch, LoRA r=16 alpha=32 on all linear layers, dropout 0, lr 2e-4 cosine with 3 % warm-up,
batch 8, max_length 256, fp32, plain shuffled batches, assistant-only loss, no validation and no
TRL checkpoint (speed variants: ``sftwise`` and ``trl``; sftwise still writes its one adapter
checkpoint, counted in its time). TRL is given a copy of the model's ChatML template with
``{% generation %}`` markers around each assistant turn's content and ``<|im_end|>``, the tokens
sftwise trains on; the benchmark checks that both render the same text and mask the same number
of tokens. Ratios are sftwise / TRL.

**Tiny model** (the default without ``--model``):
each variant runs in its own subprocess (so peak RSS is its own) on the same random-weight tiny
model (``sftwise.demo.tiny``, hidden 128, 2 layers) and the bundled sample task (480 training, 60
validation examples), with the same settings: LoRA r=16 alpha=32 on all linear layers, lr 3e-3
cosine with 3 % warm-up, batch 16, max_length 256, fp32, plain shuffled batches (no length
grouping, so padding is the same), assistant-only loss, evaluation on the validation split at
each epoch end, no checkpoints written for TRL (``save_strategy="no"``); sftwise writes its
adapter checkpoints (it always does), which is counted in its time.

* ``sftwise-full``: every monitor on (step logs every 5 steps with train loss/accuracy/lr/grad
  norm, TensorBoard, epoch-end train+validation metrics, checkpoints);
* ``sftwise-bare``: the same loop with monitoring off (no validation, no TensorBoard, one log);
* ``trl``: ``trl.SFTTrainer`` (logging every 5 steps, ``eval_strategy="epoch"``, which computes
  ``eval_mean_token_accuracy``).

Tokens/s = non-padding tokens of the training set x epochs / wall time of the training call
(data preparation and model loading excluded for both: TRL's ``train_runtime``, sftwise's
``train_seconds``). Overhead of monitoring = 1 - tokens/s(sftwise-full) / tokens/s(sftwise-bare).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from peak_memory import peak_rss_mb  # noqa: E402
SETTINGS = dict(rank=16, alpha=32, lr=3e-3, batch=16, max_length=256, warmup=0.03)
REAL_SETTINGS = dict(rank=16, alpha=32, lr=2e-4, batch=8, max_length=256, warmup=0.03, train_examples=120)


def generation_template(template: str) -> str:
    """A ChatML template (SmolLM2's, Qwen's) with ``{% generation %}`` around each assistant turn's
    content and ``<|im_end|>``, for TRL's ``assistant_only_loss``; the rest is left as it was."""
    plain = "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"  # real newlines, as in the file
    if plain not in template:
        raise SystemExit("bench_train: the model's chat template is not the ChatML form this benchmark knows how to mark up")
    marked = ("{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}{% generation %}"
              "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}{% else %}" + plain + "{% endif %}")
    return template.replace(plain, marked)


def _model_and_data(work: Path, seed: int = 0) -> tuple[Path, dict]:
    from sftwise.demo.sample import sample_paths
    from sftwise.demo.tiny import build_tiny_model, sample_texts

    model = work / "model"
    if not (model / "config.json").exists():
        build_tiny_model(model, sample_texts(), seed=seed, hidden_size=128, num_layers=2)
    return model, sample_paths()


def _real_data(work: Path) -> dict:
    from sftwise.demo.sample import sample_paths

    paths = sample_paths()
    train = work / "train-120.jsonl"
    if not train.exists():
        lines = Path(paths["train"]).read_text(encoding="utf-8").splitlines()[: REAL_SETTINGS["train_examples"]]
        train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"train": train, "validation": paths["validation"]}


def run_variant(variant: str, work: Path, epochs: int, threads: int, model_ref: str | None = None) -> dict:
    import torch

    torch.set_num_threads(threads)
    if model_ref:
        return _run_real(variant, work, epochs, model_ref)
    model, paths = _model_and_data(work)
    if variant.startswith("sftwise"):
        from sftwise.train.local import train
        from sftwise.train.spec import TrainSpec

        full = variant == "sftwise-full"
        spec = TrainSpec(model=str(model), train=str(paths["train"]), validation=str(paths["validation"]) if full else None,
                         run_dir=str(work / f"run-{variant}-{time.time_ns()}"), epochs=epochs, learning_rate=SETTINGS["lr"],
                         lora_rank=SETTINGS["rank"], lora_alpha=SETTINGS["alpha"], batch_size=SETTINGS["batch"], max_length=SETTINGS["max_length"],
                         warmup_ratio=SETTINGS["warmup"], batching="plain", log_every=5 if full else 10**9, tensorboard=full, num_threads=threads)
        result = train(spec)
        tokens = result.tokens_seen
        seconds = result.train_seconds
        final = {"validation_token_accuracy": result.final_validation_accuracy, "validation_loss": result.final_validation_loss}
    else:
        from datasets import Dataset
        from peft import LoraConfig
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from trl import SFTConfig, SFTTrainer

        from sftwise.train.data import load_conversations

        tok = AutoTokenizer.from_pretrained(model)
        tok.padding_side = "right"

        def rows(path):
            return Dataset.from_list([{"messages": c.to_messages()} for c in load_conversations(path).conversations])

        cfg = SFTConfig(output_dir=str(work / "trl-out"), num_train_epochs=epochs, learning_rate=SETTINGS["lr"], lr_scheduler_type="cosine",
                        warmup_steps=SETTINGS["warmup"], per_device_train_batch_size=SETTINGS["batch"], per_device_eval_batch_size=SETTINGS["batch"],
                        max_length=SETTINGS["max_length"], assistant_only_loss=True, logging_steps=5, eval_strategy="epoch", save_strategy="no",
                        report_to="none", use_cpu=True, dataloader_num_workers=0, seed=0, max_grad_norm=1.0, weight_decay=0.0, disable_tqdm=True)
        lora = LoraConfig(r=SETTINGS["rank"], lora_alpha=SETTINGS["alpha"], lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
        trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(model), args=cfg, train_dataset=rows(paths["train"]),
                             eval_dataset=rows(paths["validation"]), processing_class=tok, peft_config=lora)
        out = trainer.train()
        seconds = out.metrics["train_runtime"]
        tokens = sum(len(x) for x in trainer.train_dataset["input_ids"]) * epochs
        evals = [h for h in trainer.state.log_history if "eval_loss" in h]
        final = {"validation_token_accuracy": evals[-1].get("eval_mean_token_accuracy") if evals else None, "validation_loss": evals[-1]["eval_loss"] if evals else None}
    return {"variant": variant, "epochs": epochs, "tokens": tokens, "train_seconds": round(seconds, 3), "tokens_per_second": round(tokens / seconds, 1),
            "peak_rss_mb": peak_rss_mb(), **final}


def _run_real(variant: str, work: Path, epochs: int, model_ref: str) -> dict:
    """One speed variant on a real model: no validation; model loading is outside the timed call for both."""
    from sftwise.models import load_tokenizer, resolve

    st = REAL_SETTINGS
    paths = _real_data(work)
    if variant in ("sftwise", "sftwise-gc", "sftwise-bf16"):
        from sftwise.train.local import train
        from sftwise.train.spec import TrainSpec

        spec = TrainSpec(model=model_ref, train=str(paths["train"]), validation=None, run_dir=str(work / f"run-{variant}-{time.time_ns()}"),
                         epochs=epochs, learning_rate=st["lr"], lora_rank=st["rank"], lora_alpha=st["alpha"], lora_dropout=0.0,
                         lora_targets="all-linear", batch_size=st["batch"], max_length=st["max_length"], warmup_ratio=st["warmup"],
                         batching="plain", log_every=10**9, tensorboard=False, precision="bf16" if variant == "sftwise-bf16" else "fp32",
                         gradient_checkpointing=variant == "sftwise-gc")
        result = train(spec)
        tokens, seconds = result.tokens_seen, result.train_seconds
        from sftwise.train.data import load_conversations, prepare_split

        tok = load_tokenizer(model_ref)
        loss_tokens = sum(e.n_loss_tokens for e in prepare_split("train", load_conversations(paths["train"]), tok, st["max_length"]).examples) * epochs
        final = {"final_train_loss": result.final_train_loss, "loss_tokens": loss_tokens}
    else:
        from datasets import Dataset
        from peft import LoraConfig
        from transformers import AutoModelForCausalLM
        from trl import SFTConfig, SFTTrainer

        from sftwise.train.data import load_conversations

        tok = load_tokenizer(model_ref)
        original = tok.chat_template
        tok.chat_template = generation_template(original)
        tok.padding_side = "right"
        messages = [c.to_messages() for c in load_conversations(paths["train"]).conversations]
        for m in messages[:20]:
            if tok.apply_chat_template(m, tokenize=False) != tok.apply_chat_template(m, tokenize=False, chat_template=original):
                raise SystemExit("bench_train: the marked-up template renders differently from the model's own")
        cfg = SFTConfig(output_dir=str(work / "trl-out"), num_train_epochs=epochs, learning_rate=st["lr"], lr_scheduler_type="cosine",
                        warmup_steps=st["warmup"], per_device_train_batch_size=st["batch"], max_length=st["max_length"],
                        assistant_only_loss=True, logging_steps=10**9, eval_strategy="no", save_strategy="no", report_to="none",
                        use_cpu=True, dataloader_num_workers=0, seed=0, max_grad_norm=1.0, weight_decay=0.0, disable_tqdm=True,
                        # "trl": TRL's own defaults (gradient checkpointing on, bf16 autocast); "trl-fp32": sftwise's numerics
                        **({"gradient_checkpointing": False, "bf16": False} if variant == "trl-fp32" else {}))
        lora = LoraConfig(r=st["rank"], lora_alpha=st["alpha"], lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
        model = AutoModelForCausalLM.from_pretrained(resolve(model_ref).path, dtype="float32")
        trainer = SFTTrainer(model=model, args=cfg, train_dataset=Dataset.from_list([{"messages": m} for m in messages]),
                             processing_class=tok, peft_config=lora)
        out = trainer.train()
        seconds = out.metrics["train_runtime"]
        tokens = sum(len(x) for x in trainer.train_dataset["input_ids"]) * epochs
        losses = [h["train_loss"] for h in trainer.state.log_history if "train_loss" in h]
        final = {"final_train_loss": losses[-1] if losses else None,
                 "loss_tokens": _trl_loss_tokens(trainer.train_dataset) * epochs}
    return {"variant": variant, "epochs": epochs, "tokens": tokens, "train_seconds": round(seconds, 3), "tokens_per_second": round(tokens / seconds, 1),
            "peak_rss_mb": peak_rss_mb(), **final}


REAL_VARIANTS = ("sftwise", "sftwise-gc", "sftwise-bf16", "trl", "trl-fp32")


def _trl_loss_tokens(dataset) -> int | None:
    """Loss-bearing tokens of TRL's tokenised training set (it folds ``assistant_masks`` into ``labels``)."""
    cols = dataset.column_names
    if "labels" in cols:
        return sum(sum(1 for x in row if x != -100) for row in dataset["labels"])
    if "assistant_masks" in cols:
        return sum(sum(m) for m in dataset["assistant_masks"])
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="a real model (any reference sftwise.models.resolve reads, e.g. smollm2-135m-instruct); default: the tiny model")
    parser.add_argument("--epochs", type=int, help="default 2 (tiny), 1 (--model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, help="runs per variant (best tokens/s kept: the machine is shared); default 2 (tiny), 1 (--model)")
    parser.add_argument("--out", default=str(HERE / "results" / "bench_train.json"))
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.epochs = args.epochs or (1 if args.model else 2)
    args.repeats = args.repeats or (1 if args.model else 2)
    if args.variant:
        print(json.dumps(run_variant(args.variant, Path(args.work), args.epochs, args.threads, args.model)))
        return
    if args.model:
        return main_real(args)
    import torch
    import transformers
    import trl

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _model_and_data(work)
        results: dict[str, list[dict]] = {}
        for _ in range(args.repeats):
            for variant in ("sftwise-bare", "sftwise-full", "trl"):
                proc = subprocess.run([sys.executable, __file__, "--variant", variant, "--work", str(work), "--epochs", str(args.epochs), "--threads", str(args.threads)],
                                      capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
                if proc.returncode:
                    raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
                results.setdefault(variant, []).append(json.loads(proc.stdout.strip().splitlines()[-1]))
    best = {v: max(runs, key=lambda r: r["tokens_per_second"]) for v, runs in results.items()}
    summary = {
        "settings": SETTINGS | {"epochs": args.epochs, "threads": args.threads, "model": "sftwise.demo.tiny hidden 128, 2 layers", "data": "bundled sample 480/60"},
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
        "device": "cpu (no GPU in this session)",
        "best": best, "runs": results,
        "sftwise_full_vs_trl_throughput": round(best["sftwise-full"]["tokens_per_second"] / best["trl"]["tokens_per_second"], 3),
        "monitoring_overhead": round(1 - best["sftwise-full"]["tokens_per_second"] / best["sftwise-bare"]["tokens_per_second"], 3),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("sftwise_full_vs_trl_throughput", "monitoring_overhead")} | {v: {k: best[v][k] for k in ("tokens_per_second", "peak_rss_mb", "validation_token_accuracy")} for v in best}, indent=1))


def main_real(args: argparse.Namespace) -> None:
    import torch
    import transformers
    import trl

    results: dict[str, list[dict]] = {}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for variant in REAL_VARIANTS:
                cmd = [sys.executable, __file__, "--variant", variant, "--work", tmp, "--epochs", str(args.epochs), "--threads", str(args.threads), "--model", args.model]
                proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
                if proc.returncode:
                    raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
                results.setdefault(variant, []).append(json.loads(proc.stdout.strip().splitlines()[-1]))
                load.append(os.getloadavg()[0])
    best = {v: max(runs, key=lambda r: r["tokens_per_second"]) for v, runs in results.items()}
    if best["sftwise"]["loss_tokens"] != best["trl"]["loss_tokens"]:
        print(f"warning: loss-bearing tokens differ: sftwise {best['sftwise']['loss_tokens']}, TRL {best['trl']['loss_tokens']}", file=sys.stderr)
    summary = {
        "settings": REAL_SETTINGS | {"epochs": args.epochs, "threads": args.threads, "model": args.model, "precision": "fp32", "batching": "plain",
                                     "data": f"bundled sample, first {REAL_SETTINGS['train_examples']} training examples, no validation"},
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
        "device": "cpu (no GPU in this session)", "load_average_1min": [round(x, 2) for x in load],
        "best": best, "runs": results,
        "variants": {"sftwise": "defaults (fp32, no gradient checkpointing)", "sftwise-gc": "gradient_checkpointing=True", "sftwise-bf16": "precision=bf16 (autocast)",
                     "trl": "SFTConfig defaults (gradient checkpointing, bf16 autocast)", "trl-fp32": "gradient_checkpointing=False, bf16=False"},
        "ratios": {f"{a}/{b}": {"tokens_per_second": round(best[a]["tokens_per_second"] / best[b]["tokens_per_second"], 3),
                                "peak_memory": round(best[a]["peak_rss_mb"] / best[b]["peak_rss_mb"], 3)}
                   for a, b in (("sftwise", "trl"), ("sftwise", "trl-fp32"), ("sftwise-gc", "trl"), ("sftwise-bf16", "trl"))},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("ratios", "load_average_1min")}
                     | {v: {k: best[v][k] for k in ("tokens_per_second", "peak_rss_mb", "loss_tokens", "final_train_loss")} for v in best}, indent=1))


if __name__ == "__main__":
    main()
