"""``sftwise audit``: everything wrong with a fine-tuning dataset, before money is spent on tuning.

:func:`audit` reads each split with :func:`sftwise.formats.read` (whose findings, SW100-SW118, come
first), profiles it once (token counts, characters, text hashes per example), then runs every
registered check and returns an :class:`AuditReport`: the findings, errors first, and Vertex-style
statistics per split.

Checks live one family per module: ``schema`` (SW12x), ``lengths`` (SW2xx), ``dataset`` (SW3xx),
``duplicates`` and ``leakage`` (SW4xx), ``gemini_target`` (SW6xx, for ``target="gemini-*"``); the codes
they emit are declared in :mod:`sftwise.codes`. **Adding a check**: create ``sftwise/audit/<name>.py`` and decorate a function
with :func:`~sftwise.audit.base.split_check` (``fn(split, dataset, ctx)``) or
:func:`~sftwise.audit.base.cross_split_check` (``fn(splits, ctx)``); every module of this package is
imported by :func:`audit`, so nothing else needs editing. ``ctx`` (:class:`AuditContext`) carries
``model``, ``max_tokens``, ``target``, the token counter and the split profiles. A check that raises
is reported as SW199 instead of aborting the audit; a new code gets its row in :mod:`sftwise.codes`.
"""

from __future__ import annotations

import gc
import importlib
import os
import pkgutil
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from sftwise import __version__
from sftwise.audit.base import CROSS_SPLIT_CHECKS, SPLIT_CHECKS, AuditContext, cross_split_check, profile, split_check
from sftwise.audit.stats import DatasetStats, Distribution, dataset_stats
from sftwise.conversation import Dataset
from sftwise.findings import Finding, Severity, emit
from sftwise.formats import read
from sftwise.errors import ParameterError
from sftwise.audit.targets import check_target, choose_limit
from sftwise.models import get_counter

__all__ = ["AuditContext", "AuditReport", "DatasetStats", "Distribution", "audit", "cross_split_check", "load_checks", "split_check"]


_BUILTIN = ("schema", "lengths", "dataset", "duplicates", "leakage", "file_parts", "gemini_target", "openai_target")
_NOT_CHECKS = {"base", "stats", "targets"}
_loaded = False
_load_errors: list[Finding] = []


def load_checks() -> None:
    """Import the built-in check modules, then every other module of this package (plug-ins); the
    checks register themselves with :func:`split_check` / :func:`cross_split_check`."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in _BUILTIN:
        importlib.import_module(f"{__name__}.{name}")
    for info in pkgutil.iter_modules(__path__):
        if info.name in _BUILTIN or info.name in _NOT_CHECKS or info.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{__name__}.{info.name}")
        except Exception as exc:  # a broken plug-in must not take the audit down
            _load_errors.append(emit("SW199", f"audit check module {info.name!r} failed to import ({type(exc).__name__}: {exc}).", "Report this bug; the other checks ran."))


class AuditReport(BaseModel):
    """The result of :func:`audit`: findings (errors first) and statistics per split."""

    findings: list[Finding] = Field(default_factory=list)
    stats: dict[str, DatasetStats] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict)
    model: str | None = None
    tokenizer: str = "estimate"
    max_tokens: int | None = None
    max_tokens_source: str = ""  # where the limit comes from, in full (SW205 repeats it for a default)
    max_tokens_label: str = ""  # the same, short ("default for Gemini files", "gemini-2.5-flash tuning limit")
    target: str | None = None
    max_listed: int = 50
    sftwise_version: str = ""
    supervision: dict[str, Any] | None = None  # totals of the supervision report (train.supervision), or why it was not checked

    @property
    def counts(self) -> dict[str, int]:
        result = {s.value: 0 for s in Severity}
        for f in self.findings:
            result[f.severity.value] += 1
        return result

    @property
    def has_errors(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)

    def capped(self, max_listed: int) -> AuditReport:
        """This report listing at most ``max_listed`` locations per code and file (0 = all), the rest
        counted: what a screen shows, while ``--json`` keeps every finding for scripts."""
        return self.model_copy(update={"findings": _cap(self.findings, max_listed), "max_listed": max_listed})


def _as_dataset(data: Dataset | str | os.PathLike[str], findings: list[Finding]) -> Dataset:
    if isinstance(data, Dataset):
        return data
    result = read(data)
    findings.extend(result.findings)
    return result.dataset


def _run(check: Any, args: tuple, findings: list[Finding]) -> None:
    try:
        findings.extend(check(*args))
    except Exception as exc:
        name = getattr(check, "__qualname__", repr(check))
        findings.append(emit("SW199", f"check {check.__module__}.{name} failed ({type(exc).__name__}: {exc}).", "Report this bug; the other checks ran."))


def audit(
    train: Dataset | str | os.PathLike[str],
    validation: Dataset | str | os.PathLike[str] | None = None,
    test: Dataset | str | os.PathLike[str] | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    *,
    target: str | None = None,
    max_listed: int = 50,
) -> AuditReport:
    """Audit a training file (and optionally validation and test files) and return every finding.

    ``model`` names a tokenizer to count tokens with (a local path or a cached Hugging Face name; no
    download) and a known per-example limit; ``max_tokens`` overrides that limit (your trainer's
    ``max_length``). ``target`` (``gemini-2.5-flash``, ``publishers/google/models/...``,
    ``openai:gpt-4.1-mini``) is checked against that tuning service's limits. A limit is always checked:
    without any of these, the default for the file's layout (:mod:`sftwise.audit.targets`), named in SW205. ``max_listed`` caps how many locations each code lists per file (0 = all).
    """
    if max_tokens is not None and max_tokens <= 0:
        raise ParameterError("max_tokens", f"must be a positive number of tokens, got {max_tokens}.")
    check_target(target)  # an untunable or unknown target is a usage error (exit 2), not a failed check
    gc_was_enabled = gc.isenabled()
    gc.disable()  # see formats.read: the cyclic GC only slows down passes over millions of small objects
    try:
        return _audit(train, validation, test, model, max_tokens, target, max_listed)
    finally:
        if gc_was_enabled:
            gc.enable()


def _audit(train: Any, validation: Any, test: Any, model: str | None, max_tokens: int | None, target: str | None, max_listed: int) -> AuditReport:
    load_checks()
    findings: list[Finding] = list(_load_errors)
    splits: dict[str, Dataset] = {}
    for name, data in (("train", train), ("validation", validation), ("test", test)):
        if data is not None:
            splits[name] = _as_dataset(data, findings)
    counter, problem = get_counter(model)
    token_limit = choose_limit(max_tokens, target, model, counter.context_limit, splits["train"].format if "train" in splits else None)
    limit = token_limit.value
    ctx = AuditContext(model=model, max_tokens=limit, target=target, counter=counter, max_listed=max_listed,
                       files={k: v.path or "<memory>" for k, v in splits.items()}, token_limit=token_limit)
    if problem:
        findings.append(emit("SW204", f"{problem}; token counts are estimates.", "Give a local model directory as the model (--model).", field="model"))
    if counter.estimated:
        findings.append(emit("SW203", "token counts are estimated (UTF-8 bytes / 4), not counted with a tokenizer; chat-template tokens are not included.",
                             "Give a local tokenizer directory as the model (--model PATH) for exact counts."))
    if token_limit.kind == "default":
        findings.append(emit("SW205", f"no model or target gives a per-example token limit; checking the {token_limit.describe()}.",
                             "Give max_tokens (--max-tokens N, your trainer's max_length), a target (--target) or a model with a known limit."))
    stats: dict[str, DatasetStats] = {}
    for name, dataset in splits.items():
        ctx.profiles[name] = prof = profile(dataset, counter)
        stats[name] = dataset_stats(name, dataset.path, dataset.format, prof, counter.name, counter.estimated, limit)
    for name, dataset in splits.items():
        for check in SPLIT_CHECKS:
            _run(check, (name, dataset, ctx), findings)
    for check in CROSS_SPLIT_CHECKS:
        _run(check, (splits, ctx), findings)
    return AuditReport(findings=_cap(_sorted(findings), max_listed), stats=stats, files=ctx.files, model=model, tokenizer=counter.name,
                       max_tokens=limit, max_tokens_source=token_limit.source, max_tokens_label=token_limit.label, target=target, max_listed=max_listed, sftwise_version=__version__)


def _cap(findings: list[Finding], max_listed: int) -> list[Finding]:
    """At most ``max_listed`` located findings per code and file, then one finding counting the rest."""
    if not max_listed:
        return findings
    kept: list[Finding] = []
    seen: dict[tuple[str, str | None], int] = {}
    for f in findings:
        if f.line is None:
            kept.append(f)
            continue
        key = (f.code, f.file)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= max_listed:
            kept.append(f)
    for (code, file), n in seen.items():
        if n > max_listed:
            sample = next(f for f in findings if f.code == code and f.file == file)
            kept.append(sample.model_copy(update={"message": f"{n - max_listed} more {code} findings in this file are not listed (the first {max_listed} are).", "line": None, "column": None, "field": None}))
    return _sorted(kept)


_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def _sorted(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then by file, line and code (as :func:`sort_findings`), with a file's summary
    findings (no line) after its located ones."""
    return sorted(findings, key=lambda f: (_RANK[f.severity], f.file or "", bool(f.file) and f.line is None, f.line or 0, f.code))
