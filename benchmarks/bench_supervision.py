"""Benchmark: the supervision report (`sftwise inspect`) on 10,000 examples with SmolLM2's real tokenizer.

Target (issue 13): under 60 s on 2 cores. Side by side, in the same process and on the same data:

- ``prepare_split``: what the trainer itself computes (template, assistant-only labels, length policy);
  the report runs exactly this encoder, so the ratio is the price of the checks on top of it;
- ``apply_chat_template(tokenize=True)``: the template rendered and tokenised once per example, with
  no mask at all (the floor any masking pays; transformers' own ``return_assistant_tokens_mask``
  cannot run here, SmolLM2's template has no ``{% generation %}`` markers).

The data is generated: 10 % of examples without a system instruction (SmolLM2 then injects its
default one), 20 % with two exchanges. Results go to ``benchmarks/results/bench_supervision.json``.

    SFTWISE_CACHE_DIR=~/.cache/sftwise python benchmarks/bench_supervision.py [--examples 10000]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SYSTEM = "You route customer support tickets. Reply with JSON only."
TEAMS = ("billing", "shipping", "technical", "account")


def generate(n: int):
    from sftwise.conversation import Conversation, Dataset

    convs = []
    for i in range(n):
        team = TEAMS[i % 4]
        pairs = [("user", f"Ticket {i}: my order {i * 7919 % 100000} for item {i % 997} has a {team} problem, " + "please help. " * (i % 7)),
                 ("model", f'{{"team": "{team}", "priority": "normal"}}')]
        if i % 5 == 0:
            pairs += [("user", "Are you sure? It may be something else."), ("model", f'{{"team": "{TEAMS[(i + 1) % 4]}", "priority": "high"}}')]
        convs.append(Conversation.from_pairs(pairs, system=None if i % 10 == 3 else SYSTEM))
    return Dataset.from_conversations(convs, path="generated.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_supervision.json")
    args = parser.parse_args()

    from sftwise.models import ensure_local, load_tokenizer
    from sftwise.train.data import ensure_chat_template, prepare_split
    from sftwise.train.supervision import inspect_supervision

    ensure_local(args.model)
    tokenizer = load_tokenizer(args.model)
    ensure_chat_template(tokenizer, args.model)
    data = generate(args.examples)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    for record in data:
        tokenizer.apply_chat_template(record.conversation.to_messages(), tokenize=True)
    timings["apply_chat_template_tokenize"] = time.perf_counter() - t

    t = time.perf_counter()
    split = prepare_split("train", data, copy.deepcopy(tokenizer), max_length=1024)
    timings["prepare_split"] = time.perf_counter() - t

    t = time.perf_counter()
    report = inspect_supervision(data, args.model, tokenizer=copy.deepcopy(tokenizer), max_length=1024, show=3)
    timings["inspect_supervision"] = time.perf_counter() - t

    assert report.loss_tokens == sum(ex.n_loss_tokens for ex in split.examples), "the report and the trainer disagree"
    result = {
        "examples": args.examples,
        "model": args.model,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "examples_per_second": round(args.examples / timings["inspect_supervision"]),
        "ratio_to_prepare_split": round(timings["inspect_supervision"] / timings["prepare_split"], 2),
        "ratio_to_apply_chat_template": round(timings["inspect_supervision"] / timings["apply_chat_template_tokenize"], 2),
        "target_seconds": 60,
        "met": timings["inspect_supervision"] < 60,
        "loss_share": round(report.loss_share, 4),
        "counts": report.counts,
        "findings": sorted({f.code for f in report.findings}),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
