"""Benchmark: ROUGE-L over 100,000 (reference, prediction) pairs, sftwise vs Google's rouge-score,
side by side in one process, with a check that every score is identical.

Pairs: real GSM8K texts when ``../shared/data/gsm8k`` is present (a reference solution against a
model solution or a reference answer of another question, so both related and unrelated pairs),
cycled to the requested count; else seeded synthetic sentences. Both implementations score the
same pairs in the same order; rouge-score with ``RougeScorer(["rougeL"], use_stemmer=...)``, ours with
``rouge_f1_batch(..., ["rougeL"])``. Results go to ``benchmarks/results/bench_rouge.json``.

    python benchmarks/bench_rouge.py [--pairs 100000] [--stemmer]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
GSM8K = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gsm8k"


def make_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str], str]:
    rng = random.Random(seed)
    solutions = GSM8K / "example_model_solutions.jsonl"
    if solutions.is_file():
        rows = [json.loads(line) for line in solutions.read_text(encoding="utf-8").splitlines()]
        keys = ["6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"]
        base = [(r["ground_truth"], r[k]["solution"]) for r in rows for k in keys]
        base += [(rows[i]["ground_truth"], rows[(i * 7 + 3) % len(rows)]["ground_truth"]) for i in range(len(rows))]
        source = f"GSM8K example_model_solutions ({len(base)} distinct pairs, cycled)"
    else:
        words = "the a cat dog sat ran on mat over lazy quick brown fox jumps 1 2 3 and then".split()
        base = [(" ".join(rng.choice(words) for _ in range(60)), " ".join(rng.choice(words) for _ in range(60))) for _ in range(5000)]
        source = "synthetic 60-word sentences"
    refs, preds = [], []
    for i in range(n):
        r, p = base[i % len(base)]
        refs.append(r)
        preds.append(p)
    return refs, preds, source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--stemmer", action="store_true")
    args = parser.parse_args()

    from rouge_score import rouge_scorer

    from sftwise.evaluate.rouge import _stem, rouge_f1_batch

    refs, preds, source = make_pairs(args.pairs)
    _stem.cache_clear()

    start = time.perf_counter()
    ours = rouge_f1_batch(refs, preds, ["rougeL"], use_stemmer=args.stemmer)["rougeL"]
    ours_s = time.perf_counter() - start

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=args.stemmer)
    start = time.perf_counter()
    theirs = [scorer.score(r, p)["rougeL"].fmeasure for r, p in zip(refs, preds)]
    theirs_s = time.perf_counter() - start

    mismatches = sum(1 for a, b in zip(ours, theirs) if a != b)
    result = {
        "benchmark": "rougeL",
        "pairs": args.pairs,
        "source": source,
        "use_stemmer": args.stemmer,
        "sftwise_s": round(ours_s, 3),
        "rouge_score_s": round(theirs_s, 3),
        "speedup": round(theirs_s / ours_s, 2),
        "sftwise_pairs_per_s": round(args.pairs / ours_s),
        "rouge_score_pairs_per_s": round(args.pairs / theirs_s),
        "identical_scores": mismatches == 0,
        "mismatches": mismatches,
        "mean_rougeL_f1": sum(ours) / len(ours),
        "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "bench_rouge_stem.json" if args.stemmer else "bench_rouge.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"ROUGE-L on {args.pairs:,} pairs ({source}), stemmer={'on' if args.stemmer else 'off'}")
    print(f"  sftwise      {ours_s:8.2f} s  ({result['sftwise_pairs_per_s']:,} pairs/s)")
    print(f"  rouge-score  {theirs_s:8.2f} s  ({result['rouge_score_pairs_per_s']:,} pairs/s)")
    print(f"  speedup      {result['speedup']:.1f}x   identical scores: {mismatches == 0} ({mismatches} mismatches)")


if __name__ == "__main__":
    main()
