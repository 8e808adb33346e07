"""Rubrics as data: a YAML file per rubric, validated by pydantic, rendered into judge prompts.

A rubric names what is judged (``criteria``), the score scale with one description per level, an
optional reference answer policy and optional few-shot graded examples. The prompt layout follows
Vertex AI's rubric template: instruction, metric definition, criteria, rating rubric (one line per
score), evaluation steps, optional graded examples, the inputs, then the response(s).

A typo'd key is an error naming the key, the file and line, and the closest valid key::

    rubric.yaml:7: unknown key 'critera' in rubric; did you mean 'criteria'?
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sftwise.errors import SftwiseError
from sftwise.io import config_error, load_yaml_with_lines, read_text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScaleLevel(_Strict):
    score: int
    description: str = Field(min_length=1)


class GradedExample(_Strict):
    """A few-shot example: the inputs, the response and the grade the judge should have given."""

    prompt: str
    response: str
    reference: str | None = None
    score: int | None = None  # pointwise grade
    response_b: str | None = None  # pairwise: the second response
    verdict: Literal["A", "B", "SAME"] | None = None  # pairwise grade
    explanation: str = ""


class Rubric(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    metric_definition: str = Field(min_length=1)
    criteria: dict[str, str] = Field(min_length=1)
    scale: list[ScaleLevel] = Field(min_length=2)
    evaluation_steps: list[str] = Field(default_factory=list)
    use_reference: bool = False  # show the reference answer to the judge
    reference_answer: str | None = None  # a fixed reference for every item (task-specific rubrics)
    examples: list[GradedExample] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_scale(self) -> Rubric:
        scores = [level.score for level in self.scale]
        if len(set(scores)) != len(scores):
            raise ValueError(f"scale scores must be distinct, got {scores}")
        lo, hi = min(scores), max(scores)
        for example in self.examples:
            if example.score is not None and not lo <= example.score <= hi:
                raise ValueError(f"example score {example.score} is outside the scale {lo}..{hi}")
        self.scale.sort(key=lambda level: level.score, reverse=True)
        return self

    @property
    def scores(self) -> list[int]:
        return sorted(level.score for level in self.scale)

    @property
    def low(self) -> int:
        return min(self.scores)

    @property
    def high(self) -> int:
        return max(self.scores)

    @property
    def metric_name(self) -> str:
        return f"judge:{self.name}"


# ----------------------------------------------------------------------------------------- loading
BUILTIN_DIR = "rubrics"


def builtin_rubrics() -> list[str]:
    folder = resources.files("sftwise.judge") / BUILTIN_DIR
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_rubric(name_or_path: str | Path) -> Rubric:
    """A built-in rubric by name (``fluency``) or a user YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise SftwiseError(f"rubric file {path} does not exist; built-in rubrics are: {', '.join(builtin_rubrics())}")
        return parse_rubric(read_text(path), str(path))
    names = builtin_rubrics()
    if str(name_or_path) not in names:
        close = difflib.get_close_matches(str(name_or_path), names, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise SftwiseError(f"unknown rubric '{name_or_path}'; {hint}built-in rubrics are: {', '.join(names)}, or give a path to a YAML file")
    text = (resources.files("sftwise.judge") / BUILTIN_DIR / f"{name_or_path}.yaml").read_text(encoding="utf-8")
    return parse_rubric(text, f"<built-in rubric {name_or_path}>")


def parse_rubric(text: str, origin: str) -> Rubric:
    """Validate rubric YAML ``text``; ``origin`` (a file name) and the line of each bad key are named."""
    data, lines = load_yaml_with_lines(text, origin, mapping_of=f"rubric keys ({', '.join(Rubric.model_fields)})")
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        raise config_error("rubric", exc, lines, origin, Rubric) from None


# ---------------------------------------------------------------------------------------- prompts
def _format_messages(system: str | None, messages: list[dict[str, str]]) -> str:
    parts = [f"[system] {system}"] if system else []
    if len(messages) == 1 and messages[0].get("role") == "user":
        parts.append(messages[0].get("content", ""))
    else:
        parts.extend(f"[{m.get('role', 'user')}] {m.get('content', '')}" for m in messages)
    return "\n".join(parts)


def _common_header(rubric: Rubric, pairwise: bool) -> list[str]:
    what = "two AI-generated responses" if pairwise else "an AI-generated response"
    lines = [
        "# Instruction",
        f"You are an expert evaluator. Your task is to evaluate the quality of {what}.",
        "Read the user input carefully, then assess the response(s) against the criteria and the rating rubric below.",
        "Give your step-by-step explanation first, then the rating.",
        "",
        "# Evaluation",
        "## Metric Definition",
        rubric.metric_definition.strip(),
        "",
        "## Criteria",
    ]
    lines += [f"{name}: {text.strip()}" for name, text in rubric.criteria.items()]
    lines += ["", "## Rating Rubric"]
    if pairwise:
        lines += [
            '"A": Response A is better than Response B on the criteria.',
            '"SAME": Response A and Response B are equally good (or equally bad) on the criteria.',
            '"B": Response B is better than Response A on the criteria.',
            "",
            "## Scale used to judge each response",
        ]
    lines += [f"{level.score}: {level.description.strip()}" for level in rubric.scale]
    steps = rubric.evaluation_steps or (
        ["Analyse Response A and Response B against each criterion.", "Compare their overall quality using the rubric.", "Choose A, SAME or B and explain why."]
        if pairwise
        else ["Assess the response against each criterion.", "Score it using the rating rubric.", "Explain the score."]
    )
    lines += ["", "## Evaluation Steps"] + [f"STEP {i}: {step.strip()}" for i, step in enumerate(steps, 1)]
    return lines


def _reference_of(rubric: Rubric, reference: str | None) -> str | None:
    if rubric.reference_answer:
        return rubric.reference_answer
    return reference if rubric.use_reference else None


def render_pointwise(rubric: Rubric, system: str | None, messages: list[dict[str, str]], response: str, reference: str | None = None,
                     extra_examples: list[GradedExample] | None = None) -> str:
    """The judge prompt for one response; the judge is asked for ``{"explanation": ..., "score": N}``."""
    lines = _common_header(rubric, pairwise=False)
    examples = list(rubric.examples) + list(extra_examples or [])
    examples = [e for e in examples if e.score is not None]
    if examples:
        lines += ["", "## Graded Examples"]
        for i, ex in enumerate(examples, 1):
            lines += [f"### Example {i}", "User input:", ex.prompt.strip()]
            if ex.reference and _reference_of(rubric, ex.reference):
                lines += ["Reference answer:", ex.reference.strip()]
            lines += ["Response:", ex.response.strip(), f'Rating: {{"explanation": {_json_str(ex.explanation)}, "score": {ex.score}}}', ""]
    ref = _reference_of(rubric, reference)
    lines += ["", "# User Inputs and AI-generated Response", "## User Inputs", "### Prompt", _format_messages(system, messages)]
    if ref:
        lines += ["### Reference answer", ref]
    lines += ["", "## AI-generated Response", response, ""]
    lines += [
        "# Output format",
        f'Reply with one JSON object and nothing else: {{"explanation": "<your reasoning>", "score": <integer, one of {", ".join(map(str, rubric.scores))}>}}',
    ]
    return "\n".join(lines)


def render_pairwise(rubric: Rubric, system: str | None, messages: list[dict[str, str]], response_a: str, response_b: str,
                    reference: str | None = None) -> str:
    """The judge prompt for two responses; the judge is asked for ``{"explanation": ..., "verdict": "A"|"SAME"|"B"}``."""
    lines = _common_header(rubric, pairwise=True)
    examples = [e for e in rubric.examples if e.verdict is not None and e.response_b is not None]
    if examples:
        lines += ["", "## Graded Examples"]
        for i, ex in enumerate(examples, 1):
            lines += [f"### Example {i}", "User input:", ex.prompt.strip(), "Response A:", ex.response.strip(), "Response B:",
                      (ex.response_b or "").strip(), f'Rating: {{"explanation": {_json_str(ex.explanation)}, "verdict": "{ex.verdict}"}}', ""]
    ref = _reference_of(rubric, reference)
    lines += ["", "# User Inputs and AI-generated Responses", "## User Inputs", "### Prompt", _format_messages(system, messages)]
    if ref:
        lines += ["### Reference answer", ref]
    lines += ["", "## AI-generated Responses", "### Response A", response_a, "", "### Response B", response_b, ""]
    lines += ["# Output format", 'Reply with one JSON object and nothing else: {"explanation": "<your reasoning>", "verdict": "A" | "SAME" | "B"}']
    return "\n".join(lines)


def _json_str(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)
