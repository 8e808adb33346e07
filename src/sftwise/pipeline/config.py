"""The ``sftwise run`` config: one YAML file naming the data, the model, and what each step does.

Unknown keys and wrong types are errors that name the key and its line in the YAML file
(pydantic's ``extra="forbid"`` plus a YAML loader that remembers where each key was).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sftwise.errors import SftwiseError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    train: str
    validation: str | None = None
    test: str | None = None
    format: str | None = Field(None, description="input format; detected from the file when omitted")


class ModelConfig(_Strict):
    base: str = Field(description="the model to tune: a local HF directory, a hub id, 'tiny' (built locally), or gemini-*")
    candidates: list[str] = Field(default_factory=list, description="other base models to baseline beside it (e.g. a smaller, cheaper one)")
    max_length: int = 1024


class AuditStepConfig(_Strict):
    enabled: bool = True
    max_tokens: int | None = None
    force: bool = Field(False, description="continue past error-level findings")


class SplitStepConfig(_Strict):
    enabled: bool = Field(False, description="split the train file into train/validation/test (leakage-safe)")
    dedup: bool = Field(True, description="drop exact and near duplicates before splitting")
    validation: float = 0.1
    test: float = 0.1


class BaselineStepConfig(_Strict):
    enabled: bool = True
    few_shot: list[int] = Field(default_factory=lambda: [0], description="shot counts to evaluate the base model(s) with")


class TrainStepConfig(_Strict):
    enabled: bool = True
    method: Literal["lora", "full"] = "lora"
    epochs: int | None = Field(None, description="override the recommendation")
    learning_rate: float | None = None
    lora_rank: int | None = None
    batch_size: int = 8
    overlong: Literal["error", "truncate", "drop"] = Field(
        "error", description="examples longer than model.max_length: stop and say so (error), cut them (truncate) or leave them out (drop)")
    overrides: dict[str, Any] = Field(default_factory=dict, description="any other TrainSpec field")


class EvalStepConfig(_Strict):
    enabled: bool = True
    metrics: list[str] = Field(default_factory=lambda: ["exact_match", "f1", "rougeL"])
    max_new_tokens: int = 64
    max_examples: int | None = None


class PipelineConfig(_Strict):
    """Everything ``sftwise run`` needs; every step can be switched off."""

    name: str = "run"
    seed: int = 0
    data: DataConfig
    model: ModelConfig
    backend: Literal["local", "vertex"] = "local"
    audit: AuditStepConfig = Field(default_factory=AuditStepConfig)
    split: SplitStepConfig = Field(default_factory=SplitStepConfig)
    baseline: BaselineStepConfig = Field(default_factory=BaselineStepConfig)
    train: TrainStepConfig = Field(default_factory=TrainStepConfig)
    eval: EvalStepConfig = Field(default_factory=EvalStepConfig)
    report: bool = True


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that records the line of every mapping key, keyed by its path."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=True)
        loader.key_lines.setdefault(id(mapping), {})[key] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_of(data: Any, loc: tuple, key_lines: dict[int, dict]) -> int | None:
    """Walk the error location through the loaded YAML to find the line of its deepest key."""
    line = None
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            line = key_lines.get(id(node), {}).get(part, line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            lines = key_lines.get(id(node), {}) if isinstance(node, dict) else {}
            return lines.get(part, line)
    return line


def load_config(path: str | Path) -> PipelineConfig:
    """Load and validate a pipeline YAML; paths in it are relative to the YAML file's folder."""
    path = Path(path)
    if not path.exists():
        raise SftwiseError(f"config file {path} does not exist")
    loader = _LineLoader(path.read_text(encoding="utf-8"))
    loader.key_lines = {}
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise SftwiseError(f"{path}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SftwiseError(f"{path}: expected a mapping at the top (keys data:, model:, ...), got {type(data).__name__}")
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _line_of(data, loc, loader.key_lines)
            where = f"{path}:{line}" if line else str(path)
            key = ".".join(str(p) for p in loc)
            if err["type"] == "extra_forbidden":
                problems.append(f"{where}: unknown key '{key}'; check its spelling (see the annotated example in the README)")
            elif err["type"] == "missing":
                problems.append(f"{where}: missing required key '{key}'")
            else:
                problems.append(f"{where}: '{key}': {err['msg']} (got {err.get('input')!r})")
        raise SftwiseError("invalid pipeline config:\n  " + "\n  ".join(problems)) from None
    base = path.parent
    for field in ("train", "validation", "test"):
        value = getattr(config.data, field)
        if value and not Path(value).is_absolute():
            setattr(config.data, field, str((base / value).resolve()))
    return config
