"""``evaluate()``: prompt a model on an eval set (zero- or few-shot), or take saved predictions, score
them, and write a results directory (``predictions.jsonl`` + ``summary.json``).

The order of work, and why:

1. Validate every argument at the door (model spec, files, metric names, few-shot settings), so a
   typo fails in a second, not after an hour of generation.
2. Read the eval set (``sftwise.formats.load``); the final model turn of each conversation is the
   reference, everything before it the prompt. Records without a final model turn are kept with no
   reference: they are generated but not scored (``n_missing_reference`` in the summary).
3. Few-shot: ``K`` shots are drawn once with ``random.Random(seed)`` from ``shots_from`` (never the
   eval file; a shot whose prompt equals an eval prompt after whitespace/case normalisation is
   excluded), and placed either as alternating user/assistant turns before the prompt (``turns``,
   lm-evaluation-harness's chat layout) or as ``Input:/Output:`` examples in the system instruction
   (``system``). Every example gets the same shots, so the only randomness is the seed.
4. Generate through the response cache (an interrupted run resumes where it stopped).
5. Score every metric per example, aggregate, and bootstrap a seeded 95 % CI for each.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sftwise.backends.base import GenerationParams, GenerationRequest
from sftwise.evaluate.metrics import MetricOptions, compute_all, extract_final_answer, parse_metric_list, versions
from sftwise.evaluate.results import EvalSummary, MetricSummary, Prediction, write_results
from sftwise.evaluate.stats import DEFAULT_RESAMPLES, bootstrap_ci
from sftwise.errors import ParameterError, SftwiseError, redact, require_at_least, require_within
from sftwise.io import refuse_overwrite_input
from sftwise.textsim import normalize

SHOTS_IN = ("turns", "system")


def _load_dataset(data: Any, parameter: str):
    from sftwise.conversation import Dataset

    if isinstance(data, Dataset):
        return data
    path = Path(data)
    if not path.exists():
        raise ParameterError(parameter, f"{data}: no such file.")
    from sftwise import formats

    return formats.load(path)


def _example_ids(dataset) -> list[str]:
    ids = []
    for record in dataset.records:
        meta_id = record.conversation.meta.get("id")
        ids.append(str(meta_id) if meta_id is not None else f"{Path(record.source.path).name}:{record.source.line}")
    if len(set(ids)) != len(ids):  # ids in the data repeat: fall back to positions, which never do
        ids = [f"{Path(r.source.path).name}:{r.source.line}" for r in dataset.records]
    return ids


def _shot_pairs(conversation) -> list[dict[str, str]]:
    return [{"role": "assistant" if t.role == "model" else "user", "content": t.text} for t in conversation.turns]


def draw_shots(pool, k: int, seed: int, exclude_prompts: set[str]) -> list:
    """``k`` conversations from ``pool`` chosen by ``seed``, skipping any whose prompt is an eval prompt."""
    candidates = [
        r
        for r in pool.records
        if r.conversation.target is not None
        and normalize(r.conversation.input_text()) not in exclude_prompts
        and normalize(r.conversation.last_user_text) not in exclude_prompts
    ]
    if len(candidates) < k:
        raise ParameterError("few_shot", f"{k} shots asked, but the shot pool has only {len(candidates)} usable examples (with a model answer, not in the eval set).")
    return random.Random(seed).sample(candidates, k)


def build_request(example_id: str, conversation, shots: Sequence, shots_in: str) -> GenerationRequest:
    """The chat request for one eval conversation with its few-shot examples in place."""
    system = conversation.system
    prompt = [{"role": "assistant" if t.role == "model" else "user", "content": t.text} for t in conversation.prompt_turns]
    if shots and shots_in == "turns":
        messages = [m for shot in shots for m in _shot_pairs(shot.conversation)] + prompt
    elif shots:
        blocks = [f"Input: {s.conversation.input_text()}\nOutput: {s.conversation.target}" for s in shots]
        examples = "Examples:\n\n" + "\n\n".join(blocks)
        system = f"{system}\n\n{examples}" if system else examples
        messages = prompt
    else:
        messages = prompt
    return GenerationRequest(id=example_id, system=system, messages=messages)


def _get(row: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    value: Any = row
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return False, None
        value = value[key]
    return True, value


def read_predictions_file(path: str | Path, prediction_field: str, reference_field: str, id_field: str | None) -> list[Prediction]:
    """Rows of a JSONL (or JSON list) file of saved predictions, fields given as dotted paths."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError("predictions", f"{path}: no such file.")
    text = path.read_text(encoding="utf-8", errors="replace")
    rows: list[tuple[int, Any]] = []
    if text.lstrip().startswith("["):
        try:
            rows = list(enumerate(json.loads(text), 1))
        except json.JSONDecodeError as exc:
            raise SftwiseError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise SftwiseError(f"{path}:{number}: not valid JSON ({exc.msg}).") from None
    if not rows:
        raise ParameterError("predictions", f"{path}: the file holds no rows.")
    keys = sorted({k for _, r in rows if isinstance(r, dict) for k in r})
    for field_name, parameter in ((prediction_field, "prediction_field"), (reference_field, "reference_field")):
        if not any(isinstance(r, dict) and _get(r, field_name)[0] for _, r in rows):
            raise ParameterError(parameter, f"no row of {path} has the field {field_name!r}; fields present: {', '.join(keys) or 'none'} (nested fields as a.b).")
    out = []
    for number, row in rows:
        if not isinstance(row, dict):
            raise SftwiseError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}.")
        has_pred, pred = _get(row, prediction_field)
        has_ref, ref = _get(row, reference_field)
        has_id, ident = _get(row, id_field) if id_field else (False, None)
        out.append(
            Prediction(
                id=str(ident) if has_id else str(row.get("id", f"{path.name}:{number}")),
                source=f"{path}:{number}",
                messages=row.get("messages") if isinstance(row.get("messages"), list) else ([{"role": "user", "content": str(row["question"])}] if "question" in row else []),
                reference=None if not has_ref or ref is None else (ref if isinstance(ref, str) else json.dumps(ref, ensure_ascii=False)),
                prediction=None if not has_pred or pred is None else (pred if isinstance(pred, str) else json.dumps(pred, ensure_ascii=False)),
                error=None if has_pred else f"row has no field {prediction_field!r}",
            )
        )
    return out


def score_predictions(
    predictions: list[Prediction],
    metrics: Sequence[str],
    options: MetricOptions,
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
) -> dict[str, MetricSummary]:
    """Fill ``scores`` of each prediction and return the corpus summaries with bootstrap CIs.

    A failed generation (``error`` set: a 401, a timeout after the retries) is not an answer: it is
    left unscored, like an example without a reference, so the metrics are over the successful
    generations and ``EvalSummary.n_errors`` stands beside them. When every generation failed there
    is nothing to score and no metric is returned (a NaN would read as a result).
    """
    ok = [p for p in predictions if not p.error]
    for p in predictions:
        p.scores.update({name: None for name in metrics})
    results = compute_all(metrics, [p.prediction for p in ok], [p.reference for p in ok], options) if ok else {}
    summaries = {}
    for name, result in results.items():
        for p, score in zip(ok, result.per_example):
            p.scores[name] = score
        low, high = bootstrap_ci(result.aggregate, len(ok), resamples=resamples, seed=seed) if result.n else (None, None)
        summaries[name] = MetricSummary(name=name, value=result.value, ci_low=low, ci_high=high, n=result.n, signature=f"{result.signature}|bs:{resamples}|rs:{seed}")
    if "math_accuracy" in metrics:
        for p in predictions:
            p.answers = {"prediction": extract_final_answer(p.prediction), "reference": extract_final_answer(p.reference)}  # type: ignore[attr-defined]
    return summaries


def evaluate(
    *,
    output: str | Path,
    model: str | Any | None = None,
    data: str | Path | Any | None = None,
    predictions: str | Path | None = None,
    prediction_field: str = "prediction",
    reference_field: str = "reference",
    id_field: str | None = None,
    metrics: str | Sequence[str] | None = None,
    few_shot: int = 0,
    shots_from: str | Path | Any | None = None,
    shots_in: str = "turns",
    seed: int = 0,
    params: GenerationParams | None = None,
    metric_options: MetricOptions | None = None,
    cache: str | Path | bool | None = None,
    generator_opts: dict[str, Any] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    on_progress: Callable[[int, int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> EvalSummary:
    """Evaluate a model (``model`` + ``data``) or saved ``predictions`` and write ``output``.

    ``model`` is a spec string for :func:`sftwise.backends.get_generator` or a ready ``Generator``.
    ``cache``: a SQLite path, ``None`` for the default (``~/.cache/sftwise/responses.sqlite`` or
    ``$SFTWISE_CACHE_DIR``), ``False`` for none. Returns the summary it wrote.
    """
    names = parse_metric_list(metrics)
    options = metric_options or MetricOptions()
    params = params or GenerationParams(seed=seed)
    if resamples < 1:
        raise ParameterError("resamples", f"must be >= 1, got {resamples}.")
    if shots_in not in SHOTS_IN:
        raise ParameterError("shots_in", f"expected one of {', '.join(SHOTS_IN)}, got {shots_in!r}.")
    if few_shot < 0:
        raise ParameterError("few_shot", f"must be >= 0, got {few_shot}.")
    _check_generation(params, generator_opts or {})
    settings: dict[str, Any] = {"seed": seed, "resamples": resamples, "versions": versions(), "metric_options": _options_dict(options)}
    started = time.time()

    if predictions is not None:
        if model is not None or data is not None:
            raise ParameterError("predictions", "scores saved outputs; do not pass model or data with it.")
        refuse_overwrite_input(Path(output) / "predictions.jsonl", predictions)
        rows = read_predictions_file(predictions, prediction_field, reference_field, id_field)
        settings.update(prediction_field=prediction_field, reference_field=reference_field)
        model_name, data_name = f"predictions:{prediction_field}", str(predictions)
    else:
        if model is None or data is None:
            raise ParameterError("model" if model is None else "data", "is required: pass model and data to generate, or predictions to score saved outputs.")
        if isinstance(model, str):
            from sftwise.backends import parse_spec

            parse_spec(model)  # a typo in the spec fails before any file is read
        if few_shot and shots_from is None:
            raise ParameterError("shots_from", "is required with few_shot: shots are drawn from a training split, never from the eval set.")
        if isinstance(data, (str, Path)) and isinstance(shots_from, (str, Path)):
            if Path(shots_from).resolve() == Path(data).resolve():
                raise ParameterError("shots_from", f"{shots_from} is the eval file itself; draw shots from a training or validation split.")
        # data and shots_from may be loaded Datasets (the pipeline's eval.max_examples passes one): only files can be overwritten
        refuse_overwrite_input(Path(output) / "predictions.jsonl", *(x for x in (data, shots_from) if isinstance(x, (str, Path))))
        dataset = _load_dataset(data, "data")
        if not len(dataset):
            raise ParameterError("data", f"{data}: no examples.")
        ids = _example_ids(dataset)
        shots = []
        if few_shot:
            pool = _load_dataset(shots_from, "shots_from")
            eval_prompts = {normalize(r.conversation.input_text()) for r in dataset.records} | {normalize(r.conversation.last_user_text) for r in dataset.records}
            shots = draw_shots(pool, few_shot, seed, eval_prompts)
            settings["shots"] = [str(s.source) for s in shots]
        requests = [build_request(i, r.conversation, shots, shots_in) for i, r in zip(ids, dataset.records)]
        generator = _generator(model, on_progress, generator_opts)
        if cache is not False:
            from sftwise.backends.cache import CachedGenerator, ResponseCache

            store = ResponseCache(cache if isinstance(cache, (str, Path)) else None)
            runner = CachedGenerator(generator, store, chunk_size=max(8, getattr(generator, "batch_size", 0), getattr(generator, "concurrency", 0) * 2), on_progress=on_progress)
        else:
            runner = generator
        if on_start:
            on_start(len(requests))
        t0 = time.perf_counter()
        outputs = runner.generate(requests, params)
        elapsed = time.perf_counter() - t0
        rows = []
        for req, res, record in zip(requests, outputs, dataset.records):
            rows.append(
                Prediction(
                    id=req.id,
                    source=str(record.source),
                    system=req.system,
                    messages=req.messages,
                    reference=record.conversation.target,
                    prediction=res.text,
                    error=redact(res.error) if res.error else None,  # any generator's message, before it is stored
                    cached=res.cached,
                    completion_tokens=res.completion_tokens,
                )
            )
        new_tokens = sum(r.completion_tokens or 0 for r in outputs if not r.cached)
        settings.update(
            generation=params.model_dump(mode="json"),
            shots_in=shots_in,
            generator=generator.name,
            batch_size=getattr(generator, "batch_size", None),
            padding_side="left" if generator.name.startswith("hf:") else None,
            cache=None if cache is False else str(runner.cache.path),
            cache_hits=getattr(runner, "hits", 0),
            generation_seconds=round(elapsed, 3),
            new_tokens=new_tokens,
            tokens_per_s=round(new_tokens / elapsed, 2) if elapsed > 0 else None,
        )
        model_name, data_name = generator.name, str(getattr(dataset, "path", data))

    summaries = score_predictions(rows, names, options, seed=seed, resamples=resamples)
    settings["elapsed_s"] = round(time.time() - started, 3)
    summary = EvalSummary(
        model=model_name,
        data=data_name,
        n_examples=len(rows),
        n_errors=sum(1 for r in rows if r.error),
        first_error=next((r.error for r in rows if r.error), None),
        few_shot=few_shot,
        metrics=summaries,
        settings=settings,
        n_missing_reference=sum(1 for r in rows if r.reference is None),
        n_empty_prediction=sum(1 for r in rows if not r.error and not (r.prediction or "").strip()),
    )
    write_results(output, rows, summary)
    return summary


def _options_dict(options: MetricOptions) -> dict[str, Any]:
    n = options.normalization
    return {
        "normalization": {"lowercase": n.lowercase, "punctuation": n.punctuation, "articles": n.articles, "whitespace": n.whitespace},
        "label_case_sensitive": options.label_case_sensitive,
        "rouge_stemmer": options.rouge_stemmer,
        "rouge_tokenizer": options.rouge_tokenizer,
        "json_schema": options.json_schema,
    }


def options_from_dict(data: dict[str, Any] | None) -> MetricOptions:
    """Rebuild the :class:`MetricOptions` a summary recorded (defaults for anything missing)."""
    from sftwise.evaluate.metrics import TextNormalization

    if not data:
        return MetricOptions()
    n = data.get("normalization") or {}
    return MetricOptions(
        normalization=TextNormalization(**{k: bool(v) for k, v in n.items() if k in ("lowercase", "punctuation", "articles", "whitespace")}),
        label_case_sensitive=bool(data.get("label_case_sensitive", False)),
        rouge_stemmer=bool(data.get("rouge_stemmer", False)),
        rouge_tokenizer=data.get("rouge_tokenizer", "default"),
        json_schema=data.get("json_schema"),
    )


def _check_generation(params: GenerationParams, opts: dict[str, Any]) -> None:
    """Refuse nonsense sampling and client settings before any request: a negative timeout or retry
    count would otherwise be passed on to the backend and silently mean something else."""
    require_at_least("max_new_tokens", params.max_new_tokens, 1)
    require_at_least("temperature", params.temperature, 0)
    require_within("top_p", params.top_p, 0, 1, low_open=True)
    for name in ("batch_size", "concurrency"):
        require_at_least(name, opts.get(name), 1)
    require_at_least("max_retries", opts.get("max_retries"), 0)
    timeout = opts.get("timeout_s")
    if timeout is not None and timeout <= 0:
        raise ParameterError("timeout_s", f"must be > 0 seconds, got {timeout:g}.")


def _generator(model: Any, on_progress, generator_opts):
    from sftwise.backends import get_generator

    if isinstance(model, str):
        return get_generator(model, on_progress=on_progress, **(generator_opts or {}))
    if not hasattr(model, "generate") or not hasattr(model, "name"):
        raise SftwiseError(f"model must be a spec string or a Generator, got {type(model).__name__}.")
    return model
