"""What a training run is: one pydantic :class:`TrainSpec`, loadable from YAML, shared by every backend.

The local recipe (``train/local.py``) and the Vertex AI backend (``train/vertex.py``) both take a
``TrainSpec``. Fields that only one backend understands say so in their description; the other
backend ignores them (Vertex has no ``max_length`` or ``lora_alpha``; local has no
``lr_multiplier`` or ``adapter_size``, it uses ``learning_rate`` and ``lora_rank``).

The resolved spec is written to ``<run_dir>/config.json`` at the start of a run (with what the weights
depend on in ``fingerprint.json``); a resumed run must match it but for more epochs (``train/fingerprint.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from collections.abc import Callable
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from sftwise.errors import ParameterError, SftwiseError
from sftwise.io import config_error, describe_error, error_problem, load_yaml_with_lines

CONFIG_FILE = "config.json"


def _at_least_one(value: int) -> None:
    if value < 1:
        raise ValueError(f"must be >= 1, got {value}")


def _positive(hint: str) -> Callable[[float], None]:
    def check(value: float) -> None:
        if not value > 0:
            raise ValueError(f"must be > 0, got {value}; {hint}")

    return check


def _at_least_zero(value: int) -> None:
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")


def _fraction(value: float) -> None:
    if not 0 <= value < 1:
        raise ValueError(f"must be in [0, 1), got {value}")


FIELD_CHECKS: dict[str, Callable[[Any], None]] = {
    "epochs": _at_least_one,
    "learning_rate": _positive("LoRA typically uses 1e-4..3e-4"),
    "lr_multiplier": _positive("Vertex's default is 1.0"),
    "batch_size": _at_least_one,
    "grad_accum": _at_least_one,
    "lora_rank": _at_least_one,
    "max_length": _at_least_one,
    "log_every": _at_least_one,
    "eval_every": _at_least_one,
    "eval_generate_examples": _at_least_one,
    "eval_max_new_tokens": _at_least_one,
    "lora_alpha": _at_least_one,
    "adapter_size": _at_least_one,  # which sizes a model offers is checked against the limits table at submission
    "seed": _at_least_zero,
    "warmup_ratio": _fraction,
    "lora_dropout": _fraction,
}
"""The value checks of TrainSpec's fields beyond their types, as data: configs that carry
training keys (the pipeline's ``train:`` section) apply the same checks through :func:`check_field`."""


def check_field(name: str, value: Any) -> Any:
    """Check ``value`` for TrainSpec field ``name`` (None, 'not set', always passes); raise ValueError."""
    check = FIELD_CHECKS.get(name)
    if check is not None and value is not None:
        check(value)
    return value


VALIDATION_LOSS = "validation_loss"
"""``select_by`` / ``early_stopping.on`` value meaning: the validation loss (lower is better)."""


class EarlyStopping(BaseModel):
    """Stop when the chosen quantity has not improved by ``min_delta`` for ``patience`` epoch-end evaluations."""

    model_config = ConfigDict(extra="forbid")

    patience: int = Field(description="epoch-end evaluations without improvement before training stops (>= 1)")
    min_delta: float = Field(0.0, description="smallest change that counts as an improvement (>= 0; in the quantity's own units)")
    on: str | None = Field(None, description="validation_loss or a task metric of eval_metrics; default: select_by")

    @field_validator("patience")
    @classmethod
    def _patience(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be >= 1, got {value}: the number of evaluations without improvement to wait before stopping")
        return value

    @field_validator("min_delta")
    @classmethod
    def _min_delta(cls, value: float) -> float:
        if not value >= 0:
            raise ValueError(f"must be >= 0, got {value}")
        return value


@runtime_checkable
class TuningResult(Protocol):
    """What every tuner returns (:class:`sftwise.train.local.TrainResult`,
    :class:`sftwise.train.vertex.VertexRun`): what the pipeline's train step records and the report shows."""

    run_dir: str

    @property
    def checkpoints(self) -> list[str]: ...

    @property
    def summary(self) -> str: ...


class TrainSpec(BaseModel):
    """Everything a tuning run needs; CLI flags override the YAML file, which overrides the defaults."""

    model_config = ConfigDict(extra="forbid")

    # what to tune, on what
    model: str = Field(description="base model: a local HF directory or hub id (local), or a Gemini model id (vertex)")
    train: str = Field(description="training data file (Gemini JSONL, messages, ... anything sftwise.formats reads)")
    validation: str | None = Field(None, description="validation data file; strongly recommended (diagnose needs it)")
    run_dir: str = Field("runs/run", description="where metrics.jsonl, checkpoints/, tb/ and config.json go")
    format: str | None = Field(None, description="input format of train/validation; detected when omitted")

    # schedule
    epochs: int = Field(3, description="number of passes over the training set")
    learning_rate: float = Field(2e-4, description="peak learning rate (local); LoRA ~1e-4..3e-4, full fine-tuning ~1e-5..5e-5")
    lr_multiplier: float | None = Field(None, description="Vertex learning-rate multiplier (vertex only; default 1.0)")
    adapter_size: int | None = Field(None, description="Vertex adapter size 1/2/4/8/16/32 (vertex only)")
    bucket: str | None = Field(None, description="vertex only: gs:// bucket the data is uploaded to")
    project: str | None = Field(None, description="vertex only: Google Cloud project")
    location: str | None = Field(None, description="vertex only: region, e.g. us-central1")
    warmup_ratio: float = Field(0.03, description="fraction of optimizer steps spent warming the lr up linearly")
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = Field(1.0, description="gradient clipping; 0 disables it")
    batch_size: int = Field(8, description="examples per micro-batch per process")
    grad_accum: int = Field(1, description="micro-batches per optimizer step: effective batch = batch_size x grad_accum x processes")
    seed: int = 0

    # method
    method: Literal["lora", "full"] = Field("lora", description="LoRA adapters (PEFT) or full fine-tuning")
    lora_rank: int = 8
    lora_alpha: int | None = Field(None, description="LoRA alpha; default 2 x rank")
    lora_dropout: float = 0.0
    lora_targets: list[str] | str = Field("all-linear", description="module names to adapt, or 'all-linear'")

    # sequence handling
    max_length: int = Field(1024, description="tokens per example after the chat template")
    overlong: Literal["error", "truncate", "drop"] = Field(
        "error", description="what to do with examples longer than max_length: stop and report, truncate, or drop (always counted and reported)"
    )
    chat_template: str | None = Field(None, description="a Jinja chat template (text or a file path) for tokenizers that lack one")
    batching: Literal["plain", "length_grouped", "packed"] = Field(
        "length_grouped", description="length-grouped batches cut padding; packed concatenates examples into max_length rows"
    )

    # numerics and logging
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field("auto", description="auto = bf16 on a GPU that has it, fp16 on other GPUs, fp32 on CPU")
    log_every: int = Field(10, description="optimizer steps between step-level log points")
    eval_every: int | None = Field(None, description="optimizer steps between mid-epoch validation evaluations (None: epoch ends only)")
    tensorboard: bool = True
    eval_metrics: list[str] = Field(
        default_factory=list,
        description="task metrics (exact_match, f1, rougeL, json_valid, ... as in `sftwise eval`) computed at every epoch end "
        "(and every eval_every steps) by generating on a fixed, seeded subset of the validation set; local only",
    )
    eval_generate_examples: int = Field(64, description="validation examples generated on per task evaluation (all when the set is smaller, with a note)")
    eval_max_new_tokens: int = Field(64, description="new tokens per answer in the task evaluation during training")
    select_by: str | None = Field(
        None, description="what picks the checkpoint diagnose, eval and the report use: validation_loss or one of eval_metrics "
        "(default: the first of eval_metrics when any, else validation_loss); ties within noise prefer the earlier checkpoint",
    )
    example_losses: bool = Field(True, description="after training, each training example's loss under the kept checkpoint "
                                 "(example_losses.json; high outliers listed as suspected label noise); one forward pass over the training set")
    early_stopping: EarlyStopping | None = Field(None, description="{patience, min_delta, on}: stop when the quantity stops improving; the best checkpoint is kept")
    num_threads: int | None = Field(None, description="torch CPU threads (None: torch's default)")
    gradient_checkpointing: bool = False
    distributed: Literal["ddp", "fsdp"] = Field(
        "ddp",
        description="local only, and only when launched as several processes (torchrun / accelerate, WORLD_SIZE > 1): "
        "ddp keeps a whole model copy per process and averages gradients; fsdp shards weights, gradients and optimizer "
        "state across processes (PyTorch FSDP2, one unit per decoder layer) for models that do not fit one GPU. "
        "Ignored, with a note, in a single process.",
    )

    @field_validator(*FIELD_CHECKS)
    @classmethod
    def _checked(cls, value: Any, info: ValidationInfo) -> Any:
        return check_field(info.field_name, value)

    @field_validator("run_dir")
    @classmethod
    def _not_a_model_dir(cls, value: str, info: ValidationInfo) -> str:
        """A run writes ``config.json`` (and checkpoints, logs) into ``run_dir``: in the base model's own
        directory, or any model's, it would replace the model's ``config.json`` and the model would no
        longer load. This guard holds however the spec was made (flags, YAML, the pipeline, the API)."""
        problem = model_dir_problem(value, info.data.get("model"))
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _defaults(self) -> TrainSpec:
        if self.lora_alpha is None:
            self.lora_alpha = 2 * self.lora_rank
        problem = selection_problem(self.select_by, self.early_stopping, self.eval_metrics)
        if problem:
            raise ParameterError(*problem)  # not a ValueError: pydantic passes it through, so it names the parameter
        return self

    @property
    def selection_quantity(self) -> str:
        """What picks the checkpoint: ``select_by``, else the first task metric that is a quality, else the validation loss."""
        return self.select_by or next((m for m in self.eval_metrics if m not in NOT_A_QUALITY), VALIDATION_LOSS)

    @property
    def stopping_quantity(self) -> str | None:
        """What early stopping watches (None: no early stopping)."""
        if self.early_stopping is None:
            return None
        return self.early_stopping.on or self.selection_quantity

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> TrainSpec:
        """Load a YAML file; ``overrides`` (None meaning 'not given') win over it.

        A bad key or value from the file is named with its line (``spec.yaml:4: lora_rank: ...``); a
        bad override is a :class:`ParameterError` naming the parameter, as in :meth:`build`.
        """
        data, lines = load_yaml_with_lines(Path(path), mapping_of="TrainSpec fields (model:, train:, ...)")
        given = {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls.model_validate({**data, **given})
        except ValidationError as exc:
            if all(err["loc"][:1] and err["loc"][0] in given for err in exc.errors()):
                raise _parameter_error(exc) from None
            from_file = {loc: line for loc, line in lines.items() if not (loc and loc[0] in given)}
            raise config_error("training config", exc, from_file, str(path), cls) from None

    @classmethod
    def build(cls, data: dict[str, Any]) -> TrainSpec:
        """Validate a mapping of arguments: one bad field is a :class:`ParameterError` naming it."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise _parameter_error(exc) from None

    def differences(self, other: TrainSpec, ignore: tuple[str, ...] = ("run_dir",)) -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ: ``{name: (self_value, other_value)}``."""
        mine, theirs = self.model_dump(), other.model_dump()
        return {k: (mine[k], theirs.get(k)) for k in mine if k not in ignore and mine[k] != theirs.get(k)}


NOT_A_QUALITY = ("length_ratio",)
"""Metrics that measure something other than quality (higher is not better): never what picks a checkpoint."""


def selection_problem(select_by: str | None, early_stopping: EarlyStopping | None, eval_metrics: list[str]) -> tuple[str, str] | None:
    """(parameter, problem) when ``select_by`` or ``early_stopping.on`` names a quantity training does not
    compute, else None. Shared by TrainSpec and the pipeline config (which checks it at load time)."""
    for name, value in (("select_by", select_by), ("early_stopping.on", early_stopping.on if early_stopping else None)):
        if value in NOT_A_QUALITY:
            return name, f"{value} is not a quality (higher is not better); choose validation_loss or a quality metric"
        if value and value != VALIDATION_LOSS and value not in eval_metrics:
            computed = ", ".join([VALIDATION_LOSS, *eval_metrics])
            return name, (f"names {value!r}, which is not computed during training (computed: {computed}); "
                          f"add it to eval_metrics or choose one of those")
    return None


def model_dir_problem(run_dir: str | Path, model: str | None = None) -> str | None:
    """Why ``run_dir`` may not receive a run (its ``config.json`` would replace a model's), or None.

    It is the base ``model``'s own directory, or it holds some model (a Hugging Face ``config.json``).
    Shared by :class:`TrainSpec` and the pipeline, which writes ``RUN_DIR/config.json`` too.
    """
    run = Path(run_dir)
    if model and run.is_dir() and Path(model).is_dir() and os.path.samefile(run, model):
        return f"{run_dir} is the base model's directory: a run would overwrite its config.json; choose another run directory, e.g. runs/NAME"
    if _is_model_config(run / CONFIG_FILE):
        return f"{run_dir} holds a model (its config.json is a model's, not a run's): a run would overwrite it; choose another run directory"
    return None


def _is_model_config(path: Path) -> bool:
    """A Hugging Face model's ``config.json`` (it names ``model_type`` or ``architectures``), not a run's."""
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and ("model_type" in data or "architectures" in data) and "train" not in data


def _parameter_error(exc: ValidationError) -> SftwiseError:
    """One bad argument as a :class:`ParameterError` (the CLI restates it as its flag); several, listed."""
    errors = exc.errors()
    if len(errors) == 1 and len(errors[0]["loc"]) >= 1 and errors[0]["type"] != "missing":
        return ParameterError(str(errors[0]["loc"][0]), error_problem(errors[0]))
    return SftwiseError("invalid training config: " + "; ".join(describe_error(err, TrainSpec) for err in errors))
