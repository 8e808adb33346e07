"""Benchmark: local generation throughput, batched (left padding) vs one example at a time, on the
same tiny random Llama model on CPU, side by side in one process.

Both runs generate exactly ``--new-tokens`` tokens per prompt (end-of-sequence is suppressed with
``min_new_tokens`` so the two runs do the same work regardless of what the random model emits) for
the same ``--prompts`` prompts; tokens/s = generated tokens / wall seconds. The batched run uses
:class:`sftwise.backends.hf.HFGenerator` with ``batch_size``; the loop is the same generator with
``batch_size=1``. The greedy outputs are checked to be identical. Results go to
``benchmarks/results/bench_generate.json``.

    python benchmarks/bench_generate.py [--prompts 64] [--new-tokens 32] [--batch-size 16] [--threads 2]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hidden-size", type=int, default=64)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from sftwise.backends.base import GenerationParams, GenerationRequest
    from sftwise.backends.hf import HFGenerator
    from sftwise.demo.tiny import build_tiny_model, sample_texts

    texts = sample_texts()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(Path(tmp) / "tiny", texts, seed=0, hidden_size=args.hidden_size)
        batched = HFGenerator(model_dir, batch_size=args.batch_size, device="cpu")
        single = HFGenerator(model_dir, batch_size=1, device="cpu", model=batched.model, tokenizer=batched.tokenizer)
        for gen in (batched, single):  # exactly new_tokens per prompt in both runs
            gen.model.generation_config.min_new_tokens = args.new_tokens
        prompts = [t for t in texts if 20 < len(t) < 400][: args.prompts]
        requests = [GenerationRequest(id=str(i), messages=[{"role": "user", "content": p}]) for i, p in enumerate(prompts)]
        params = GenerationParams(max_new_tokens=args.new_tokens)
        batched.generate(requests[:2], params)  # warm-up
        out = {}
        for label, gen in (("batched", batched), ("one_at_a_time", single)):
            start = time.perf_counter()
            results = gen.generate(requests, params)
            seconds = time.perf_counter() - start
            tokens = sum(r.completion_tokens or 0 for r in results)
            out[label] = {"seconds": round(seconds, 3), "tokens": tokens, "tokens_per_s": round(tokens / seconds, 1), "texts": [r.text for r in results]}
    identical = out["batched"]["texts"] == out["one_at_a_time"]["texts"]
    for v in out.values():
        v.pop("texts")
    result = {
        "benchmark": "hf_generate_cpu",
        "model": f"sftwise.demo.tiny Llama (hidden {args.hidden_size}, 2 layers, random weights)",
        "prompts": len(requests),
        "new_tokens_per_prompt": args.new_tokens,
        "batch_size": args.batch_size,
        "torch_threads": args.threads,
        "batched": out["batched"],
        "one_at_a_time": out["one_at_a_time"],
        "speedup": round(out["batched"]["tokens_per_s"] / out["one_at_a_time"]["tokens_per_s"], 2),
        "identical_greedy_outputs": identical,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_generate.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"tiny model, {len(requests)} prompts x {args.new_tokens} new tokens, CPU, {args.threads} threads")
    print(f"  batched (bs={args.batch_size})  {out['batched']['tokens_per_s']:8.1f} tok/s  ({out['batched']['seconds']} s)")
    print(f"  one at a time     {out['one_at_a_time']['tokens_per_s']:8.1f} tok/s  ({out['one_at_a_time']['seconds']} s)")
    print(f"  speedup           {result['speedup']:.1f}x   identical greedy outputs: {identical}")


if __name__ == "__main__":
    main()
