"""What ``sftwise run`` remembers in a run directory, so that a re-run continues where it stopped.

Each step records a fingerprint: a hash of the config it read, the contents of its input files and
the fingerprints of the steps it depends on. A re-run skips every step whose fingerprint is unchanged
and whose outputs are all present; a changed config therefore invalidates exactly the steps whose
inputs it touches, and everything downstream of them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from sftwise.errors import ParameterError, SftwiseError

from sftwise.io import describe_error, read_text, write_json

STATE_FILE = "pipeline_state.json"
STATE_VERSION = 1


class StepState(BaseModel):
    status: Literal["done", "failed", "running", "skipped"]
    fingerprint: str
    started: str | None = None
    finished: str | None = None
    error: str | None = None
    outputs: list[str] = Field(default_factory=list)
    summary: str = ""


class PipelineState(BaseModel):
    state_version: int = STATE_VERSION
    sftwise_version: str
    steps: dict[str, StepState] = Field(default_factory=dict)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def fingerprint(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def load_state(run_dir: Path) -> PipelineState:
    from sftwise import __version__

    path = run_dir / STATE_FILE
    if not path.exists():
        return PipelineState(sftwise_version=__version__)
    damaged = f"; move it away to start the run afresh (every step runs again)"
    try:
        raw = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise SftwiseError(f"{path} is corrupt ({exc.msg}){damaged}") from exc
    if not isinstance(raw, dict):
        raise SftwiseError(f"{path} is corrupt (a JSON {type(raw).__name__}, not the state object sftwise writes){damaged}")
    version = raw.get("state_version")
    if version != STATE_VERSION:
        raise ParameterError(
            "run_dir",
            f"{run_dir} was written by sftwise {raw.get('sftwise_version', '?')} (state format {version}); this is "
            f"sftwise {__version__} (state format {STATE_VERSION}). Use a new run directory or delete {path} to redo every step.",
        )
    try:
        return PipelineState.model_validate(raw)
    except ValueError as exc:  # pydantic's ValidationError
        why = "; ".join(describe_error(err) for err in exc.errors()) if hasattr(exc, "errors") else str(exc)
        raise SftwiseError(f"{path} is corrupt ({why}){damaged}") from None


def save_state(run_dir: Path, state: PipelineState) -> None:
    write_json(run_dir / STATE_FILE, state)
