"""Constants and record builders shared by the Vertex AI tests (a module of its own: each test folder's
``conftest`` is a different module of the same name, so tests import helpers from here)."""

from __future__ import annotations

import json
from pathlib import Path

PROJECT, LOCATION = "demo-project", "us-central1"


def write_gemini(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def example(user: str = "Where is my order 123?", model: str = '{"team": "shipping"}', system: str | None = "Route tickets.") -> dict:
    row: dict = {"contents": [{"role": "user", "parts": [{"text": user}]}, {"role": "model", "parts": [{"text": model}]}]}
    if system:
        row["systemInstruction"] = {"role": "system", "parts": [{"text": system}]}
    return row
