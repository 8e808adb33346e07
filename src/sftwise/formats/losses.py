"""What a conversion to a format cannot keep, said before the file is written.

Formats differ in what they can hold: Gemini has no per-message ``weight``, ``name`` or tool-call id;
ShareGPT, Alpaca and prompt-completion have no tool calls, tool declarations or file parts. A
conversion that silently drops any of these trains a different model, so ``sftwise convert`` prints
each loss, counted over the examples, with what becomes of it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sftwise.conversation import Conversation

_FLAT = ("sharegpt", "alpaca", "prompt_completion")


def conversion_losses(conversations: Iterable[Conversation], format: str) -> list[str]:
    """One sentence per kind of content that writing ``conversations`` as ``format`` loses."""
    weights0 = weighted = names = ids = calls = declared = files = non_images = 0
    for c in conversations:
        declared += bool(c.tools)
        for t in c.turns:
            if t.weight is not None:
                weighted += 1
                weights0 += t.weight == 0
            names += t.name is not None
            for p in t.parts:
                if p.function_call is not None or p.function_response is not None:
                    calls += 1
                    ids += bool((p.function_call or p.function_response).id)  # type: ignore[union-attr]
                elif p.file_uri is not None:
                    files += 1
                    non_images += not (p.mime_type or "image/").startswith("image/")
    losses: list[str] = []
    if format != "messages":
        if weights0:
            losses.append(f"{weights0} assistant messages have weight 0 (not trained on); {format} has no per-message weight, so they will be trained on.")
        elif weighted:
            losses.append(f"{weighted} per-message weights (all 1) are dropped; {format} trains on every model turn anyway.")
        if names:
            losses.append(f"{names} message names are dropped ({format} has no per-message name).")
    if format == "gemini" and ids:
        losses.append(f"{ids} tool-call ids are dropped: Gemini pairs calls and results by function name and order (converting back numbers them call_1, call_2, ...).")
    if format in _FLAT:
        if calls:
            losses.append(f"{calls} tool calls and results become JSON text in the turns ({format} has no tool calls); convert to gemini or messages to keep them.")
        if declared:
            losses.append(f"the tool declarations of {declared} examples are dropped ({format} has no tools field).")
        if files:
            losses.append(f"{files} file parts (images, audio, documents) are dropped ({format} holds text only).")
    elif format == "messages" and non_images:
        losses.append(f"{non_images} non-image file parts are written as image_url content (the messages format has no audio, video or PDF part).")
    return losses

