"""Calibrating an autorater against human labels, and picking the judge configuration closest to them.

Raw agreement overstates (a judge that always says "pass" can reach 0.86 accuracy at kappa 0.19), so
every comparison reports exact and ±1 agreement, Cohen's kappa plain and quadratic-weighted, Spearman,
Kendall, the bias (mean judge − human) and the confusion matrix, each with a bootstrap CI.

The labelled items are split once, with a seed, into a *tuning* part and a *held-out* part. Candidate
judge configurations (rubric wording, few-shot examples, judge model) are ranked on the tuning part
(few-shot examples drawn from human labels come from the tuning part too and are not scored); the
chosen one's agreement is then reported on the held-out part, which took no part in the choice.

The verdict compares the judge with the humans the way the MT-Bench study did: the judge's mean
agreement with each annotator against the annotators' mean agreement with each other. With a single
annotator inter-annotator agreement is not computable, and the verdict says so.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from sftwise.backends.base import GenerationParams, Generator
from sftwise.evaluate.results import Prediction
from sftwise.findings import Finding
from sftwise.errors import ParameterError, SftwiseError
from sftwise.judge.autorater import Judgment, PairJudgment, judge_pointwise, load_judgments, resolve_generator
from sftwise.judge.rubric import GradedExample, Rubric, load_rubric
from sftwise.judge.stats import Agreement, agreement
from sftwise.judge.labels import Label, check_ids
from sftwise.io import read_text

PREF_CODE = {"A": 2.0, "tie": 1.0, "B": 0.0}
TOLERANCE = 0.05  # kappa points within which "as well as" holds


class PairAgreement(BaseModel):
    rater_a: str
    rater_b: str
    n: int
    kappa: float | None
    exact: float | None


class InterAnnotator(BaseModel):
    computable: bool
    note: str
    annotators: list[str]
    pairs: list[PairAgreement] = Field(default_factory=list)
    mean_kappa: float | None = None  # quadratic-weighted for scores, plain for preferences
    mean_exact: float | None = None


class Candidate(BaseModel):
    name: str
    source: str
    selection_kappa: float | None  # on the tuning part; the ranking key
    heldout: Agreement
    overall: Agreement
    judge_vs_annotators: float | None  # mean kappa with each annotator, all labelled items
    position_consistency: float | None = None
    n_missing: int = 0


class CalibrationReport(BaseModel):
    mode: Literal["pointwise", "pairwise"]
    scale: list[float]
    kappa_kind: str
    n_labels: int
    n_items: int
    annotators: list[str]
    findings: list[Finding] = Field(default_factory=list)
    tuning_ids: list[str] = Field(default_factory=list)
    heldout_ids: list[str] = Field(default_factory=list)
    inter_annotator: InterAnnotator
    candidates: list[Candidate]
    chosen: str
    verdict: str
    seed: int


# ---------------------------------------------------------------------------------------- labels
def label_table(labels: Sequence[Label], mode: str) -> dict[str, dict[str, float]]:
    """item id → annotator → numeric label (score, or A=2 / tie=1 / B=0)."""
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for lab in labels:
        if mode == "pointwise" and lab.score is not None:
            table[lab.item_id][lab.annotator] = float(lab.score)
        elif mode == "pairwise" and lab.preference is not None:
            table[lab.item_id][lab.annotator] = PREF_CODE[lab.preference]
    return dict(table)


def consensus(values: Sequence[float], scale: Sequence[float]) -> float:
    """Median of the annotators' labels, snapped to the nearest scale level (ties towards the lower one)."""
    med = statistics.median(values)
    return min(scale, key=lambda s: (abs(s - med), s))


def inter_annotator(table: dict[str, dict[str, float]], scale: Sequence[float], weights: str | None) -> InterAnnotator:
    from sftwise.judge.stats import cohen_kappa, paired

    annotators = sorted({a for row in table.values() for a in row})
    if len(annotators) < 2:
        who = annotators[0] if annotators else "nobody"
        return InterAnnotator(computable=False, annotators=annotators,
                              note=f"not computable: only one annotator ({who}) labelled these items; label some items twice "
                                   "with a second annotator to know how well humans agree with each other")
    pairs = []
    for a, b in itertools.combinations(annotators, 2):
        xs = [row.get(a) for row in table.values()]
        ys = [row.get(b) for row in table.values()]
        x, y = paired(xs, ys)
        if len(x) < 2:
            continue
        k = cohen_kappa(x, y, weights, scale)
        pairs.append(PairAgreement(rater_a=a, rater_b=b, n=len(x), kappa=None if math.isnan(k) else k, exact=float(np.mean(x == y))))
    kappas = [p.kappa for p in pairs if p.kappa is not None]
    if not pairs or not kappas:
        return InterAnnotator(computable=False, annotators=annotators, pairs=pairs,
                              note="not computable: no two annotators labelled the same items (at least 2 shared items needed)")
    return InterAnnotator(computable=True, annotators=annotators, pairs=pairs, note=f"{len(pairs)} annotator pair(s)",
                          mean_kappa=float(np.mean(kappas)), mean_exact=float(np.mean([p.exact for p in pairs])))


def split_items(ids: Sequence[str], holdout: float, seed: int) -> tuple[list[str], list[str]]:
    if not 0 < holdout < 1:
        raise ParameterError("holdout", f"must be between 0 and 1 (exclusive), got {holdout}.")
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    cut = max(1, round(len(order) * holdout)) if len(order) > 1 else 0
    return sorted(order[cut:]), sorted(order[:cut])


# ------------------------------------------------------------------------------------- candidates
class JudgeRun(BaseModel):
    """One judge configuration's numeric labels per item (scores, or A=2/tie=1/B=0)."""

    name: str
    source: str
    mode: Literal["pointwise", "pairwise"]
    values: dict[str, float | None]
    excluded: list[str] = Field(default_factory=list)  # items shown to this judge as few-shot examples
    position_consistency: float | None = None


def run_from_judgments(name: str, source: str, judgments: Sequence[Judgment] | Sequence[PairJudgment],
                       position_consistency: float | None = None) -> JudgeRun:
    values: dict[str, float | None] = {}
    mode: Literal["pointwise", "pairwise"] = "pointwise"
    for j in judgments:
        if isinstance(j, PairJudgment):
            mode = "pairwise"
            values[j.id] = None if j.score is None else (2.0 if j.score > 0.5 else 0.0 if j.score < 0.5 else 1.0)
        else:
            values[j.id] = None if j.score is None else float(j.score)
    return JudgeRun(name=name, source=source, mode=mode, values=values, position_consistency=position_consistency)


def load_judge_run(path: str | Path) -> tuple[JudgeRun, list[float]]:
    report, judgments = load_judgments(path)
    pc = report.position_consistency.value if report.position_consistency else None
    judge = report.judge.split("@", 1)[0]  # the model, without the server URL
    run = run_from_judgments(f"{judge} / {report.rubric}", str(path), judgments, pc)
    scale = [0.0, 1.0, 2.0] if report.mode == "pairwise" else [float(s) for s in load_rubric_scale(report.rubric, judgments)]
    return run, scale


def load_rubric_scale(name: str, judgments: Sequence[Judgment]) -> list[int]:
    try:
        return load_rubric(name).scores
    except SftwiseError:  # a user rubric file no longer at hand: the scores seen
        seen = sorted({j.score for j in judgments if j.score is not None})
        return list(range(seen[0], seen[-1] + 1)) if seen else [0, 1]


# ------------------------------------------------------------------------------------ calibration
def calibrate(labels: Sequence[Label], runs: Sequence[JudgeRun], scale: Sequence[float], known_ids: Sequence[str] | None = None,
              holdout: float = 0.5, seed: int = 0, resamples: int = 1000) -> CalibrationReport:
    if not runs:
        raise ParameterError("runs", "give at least one judge run to calibrate.")
    names = [r.name for r in runs]
    runs = [r.model_copy(update={"name": f"{r.name} ({Path(r.source).name})"}) if names.count(r.name) > 1 else r for r in runs]
    modes = {r.mode for r in runs}
    if len(modes) > 1:
        raise SftwiseError("judge results mix pointwise and pairwise runs; calibrate one kind at a time")
    mode = runs[0].mode
    known = set(known_ids) if known_ids is not None else set().union(*(r.values for r in runs))
    findings = check_ids(labels, known)
    usable = [lab for lab in labels if lab.item_id in known]
    table = label_table(usable, mode)
    if not table:
        kind = "scores" if mode == "pointwise" else "preferences (A/B/tie)"
        raise SftwiseError(f"no human {kind} refer to the judged example ids ({len(findings)} label(s) had unknown ids); "
                           "check that the labels were made on the same results")
    weights = "quadratic" if mode == "pointwise" else None
    scale = sorted(float(s) for s in scale)
    off_scale = sorted({v for row in table.values() for v in row.values() if v not in scale})
    if off_scale:
        raise SftwiseError(f"human scores {off_scale} are outside the judge's scale {scale}; were they made with another rubric?")
    iaa = inter_annotator(table, scale, weights)
    human = {item: consensus(list(row.values()), scale) for item, row in table.items()}
    tuning, heldout = split_items(list(human), holdout, seed)
    annotators = sorted({a for row in table.values() for a in row})

    def agree(run: JudgeRun, ids: Sequence[str]) -> Agreement:
        ids = [i for i in ids if i not in run.excluded]
        return agreement([run.values.get(i) for i in ids], [human[i] for i in ids], scale, resamples=resamples, seed=seed)

    candidates = []
    for run in runs:
        from sftwise.judge.stats import cohen_kappa, paired

        sel_ids = [i for i in (tuning or heldout) if i not in run.excluded]
        x, y = paired([run.values.get(i) for i in sel_ids], [human[i] for i in sel_ids])
        kappa_sel = cohen_kappa(x, y, weights, scale) if len(x) else float("nan")
        kappa_sel = None if math.isnan(kappa_sel) else kappa_sel
        per_annotator = []
        for ann in annotators:
            x, y = paired([run.values.get(i) for i in table], [table[i].get(ann) for i in table])
            k = cohen_kappa(x, y, weights, scale) if len(x) >= 2 else float("nan")
            if not math.isnan(k):
                per_annotator.append(k)
        candidates.append(Candidate(name=run.name, source=run.source, selection_kappa=kappa_sel, heldout=agree(run, heldout),
                                    overall=agree(run, list(human)), judge_vs_annotators=float(np.mean(per_annotator)) if per_annotator else None,
                                    position_consistency=run.position_consistency,
                                    n_missing=sum(1 for i in human if run.values.get(i) is None)))
    best = max(candidates, key=lambda c: -math.inf if c.selection_kappa is None else c.selection_kappa)
    return CalibrationReport(mode=mode, scale=scale, kappa_kind="quadratic-weighted" if weights else "plain", n_labels=len(usable),
                             n_items=len(human), annotators=annotators, findings=findings, tuning_ids=tuning, heldout_ids=heldout,
                             inter_annotator=iaa, candidates=candidates, chosen=best.name, verdict=_verdict(best, iaa, weights), seed=seed)


def _verdict(best: Candidate, iaa: InterAnnotator, weights: str | None) -> str:
    kind = "quadratic-weighted kappa" if weights else "kappa"
    held = best.heldout.kappa_quadratic if weights else best.heldout.kappa
    judge_k = best.judge_vs_annotators
    if judge_k is None:
        return f"Judge {best.name}: agreement with your annotators is not computable (too few scored items)."
    if not iaa.computable or iaa.mean_kappa is None:
        level = "substantial" if judge_k >= 0.6 else "moderate" if judge_k >= 0.4 else "weak"
        return (f"Judge {best.name} reaches {kind} {judge_k:.2f} with your annotator ({level} agreement; held-out {held.fmt(2)}); "
                f"whether it agrees as well as humans agree with each other cannot be said: inter-annotator agreement is {iaa.note}.")
    if judge_k >= iaa.mean_kappa - TOLERANCE:
        return (f"Judge {best.name} agrees with your annotators as well as they agree with each other: {kind} {judge_k:.2f} "
                f"judge-human vs {iaa.mean_kappa:.2f} human-human (held-out {held.fmt(2)}).")
    return (f"Judge {best.name} does not agree with your annotators as well as they agree with each other: {kind} {judge_k:.2f} "
            f"judge-human vs {iaa.mean_kappa:.2f} human-human (held-out {held.fmt(2)}); keep a human check, or try another rubric or judge.")


# ------------------------------------------------------------------------------------------ search
class JudgeConfig(BaseModel):
    """One point of the search: a judge, a rubric (name or file) and how many human-labelled few-shot examples."""

    judge: str
    rubric: str
    few_shot: int = 0

    @property
    def name(self) -> str:
        return f"{self.judge} / {Path(self.rubric).stem} / {self.few_shot}-shot"


def search(preds: Sequence[Prediction], labels: Sequence[Label], configs: Sequence[JudgeConfig],
           make_generator: Callable[[str], Generator] = resolve_generator, holdout: float = 0.5, seed: int = 0,
           params: GenerationParams | None = None, resamples: int = 1000,
           progress: Callable[[int], None] | None = None) -> CalibrationReport:
    """Run every pointwise configuration on the labelled predictions and calibrate them together."""
    if not configs:
        raise SftwiseError("the search grid is empty: give at least one judge and one rubric")
    by_id = {p.id: p for p in preds}
    usable = [lab for lab in labels if lab.item_id in by_id and lab.score is not None]
    rubrics = {c.rubric: load_rubric(c.rubric) for c in configs}
    scales = {tuple(r.scores) for r in rubrics.values()}
    if len(scales) > 1:
        raise SftwiseError(f"the rubrics in the grid use different scales {sorted(scales)}; compare rubrics that share a scale")
    scale = list(next(iter(scales)))
    table = label_table(usable, "pointwise")
    human = {item: consensus(list(row.values()), scale) for item, row in table.items()}
    tuning, _ = split_items(list(human), holdout, seed)
    generators: dict[str, Generator] = {}
    runs = []
    for cfg in configs:
        rubric: Rubric = rubrics[cfg.rubric]
        shots = sorted(tuning)[: cfg.few_shot]
        examples = [GradedExample(prompt=_prompt_text(by_id[i]), response=by_id[i].prediction or "", reference=by_id[i].reference,
                                  score=int(human[i]), explanation="graded by your annotators") for i in shots]
        if cfg.judge not in generators:
            generators[cfg.judge] = make_generator(cfg.judge)
        items = [by_id[i] for i in human]
        judgments = judge_pointwise(items, rubric, generators[cfg.judge], params, extra_examples=examples, progress=progress)
        run = run_from_judgments(cfg.name, f"search: {cfg.model_dump_json()}", judgments)
        run.excluded = shots
        runs.append(run)
    return calibrate(labels, runs, scale, known_ids=list(by_id), holdout=holdout, seed=seed, resamples=resamples)


def _prompt_text(pred: Prediction) -> str:
    parts = [f"[system] {pred.system}"] if pred.system else []
    parts += [m.get("content", "") for m in pred.messages]
    return "\n".join(parts)


class Grid(BaseModel):
    """The ``--search`` YAML: every combination of judges × rubrics × few_shot is tried."""

    model_config = {"extra": "forbid"}
    judges: list[str] = Field(min_length=1)
    rubrics: list[str] = Field(min_length=1)
    few_shot: list[int] = Field(default_factory=lambda: [0])


def load_grid(path: str | Path) -> list[JudgeConfig]:
    import yaml
    from pydantic import ValidationError

    file = Path(path)
    if not file.is_file():
        raise SftwiseError(f"search grid {path} does not exist")
    try:
        data = yaml.safe_load(read_text(file, str(path)))
        grid = Grid.model_validate(data)
    except yaml.YAMLError as exc:
        raise SftwiseError(f"{path}: not valid YAML ({exc})") from None
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'grid'}: {e['msg']}" for e in exc.errors())
        raise SftwiseError(f"{path}: {errs} (expected keys: judges, rubrics, few_shot)") from None
    return [JudgeConfig(judge=j, rubric=r, few_shot=k) for j in grid.judges for r in grid.rubrics for k in grid.few_shot]
