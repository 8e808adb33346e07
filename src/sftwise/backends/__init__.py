"""Text generators behind one protocol (:mod:`sftwise.backends.base`), chosen by a model spec string.

=====================================  =====================================================
spec                                   generator
=====================================  =====================================================
``hf:PATH`` (or a bare existing dir,    :class:`sftwise.backends.hf.HFGenerator`
a ``.gguf`` file, a bundled name)
``openai:MODEL@http://host:port/v1``   :class:`sftwise.backends.openai_compat.OpenAICompatGenerator`
``openai:MODEL``                       the same, base URL from ``OPENAI_BASE_URL`` or OpenAI's
``gemini:MODEL``                       ``sftwise.backends.gemini`` (google-genai), imported lazily
=====================================  =====================================================

``PATH`` is anything :func:`sftwise.models.resolve` reads: a model directory, a LoRA checkpoint, a GGUF file
(``gguf:PATH`` or ``*.gguf``), a bundled short name (``smollm2-135m-instruct``), a hub id.
Backends are imported only when chosen, so ``import sftwise.backends`` never imports torch or an SDK.
"""

from __future__ import annotations

import os
from typing import Any

from sftwise.backends.base import GenerationParams, GenerationRequest, GenerationResult, Generator
from sftwise.errors import ParameterError, SftwiseError
from sftwise.gguf_cache import is_gguf_reference
from sftwise.models import BUNDLED

SCHEMES = ("hf", "openai", "gemini")
FORMS = "hf:PATH (a model directory, a .gguf file or smollm2-135m-instruct), openai:MODEL@http://host:port/v1 or gemini:MODEL"


def parse_spec(model: str) -> tuple[str, str, str | None]:
    """``(scheme, name, base_url)`` from a model spec; raises ParameterError (``model``) naming the forms accepted."""
    if not model or not model.strip():
        raise ParameterError("model", f"is empty; expected {FORMS}.")
    model = model.strip()
    scheme, sep, rest = model.partition(":")
    if not sep or scheme not in SCHEMES:
        if model in BUNDLED or is_gguf_reference(model):
            return "hf", model, None  # a bundled short name or a GGUF file: a local model like a directory
        if os.path.isdir(model):  # os.path: a name too long for the OS is 'not a dir', not an OSError
            return "hf", model, None
        raise ParameterError("model", f"{model!r}: unknown backend; expected {FORMS}.")
    if not rest:
        raise ParameterError("model", f"{model!r}: the part after '{scheme}:' is empty.")
    if scheme == "openai":
        name, at, url = rest.partition("@")
        if at and not url.startswith(("http://", "https://")):
            raise ParameterError("model", f"{model!r}: the base URL after '@' must start with http:// or https://.")
        return scheme, name, url or None
    return scheme, rest, None


def get_generator(model: str, **opts: Any) -> Generator:
    """Build the generator a model spec names. ``opts`` go to its constructor (``batch_size``, ``concurrency``,
    ``max_retries``, ``timeout_s``, ``on_progress``...); options a backend does not take are dropped."""
    import inspect

    scheme, name, base_url = parse_spec(model)
    if scheme == "hf":
        from sftwise.backends.hf import HFGenerator as cls

        args: tuple = (name,)
    elif scheme == "openai":
        from sftwise.backends.openai_compat import OpenAICompatGenerator as cls

        args = (name, base_url)
    else:
        try:
            from sftwise.backends import gemini
        except ImportError as exc:
            raise SftwiseError(f"the gemini backend is not available ({exc}); install 'sftwise[gemini]'.") from None
        cls = getattr(gemini, "GeminiGenerator", None)
        if cls is None:
            raise SftwiseError("sftwise.backends.gemini has no GeminiGenerator yet.")
        args = (name,)
    accepted = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    kwargs = {k: v for k, v in opts.items() if v is not None and (takes_any or k in accepted)}
    return cls(*args, **kwargs)


__all__ = ["GenerationParams", "GenerationRequest", "GenerationResult", "Generator", "get_generator", "parse_spec"]
