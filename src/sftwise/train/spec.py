"""What a training run is: one pydantic :class:`TrainSpec`, loadable from YAML, shared by every backend.

The local recipe (``train/local.py``) and the Vertex AI backend (``train/vertex.py``) both take a
``TrainSpec``. Fields that only one backend understands say so in their description; the other
backend ignores them (Vertex has no ``max_length`` or ``lora_alpha``; local has no
``lr_multiplier`` or ``adapter_size``, it uses ``learning_rate`` and ``lora_rank``).

The resolved spec is written to ``<run_dir>/config.json`` at the start of a run, and a resumed run
compares its spec with that file and warns about the fields that differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sftwise.errors import SftwiseError

CONFIG_FILE = "config.json"


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
    num_threads: int | None = Field(None, description="torch CPU threads (None: torch's default)")
    gradient_checkpointing: bool = False
    distributed: Literal["ddp", "fsdp"] = Field(
        "ddp",
        description="local only, and only when launched as several processes (torchrun / accelerate, WORLD_SIZE > 1): "
        "ddp keeps a whole model copy per process and averages gradients; fsdp shards weights, gradients and optimizer "
        "state across processes (PyTorch FSDP2, one unit per decoder layer) for models that do not fit one GPU. "
        "Ignored, with a note, in a single process.",
    )

    @field_validator("epochs")
    @classmethod
    def _epochs(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"epochs must be >= 1, got {value}; pass --epochs 1 or more")
        return value

    @field_validator("learning_rate")
    @classmethod
    def _lr(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"learning_rate must be > 0, got {value}; LoRA typically uses 1e-4..3e-4")
        return value

    @field_validator("lr_multiplier")
    @classmethod
    def _mult(cls, value: float | None) -> float | None:
        if value is not None and not value > 0:
            raise ValueError(f"lr_multiplier must be > 0, got {value}; Vertex's default is 1.0")
        return value

    @field_validator("batch_size", "grad_accum", "lora_rank", "max_length", "log_every")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be >= 1, got {value}")
        return value

    @field_validator("warmup_ratio", "lora_dropout")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0 <= value < 1:
            raise ValueError(f"must be in [0, 1), got {value}")
        return value

    @model_validator(mode="after")
    def _defaults(self) -> TrainSpec:
        if self.lora_alpha is None:
            self.lora_alpha = 2 * self.lora_rank
        return self

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> TrainSpec:
        """Load a YAML file; ``overrides`` (CLI flags, None meaning 'not given') win over it."""
        import yaml

        path = Path(path)
        if not path.exists():
            raise SftwiseError(f"config {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise SftwiseError(f"{path}: not valid YAML ({exc})") from exc
        if not isinstance(data, dict):
            raise SftwiseError(f"{path}: expected a mapping of TrainSpec fields (model:, train:, ...), got {type(data).__name__}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.build(data, source=str(path))

    @classmethod
    def build(cls, data: dict[str, Any], source: str = "arguments") -> TrainSpec:
        """Validate a mapping, turning pydantic errors into one readable :class:`SftwiseError`."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors())
            raise SftwiseError(f"invalid training config ({source}): {problems}") from None

    def differences(self, other: TrainSpec, ignore: tuple[str, ...] = ("run_dir",)) -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ: ``{name: (self_value, other_value)}``."""
        mine, theirs = self.model_dump(), other.model_dump()
        return {k: (mine[k], theirs.get(k)) for k in mine if k not in ignore and mine[k] != theirs.get(k)}
