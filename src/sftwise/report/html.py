"""``sftwise report RUN_DIR``: one self-contained report.html a colleague can open in a browser.

It reads only the run directory (each stage's JSON and the training log), so it can be rebuilt at
any time, on any machine, after any step; sections whose stage has not run yet say so. Plots are
inline SVG and the style sheet is inline: the file opens without a network.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from sftwise.errors import SftwiseError

from sftwise.io import read_json, read_jsonl, write_text
from sftwise.report import plots

REPORT_FILE = "report.html"

_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #eee;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.sev-error{color:#b00020;font-weight:600}.sev-warning{color:#a65e00}.sev-info{color:#555}
.verdict{font-size:1.1em;padding:.6em 1em;border-radius:6px;background:#f3f7ff;border-left:5px solid #3366cc}
.verdict.overfitting,.verdict.data_issue,.verdict.under_trained{background:#fff7ec;border-color:#e69500}
.verdict.healthy{background:#effaf1;border-color:#2ca02c}
.plot{margin:.8em 0}.plot svg{max-width:100%;height:auto}
.muted{color:#666}.pair{display:grid;grid-template-columns:1fr 1fr;gap:.5em}
pre{white-space:pre-wrap;word-break:break-word;background:#fafafa;border:1px solid #eee;padding:.4em;margin:0;font-size:.85em}
pre.text{max-height:12em;overflow:auto}
.better{color:#1b7f2a}.worse{color:#b00020}
.tokens{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;white-space:pre-wrap;word-break:break-all;border:1px solid #eee;padding:.4em;line-height:1.7}
.tokens span{border-right:1px solid #fff;padding:0 1px}.tokens .t{background:#b7e4b0;color:#0b3d06}.tokens .t:nth-child(odd){background:#9ed69a}
.tokens .m{background:#f0f0f0;color:#999}.tokens .m:nth-child(odd){background:#e4e4e4}.tokens .cut{background:#b00020;color:#fff}
"""


RUN_MARKERS = ("config.json", "pipeline_state.json", "audit.json", "train/metrics.jsonl", "metrics.jsonl", "eval", "comparison.json")
"""What a run directory holds at least one of, once any step of `sftwise run` or `sftwise train` ran."""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


_load = read_json  # the run's JSON files: None when absent, a clear error when damaged


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _e(value)


def _text_cell(text: Any) -> _Raw:
    """A model's text as written, in a box that scrolls past 12 lines; a text of only whitespace
    (an untrained model's newlines) is named instead of drawn as a tall empty box."""
    if isinstance(text, str) and text and not text.strip():
        return _Raw(f"<pre class='muted'>(only whitespace: {len(text)} characters)</pre>")
    if text is None or text == "":
        return _Raw("<pre class='muted'>(empty)</pre>")
    return _Raw(f"<pre class='text'>{_e(text)}</pre>")


def _p_value(value: Any) -> Any:
    """Three decimals, but never "0.000": a p-value is small, not zero."""
    return "< 0.001" if isinstance(value, float) and value < 0.001 else value


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td class='num'>{_fmt(c)}</td>" if i in numeric else f"<td>{c if isinstance(c, _Raw) else _fmt(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _plot(svg: str | None, caption: str) -> str:
    if not svg:
        return f"<p class='muted'>No data to plot for {_e(caption)}.</p>"
    return f"<figure class='plot' data-plot='{_e(caption)}'>{svg}<figcaption class='muted'>{_e(caption)}</figcaption></figure>"


# ---- sections ----------------------------------------------------------------------------------


def _section_audit(run_dir: Path, config: dict[str, Any]) -> str:
    audit = _load(run_dir / "audit.json")
    if audit is None:
        return "<h2>Data audit</h2><p class='muted'>The audit step has not run.</p>"
    findings = audit.get("findings", [])
    counts = {s: sum(1 for f in findings if f.get("severity") == s) for s in ("error", "warning", "info")}
    parts = [f"<h2>Data audit</h2><p>{counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes.</p>"]
    rows = []
    for f in findings[:200]:
        loc = f.get("file") or ""
        if f.get("line"):
            loc = f"{Path(loc).name}:{f['line']}"
        sev = f.get("severity", "")
        rows.append([_Raw(f"<span class='sev-{_e(sev)}'>{_e(sev)}</span>"), f.get("code"), loc, f"{f.get('message', '')} {f.get('hint', '')}".strip()])
    if rows:
        parts.append(_table(["severity", "code", "where", "finding"], rows))
        if len(findings) > 200:
            parts.append(f"<p class='muted'>… and {len(findings) - 200} more in audit.json.</p>")
    stats = audit.get("stats") or {}
    stat_rows = []
    for split, s in stats.items():
        if not isinstance(s, dict):
            continue
        stat_rows.append([split, s.get("example_count"), s.get("total_characters"), *(_dist(s, k) for k in ("input_tokens", "output_tokens"))])
    if stat_rows:
        parts.append(_table(["split", "examples", "characters", "input tokens (min / p50 / p90 / p99 / max)", "output tokens (min / p50 / p90 / p99 / max)"], stat_rows, numeric={1, 2}))
    parts.append(_length_histograms(run_dir, config, audit))
    parts.append(_supervision(run_dir))
    return "".join(parts)


def _supervision(run_dir: Path, examples: int = 3) -> str:
    """What training is given (supervision.json of the audit step): totals and a few examples token by
    token, trained tokens highlighted and masked ones dimmed, as ``sftwise inspect --show`` renders them."""
    report = _load(run_dir / "supervision.json")
    if not isinstance(report, dict):
        return ""
    share = report.get("loss_share")
    parts = ["<h3>Which tokens carry loss</h3>",
             f"<p>{_fmt(100 * share if isinstance(share, (int, float)) else None, 1)} % of {_e(report.get('tokens'))} tokens carry loss over "
             f"{_e(report.get('examples'))} examples (max_length {_e(report.get('max_length'))}, chat template of {_e(report.get('model'))}). "
             f"Problems: {_e(', '.join(f'{k} {v}' for k, v in (report.get('counts') or {}).items()) or 'none')}.</p>"]
    for view in (report.get("shown") or [])[:examples]:
        spans = []
        cut = view.get("cut")
        for k, (piece, trained) in enumerate(zip(view.get("tokens", []), view.get("trained", []))):
            if cut is not None and k == cut:
                spans.append(f"<span class='cut'>✂ max_length {_e(cut)}</span>")
            spans.append(f"<span class='{'t' if trained else 'm'}'>{_e(piece)}</span>")
        problems = f" ({_e(', '.join(view.get('problems') or []))})" if view.get("problems") else ""
        parts.append(f"<p class='muted'>line {_e(view.get('line'))}{problems}: <span class='tokens'><span class='t'>trained</span> <span class='m'>masked</span></span></p>"
                     f"<div class='tokens'>{''.join(spans)}</div>")
    return "".join(parts)


def _dist(stats: dict[str, Any], key: str) -> str:
    d = stats.get(key) or {}
    if not isinstance(d, dict):
        return ""
    return " / ".join(_fmt(d.get(k), 0) for k in ("min", "p50", "p90", "p99", "max"))


def _length_histograms(run_dir: Path, config: dict[str, Any], audit: dict[str, Any]) -> str:
    """Input and output lengths (estimated tokens) of each split, from the data files themselves."""
    try:
        from sftwise.formats import read
        from sftwise.tokens import estimate_tokens
    except ImportError:
        return ""
    data = config.get("data", {})
    split_dir = run_dir / "data"
    inputs: dict[str, list[float]] = {}
    outputs: dict[str, list[float]] = {}
    for split in ("train", "validation", "test"):
        path = split_dir / f"{split}.jsonl" if (split_dir / f"{split}.jsonl").exists() else data.get(split)
        if not path or not Path(path).exists():
            continue
        dataset = read(path).dataset
        inputs[split] = [estimate_tokens(c.input_text()) for c in dataset.conversations]
        outputs[split] = [estimate_tokens(c.output_text()) for c in dataset.conversations]
    limit = audit.get("max_tokens")
    return (
        "<div class='pair'>"
        + _plot(plots.histogram_svg({k: v for k, v in inputs.items() if k != "validation"} | ({"validation": inputs["validation"]} if "validation" in inputs else {}), "input length", "tokens (estimated)", limit), "input length per split")
        + _plot(plots.histogram_svg(outputs, "output length", "tokens (estimated)"), "output length per split")
        + "</div>"
    )


def _section_recommendation(run_dir: Path) -> str:
    rec = _load(run_dir / "recommendation.json")
    if rec is None:
        return "<h2>Hyperparameters</h2><p class='muted'>The recommend step has not run.</p>"
    config = _load(run_dir / "train" / "config.json") or _load(run_dir / "train" / "train_spec.json") or {}
    full = config.get("method") == "full"  # LoRA settings mean nothing to a full fine-tune: say so, do not list them as used
    rows = [[k, rec.get(k), "n/a (full fine-tuning)" if full and k.startswith("lora_") else config.get(k, "")]
            for k in ("method", "epochs", "learning_rate", "lr_multiplier", "adapter_size", "lora_rank", "lora_alpha") if k in rec or k in config]
    reasons = rec.get("reasons") or rec.get("explanations") or []
    items = "".join(f"<li>{_e(r if isinstance(r, str) else r.get('text', r))}</li>" for r in reasons)
    return ("<h2>Hyperparameters and why</h2>" + _table(["setting", "recommended", "used"], rows) + (f"<ul>{items}</ul>" if items else "")
            + _cost_line(rec))


def _cost_line(rec: dict[str, Any]) -> str:
    """The recommendation's tuning cost estimate (Gemini models), as the recommend step computed it."""
    from sftwise.gemini.cost import CostEstimate

    if not isinstance(rec.get("cost"), dict):
        return ""
    try:
        line = CostEstimate.model_validate(rec["cost"]).line()
    except ValueError:  # a recommendation.json from another version: leave the estimate out, not the report
        return ""
    return f"<p><b>Estimated tuning cost:</b> {_e(line)}</p>"


def _vertex_job(run_dir: Path) -> str:
    """The Vertex AI tuning job behind the curves: name, state, console link, tuned endpoint, checkpoints."""
    job = _load(run_dir / "train" / "vertex_job.json")
    if not isinstance(job, dict) or not job.get("name"):
        return ""
    rows = [["job", job["name"]], ["state", job.get("state")], ["console", job.get("console_url")],
            ["tuned model endpoint", job.get("endpoint") or "-"]]
    rows += [[f"checkpoint {c.get('checkpoint_id')} (epoch {c.get('epoch')})", c.get("endpoint") or "-"] for c in job.get("checkpoints") or []]
    if job.get("error"):
        rows.append(["error", job["error"]])
    return "<h3>Vertex AI tuning job</h3>" + _table(["", ""], rows)


def _section_training(run_dir: Path) -> str:
    from sftwise.runlog import METRICS_FILE, read_metrics

    diagnosis = _load(run_dir / "diagnosis.json") or {}
    metrics_path = run_dir / "train" / METRICS_FILE
    if not metrics_path.exists():
        return "<h2>Training</h2><p class='muted'>The train step has not run.</p>"
    points = read_metrics(metrics_path)
    verdict = diagnosis.get("verdict")
    best = diagnosis.get("best_epoch")
    parts = ["<h2>Training curves and diagnosis</h2>", _vertex_job(run_dir)]
    if verdict:
        advice = diagnosis.get("advice") or diagnosis.get("recommendations") or []
        advice_html = "".join(f"<li>{_e(a)}</li>" for a in advice) if isinstance(advice, list) else f"<li>{_e(advice)}</li>"
        confidence = diagnosis.get("confidence")
        parts.append(
            f"<div class='verdict {_e(verdict)}'><b>{_e(str(verdict).replace('_', ' '))}</b>"
            + (f" (confidence {confidence:.0%})" if isinstance(confidence, float) else "")
            + f": {_e(diagnosis.get('message', ''))}<ul>{advice_html}</ul></div>"
        )
    parts.append("<div class='pair'>")
    parts.append(_plot(plots.curves_svg(points, "loss", "total loss", best, verdict), "loss per epoch"))
    parts.append(_plot(plots.curves_svg(points, "token_accuracy", "next-token accuracy", best, verdict), "token accuracy per epoch"))
    task_plot = plots.task_metrics_svg(points, best)
    if task_plot:
        parts.append(_plot(task_plot, "task metrics per evaluation"))
    parts.append("</div>")
    parts.append(_selection_html(diagnosis.get("selection")))
    parts.append(_label_noise_html(diagnosis.get("label_noise")))
    epochs = [p for p in points if p.scope == "epoch"]
    task_names = list(dict.fromkeys(m for p in epochs if p.split == "validation" for m in (p.metrics or {})))
    rows = []
    for epoch in sorted({p.epoch for p in epochs}):
        tr = next((p for p in epochs if p.epoch == epoch and p.split == "train"), None)
        va = next((p for p in epochs if p.epoch == epoch and p.split == "validation"), None)
        rows.append([f"{epoch:g}", tr and tr.loss, va and va.loss, tr and tr.token_accuracy, va and va.token_accuracy]
                    + [(va.metrics or {}).get(m) if va else None for m in task_names])
    if rows:
        parts.append(_table(["epoch", "train loss", "validation loss", "train token acc.", "validation token acc."] + [f"validation {m}" for m in task_names],
                            rows, numeric=set(range(1, 5 + len(task_names)))))
    return "".join(parts)


def _selection_html(selection: dict | None) -> str:
    """Which checkpoint the run kept, by what, and why (the run's selection.json, via the diagnosis)."""
    if not selection:
        return ""
    items = [f"<li>{_e(n)}</li>" for n in selection.get("notes", [])]
    stop = selection.get("early_stopping") or {}
    if stop.get("stopped"):
        items.append(f"<li>early stopping: {_e(stop.get('reason', ''))}</li>")
    for tie in selection.get("compared", []):
        items.append(f"<li>{_e(tie['checkpoint'])}: best minus it = {tie['delta_to_best']:+.3g} (95% CI [{tie['ci_low']:+.3g}, {tie['ci_high']:+.3g}])"
                     f"{' — within noise' if tie['within_noise'] else ''}</li>")
    return (f"<h3>Checkpoint kept</h3><p><b>{_e(selection.get('checkpoint'))}</b>, by {_e(selection.get('select_by'))}: "
            f"{_e(selection.get('reason', ''))}</p>" + (f"<ul>{''.join(items)}</ul>" if items else ""))


def _label_noise_html(noise: dict | None) -> str:
    """Training examples whose loss under the kept checkpoint is far above the rest, with file:line."""
    if not noise:
        return ""
    head = (f"<h3>Per-example training loss</h3><p>Under {_e(noise.get('checkpoint'))}: median {noise['median']:.3g}, MAD {noise['mad']:.3g}; "
            f"{noise['suspects_total']} example(s) above robust z {noise['threshold']:g} (suspected label noise or hard examples).</p>")
    rows = [[s["source"], s["loss"], s["z"], s["tokens"]] for s in noise.get("suspects", [])]
    return head + (_table(["example (file:line)", "loss", "robust z", "tokens"], rows, numeric={1, 2, 3}) if rows else "")


def _eval_dirs(run_dir: Path) -> list[Path]:
    base = run_dir / "eval"
    if not base.exists():
        return []
    return sorted((d for d in base.iterdir() if (d / "summary.json").exists()), key=lambda d: (d.name != "tuned", d.name))[::-1]


def _section_evaluation(run_dir: Path) -> str:
    dirs = _eval_dirs(run_dir)
    if not dirs:
        return "<h2>Baseline vs tuned</h2><p class='muted'>No evaluation has run yet.</p>"
    rows, bars = [], {}
    for d in dirs:
        summary = _load(d / "summary.json") or {}
        label = "tuned" if d.name == "tuned" else "baseline " + d.name.removeprefix("baseline-")
        bars[label] = {}
        for name, m in (summary.get("metrics") or {}).items():
            rows.append([label, name, m.get("value"), _ci(m), m.get("n")])
            bars[label][name] = (m.get("value", 0.0), m.get("ci_low"), m.get("ci_high"))
    parts = ["<h2>Baseline vs tuned</h2>", _plot(plots.metric_bars_svg(bars, "task metrics"), "metrics with 95 % confidence intervals"), _table(["model", "metric", "score", "95 % CI", "n"], rows, numeric={2, 4})]
    parts.append(_section_comparison(run_dir))
    parts.append(_section_examples(run_dir, dirs))
    return "".join(parts)


def _ci(m: dict[str, Any]) -> str:
    if m.get("ci_low") is None:
        return ""
    return f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}]"


def _first_comparison(run_dir: Path) -> dict[str, Any] | None:
    comparison = _load(run_dir / "comparison.json") or {}
    comparisons = comparison.get("comparisons") or []
    return comparisons[0] if comparisons else None


def _section_comparison(run_dir: Path) -> str:
    pair = _first_comparison(run_dir)
    if not pair:
        return ""
    rows = []
    for item in pair.get("metrics", []):
        rows.append([item.get("metric"), item.get("value_a"), item.get("value_b"), item.get("delta"), _ci(item), _p_value(item.get("p_value")), item.get("test", ""), f"{item.get('wins', '')} / {item.get('ties', '')} / {item.get('losses', '')}"])
    if not rows:
        return ""
    return (
        f"<h3>Tuned minus baseline</h3><p class='muted'>{_e(pair.get('n_common'))} examples in common; wins are examples where the tuned model scores higher.</p>"
        + _table(["metric", "baseline", "tuned", "delta", "95 % CI (paired bootstrap)", "p-value", "test", "win / tie / loss"], rows, numeric={1, 2, 3, 5})
    )


def _section_examples(run_dir: Path, dirs: list[Path]) -> str:
    """The examples that improved and regressed most between the baseline and the tuned model."""
    pair = _first_comparison(run_dir)
    if not pair:
        return ""

    def block(title: str, items: list[dict[str, Any]], css: str) -> str:
        if not items:
            return f"<h3>{title}</h3><p class='muted'>None.</p>"
        rows = []
        for item in items:
            rows.append([
                _text_cell(item.get("prompt")),
                _text_cell(item.get("reference")),
                _text_cell(item.get("prediction_a")),
                _text_cell(item.get("prediction_b")),
                _Raw(f"<span class='{css}'>{item.get('delta', 0):+.3f}</span> {_e(item.get('metric'))}"),
            ])
        return f"<h3>{title}</h3>" + _table(["prompt", "reference", "baseline", "tuned", "change"], rows)

    return block("Most improved examples", pair.get("improved", []), "better") + block("Most regressed examples", pair.get("regressed", []), "worse")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return read_jsonl(path)


def _section_next(run_dir: Path) -> str:
    items: list[str] = []
    audit = _load(run_dir / "audit.json") or {}
    errors = [f for f in audit.get("findings", []) if f.get("severity") == "error"]
    if errors:
        items.append(f"Fix the {len(errors)} error-level data findings first (see the audit section); they can make tuning learn the wrong thing.")
    diagnosis = _load(run_dir / "diagnosis.json") or {}
    for advice in diagnosis.get("advice") or diagnosis.get("recommendations") or []:
        items.append(str(advice))
    pair = _first_comparison(run_dir) or {}
    for item in pair.get("metrics", []):
        if item.get("ci_low") is not None and item["ci_low"] <= 0 <= item.get("ci_high", 0):
            items.append(f"The change in {item.get('metric')} is within noise (its 95 % CI includes 0): add eval examples or training data before concluding.")
    if not items:
        items.append("Check a sample of tuned outputs by hand, then evaluate on fresh production-like data before deploying.")
    return "<h2>What to do next</h2><ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"


def _model_line(run_dir: Path, config: dict) -> str:
    """Which model ran and how big it is, from the pipeline's ``model.json`` (else the config's name)."""
    info = _load(run_dir / "model.json") or {}
    line = info.get("description") or _base_model(config) or "?"
    if info.get("parameters"):
        line += f" · {info['parameters'] / 1e6:,.1f} M parameters"
    return line


def _base_model(config: dict) -> str | None:
    """The base model of a run: ``model.base`` in a pipeline's config, ``model`` in a ``sftwise train`` run's."""
    model = config.get("model")
    return model.get("base") if isinstance(model, dict) else model if isinstance(model, str) else None


def build_report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write report.html for a run directory and return its path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SftwiseError(f"{run_dir} is not a directory: give the run directory of `sftwise run` or `sftwise train`")
    if not any((run_dir / name).exists() for name in RUN_MARKERS):
        raise SftwiseError(f"{run_dir} is not a run directory: it holds none of {', '.join(RUN_MARKERS)}; "
                           "give the run directory of `sftwise run` or `sftwise train`.")
    config = _load(run_dir / "config.json") or {}
    from sftwise import __version__

    tiny_note = ""
    if _base_model(config) == "tiny":
        tiny_note = "<p class='verdict'>This run used a tiny model built locally with random weights for the demo: its numbers show the workflow, not what a real model reaches.</p>"
    body = [
        f"<h1>sftwise report: {_e(config.get('name', run_dir.name))}</h1>",
        f"<p class='muted'>Run directory {_e(run_dir.resolve())} · model {_e(_model_line(run_dir, config))} · sftwise {__version__}</p>",
        tiny_note,
        _section_audit(run_dir, config),
        _section_recommendation(run_dir),
        _section_training(run_dir),
        _section_evaluation(run_dir),
        _section_next(run_dir),
    ]
    page = f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>sftwise report</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>"
    path = Path(output) if output else run_dir / REPORT_FILE
    write_text(path, page)
    return path
