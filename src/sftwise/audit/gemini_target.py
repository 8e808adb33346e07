"""SW6xx: what Gemini supervised tuning on Vertex AI would reject, for ``sftwise audit --target gemini-MODEL``.

The limits come from the table in :mod:`sftwise.gemini.limits` (dated and sourced there). The checks
read the raw JSONL lines (the service parses the raw file, not our canonical form), so every finding
points at ``file:line`` and the field the service would reject. Token lengths are counted with the
``countTokens`` API when Google credentials are present, else estimated, and SW610 says so.

:func:`check_gemini_target` is what ``train --backend vertex`` runs before it uploads anything;
:func:`check_target` is the same check registered with the audit's cross-split hook.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sftwise.audit.base import AuditContext, cross_split_check
from sftwise.conversation import MODEL, USER, Dataset
from sftwise.findings import Finding, emit
from sftwise.gemini.limits import (
    FILE_PARTS_REFERENCE,
    GB,
    MAX_IMAGES_PER_EXAMPLE,
    TOKENS_PER_IMAGE,
    GeminiLimits,
    RawExample,
    TokenCounter,
    any_images,
    auto_token_counter,
    count_tokens,
    dataset_name,
    example_size,
    file_part_problems,
    is_gemini,
    raw_examples,
    resolve_model,
)
from sftwise.tokens import CHARS_PER_TOKEN


@cross_split_check
def check_target(splits: Mapping[str, Dataset], ctx: AuditContext) -> list[Finding]:
    """The SW6xx findings on train and validation when the audit's ``target`` is a Gemini model (in any
    spelling :func:`~sftwise.gemini.limits.model_id` reads). A file in another layout is an error that
    names ``sftwise convert``: the service reads Gemini JSONL only, and the checks below see it converted."""
    if not is_gemini(ctx.target) or "train" not in splits:
        return []
    assert ctx.target is not None
    layout = [_other_layout(name, ds, ctx.target) for name, ds in splits.items() if name in ("train", "validation")]
    return [f for f in layout if f] + check_gemini_target(splits["train"], splits.get("validation"), target=ctx.target)


def _other_layout(split: str, dataset: Dataset, target: str) -> Finding | None:
    """SW601 for a split whose file is not Gemini JSONL (an OpenAI ``messages`` file, CSV...)."""
    if dataset.format in (None, "gemini"):
        return None
    path = dataset.path or "<memory>"
    first = dataset.records[0].source.line if dataset.records else None
    return emit("SW601", f"{split}: the file is in the {dataset.format} layout; Vertex AI tuning of {target} reads the Gemini layout "
                         "(contents with user/model parts) and would reject it; the SW6xx checks below are on its conversion",
                f"Write the Gemini file with: sftwise convert {path} -o {Path(path).with_suffix('.gemini.jsonl')} --to gemini", path, first)


def _finding(code: str, ex: RawExample, message: str, hint: str = "", field: str | None = None) -> Finding:
    return emit(code, message, hint, file=ex.file, line=ex.line, field=field)


_PART_KEYS = {"text", "fileData", "inlineData", "functionCall", "functionResponse", "thought", "thoughtSignature"}
_TURN_KEYS = {"role", "parts"}
_TOP_KEYS = {"systemInstruction", "system_instruction", "contents", "tools"}
_TURN_ROLES = (USER, MODEL, "function")  # "function": a turn of functionResponse parts, as some docs write it


def _check_parts(ex: RawExample, parts: Any, where: str, limits: GeminiLimits, out: list[Finding]) -> None:
    """Check one ``parts`` list (of a turn or of the system instruction at ``where``)."""
    if not isinstance(parts, list) or not parts:
        out.append(_finding("SW601", ex, "`parts` must be a non-empty list", "Give each turn at least one {\"text\": ...} part.", f"{where}.parts"))
        return
    for j, part in enumerate(parts):
        loc = f"{where}.parts[{j}]"
        if not isinstance(part, dict):
            out.append(_finding("SW601", ex, f"a part must be an object, got {type(part).__name__}", 'Write {"text": "..."}.', loc))
            continue
        unknown = set(part) - _PART_KEYS
        if unknown:
            out.append(_finding("SW601", ex, f"unknown part field(s) {sorted(unknown)}", "A part holds one of text, fileData, functionCall, functionResponse.", loc))
        if "text" in part and not isinstance(part["text"], str):
            out.append(_finding("SW601", ex, f"`text` must be a string, got {type(part['text']).__name__}", "", f"{loc}.text"))
        if "inlineData" in part:
            out.append(_finding("SW604", ex, "inline file data is not accepted by tuning", "Upload the file to gs:// and reference it as fileData {mimeType, fileUri}.", f"{loc}.inlineData"))
        if "fileData" in part:
            for problem in file_part_problems(part["fileData"]):
                code = "SW601" if problem.kind == "not-object" else "SW604"
                sub = f".{problem.field}" if problem.field else ""
                out.append(_finding(code, ex, f"{problem.message} ({FILE_PARTS_REFERENCE})", problem.hint, f"{loc}.fileData{sub}"))
        if "functionCall" in part and limits.rejects_function_calls:
            out.append(_finding("SW611", ex, f"functionCall part; {limits.model} tuning was seen to reject these", "Try a small job first or tune gemini-2.5-pro.", loc))


def check_example(ex: RawExample, limits: GeminiLimits) -> list[Finding]:
    """Schema, turn order, file parts and images of one raw line (the lengths are checked per file).

    A line that :func:`~sftwise.gemini.limits.example_size` cannot count always has an error here.
    """
    out: list[Finding] = []
    if ex.error:
        return [_finding("SW601", ex, ex.error, "Each line must be one complete JSON object.")]
    obj = ex.obj
    if not isinstance(obj, dict):
        return [_finding("SW601", ex, f"expected a JSON object, got {type(obj).__name__}", "Each line is one example object.")]
    if "messages" in obj and "contents" not in obj:
        return [_finding("SW601", ex, "`messages` is the OpenAI (or Gemini 1.0) layout; Gemini tuning needs `contents`",
                         "Write the Gemini file with: sftwise convert FILE -o OUT.jsonl --to gemini", "messages")]
    unknown = set(obj) - _TOP_KEYS
    if unknown:
        out.append(_finding("SW601", ex, f"unknown top-level field(s) {sorted(unknown)}", "Only systemInstruction, contents and tools are accepted; move ids and labels elsewhere."))
    for key in ("systemInstruction", "system_instruction"):
        if key not in obj:
            continue
        si = obj[key]
        if not isinstance(si, dict):
            out.append(_finding("SW601", ex, f"`{key}` must be an object with `parts`", "", key))
            continue
        if extra := set(si) - _TURN_KEYS:
            out.append(_finding("SW601", ex, f"unknown field(s) {sorted(extra)} in the system instruction; the service rejects them",
                                "A system instruction holds `parts` (and an ignored `role`).", key))
        _check_parts(ex, si.get("parts"), key, limits, out)
    contents = obj.get("contents")
    if not isinstance(contents, list) or not contents:
        out.append(_finding("SW601", ex, "`contents` must be a non-empty list of turns", "Add the user turn and the model's answer.", "contents"))
        return out
    previous = None
    for k, turn in enumerate(contents):
        loc = f"contents[{k}]"
        if not isinstance(turn, dict):
            out.append(_finding("SW601", ex, f"a turn must be an object, got {type(turn).__name__}", "", loc))
            continue
        if extra := set(turn) - _TURN_KEYS:
            out.append(_finding("SW601", ex, f"unknown field(s) {sorted(extra)} in a turn; the service rejects them",
                                'A turn holds "role" and "parts" only; move ids and labels out of the turn.', f"{loc}.{sorted(extra)[0]}"))
        role = turn.get("role")
        if role not in _TURN_ROLES:
            out.append(_finding("SW601", ex, f"role must be 'user' or 'model', got {role!r}",
                                "Gemini spells the assistant 'model'; a system prompt goes in systemInstruction.", f"{loc}.role"))
        elif k == 0 and role == MODEL:
            out.append(_finding("SW602", ex, "the conversation starts with a model turn", "Start with the user's turn.", f"{loc}.role"))
        elif role == previous and role != "function":  # parallel results may come as consecutive function turns
            out.append(_finding("SW602", ex, f"two consecutive {role!r} turns", "Merge them into one turn with several parts.", f"{loc}.role"))
        previous = role
        _check_parts(ex, turn.get("parts"), loc, limits, out)
    if previous != MODEL:
        out.append(_finding("SW603", ex, "the example does not end with a model turn", "Add the expected answer as the last (model) turn.", f"contents[{len(contents) - 1}]"))
    images = example_size(obj).images
    if images > MAX_IMAGES_PER_EXAMPLE:
        out.append(_finding("SW605", ex, f"{images} images; the limit is {MAX_IMAGES_PER_EXAMPLE} per example ({FILE_PARTS_REFERENCE})", "Split the example."))
    return out


def check_gemini_target(
    train: Dataset | str | os.PathLike[str],
    validation: Dataset | str | os.PathLike[str] | None = None,
    *,
    target: str,
    token_counter: TokenCounter | None | str = "auto",
    max_listed: int = 20,
) -> list[Finding]:
    """Every SW6xx finding for tuning ``target`` (``gemini-2.5-flash``...) on ``train`` and ``validation``.

    ``token_counter`` counts one example's tokens exactly (see
    :func:`~sftwise.gemini.limits.api_token_counter`); ``"auto"`` uses the countTokens API when Google
    credentials are present (:func:`~sftwise.gemini.limits.auto_token_counter`); with ``None`` or
    without credentials lengths are offline estimates and an SW610 finding says so.
    Raises :class:`~sftwise.errors.ParameterError` (``target``) when the target is not a tunable model.
    """
    limits = resolve_model(target, parameter="target")
    why_estimated = "token_counter=None"
    if token_counter == "auto":
        token_counter, why_estimated = auto_token_counter(limits.model)
    findings: list[Finding] = []
    sizes: dict[str, int] = {}
    for role, data in (("train", train), ("validation", validation)):
        if data is None:
            continue
        name, examples, size = raw_examples(data)
        sizes[role] = len(examples)
        per_example_findings, total_tokens, how = _check_file(examples, limits, token_counter, max_listed)
        findings.extend(per_example_findings)
        max_bytes = limits.max_file_bytes.value
        if size is not None and max_bytes and size > max_bytes:
            findings.append(emit("SW609", f"{size / GB:.2f} GB; {limits.model} accepts at most {max_bytes / GB:.0f} GB of JSONL per file ({limits.max_file_bytes.cite()})",
                                 "Split off a subsample or drop near-duplicates (sftwise dedup).", file=name))
        findings.append(emit("SW612", f"{len(examples)} examples, {total_tokens:,} tokens ({how}) for {limits.model}",
                             "Billed training tokens = dataset tokens x epochs.", file=name))
    findings.extend(_check_sizes(train, validation, sizes, limits))
    if token_counter is None:
        findings.append(emit("SW610", f"token counts are offline estimates (UTF-8 bytes / {CHARS_PER_TOKEN} per token, {TOKENS_PER_IMAGE} per image), not the countTokens API ({why_estimated})",
                             "For exact counts run `gcloud auth application-default login` and set GOOGLE_CLOUD_PROJECT."))
    return findings


def _check_sizes(train: Any, validation: Any, sizes: dict[str, int], limits: GeminiLimits) -> list[Finding]:
    """SW607 and SW608: the number of training and validation examples against the model's caps."""
    findings: list[Finding] = []
    n_train = sizes.get("train", 0)
    has_images = any_images(train)  # the multimodal cap applies as soon as one example has an image
    figure = limits.max_training_examples_multimodal if has_images else limits.max_training_examples_text
    cap = figure.value
    if cap and n_train > cap:
        findings.append(emit("SW607", f"{n_train:,} training examples; {limits.model} accepts at most {int(cap):,} ({'multimodal' if has_images else 'text-only'}; {figure.cite()})",
                             "Subsample or deduplicate (sftwise dedup) before tuning.", file=dataset_name(train)))
    if validation is not None:
        n_val = sizes.get("validation", 0)
        figure = limits.max_validation_examples
        cap_val = int(figure.value or 0)
        if cap_val and n_val > cap_val:
            findings.append(emit("SW608", f"{n_val:,} validation examples; {limits.model} accepts at most {cap_val:,} ({figure.cite()})",
                                 f"Keep a random {cap_val:,} (sftwise split) and move the rest to the test set.", file=dataset_name(validation)))
    return findings


def _check_file(examples: list[RawExample], limits: GeminiLimits, counter: TokenCounter | None, max_listed: int) -> tuple[list[Finding], int, str]:
    """The per-example findings of one file, then SW606 for the examples over the token limit;
    also the file's total tokens and how they were counted."""
    findings = [f for ex in examples for f in check_example(ex, limits)]
    counts, how = count_tokens(examples, counter)
    limit = int(limits.tokens_per_example.value or 0)
    over = [c for c in counts if limit and c.tokens > limit]
    for c in over[:max_listed]:
        findings.append(emit("SW606", f"{c.tokens:,} tokens ({'countTokens API' if c.exact else 'offline estimate'}); {limits.model} accepts at most {limit:,} per example ({limits.tokens_per_example.cite()})",
                             "Shorten the example (trim the context, split long conversations) or drop it.", file=c.file, line=c.line))
    if len(over) > max_listed:
        findings.append(emit("SW606", f"{len(over) - max_listed} more examples are over the {limit:,}-token limit",
                             "Run sftwise audit --json to list them all.", file=counts[0].file))
    return findings, sum(c.tokens for c in counts), how
