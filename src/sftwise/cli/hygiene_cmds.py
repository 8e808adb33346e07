"""Commands of the data-hygiene stage: dedup, split, skew (the library lives in sftwise.hygiene, split, skew)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sftwise.cli.app import app
from sftwise.cli.options import MAP_HELP, json_option, map_option, output_dir_option, output_file_option, parse_field_map, seed_option


@app.command()
def dedup(
    train: Path = typer.Argument(..., help="dataset file (.jsonl, .json, .csv, .parquet; any supported format)"),
    output: Path = output_file_option(..., "-o", "--output", help="where to write the deduplicated dataset (never the input)", example="train.dedup.jsonl"),
    method: str = typer.Option("exact,near", "--method", help="comma-separated: exact, near, substr, semantic"),
    threshold: float = typer.Option(0.5, "--threshold", min=0.01, max=1.0, help="near duplicates: Jaccard similarity of shingle sets"),
    unit: str = typer.Option("char", "--unit", help="near duplicates: shingle unit, char or word"),
    ngram: int = typer.Option(5, "--ngram", min=1, max=64, help="near duplicates: shingle length in units"),
    num_perm: int = typer.Option(128, "--num-perm", min=8, max=4096, help="near duplicates: MinHash signature length"),
    bands: Optional[int] = typer.Option(None, "--bands", min=1, help="LSH bands (default: chosen from threshold and num-perm)"),
    rows: Optional[int] = typer.Option(None, "--rows", min=1, help="LSH rows per band"),
    field: str = typer.Option("full", "--field", help="text compared: full (system + turns), input (prompt) or output"),
    case: bool = typer.Option(True, "--case/--no-case", help="ignore case"),
    whitespace: bool = typer.Option(True, "--whitespace/--no-whitespace", help="ignore whitespace differences"),
    unicode: bool = typer.Option(True, "--unicode/--no-unicode", help="NFKC Unicode normalisation"),
    punctuation: bool = typer.Option(False, "--punctuation/--no-punctuation", help="ignore punctuation"),
    keep: str = typer.Option("first", "--keep", help="representative kept per cluster: first or longest (output)"),
    substr_min_tokens: int = typer.Option(50, "--substr-min-tokens", min=1, help="ExactSubstr: minimum repeated length (tokens, 2 bytes each)"),
    cut_substrings: bool = typer.Option(False, "--cut-substrings", help="ExactSubstr: cut later copies of repeated substrings"),
    semantic_threshold: float = typer.Option(0.95, "--semantic-threshold", min=0.01, max=1.0, help="semantic: cosine similarity"),
    embedding_model: Optional[str] = typer.Option(None, "--embedding-model", help="semantic: sentence-transformers model name or path (default: offline TF-IDF/LSA)"),
    min_topic_size: int = typer.Option(50, "--min-topic-size", min=2, help="semantic: report topic clusters at least this large"),
    fmt: Optional[str] = typer.Option(None, "--format", help="output format (default: the input's)"),
    field_map: list[str] = map_option(),
    report_path: Optional[Path] = output_file_option(None, "--report", help="write the full report (every removed record) as JSON"),
    json_out: Optional[Path] = json_option("same as --report"),
    seed: int = seed_option("seed for the semantic clustering"),
    max_listed: int = typer.Option(20, "--max-listed", min=0, help="removed records listed on screen (0 = all)"),
) -> None:
    """Remove exact, near and semantic duplicates; report (and optionally cut) repeated substrings.

    One representative per duplicate cluster is kept; the report lists every removed record with its
    line, its cluster and the reason. The input file is never modified.
    """
    from rich.console import Console
    from rich.table import Table

    from sftwise.hygiene.core import DedupConfig
    from sftwise.hygiene.core import dedup as run_dedup
    from sftwise.hygiene.minhash import MinHashConfig
    from sftwise.hygiene.text import Normalization
    from sftwise.formats import load, write
    from sftwise.errors import SftwiseError
    from sftwise.io import write_json

    if unit not in ("char", "word"):
        raise SftwiseError(f"--unit must be char or word; got {unit!r}.")
    if keep not in ("first", "longest"):
        raise SftwiseError(f"--keep must be first or longest; got {keep!r}.")
    config = DedupConfig(
        methods=[m.strip() for m in method.split(",") if m.strip()], field=field,
        normalization=Normalization(unicode=unicode, case=case, whitespace=whitespace, punctuation=punctuation),
        minhash=MinHashConfig(unit=unit, ngram=ngram, num_perm=num_perm, threshold=threshold, bands=bands, rows=rows),
        keep=keep, substr_min_tokens=substr_min_tokens, cut_substrings=cut_substrings, semantic_threshold=semantic_threshold,
        semantic_model=embedding_model, min_topic_size=min_topic_size, seed=seed,
    ).validated()
    err = Console(stderr=True)
    with err.status(f"Reading {train} ..") as status:
        dataset = load(train, field_map=parse_field_map(field_map))
        kept, report = run_dedup(dataset, config, progress=lambda msg: status.update(f"{train}: {msg} .."))
        write(kept, output, format=fmt or dataset.format or "gemini")
    for path in (report_path, json_out):
        if path:
            write_json(path, report)
    console = Console(highlight=False)
    if report.removed_records:
        table = Table(title=f"Removed records ({report.removed})")
        for col in ("line", "reason", "cluster", "kept line", "similarity"):
            table.add_column(col)
        shown = report.removed_records if not max_listed else report.removed_records[:max_listed]
        for r in shown:
            table.add_row(str(r.line), r.reason, str(r.cluster), str(r.kept_line), "" if r.similarity is None else f"{r.similarity:.2f}")
        console.print(table)
        if len(shown) < len(report.removed_records):
            console.print(f"... and {len(report.removed_records) - len(shown)} more (all of them in the --report JSON).")
    if report.substrings:
        console.print(f"Repeated substrings: {len(report.substrings)} spans" + (f", {report.substrings_cut} copies cut." if cut_substrings else " (pass --cut-substrings to cut later copies)."))
        for s in report.substrings[:5]:
            console.print(f"  {s.file}:{s.line} {s.field} [{s.start}:{s.end}] x{s.occurrences}: {s.text[:80]!r}")
    for t in report.topics[:5]:
        console.print(f"Topic of {t.size} records: {', '.join(t.terms[:6])} (e.g. lines {', '.join(str(e.line) for e in t.examples[:3])})")
    counts = ", ".join(f"{k} {v}" for k, v in report.by_method.items())
    console.print(f"{report.records} records -> {report.kept} kept, {report.removed} removed ({counts}). Wrote {output}.")
    if report_path or json_out:
        console.print(f"Report: {report_path or json_out}")


@app.command()
def split(
    data: Path = typer.Argument(..., help="dataset file to split"),
    output: Path = output_dir_option(Path("splits"), "-o", "--output", help="directory for train.jsonl, validation.jsonl, test.jsonl",
                                     writes=("train.jsonl", "validation.jsonl", "test.jsonl")),
    validation: float = typer.Option(0.1, "--validation", help="fraction for validation"),
    test: float = typer.Option(0.1, "--test", help="fraction for test"),
    stratify: Optional[str] = typer.Option(None, "--stratify", help="keep the mix of this meta field (a label column) in every split"),
    seed: int = seed_option("the same seed gives the same split"),
    dedup: bool = typer.Option(True, "--dedup/--no-dedup", help="drop exact and near duplicates first"),
    fmt: Optional[str] = typer.Option(None, "--format", help="output format (default: the input's)"),
    field_map: list[str] = map_option(),
    json_out: Optional[Path] = json_option("write the summary as JSON"),
) -> None:
    """Leakage-safe split: near-duplicate groups never straddle train/validation/test."""
    from rich.console import Console
    from rich.table import Table

    from sftwise.io import write_json
    from sftwise.hygiene.split import split_dataset

    err = Console(stderr=True)
    with err.status(f"Splitting {data} ..") as status:
        result = split_dataset(data, validation=validation, test=test, seed=seed, dedup=dedup, stratify=stratify, output_dir=output,
                               format=fmt, field_map=parse_field_map(field_map), progress=lambda m: status.update(f"{data}: {m} .."))
    if json_out:
        write_json(json_out, result)
    console = Console(highlight=False)
    table = Table(title=f"Split of {data} (seed {seed})")
    table.add_column("split")
    table.add_column("records", justify="right")
    table.add_column("share", justify="right")
    table.add_column("leaked from train (exact / near)")
    if stratify:
        table.add_column(stratify)
    total = sum(result.counts.values()) or 1
    for s, n in result.counts.items():
        leak = result.leakage_after.get(s)
        row = [s, str(n), f"{n / total:.1%}", f"{leak['exact']} / {leak['near']}" if leak else "-"]
        if stratify:
            row.append(", ".join(f"{k}: {v}" for k, v in result.strata.get(s, {}).items()))
        table.add_row(*row)
    console.print(table)
    console.print(f"{result.duplicates_removed} duplicates removed first; {result.groups_kept_together} groups of duplicate inputs kept on one side (largest {result.largest_group}).")
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    console.print("Wrote " + ", ".join(result.files.values()))


@app.command()
def skew(
    train: Path = typer.Argument(..., help="tuning data (any supported format)"),
    production: Path = typer.Argument(..., help="production sample: prompts one per line, JSONL of prompts, or a dataset file"),
    seed: int = seed_option("seed for sampling, permutation thresholds and the classifier"),
    max_examples: int = typer.Option(5000, "--max-examples", min=10, help="examples per side (a seeded sample beyond this)"),
    permutations: int = typer.Option(20, "--permutations", min=0, help="shuffled-label runs for the classifier's threshold"),
    field_map: list[str] = map_option(MAP_HELP + " (tuning data)"),
    json_out: Optional[Path] = json_option("write the full report as JSON"),
) -> None:
    """Training-serving skew: does the tuning data look like production inputs?

    Each signal has a statistic, a threshold and a verdict; the summary says in words what differs.
    """
    from rich.console import Console
    from rich.table import Table

    from sftwise.io import write_json
    from sftwise.hygiene.skew import skew_files

    with Console(stderr=True).status(f"Comparing {train} with {production} .."):
        report = skew_files(train, production, field_map=parse_field_map(field_map), seed=seed, max_examples=max_examples, permutations=permutations)
    if json_out:
        write_json(json_out, report)
    console = Console(highlight=False)
    table = Table(title=f"Skew: {train} ({report.n_train}) vs {production} ({report.n_production}, {report.production_kind})")
    for col in ("signal", "statistic", "threshold", "verdict", "detail"):
        table.add_column(col, overflow="fold")
    style = {"skew": "bold yellow", "ok": "green", "n/a": "dim"}
    for s in report.signals:
        table.add_row(s.name, f"{s.statistic:.3f}", f"{s.threshold:.3f}", f"[{style[s.verdict]}]{s.verdict}[/]", s.detail)
    console.print(table)
    for s in report.signals:
        if s.verdict == "skew" and (s.production_examples or s.train_examples):
            console.print(f"[bold]{s.name}[/] most different examples:")
            for e in s.production_examples[:2]:
                console.print(f"  production: {e}")
            for e in s.train_examples[:2]:
                console.print(f"  tuning:     {e}")
    console.print(f"[bold]Verdict: {report.verdict}[/]")
    for line in report.summary:
        console.print(f"  - {line}")
