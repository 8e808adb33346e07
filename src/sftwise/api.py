"""The Python API: one function per stage of the workflow, the same shape as the CLI.

Each function takes the command's arguments as parameters named after its flags (``--max-tokens``
is ``max_tokens``, ``--map`` is ``field_map``, ``--format`` is ``format``, ``--from`` is
``from_format``) and returns the pydantic result the command renders, instead of printing it. What
the CLI writes with ``--json`` is ``result.model_dump_json()`` (or :func:`sftwise.io.write_json`).

=============  ===============================  ==============================================
function       command                          returns
=============  ===============================  ==============================================
``read``       (every command reads this way)   ``ReadResult``: the dataset and its findings
``audit``      ``sftwise audit``                ``AuditReport``
``inspect``    ``sftwise inspect``              ``SupervisionReport``: which tokens carry loss
``convert``    ``sftwise convert``              ``ReadResult`` of what was read and written
``dedup``      ``sftwise dedup``                ``DedupReport``
``split``      ``sftwise split``                ``SplitResult``
``skew``       ``sftwise skew``                 ``SkewReport``
``recommend``  ``sftwise recommend``            ``Recommendation``
``train``      ``sftwise train``                ``TrainResult`` (or the Vertex job's result)
``diagnose``   ``sftwise diagnose``             ``Diagnosis``
``evaluate``   ``sftwise eval``                 ``EvalSummary``
``compare``    ``sftwise compare``              ``ComparisonReport``
``judge``      ``sftwise judge``                ``JudgeReport``
``calibrate``  ``sftwise calibrate``            ``CalibrationReport``
``report``     ``sftwise report``               the path of ``report.html``
``run``        ``sftwise run``                  ``PipelineState``: every step's status
=============  ===============================  ==============================================

Where a library function already has that shape it is exported as it is (``read``, ``audit``, ``inspect``,
``recommend``, ``report``); the others are thin wrappers that assemble what the command assembles
from its flags. Everything is imported inside the functions, so importing this module stays cheap
and only :func:`train` and the ``hf:`` models of :func:`evaluate` import torch.

Errors are :class:`sftwise.errors.SftwiseError`; a bad value of one parameter is a
:class:`sftwise.errors.ParameterError` that names the parameter.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sftwise.errors import ParameterError, SftwiseError

if TYPE_CHECKING:
    from sftwise.conversation import Dataset
    from sftwise.diagnose import Diagnosis
    from sftwise.evaluate.compare import ComparisonReport
    from sftwise.evaluate.results import EvalSummary
    from sftwise.formats import ReadResult
    from sftwise.hygiene.core import DedupReport
    from sftwise.hygiene.skew import SkewReport
    from sftwise.hygiene.split import SplitResult
    from sftwise.judge.autorater import JudgeReport
    from sftwise.judge.calibrate import CalibrationReport
    from sftwise.pipeline.config import PipelineConfig
    from sftwise.pipeline.state import PipelineState

PathLike = str | os.PathLike[str]

__all__ = ["read", "audit", "inspect", "convert", "dedup", "split", "skew", "recommend", "train", "diagnose",
           "evaluate", "compare", "judge", "calibrate", "report", "run"]

# library functions that already have the command's shape: exported as they are, imported on first use
_AS_IS = {
    "read": ("sftwise.formats", "read"),
    "audit": ("sftwise.audit", "audit"),
    "inspect": ("sftwise.train.supervision", "inspect_supervision"),
    "recommend": ("sftwise.recommend", "recommend"),
    "report": ("sftwise.report", "build_report"),
}


def __getattr__(name: str) -> Any:
    if name in _AS_IS:
        module, attr = _AS_IS[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'sftwise.api' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


# ---- checks shared by the wrappers -------------------------------------------------------------


def _at_least(parameter: str, value: float, low: float) -> None:
    if value < low:
        raise ParameterError(parameter, f"must be >= {low:g}, got {value:g}.")


def _one_of(parameter: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ParameterError(parameter, f"must be one of {', '.join(allowed)}, got {value!r}.")


def _validated(model: Any, names: Mapping[str, str] | None = None, **fields: Any) -> Any:
    """Build a pydantic config; a rejected field becomes a ParameterError naming our parameter."""
    from pydantic import ValidationError

    try:
        return model(**fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "<root>"
        raise ParameterError((names or {}).get(field, field), f"{error['msg']}, got {error.get('input')!r}.") from None


def _comma_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else [part for item in value for part in item.split(",")]
    return [item.strip() for item in items if item.strip()] or None


# ---- data ---------------------------------------------------------------------------------------


def convert(
    input: PathLike,
    output: PathLike,
    *,
    to: str = "gemini",
    from_format: str | None = None,
    system: str | None = None,
    instruction_prefix: str | None = None,
    field_map: Mapping[str, str] | None = None,
    force: bool = False,
) -> ReadResult:
    """Convert ``input`` to the format ``to`` in ``output`` (container from its extension).

    ``system`` is added to examples that have no system instruction, ``instruction_prefix`` put
    before each first user turn. A file with error-level findings is refused unless ``force``
    (then only the records that could be read are written). Returns what was read: the dataset
    written and the findings of the input.
    """
    from sftwise.findings import sort_findings
    from sftwise.formats import FORMATS, read, write
    from sftwise.io import refuse_overwrite_input

    _one_of("to", to, list(FORMATS))
    refuse_overwrite_input(output, input)
    result = read(input, from_format, field_map=field_map)
    if result.errors and not force:
        shown = "\n  ".join(str(f) for f in sort_findings(result.errors)[:5])
        raise SftwiseError(f"{input} has {len(result.errors)} error(s):\n  {shown}\n"
                           f"Fix them (sftwise.audit lists all), or pass force=True to convert the {len(result.dataset)} records that could be read.")
    write(result.dataset, output, to, system=system, instruction_prefix=instruction_prefix)
    return result


# ---- hygiene ------------------------------------------------------------------------------------


def dedup(
    train: PathLike | Dataset,
    output: PathLike,
    *,
    method: str | Sequence[str] = "exact,near",
    threshold: float = 0.5,
    unit: str = "char",
    ngram: int = 5,
    num_perm: int = 128,
    bands: int | None = None,
    rows: int | None = None,
    field: str = "full",
    case: bool = True,
    whitespace: bool = True,
    unicode: bool = True,
    punctuation: bool = False,
    keep: str = "first",
    substr_min_tokens: int = 50,
    cut_substrings: bool = False,
    semantic_threshold: float = 0.95,
    embedding_model: str | None = None,
    min_topic_size: int = 50,
    format: str | None = None,
    field_map: Mapping[str, str] | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> DedupReport:
    """Remove exact, near, substring and semantic duplicates of ``train`` and write the rest to ``output``.

    ``method`` is a comma list (or a list) of exact, near, substr, semantic. One representative per
    duplicate cluster is kept (``keep``: first or longest output). ``train`` is a file or a
    :class:`~sftwise.conversation.Dataset`; the input file is never modified. Returns the
    ``DedupReport``: every removed record with its line, cluster, reason and similarity.
    """
    from sftwise.conversation import Dataset
    from sftwise.formats import load, write
    from sftwise.hygiene.core import DedupConfig
    from sftwise.hygiene.core import dedup as run_dedup
    from sftwise.hygiene.minhash import MinHashConfig
    from sftwise.hygiene.text import Normalization
    from sftwise.io import refuse_overwrite_input

    if Path(output).is_dir():
        raise ParameterError("output", f"{output} is a directory; give a file path such as {Path(output) / 'train.dedup.jsonl'}.")
    dataset = train if isinstance(train, Dataset) else load(train, field_map=field_map)
    refuse_overwrite_input(output, *([dataset.path] if dataset.path else []))
    config = _validated(
        DedupConfig, {"methods": "method", "semantic_model": "embedding_model"},
        methods=_comma_list(method) or [], field=field, keep=keep, substr_min_tokens=substr_min_tokens,
        cut_substrings=cut_substrings, semantic_threshold=semantic_threshold, semantic_model=embedding_model,
        min_topic_size=min_topic_size, seed=seed,
        normalization=Normalization(unicode=unicode, case=case, whitespace=whitespace, punctuation=punctuation),
        minhash=_validated(MinHashConfig, unit=unit, ngram=ngram, num_perm=num_perm, threshold=threshold, bands=bands, rows=rows),
    ).validated()
    kept, report = run_dedup(dataset, config, progress=progress)
    write(kept, output, format=format or dataset.format or "gemini")
    return report


def split(
    data: PathLike | Dataset,
    *,
    output: PathLike | None = None,
    validation: float = 0.1,
    test: float = 0.1,
    stratify: str | None = None,
    seed: int = 0,
    dedup: bool = True,
    format: str | None = None,
    field_map: Mapping[str, str] | None = None,
) -> SplitResult:
    """Leakage-safe split of ``data``: near-duplicate groups never straddle train/validation/test.

    With ``output`` (a directory) the splits are written there as ``train.jsonl``,
    ``validation.jsonl`` and ``test.jsonl``; without it nothing is written (the CLI's default is
    ``splits/``). ``stratify`` names a meta field whose mix each split keeps. Returns the
    ``SplitResult``: counts, leakage after the split, and the files written.
    """
    from sftwise.hygiene.split import split_dataset

    if output is not None and Path(output).exists() and not Path(output).is_dir():
        raise ParameterError("output", f"{output} is a file; give a directory for train.jsonl, validation.jsonl and test.jsonl.")
    return split_dataset(data, validation=validation, test=test, seed=seed, dedup=dedup, stratify=stratify, output_dir=output,
                         format=format, field_map=dict(field_map) if field_map else None)


def skew(
    train: PathLike,
    production: PathLike,
    *,
    seed: int = 0,
    max_examples: int = 5000,
    permutations: int = 20,
    field_map: Mapping[str, str] | None = None,
) -> SkewReport:
    """Training-serving skew: does the tuning data ``train`` look like the ``production`` inputs?

    ``production`` is prompts one per line, JSONL of prompts, or a dataset file. Each signal of the
    returned ``SkewReport`` has a statistic, a threshold and a verdict; ``summary`` says in words
    what differs.
    """
    from sftwise.hygiene.skew import skew_files

    _at_least("max_examples", max_examples, 10)
    _at_least("permutations", permutations, 0)
    return skew_files(train, production, field_map=dict(field_map) if field_map else None, seed=seed,
                      max_examples=max_examples, permutations=permutations)


# ---- tuning -------------------------------------------------------------------------------------


def train(
    model: str | None = None,
    train: PathLike | None = None,
    validation: PathLike | None = None,
    run_dir: PathLike | None = None,
    *,
    config: PathLike | Mapping[str, Any] | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    lr_multiplier: float | None = None,
    adapter_size: int | None = None,
    rank: int | None = None,
    method: str | None = None,
    batch_size: int | None = None,
    grad_accum: int | None = None,
    max_length: int | None = None,
    truncate: bool = False,
    drop: bool = False,
    batching: str | None = None,
    precision: str | None = None,
    chat_template: str | None = None,
    log_every: int | None = None,
    eval_every: int | None = None,
    seed: int | None = None,
    resume: bool = False,
    backend: str = "local",
    bucket: str | None = None,
    project: str | None = None,
    location: str | None = None,
    wait: bool = True,
    display_name: str | None = None,
    progress: bool = False,
) -> Any:
    """Tune ``model`` on ``train``: LoRA or full fine-tuning locally, or a Gemini tuning job on Vertex AI.

    The parameters are the flags of ``sftwise train``: ``lr`` is the TrainSpec's ``learning_rate``,
    ``rank`` its ``lora_rank``, ``truncate``/``drop`` its ``overlong``. ``config`` is a YAML TrainSpec
    or a mapping of TrainSpec fields (for the settings without a flag, e.g. ``num_threads``); the
    other parameters override it. ``progress`` shows a progress bar. Local training writes
    ``metrics.jsonl``, per-epoch checkpoints and TensorBoard events into ``run_dir`` and returns a
    ``TrainResult``; ``backend="vertex"`` returns the tuning job's result.
    """
    from sftwise.train.spec import TrainSpec

    if truncate and drop:
        raise ParameterError("truncate", "and drop exclude each other: choose one way to handle over-long examples.")
    _one_of("backend", backend, ("local", "vertex"))
    overrides = {
        "model": model, "train": os.fspath(train) if train is not None else None,
        "validation": os.fspath(validation) if validation is not None else None,
        "run_dir": os.fspath(run_dir) if run_dir is not None else None, "epochs": epochs, "learning_rate": lr,
        "lr_multiplier": lr_multiplier, "adapter_size": adapter_size, "lora_rank": rank, "method": method,
        "batch_size": batch_size, "grad_accum": grad_accum, "max_length": max_length,
        "overlong": "truncate" if truncate else "drop" if drop else None, "batching": batching, "precision": precision,
        "chat_template": chat_template, "log_every": log_every, "eval_every": eval_every, "seed": seed,
    }
    given = {key: value for key, value in overrides.items() if value is not None}
    if config is None:
        missing = [name for name in ("model", "train", "run_dir") if name not in given]
        if missing:
            raise ParameterError(missing[0], f"is required (missing: {', '.join(missing)}), or give config=spec.yaml.")
    try:
        spec = TrainSpec.from_yaml(config, **given) if isinstance(config, (str, os.PathLike)) else TrainSpec.build({**(config or {}), **given})
    except ParameterError as exc:  # a TrainSpec field set by a parameter of another name
        renamed = {"lora_rank": "rank", "learning_rate": "lr", "overlong": "truncate"}.get(exc.parameter)
        if renamed is None:
            raise
        raise ParameterError(renamed, exc.problem) from None
    if backend == "vertex":
        from sftwise.train.vertex import train_vertex

        return train_vertex(spec, bucket=bucket, project=project, location=location, wait=wait, display_name=display_name)
    from sftwise.evaluate.training import training_evaluator
    from sftwise.train.local import train as train_local

    return train_local(spec, resume=resume, progress=progress, evaluator=training_evaluator(spec))


def diagnose(run_dir: PathLike, *, plot: PathLike | None = None) -> Diagnosis:
    """Read the loss curves of a run directory (or of one ``metrics.jsonl`` file).

    Returns the ``Diagnosis``: healthy, under-trained, overfitting or data issue, with its
    confidence, the best epoch and checkpoint (relative to the run directory) and what to change.
    ``plot`` draws the curves there (PNG or SVG); the CLI's default is ``RUN_DIR/curves.png``.
    """
    from sftwise.diagnose import diagnose as diagnose_points
    from sftwise.diagnose import diagnose_run, plot_diagnosis
    from sftwise.runlog import read_metrics

    if Path(run_dir).is_dir():
        return diagnose_run(run_dir, plot=plot)
    points = read_metrics(run_dir)
    result = diagnose_points(points)
    if plot is not None:
        plot_diagnosis(points, result, plot)
    return result


# ---- evaluation ---------------------------------------------------------------------------------


def evaluate(
    output: PathLike,
    *,
    model: str | None = None,
    data: PathLike | Dataset | None = None,
    predictions: PathLike | None = None,
    prediction_field: str = "prediction",
    reference_field: str = "reference",
    id_field: str | None = None,
    metrics: str | Sequence[str] | None = None,
    few_shot: int = 0,
    shots_from: PathLike | None = None,
    shots_in: str = "turns",
    seed: int = 0,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    stop: Sequence[str] = (),
    batch_size: int = 8,
    concurrency: int = 8,
    max_retries: int = 4,
    timeout: float = 120.0,
    normalize: str = "squad",
    rouge_stemmer: bool = False,
    rouge_tokenizer: str = "default",
    json_schema: PathLike | Mapping[str, Any] | None = None,
    case_sensitive_labels: bool = False,
    resamples: int = 1000,
    cache: PathLike | None = None,
    no_cache: bool = False,
) -> EvalSummary:
    """Evaluate ``model`` on ``data`` zero- or few-shot, or score saved ``predictions``; write ``output``.

    ``model`` is ``hf:PATH``, ``openai:MODEL@http://host:port/v1`` or ``gemini:MODEL``; the last
    model turn of each example in ``data`` is the reference. ``output`` becomes a results directory
    (``predictions.jsonl`` + ``summary.json``) that :func:`compare` and :func:`judge` read.
    ``json_schema`` is a JSON Schema file or the schema itself. Returns the ``EvalSummary``: every
    metric with its 95 % bootstrap CI.
    """
    import json

    from sftwise.backends.base import GenerationParams
    from sftwise.evaluate.metrics import MetricOptions, TextNormalization
    from sftwise.evaluate.runner import evaluate as run_evaluate
    from sftwise.io import read_text

    _one_of("rouge_tokenizer", rouge_tokenizer, ("default", "unicode"))
    for name, value in (("max_new_tokens", max_new_tokens), ("batch_size", batch_size), ("concurrency", concurrency)):
        _at_least(name, value, 1)
    _at_least("temperature", temperature, 0)
    schema = json_schema
    if json_schema is not None and not isinstance(json_schema, Mapping):
        try:
            schema = json.loads(read_text(json_schema))
        except FileNotFoundError:
            raise ParameterError("json_schema", f"{json_schema}: no such file.") from None
        except json.JSONDecodeError as exc:
            raise ParameterError("json_schema", f"{json_schema} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    options = MetricOptions(normalization=TextNormalization.parse(normalize), label_case_sensitive=case_sensitive_labels,
                            rouge_stemmer=rouge_stemmer, rouge_tokenizer=rouge_tokenizer, json_schema=schema)
    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, stop=list(stop), seed=seed)
    return run_evaluate(
        output=output, model=model, data=data, predictions=predictions, prediction_field=prediction_field,
        reference_field=reference_field, id_field=id_field, metrics=metrics, few_shot=few_shot, shots_from=shots_from,
        shots_in=shots_in, seed=seed, params=params, metric_options=options, cache=False if no_cache else cache,
        generator_opts={"batch_size": batch_size, "concurrency": concurrency, "max_retries": max_retries, "timeout_s": timeout},
        resamples=resamples,
    )


def compare(
    results: Sequence[PathLike],
    *,
    metrics: str | Sequence[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    top: int = 5,
) -> ComparisonReport:
    """Compare every results directory after the first with the first (the baseline).

    Per metric: the delta with a paired bootstrap CI and p-value (McNemar for 0/1 metrics) and
    win/tie/loss counts, plus the ``top`` examples that changed most each way. ``metrics`` is a
    comma list or a list (default: every metric the directories share); ``seed`` seeds the paired
    bootstrap. Returns the ``ComparisonReport``.
    """
    from sftwise.evaluate.compare import compare as run_compare

    return run_compare(list(results), metrics=_comma_list(metrics), resamples=resamples, seed=seed, top=top)


def judge(
    results: PathLike,
    *,
    judge: str,
    output: PathLike,
    rubric: str = "instruction_following",
    against: PathLike | None = None,
    max_tokens: int = 512,
    temperature: float = 0.0,
    seed: int = 0,
    price_input: float | None = None,
    price_output: float | None = None,
    concurrency: int = 8,
    max_retries: int = 4,
    cache: PathLike | None = None,
    no_cache: bool = False,
) -> JudgeReport:
    """Grade the predictions of a results directory with a language-model ``judge`` against a ``rubric``.

    ``judge`` is a model spec such as ``openai:MODEL@http://127.0.0.1:8000/v1``; ``rubric`` a
    built-in name or a rubric YAML file. With ``against`` (a second results directory) the pairs are
    judged in both orders. ``output`` becomes a results directory with the judge's scores joined in.
    ``price_input``/``price_output`` (USD per million tokens) give a cost estimate. Returns the
    ``JudgeReport``.
    """
    from sftwise.backends.base import GenerationParams
    from sftwise.judge.autorater import run_judge
    from sftwise.judge.rubric import load_rubric

    params = GenerationParams(max_new_tokens=max_tokens, temperature=temperature, seed=seed)
    return run_judge(results, judge, load_rubric(rubric), output, against=against, params=params, price_input=price_input,
                     price_output=price_output, cache=False if no_cache else cache, concurrency=concurrency, max_retries=max_retries)


def calibrate(
    *,
    human: PathLike,
    judge_results: Sequence[PathLike] = (),
    search: PathLike | None = None,
    results: PathLike | None = None,
    task: str | None = None,
    holdout: float = 0.5,
    seed: int = 0,
) -> CalibrationReport:
    """How well does a judge agree with the ``human`` labels (CSV, JSONL or the SQLite of ``sftwise label``)?

    Give ``judge_results`` (outputs of :func:`judge` with the same scale) to compare them, or a
    ``search`` grid YAML (``{judges: [...], rubrics: [...], few_shot: [0, 4]}``) and the ``results``
    its judges grade. ``task`` keeps only the labels of that task; ``holdout`` is the share of items
    held out from the choice. Returns the ``CalibrationReport`` with the chosen configuration.
    """
    from sftwise.judge import calibrate as cal
    from sftwise.evaluate.results import read_results
    from sftwise.judge.labels import read_label_file

    labels = read_label_file(human)
    if task:
        labels = [label for label in labels if label.task == task]
        if not labels:
            raise ParameterError("task", f"no labels of task {task!r} in {human}.")
    if search is not None:
        if results is None:
            raise ParameterError("results", "is required with search: the predictions the grid's judges grade.")
        return cal.search(read_results(results).predictions, labels, cal.load_grid(search), holdout=holdout, seed=seed)
    if not judge_results:
        raise ParameterError("judge_results", "give one or more judge outputs, or search=GRID with results=RESULTS.")
    loaded = [cal.load_judge_run(path) for path in judge_results]
    scales = {tuple(scale) for _, scale in loaded}
    if len(scales) > 1:
        raise ParameterError("judge_results", f"the runs use different scales {sorted(scales)}; calibrate runs of the same scale together.")
    return cal.calibrate(labels, [run for run, _ in loaded], loaded[0][1], holdout=holdout, seed=seed)


# ---- the whole job ------------------------------------------------------------------------------


def run(
    config: PathLike | PipelineConfig,
    *,
    run_dir: PathLike | None = None,
    force: bool = False,
    echo: Callable[[str], None] = print,
) -> PipelineState:
    """Run the whole workflow of a pipeline YAML (or a ``PipelineConfig``) into ``run_dir``.

    audit -> split -> baseline -> recommend -> train -> diagnose -> eval -> compare -> report, into
    ``runs/<name>`` by default. A re-run continues where it stopped; a changed config redoes only the
    steps it affects. ``force`` tunes despite error-level audit findings. ``echo`` receives one line
    per finished step. Returns the ``PipelineState`` (every step's status and outputs).
    """
    from sftwise.pipeline.config import PipelineConfig, load_config
    from sftwise.pipeline.runner import run_pipeline

    cfg = config if isinstance(config, PipelineConfig) else load_config(config)
    return run_pipeline(cfg, Path(run_dir) if run_dir is not None else Path("runs") / cfg.name, force=force, echo=echo)
