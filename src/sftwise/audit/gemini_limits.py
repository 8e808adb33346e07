"""What Gemini supervised tuning on Vertex AI accepts: the service's limits per base model, and the
checks behind ``sftwise audit --target gemini-MODEL`` (codes SW6xx).

The limits live in one table, :data:`GEMINI_LIMITS`, with the date and the source of every figure, so
that a changed limit is a one-line edit and a user can see how old a figure is. The checks read the
raw JSONL lines (the service parses the raw file, not our canonical form), so every finding points at
``file:line`` and the field the service would reject.

Token counts: with a Gemini client (credentials present) the count of each example comes from the
``countTokens`` API of the chosen base model; otherwise it is the project's offline estimate
(``sftwise.tokens``: UTF-8 bytes / 4, plus 258 tokens per image) and every length finding says so (SW610).

This module imports neither ``google.genai`` nor ``sftwise.train``: audit must run on a laptop with no
cloud SDK; the client, when there is one, is passed in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sftwise.conversation import MODEL, USER, Dataset
from sftwise.findings import Finding, Severity, rule
from sftwise.errors import SftwiseError
from sftwise.tokens import CHARS_PER_TOKEN
from sftwise.tokens import estimate_tokens as estimate_text_tokens

# -- the table ---------------------------------------------------------------------------------

REFERENCE = "Vertex AI docs 'Prepare supervised fine-tuning data for Gemini' and 'About supervised fine-tuning', via ../shared/reference/gemini-vertex.md"
CHECKED = date(2026, 11, 1)

IMAGE_MIME_TYPES = ("image/jpeg", "image/png")
MAX_IMAGES_PER_EXAMPLE = 30
MAX_IMAGE_BYTES = 20 * 1024 * 1024
GB = 1024**3


@dataclass(frozen=True)
class Figure:
    """One documented number with where and when it was read."""

    value: float | int | None
    source: str = REFERENCE
    checked: date = CHECKED


@dataclass(frozen=True)
class GeminiLimits:
    """The documented limits of supervised tuning for one base model."""

    model: str
    tokens_per_example: Figure
    max_validation_examples: Figure
    validation_fraction_over_1000: Figure  # 2.5: "5,000, or 30 % (of the training examples) when over 1,000 validation examples"
    max_training_examples_text: Figure
    max_training_examples_multimodal: Figure
    max_file_bytes: Figure
    adapter_sizes: tuple[int, ...]
    default_adapter_size: int
    discontinued: date | None = None
    rejects_function_calls: bool = False
    aliases: tuple[str, ...] = field(default_factory=tuple)


def _f(value: float | int | None) -> Figure:
    return Figure(value)


GEMINI_LIMITS: dict[str, GeminiLimits] = {
    limits.model: limits
    for limits in (
        GeminiLimits(
            "gemini-1.5-pro-002", _f(32_000), _f(256), _f(None), _f(None), _f(None), _f(1 * GB),
            adapter_sizes=(1, 4), default_adapter_size=4,
        ),
        GeminiLimits(
            "gemini-1.5-flash-002", _f(128_000), _f(256), _f(None), _f(None), _f(None), _f(1 * GB),
            adapter_sizes=(1, 4, 8, 16), default_adapter_size=8,
        ),
        GeminiLimits(
            "gemini-2.0-flash-001", _f(131_072), _f(5_000), _f(None), _f(1_000_000), _f(300_000), _f(1 * GB),
            adapter_sizes=(1, 2, 4, 8), default_adapter_size=4, discontinued=date(2026, 6, 1),
            aliases=("gemini-2.0-flash",),
        ),
        GeminiLimits(
            "gemini-2.0-flash-lite-001", _f(131_072), _f(5_000), _f(None), _f(1_000_000), _f(300_000), _f(1 * GB),
            adapter_sizes=(1, 2, 4, 8), default_adapter_size=4, discontinued=date(2026, 6, 1),
            aliases=("gemini-2.0-flash-lite",),
        ),
        GeminiLimits(
            "gemini-2.5-flash", _f(131_072), _f(5_000), _f(0.30), _f(10_000_000), _f(300_000), _f(1 * GB),
            adapter_sizes=(1, 2, 4, 8, 16), default_adapter_size=4, rejects_function_calls=True,
        ),
        GeminiLimits(
            "gemini-2.5-flash-lite", _f(131_072), _f(5_000), _f(0.30), _f(10_000_000), _f(300_000), _f(1 * GB),
            adapter_sizes=(1, 2, 4, 8, 16), default_adapter_size=4,
        ),
        GeminiLimits(
            "gemini-2.5-pro", _f(131_072), _f(5_000), _f(0.30), _f(10_000_000), _f(300_000), _f(1 * GB),
            adapter_sizes=(1, 2, 4, 8), default_adapter_size=4,
        ),
    )
}

ADAPTER_SIZE_ENUM = {
    1: "ADAPTER_SIZE_ONE", 2: "ADAPTER_SIZE_TWO", 4: "ADAPTER_SIZE_FOUR", 8: "ADAPTER_SIZE_EIGHT",
    16: "ADAPTER_SIZE_SIXTEEN", 32: "ADAPTER_SIZE_THIRTY_TWO",
}

MAX_API_COUNTS = 2_000  # countTokens calls per file; beyond, the longest examples by estimate are counted
API_COUNT_THREADS = 8
TOKENS_PER_IMAGE = 258  # Gemini's documented cost of one image up to 384x384


def tunable_models() -> list[str]:
    return sorted(GEMINI_LIMITS)


def resolve_model(name: str, today: date | None = None) -> GeminiLimits:
    """The limits of a base model named ``gemini-2.5-flash``, ``gemini-MODEL`` or ``publishers/google/models/...``.

    Raises :class:`SftwiseError` for a model that cannot be tuned or was discontinued.
    """
    raw = name.strip()
    short = raw.split("/")[-1]
    if short.startswith("gemini:"):
        short = short.split(":", 1)[1]
    match = GEMINI_LIMITS.get(short) or next((lim for lim in GEMINI_LIMITS.values() if short in lim.aliases), None)
    if match is None:
        raise SftwiseError(
            f"base model {name!r} cannot be tuned on Vertex AI (sftwise knows the limits of: "
            f"{', '.join(tunable_models())}; table checked {CHECKED}). Pick one of those, e.g. --model gemini-2.5-flash."
        )
    today = today or date.today()
    if match.discontinued and today >= match.discontinued:
        raise SftwiseError(
            f"base model {match.model} was discontinued for tuning on {match.discontinued}; "
            "tune gemini-2.5-flash or gemini-2.5-flash-lite instead (same JSONL format)."
        )
    return match


def adapter_enum(size: int, limits: GeminiLimits) -> str:
    """The service's spelling of an adapter size (``4`` -> ``ADAPTER_SIZE_FOUR``), checked against the model."""
    if size not in limits.adapter_sizes:
        raise SftwiseError(
            f"adapter size {size} is not offered for {limits.model}; choose one of "
            f"{', '.join(map(str, limits.adapter_sizes))} (default {limits.default_adapter_size})."
        )
    return ADAPTER_SIZE_ENUM[size]


# -- rules -------------------------------------------------------------------------------------

SCHEMA = "SW601"
TURN_ORDER = "SW602"
NO_FINAL_MODEL = "SW603"
FILE_PART = "SW604"
TOO_MANY_IMAGES = "SW605"
TOKENS_PER_EXAMPLE = "SW606"
TOO_MANY_EXAMPLES = "SW607"
VALIDATION_SIZE = "SW608"
FILE_SIZE = "SW609"
ESTIMATED_TOKENS = "SW610"
FUNCTION_CALLS = "SW611"
COUNT_SUMMARY = "SW612"

rule(SCHEMA, "gemini-schema", Severity.ERROR,
     "A line is not in the JSONL schema Gemini tuning accepts.",
     "Vertex AI parses the raw file and fails the whole job (after queueing) on the first malformed line: each line must be one "
     "object with `contents` (turns of role user/model with `parts`), an optional `systemInstruction` with `parts`, and optional `tools`.",
     '{"contents": [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "hello"}]}]}')
rule(TURN_ORDER, "gemini-turn-order", Severity.ERROR,
     "Two consecutive turns have the same role, or the conversation starts with a model turn.",
     "Google's own dataset validator treats consecutive same-role turns as an error; merge them into one turn.")
rule(NO_FINAL_MODEL, "gemini-no-final-model-turn", Severity.WARNING,
     "The example does not end with a model turn.",
     "Only model turns are trained on; a trailing user turn contributes no loss and costs tokens.")
rule(FILE_PART, "gemini-file-part", Severity.ERROR,
     "A file part uses inline data, a non-gs:// URI, or a mime type tuning does not accept.",
     "Tuning reads images only from Cloud Storage (fileData.fileUri gs://...) as image/jpeg or image/png; inlineData is rejected.")
rule(TOO_MANY_IMAGES, "gemini-too-many-images", Severity.ERROR,
     f"An example has more than {MAX_IMAGES_PER_EXAMPLE} images.",
     "The service rejects examples over its per-example image limit.")
rule(TOKENS_PER_EXAMPLE, "gemini-tokens-per-example", Severity.ERROR,
     "An example is longer than the base model's tokens-per-example limit.",
     "The service truncates or drops over-long examples (reported later as truncated_example_indices): the model then learns from cut-off targets.")
rule(TOO_MANY_EXAMPLES, "gemini-too-many-examples", Severity.ERROR,
     "The training set has more examples than the base model accepts.",
     "The job is rejected; subsample or deduplicate first.")
rule(VALIDATION_SIZE, "gemini-validation-size", Severity.ERROR,
     "The validation set is larger than the service allows.",
     "Vertex caps the validation set (256 for 1.5, 5,000 for 2.x; for 2.5 above 1,000 validation examples also 30 % of the training examples).")
rule(FILE_SIZE, "gemini-file-size", Severity.ERROR,
     "A dataset file is larger than the service's maximum JSONL size.",
     "The job is rejected when the uploaded file is over the size limit.")
rule(ESTIMATED_TOKENS, "gemini-estimated-tokens", Severity.INFO,
     "Token counts are an offline estimate, not the countTokens API.",
     "Without Google credentials sftwise estimates tokens as UTF-8 bytes / 4 (sftwise.tokens); exact counts need `gcloud auth application-default login`.")
rule(FUNCTION_CALLS, "gemini-function-calls", Severity.WARNING,
     "The example has functionCall parts, which this base model was seen to reject.",
     "Gemini 2.5 Flash tuning has been reported to reject function-call parts; check with a small job first.")
rule(COUNT_SUMMARY, "gemini-token-summary", Severity.INFO,
     "Token totals of the dataset for the chosen base model (what tuning bills, per epoch).",
     "Billed training tokens = dataset tokens x epochs; see `sftwise recommend` for the cost estimate.")


# -- reading raw lines -------------------------------------------------------------------------

@dataclass
class RawExample:
    """One line of a Gemini JSONL file, parsed but not converted."""

    file: str
    line: int
    obj: Any
    error: str | None = None


def iter_raw(path: str | os.PathLike[str]) -> Iterator[RawExample]:
    name = str(path)
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, 1):
            if not text.strip():
                continue
            try:
                yield RawExample(name, number, json.loads(text))
            except json.JSONDecodeError as exc:
                yield RawExample(name, number, None, f"not valid JSON ({exc.msg} at column {exc.colno})")


def _raw_examples(data: Dataset | str | os.PathLike[str]) -> tuple[str, list[RawExample], int | None]:
    """(name, examples, file size) from a path (raw lines) or a Dataset (its file when Gemini JSONL, else converted)."""
    if isinstance(data, Dataset):
        if data.path and data.format in (None, "gemini") and Path(data.path).is_file() and str(data.path).endswith(".jsonl"):
            return _raw_examples(data.path)
        from sftwise.formats.records import emit_gemini

        name = data.path or "<memory>"
        examples = [RawExample(r.source.path, r.source.line, emit_gemini(r.conversation)) for r in data.records]
        size = sum(len(json.dumps(e.obj, ensure_ascii=False).encode()) + 1 for e in examples)
        return name, examples, size
    path = Path(data)
    if not path.is_file():
        raise SftwiseError(f"dataset {path} does not exist or is not a file")
    if path.suffix.lower() != ".jsonl":
        raise SftwiseError(
            f"{path}: Vertex AI tuning reads Gemini JSONL only; convert first: "
            f"sftwise convert {path} -o {path.with_suffix('.jsonl')} --to gemini"
        )
    return str(path), list(iter_raw(path)), path.stat().st_size


# -- per-example checks ------------------------------------------------------------------------

def _finding(code: str, severity: Severity, ex: RawExample, message: str, hint: str = "", field: str | None = None) -> Finding:
    return Finding(code=code, severity=severity, message=message, hint=hint, file=ex.file, line=ex.line, field=field)


_PART_KEYS = {"text", "fileData", "inlineData", "functionCall", "functionResponse", "thought", "thoughtSignature"}


def _check_parts(ex: RawExample, parts: Any, where: str, limits: GeminiLimits, out: list[Finding]) -> tuple[int, int]:
    """Check one ``parts`` list; return (estimated text tokens, number of images)."""
    text_tokens = images = 0
    if not isinstance(parts, list) or not parts:
        out.append(_finding(SCHEMA, Severity.ERROR, ex, "`parts` must be a non-empty list", "Give each turn at least one {\"text\": ...} part.", f"{where}.parts"))
        return 0, 0
    for j, part in enumerate(parts):
        loc = f"{where}.parts[{j}]"
        if not isinstance(part, dict):
            out.append(_finding(SCHEMA, Severity.ERROR, ex, f"a part must be an object, got {type(part).__name__}", 'Write {"text": "..."}.', loc))
            continue
        unknown = set(part) - _PART_KEYS
        if unknown:
            out.append(_finding(SCHEMA, Severity.ERROR, ex, f"unknown part field(s) {sorted(unknown)}", "A part holds one of text, fileData, functionCall, functionResponse.", loc))
        if "text" in part:
            if not isinstance(part["text"], str):
                out.append(_finding(SCHEMA, Severity.ERROR, ex, f"`text` must be a string, got {type(part['text']).__name__}", "", f"{loc}.text"))
            else:
                text_tokens += estimate_text_tokens(part["text"])
        if "inlineData" in part:
            out.append(_finding(FILE_PART, Severity.ERROR, ex, "inline file data is not accepted by tuning", "Upload the file to gs:// and reference it as fileData {mimeType, fileUri}.", f"{loc}.inlineData"))
        if "fileData" in part:
            fd = part["fileData"]
            if not isinstance(fd, dict):
                out.append(_finding(SCHEMA, Severity.ERROR, ex, "`fileData` must be an object with mimeType and fileUri", "", f"{loc}.fileData"))
                continue
            uri, mime = fd.get("fileUri"), fd.get("mimeType")
            if not isinstance(uri, str) or not uri.startswith("gs://"):
                out.append(_finding(FILE_PART, Severity.ERROR, ex, f"fileData.fileUri must be a gs:// URI, got {uri!r}", "Upload the file to Cloud Storage and use its gs:// URI.", f"{loc}.fileData.fileUri"))
            if mime not in IMAGE_MIME_TYPES:
                out.append(_finding(FILE_PART, Severity.ERROR, ex, f"fileData.mimeType {mime!r} is not accepted for tuning", f"Use one of {', '.join(IMAGE_MIME_TYPES)}.", f"{loc}.fileData.mimeType"))
            images += 1
        if "functionCall" in part and limits.rejects_function_calls:
            out.append(_finding(FUNCTION_CALLS, Severity.WARNING, ex, f"functionCall part; {limits.model} tuning was seen to reject these", "Try a small job first or tune gemini-2.5-pro.", loc))
    return text_tokens, images


@dataclass
class ExampleStats:
    file: str
    line: int
    text_tokens: int  # offline estimate of the text parts
    images: int
    obj: Any


def check_example(ex: RawExample, limits: GeminiLimits) -> tuple[list[Finding], ExampleStats | None]:
    """Schema, turn order and file parts of one raw line; stats for the length checks when it parsed."""
    out: list[Finding] = []
    if ex.error:
        return [_finding(SCHEMA, Severity.ERROR, ex, ex.error, "Each line must be one complete JSON object.")], None
    obj = ex.obj
    if not isinstance(obj, dict):
        return [_finding(SCHEMA, Severity.ERROR, ex, f"expected a JSON object, got {type(obj).__name__}", "Each line is one example object.")], None
    if "messages" in obj and "contents" not in obj:
        return [_finding(SCHEMA, Severity.ERROR, ex, "`messages` is the Gemini 1.0 / OpenAI layout; Gemini 1.5+ tuning needs `contents`",
                         "Convert: sftwise convert FILE -o OUT.jsonl --to gemini", "messages")], None
    unknown = set(obj) - {"systemInstruction", "contents", "tools"}
    if unknown:
        out.append(_finding(SCHEMA, Severity.ERROR, ex, f"unknown top-level field(s) {sorted(unknown)}", "Only systemInstruction, contents and tools are accepted; move ids and labels elsewhere."))
    text_tokens = images = 0
    if "systemInstruction" in obj:
        si = obj["systemInstruction"]
        if not isinstance(si, dict):
            out.append(_finding(SCHEMA, Severity.ERROR, ex, "`systemInstruction` must be an object with `parts`", "", "systemInstruction"))
        else:
            c, i = _check_parts(ex, si.get("parts"), "systemInstruction", limits, out)
            text_tokens, images = text_tokens + c, images + i
    contents = obj.get("contents")
    if not isinstance(contents, list) or not contents:
        out.append(_finding(SCHEMA, Severity.ERROR, ex, "`contents` must be a non-empty list of turns", "Add the user turn and the model's answer.", "contents"))
        return out, None
    previous = None
    for k, turn in enumerate(contents):
        loc = f"contents[{k}]"
        if not isinstance(turn, dict):
            out.append(_finding(SCHEMA, Severity.ERROR, ex, f"a turn must be an object, got {type(turn).__name__}", "", loc))
            continue
        role = turn.get("role")
        if role not in (USER, MODEL):
            out.append(_finding(SCHEMA, Severity.ERROR, ex, f"role must be 'user' or 'model', got {role!r}",
                                "Gemini spells the assistant 'model'; a system prompt goes in systemInstruction.", f"{loc}.role"))
        elif k == 0 and role == MODEL:
            out.append(_finding(TURN_ORDER, Severity.ERROR, ex, "the conversation starts with a model turn", "Start with the user's turn.", f"{loc}.role"))
        elif role == previous:
            out.append(_finding(TURN_ORDER, Severity.ERROR, ex, f"two consecutive {role!r} turns", "Merge them into one turn with several parts.", f"{loc}.role"))
        previous = role
        c, i = _check_parts(ex, turn.get("parts"), loc, limits, out)
        text_tokens, images = text_tokens + c, images + i
    if previous != MODEL:
        out.append(_finding(NO_FINAL_MODEL, Severity.WARNING, ex, "the example does not end with a model turn", "Add the expected answer as the last (model) turn.", f"contents[{len(contents) - 1}]"))
    if images > MAX_IMAGES_PER_EXAMPLE:
        out.append(_finding(TOO_MANY_IMAGES, Severity.ERROR, ex, f"{images} images; the limit is {MAX_IMAGES_PER_EXAMPLE} per example", "Split the example."))
    return out, ExampleStats(ex.file, ex.line, text_tokens, images, obj)


# -- token counting ----------------------------------------------------------------------------

def estimate_tokens(stats: ExampleStats) -> int:
    """Offline estimate: UTF-8 bytes / 4 per text part (``sftwise.tokens``) + 258 per image."""
    return stats.text_tokens + TOKENS_PER_IMAGE * stats.images


TokenCounter = Callable[[dict[str, Any]], int]


def api_token_counter(client: Any, model: str) -> TokenCounter:
    """Count one example's tokens with the ``countTokens`` API of ``model`` (system instruction included)."""
    from google.genai import types

    def count(obj: dict[str, Any]) -> int:
        contents = [types.Content.model_validate(turn) for turn in obj["contents"]]
        config = None
        if isinstance(obj.get("systemInstruction"), dict):
            system = types.Content.model_validate(obj["systemInstruction"])
            config = types.CountTokensConfig(system_instruction=system)
        response = client.models.count_tokens(model=model, contents=contents, config=config)
        return int(response.total_tokens or 0)

    return count


def _adc_present() -> bool:
    """Cheap signs of Application Default Credentials (no metadata-server probe, no network)."""
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return True
    config = os.environ.get("CLOUDSDK_CONFIG") or os.path.join(os.path.expanduser("~"), ".config", "gcloud")
    return os.path.isfile(os.path.join(config, "application_default_credentials.json"))


def auto_token_counter(model: str) -> tuple[TokenCounter | None, str]:
    """The countTokens counter when credentials are present (``SFTWISE_COUNT_TOKENS=0`` turns it off), else
    ``(None, why)``. Builds the client from ``sftwise.gemini.client`` (project: ``GOOGLE_CLOUD_PROJECT`` or ADC)."""
    if os.environ.get("SFTWISE_COUNT_TOKENS", "1") == "0":
        return None, "SFTWISE_COUNT_TOKENS=0"
    if not _adc_present():
        return None, "no Google credentials found"
    try:
        from sftwise.gemini.client import genai_client, resolve_context

        return api_token_counter(genai_client(resolve_context(for_tuning=False)), model), ""
    except SftwiseError as exc:
        return None, str(exc)
    except ImportError:
        return None, "google-genai is not installed"


# -- the target check --------------------------------------------------------------------------

def check_gemini_target(
    train: Dataset | str | os.PathLike[str],
    validation: Dataset | str | os.PathLike[str] | None = None,
    *,
    target: str,
    token_counter: TokenCounter | None | str = "auto",
    max_listed: int = 20,
) -> list[Finding]:
    """Every SW6xx finding for tuning ``target`` (``gemini-2.5-flash``...) on ``train`` and ``validation``.

    ``token_counter`` counts one example's tokens exactly (see :func:`api_token_counter`); ``"auto"``
    uses the countTokens API when Google credentials are present (:func:`auto_token_counter`); with
    ``None`` or without credentials lengths are offline estimates and an SW610 finding says so.
    Raises :class:`SftwiseError` when the target is not a tunable model.
    """
    limits = resolve_model(target)
    why_estimated = "token_counter=None"
    if token_counter == "auto":
        token_counter, why_estimated = auto_token_counter(limits.model)
    findings: list[Finding] = []
    sizes: dict[str, int] = {}
    for role, data in (("train", train), ("validation", validation)):
        if data is None:
            continue
        name, examples, size = _raw_examples(data)
        sizes[role] = len(examples)
        per_example_findings, total_tokens, how = _check_file(examples, limits, token_counter, max_listed)
        findings.extend(per_example_findings)
        max_bytes = limits.max_file_bytes.value
        if size is not None and max_bytes and size > max_bytes:
            findings.append(Finding(code=FILE_SIZE, severity=Severity.ERROR, file=name,
                                    message=f"{size / GB:.2f} GB; {limits.model} accepts at most {max_bytes / GB:.0f} GB of JSONL per file",
                                    hint="Split off a subsample or drop near-duplicates (sftwise dedup)."))
        findings.append(Finding(code=COUNT_SUMMARY, severity=Severity.INFO, file=name,
                                message=f"{len(examples)} examples, {total_tokens:,} tokens ({how}) for {limits.model}",
                                hint="Billed training tokens = dataset tokens x epochs."))
    n_train = sizes.get("train", 0)
    has_images = _any_images(train)  # the multimodal cap applies as soon as one example has an image
    cap = (limits.max_training_examples_multimodal if has_images else limits.max_training_examples_text).value
    if cap and n_train > cap:
        findings.append(Finding(code=TOO_MANY_EXAMPLES, severity=Severity.ERROR, file=_name(train),
                                message=f"{n_train:,} training examples; {limits.model} accepts at most {int(cap):,} ({'multimodal' if has_images else 'text'})",
                                hint="Subsample or deduplicate (sftwise dedup) before tuning."))
    if validation is not None:
        n_val = sizes.get("validation", 0)
        cap_val = int(limits.max_validation_examples.value or 0)
        frac = limits.validation_fraction_over_1000.value
        if frac and n_val > 1000:
            cap_val = min(cap_val, int(frac * n_train))
        if cap_val and n_val > cap_val:
            findings.append(Finding(code=VALIDATION_SIZE, severity=Severity.ERROR, file=_name(validation),
                                    message=f"{n_val:,} validation examples; {limits.model} accepts at most {cap_val:,} here",
                                    hint=f"Keep a random {cap_val:,} (sftwise split) and move the rest to the test set."))
    if token_counter is None:
        findings.append(Finding(code=ESTIMATED_TOKENS, severity=Severity.INFO,
                                message=f"token counts are offline estimates (UTF-8 bytes / {CHARS_PER_TOKEN} per token, {TOKENS_PER_IMAGE} per image), not the countTokens API ({why_estimated})",
                                hint="For exact counts run `gcloud auth application-default login` and set GOOGLE_CLOUD_PROJECT."))
    return findings


def count_dataset_tokens(data: Dataset | str | os.PathLike[str], *, target: str,
                         token_counter: TokenCounter | None | str = "auto") -> tuple[int, int, str]:
    """(tokens, examples, how counted) of a dataset for ``target``, as tuning bills them per epoch."""
    limits = resolve_model(target)
    if token_counter == "auto":
        token_counter, _ = auto_token_counter(limits.model)
    _, examples, _ = _raw_examples(data)
    _, total, how = _check_file(examples, limits, token_counter, 0)
    return total, len(examples), how


def _name(data: Dataset | str | os.PathLike[str]) -> str:
    return str(data.path if isinstance(data, Dataset) else data)


def _any_images(data: Dataset | str | os.PathLike[str]) -> bool:
    if isinstance(data, Dataset):
        return any(p.file_uri for r in data.records for t in r.conversation.turns for p in t.parts)
    with open(data, encoding="utf-8", errors="replace") as handle:
        return any('"fileData"' in line for line in handle)


def _check_file(examples: list[RawExample], limits: GeminiLimits, counter: TokenCounter | None, max_listed: int) -> tuple[list[Finding], int, str]:
    findings: list[Finding] = []
    stats: list[ExampleStats] = []
    for ex in examples:
        found, st = check_example(ex, limits)
        findings.extend(found)
        if st is not None:
            stats.append(st)
    limit = int(limits.tokens_per_example.value or 0)
    tokens = [estimate_tokens(st) for st in stats]
    counted: set[int] = set()
    if counter is not None and stats:
        # the API answers one example per call: count all of a normal dataset, else the longest by estimate
        order = sorted(range(len(stats)), key=lambda i: -tokens[i])[:MAX_API_COUNTS]
        with ThreadPoolExecutor(max_workers=API_COUNT_THREADS) as pool:
            for i, n in zip(order, pool.map(lambda i: _count(counter, stats[i]), order)):
                tokens[i] = n
        counted = set(order)
    if not counted:
        how = "offline estimate"
    elif len(counted) == len(stats):
        how = "countTokens API"
    else:
        how = f"countTokens API for the {len(counted):,} longest, offline estimate for the rest"
    total = sum(tokens)
    over = [(st, n, i in counted) for i, (st, n) in enumerate(zip(stats, tokens)) if limit and n > limit]
    for st, n, exact in over[:max_listed]:
        findings.append(Finding(code=TOKENS_PER_EXAMPLE, severity=Severity.ERROR, file=st.file, line=st.line,
                                message=f"{n:,} tokens ({'countTokens API' if exact else 'offline estimate'}); {limits.model} accepts at most {limit:,} per example",
                                hint="Shorten the example (trim the context, split long conversations) or drop it."))
    if len(over) > max_listed:
        findings.append(Finding(code=TOKENS_PER_EXAMPLE, severity=Severity.ERROR, file=stats[0].file,
                                message=f"{len(over) - max_listed} more examples are over the {limit:,}-token limit",
                                hint="Run sftwise audit --json to list them all."))
    return findings, total, how


def _count(counter: TokenCounter | None, st: ExampleStats) -> int:
    if counter is None:
        return estimate_tokens(st)
    try:
        return counter(st.obj)
    except SftwiseError:
        raise
    except Exception as exc:  # a service error on one example must not hide the others' results
        from sftwise.gemini.errors import describe_api_error

        raise SftwiseError(f"{st.file}:{st.line}: counting tokens failed: {describe_api_error(exc, 'countTokens')}") from None
