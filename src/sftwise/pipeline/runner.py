"""``sftwise run``: the whole workflow, step by step, resumable from its run directory.

audit → split (optional) → baseline → recommend → train → diagnose → eval → compare → report

Every step is a plain function that reads the run directory and the config and writes its outputs
into the run directory; the runner only decides which steps to (re)run, records their state, and
prints one line per finished step. A step that fails leaves the state file saying which step failed
and why; the outputs of the steps before it stay valid, so the next run starts at the failed step.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftwise.errors import ParameterError, SftwiseError
from sftwise.gguf_cache import is_gguf_reference
from sftwise.io import input_digest, read_json, require_dir_or_absent, write_json
from sftwise.models import TINY_NAME
from sftwise.pipeline import vertex_steps
from sftwise.pipeline.config import PipelineConfig
from sftwise.pipeline.state import PipelineState, StepState, fingerprint, load_state, now, save_state

EVAL_DIR = "eval"
TRAIN_DIR = "train"


@dataclass
class RunContext:
    config: PipelineConfig
    run_dir: Path
    force: bool = False
    new_job: bool = False  # vertex: create a new (paid) tuning job even when the run directory records one
    echo: Callable[[str], None] = print
    step_key: str = ""  # the fingerprint of the step being run

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    def split_paths(self) -> dict[str, str | None]:
        """The train/validation/test files the later steps use: the split's outputs when it ran."""
        if self.config.split.enabled:
            return {name: str(self.data_dir / f"{name}.jsonl") for name in ("train", "validation", "test")}
        data = self.config.data
        return {"train": data.train, "validation": data.validation, "test": data.test}

    def eval_path(self) -> str:
        paths = self.split_paths()
        path = paths["test"] or paths["validation"]
        if not path:
            raise SftwiseError("no eval set: give data.test (or data.validation) in the config, or enable split")
        return path

    def base_model(self) -> str:
        """The model directory or id to load; 'tiny' is built once inside the run directory."""
        base = self.config.model.base
        if base == "tiny":
            return str(self.run_dir / "tiny-model")
        return base


@dataclass
class Step:
    name: str
    depends: tuple[str, ...]
    inputs: Callable[[RunContext], Any]  # what the fingerprint covers besides upstream steps
    run: Callable[[RunContext], tuple[list[str], str]]  # -> (outputs relative to run_dir, one-line summary)
    enabled: Callable[[RunContext], bool] = lambda ctx: True
    section: str = ""  # the config section of the step's parameters: a ParameterError names section.parameter
    keys: dict[str, str] = field(default_factory=dict)  # parameter -> config key where it is not section.parameter


SHARED_KEYS: dict[str, str] = {
    "seed": "seed",
    "model": "model.base",
    "max_length": "model.max_length",
    "few_shot": "baseline.few_shot",
    "max_new_tokens": "eval.max_new_tokens",
    "metrics": "eval.metrics",
    "max_examples": "eval.max_examples",
}
"""Library parameters set from one config key whichever step passes them."""

DATA_KEYS = {"train": "data.train", "validation": "data.validation", "test": "data.test", "data": "data.train"}


def config_key(step: Step, parameter: str) -> str:
    """The YAML key that sets library ``parameter`` in ``step``: how a :class:`ParameterError` is restated."""
    return step.keys.get(parameter) or SHARED_KEYS.get(parameter) or f"{step.section or step.name}.{parameter}"


# ---- the steps ---------------------------------------------------------------------------------


def _step_audit(ctx: RunContext) -> tuple[list[str], str]:
    from sftwise.audit import audit
    from sftwise.findings import Severity

    data = ctx.config.data
    model, max_tokens = _audit_model_and_limit(ctx)
    report = audit(data.train, validation=data.validation, test=data.test, model=model, max_tokens=max_tokens)
    written = ["audit.json"]
    if model and ctx.config.backend != "vertex" and not model.startswith("gemini"):  # the trainer's masking under the model's template
        from sftwise.train.supervision import add_to_audit

        supervision = add_to_audit(report, data.train, model, max_length=ctx.config.model.max_length,
                                   chat_template=getattr(ctx.config.train, "chat_template", None))
        if supervision is not None:
            write_json(ctx.run_dir / "supervision.json", supervision)
            written.append("supervision.json")
    write_json(ctx.run_dir / "audit.json", report)
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    warnings = [f for f in report.findings if f.severity is Severity.WARNING]
    summary = f"{len(errors)} errors, {len(warnings)} warnings"
    if errors and not (ctx.config.audit.force or ctx.force):
        first = "\n  ".join(str(f) for f in errors[:5])
        raise SftwiseError(
            f"the audit found {len(errors)} error-level findings (see {ctx.run_dir / 'audit.json'}):\n  {first}\n"
            "Fix the data, or set audit.force: true to tune anyway."
        )
    return written, summary


def _audit_model_and_limit(ctx: RunContext) -> tuple[str | None, int | None]:
    """The tokenizer to count with and the per-example limit to check against.

    An open base model's own tokenizer counts the tokens (not the bytes / 4 estimate), and its
    training length ``model.max_length`` is the limit, so an example that training would refuse
    (``train.overlong: error``) is an audit finding before anything is loaded for training. The
    tiny model does not exist yet when the audit runs, and a Gemini model's limit is the service's.
    """
    base = ctx.config.model.base
    if base == TINY_NAME or ctx.config.backend == "vertex" or base.startswith("gemini"):
        return (None if base == TINY_NAME else base), ctx.config.audit.max_tokens
    limit = ctx.config.audit.max_tokens
    if limit is None and ctx.config.train.overlong == "error":
        limit = ctx.config.model.max_length
    return base, limit


def _step_split(ctx: RunContext) -> tuple[list[str], str]:
    from sftwise.hygiene.split import split_dataset

    cfg = ctx.config.split
    result = split_dataset(
        ctx.config.data.train,
        validation=cfg.validation,
        test=cfg.test,
        seed=ctx.config.seed,
        dedup=cfg.dedup,
        output_dir=ctx.data_dir,
    )
    write_json(ctx.run_dir / "split.json", result)
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    return ["split.json", "data/train.jsonl", "data/validation.jsonl", "data/test.jsonl"], counts


MODEL_INFO_FILE = "model.json"


def _prepare_base(ctx: RunContext) -> None:
    """The base model's files in place (the tiny model built, a GGUF converted) and described in
    ``model.json`` (which model, how many parameters) for the report."""
    from sftwise.models import model_info

    _ensure_tiny(ctx)
    write_json(ctx.run_dir / MODEL_INFO_FILE, model_info(ctx.base_model()).model_dump(mode="json") | {"config_name": ctx.config.model.base})


def _ensure_tiny(ctx: RunContext) -> None:
    if ctx.config.model.base != "tiny":
        return
    target = Path(ctx.base_model())
    if (target / "config.json").exists():
        return
    from sftwise.formats import load
    from sftwise.demo.tiny import build_tiny_model

    texts: list[str] = []
    for path in ctx.split_paths().values():
        if path:
            for conversation in load(path).conversations:
                texts.append(conversation.full_text())
    build_tiny_model(target, texts, seed=ctx.config.seed, hidden_size=128, num_layers=2)


def _eval_one(ctx: RunContext, model: str, out_dir: Path, few_shot: int = 0) -> Any:
    """Evaluate one model on the eval set into ``out_dir``.

    The response cache lives beside the step's outputs and is named by the step's fingerprint: an
    interrupted eval resumes from it, and a retrained checkpoint at the same path (a new
    fingerprint) can never be answered from a stale cache.
    """
    from sftwise.backends.base import GenerationParams
    from sftwise.evaluate.runner import evaluate

    cfg = ctx.config.eval
    data: Any = ctx.eval_path()
    if cfg.max_examples:
        from sftwise.conversation import Dataset
        from sftwise.formats import load

        full = load(data)
        data = Dataset(records=full.records[: cfg.max_examples], path=full.path, format=full.format)
    from sftwise.progress import generation_progress

    cache = ctx.run_dir / "cache" / f"{out_dir.name}-{ctx.step_key}.sqlite"
    failed_before = _failed_last_time(out_dir, cache)
    if failed_before:
        ctx.echo(f"  {out_dir.name}: {failed_before} failed: retrying (the successful ones come from the cache)")
    with generation_progress(f"{out_dir.name}: generating") as (on_start, on_progress):
        return evaluate(
            output=out_dir,
            model=model,
            data=data,
            metrics=cfg.metrics,
            few_shot=few_shot,
            shots_from=ctx.split_paths()["train"] if few_shot else None,
            seed=ctx.config.seed,
            params=GenerationParams(max_new_tokens=cfg.max_new_tokens),
            cache=cache,
            on_start=on_start,
            on_progress=on_progress,
        )


def _failed_last_time(out_dir: Path, cache: Path) -> int:
    """How many generations of this very evaluation (same fingerprint: its cache exists) failed last time."""
    from sftwise.evaluate.results import SUMMARY_FILE

    if not cache.exists() or not (out_dir / SUMMARY_FILE).is_file():
        return 0
    try:
        return int((read_json(out_dir / SUMMARY_FILE) or {}).get("n_errors") or 0)
    except (OSError, ValueError, TypeError, SftwiseError):
        return 0


def _refuse_failures(evaluated: list[tuple[str, Any]]) -> None:
    """A step whose generations failed is not done: failed generations are not results.

    Its results directories stay (each error is in predictions.jsonl) and its response cache keeps
    every success, so the re-run the message asks for sends exactly the failed requests again.
    """
    failed = [(rel, summary) for rel, summary in evaluated if summary.n_errors]
    if not failed:
        return
    lines = "\n  ".join(f"{rel}: {summary.failure_note()}" for rel, summary in failed)
    total = sum(summary.n_errors for _, summary in failed)
    raise SftwiseError(
        f"{total} generation(s) failed, so the step is not done:\n  {lines}\n"
        "Fix the cause (the server, the API key, the model name); on the next run the successful "
        "generations are kept and only the failed ones are retried."
    )


def _model_label(model: str) -> str:
    return Path(model).name or model.replace("/", "_")


def _baseline_dir(model: str, shots: int) -> str:
    """Where the baseline of ``model`` at ``shots`` shots goes, relative to the run directory."""
    return f"{EVAL_DIR}/baseline-{_model_label(model)}-{shots}shot"


def _step_baseline(ctx: RunContext) -> tuple[list[str], str]:
    _prepare_base(ctx)
    outputs, parts, evaluated = [], [], []
    models = [ctx.base_model(), *ctx.config.model.candidates]
    for model in models:
        for shots in ctx.config.baseline.few_shot:
            rel = _baseline_dir(model, shots)
            summary = _eval_one(ctx, _generator_spec(ctx, model), ctx.run_dir / rel, few_shot=shots)
            outputs.append(rel)
            evaluated.append((rel, summary))
            parts.append(f"{_model_label(model)} {shots}-shot {_headline(summary)}")
    _refuse_failures(evaluated)
    return outputs, "; ".join(parts)


def _generator_spec(ctx: RunContext, model: str) -> str:
    if ctx.config.backend == "vertex" or model.startswith("gemini"):
        return vertex_steps.gemini_spec(ctx, model)
    if ":" in model and not os.path.exists(model) and not is_gguf_reference(model):
        return model  # already a spec such as openai:NAME@URL
    return f"hf:{model}"


def _headline(summary: Any) -> str:
    metrics = getattr(summary, "metrics", {}) or {}
    if not metrics:
        return ""
    name, value = next(iter(metrics.items()))
    return f"{name}={value.value:.3f}"


def _step_recommend(ctx: RunContext) -> tuple[list[str], str]:
    from sftwise.recommend import recommend

    rec = recommend(model=ctx.config.model.base, data=ctx.split_paths()["train"], modality="text", method=ctx.config.train.method)
    write_json(ctx.run_dir / "recommendation.json", rec)
    if rec.too_small and not (ctx.force or ctx.config.audit.force):
        raise SftwiseError(f"{rec.headline()}: {' '.join(rec.warnings or rec.reasons)} Add data, or set audit.force: true to tune anyway.")
    return ["recommendation.json"], rec.headline()


def _step_train(ctx: RunContext) -> tuple[list[str], str]:
    _prepare_base(ctx)
    from sftwise.train.spec import TrainSpec

    rec = read_json(ctx.run_dir / "recommendation.json")
    paths = ctx.split_paths()
    fields: dict[str, Any] = {
        "model": ctx.base_model(),
        "train": paths["train"],
        "validation": paths["validation"],
        "run_dir": str(ctx.run_dir / TRAIN_DIR),
        "seed": ctx.config.seed,
        "max_length": ctx.config.model.max_length,
        **(vertex_steps.recommended_vertex_fields(rec) if vertex_steps.is_vertex(ctx) else _recommended_fields(rec)),
        **{k: v for k, v in ctx.config.train.model_dump(exclude={"enabled"}).items() if v is not None},
    }
    spec = TrainSpec.build(fields)
    note = ""
    if vertex_steps.is_vertex(ctx):
        result = vertex_steps.train_on_vertex(ctx, spec, rec)  # bucket, project, location: from the spec
    else:
        from sftwise.evaluate.training import training_evaluator
        from sftwise.train.local import OverlongExamples, train

        note = _reconcile_training(ctx, spec)
        try:
            result = train(spec, resume=True, progress=True, evaluator=training_evaluator(spec))
        except OverlongExamples as exc:  # its choices name two keys (overlong, max_length): restated here, not as one parameter
            raise SftwiseError(f"{exc.problem} Set train.overlong: truncate (cut them) or drop (leave them out) in the config, "
                               "or a larger model.max_length.") from None
    return [TRAIN_DIR], f"{result.summary}{note}"


def _reconcile_training(ctx: RunContext, spec: Any) -> str:
    """Make ``train/`` hold this spec's training or a resumable part of it, never another one's.

    The same training (a re-run after a kill) resumes; only more epochs continues from the last
    checkpoint and says so; any other change (a learning rate, fewer epochs, edited data) discards
    the old training and retrains: its weights, config and log would otherwise be reported as this
    config's. Returns a note for the step's summary line.
    """
    import shutil

    from sftwise.train.fingerprint import compare_run

    train_dir = ctx.run_dir / TRAIN_DIR
    verdict = compare_run(spec, train_dir)
    if verdict.action == "retrain":
        ctx.echo(f"  train config changed ({verdict.describe()}): retraining")
        stale = ctx.run_dir / f".{TRAIN_DIR}.stale"
        shutil.rmtree(stale, ignore_errors=True)
        os.replace(train_dir, stale)  # one rename: a kill now leaves no half-deleted training behind as train/
        shutil.rmtree(stale, ignore_errors=True)
        return f" (retrained: {verdict.describe()})"
    if verdict.action == "extend":
        ctx.echo(f"  train: {verdict.describe()} with every other setting unchanged: continuing from the last checkpoint")
        return f" (continued: {verdict.describe()})"
    return ""


def _recommended_fields(rec: dict[str, Any]) -> dict[str, Any]:
    """The open-model translation of the recommendation, as TrainSpec fields."""
    out = {}
    for key in ("epochs", "learning_rate", "lora_rank", "lora_alpha"):
        if rec.get(key) is not None:
            out[key] = rec[key]
    return out


def _step_diagnose(ctx: RunContext) -> tuple[list[str], str]:
    from sftwise.diagnose import diagnose_run

    diagnosis = diagnose_run(ctx.run_dir / TRAIN_DIR, plot=ctx.run_dir / "curves.png")
    write_json(ctx.run_dir / "diagnosis.json", diagnosis)
    return ["diagnosis.json", "curves.png"], diagnosis.headline()


def _chosen_checkpoint(ctx: RunContext) -> str | None:
    diagnosis = read_json(ctx.run_dir / "diagnosis.json")
    checkpoint = diagnosis.get("best_checkpoint")
    if checkpoint and not Path(checkpoint).is_absolute():
        checkpoint = str(ctx.run_dir / TRAIN_DIR / checkpoint)
    return checkpoint


def _step_eval(ctx: RunContext) -> tuple[list[str], str]:
    if vertex_steps.is_vertex(ctx):
        return _eval_endpoints(ctx)
    checkpoint = _chosen_checkpoint(ctx)
    if checkpoint is None:
        raise SftwiseError(f"the diagnosis names no checkpoint to evaluate; see {ctx.run_dir / 'diagnosis.json'}")
    summary = _eval_one(ctx, _generator_spec(ctx, checkpoint), ctx.run_dir / EVAL_DIR / "tuned")
    _refuse_failures([(f"{EVAL_DIR}/tuned", summary)])
    return [f"{EVAL_DIR}/tuned"], f"{Path(checkpoint).name} {_headline(summary)}"


def _eval_endpoints(ctx: RunContext) -> tuple[list[str], str]:
    """The Vertex eval: the tuned endpoint and the chosen checkpoint's, each into its own results dir."""
    evaluated, parts = [], []
    for rel, model in vertex_steps.eval_targets(ctx, ctx.run_dir / TRAIN_DIR):
        summary = _eval_one(ctx, model, ctx.run_dir / rel)
        evaluated.append((rel, summary))
        parts.append(f"{Path(rel).name} {_headline(summary)}")
    _refuse_failures(evaluated)
    return [rel for rel, _ in evaluated], "; ".join(parts)


def _step_compare(ctx: RunContext) -> tuple[list[str], str]:
    from sftwise.evaluate.compare import compare

    tuned = vertex_steps.eval_dirs(ctx, ctx.run_dir / TRAIN_DIR) if vertex_steps.is_vertex(ctx) else [ctx.run_dir / EVAL_DIR / "tuned"]
    report = compare([_best_baseline(ctx), *tuned], seed=ctx.config.seed)
    write_json(ctx.run_dir / "comparison.json", report)
    return ["comparison.json"], _comparison_headline(report)


def _best_baseline(ctx: RunContext) -> Path:
    """The base model's best baseline (by the first eval metric; fewer shots on a tie): tuning has to
    beat the best the untuned model does with prompting alone, not its weakest setting."""
    from sftwise.evaluate.results import read_results

    metric = ctx.config.eval.metrics[0]
    best: tuple[float, Path] | None = None
    for shots in sorted(ctx.config.baseline.few_shot):
        path = ctx.run_dir / _baseline_dir(ctx.base_model(), shots)
        summary = read_results(path).require_summary()
        score = summary.metrics[metric].value if metric in summary.metrics else float("-inf")
        if best is None or score > best[0]:
            best = (score, path)
    if best is None:
        raise SftwiseError("baseline.few_shot is empty: nothing to compare the tuned model with; list at least one shot count")
    return best[1]


def _comparison_headline(report: Any) -> str:
    if not report.comparisons or not report.comparisons[0].metrics:
        return "compared"
    d = report.comparisons[0].metrics[0]
    ci = f" [{d.ci_low:+.3f}, {d.ci_high:+.3f}]" if d.ci_low is not None else ""
    p = f", p={d.p_value:.3g}" if d.p_value is not None else ""
    return f"{d.metric} {d.value_a:.3f} -> {d.value_b:.3f} ({d.delta:+.3f}{ci}{p})"


def _step_report(ctx: RunContext) -> tuple[list[str], str]:
    from sftwise.report import build_report

    path = build_report(ctx.run_dir)
    return [path.name], str(path)


STEPS: list[Step] = [
    Step("audit", (), lambda c: (c.config.data.model_dump(), c.config.audit.model_dump(), _audit_model_and_limit(c), c.config.model.max_length,
                                 getattr(c.config.train, "chat_template", None), [input_digest(p) for p in (c.config.data.train, c.config.data.validation, c.config.data.test)]), _step_audit, lambda c: c.config.audit.enabled, "audit", DATA_KEYS),
    Step("split", ("audit",), lambda c: (c.config.split.model_dump(), c.config.seed), _step_split, lambda c: c.config.split.enabled, "split", {"data": "data.train"}),
    Step("baseline", ("audit", "split"), lambda c: (c.config.model.model_dump(), c.config.baseline.model_dump(), c.config.eval.model_dump(), c.config.seed, c.config.backend), _step_baseline, lambda c: c.config.baseline.enabled, "baseline", {"data": "data.test"}),
    Step("recommend", ("audit", "split"), lambda c: (c.config.model.base,), _step_recommend, lambda c: c.config.train.enabled, "train", DATA_KEYS),
    Step("train", ("recommend",), lambda c: (c.config.model.model_dump(), c.config.train.model_dump(), c.config.seed, c.config.backend, [input_digest(c.split_paths()[k]) for k in ("train", "validation")], *vertex_steps.train_inputs(c)), _step_train, lambda c: c.config.train.enabled, "train", DATA_KEYS),
    Step("diagnose", ("train",), lambda c: (), _step_diagnose, lambda c: c.config.train.enabled, "train"),
    Step("eval", ("diagnose",), lambda c: (c.config.eval.model_dump(), *vertex_steps.eval_inputs(c)), _step_eval, lambda c: c.config.train.enabled and c.config.eval.enabled, "eval", {"data": "data.test", "eval_checkpoint": "vertex.eval_checkpoint"}),
    Step("compare", ("baseline", "eval"), lambda c: (), _step_compare, lambda c: c.config.baseline.enabled and c.config.train.enabled and c.config.eval.enabled, "eval"),
    Step("report", ("audit", "baseline", "recommend", "diagnose", "eval", "compare"), lambda c: (_version(),), _step_report, lambda c: c.config.report),
]


def _version() -> str:
    from sftwise import __version__

    return __version__


def _refuse_model_dir(run_dir: Path, config: PipelineConfig) -> None:
    """``RUN_DIR/config.json`` is the pipeline's: a model's directory there would lose its own."""
    from sftwise.train.spec import model_dir_problem

    problem = model_dir_problem(run_dir, str(config.model.base))
    if problem:
        raise ParameterError("run_dir", problem)


def run_pipeline(config: PipelineConfig, run_dir: str | Path, *, force: bool = False, new_job: bool = False,
                 echo: Callable[[str], None] = print) -> PipelineState:
    """Run every enabled step whose fingerprint changed or whose outputs are missing.

    ``new_job`` (``backend: vertex``): create a new, paid tuning job even when the run directory
    records one for the same request; without it a re-run attaches to the recorded job.
    """
    import os

    # The pipeline prints one line per step and its own progress bars; transformers' per-load
    # "Loading weights" bars would only interleave with them.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    run_dir = require_dir_or_absent(run_dir, "run_dir")
    _refuse_model_dir(run_dir, config)
    run_dir.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(config=config, run_dir=run_dir, force=force, new_job=new_job, echo=echo)
    state = load_state(run_dir)
    write_json(run_dir / "config.json", config)
    prints: dict[str, str] = {}
    for step in STEPS:
        if not step.enabled(ctx):
            prints[step.name] = "off"
            continue
        upstream = [prints.get(dep, "off") for dep in step.depends]
        key = fingerprint(step.name, step.inputs(ctx), upstream)
        prints[step.name] = key
        previous = state.steps.get(step.name)
        if previous and previous.status == "done" and previous.fingerprint == key and all((run_dir / o).exists() for o in previous.outputs):
            echo(f"✓ {step.name:<9} up to date  {previous.summary}")
            continue
        ctx.step_key = key
        record = StepState(status="running", fingerprint=key, started=now())
        state.steps[step.name] = record
        save_state(run_dir, state)
        started = time.monotonic()
        try:
            outputs, summary = step.run(ctx)
        except SftwiseError as exc:
            message = exc.restated(config_key(step, exc.parameter)) if isinstance(exc, ParameterError) else str(exc)
            _fail(run_dir, state, record, message)
            raise SftwiseError(f"step '{step.name}' failed: {message}\nFix it and run the same command again: finished steps are kept.") from None
        except Exception as exc:  # an unexpected bug: keep the traceback in the state file, not on screen
            _fail(run_dir, state, record, "".join(traceback.format_exception(exc)))
            raise SftwiseError(
                f"step '{step.name}' failed unexpectedly: {type(exc).__name__}: {exc}\n"
                f"The traceback is in {run_dir / 'pipeline_state.json'}; please report it. Finished steps are kept."
            ) from None
        record.status, record.finished, record.outputs, record.summary = "done", now(), outputs, summary
        save_state(run_dir, state)
        echo(f"✓ {step.name:<9} {time.monotonic() - started:6.1f}s  {summary}")
    return state


def _fail(run_dir: Path, state: PipelineState, record: StepState, error: str) -> None:
    from sftwise.errors import redact

    record.status, record.finished, record.error = "failed", now(), redact(error)  # a quoted server error may echo a key
    save_state(run_dir, state)
