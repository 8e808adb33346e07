"""The autorater: a language model grades predictions against a rubric, pointwise or pairwise.

Pointwise asks for ``{"explanation", "score"}`` per prediction. Pairwise asks every pair twice, once
with A shown first and once with B shown first, because judges favour a position (Zheng et al. 2023:
a verdict survives an order swap about 65 % of the time). From the two orders it reports:

* the win rate of A (a win counts 1, a tie 0.5, averaged over both orders) with a bootstrap CI;
* the win rate seen in each single order, whose gap is the position bias that the swap removes;
* the position-consistency rate (both orders name the same winner);
* the first-position rate among decisive verdicts with a two-sided binomial test against 0.5.

Judges are any :class:`~sftwise.backends.base.Generator`; caching, concurrency and retries belong to
the backend. Unparseable or out-of-scale replies are recorded as missing with the reason, never guessed.
Scores join the results directory: ``Prediction.scores["judge:<rubric>"]`` and a summary metric with a CI.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from sftwise.backends.base import GenerationParams, GenerationRequest, GenerationResult, Generator
from sftwise.evaluate.results import PREDICTIONS_FILE, SUMMARY_FILE, EvalSummary, MetricSummary, Prediction, read_results
from sftwise.evaluate.stats import Estimate, mean_ci
from sftwise.errors import ParameterError, SftwiseError, first_line, require_at_least
from sftwise.io import read_jsonl, read_text, write_json, write_jsonl
from sftwise.judge.parse import parse_pairwise, parse_pointwise
from sftwise.judge.rubric import GradedExample, Rubric, render_pairwise, render_pointwise

JUDGMENTS_FILE = "judgments.jsonl"
REPORT_FILE = "judge.json"
BATCH = 32  # requests per generate() call; the backend runs them with its own concurrency limit
Progress = Callable[[int], None]


def resolve_generator(judge: str | Generator, cache: str | Path | None | bool = None, concurrency: int = 8,
                      max_retries: int = 4) -> Generator:
    """A Generator as is, or a spec string through ``sftwise.backends.get_generator``.

    A spec gets the backend's concurrency limit and retries, and is wrapped in the SQLite response
    cache (``cache``: a path, None for the default location, False for none) so a re-run costs nothing.
    """
    if not isinstance(judge, str):
        return judge
    from sftwise.backends import get_generator

    generator = get_generator(judge, concurrency=concurrency, max_retries=max_retries)
    if cache is False:
        return generator
    from sftwise.backends.cache import CachedGenerator, ResponseCache

    return CachedGenerator(generator, ResponseCache(None if cache in (None, True) else cache))


# ----------------------------------------------------------------------------------------- models
class Usage(BaseModel):
    """Token accounting: tokens of cached replies are counted apart, they cost nothing this time."""

    requests: int = 0
    cached: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    cost_usd: float | None = None

    def add(self, result: GenerationResult) -> None:
        self.requests += 1
        self.errors += int(result.error is not None)
        if result.cached:
            self.cached += 1
            self.cached_prompt_tokens += result.prompt_tokens or 0
            self.cached_completion_tokens += result.completion_tokens or 0
        else:
            self.prompt_tokens += result.prompt_tokens or 0
            self.completion_tokens += result.completion_tokens or 0

    def price(self, usd_per_m_input: float | None, usd_per_m_output: float | None) -> None:
        if usd_per_m_input is None and usd_per_m_output is None:
            return
        self.cost_usd = round(self.prompt_tokens * (usd_per_m_input or 0) / 1e6 + self.completion_tokens * (usd_per_m_output or 0) / 1e6, 6)


class Judgment(BaseModel):
    id: str
    score: int | None = None
    explanation: str = ""
    missing_reason: str | None = None
    warnings: list[str] = Field(default_factory=list)
    raw: str | None = None


class PairJudgment(BaseModel):
    """Both orders of one pair. ``outcome_*`` are model-level: "A" (results A wins), "B" or "tie"."""

    id: str
    verdict_a_first: str | None = None  # the judge's raw choice of position with A shown first
    verdict_b_first: str | None = None  # ... with B shown first
    outcome_a_first: Literal["A", "B", "tie"] | None = None
    outcome_b_first: Literal["A", "B", "tie"] | None = None
    consistent: bool | None = None
    score: float | None = None  # A's share: 1 win, 0.5 tie, 0 loss, averaged over the orders available
    explanation_a_first: str = ""
    explanation_b_first: str = ""
    missing_reason: str | None = None
    warnings: list[str] = Field(default_factory=list)


class PositionBias(BaseModel):
    decisive_verdicts: int
    first_position_rate: float | None
    p_value: float | None
    detected: bool
    win_rate_a_first: Estimate
    win_rate_b_first: Estimate
    message: str


class JudgeReport(BaseModel):
    mode: Literal["pointwise", "pairwise"]
    rubric: str
    judge: str
    metric: str
    signature: str
    n: int
    n_scored: int
    n_missing: int
    missing_reasons: dict[str, int] = Field(default_factory=dict)
    empty_explanations: int = 0
    usage: Usage = Field(default_factory=Usage)
    mean_score: Estimate | None = None
    score_counts: dict[str, int] = Field(default_factory=dict)
    model_a: str | None = None
    model_b: str | None = None
    win_rate: Estimate | None = None
    wins: int = 0
    ties: int = 0
    losses: int = 0
    position_consistency: Estimate | None = None
    position_bias: PositionBias | None = None
    unmatched_ids: list[str] = Field(default_factory=list)


def signature(generator: Generator, rubric: Rubric, mode: str, params: GenerationParams, few_shot: int) -> str:
    from sftwise import __version__

    digest = hashlib.sha256(rubric.model_dump_json().encode()).hexdigest()[:8]
    return f"judge:{generator.name}|rubric:{rubric.name}@{digest}|mode:{mode}|fewshot:{len(rubric.examples) + few_shot}|temp:{params.temperature}|seed:{params.seed}|sftwise:{__version__}"


def _generate(generator: Generator, requests: list[GenerationRequest], params: GenerationParams, usage: Usage,
              progress: Progress | None) -> list[GenerationResult]:
    results: list[GenerationResult] = []
    for start in range(0, len(requests), BATCH):
        batch = requests[start : start + BATCH]
        out = generator.generate(batch, params)
        if len(out) != len(batch):
            raise SftwiseError(f"judge {generator.name} returned {len(out)} results for {len(batch)} requests")
        for result in out:
            usage.add(result)
        results.extend(out)
        if progress:
            progress(len(batch))
    return results


def _no_prediction(pred: Prediction) -> str | None:
    if pred.prediction is None:
        return f"no prediction to judge (generation error: {pred.error})" if pred.error else "no prediction to judge"
    return None


# -------------------------------------------------------------------------------------- pointwise
def judge_pointwise(preds: Sequence[Prediction], rubric: Rubric, generator: Generator, params: GenerationParams | None = None,
                    extra_examples: Sequence[GradedExample] = (), progress: Progress | None = None,
                    usage: Usage | None = None) -> list[Judgment]:
    params = params or GenerationParams(max_new_tokens=512)
    usage = usage if usage is not None else Usage()
    judgments: dict[str, Judgment] = {}
    requests = []
    for pred in preds:
        reason = _no_prediction(pred)
        if reason:
            judgments[pred.id] = Judgment(id=pred.id, missing_reason=reason)
            continue
        prompt = render_pointwise(rubric, pred.system, pred.messages, pred.prediction or "", pred.reference, list(extra_examples))
        requests.append(GenerationRequest(id=pred.id, messages=[{"role": "user", "content": prompt}]))
    for req, result in zip(requests, _generate(generator, requests, params, usage, progress)):
        if result.error is not None:
            judgments[req.id] = Judgment(id=req.id, missing_reason=f"judge error: {result.error}")
            continue
        parsed = parse_pointwise(result.text, rubric.scores)
        judgments[req.id] = Judgment(id=req.id, score=parsed.score, explanation=parsed.explanation, missing_reason=parsed.missing_reason,
                                     warnings=parsed.warnings, raw=result.text)
    return [judgments[p.id] for p in preds]


# --------------------------------------------------------------------------------------- pairwise
_OUTCOME = {("A", True): "A", ("B", True): "B", ("A", False): "B", ("B", False): "A"}


def _outcome(verdict: str | None, a_first: bool) -> str | None:
    if verdict is None:
        return None
    if verdict == "SAME":
        return "tie"
    return _OUTCOME[(verdict, a_first)]


_SHARE = {"A": 1.0, "tie": 0.5, "B": 0.0}


def judge_pairwise(preds_a: Sequence[Prediction], preds_b: Sequence[Prediction], rubric: Rubric, generator: Generator,
                   params: GenerationParams | None = None, progress: Progress | None = None,
                   usage: Usage | None = None) -> tuple[list[PairJudgment], list[str]]:
    """Judge every id present in both result sets in both orders; returns the judgments and the unmatched ids."""
    params = params or GenerationParams(max_new_tokens=512)
    usage = usage if usage is not None else Usage()
    by_id_b = {p.id: p for p in preds_b}
    ids_a = {p.id for p in preds_a}
    unmatched = sorted((ids_a - set(by_id_b)) | (set(by_id_b) - ids_a))
    pairs = [(a, by_id_b[a.id]) for a in preds_a if a.id in by_id_b]
    if not pairs:
        raise SftwiseError("the two results share no example ids; pairwise judging needs predictions for the same eval set")
    judgments: dict[str, PairJudgment] = {}
    requests = []
    for a, b in pairs:
        reason = _no_prediction(a) or _no_prediction(b)
        if reason:
            judgments[a.id] = PairJudgment(id=a.id, missing_reason=reason)
            continue
        reference = a.reference if a.reference is not None else b.reference
        for order, (first, second) in (("a", (a, b)), ("b", (b, a))):
            prompt = render_pairwise(rubric, a.system, a.messages, first.prediction or "", second.prediction or "", reference)
            requests.append(GenerationRequest(id=f"{a.id}\x1f{order}", messages=[{"role": "user", "content": prompt}]))
    replies: dict[str, dict[str, Any]] = {}
    for req, result in zip(requests, _generate(generator, requests, params, usage, progress)):
        item, order = req.id.rsplit("\x1f", 1)
        parsed = parse_pairwise(result.text) if result.error is None else None
        replies.setdefault(item, {})[order] = (parsed, result.error)
    for a, _ in pairs:
        if a.id in judgments:
            continue
        pj = PairJudgment(id=a.id)
        reasons = []
        for order in ("a", "b"):
            parsed, error = replies[a.id][order]
            label = "A first" if order == "a" else "B first"
            if parsed is None:
                reasons.append(f"{label}: judge error: {error}")
                continue
            if parsed.missing_reason:
                reasons.append(f"{label}: {parsed.missing_reason}")
            pj.warnings += [f"{label}: {w}" for w in parsed.warnings]
            setattr(pj, f"verdict_{order}_first", parsed.verdict)
            setattr(pj, f"outcome_{order}_first", _outcome(parsed.verdict, order == "a"))
            setattr(pj, f"explanation_{order}_first", parsed.explanation)
        outcomes = [o for o in (pj.outcome_a_first, pj.outcome_b_first) if o is not None]
        if outcomes:
            pj.score = sum(_SHARE[o] for o in outcomes) / len(outcomes)
        if len(outcomes) == 2:
            pj.consistent = pj.outcome_a_first == pj.outcome_b_first
        pj.missing_reason = "; ".join(reasons) or None
        judgments[a.id] = pj
    return [judgments[a.id] for a, _ in pairs], unmatched


def position_bias(judgments: Sequence[PairJudgment], alpha: float = 0.05) -> PositionBias:
    """How often the judge picks the first-shown response among decisive verdicts, tested against 0.5."""
    from scipy.stats import binomtest

    firsts = decisive = 0
    for j in judgments:
        for verdict in (j.verdict_a_first, j.verdict_b_first):
            if verdict in ("A", "B"):
                decisive += 1
                firsts += verdict == "A"
    a_first = mean_ci([_SHARE[j.outcome_a_first] if j.outcome_a_first else None for j in judgments])
    b_first = mean_ci([_SHARE[j.outcome_b_first] if j.outcome_b_first else None for j in judgments])
    if decisive == 0:
        return PositionBias(decisive_verdicts=0, first_position_rate=None, p_value=None, detected=False, win_rate_a_first=a_first,
                            win_rate_b_first=b_first, message="no decisive verdicts: position bias not computable")
    rate = firsts / decisive
    p = float(binomtest(firsts, decisive, 0.5).pvalue)
    detected = p < alpha
    side = "first" if rate > 0.5 else "second"
    if detected:
        message = (f"position bias detected: the judge picked the {side}-shown response in {max(rate, 1 - rate):.0%} of {decisive} decisive verdicts "
                   f"(binomial p={p:.2g}); A's win rate is {a_first.fmt(2)} when shown first and {b_first.fmt(2)} when shown second; "
                   "the both-orders win rate cancels it")
    else:
        message = f"no position bias detected: first-shown picked in {rate:.0%} of {decisive} decisive verdicts (binomial p={p:.2g})"
    return PositionBias(decisive_verdicts=decisive, first_position_rate=rate, p_value=p, detected=detected,
                        win_rate_a_first=a_first, win_rate_b_first=b_first, message=message)


# ------------------------------------------------------------------------------------- the command
def _reason_key(reason: str) -> str:
    """Group missing reasons by their kind (drop the quoted specifics)."""
    return reason.split(" (got")[0].split(": judge error")[0][:80]


def run_judge(results: str | Path, judge: str | Generator, rubric: Rubric, output: str | Path, against: str | Path | None = None,
              params: GenerationParams | None = None, price_input: float | None = None, price_output: float | None = None,
              progress_factory: Callable[[int], Progress] | None = None, cache: str | Path | None | bool = None,
              concurrency: int = 8, max_retries: int = 4) -> JudgeReport:
    """Judge a results directory and write a results directory at ``output`` with the judge's scores joined in.

    ``output`` gets ``predictions.jsonl`` (RESULTS' predictions with ``scores[metric]`` added),
    ``summary.json`` (RESULTS' summary plus the judge metric with its CI), ``judgments.jsonl`` (every
    reply, parsed, with the reason when missing) and ``judge.json`` (the :class:`JudgeReport`).
    """
    params = params or GenerationParams(max_new_tokens=512)
    require_at_least("max_tokens", params.max_new_tokens, 1)
    require_at_least("temperature", params.temperature, 0)
    require_at_least("price_input", price_input, 0)
    require_at_least("price_output", price_output, 0)
    require_at_least("concurrency", concurrency, 1)
    require_at_least("max_retries", max_retries, 0)
    loaded = read_results(results)
    preds, summary = loaded.predictions, loaded.summary
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise ParameterError("output", f"{output} is a file; the judge writes a results directory.")
    if against is not None and Path(against).resolve() == out.resolve():
        raise ParameterError("output", f"{output} is the against results directory; write the judged results elsewhere.")
    if Path(results).resolve() == out.resolve():  # its predictions.jsonl and summary.json would be replaced
        raise ParameterError("output", f"{output} is the judged results directory; sftwise never overwrites its inputs: write the judged results elsewhere.")
    generator = resolve_generator(judge, cache, concurrency, max_retries)
    usage = Usage()
    if against is None:
        progress = progress_factory(len(preds)) if progress_factory else None
        judgments: list[Any] = judge_pointwise(preds, rubric, generator, params, progress=progress, usage=usage)
        metric = rubric.metric_name
        values = {j.id: (float(j.score) if j.score is not None else None) for j in judgments}
        sig = signature(generator, rubric, "pointwise", params, 0)
        report = JudgeReport(mode="pointwise", rubric=rubric.name, judge=generator.name, metric=metric, signature=sig, n=len(judgments),
                             n_scored=sum(v is not None for v in values.values()), n_missing=sum(v is None for v in values.values()))
        report.mean_score = mean_ci(list(values.values()))
        report.score_counts = {str(s): c for s, c in sorted(Counter(j.score for j in judgments if j.score is not None).items())}
    else:
        other = read_results(against)
        preds_b, summary_b = other.predictions, other.summary
        progress = progress_factory(2 * len(preds)) if progress_factory else None
        judgments, unmatched = judge_pairwise(preds, preds_b, rubric, generator, params, progress=progress, usage=usage)
        metric = f"{rubric.metric_name}:win_rate"
        values = {j.id: j.score for j in judgments}
        sig = signature(generator, rubric, "pairwise-both-orders", params, 0)
        report = JudgeReport(mode="pairwise", rubric=rubric.name, judge=generator.name, metric=metric, signature=sig, n=len(judgments),
                             n_scored=sum(v is not None for v in values.values()), n_missing=sum(v is None for v in values.values()),
                             unmatched_ids=unmatched)
        report.model_a = summary.model if summary else str(results)
        report.model_b = summary_b.model if summary_b else str(against)
        report.win_rate = mean_ci(list(values.values()))
        report.wins = sum(1 for v in values.values() if v is not None and v > 0.5)
        report.ties = sum(1 for v in values.values() if v == 0.5)
        report.losses = sum(1 for v in values.values() if v is not None and v < 0.5)
        report.position_consistency = mean_ci([float(j.consistent) if j.consistent is not None else None for j in judgments])
        report.position_bias = position_bias(judgments)
    reasons = Counter(_reason_key(j.missing_reason) for j in judgments if j.missing_reason)
    report.missing_reasons = dict(reasons.most_common())
    report.empty_explanations = sum(1 for j in judgments for w in j.warnings if w.endswith("empty explanation"))
    usage.price(price_input, price_output)
    report.usage = usage

    # join the scores into the results directory
    for pred in preds:
        if pred.id in values:
            pred.scores[metric] = values[pred.id]
    summary = summary or EvalSummary(model="unknown", data=str(results), n_examples=len(preds))
    estimate = report.mean_score if report.mode == "pointwise" else report.win_rate
    if estimate is not None and estimate.value is not None:
        summary.metrics[metric] = MetricSummary(name=metric, value=estimate.value, ci_low=estimate.ci_low, ci_high=estimate.ci_high,
                                                n=estimate.n, signature=sig)
    summary.settings.setdefault("judges", {})[metric] = {"judge": generator.name, "rubric": rubric.name, "signature": sig,
                                                         "against": str(against) if against else None}
    out.mkdir(parents=True, exist_ok=True)
    src = loaded.path.parent
    if src.resolve() != out.resolve():
        for extra in src.iterdir():  # carry other files of the results dir along (plots, eval settings)
            if extra.is_file() and extra.name not in (PREDICTIONS_FILE, SUMMARY_FILE, JUDGMENTS_FILE, REPORT_FILE) and not (out / extra.name).exists():
                shutil.copy2(extra, out / extra.name)
    write_jsonl(out / PREDICTIONS_FILE, preds)
    write_json(out / SUMMARY_FILE, summary)
    write_jsonl(out / JUDGMENTS_FILE, judgments)
    write_json(out / REPORT_FILE, report)
    return report


def load_judgments(path: str | Path) -> tuple[JudgeReport, list[Judgment] | list[PairJudgment]]:
    """Read back a judge output directory (for ``calibrate``)."""
    folder = Path(path)
    if not (folder / REPORT_FILE).is_file() or not (folder / JUDGMENTS_FILE).is_file():
        raise SftwiseError(f"{path}: not a judge output directory (expected {REPORT_FILE} and {JUDGMENTS_FILE}; run `sftwise judge` first)")
    try:
        report = JudgeReport.model_validate_json(read_text(folder / REPORT_FILE))
    except ValueError as exc:  # pydantic's ValidationError, for broken JSON too
        raise SftwiseError(f"{folder / REPORT_FILE}: not a judge report ({first_line(exc)}); run `sftwise judge` again to rewrite it.") from None
    model = Judgment if report.mode == "pointwise" else PairJudgment
    return report, read_jsonl(folder / JUDGMENTS_FILE, model.model_validate, what=f"a {report.mode} judgment")
