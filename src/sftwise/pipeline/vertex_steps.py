"""The Vertex AI branch of ``sftwise run`` (``backend: vertex``): what differs from a local run.

The runner's steps stay the same; here are the few places where a Gemini tuning job is not a local
training run:

- **recommend → train**: the Gemini rows of the recommendation (epochs, learning-rate multiplier,
  adapter size) are what the job is created with, not the open-model translation (learning rate,
  LoRA rank), which Vertex would silently ignore; a ``train:`` key set in the config still wins.
- **train**: :func:`sftwise.train.vertex.train_vertex` with ``resume=True``: a re-run after a kill,
  Ctrl-C or a failure while polling attaches to the job recorded in ``RUN_DIR/train`` instead of
  paying for a second one (``--new-job`` asks for one).
- **eval**: the tuned model's endpoint, and the endpoint of a chosen intermediate checkpoint (the
  diagnosis's best epoch by default), never a checkpoint id taken as a model path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sftwise.errors import ParameterError, SftwiseError

if TYPE_CHECKING:  # the runner imports this module; only type checkers see the cycle
    from sftwise.pipeline.runner import RunContext

VERTEX_RECOMMENDED = ("epochs", "lr_multiplier", "adapter_size")
"""The recommendation's Gemini fields, as TrainSpec fields."""


def is_vertex(ctx: RunContext) -> bool:
    return ctx.config.backend == "vertex"


def train_inputs(ctx: RunContext) -> tuple[Any, ...]:
    """What the train step's fingerprint covers besides a local run's: the display name is part of
    the job's request (a change makes a new job); the poll interval is not. Empty for a local run,
    so its fingerprints stay as they were."""
    return (ctx.config.vertex.display_name,) if is_vertex(ctx) else ()


def eval_inputs(ctx: RunContext) -> tuple[Any, ...]:
    """The eval step's extra fingerprint input on Vertex: which checkpoint is evaluated beside the tuned endpoint."""
    return (ctx.config.vertex.eval_checkpoint,) if is_vertex(ctx) else ()


def recommended_vertex_fields(rec: dict[str, Any]) -> dict[str, Any]:
    """The recommendation's Gemini hyperparameters that the tuning job is created with."""
    return {key: rec[key] for key in VERTEX_RECOMMENDED if rec.get(key) is not None}


def gemini_spec(ctx: RunContext, model: str) -> str:
    """``gemini:...`` for a Gemini model the baseline queries, in the config's project and region.

    With ``train.project`` or ``train.location`` set, a base model id becomes its full resource name
    (``projects/P/locations/L/publishers/google/models/M``), so the untuned model is asked where the
    job is tuned, not wherever the environment's defaults point; an endpoint names its own.
    """
    name = model.removeprefix("gemini:")
    train = ctx.config.train
    if name.startswith("projects/") or not (train.project or train.location):
        return f"gemini:{name}"
    from sftwise.gemini.client import resolve_context

    where = resolve_context(train.project, train.location, for_tuning=False)
    return f"gemini:projects/{where.project}/locations/{where.location}/publishers/google/models/{name}"


def train_on_vertex(ctx: RunContext, spec: Any, rec: dict[str, Any]) -> Any:
    """Create (or attach to) the run's tuning job and wait for it: a :class:`~sftwise.train.vertex.VertexRun`.

    Epochs the recommendation leaves to the service ("default", the guide's advice for Gemini 2.x)
    are not sent, unless ``train.epochs`` sets them.
    """
    from sftwise.train.vertex import train_vertex

    vertex = ctx.config.vertex
    return train_vertex(
        spec,
        wait=True,
        service_epochs=rec.get("epochs") is None and ctx.config.train.epochs is None,
        display_name=vertex.display_name or f"sftwise-{ctx.config.name}",
        poll_interval_s=vertex.poll_interval_s,
        resume=True,
        force=ctx.new_job,
        echo=ctx.echo,
    )


def eval_targets(ctx: RunContext, train_dir: Path) -> list[tuple[str, str]]:
    """(results directory relative to the run dir, ``gemini:ENDPOINT``) for each model the eval step runs.

    The tuned model's endpoint first (``eval/tuned``, what compare and the report call the tuned
    model), then the chosen intermediate checkpoint's (``eval/checkpoint-EPOCH``) unless it is the
    last epoch's, which is the tuned model itself.
    """
    from sftwise.gemini.jobs import best_checkpoint, read_job
    from sftwise.io import read_json

    info = read_job(train_dir)
    if not info.endpoint:
        raise SftwiseError(f"tuning job {info.name} ({info.state}) has no tuned model endpoint yet; see {info.console_url}")
    targets = [("eval/tuned", f"gemini:{info.endpoint}")]
    choice = ctx.config.vertex.eval_checkpoint
    if choice == "none":
        return targets
    if choice == "best":
        diagnosis = read_json(ctx.run_dir / "diagnosis.json") or {}
        epoch, verdict = diagnosis.get("best_epoch"), str(diagnosis.get("verdict") or "")
    else:
        if info.epoch_count and choice > info.epoch_count:
            raise ParameterError("eval_checkpoint", f"epoch {choice} is past the job's last epoch ({info.epoch_count}); "
                                 f"pick 1 to {info.epoch_count}, 'best' or 'none'")
        epoch, verdict = float(choice), "configured"
    if epoch is None:  # no validation curve: nothing to choose between, the tuned model is the last epoch
        return targets
    best = best_checkpoint(info, float(epoch), verdict)
    last = max((c.epoch or 0 for c in info.checkpoints), default=info.epoch_count or 0)
    if best.checkpoint.epoch is not None and best.checkpoint.epoch < last:
        targets.append((f"eval/checkpoint-{best.checkpoint.epoch}", best.model_spec))
    return targets


def eval_dirs(ctx: RunContext, train_dir: Path) -> list[Path]:
    """The eval step's results directories, in :func:`eval_targets` order (compare reads them)."""
    return [ctx.run_dir / rel for rel, _ in eval_targets(ctx, train_dir)]
