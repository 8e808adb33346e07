"""Many processes for the local recipe: the process group, DDP or FSDP2 wrapping, and FSDP's state gathering.

``train/local.py`` calls these at fixed points of its loop (see its docstring, "Many GPUs"). One
process (no ``WORLD_SIZE``, or 1) makes every function here a no-op or the identity, so the
single-GPU and CPU paths run the very same loop.

FSDP keeps each parameter as a shard, so whatever needs whole tensors (a checkpoint in the
single-process format, an optimizer state a DDP run can resume from) gathers them to rank 0's CPU
first, and a resume scatters them back; torch's ``torch.distributed.checkpoint.state_dict`` does
the collective work, and the helpers below convert its parameter-name-keyed optimizer state to and
from ``optimizer.state_dict()``'s index-keyed one.
"""

from __future__ import annotations

import os
from typing import Any

from sftwise.errors import ParameterError, SftwiseError


class Dist:
    """torch.distributed when launched by torchrun/accelerate (WORLD_SIZE > 1), else a no-op."""

    def __init__(self, rank: int = 0, world: int = 1, local_rank: int = 0) -> None:
        self.rank, self.world, self.local_rank = rank, world, local_rank
        self.is_main = rank == 0

    @classmethod
    def setup(cls) -> Dist:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        import torch
        import torch.distributed as td

        if not td.is_initialized():
            td.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return cls(td.get_rank(), td.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    def sum_floats(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        import torch
        import torch.distributed as td

        t = torch.tensor(values, dtype=torch.float64, device="cuda" if torch.cuda.is_available() else "cpu")
        td.all_reduce(t)
        return t.tolist()

    def sum_int(self, value: int) -> int:
        return int(self.sum_floats([float(value)])[0]) if self.world > 1 else value

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as td

            td.barrier()

    def close(self) -> None:
        if self.world > 1:
            import torch.distributed as td

            td.barrier()
            td.destroy_process_group()


def parallelize(model: Any, device: Any, dist: Dist, *, fsdp: bool, notes: list[str]) -> Any:
    """The model as the loop trains it: FSDP-sharded, wrapped in DDP, or unchanged on one process."""
    if fsdp:
        return shard(model, device, dist, notes)
    if dist.world > 1:
        import torch

        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return model


def unwrap(model: Any) -> Any:
    """The module inside a DDP wrapper (a PEFT model also has ``.module``-like attributes: left as is)."""
    return model.module if hasattr(model, "module") and not hasattr(model, "peft_config") else model


def shard(model: Any, device: Any, dist: Dist, notes: list[str]) -> Any:
    """Shard ``model`` in place with FSDP2: each decoder layer its own unit, then the root.

    Per-layer units are what make FSDP pay: a layer's full weights exist only during its own
    forward/backward. The root unit takes the rest (embeddings, final norm, head; tied weights stay
    tied since both ends are in it). ``fully_shard`` moves each shard to the mesh's device.
    """
    import torch

    try:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard
    except ImportError:
        raise ParameterError("distributed", f"'fsdp' needs torch.distributed.fsdp.fully_shard (torch >= 2.6), this is torch {torch.__version__}; "
                                            "upgrade torch or use 'ddp'.") from None
    mesh = init_device_mesh(device.type, (dist.world,))
    layers = decoder_layers(model)
    if not layers:
        notes.append("fsdp: no decoder layers found; the model is sharded as one unit, so every forward gathers all of its weights at once")
    for layer in layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def decoder_layers(model: Any) -> list[Any]:
    """The repeated blocks of a transformers model: the classes it marks as not to be split
    (``_no_split_modules``, e.g. ``LlamaDecoderLayer``), else the entries of a ``layers`` ModuleList."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # through a PEFT wrapper
    kinds = set(getattr(base, "_no_split_modules", None) or ())
    layers = [m for m in model.modules() if type(m).__name__ in kinds]
    if not layers:
        layers = [layer for name, m in model.named_modules() if name.split(".")[-1] == "layers" and isinstance(m, torch.nn.ModuleList) for layer in m]
    return layers


def grad_scaler(enabled: bool, fsdp: bool) -> Any:
    """fp16's loss scaler. Under FSDP each process sees only its gradient shard, so an overflow may
    show on one process alone: ``ShardedGradScaler`` agrees on it across processes so all of them
    skip the same steps (a plain GradScaler would let the shards diverge)."""
    if not enabled:
        return None
    if fsdp:
        from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler

        return ShardedGradScaler("cuda")
    import torch

    return torch.amp.GradScaler("cuda")


def gather_weights(model: Any, trainable_only: bool) -> dict[str, Any]:
    """The full (unsharded) weights on rank 0's CPU, ``{}`` on the others; every process must call it.

    ``trainable_only`` (LoRA) gathers the adapter alone, as the checkpoint holds nothing else. The
    gather returns tied weights (embeddings and head) as separate copies; they are tied again so
    ``save_pretrained`` drops the duplicate, as it does for an unsharded model.
    """
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    weights = get_model_state_dict(model, options=_full_state_options(cpu_offload=True, ignore_frozen_params=trainable_only))
    first: dict[int, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if name in weights:
            weights[name] = weights[first.setdefault(id(param), name)]
    return weights


def gather_optimizer(model: Any, optimizer: Any) -> dict[str, Any]:
    """The full optimizer state on rank 0's CPU (``{}`` elsewhere), in ``optimizer.state_dict()``'s
    format; every process must call it."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    by_name = get_optimizer_state_dict(model, optimizer, options=_full_state_options(cpu_offload=True))
    return _optimizer_state_by_index(by_name) if by_name else {}


def load_sharded_optimizer(model: Any, optimizer: Any, saved: dict[str, Any]) -> None:
    """Scatter a checkpoint's full optimizer state (index-keyed, from any mode) into the shards."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    names = [name for name, p in model.named_parameters() if p.requires_grad]  # the optimizer's parameter order
    set_optimizer_state_dict(model, optimizer, _optimizer_state_by_name(saved, names), options=_full_state_options())


def _full_state_options(**kw: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kw)


def _optimizer_state_by_index(state: dict[str, Any]) -> dict[str, Any]:
    """torch.distributed.checkpoint's parameter-name-keyed optimizer state -> ``optimizer.state_dict()``'s
    index-keyed one, so a checkpoint reads the same whichever mode wrote it."""
    index: dict[str, int] = {}
    groups = [{**g, "params": [index.setdefault(name, len(index)) for name in g["params"]]} for g in state["param_groups"]]
    return {"state": {index[name]: v for name, v in state["state"].items()}, "param_groups": groups}


def _optimizer_state_by_name(state: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The inverse of :func:`_optimizer_state_by_index`; ``names[i]`` is the optimizer's i-th parameter."""
    if sum(len(g["params"]) for g in state["param_groups"]) != len(names):
        raise SftwiseError(f"the checkpoint's optimizer state covers {sum(len(g['params']) for g in state['param_groups'])} parameters, "
                           f"this model trains {len(names)}; was the method or the LoRA config changed?")
    groups = [{**g, "params": [names[i] for i in g["params"]]} for g in state["param_groups"]]
    return {"state": {names[i]: v for i, v in state["state"].items()}, "param_groups": groups}
