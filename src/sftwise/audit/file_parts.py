"""SW140-SW143: file parts (images, PDFs, audio, video), checked on every audit, with or without a target.

A ``file://`` URI or a local path can be read by no tuning service and no trainer (SW140, error); a
``fileData`` without ``mimeType`` is rejected by Gemini tuning, the only target that takes file parts by
URI (SW141, error); more than 30 images per example is over the only documented cap (SW142, error); a MIME
type Gemini tuning does not take (``image/gif``...) is a warning here (SW143), since a local text trainer
drops file parts anyway, and an error (SW604) under ``--target gemini-*``. Under a Gemini target these
checks step aside for :mod:`sftwise.audit.gemini_target`, which reports the same problems as SW604/SW605.

Gemini files are read raw (the service parses the raw line, so each finding names ``contents[i].parts[j]``);
other layouts are checked through their canonical parts (line only: their field names differ).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sftwise.audit.base import AuditContext, split_check
from sftwise.conversation import Dataset
from sftwise.findings import Finding, emit
from sftwise.gemini.limits import (
    FILE_PARTS_REFERENCE,
    FILE_URI_SCHEMES,
    MAX_IMAGES_PER_EXAMPLE,
    example_size,
    file_part_problems,
    is_gemini,
    raw_examples,
    system_instruction,
)

_CODES = {"local-uri": "SW140", "bad-uri": "SW140", "no-mime": "SW141", "mime": "SW143"}


@split_check
def check_file_parts(split: str, dataset: Dataset, ctx: AuditContext) -> Iterator[Finding]:
    # a fileData the reader could not carry (not an object, no fileUri) is already its SW104 error
    if is_gemini(ctx.target):  # the target's own SW604/SW605 say it: no scan of every part here
        return
    if not any(p.file_uri is not None for r in dataset.records for t in r.conversation.turns for p in t.parts):
        return
    if dataset.format == "gemini" and dataset.path and dataset.path.endswith(".jsonl"):
        yield from _check_raw(dataset)
    else:
        yield from _check_canonical(dataset)


def _holders(obj: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    si = system_instruction(obj)
    if isinstance(si, dict):
        yield ("systemInstruction" if "systemInstruction" in obj else "system_instruction"), si
    contents = obj.get("contents")
    for i, turn in enumerate(contents if isinstance(contents, list) else ()):
        if isinstance(turn, dict):
            yield f"contents[{i}]", turn


def _check_raw(dataset: Dataset) -> Iterator[Finding]:
    name, examples, _ = raw_examples(dataset)
    for ex in examples:
        if not isinstance(ex.obj, dict):
            continue
        for where, holder in _holders(ex.obj):
            parts = holder.get("parts")
            for j, part in enumerate(parts if isinstance(parts, list) else ()):
                if not isinstance(part, dict) or "fileData" not in part:
                    continue
                for problem in file_part_problems(part["fileData"]):
                    if problem.kind not in _CODES:
                        continue  # not an object: the reader's SW104
                    sub = f".{problem.field}" if problem.field else ""
                    yield emit(_CODES[problem.kind], problem.message + ".", problem.hint, ex.file, ex.line, field=f"{where}.parts[{j}].fileData{sub}")
        size = example_size(ex.obj)
        if size is not None and size.images > MAX_IMAGES_PER_EXAMPLE:
            yield _too_many(size.images, ex.file, ex.line)


def _check_canonical(dataset: Dataset) -> Iterator[Finding]:
    for record in dataset.records:
        file, line = record.source.path, record.source.line
        images = 0
        for turn in record.conversation.turns:
            for part in turn.parts:
                if part.file_uri is None:
                    continue
                images += part.mime_type is None or part.mime_type.startswith("image/")
                uri = part.file_uri
                if uri.lower().startswith("data:"):
                    continue  # inline base64 (OpenAI's image_url): a data URI is what that layout expects
                if not uri.lower().startswith(FILE_URI_SCHEMES):
                    yield emit("SW140", f"file URI {uri[:80]!r} is a local path: no tuning service can read it.",
                               "Upload the file and give a gs:// URI or a public HTTPS URL.", file, line)
        if images > MAX_IMAGES_PER_EXAMPLE:
            yield _too_many(images, file, line)


def _too_many(images: int, file: str | None, line: int | None) -> Finding:
    return emit("SW142", f"{images} images in one example; Gemini tuning accepts at most {MAX_IMAGES_PER_EXAMPLE} ({FILE_PARTS_REFERENCE}).",
                "Split the example, or drop images.", file, line)
