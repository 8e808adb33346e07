"""Which per-example token limit an audit checks against, and where that number comes from.

Every audit checks a limit (both peers' validators do): the one given (``max_tokens``), else the tuning
target's (``target="gemini-2.5-flash"`` from :mod:`sftwise.gemini.limits`, ``target="openai:gpt-4.1-mini"``
from :data:`OPENAI_LIMITS` here), else the model's context, else a default for the file's layout:
131,072 for Gemini files (Gemini 2.5 tuning's limit) and 65,536 for every other layout (OpenAI's training
limit for gpt-4o / gpt-4o-mini, the strictest common one). :class:`TokenLimit` carries the number with
its source, so each length finding can say where it came from.

Not a check module: :func:`sftwise.audit.load_checks` skips it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sftwise.errors import ParameterError
from sftwise.gemini.limits import CHECKED, Figure, is_gemini, resolve_model

FORMATS_REFERENCE = "OpenAI fine-tuning docs and cookbook data-prep checks (stored 2026), via ../shared/reference/formats-2026.md"
_ASSUMED_41 = "not in the stored reference: assumed equal to gpt-4o's 65,536 (sftwise.tokens.CONTEXT_LIMITS)"


@dataclass(frozen=True)
class OpenAILimits:
    """The documented per-example training limit of one tunable OpenAI chat model."""

    model: str
    tokens_per_example: Figure


#: tunable OpenAI chat models and their per-example training context (dated, sourced; matched by prefix,
#: so ``gpt-4o-mini-2024-07-18`` is gpt-4o-mini).
OPENAI_LIMITS: dict[str, OpenAILimits] = {
    lim.model: lim
    for lim in (
        OpenAILimits("gpt-4o-mini", Figure(65_536, FORMATS_REFERENCE)),
        OpenAILimits("gpt-4o", Figure(65_536, FORMATS_REFERENCE)),
        OpenAILimits("gpt-3.5-turbo", Figure(16_385, FORMATS_REFERENCE + " (the older chat models)")),
        OpenAILimits("gpt-4.1", Figure(65_536, _ASSUMED_41)),
        OpenAILimits("gpt-4.1-mini", Figure(65_536, _ASSUMED_41)),
        OpenAILimits("gpt-4.1-nano", Figure(65_536, _ASSUMED_41)),
    )
}

GEMINI_DEFAULT = Figure(131_072, "the per-example limit of Gemini 2.5 tuning (Vertex AI docs, stored 2026, via ../shared/reference/gemini-vertex.md)", CHECKED)
OTHER_DEFAULT = Figure(65_536, "OpenAI's per-example training limit for gpt-4o / gpt-4o-mini, the strictest common one "
                               "(via ../shared/reference/formats-2026.md)", CHECKED)

LimitKind = Literal["max_tokens", "target", "model", "default"]


@dataclass(frozen=True)
class TokenLimit:
    """The per-example token limit of an audit, how it was chosen and, in words, where it comes from."""

    value: int
    kind: LimitKind
    source: str
    label: str = ""  # a short name of the source, for findings listed per example


    def describe(self) -> str:
        """``limit 131,072 (SOURCE)``, for a finding's message."""
        return f"limit {self.value:,} ({self.source})"


def openai_model(target: str) -> str | None:
    """The model of an OpenAI target (``openai:gpt-4.1-mini`` or a bare ``gpt-...`` name), else None."""
    name = target.strip()
    if name.lower().startswith("openai:"):
        return name.split(":", 1)[1].strip()
    return name if name.lower().startswith(("gpt-", "ft:gpt-")) else None


def resolve_openai(model: str, *, parameter: str = "target") -> OpenAILimits:
    """The limits of a tunable OpenAI model (the longest table key its name starts with); raises
    :class:`ParameterError` naming ``parameter`` and the table's source for any other."""
    name = model.lower().removeprefix("ft:")
    best = max((key for key in OPENAI_LIMITS if name.startswith(key)), key=len, default=None)
    if best is None:
        raise ParameterError(parameter, f"{model!r} is not an OpenAI model sftwise knows the fine-tuning limit of "
                                        f"(known: {', '.join(sorted(OPENAI_LIMITS))}; table from {FORMATS_REFERENCE}, checked {CHECKED}). "
                                        "Give one of those as openai:MODEL, or set max_tokens.")
    return OPENAI_LIMITS[best]


def check_target(target: str | None) -> None:
    """Raise :class:`ParameterError` (``target``) for a Gemini model that cannot be tuned or an OpenAI model
    without a known limit. Any other target is left to plug-in checks (:class:`AuditContext` carries it)."""
    if not target:
        return
    if is_gemini(target):
        resolve_model(target, parameter="target")
    elif (model := openai_model(target)) is not None:
        resolve_openai(model)


def target_figure(target: str | None) -> tuple[str, Figure] | None:
    """(service model, its per-example token figure) of a valid target, or None without one (or when
    the target's docs state no per-example limit)."""
    if not target:
        return None
    if is_gemini(target):
        lim = resolve_model(target, parameter="target")
        return (lim.model, lim.tokens_per_example) if lim.tokens_per_example.value else None
    model = openai_model(target)
    if model is None:
        return None
    olim = resolve_openai(model)
    return olim.model, olim.tokens_per_example


def choose_limit(max_tokens: int | None, target: str | None, model: str | None, model_limit: int | None,
                 file_format: str | None) -> TokenLimit:
    """The per-example limit in force: ``max_tokens``, else the target's, else the model's, else the default
    for the training file's layout (Gemini: 131,072; any other: 65,536)."""
    if max_tokens:
        return TokenLimit(max_tokens, "max_tokens", "the max_tokens given", "max_tokens given")
    if (found := target_figure(target)) is not None:
        name, figure = found
        service = "OpenAI fine-tuning" if openai_model(target or "") else "Vertex AI tuning"
        return TokenLimit(int(figure.value or 0), "target", f"{service} of {name}: {figure.cite()}", f"{name} tuning limit")
    if model_limit:
        return TokenLimit(model_limit, "model", f"the context of {model}", f"context of {model}")
    if is_gemini(target):
        return TokenLimit(int(GEMINI_DEFAULT.value or 0), "default", f"default for Gemini files, the stored docs give none for {target}: {GEMINI_DEFAULT.source}", "default for Gemini files")
    if file_format == "gemini":
        return TokenLimit(int(GEMINI_DEFAULT.value or 0), "default", f"default for Gemini files: {GEMINI_DEFAULT.source}", "default for Gemini files")
    layout = file_format or "messages"
    return TokenLimit(int(OTHER_DEFAULT.value or 0), "default", f"default for {layout} files: {OTHER_DEFAULT.source}", f"default for {layout} files")
