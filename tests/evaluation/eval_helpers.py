"""Helpers shared by the evaluation tests (a uniquely named module, so no clash with other conftests)."""

from __future__ import annotations

import json
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
GSM8K = SHARED_DATA / "gsm8k"


def gemini_row(prompt: str, answer: str | None, system: str | None = None) -> dict:
    contents = [{"role": "user", "parts": [{"text": prompt}]}]
    if answer is not None:
        contents.append({"role": "model", "parts": [{"text": answer}]})
    row: dict = {"contents": contents}
    if system:
        row["systemInstruction"] = {"role": "system", "parts": [{"text": system}]}
    return row


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path
