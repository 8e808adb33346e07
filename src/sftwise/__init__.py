"""sftwise: supervised fine-tuning of large language models, done right.

Importing the package is cheap on purpose (no torch, no transformers): the heavy stacks are imported
inside the functions that need them, so ``sftwise audit`` runs on a laptop without them.
"""

from sftwise.conversation import Conversation, Dataset, Part, Record, Source, Turn
from sftwise.findings import Finding, Severity

__version__ = "0.1.0"

__all__ = ["Conversation", "Dataset", "Finding", "Part", "Record", "Severity", "Source", "Turn", "__version__"]
