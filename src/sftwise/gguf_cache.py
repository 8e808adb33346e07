"""GGUF model files, converted once into a cached Hugging Face directory.

Why a cache: transformers reads a GGUF file by dequantizing every tensor to float32 (about 25-40 s
for SmolLM2-135M on two CPU cores), and the model it returns refuses ``save_pretrained``. sftwise
therefore converts a GGUF file the first time it is used into an ordinary Hugging Face directory
(``config.json``, ``model.safetensors``, tokenizer with its chat template) under
``$SFTWISE_CACHE_DIR/models/`` (default ``~/.cache/sftwise/models/``), keyed by the SHA-256 of the
file's bytes, so a later load takes seconds and a changed file never hits a stale entry. From there
on, training, generation, LoRA checkpoints and the judge all see a plain model directory.

Never a half-written entry: the conversion writes into a temporary sibling directory and renames it
into place only after every file is written and :data:`MARKER` (what was converted, from which
file) is the last one in it; an entry without the marker is ignored and rebuilt. Two processes that
convert the same file at once take a lock file, so the second waits and reuses the first's result.

Bad files fail before any work with a message that names the file: not a GGUF file (wrong magic
bytes), truncated (the reader cannot map its tensors), an architecture transformers cannot load,
and a cache directory that cannot be written (read-only, full), with the fix for each.

Needs the ``sftwise[gguf]`` extra (the ``gguf`` package transformers reads the file with) besides
``sftwise[train]``. Importing this module imports neither.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from sftwise.errors import ParameterError, SftwiseError, first_line
from sftwise.io import cache_root, file_sha256

GGUF_MAGIC = b"GGUF"
#: written last into a converted directory; its presence is what makes the entry usable
MARKER = "sftwise_gguf.json"
#: bumped when the converted layout changes, so old entries are rebuilt rather than misread
LAYOUT_VERSION = 1


def is_gguf_reference(text: str) -> bool:
    """``gguf:PATH`` or a path ending in ``.gguf``."""
    return text.startswith("gguf:") or text.lower().endswith(".gguf")


def gguf_path(text: str) -> Path:
    """The file a GGUF reference names, checked: it exists and starts with the GGUF magic bytes."""
    path = Path(os.path.expanduser(text[len("gguf:"):] if text.startswith("gguf:") else text))
    if not path.is_file():
        raise ParameterError("model", f"GGUF file {path} does not exist.")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ParameterError("model", f"GGUF file {path} cannot be read: {exc.strerror or exc}.") from None
    if magic != GGUF_MAGIC:
        raise ParameterError("model", f"{path} is not a GGUF file (it does not start with the bytes 'GGUF'); "
                                      "pass a .gguf model file, or a Hugging Face model directory.")
    return path.resolve()


def cache_dir_for(path: Path) -> Path:
    """Where the converted copy of ``path`` lives (whether or not it exists yet)."""
    return cache_root() / "models" / f"{path.stem}-{_sha256(str(path), *_stat_key(path))[:16]}"


def is_converted(directory: Path) -> bool:
    return (directory / MARKER).is_file() and (directory / "config.json").is_file()


def ensure_converted(path: Path, *, on_status: Any = None) -> Path:
    """The converted directory of GGUF file ``path``, converting it first if no complete entry exists.

    ``on_status(message)``: called once before a conversion starts (the CLI prints it, since the
    first load takes tens of seconds).
    """
    target = cache_dir_for(path)
    if is_converted(target):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cache_error(target.parent, exc) from None
    with _lock(target.parent / f".{target.name}.lock"):
        if is_converted(target):  # converted by another process while this one waited
            return target
        if on_status is not None:
            on_status(f"converting {path.name} to a Hugging Face model in {target} (once; later loads reuse it)")
        _convert(path, target)
    return target


# -- converting --------------------------------------------------------------------------------------


def _convert(path: Path, target: Path) -> None:
    """Dequantize with transformers, rebuild a plain model (the GGUF one refuses to save), save atomically."""
    try:
        import transformers
    except ImportError:
        raise SftwiseError(f"converting {path} needs torch and transformers: pip install 'sftwise[train,gguf]'.") from None
    tmp = target.parent / f"{target.name}.tmp-{os.getpid()}-{time.monotonic_ns()}"
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
            model = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype="float32")
        except ImportError as exc:
            raise SftwiseError(f"reading {path} needs the gguf package: pip install 'sftwise[gguf]' ({first_line(exc)}).") from None
        except (ValueError, KeyError, IndexError, OSError, RuntimeError, TypeError) as exc:
            raise _load_error(path, exc) from None
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.name_or_path = str(path)
        plain = transformers.AutoModelForCausalLM.from_config(config)
        plain.load_state_dict(model.state_dict())
        del model
        tmp.mkdir(parents=True)
        plain.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        marker = {"source": str(path), "sha256": file_sha256(path), "size": path.stat().st_size,
                  "transformers": transformers.__version__, "layout": LAYOUT_VERSION}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        if target.exists():  # an entry without its marker: left by an older layout or a crash
            shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except OSError as exc:
        raise _cache_error(target, exc) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _load_error(path: Path, exc: BaseException) -> SftwiseError:
    text = first_line(exc)
    if "architecture" in text.lower() or "not supported" in text.lower():
        return ParameterError("model", f"{path}: {text} Convert the original model with its Hugging Face weights instead, "
                                       "or use a GGUF file of an architecture transformers reads (llama, mistral, qwen2, gemma, phi3, ...).")
    size = path.stat().st_size
    return ParameterError("model", f"{path} ({size:,} bytes) could not be read as a GGUF model, it is probably truncated or corrupt "
                                   f"({type(exc).__name__}: {text[:200]}). Download or reinstall the file.")


def _cache_error(where: Path, exc: OSError) -> SftwiseError:
    reason = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return SftwiseError(f"cannot write the converted model under {where}: {reason}. Free space there, or point "
                        "SFTWISE_CACHE_DIR at a writable directory with about twice the model's size free.")


@contextlib.contextmanager
def _lock(lock_file: Path) -> Iterator[None]:
    import fcntl

    try:
        handle = lock_file.open("a")
    except OSError as exc:
        raise _cache_error(lock_file.parent, exc) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- keys --------------------------------------------------------------------------------------------


def _stat_key(path: Path) -> tuple[str, str]:
    stat = path.stat()
    return str(stat.st_size), str(stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _sha256(path: str, size: str, mtime_ns: str) -> str:
    """The file's content hash, computed once per (path, size, mtime) in a process (about 0.2 s per 100 MB)."""
    return file_sha256(Path(path))

