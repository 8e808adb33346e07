"""sftwise: supervised fine-tuning of large language models, done right.

Importing the package is cheap on purpose (no torch, no transformers, not even pydantic): names are
resolved on first use, and the heavy stacks are imported inside the functions that need them, so
``sftwise --help`` is instant and ``sftwise audit`` runs on a laptop without torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Conversation": "sftwise.conversation",
    "Dataset": "sftwise.conversation",
    "Part": "sftwise.conversation",
    "Record": "sftwise.conversation",
    "Source": "sftwise.conversation",
    "Turn": "sftwise.conversation",
    "Finding": "sftwise.findings",
    "Severity": "sftwise.findings",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sftwise' has no attribute {name!r}")
