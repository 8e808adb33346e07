"""Reading and writing fine-tuning datasets in every format sftwise knows.

Formats (what one example looks like) and containers (how examples sit in a file) are independent:

* ``gemini`` (canonical): ``{"systemInstruction": {"parts": [{"text"}]}, "contents": [{"role": "user"|"model", "parts": [...]}]}``
  (``system_instruction`` read too; ``tools`` and ``functionCall`` / ``functionResponse`` parts carried)
* ``messages`` (OpenAI / Hugging Face chat): ``{"messages": [{"role": "system"|"user"|"assistant"|"tool", "content"}]}``
  (``tools``, ``tool_calls``, ``tool_call_id``, ``weight`` and ``name`` carried; see :mod:`sftwise.formats.tools`)
* ``prompt_completion``: ``{"prompt", "completion"}`` (strings, or TRL's lists of messages)
* ``alpaca``: ``{"instruction", "input", "output"}`` (optional ``system`` and ``history``)
* ``sharegpt``: ``{"conversations": [{"from": "human"|"gpt"|"system", "value"}]}``

in ``.jsonl``, ``.json`` (an array), ``.csv`` (one column per field; nested fields as JSON text) or
``.parquet`` (pyarrow, imported only when needed).

:func:`read` never raises on bad data: every problem (invalid JSON with line and column, a BOM, a
truncated last line, non-UTF-8 bytes, a JSON array in a .jsonl file, mixed formats, unknown fields,
wrong roles...) becomes a :class:`~sftwise.findings.Finding` with ``file:line``, and every record that
can be salvaged is kept. :func:`load` is the strict variant for pipelines: it raises
:class:`~sftwise.errors.SftwiseError` naming the first errors. :func:`write` writes atomically.
"""

from __future__ import annotations

import dataclasses
import gc
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sftwise.conversation import USER, Conversation, Dataset, Part, Record, Source
from sftwise.findings import Finding, Severity, emit, sort_findings
from sftwise.formats.files import iter_objects
from sftwise.formats.losses import conversion_losses
from sftwise.formats.records import EMITTERS, FORMATS, PARSERS, record_format
from sftwise.errors import SftwiseError
from sftwise.io import atomic_write, refuse_overwrite_input

__all__ = ["FORMATS", "ReadResult", "apply_options", "conversion_losses", "detect", "load", "read", "record_format", "write"]

_MAX_LINES_PER_FORMAT = 200  # lines remembered per format, to point at the odd ones out in a mixed file


@dataclass
class ReadResult:
    """What :func:`read` returns: the records it could salvage and every problem it saw."""

    dataset: Dataset
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]


def _check_format(format: str | None) -> None:
    if format is not None and format not in FORMATS:
        raise SftwiseError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}.")


def read(path: str | os.PathLike[str], format: str | None = None, *, field_map: Mapping[str, str] | None = None) -> ReadResult:
    """Read a dataset file into canonical conversations, reporting every problem as a finding.

    ``format`` forces a format for every record (default: detected per record, and a file mixing
    formats is reported as SW107). ``field_map`` renames raw fields before detection, e.g.
    ``{"question": "prompt", "answer": "completion"}`` reads GSM8K as prompt-completion.
    """
    _check_format(format)
    path = os.fspath(path)
    if os.path.isdir(path):
        raise SftwiseError(f"{path} is a directory; pass a .jsonl, .json, .csv or .parquet file.")
    if not os.path.exists(path):
        raise SftwiseError(f"{path}: no such file. Check the path.")
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small acyclic objects: the cyclic GC would rescan them again and again
    try:
        return _read(path, format, field_map)
    finally:
        if gc_was_enabled:
            gc.enable()


def _read(path: str, format: str | None, field_map: Mapping[str, str] | None) -> ReadResult:
    findings: list[Finding] = []
    records: list[Record] = []
    append = records.append
    counts: Counter[str] = Counter()
    lines_of: dict[str, list[int]] = {}
    parsers = PARSERS
    detect_one = record_format
    for line, obj in iter_objects(path, findings):
        if field_map and isinstance(obj, dict):
            obj = {field_map.get(k, k): v for k, v in obj.items()}
        if type(obj) is not dict:
            findings.append(emit("SW101", f"the record is {type(obj).__name__}, not a JSON object.", "Each line must be one example object.", path, line))
            continue
        fmt = format or detect_one(obj)
        if fmt is None:
            keys = ", ".join(sorted(map(str, obj))[:6]) or "no fields"
            findings.append(emit("SW115", f"no known format has the fields {keys}.",
                                 "Rename the fields (sftwise convert --map question=prompt --map answer=completion), or use gemini/messages/alpaca/sharegpt/prompt_completion fields.", path, line))
            continue
        counts[fmt] += 1
        seen = lines_of.setdefault(fmt, [])
        if len(seen) < _MAX_LINES_PER_FORMAT:
            seen.append(line)
        try:
            conversation = parsers[fmt](obj, path, line, findings)
        except Exception as exc:  # a reader bug must cost one record, not the whole read
            findings.append(emit("SW119", f"this {fmt} record could not be read ({type(exc).__name__}: {exc}).", "Please report this sftwise bug with the record; it is skipped.", path, line))
            continue
        if conversation is not None:
            append(Record(conversation, Source(path, line)))
    main = counts.most_common(1)[0][0] if counts else format
    if len(counts) > 1:
        for fmt, n in counts.items():
            if fmt == main:
                continue
            for line in lines_of[fmt]:
                findings.append(emit("SW107", f"this record is {fmt} but most of the file ({counts[main]} records) is {main}.",
                                     f"Convert it (sftwise convert --to {main}) or move it to its own file.", path, line))
            if n > len(lines_of[fmt]):
                findings.append(emit("SW107", f"{n - len(lines_of[fmt])} more {fmt} records in a mostly-{main} file.", "Convert them to one format.", path))
    return ReadResult(Dataset(records=records, path=path, format=main), findings)


def load(path: str | os.PathLike[str], format: str | None = None, *, field_map: Mapping[str, str] | None = None) -> Dataset:
    """Like :func:`read`, but raise :class:`SftwiseError` when the file has error-level findings."""
    result = read(path, format, field_map=field_map)
    errors = result.errors
    if errors:
        shown = "\n  ".join(str(f) for f in sort_findings(errors)[:5])
        more = f"\n  ... and {len(errors) - 5} more" if len(errors) > 5 else ""
        raise SftwiseError(f"{os.fspath(path)} has {len(errors)} error(s):\n  {shown}{more}\nRun `sftwise audit {os.fspath(path)}` for the full list and fixes.")
    return result.dataset


def detect(source: str | os.PathLike[str] | Mapping[str, Any], sample: int = 200) -> str | None:
    """The format of a raw record, or the majority format of the first ``sample`` records of a file."""
    if isinstance(source, Mapping):
        return record_format(dict(source))
    counts: Counter[str] = Counter()
    for i, (_, obj) in enumerate(iter_objects(os.fspath(source), [])):
        fmt = record_format(obj)
        if fmt:
            counts[fmt] += 1
        if i + 1 >= sample:
            break
    return counts.most_common(1)[0][0] if counts else None


def apply_options(conversations: Iterable[Conversation], *, system: str | None = None, instruction_prefix: str | None = None,
                  replace_system: bool = False) -> list[Conversation]:
    """Copies of ``conversations`` with a system instruction and/or an instruction prefix added.

    ``system`` is set on conversations that have none (on all of them with ``replace_system``);
    ``instruction_prefix`` is put before the text of each conversation's first user turn (with a
    blank line between, unless the prefix already ends in whitespace). Inputs are not modified.
    """
    result = []
    for c in conversations:
        turns = list(c.turns)
        if instruction_prefix:
            for i, turn in enumerate(turns):
                if turn.role == USER:
                    sep = "" if instruction_prefix[-1:].isspace() else "\n\n"
                    parts = list(turn.parts)
                    first = next((j for j, p in enumerate(parts) if p.text is not None), None)
                    if first is None:
                        parts.insert(0, Part(text=instruction_prefix))
                    else:
                        parts[first] = Part(text=f"{instruction_prefix}{sep}{parts[first].text}")
                    turns[i] = dataclasses.replace(turn, parts=parts)
                    break
        new_system = system if system and (replace_system or not c.system) else c.system
        result.append(dataclasses.replace(c, turns=turns, system=new_system, meta=dict(c.meta)))
    return result


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)


def write(
    data: Dataset | Sequence[Conversation] | Iterable[Conversation],
    path: str | os.PathLike[str],
    format: str = "gemini",
    *,
    system: str | None = None,
    instruction_prefix: str | None = None,
    keep_meta: bool | None = None,
) -> Path:
    """Write conversations to ``path`` (container from the extension: .jsonl, .json, .csv, .parquet).

    The write is atomic (a temp file renamed over the target) and refuses to overwrite the file the
    dataset was read from. ``keep_meta`` writes each conversation's extra fields (ids, labels) beside
    it; the default keeps them except in ``gemini``, whose upload validator rejects unknown fields.
    """
    _check_format(format)
    target = Path(path)
    if isinstance(data, Dataset):
        if data.path:
            refuse_overwrite_input(target, data.path)
        conversations: list[Conversation] = data.conversations
    else:
        conversations = list(data)
    if system or instruction_prefix:
        conversations = apply_options(conversations, system=system, instruction_prefix=instruction_prefix)
    if keep_meta is None:
        keep_meta = format != "gemini"
    emitter = EMITTERS[format]
    rows = []
    for i, c in enumerate(conversations, 1):
        try:
            row = emitter(c)
        except SftwiseError as exc:
            raise SftwiseError(f"example {i}: {exc}") from None
        if keep_meta and c.meta:
            row = {**{k: v for k, v in c.meta.items() if k not in row}, **row}
        rows.append(row)
    ext = target.suffix.lower()
    if ext in (".parquet", ".pq"):
        _write_parquet(rows, target)
    elif ext in (".csv", ".tsv"):
        _write_csv(rows, target, "\t" if ext == ".tsv" else ",")
    elif ext == ".json":
        with atomic_write(target, "wb") as fh:
            fh.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n")
    else:
        with atomic_write(target, "wb") as fh:
            fh.write(b"".join(_dumps(row) + b"\n" for row in rows))
    return target


def _write_csv(rows: list[dict[str, Any]], target: Path, delimiter: str) -> None:
    import csv

    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    with atomic_write(target, "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), delimiter=delimiter, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: v if isinstance(v, str) else _dumps(v).decode() for k, v in row.items()})


def _write_parquet(rows: list[dict[str, Any]], target: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise SftwiseError("writing .parquet needs pyarrow: pip install pyarrow") from None
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SftwiseError(f"cannot store these records in Parquet ({exc}); a field differs in type between examples (an extra field, or a message content that is text in one example and a list of parts in another). Write .jsonl instead.") from None
    with atomic_write(target, "wb") as fh:
        pq.write_table(table, fh)
