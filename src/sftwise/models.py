"""The one place that turns a model reference into a tokenizer and a causal LM.

Training (``train/local.py``), local generation (``backends/hf.py``), token counting for the audit
(:func:`get_counter`) and the recommender all name a model the same way and load it through here,
so a reference means the same thing, and fails with the same message, in every command.

A reference is resolved first (:func:`resolve`, no torch, no network) into a :class:`ModelRef`:

===============================  ==========  ==================================================
reference                        ``kind``    loads as
===============================  ==========  ==================================================
a directory with ``config.json``  ``hf``      ``AutoModelForCausalLM.from_pretrained(dir)``
... carrying the tiny marker      ``tiny``    the same; built by :mod:`sftwise.demo.tiny`
a directory with                  ``lora``    its base model (``base_model_name_or_path``) with
``adapter_config.json`` (PEFT)                the adapter merged in, for inference
anything else shaped like an id   ``hub``     a Hugging Face hub id; with ``local_files_only``
(``org/name``, ``gpt2``)                      only from the local cache, never the network
===============================  ==========  ==================================================

New kinds of reference (model files to convert, short names of bundled models) are recognised in
:func:`resolve` alone: once it has mapped them onto a directory, the loaders need no change.

Loading needs the ``sftwise[train]`` extra; ``import sftwise.models`` imports neither torch nor
transformers (they are imported inside the loaders).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sftwise.errors import ParameterError, SftwiseError
from sftwise.tokens import TokenCounter, context_limit

ModelKind = Literal["hf", "tiny", "lora", "hub"]

#: the name ``sftwise run`` configs use for a tiny model built on the spot (``model.base: tiny``)
TINY_NAME = "tiny"


@dataclass(frozen=True)
class ModelRef:
    """A resolved model reference: what it is and where ``from_pretrained`` reads it.

    ``reference`` is what the caller passed (kept for messages); ``path`` is the directory or hub id
    to load; ``base`` is, for a LoRA adapter, the base model its ``adapter_config.json`` names.
    """

    kind: ModelKind
    path: str
    reference: str
    base: str | None = None
    local_files_only: bool = False

    @property
    def is_local(self) -> bool:
        return self.kind != "hub"

    def __str__(self) -> str:
        return self.reference


def resolve(reference: str | os.PathLike[str] | ModelRef, *, local_files_only: bool = False) -> ModelRef:
    """What ``reference`` names, checked without loading anything.

    ``local_files_only``: a hub id is then read from the local Hugging Face cache only.
    Raises :class:`ParameterError` (``model``) for a path that does not exist, or a directory that is
    neither a Hugging Face model nor a PEFT adapter.
    """
    if isinstance(reference, ModelRef):
        return reference
    text = os.fspath(reference).strip()
    if not text:
        raise ParameterError("model", "is empty; pass a Hugging Face model directory, a LoRA adapter directory or a hub id.")
    if text.endswith(".gguf") or text.startswith("gguf:"):
        raise ParameterError("model", f"{text} is a GGUF file; sftwise loads Hugging Face model directories only (convert it first).")
    path = os.path.expanduser(text)
    if os.path.exists(path):  # os.path: a name too long for the OS is 'missing', not an OSError
        return _local(text, Path(path))
    if _looks_local(text):
        raise ParameterError("model", f"path {text} does not exist; pass a Hugging Face model directory, a LoRA adapter directory or a hub id.")
    return ModelRef(kind="hub", path=text, reference=text, local_files_only=local_files_only)


def is_tiny(reference: str | ModelRef) -> bool:
    """True for a random-weight model of :mod:`sftwise.demo.tiny` (or the config name ``tiny``)."""
    if isinstance(reference, str) and reference == TINY_NAME:
        return True
    try:
        return resolve(reference).kind == "tiny"
    except SftwiseError:
        return False


def load_tokenizer(reference: str | os.PathLike[str] | ModelRef, *, local_files_only: bool = False) -> Any:
    """The tokenizer of a model; a LoRA adapter's own copy when it saved one, else its base model's."""
    ref = resolve(reference, local_files_only=local_files_only)
    auto_tokenizer = _transformers().AutoTokenizer
    source = ref.path
    if ref.kind == "lora" and not (Path(ref.path) / "tokenizer_config.json").exists():
        source = ref.base or ref.path
    try:
        return auto_tokenizer.from_pretrained(source, local_files_only=ref.local_files_only)
    except (OSError, ValueError) as exc:
        raise SftwiseError(f"could not load a tokenizer for {ref}: {_first_line(exc)}{_hub_hint(ref)}") from None


def load_causal_lm(reference: str | os.PathLike[str] | ModelRef, *, dtype: Any = None, for_training: bool = False,
                   local_files_only: bool = False) -> Any:
    """A causal LM ready to use: a full model as saved, or a LoRA adapter merged into its base.

    ``dtype``: a torch dtype or its name (``"float32"``); ``None`` leaves transformers' default.
    ``for_training``: the weights will be tuned, so a LoRA adapter is refused (merging it would
    make the new checkpoint name the wrong base) and the default dtype is float32, the precision
    the optimizer keeps master weights in (autocast lowers the compute, not the weights).
    """
    ref = resolve(reference, local_files_only=local_files_only)
    transformers = _transformers()
    if for_training and dtype is None:
        dtype = "float32"
    if ref.kind == "lora":
        if for_training:
            raise ParameterError("model", f"{ref} is a LoRA adapter (adapter_config.json), not a full model; train from its base model "
                                          f"{ref.base}, or merge the adapter into it and save the result first.")
        return _load_adapter_merged(ref, dtype)
    try:
        config = transformers.AutoConfig.from_pretrained(ref.path, local_files_only=ref.local_files_only)
    except (OSError, ValueError) as exc:
        raise SftwiseError(f"could not load the config of {ref}: {_first_line(exc)}{_hub_hint(ref)}") from None
    try:
        return transformers.AutoModelForCausalLM.from_pretrained(ref.path, dtype=dtype, local_files_only=ref.local_files_only)
    except ValueError:
        raise ParameterError("model", f"{ref} is a {config.model_type!r} model, not a causal language model; "
                                      "sftwise tunes and generates with decoder-only (causal LM) models.") from None
    except OSError as exc:
        raise SftwiseError(f"could not load {ref}: {_first_line(exc)}") from None


def get_counter(model: str | None = None) -> tuple[TokenCounter, str | None]:
    """A token counter for ``model`` and, when its tokenizer could not be loaded, the reason (else None).

    The tokenizer is read offline only (a hub id must be in the local Hugging Face cache): counting
    tokens for an audit must never wait on the network. Without a model, or when the tokenizer is not
    available, the counter is :func:`sftwise.tokens.estimate_tokens`; its context limit still comes
    from :data:`sftwise.tokens.CONTEXT_LIMITS` when the name is known.
    """
    if not model:
        return TokenCounter(), None
    limit = context_limit(model)
    try:
        ref = resolve(model, local_files_only=True)
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        tokenizer = load_tokenizer(ref)
    except SftwiseError as exc:
        return TokenCounter(context_limit=limit), f"the tokenizer of {model!r} could not be loaded offline ({str(exc)[:300]})"
    except Exception as exc:  # noqa: BLE001 - an unknown tokenizer class or a broken file: all mean "not available"
        return TokenCounter(context_limit=limit), f"the tokenizer of {model!r} could not be loaded offline ({_first_line(exc)[:200]})"
    return TokenCounter(name=model, estimated=False, context_limit=limit or _context_window(ref, tokenizer), _tokenizer=tokenizer), None


# -- resolving ---------------------------------------------------------------------------------------


def _local(reference: str, path: Path) -> ModelRef:
    """A local directory: a PEFT adapter, a (tiny) Hugging Face model, or an error saying which it is not."""
    from sftwise.demo.tiny import TINY_MARKER

    adapter = path / "adapter_config.json"
    if adapter.is_file():
        return ModelRef(kind="lora", path=str(path), reference=reference, base=_adapter_base(adapter))
    if not (path / "config.json").is_file():
        raise ParameterError("model", f"{reference} is not a Hugging Face model directory (no config.json) nor a LoRA adapter (no adapter_config.json).")
    kind: ModelKind = "tiny" if (path / f"{TINY_MARKER}.txt").exists() else "hf"
    return ModelRef(kind=kind, path=str(path), reference=reference)


def _adapter_base(adapter_config: Path) -> str | None:
    try:
        base = json.loads(adapter_config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError, AttributeError):
        raise ParameterError("model", f"{adapter_config} is not a readable PEFT adapter config (expected a JSON object).") from None
    return str(base) if base else None


def _looks_local(reference: str) -> bool:
    """A hub id is ``name`` or ``org/name``; a leading ``.``, ``/`` or ``~``, or a deeper path, is a path."""
    return reference.startswith((".", "/", "~")) or reference.count("/") > 1 or "\\" in reference


# -- loading -----------------------------------------------------------------------------------------


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise SftwiseError("loading a model needs torch and transformers: pip install 'sftwise[train]'.") from None
    return transformers


def _load_adapter_merged(ref: ModelRef, dtype: Any) -> Any:
    """PEFT loads the base the adapter names and applies it; merged, generation runs at the base's speed."""
    try:
        from peft import AutoPeftModelForCausalLM
    except ImportError:
        raise SftwiseError(f"{ref} is a LoRA adapter; loading it needs peft: pip install 'sftwise[train]'.") from None
    if ref.base and _looks_local(ref.base) and not os.path.exists(os.path.expanduser(ref.base)):
        raise ParameterError("model", f"{ref} is a LoRA adapter on {ref.base}, which does not exist any more; "
                                      "restore the base model there or edit base_model_name_or_path in adapter_config.json.")
    try:
        return AutoPeftModelForCausalLM.from_pretrained(ref.path, dtype=dtype, local_files_only=ref.local_files_only).merge_and_unload()
    except (OSError, ValueError) as exc:
        raise SftwiseError(f"could not load the LoRA adapter {ref} on {ref.base}: {_first_line(exc)}") from None


def _context_window(ref: ModelRef, tokenizer: Any) -> int | None:
    """The context window from config.json (max_position_embeddings, ...) or the tokenizer's model_max_length."""
    config = Path(ref.path) / "config.json"
    if ref.is_local and config.is_file():
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
            for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
                if isinstance(data.get(key), int):
                    return data[key]
        except (OSError, ValueError):
            pass
    value = getattr(tokenizer, "model_max_length", None)
    return int(value) if isinstance(value, int) and 0 < value < 10_000_000 else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _hub_hint(ref: ModelRef) -> str:
    """Why a mistyped local path ends in a hub lookup error: it was not found on disk."""
    return f" ({ref} is not a local directory, so it was looked up as a hub id)" if ref.kind == "hub" else ""
