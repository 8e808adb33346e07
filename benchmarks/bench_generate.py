"""Benchmark: local generation throughput, sftwise's batched decoding vs the one-at-a-time
``model.generate`` loop, on CPU, side by side in one process.

The baseline is :class:`sftwise.backends.hf.HFGenerator` with ``batch_size=1`` and
``use_generate=True`` (one ``model.generate`` call per prompt); the batched run is the same generator
with its own decoding loop (shared-prefix KV cache, rows dropped as they finish) at ``batch_size``.
tokens/s = generated tokens (the end-of-turn token included) / wall seconds. The greedy outputs of
every batched run are checked to be identical to the baseline's, text and token count.

Two modes:

* default: the tiny random Llama of ``sftwise.demo.tiny``, ``--prompts`` user prompts; both runs
  generate exactly ``--new-tokens`` tokens (end-of-sequence suppressed with ``min_new_tokens``).
  Writes ``results/bench_generate.json``.
* ``--model REF`` (anything :func:`sftwise.models.resolve` takes: a directory, a bundled name): the
  60 test prompts of the bundled sample task, built as ``sftwise eval`` builds them (system
  instruction, chat template), up to ``--new-tokens`` each, stopping at end-of-turn; the batched run at
  ``--batch-size`` and at each size of ``--sweep``; with ``--few-shot K`` also the same prompts with
  K shots from the sample's train split (``shots_in="turns"``). Writes
  ``results/bench_generate_<name>.json`` (``--name``, default the model directory's name).

    python benchmarks/bench_generate.py [--prompts 64] [--new-tokens 32] [--batch-size 16] [--threads 2]
    python benchmarks/bench_generate.py --model /work/smollm2-hf --name smollm2 --new-tokens 24 --sweep 8,16,32,64 --few-shot 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _run(gen, requests, params) -> dict:
    start = time.perf_counter()
    results = gen.generate(requests, params)
    seconds = time.perf_counter() - start
    tokens = sum(r.completion_tokens or 0 for r in results)
    errors = [r.error for r in results if r.error]
    return {"seconds": round(seconds, 3), "tokens": tokens, "tokens_per_s": round(tokens / seconds, 1), "errors": len(errors),
            "path": "generate" if gen.fallback_reason else "sftwise", "outputs": [(r.text, r.completion_tokens) for r in results]}


def _compare(baseline: dict, runs: dict[str, dict]) -> dict:
    """Strip the outputs, add identical/mismatches/speedup against the baseline."""
    for run in runs.values():
        mismatches = sum(a != b for a, b in zip(run["outputs"], baseline["outputs"]))
        run.update(identical_greedy_outputs=mismatches == 0, mismatches=mismatches, speedup=round(run["tokens_per_s"] / baseline["tokens_per_s"], 2))
    for run in (baseline, *runs.values()):
        run.pop("outputs", None)
    return runs


def tiny(args) -> dict:
    import torch

    from sftwise.backends.base import GenerationParams, GenerationRequest
    from sftwise.backends.hf import HFGenerator
    from sftwise.demo.tiny import build_tiny_model, sample_texts

    texts = sample_texts()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(Path(tmp) / "tiny", texts, seed=0, hidden_size=args.hidden_size)
        batched = HFGenerator(model_dir, batch_size=args.batch_size, device="cpu")
        single = HFGenerator(model_dir, batch_size=1, device="cpu", model=batched.model, tokenizer=batched.tokenizer, use_generate=True)
        batched.model.generation_config.min_new_tokens = args.new_tokens  # exactly new_tokens per prompt in both runs
        prompts = [t for t in texts if 20 < len(t) < 400][: args.prompts]
        requests = [GenerationRequest(id=str(i), messages=[{"role": "user", "content": p}]) for i, p in enumerate(prompts)]
        params = GenerationParams(max_new_tokens=args.new_tokens)
        batched.generate(requests[:2], params)  # warm-up
        run = _run(batched, requests, params)
        baseline = _run(single, requests, params)
    _compare(baseline, {"batched": run})
    return {
        "benchmark": "hf_generate_cpu",
        "model": f"sftwise.demo.tiny Llama (hidden {args.hidden_size}, 2 layers, random weights)",
        "prompts": len(requests),
        "new_tokens_per_prompt": args.new_tokens,
        "batch_size": args.batch_size,
        "batched": run,
        "one_at_a_time": baseline,
        "speedup": run["speedup"],
        "identical_greedy_outputs": run["identical_greedy_outputs"],
    }


def sample_requests(gen, few_shot: int, seed: int = 0):
    """The sample task's test prompts, built as ``sftwise eval`` builds them."""
    from sftwise import formats
    from sftwise.demo.sample import sample_paths
    from sftwise.evaluate.runner import _example_ids, build_request, draw_shots
    from sftwise.textsim import normalize

    paths = sample_paths()
    test = formats.load(paths["test"])
    shots = []
    if few_shot:
        eval_prompts = {normalize(r.conversation.input_text()) for r in test.records} | {normalize(r.conversation.last_user_text) for r in test.records}
        shots = draw_shots(formats.load(paths["train"]), few_shot, seed, eval_prompts)
    requests = [build_request(i, r.conversation, shots, "turns") for i, r in zip(_example_ids(test), test.records)]
    lengths = [len(gen.tokenizer(gen.render(r), add_special_tokens=False)["input_ids"]) for r in requests]
    return requests, {"min": min(lengths), "max": max(lengths), "mean": round(sum(lengths) / len(lengths), 1)}


def real(args) -> dict:
    from sftwise.backends.base import GenerationParams
    from sftwise.backends.hf import HFGenerator

    gen = HFGenerator(args.model, batch_size=args.batch_size, device="cpu", dtype="float32")
    single = HFGenerator(args.model, batch_size=1, device="cpu", model=gen.model, tokenizer=gen.tokenizer, use_generate=True)
    params = GenerationParams(max_new_tokens=args.new_tokens)
    sizes = sorted({args.batch_size, *(int(s) for s in args.sweep.split(",") if s)})
    variants = {}
    for shots in sorted({0, args.few_shot}):
        requests, lengths = sample_requests(gen, shots)
        gen.generate(requests[:2], params)  # warm-up
        runs = {}
        for size in sizes:
            gen.batch_size = size
            runs[f"batch_{size}"] = _run(gen, requests, params)
            print(f"  {shots}-shot sftwise bs={size:<3} {runs[f'batch_{size}']['tokens_per_s']:8.1f} tok/s", flush=True)
        if args.generate_batch:
            old = HFGenerator(args.model, batch_size=args.generate_batch, device="cpu", model=gen.model, tokenizer=gen.tokenizer, use_generate=True)
            runs[f"generate_batch_{args.generate_batch}"] = _run(old, requests, params)
        baseline = _run(single, requests, params)
        print(f"  {shots}-shot generate one at a time {baseline['tokens_per_s']:8.1f} tok/s", flush=True)
        _compare(baseline, runs)
        variants[f"{shots}_shot"] = {"prompt_tokens": lengths, "one_at_a_time": baseline, "runs": runs,
                                     "speedup_at_default": runs[f"batch_{args.batch_size}"]["speedup"]}
    gen.batch_size = args.batch_size
    zero = variants["0_shot"]
    return {
        "benchmark": "hf_generate_cpu_real_model",
        "model": args.model,
        "dtype": "float32",
        "data": "sftwise.demo.sample test split (60 prompts, system instruction, chat template), as sftwise eval builds them",
        "prompts": 60,
        "max_new_tokens": args.new_tokens,
        "batch_size": args.batch_size,
        "variants": variants,
        "speedup": zero["speedup_at_default"],
        "identical_greedy_outputs": all(r["identical_greedy_outputs"] for v in variants.values() for r in v["runs"].values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a model reference; without it, the tiny random model")
    parser.add_argument("--name", default=None, help="results/bench_generate_<name>.json (with --model)")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--sweep", default="", help="comma-separated batch sizes to run as well (with --model)")
    parser.add_argument("--few-shot", type=int, default=0, help="also run the prompts with K shots (with --model)")
    parser.add_argument("--generate-batch", type=int, default=0, help="also time batched model.generate at this size (with --model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hidden-size", type=int, default=64)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    result = real(args) if args.model else tiny(args)
    result.update(torch_threads=args.threads, torch=torch.__version__, python=platform.python_version(),
                  load_average_1m=round(os.getloadavg()[0], 2), cpu_count=os.cpu_count())
    name = "bench_generate.json" if not args.model else f"bench_generate_{args.name or Path(args.model).name}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{result['model']}: speedup {result['speedup']:.1f}x at batch {args.batch_size}, identical greedy outputs: {result['identical_greedy_outputs']} -> {RESULTS / name}")


if __name__ == "__main__":
    main()
