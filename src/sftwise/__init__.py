"""sftwise: supervised fine-tuning of large language models, done right.

The Python API mirrors the CLI, one function per stage, each returning the pydantic result the
command renders, with parameters named after the command's flags (see :mod:`sftwise.api`)::

    import sftwise

    report = sftwise.audit("train.jsonl", validation="val.jsonl")        # sftwise audit
    dedup = sftwise.dedup("train.jsonl", "train.dedup.jsonl")            # sftwise dedup
    rec = sftwise.recommend(model="gemini-2.5-flash", data="train.dedup.jsonl")
    result = sftwise.train(model="my-model", train="train.dedup.jsonl", validation="val.jsonl", run_dir="runs/x")
    diagnosis = sftwise.diagnose("runs/x")

Importing the package is cheap on purpose (no torch, no transformers, not even pydantic): names are
resolved on first use, and the heavy stacks are imported inside the functions that need them, so
``sftwise --help`` is instant and ``sftwise audit`` runs on a laptop without torch.

Seven stage names are also subpackages or modules (``audit``, ``recommend``, ``train``,
``diagnose``, ``evaluate``, ``judge``, ``report``). Python binds a subpackage to its parent's
attribute when it is first imported, so a plain function of the same name would be replaced by the
module as soon as any code imported it. Instead those modules are made callable: ``sftwise.train``
stays the package (``sftwise.train.local`` works, ``import sftwise.train as t`` gives the module)
and ``sftwise.train(...)`` calls :func:`sftwise.api.train`.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

__version__ = "0.1.0"

_MODEL = {
    "Conversation": "sftwise.conversation",
    "Dataset": "sftwise.conversation",
    "Part": "sftwise.conversation",
    "Record": "sftwise.conversation",
    "Source": "sftwise.conversation",
    "Turn": "sftwise.conversation",
    "Finding": "sftwise.findings",
    "Severity": "sftwise.findings",
    "SftwiseError": "sftwise.errors",
    "ParameterError": "sftwise.errors",
}

# the API, in workflow order; every name is a function of sftwise.api
_API = ("read", "audit", "inspect", "convert", "dedup", "split", "skew", "recommend", "train", "diagnose",
        "evaluate", "compare", "judge", "calibrate", "report", "run")
# API names that are also modules of the package: those modules are made callable (see the docstring)
_STAGE_MODULES = frozenset({"audit", "recommend", "train", "diagnose", "evaluate", "judge", "report"})

__all__ = [*_API, *sorted(_MODEL), "__version__"]


class _Stage(ModuleType):
    """A stage's module that can be called: ``sftwise.audit(...)`` is :func:`sftwise.api.audit`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run this stage through :mod:`sftwise.api`; ``help(sftwise.api.NAME)`` documents it."""
        return _api_function(self)(*args, **kwargs)

    @property
    def __signature__(self) -> Any:  # so that inspect.signature and IPython's ``?`` show the call's parameters
        import inspect

        return inspect.signature(_api_function(self))


def _api_function(stage: ModuleType) -> Any:
    import importlib

    return getattr(importlib.import_module("sftwise.api"), stage.__name__.rpartition(".")[2])


class _Package(ModuleType):
    """The ``sftwise`` package: makes each stage module callable as the import system binds it here."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _STAGE_MODULES and type(value) is ModuleType:
            value.__class__ = _Stage
        super().__setattr__(name, value)


def __getattr__(name: str) -> Any:
    import importlib

    if name in _STAGE_MODULES:
        return importlib.import_module(f"sftwise.{name}")  # binding it here makes it callable (_Package)
    if name in _API:
        return getattr(importlib.import_module("sftwise.api"), name)
    if name in _MODEL:
        return getattr(importlib.import_module(_MODEL[name]), name)
    raise AttributeError(f"module 'sftwise' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


sys.modules[__name__].__class__ = _Package
