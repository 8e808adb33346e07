"""The ``sftwise run`` config: one YAML file naming the data, the model, and what each step does.

Unknown keys and wrong types are errors that name the key and its line in the YAML file
(pydantic's ``extra="forbid"`` plus :func:`sftwise.io.load_yaml_with_lines`). The ``train:`` section
is derived from :class:`~sftwise.train.spec.TrainSpec`, so every training key is declared, typed
and checked in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, create_model, field_validator, model_validator

from sftwise.io import config_error, load_yaml_with_lines
from sftwise.train.spec import FIELD_CHECKS, TrainSpec, check_field, selection_problem


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    """The data files. Each file's format is detected per record, as ``sftwise audit`` does; a file
    detection cannot read is converted first (``sftwise convert --from FORMAT``)."""

    train: str
    validation: str | None = None
    test: str | None = None


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


PIPELINE_OWNED = ("model", "train", "validation", "run_dir", "format", "seed", "max_length")
"""TrainSpec fields the pipeline sets itself, from model.base, data.*, the run directory, seed and
model.max_length; they are not keys of the ``train:`` section."""

RECOMMENDED = ("epochs", "learning_rate", "lora_rank", "lora_alpha", "lr_multiplier", "adapter_size")
"""TrainSpec fields the recommend step fills in (the last two for backend: vertex); in the ``train:`` section they default to 'not set'."""


def _train_step_fields() -> dict[str, Any]:
    """Every TrainSpec field but those the pipeline owns, typed and documented as in TrainSpec."""
    fields: dict[str, Any] = {"enabled": (bool, Field(True, description="tune (and then diagnose and evaluate) at all"))}
    for name, info in TrainSpec.model_fields.items():
        if name in PIPELINE_OWNED:
            continue
        if name in RECOMMENDED:
            description = f"{info.description or name}; omit to use the recommendation"
            fields[name] = (info.annotation | None, Field(None, description=description))
        else:
            fields[name] = (info.annotation, info)
    return fields


def _check_train_field(cls: type, value: Any, info: ValidationInfo) -> Any:
    """TrainSpec's own value checks (epochs >= 1, ...), so a bad value is reported with its line."""
    return check_field(info.field_name, value)


def _check_selection(self: Any) -> Any:
    """select_by / early_stopping.on name a quantity training computes: checked when the config loads, not after training."""
    problem = selection_problem(self.select_by, self.early_stopping, self.eval_metrics)
    if problem:
        raise ValueError(f"{problem[0]} {problem[1]}")  # a ValueError: reported with the train: section's line
    return self


TrainStepConfig = create_model(
    "TrainStepConfig",
    __base__=_Strict,
    __module__=__name__,
    __doc__="The ``train:`` section: every TrainSpec key except those the pipeline sets (see PIPELINE_OWNED).",
    __validators__={"_checked": field_validator(*(f for f in FIELD_CHECKS if f not in PIPELINE_OWNED))(_check_train_field),
                    "_selection": model_validator(mode="after")(_check_selection)},
    **_train_step_fields(),
)


class EvalStepConfig(_Strict):
    enabled: bool = True
    metrics: list[str] = Field(default_factory=lambda: ["exact_match", "f1", "rougeL"])
    max_new_tokens: int = Field(64, ge=1)
    max_examples: int | None = Field(None, ge=1)


class VertexStepConfig(_Strict):
    """How the pipeline drives a Vertex AI tuning job (``backend: vertex``); project, location and
    bucket are ``train:`` keys, shared with ``sftwise train --backend vertex``."""

    display_name: str | None = Field(None, min_length=1, max_length=128, description="the tuned model's display name; default sftwise-<run name>")
    poll_interval_s: float = Field(60.0, ge=0, description="seconds between polls of the job's state")
    eval_checkpoint: Literal["best", "none"] | int = Field(
        "best", description="the intermediate checkpoint evaluated beside the tuned endpoint: 'best' (the diagnosis's best epoch), "
                            "an epoch number, or 'none'; the last epoch's checkpoint is the tuned model itself and is not evaluated twice")

    @field_validator("eval_checkpoint")
    @classmethod
    def _positive_epoch(cls, value: Any) -> Any:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"an epoch number is 1 or more, got {value}")
        return value


class PipelineConfig(_Strict):
    """Everything ``sftwise run`` needs; every step can be switched off."""

    name: str = "run"
    seed: int = Field(0, ge=0)
    data: DataConfig
    model: ModelConfig
    backend: Literal["local", "vertex"] = "local"
    audit: AuditStepConfig = Field(default_factory=AuditStepConfig)
    split: SplitStepConfig = Field(default_factory=SplitStepConfig)
    baseline: BaselineStepConfig = Field(default_factory=BaselineStepConfig)
    train: TrainStepConfig = Field(default_factory=TrainStepConfig)
    eval: EvalStepConfig = Field(default_factory=EvalStepConfig)
    vertex: VertexStepConfig = Field(default_factory=VertexStepConfig)
    report: bool = True

    @field_validator("name")
    @classmethod
    def _one_folder_name(cls, value: str) -> str:
        """The run goes to ``runs/<name>``: a name with a separator or ``..`` would write elsewhere."""
        import re

        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", value) or ".." in value:
            raise ValueError(f"{value!r} is not a run name: use letters, digits, '.', '_' and '-' (a single folder name "
                             "inside runs/, no '/' or '..'); pass --run-dir to put the run somewhere else")
        return value


def load_config(path: str | Path) -> PipelineConfig:
    """Load and validate a pipeline YAML; paths in it are relative to the YAML file's folder."""
    path = Path(path)
    data, lines = load_yaml_with_lines(path, mapping_of="pipeline sections (data:, model:, ...)")
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error("pipeline config (see the annotated example in the README)", exc, lines, str(path), PipelineConfig) from None
    base = path.parent
    for field in ("train", "validation", "test"):
        value = getattr(config.data, field)
        if value and not Path(value).is_absolute():
            setattr(config.data, field, str((base / value).resolve()))
    return config
