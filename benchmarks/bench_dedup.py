"""Dedup quality and speed: GSM8K counts, injected-duplicate precision/recall, datasketch, ExactSubstr.

Run: ``python benchmarks/bench_dedup.py [--speed-n 200000] [--substr-mb 20] [--out bench_dedup.json]``.
Sections (each writes into the JSON):

1. ``gsm8k``   exact and near duplicates inside GSM8K train (questions and full question+answer,
               sftwise defaults) and train/test leakage (inputs).
2. ``inject``  duplicates injected into GSM8K train (every kind of ``dup_injector``), dedup with the
               defaults, precision and recall of "copy in the same cluster as its original";
               leakage injected into GSM8K test, same measures.
3. ``speed``   near dedup of a synthetic corpus (sentences of GSM8K mixed into distinct documents,
               10 % injected near copies) by sftwise and by datasketch MinHashLSH with the same
               shingles (char 5-grams of the normalised text), num_perm 128, bands 32 x 4, each in
               its own process (peak RSS per process), recall of both on the injected copies.
4. ``substr``  ExactSubstr on ``--substr-mb`` MB of text; seconds, MB/s, extrapolation to 100 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peak_memory import peak_rss_mb  # noqa: E402
from dup_injector import KINDS, NEAR_KINDS, inject, inject_leakage, synthetic_corpus  # noqa: E402

GSM8K = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gsm8k"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in open(GSM8K / name, encoding="utf-8")]


def _full(r: dict) -> str:
    return r["question"] + "\n" + r["answer"]


def _clusters_to_label(n: int, clusters: list[list[int]]) -> list[int]:
    label = list(range(n))
    for c in clusters:
        for i in c:
            label[i] = c[0]
    return label


def _dedup_clusters(texts: list[str]) -> list[list[int]]:
    """Exact + near clusters with sftwise defaults (normalised text, char 5-grams, threshold 0.5)."""
    from sftwise.hygiene.exact import exact_groups
    from sftwise.hygiene.minhash import MinHashConfig, UnionFind, near_duplicates
    from sftwise.hygiene.text import Normalization

    norm = Normalization()
    t = [norm.apply(x) for x in texts]
    uf = UnionFind(len(t))
    for g in exact_groups(t):
        for i in g[1:]:
            uf.union(g[0], i)
    for a, b, _ in near_duplicates(t, MinHashConfig()).pairs:
        uf.union(a, b)
    return uf.groups()


def gsm8k_counts() -> dict:
    from sftwise.conversation import Conversation, Dataset
    from sftwise.hygiene.leakage import leakage

    train, test = _rows("train.jsonl"), _rows("test.jsonl")
    out = {}
    for name, fn in (("question", lambda r: r["question"]), ("full", _full)):
        from sftwise.hygiene.exact import exact_groups
        from sftwise.hygiene.minhash import MinHashConfig, near_duplicates
        from sftwise.hygiene.text import Normalization

        norm = Normalization()
        t = [norm.apply(fn(r)) for r in train]
        ex = exact_groups(t)
        row = {"exact_groups": len(ex), "exact_removed": sum(len(g) - 1 for g in ex)}
        for thr, unit, n in ((0.5, "char", 5), (0.8, "char", 5), (0.8, "word", 5)):
            nd = near_duplicates(t, MinHashConfig(threshold=thr, unit=unit, ngram=n))
            row[f"near_{unit}{n}_t{thr}"] = {"pairs": len(nd.pairs), "clusters": len(nd.clusters),
                                             "removed": sum(len(c) - 1 for c in nd.clusters),
                                             "examples": [(a + 1, b + 1, s) for a, b, s in nd.pairs[:5]]}
        out[name] = row

    def ds(rows: list[dict], path: str) -> Dataset:
        return Dataset.from_conversations([Conversation.from_pairs([("user", r["question"]), ("model", r["answer"])]) for r in rows], path)

    from sftwise.hygiene.minhash import MinHashConfig

    out["leakage"] = {}
    for thr, unit, n in ((0.5, "char", 5), (0.8, "char", 5), (0.8, "word", 5)):
        rep = leakage(ds(train, "train.jsonl"), {"test": ds(test, "test.jsonl")}, minhash=MinHashConfig(threshold=thr, unit=unit, ngram=n))
        out["leakage"][f"{unit}{n}_t{thr}"] = {"counts": rep.counts["test"],
                                               "examples": [(x.line, x.train_line, x.similarity) for x in rep.leaked[:5]]}
    return out


def _pr(n: int, clusters: list[list[int]], truth, natural_pairs: set[tuple[int, int]] | None = None) -> dict:
    label = _clusters_to_label(n, clusters)
    copies = {t.index for t in truth}
    group_of = {}
    for t in truth:  # truth groups: the original and all its copies
        group_of.setdefault(t.original, t.original)
        group_of[t.index] = t.original
    per_kind: dict[str, list[int]] = {}
    for t in truth:
        per_kind.setdefault(t.kind, []).append(int(label[t.index] == label[t.original]))
    tp = fp = 0
    fp_natural = 0
    for c in clusters:
        for x in range(len(c)):
            for y in range(x + 1, len(c)):
                a, b = c[x], c[y]
                if a not in copies and b not in copies:
                    if natural_pairs is not None and (a, b) in natural_pairs:
                        fp_natural += 1
                    continue  # pairs of two real records: GSM8K's own near duplicates, counted apart
                if group_of.get(a, -a - 1) == group_of.get(b, -b - 2):
                    tp += 1
                else:
                    fp += 1
    recall = {k: sum(v) / len(v) for k, v in per_kind.items()}
    near = [x for k in NEAR_KINDS for x in per_kind.get(k, [])]
    return {"recall_by_kind": recall, "near_recall": sum(near) / max(1, len(near)),
            "overall_recall": sum(sum(v) for v in per_kind.values()) / max(1, len(truth)),
            "pair_precision": tp / max(1, tp + fp), "true_pairs": tp, "false_pairs": fp}


def injected() -> dict:
    from sftwise.conversation import Conversation, Dataset
    from sftwise.hygiene.leakage import leakage

    train, test = _rows("train.jsonl"), _rows("test.jsonl")
    base = [_full(r) for r in train]
    texts, truth = inject(base, 1800, seed=0)
    t0 = time.perf_counter()
    clusters = _dedup_clusters(texts)
    seconds = time.perf_counter() - t0
    res = _pr(len(texts), clusters, truth)
    res["records"] = len(texts)
    res["copies"] = len(truth)
    res["seconds"] = round(seconds, 2)
    res["pairs_between_real_records"] = sum(len(c) * (len(c) - 1) // 2 for c in clusters if not any(i in {t.index for t in truth} for i in c))
    # leakage: copies of train questions injected into test
    tq = [r["question"] for r in train]
    evq, leaks = inject_leakage(tq, [r["question"] for r in test], 600, seed=0)

    def ds(qs, path):
        return Dataset.from_conversations([Conversation.from_pairs([("user", q), ("model", "x")]) for q in qs], path)

    rep = leakage(ds(tq, "train"), {"test": ds(evq, "test")})
    found = {(x.line - 1, x.train_line - 1) for x in rep.leaked}
    found_lines = {x.line - 1 for x in rep.leaked}
    truth_set = {(t.index, t.original) for t in leaks}
    per_kind = {}
    for t in leaks:
        per_kind.setdefault(t.kind, []).append(int(t.index in found_lines))
    injected_lines = {t.index for t in leaks}
    reported_injected = [x for x in found if x[0] in injected_lines]
    correct = sum(1 for x in reported_injected if x in truth_set)
    leak_res = {"recall_by_kind": {k: sum(v) / len(v) for k, v in per_kind.items()},
                "recall": sum(sum(v) for v in per_kind.values()) / len(leaks),
                "precision_on_injected": correct / max(1, len(reported_injected)),
                "reported_real_test_items": len(found_lines - injected_lines), "leaks": len(leaks)}
    return {"dedup": res, "leakage": leak_res}


# ---- speed ---------------------------------------------------------------------------------------


def _speed_data(n: int) -> tuple[list[str], list]:
    base = [_full(r) for r in _rows("train.jsonl")]
    docs = synthetic_corpus(base, int(n * 0.9), seed=1)
    texts, truth = inject(docs, n - len(docs), seed=2, kinds=NEAR_KINDS)
    return texts, truth


def _run_sftwise(n: int, q: _Box) -> None:
    from sftwise.hygiene.minhash import MinHashConfig, near_duplicates
    from sftwise.hygiene.text import Normalization

    texts, truth = _speed_data(n)
    norm = Normalization()
    t0 = time.perf_counter()
    t = [norm.apply(x) for x in texts]
    cfg = MinHashConfig(bands=32, rows=4)
    res = near_duplicates(t, cfg)
    sec = time.perf_counter() - t0
    pr = _pr(len(texts), res.clusters, truth)
    q.put({"seconds": round(sec, 2), "peak_rss_mb": peak_rss_mb(),
           "recall": pr["near_recall"], "pair_precision": pr["pair_precision"], "candidates": res.candidates, "verified_pairs": len(res.pairs)})


def _run_datasketch(n: int, q: _Box, limit: int | None) -> None:
    import numpy as np
    from datasketch import MinHash, MinHashLSH

    from sftwise.hygiene.minhash import UnionFind
    from sftwise.hygiene.text import Normalization

    texts, truth = _speed_data(n)
    if limit:
        texts = texts[:limit]
        truth = [t for t in truth if t.index < limit and t.original < limit]
    norm = Normalization()
    t0 = time.perf_counter()
    lsh = MinHashLSH(num_perm=128, params=(32, 4))
    uf = UnionFind(len(texts))
    permutations = MinHash(num_perm=128, seed=1).permutations
    found: list[list] = []
    for i, x in enumerate(texts):
        x = norm.apply(x)
        sh = {x[k:k + 5] for k in range(max(1, len(x) - 4))}
        m = MinHash(num_perm=128, seed=1, permutations=permutations, scheme="affine32")
        m.update_batch([s.encode("utf-8") for s in sh])
        found.append(lsh.query(m))
        lsh.insert(i, m)
    sec = time.perf_counter() - t0  # datasketch's part only: clustering its candidates is not timed
    for i, js in enumerate(found):
        for j in js:
            uf.union(int(j), i)
    pr = _pr(len(texts), uf.groups(), truth)
    q.put({"seconds": round(sec, 2), "records": len(texts), "peak_rss_mb": peak_rss_mb(),
           "recall": pr["near_recall"], "pair_precision": pr["pair_precision"], "note": "candidates only (no verification); time = signatures + LSH insert/query, clustering not timed"})
    del np


class _Box:
    def put(self, value: dict) -> None:
        print("RESULT " + json.dumps(value), flush=True)


def speed(n: int, datasketch_limit: int | None) -> dict:
    """Each library in its own process (fresh peak RSS), one after the other, same data and params."""
    import subprocess

    out = {"records": n, "params": "char 5-grams of normalised text, num_perm 128, bands 32 x 4, threshold 0.5 (sftwise verifies)"}
    for name in ("sftwise", "datasketch"):
        cmd = [sys.executable, __file__, "--worker", name, "--speed-n", str(n)]
        if datasketch_limit:
            cmd += ["--datasketch-limit", str(datasketch_limit)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            raise RuntimeError(f"{name} worker failed:\n{proc.stderr[-3000:]}")
        out[name] = json.loads(lines[-1][7:])
        print(name, out[name], flush=True)
    ds_rate = out["datasketch"]["seconds"] / out["datasketch"].get("records", n)
    out["speedup"] = round(ds_rate * n / out["sftwise"]["seconds"], 2)
    return out


def substr(mb: float) -> dict:
    from sftwise.hygiene.substr import repeated_spans

    base = [_full(r) for r in _rows("train.jsonl")]
    target = int(mb * 1_000_000)
    docs, size, k = [], 0, 0
    corpus = synthetic_corpus(base, max(1000, target // 300), seed=3)
    while size < target:
        d = corpus[k % len(corpus)] if k < len(corpus) else corpus[k % len(corpus)] + f" #{k}"
        docs.append(d)
        size += len(d.encode()) + 1
        k += 1
    t0 = time.perf_counter()
    spans = repeated_spans(docs, min_tokens=50)
    sec = time.perf_counter() - t0
    return {"megabytes": round(size / 1e6, 1), "documents": len(docs), "seconds": round(sec, 2), "mb_per_s": round(size / 1e6 / sec, 2),
            "spans": len(spans), "extrapolated_100mb_seconds": round(sec * 100e6 / size, 1),
            "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--speed-n", type=int, default=200_000)
    parser.add_argument("--datasketch-limit", type=int, default=None, help="run datasketch on the first N records only (its time is scaled)")
    parser.add_argument("--substr-mb", type=float, default=20)
    parser.add_argument("--sections", default="gsm8k,inject,speed,substr")
    parser.add_argument("--out", default="benchmarks/results/bench_dedup.json")
    parser.add_argument("--worker", choices=("sftwise", "datasketch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "sftwise":
        return _run_sftwise(args.speed_n, _Box())
    if args.worker == "datasketch":
        return _run_datasketch(args.speed_n, _Box(), args.datasketch_limit)
    if not GSM8K.exists():
        sys.exit(f"GSM8K not found at {GSM8K}")
    results = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    sections = args.sections.split(",")
    if "gsm8k" in sections:
        results["gsm8k"] = gsm8k_counts()
        print("gsm8k", json.dumps(results["gsm8k"])[:2000], flush=True)
    if "inject" in sections:
        results["inject"] = injected()
        print("inject", json.dumps(results["inject"]), flush=True)
    if "substr" in sections:
        results["substr"] = substr(args.substr_mb)
        print("substr", results["substr"], flush=True)
    if "speed" in sections:
        results["speed"] = speed(args.speed_n, args.datasketch_limit)
        print("speed", results["speed"], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
