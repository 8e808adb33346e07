"""The supervision report: which tokens of each example carry loss, after the model's chat template.

Why: a run that silently trains on nothing, on the prompt, or without the end-of-turn token looks
like any other run until its outputs are read. This report shows, before anything is trained, what
the trainer will be given, and turns every problem into a finding (SW210-SW218) with ``file:line``.

It is built on the trainer's own code, never a second implementation: every example goes through
:func:`sftwise.train.data.encode_conversation` (looked up on the module at call time, so a test that
breaks the mask there breaks it here too) and is truncated as :func:`~sftwise.train.data.prepare_split`
truncates. The report then checks the labels against what the template says independently: the
generation prompt's length (prompt tokens must not carry loss), the template's end-of-turn marker
(it must carry loss once per model turn), the cut at ``max_length``. The template itself is probed
once: ``{% generation %}`` markers (SW215), a default system prompt it injects (SW217), and, per
example, a generation prompt that is not a prefix of the training text (SW216).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from sftwise.audit.base import listed
from sftwise.conversation import Dataset
from sftwise.errors import ParameterError
from sftwise.findings import Finding, Severity, emit, sort_findings
from sftwise.train import data as train_data
from sftwise.train.chat_messages import chat_messages

DEFAULT_SHOW = 3
MAX_VIEW_TOKENS = 1024  # tokens of one example kept for the token view (the JSON stays small)
_PROBE_USER, _PROBE_MODEL, _PROBE_SYSTEM = "sftwise probe question", "sftwise probe answer", "sftwise probe system"


class TokenView(BaseModel):
    """One example token by token as the trainer sees it: the text of each token and whether it carries loss."""

    line: int
    tokens: list[str]
    trained: list[bool]
    cut: int | None = None  # index of the first token lost to truncation at max_length, when truncated
    problems: list[str] = Field(default_factory=list)
    hidden_tokens: int = 0  # tokens past MAX_VIEW_TOKENS not kept in the view


class ExampleSupervision(BaseModel):
    """What one example trains on (counts after truncation unless named otherwise)."""

    line: int
    tokens: int = 0  # after the chat template, before truncation
    prompt_tokens: int = 0  # tokens of the generation prompt before the first model turn
    loss_tokens: int = 0  # tokens that carry loss, after truncation
    model_turns: int = 0
    end_of_turn_trained: int = 0  # model turns whose end-of-turn token carries loss
    prompt_trained: bool = False
    truncated: bool = False
    lost_loss_tokens: int = 0  # loss-bearing tokens cut off at max_length
    mask: str = "prefix"  # "prefix", "generation" (the template's blocks), or "error"
    problems: list[str] = Field(default_factory=list)  # finding codes


class SupervisionReport(BaseModel):
    """The result of :func:`inspect_supervision`: findings, per-dataset totals, per-example rows, token views."""

    file: str
    model: str
    max_length: int
    generation_markers: bool
    end_of_turn: str  # the template's end-of-turn marker, or the EOS token when it has none
    default_system: str | None = None
    examples: int = 0
    tokens: int = 0  # after truncation: what the trainer is given
    loss_tokens: int = 0
    loss_share: float = 0.0
    loss_tokens_per_example: dict[str, int] = Field(default_factory=dict)  # min / p50 / p90 / p99 / max
    counts: dict[str, int] = Field(default_factory=dict)  # finding code -> examples with that problem
    findings: list[Finding] = Field(default_factory=list)
    per_example: list[ExampleSupervision] = Field(default_factory=list)
    shown: list[TokenView] = Field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)


def inspect_supervision(
    data: Dataset | str | os.PathLike[str],
    model: str,
    *,
    max_length: int | None = None,
    chat_template: str | None = None,
    show: int = DEFAULT_SHOW,
    max_listed: int = 50,
    tokenizer: Any = None,
) -> SupervisionReport:
    """The supervision report of a data file under ``model``'s tokenizer and chat template.

    ``max_length`` defaults to the trainer's (:class:`~sftwise.train.spec.TrainSpec`); ``chat_template``
    is what ``train`` takes (text, a file, or ``chatml``) for a tokenizer without one; ``show`` token
    views are kept, examples with problems first. ``tokenizer`` skips loading (the pipeline and tests).
    """
    if max_length is None:
        from sftwise.train.spec import TrainSpec

        max_length = int(TrainSpec.model_fields["max_length"].default)
    if max_length <= 0:
        raise ParameterError("max_length", f"must be a positive number of tokens, got {max_length}.")
    if show < 0:
        raise ParameterError("show", f"must be 0 or more examples, got {show}.")
    dataset = data if isinstance(data, Dataset) else train_data.load_conversations(data)
    if tokenizer is None:
        from sftwise.models import load_tokenizer

        tokenizer = load_tokenizer(model)
    train_data.ensure_chat_template(tokenizer, model, chat_template)
    return _report(dataset, tokenizer, model, max_length, show, max_listed)


def _report(dataset: Dataset, tokenizer: Any, model: str, max_length: int, show: int, max_listed: int) -> SupervisionReport:
    file = dataset.path or "<memory>"
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else str(tokenizer.chat_template)
    marker, eot_ids = _end_of_turn(tokenizer)
    default_system = _default_system(tokenizer)
    rows: list[ExampleSupervision] = []
    encoded: list[Any] = []
    errors: dict[int, str] = {}
    for record in dataset:
        row, ex, error = _inspect_example(tokenizer, record, max_length, eot_ids)
        rows.append(row)
        encoded.append(ex)
        if error:
            errors[row.line] = error
    report = SupervisionReport(file=file, model=model, max_length=max_length, generation_markers=train_data.has_generation_markers(template),
                               end_of_turn=marker, default_system=default_system, examples=len(rows), per_example=rows)
    _totals(report, max_length)
    report.findings = sort_findings(_findings(report, dataset, errors, max_listed))
    report.shown = _views(tokenizer, rows, encoded, max_length, show)
    return report


def _inspect_example(tokenizer: Any, record: Any, max_length: int, eot_ids: set[int]) -> tuple[ExampleSupervision, Any, str | None]:
    """One example through the trainer's encoder, then checked against the template's own renderings."""
    from jinja2 import TemplateError

    messages, tools, trained = chat_messages(record.conversation)  # what the trainer renders: weights and tools included
    row = ExampleSupervision(line=record.source.line, model_turns=sum(trained))
    try:
        ex = train_data.encode_conversation(tokenizer, record.conversation)
    except (TemplateError, ParameterError) as exc:
        row.mask = "error"
        row.problems = ["SW218"]
        return row, None, exc.problem if isinstance(exc, ParameterError) else f"{type(exc).__name__}: {exc}"
    labels = np.asarray(ex.labels) != train_data.IGNORE_INDEX
    ids = np.asarray(ex.input_ids)
    row.tokens = len(ids)
    row.mask = ex.mask
    row.prompt_tokens = _prompt_tokens(tokenizer, messages, tools, trained, row.tokens)
    # the last prompt token may merge with the first answer token in BPE: it is not counted as prompt
    row.prompt_trained = bool(labels[: max(row.prompt_tokens - 1, 0)].any())
    row.end_of_turn_trained = min(int((labels & np.isin(ids, list(eot_ids))).sum()), row.model_turns)
    row.truncated = row.tokens > max_length
    full_loss = int(labels.sum())
    row.loss_tokens = int(labels[:max_length].sum())
    row.lost_loss_tokens = full_loss - row.loss_tokens
    problems = []
    if row.loss_tokens == 0:
        problems.append("SW211")
    if full_loss and row.end_of_turn_trained < row.model_turns:
        problems.append("SW212")
    if row.prompt_trained:
        problems.append("SW213")
    if row.lost_loss_tokens:
        problems.append("SW214")
    if ex.mask == "generation":
        problems.append("SW216")
    row.problems = problems
    return row, ex, None


def _prompt_tokens(tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, trained: list[bool], total: int) -> int:
    """Tokens of the generation prompt of the first trained model turn: what the model reads before it answers."""
    first = next((i for i, on in enumerate(trained) if on), None)
    if first is None:
        return total
    if first == 0:
        return 0
    text = tokenizer.apply_chat_template(messages[:first], tools=tools, tokenize=False, add_generation_prompt=True)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _render(tokenizer: Any, messages: list[dict[str, str]]) -> str | None:
    from jinja2 import TemplateError

    try:
        return tokenizer.apply_chat_template(messages, tokenize=False)
    except TemplateError:
        return None


def _end_of_turn(tokenizer: Any) -> tuple[str, set[int]]:
    """The marker the template puts after a model turn (``<|im_end|>``, ``<|eot_id|>``) and its token id;
    the EOS token when the template closes a model turn with nothing."""
    full = _render(tokenizer, [{"role": "user", "content": _PROBE_USER}, {"role": "assistant", "content": _PROBE_MODEL}]) or ""
    at = full.rfind(_PROBE_MODEL)
    marker = full[at + len(_PROBE_MODEL):].strip() if at >= 0 else ""
    if marker:
        ids = tokenizer(marker, add_special_tokens=False)["input_ids"]
        if ids:
            return marker, {int(ids[-1])}
    eos = tokenizer.eos_token_id
    return str(tokenizer.eos_token or ""), ({int(eos)} if eos is not None else set())


def _default_system(tokenizer: Any) -> str | None:
    """The system prompt the template renders when a conversation has none (SmolLM2's "You are a
    helpful AI assistant named SmolLM..."): the text that takes the place of a given system prompt."""
    user = [{"role": "user", "content": _PROBE_USER}]
    bare = _render(tokenizer, user)
    given = _render(tokenizer, [{"role": "system", "content": _PROBE_SYSTEM}, *user])
    if bare is None or given is None or _PROBE_SYSTEM not in given:
        return None
    before, after = given.split(_PROBE_SYSTEM, 1)
    if len(bare) > len(before) + len(after) and bare.startswith(before) and bare.endswith(after):
        return bare[len(before): len(bare) - len(after)].strip() or None
    return None


def _totals(report: SupervisionReport, max_length: int) -> None:
    rows = report.per_example
    report.tokens = sum(min(r.tokens, max_length) for r in rows)
    report.loss_tokens = sum(r.loss_tokens for r in rows)
    report.loss_share = report.loss_tokens / report.tokens if report.tokens else 0.0
    per = np.asarray([r.loss_tokens for r in rows if r.mask != "error"] or [0])
    report.loss_tokens_per_example = dict(zip(("min", "p50", "p90", "p99", "max"), (int(v) for v in np.percentile(per, [0, 50, 90, 99, 100], method="lower"))))
    counts: dict[str, int] = {}
    for r in rows:
        for code in r.problems:
            counts[code] = counts.get(code, 0) + 1
    report.counts = dict(sorted(counts.items()))


_MESSAGES = {
    "SW211": (lambda r: f"no token carries loss ({r.tokens:,} tokens" + (f", {r.lost_loss_tokens:,} supervised ones cut at max_length" if r.lost_loss_tokens else "") + "): this example trains on nothing.",
              "Check the example has a non-empty model turn within max_length; the trainer drops it."),
    "SW212": (lambda r: f"{r.model_turns - r.end_of_turn_trained} of {r.model_turns} model turns end without a loss-bearing end-of-turn token.",
              "The model must be trained on the end-of-turn token to learn to stop; check the chat template and the masking."),
    "SW213": (lambda r: f"tokens of the prompt (the first {r.prompt_tokens:,}, before the first model turn) carry loss.",
              "Only model turns should carry loss; check the masking."),
    "SW214": (lambda r: f"truncation at max_length cuts into a model turn: {r.lost_loss_tokens:,} of {r.loss_tokens + r.lost_loss_tokens:,} supervised tokens are lost ({r.tokens:,} tokens).",
              "Raise max_length, or shorten or drop the example."),
    "SW216": (lambda r: "the generation prompt is not a prefix of this example's training text; the template's {% generation %} blocks give the mask instead.",
              "Use a template that renders earlier turns the same way once later turns are added, or check the model is served with the same rendering."),
}


def _findings(report: SupervisionReport, dataset: Dataset, errors: dict[int, str], max_listed: int) -> list[Finding]:
    file = report.file
    rows = report.per_example
    out: list[Finding] = []
    out += listed("SW218", ((line, f"the chat template fails on this example: {message}") for line, message in errors.items()), file,
                  "Change the example (e.g. merge the system instruction into the first user turn) or pass another template (--chat-template).",
                  max_listed, lambda n: f"{n} more examples the chat template fails on.")
    for code, (message, hint) in _MESSAGES.items():
        out += listed(code, ((r.line, message(r)) for r in rows if code in r.problems), file, hint, max_listed,
                      lambda n, code=code: f"{n} more examples with {code}.")
    if not report.generation_markers:
        out.append(emit("SW215", f"the chat template of {report.model} has no {{% generation %}} markers; sftwise finds each model turn by rendering the conversation up to it "
                                 f"(with the generation prompt) and trains on the characters the turn adds, up to and including its end-of-turn marker {report.end_of_turn!r}.",
                        "Nothing to do when the other checks pass; a template with {% generation %} blocks lets transformers return the mask as well.", file))
    if report.default_system:
        bare = [r.line for r, rec in zip(rows, dataset) if not rec.conversation.system]
        if bare:
            out.append(emit("SW217", f"the chat template injects the default system prompt {report.default_system!r} into the {len(bare):,} examples without a system "
                                     f"instruction (first at line {bare[0]}); the data never shows it, yet the model is tuned under it.",
                            "Serve the tuned model with the same template (so it gets the same system prompt), or give every example your own system instruction.", file))
    if rows:
        dist = " / ".join(f"{v:,}" for v in report.loss_tokens_per_example.values())
        problems = ", ".join(f"{code} {n:,}" for code, n in report.counts.items()) or "none"
        out.append(emit("SW210", f"{report.loss_share:.1%} of {report.tokens:,} tokens carry loss ({report.loss_tokens:,}) over {report.examples:,} examples, "
                                 f"max_length {report.max_length:,}; loss-bearing tokens per example min/p50/p90/p99/max = {dist}; examples with problems: {problems}.",
                        "See `sftwise inspect DATA --model M --show K` to view examples token by token.", file))
    return out


def _views(tokenizer: Any, rows: list[ExampleSupervision], encoded: list[Any], max_length: int, show: int) -> list[TokenView]:
    """Token views of ``show`` examples: those with problems first, then the first ones of the file."""
    order = sorted((k for k, ex in enumerate(encoded) if ex is not None), key=lambda k: (not rows[k].problems, k))
    views = []
    for k in order[:show]:
        ex, row = encoded[k], rows[k]
        ids, labels = ex.input_ids[:MAX_VIEW_TOKENS], ex.labels[:MAX_VIEW_TOKENS]
        views.append(TokenView(line=row.line, tokens=[tokenizer.decode([t]) for t in ids], trained=[x != train_data.IGNORE_INDEX for x in labels],
                               cut=max_length if row.truncated else None, problems=row.problems, hidden_tokens=len(ex.input_ids) - len(ids)))
    return views


def merge_findings(findings: Iterable[Finding], report: SupervisionReport) -> list[Finding]:
    """An audit's findings with the supervision report's, in one order (errors first)."""
    return sort_findings([*findings, *report.findings])


def add_to_audit(audit_report: Any, train: Dataset | str | os.PathLike[str], model: str, *, max_length: int | None = None,
                 chat_template: str | None = None, show: int = DEFAULT_SHOW) -> SupervisionReport | None:
    """The supervision checks inside ``sftwise audit --model M`` and the pipeline's audit step.

    The report's findings join the audit's (``audit_report.findings``) and its totals go to
    ``audit_report.supervision``. A model whose tokenizer cannot be loaded (the audit already says so,
    SW204), or one without a chat template, is not an audit error: the reason is kept in
    ``audit_report.supervision`` instead, said, never silent. ``max_length`` is the trainer's (its
    default when None), not the model's context window. Returns the report, or None when skipped.
    """
    from sftwise.errors import SftwiseError
    from sftwise.formats import read

    try:  # the records that could be read: the audit reports the rest (a strict load would refuse the whole file)
        report = inspect_supervision(train if isinstance(train, Dataset) else read(train).dataset, model, max_length=max_length, chat_template=chat_template,
                                     show=show, max_listed=audit_report.max_listed)
    except SftwiseError as exc:
        audit_report.supervision = {"checked": False, "reason": str(exc)}
        return None
    audit_report.findings = merge_findings(audit_report.findings, report)
    audit_report.supervision = {"checked": True, **report.model_dump(exclude={"findings", "per_example", "shown"})}
    return report
