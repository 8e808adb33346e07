"""What Gemini supervised tuning on Vertex AI accepts: the service's limits per base model, the model
names it tunes, and how many tokens a Gemini JSONL dataset holds for it.

The limits live in one table, :data:`GEMINI_LIMITS`, with the date and the source of every figure, so
that a changed limit is a one-line edit and a user can see how old a figure is. The checks that read
it (``sftwise audit --target gemini-MODEL``, codes SW6xx) are in :mod:`sftwise.audit.gemini_target`;
tuning (:mod:`sftwise.train.vertex`) and the cost estimate (:mod:`sftwise.gemini.cost`) read it too.

Token counts: with a Gemini client (credentials present) the count of each example comes from the
``countTokens`` API of the chosen base model; otherwise it is the project's offline estimate
(``sftwise.tokens``: UTF-8 bytes / 4, plus 258 tokens per image). Lines are read raw (the service
parses the raw file, not our canonical form), so every count and finding points at ``file:line``.

This module imports ``google.genai`` only inside :func:`api_token_counter`: the audit must run on a
laptop with no cloud SDK; the client, when there is one, is passed in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

from sftwise.conversation import Dataset
from sftwise.errors import ParameterError, SftwiseError
from sftwise.tokens import estimate_tokens as estimate_text_tokens

# -- the table ---------------------------------------------------------------------------------

REFERENCE = "Vertex AI docs 'Prepare supervised fine-tuning data for Gemini' and 'About supervised fine-tuning' (stored 2026), via ../shared/reference/gemini-vertex.md"
MODELS_REFERENCE = "the tunable-model list of the Vertex AI supervised tuning docs (stored 2026; 3.1 Flash-Lite preview: release notes of 2026-05-20), via ../shared/reference/formats-2026.md"
FILE_PARTS_REFERENCE = "Vertex AI docs on multimodal tuning data (stored 2026), via ../shared/reference/formats-2026.md"
NOT_STATED = "not stated in the stored docs for this model"
CHECKED = date(2026, 12, 1)

IMAGE_MIME_TYPES = ("image/jpeg", "image/png", "image/webp")
DOCUMENT_MIME_TYPES = ("application/pdf", "text/plain")
MEDIA_MIME_PREFIXES = ("audio/", "video/")  # audio and video tuning are documented (videos up to 100 MB)
MAX_IMAGES_PER_EXAMPLE = 30
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_VIDEO_BYTES = 100 * 1024 * 1024
FILE_URI_SCHEMES = ("gs://", "https://", "http://")  # a Cloud Storage URI or a public HTTP(S) URL
GB = 1024**3


def mime_accepted(mime: object) -> bool:
    """Whether Gemini tuning accepts a file part of this MIME type (images, PDF/text documents, audio, video)."""
    return isinstance(mime, str) and (mime in IMAGE_MIME_TYPES or mime in DOCUMENT_MIME_TYPES or mime.startswith(MEDIA_MIME_PREFIXES))


def accepted_mime_types() -> str:
    """The accepted MIME types in words, for hints."""
    return ", ".join(IMAGE_MIME_TYPES + DOCUMENT_MIME_TYPES) + ", audio/*, video/*"


@dataclass(frozen=True)
class Figure:
    """One documented number with where and when it was read (``value`` None: not documented)."""

    value: float | int | None
    source: str = REFERENCE
    checked: date = CHECKED

    def cite(self) -> str:
        """Where the figure comes from, for a finding's message."""
        return f"{self.source}, checked {self.checked}"


@dataclass(frozen=True)
class GeminiLimits:
    """The documented limits of supervised tuning for one base model."""

    model: str
    tokens_per_example: Figure
    max_validation_examples: Figure
    max_training_examples_text: Figure
    max_training_examples_multimodal: Figure
    max_file_bytes: Figure
    adapter_sizes: tuple[int, ...]
    default_adapter_size: int
    discontinued: date | None = None
    rejects_function_calls: bool = False
    preview: bool = False
    aliases: tuple[str, ...] = field(default_factory=tuple)
    listed: Figure = Figure(None, MODELS_REFERENCE)  # where the model is listed as tunable
    note: str = ""


def _f(value: float | int | None) -> Figure:
    return Figure(value)


_UNSTATED = Figure(None, NOT_STATED)
_TEXT_1M = Figure(1_000_000, REFERENCE + " (1M text-only examples for 2.5 models; an earlier note said 10M, unsourced)")

GEMINI_LIMITS: dict[str, GeminiLimits] = {
    limits.model: limits
    for limits in (
        GeminiLimits(
            "gemini-2.0-flash-001", _f(131_072), _f(5_000), _f(1_000_000), _f(300_000), _f(1 * GB),
            adapter_sizes=(1, 2, 4, 8), default_adapter_size=4, discontinued=date(2026, 6, 1),
            aliases=("gemini-2.0-flash",), listed=Figure(None, REFERENCE),
        ),
        GeminiLimits(
            "gemini-2.0-flash-lite-001", _f(131_072), _f(5_000), _f(1_000_000), _f(300_000), _f(1 * GB),
            adapter_sizes=(1, 2, 4, 8), default_adapter_size=4, discontinued=date(2026, 6, 1),
            aliases=("gemini-2.0-flash-lite",), listed=Figure(None, REFERENCE),
        ),
        GeminiLimits(
            "gemini-2.5-flash", _f(131_072), _f(5_000), _TEXT_1M, _f(300_000), _f(1 * GB),
            adapter_sizes=(1, 2, 4, 8, 16), default_adapter_size=4, rejects_function_calls=True,
        ),
        GeminiLimits(
            "gemini-2.5-flash-lite", _f(131_072), _f(5_000), _TEXT_1M, _f(300_000), _f(1 * GB),
            adapter_sizes=(1, 2, 4, 8, 16), default_adapter_size=4,
        ),
        GeminiLimits(
            "gemini-2.5-pro", _f(131_072), _f(5_000), _TEXT_1M, _f(300_000), _f(1 * GB),
            adapter_sizes=(1, 2, 4, 8), default_adapter_size=4,
        ),
        *(
            GeminiLimits(
                model, _UNSTATED, _UNSTATED, _UNSTATED, Figure(300_000, FILE_PARTS_REFERENCE), _UNSTATED,
                adapter_sizes=(1, 2, 4, 8, 16), default_adapter_size=4, preview=preview, aliases=aliases,
                note="per-model limits are not in the stored docs: the per-example token limit falls back to the Gemini default "
                     "and the adapter sizes are 2.5 Flash's (check the docs page)",
            )
            for model, preview, aliases in (
                ("gemini-3.5-flash", False, ()),
                ("gemini-3.5-flash-lite", False, ()),
                ("gemini-3.1-flash-lite-preview", True, ("gemini-3.1-flash-lite",)),
            )
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


def tunable_models(today: date | None = None) -> list[str]:
    """The models the table lists as tunable today (discontinued ones left out)."""
    today = today or date.today()
    return sorted(m for m, lim in GEMINI_LIMITS.items() if not (lim.discontinued and today >= lim.discontinued))


def model_id(name: str) -> str:
    """The short model id of ``gemini-2.5-flash``, ``gemini:MODEL``, ``publishers/google/models/MODEL`` or
    ``projects/P/locations/L/publishers/google/models/MODEL`` (a trailing ``@version`` dropped)."""
    short = name.strip().rstrip("/").split("/")[-1].split("@")[0]
    return short.split(":", 1)[1] if short.startswith("gemini:") else short


def is_gemini(name: str | None) -> bool:
    """Whether ``name`` names a Gemini model in any of the spellings :func:`model_id` reads."""
    return bool(name) and model_id(name).lower().startswith("gemini")


def resolve_model(name: str, today: date | None = None, *, parameter: str = "model") -> GeminiLimits:
    """The limits of a base model named ``gemini-2.5-flash``, ``gemini:MODEL`` or ``publishers/google/models/...``.

    Raises :class:`ParameterError` (naming ``parameter``, the caller's argument that held ``name``) for
    a model that cannot be tuned or was discontinued; the message says where the table comes from.
    """
    short = model_id(name)
    match = GEMINI_LIMITS.get(short) or next((lim for lim in GEMINI_LIMITS.values() if short in lim.aliases), None)
    if match is None:
        raise ParameterError(parameter,
            f"base model {name!r} cannot be tuned on Vertex AI (sftwise knows the limits of: "
            f"{', '.join(tunable_models())}; table from {MODELS_REFERENCE}, checked {CHECKED}). Pick one of those, e.g. gemini-2.5-flash."
        )
    today = today or date.today()
    if match.discontinued and today >= match.discontinued:
        raise ParameterError(parameter,
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


def raw_examples(data: Dataset | str | os.PathLike[str]) -> tuple[str, list[RawExample], int | None]:
    """(name, examples, file size) from a path (raw lines) or a Dataset (its file when Gemini JSONL, else converted)."""
    if isinstance(data, Dataset):
        if data.path and data.format in (None, "gemini") and Path(data.path).is_file() and str(data.path).endswith(".jsonl"):
            return raw_examples(data.path)
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


def dataset_name(data: Dataset | str | os.PathLike[str]) -> str:
    return str(data.path if isinstance(data, Dataset) else data)


def any_images(data: Dataset | str | os.PathLike[str]) -> bool:
    """Whether one example has an image: the multimodal cap on training examples then applies."""
    if isinstance(data, Dataset):
        return any(p.file_uri for r in data.records for t in r.conversation.turns for p in t.parts)
    with open(data, encoding="utf-8", errors="replace") as handle:
        return any('"fileData"' in line for line in handle)  # any file part: the multimodal cap of 300K


# -- token counting ----------------------------------------------------------------------------

class ExampleSize(NamedTuple):
    """What one example holds, for the offline estimate: text tokens (UTF-8 bytes / 4), images (the
    per-example image cap counts these) and other file parts (PDF, audio, video)."""

    text_tokens: int
    images: int
    other_files: int = 0

    @property
    def tokens(self) -> int:
        """Offline estimate: the text parts' tokens (``sftwise.tokens``) + 258 per file part (an image's
        documented cost; audio and video cost more, so their estimate is a floor)."""
        return self.text_tokens + TOKENS_PER_IMAGE * (self.images + self.other_files)


def system_instruction(obj: dict[str, Any]) -> Any:
    """The system instruction of a line in either spelling the docs use (``systemInstruction``, ``system_instruction``)."""
    return obj.get("systemInstruction", obj.get("system_instruction"))


def example_size(obj: Any) -> ExampleSize | None:
    """The size of one parsed line, reading past schema errors (the checks report those); ``None``
    when it has no turns at all (not an object, or no non-empty ``contents`` list): nothing to count."""
    if not isinstance(obj, dict) or not isinstance(obj.get("contents"), list) or not obj["contents"]:
        return None
    holders = [si] if isinstance(si := system_instruction(obj), dict) else []
    holders += [turn for turn in obj["contents"] if isinstance(turn, dict)]
    text_tokens = images = other_files = 0
    for holder in holders:
        parts = holder.get("parts")
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                text_tokens += estimate_text_tokens(part["text"])
            for key in ("functionCall", "functionResponse"):  # the call's name and arguments are tokens too
                if key in part:
                    text_tokens += _json_tokens(part[key])
            if isinstance(part.get("fileData"), dict):
                if is_image_part(part["fileData"]):
                    images += 1
                else:
                    other_files += 1
    if "tools" in obj:  # function declarations count toward the example's tokens
        text_tokens += _json_tokens(obj["tools"])
    return ExampleSize(text_tokens, images, other_files)


def _json_tokens(value: Any) -> int:
    """The estimate of a JSON value's tokens (its compact serialisation, as the service would see it)."""
    return estimate_text_tokens(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))


def is_image_part(file_data: dict[str, Any]) -> bool:
    """Whether a ``fileData`` object holds an image (an unstated MIME type counts as one: the stricter cap)."""
    mime = file_data.get("mimeType")
    return not isinstance(mime, str) or mime.startswith("image/")


TokenCounter = Callable[[dict[str, Any]], int]


def api_token_counter(client: Any, model: str) -> TokenCounter:
    """Count one example's tokens with the ``countTokens`` API of ``model`` (system instruction included)."""
    from google.genai import types

    def count(obj: dict[str, Any]) -> int:
        contents = [types.Content.model_validate(turn) for turn in obj["contents"]]
        config = None
        if isinstance(si := system_instruction(obj), dict):
            system = types.Content.model_validate(si)
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


@dataclass(frozen=True)
class TokenCount:
    """The tokens of one example and whether the countTokens API counted them (else the estimate)."""

    file: str
    line: int
    tokens: int
    exact: bool


def count_tokens(examples: Sequence[RawExample], counter: TokenCounter | None) -> tuple[list[TokenCount], str]:
    """The tokens of every countable example (see :func:`example_size`), and how they were counted.

    The API answers one example per call, so with a ``counter`` all of a normal dataset is counted, and
    of a larger one the :data:`MAX_API_COUNTS` longest by estimate (the ones a limit can catch).
    """
    sized = [(ex, size) for ex in examples if (size := example_size(ex.obj)) is not None]
    tokens = [size.tokens for _, size in sized]
    counted: set[int] = set()
    if counter is not None and sized:
        order = sorted(range(len(sized)), key=lambda i: -tokens[i])[:MAX_API_COUNTS]
        with ThreadPoolExecutor(max_workers=API_COUNT_THREADS) as pool:
            for i, n in zip(order, pool.map(lambda i: _count(counter, sized[i][0]), order)):
                tokens[i] = n
        counted = set(order)
    if not counted:
        how = "offline estimate"
    elif len(counted) == len(sized):
        how = "countTokens API"
    else:
        how = f"countTokens API for the {len(counted):,} longest, offline estimate for the rest"
    return [TokenCount(ex.file, ex.line, n, i in counted) for i, ((ex, _), n) in enumerate(zip(sized, tokens))], how


def _count(counter: TokenCounter, ex: RawExample) -> int:
    try:
        return counter(ex.obj)
    except SftwiseError:
        raise
    except Exception as exc:  # a service error on one example must not hide the others' results
        from sftwise.gemini.errors import describe_api_error

        raise SftwiseError(f"{ex.file}:{ex.line}: counting tokens failed: {describe_api_error(exc, 'countTokens')}") from None


def count_dataset_tokens(data: Dataset | str | os.PathLike[str], *, target: str,
                         token_counter: TokenCounter | None | str = "auto") -> tuple[int, int, str]:
    """(tokens, examples, how counted) of a dataset for ``target``, as tuning bills them per epoch."""
    limits = resolve_model(target, parameter="target")
    if token_counter == "auto":
        token_counter, _ = auto_token_counter(limits.model)
    _, examples, _ = raw_examples(data)
    counts, how = count_tokens(examples, token_counter)
    return sum(c.tokens for c in counts), len(examples), how


# -- file parts --------------------------------------------------------------------------------

class FileProblem(NamedTuple):
    """One problem of a ``fileData`` object: what kind (``not-object``, ``local-uri``, ``bad-uri``,
    ``no-mime``, ``mime``), in words, how to fix it, and the sub-field (``fileUri``...) it is in."""

    kind: str
    message: str
    hint: str
    field: str


def file_part_problems(file_data: Any) -> list[FileProblem]:
    """What Gemini tuning would reject in one ``fileData`` object (source: :data:`FILE_PARTS_REFERENCE`):
    a ``fileUri`` that is not ``gs://`` or public HTTP(S) (a ``file://`` or bare local path can be read by
    no tuning service), a missing ``mimeType``, a MIME type tuning does not take."""
    if not isinstance(file_data, dict):
        return [FileProblem("not-object", "`fileData` must be an object with mimeType and fileUri", '{"mimeType": "image/png", "fileUri": "gs://..."}', "")]
    out: list[FileProblem] = []
    uri, mime = file_data.get("fileUri"), file_data.get("mimeType")
    if not isinstance(uri, str) or not uri.strip():
        out.append(FileProblem("bad-uri", f"fileData.fileUri must be a gs:// URI or a public HTTPS URL, got {uri!r}", "Upload the file to Cloud Storage and give its gs:// URI.", "fileUri"))
    elif uri.lower().startswith("file:") or not uri.lower().startswith(FILE_URI_SCHEMES):
        out.append(FileProblem("local-uri", f"fileData.fileUri {uri[:80]!r} is a local path: no tuning service can read it",
                               "Upload the file to Cloud Storage (gsutil cp) and give its gs:// URI, or a public HTTPS URL.", "fileUri"))
    if mime is None or (isinstance(mime, str) and not mime.strip()):
        out.append(FileProblem("no-mime", "fileData has no mimeType; Gemini tuning needs it to read the file",
                               f"Add the file's MIME type (one of {accepted_mime_types()}).", "mimeType"))
    elif not mime_accepted(mime):
        out.append(FileProblem("mime", f"fileData.mimeType {mime!r} is not accepted for tuning", f"Use one of {accepted_mime_types()}.", "mimeType"))
    return out
