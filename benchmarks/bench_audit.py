"""Benchmark: `sftwise audit` on 1,000,000 short generated examples, without a tokenizer.

Targets (issue 2): under 60 s on 2 cores and under 2 GB peak memory; `import sftwise` and
`sftwise --help` under 0.5 s. As a reference point the same file is also parsed with the standard
library's ``json`` (the floor any Python reader of the file pays), so the audit's cost can be read as
a ratio to plain parsing.

Each measurement runs in a fresh child process, so peak memory (``VmHWM``, see ``peak_memory.py``) is
the audit's own and not the generator's. Results go to ``benchmarks/results/bench_audit.json``.

    python benchmarks/bench_audit.py [--examples 1000000] [--keep FILE]
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

import orjson

RESULTS = Path(__file__).resolve().parent / "results"
SYSTEM = "You route customer support tickets. Reply with JSON only."
TEAMS = ("billing", "shipping", "technical", "account")


def generate(path: Path, n: int) -> None:
    with open(path, "wb") as fh:
        for i in range(n):
            team = TEAMS[i % 4]
            obj = {
                "systemInstruction": {"parts": [{"text": SYSTEM}]},
                "contents": [
                    {"role": "user", "parts": [{"text": f"Ticket {i}: my order {i * 7919 % 100000} for item {i % 997} has a {team} problem, please help."}]},
                    {"role": "model", "parts": [{"text": f'{{"team": "{team}", "priority": "normal"}}'}]},
                ],
            }
            fh.write(orjson.dumps(obj) + b"\n")


_CHILD_AUDIT = """
import json, sys, time
sys.path.insert(0, sys.argv[2])
from peak_memory import peak_rss_mb
t = time.perf_counter()
from sftwise.audit import audit
report = audit(sys.argv[1])
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "examples": report.stats["train"].example_count, "findings": len(report.findings),
                  "errors": report.counts["error"], "peak_rss_mb": peak_rss_mb()}))
"""

_CHILD_JSON = """
import json, sys, time
sys.path.insert(0, sys.argv[2])
from peak_memory import peak_rss_mb
t = time.perf_counter()
n = 0
with open(sys.argv[1], encoding="utf-8") as fh:
    for line in fh:
        json.loads(line)
        n += 1
print(json.dumps({"seconds": time.perf_counter() - t, "examples": n, "peak_rss_mb": peak_rss_mb()}))
"""


def child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args, str(Path(__file__).resolve().parent)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_wall(cmd: list[str], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    path = args.keep or Path(tmp.name) / "train.jsonl"
    t = time.perf_counter()
    generate(path, args.examples)
    gen_s = time.perf_counter() - t
    size_mb = path.stat().st_size / 1e6
    print(f"generated {args.examples:,} examples ({size_mb:,.0f} MB) in {gen_s:.1f} s")

    audit_r = child(_CHILD_AUDIT, str(path))
    print(f"audit: {audit_r['seconds']:.1f} s, {audit_r['examples'] / audit_r['seconds']:,.0f} examples/s, peak {audit_r['peak_rss_mb']:,.0f} MB, {audit_r['findings']} findings")
    json_r = child(_CHILD_JSON, str(path))
    print(f"reference, stdlib json.loads per line: {json_r['seconds']:.1f} s ({audit_r['seconds'] / json_r['seconds']:.2f}x of it for the full audit)")

    sftwise_bin = Path(sys.executable).with_name("sftwise")
    import_s = best_wall([sys.executable, "-c", "import sftwise"])
    help_s = best_wall([str(sftwise_bin), "--help"]) if sftwise_bin.exists() else best_wall([sys.executable, "-m", "sftwise", "--help"])
    bare_s = best_wall([sys.executable, "-c", "pass"])
    print(f"import sftwise: {import_s:.3f} s; sftwise --help: {help_s:.3f} s (bare python start: {bare_s:.3f} s)")

    result = {
        "benchmark": "bench_audit",
        "examples": args.examples,
        "file_mb": round(size_mb, 1),
        "audit_seconds": round(audit_r["seconds"], 2),
        "audit_examples_per_second": round(audit_r["examples"] / audit_r["seconds"]),
        "audit_peak_rss_mb": round(audit_r["peak_rss_mb"]),
        "audit_findings": audit_r["findings"],
        "stdlib_json_parse_seconds": round(json_r["seconds"], 2),
        "audit_over_stdlib_json_ratio": round(audit_r["seconds"] / json_r["seconds"], 2),
        "import_sftwise_seconds": round(import_s, 3),
        "sftwise_help_seconds": round(help_s, 3),
        "python_start_seconds": round(bare_s, 3),
        "targets": {"audit_seconds": 60, "peak_rss_mb": 2048, "import_and_help_seconds": 0.5},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "tokenizer": "estimate (UTF-8 bytes / 4)",
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "bench_audit.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
