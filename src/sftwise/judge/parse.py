"""Reading a judge's reply: a JSON object with a score (or verdict) and an explanation.

The rule is "never guess": a reply that holds no parseable JSON object, a score that is not one of
the rubric's levels, or a verdict that is not A/SAME/B is recorded as missing with the reason, never
mapped to the lowest score. Accepted leniencies, each unambiguous: a JSON object inside a ```json
fence or surrounded by prose (the last complete object wins), a score given as a numeric string
("4") or an integral float (4.0), and lower-case verdicts or "tie" for SAME.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

VERDICTS = {"A": "A", "B": "B", "SAME": "SAME", "TIE": "SAME", "EQUAL": "SAME"}


class Parsed(BaseModel):
    score: int | None = None
    verdict: str | None = None  # "A" | "B" | "SAME" as shown to the judge (positions, not models)
    explanation: str = ""
    missing_reason: str | None = None
    warnings: list[str] = []


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object in ``text``, in order (fenced or bare)."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    i = 0
    while True:
        start = text.find("{", i)
        if start < 0:
            return found
        try:
            obj, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            i = start + 1
            continue
        if isinstance(obj, dict):
            found.append(obj)
        i = end


def _explanation(obj: dict[str, Any], warnings: list[str]) -> str:
    text = obj.get("explanation", obj.get("reason", obj.get("rationale", "")))
    text = text if isinstance(text, str) else json.dumps(text)
    if not text.strip():
        warnings.append("empty explanation")
    return text.strip()


def _last_object(text: str | None, keys: tuple[str, ...], what: str) -> dict[str, Any] | Parsed:
    """The last JSON object holding one of ``keys``, or a missing Parsed saying why there is none."""
    if text is None or not text.strip():
        return Parsed(missing_reason="empty reply")
    objects = [o for o in _json_objects(text) if any(k in o for k in keys)]
    if not objects:
        snippet = re.sub(r"\s+", " ", text.strip())[:80]
        return Parsed(missing_reason=f"no JSON object with a {what} in the reply (got prose: {snippet!r})")
    return objects[-1]


def parse_pointwise(text: str | None, scale: list[int]) -> Parsed:
    obj = _last_object(text, ("score", "rating"), "score")
    if isinstance(obj, Parsed):
        return obj
    warnings: list[str] = []
    explanation = _explanation(obj, warnings)
    raw = obj.get("score", obj.get("rating"))
    score: int | None = None
    if isinstance(raw, bool):
        raw = None
    if isinstance(raw, int):
        score = raw
    elif isinstance(raw, float) and raw.is_integer():
        score = int(raw)
    elif isinstance(raw, str) and re.fullmatch(r"\s*-?\d+(\.0+)?\s*", raw):
        score = int(float(raw))
    if score is None:
        return Parsed(explanation=explanation, missing_reason=f"score {raw!r} is not an integer", warnings=warnings)
    if score not in scale:
        return Parsed(explanation=explanation, missing_reason=f"score {score} is outside the scale {min(scale)}..{max(scale)}", warnings=warnings)
    return Parsed(score=score, explanation=explanation, warnings=warnings)


def parse_pairwise(text: str | None) -> Parsed:
    obj = _last_object(text, ("verdict", "pairwise_choice", "choice"), "verdict")
    if isinstance(obj, Parsed):
        return obj
    warnings: list[str] = []
    explanation = _explanation(obj, warnings)
    raw = obj.get("verdict", obj.get("pairwise_choice", obj.get("choice")))
    verdict = VERDICTS.get(str(raw).strip().upper()) if isinstance(raw, str) else None
    if verdict is None:
        return Parsed(explanation=explanation, missing_reason=f"verdict {raw!r} is not one of A, SAME, B", warnings=warnings)
    return Parsed(verdict=verdict, explanation=explanation, warnings=warnings)
