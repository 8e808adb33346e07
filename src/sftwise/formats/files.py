"""Raw records out of .jsonl / .json / .csv / .parquet files, with every byte-level problem as a finding.

:func:`iter_objects` yields ``(line, object)`` pairs and appends findings to a list; it never raises
on bad input. The container is chosen from the file's first bytes first (Parquet magic, a JSON array,
NUL bytes) and from the extension second, so a misnamed file is still read and the name is reported.

JSON Lines are read line by line in binary mode with orjson (no per-line decode, no regex), which is
what keeps a million-example audit within seconds; the slow diagnostic paths (which byte is not UTF-8,
is this the cut-off last line) run only on lines that failed to parse.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from typing import Any

import orjson

from sftwise.findings import Finding, emit

BOM = b"\xef\xbb\xbf"
HUGE_RECORD = 1_000_000
_MAGIC = {b"\x1f\x8b": "gzip", b"PK\x03\x04": "zip (or .xlsx)", b"\x89PNG": "PNG image", b"\xff\xd8\xff": "JPEG image", b"%PDF": "PDF", b"BZh": "bzip2", b"\x28\xb5\x2f\xfd": "zstd"}
_JSON_FIELDS = ("contents", "systemInstruction", "system_instruction", "tools", "messages", "conversations", "history")
_MAYBE_MESSAGES = ("prompt", "completion")  # plain text, or TRL's conversational lists of messages


def container_of(path: str, head: bytes) -> str:
    """'parquet', 'csv', 'json' or 'jsonl' for a file, from its first bytes and then its extension."""
    if head.startswith(b"PAR1"):
        return "parquet"
    ext = os.path.splitext(path)[1].lower()
    if ext in (".parquet", ".pq"):
        return "parquet"
    if ext in (".csv", ".tsv"):
        return "csv"
    if ext == ".json":
        return "json"
    return "jsonl"


def iter_objects(path: str, out: list[Finding]) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, raw object)`` for every record of ``path``; problems go to ``out``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8192)
    except OSError as exc:
        out.append(emit("SW114", f"cannot open the file ({exc.strerror}).", "Check the path and its permissions.", path))
        return
    if not head.strip(BOM + b" \t\r\n"):
        out.append(emit("SW113", "the file is empty.", "Check the path; an interrupted export leaves an empty file.", path))
        return
    kind = container_of(path, head)
    if kind == "parquet":
        yield from _parquet(path, out)
        return
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            out.append(emit("SW114", f"this is a {name} file, not text data.", "Decompress or export it to .jsonl first.", path))
            return
    if b"\x00" in head:
        out.append(emit("SW114", "the file is binary (it contains NUL bytes).", "Export the data as UTF-8 .jsonl, .json, .csv or .parquet.", path))
        return
    if kind == "csv":
        yield from _csv(path, out)
    elif kind == "json" or head.lstrip(BOM + b" \t\r\n").startswith(b"["):
        yield from _json_document(path, kind, out)
    else:
        yield from _jsonl(path, out)


def _jsonl(path: str, out: list[Finding]) -> Iterator[tuple[int, Any]]:
    loads = orjson.loads
    crlf = blank = 0
    first_blank = first_crlf = 0
    lineno = 0
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if lineno == 1 and raw.startswith(BOM):
                out.append(_bom(path))
                raw = raw[3:]
            try:
                obj = loads(raw)
            except orjson.JSONDecodeError as exc:
                if not raw.strip():
                    blank += 1
                    first_blank = first_blank or lineno
                    continue
                obj = _diagnose_line(raw, exc, path, lineno, out)
                if obj is None:
                    continue
            if len(raw) > HUGE_RECORD:
                out.append(emit("SW116", f"this record is {len(raw) / 1e6:.1f} MB on one line.", "Check it is one example and not a whole document pasted in.", path, lineno))
            if raw[-2:] == b"\r\n":
                crlf += 1
                first_crlf = first_crlf or lineno
            yield lineno, obj
    if crlf:
        out.append(emit("SW110", f"{crlf} lines end with CRLF (Windows line endings), the first at line {first_crlf}.", "Harmless to JSON; convert with dos2unix if a tool complains.", path, first_crlf))
    if blank:
        out.append(emit("SW117", f"{blank} blank lines (first at line {first_blank}).", "They are skipped; remove them for strict validators.", path, first_blank))


def _diagnose_line(raw: bytes, exc: orjson.JSONDecodeError, path: str, lineno: int, out: list[Finding]) -> Any:
    """Report why a line failed; return the object when it can be salvaged (non-UTF-8 text)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as uexc:
        out.append(emit("SW108", f"byte 0x{raw[uexc.start]:02x} at byte {uexc.start + 1} is not valid UTF-8.",
                        "Re-save the file as UTF-8 (for Latin-1 data: iconv -f latin1 -t utf-8).", path, lineno, uexc.start + 1))
        try:
            return orjson.loads(raw.decode("utf-8", "replace"))
        except orjson.JSONDecodeError:
            return None
    # orjson counts the line's own newline: an error "at the end" is reported on line 2, column 1
    column = exc.colno if exc.lineno <= 1 else len(raw.rstrip(b"\r\n").decode("utf-8")) + 1
    if not raw.endswith(b"\n"):
        out.append(emit("SW111", f"the last line is cut short ({exc.msg} at column {column}).",
                        "The file was truncated by an interrupted write or download; fetch or export it again, or delete the partial last line.", path, lineno, column))
        return None
    stripped = raw.strip()
    hint = "Fix the JSON on this line; each line must hold exactly one complete JSON object."
    if stripped in (b"[", b"]", b"{", b"}") or stripped.endswith(b","):
        hint = "This looks like pretty-printed JSON; JSON Lines needs one whole object per line (python -c 'import json,sys; [print(json.dumps(o)) for o in json.load(sys.stdin)]')."
    out.append(emit("SW100", f"not valid JSON ({exc.msg}).", hint, path, lineno, column))
    return None


def _json_document(path: str, kind: str, out: list[Finding]) -> Iterator[tuple[int, Any]]:
    """A whole-file JSON array (``.json``), or a JSON array found in a ``.jsonl`` file."""
    data = _read_all(path, out)
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if kind == "json" and not data.lstrip().startswith(b"["):
            # Probably JSON Lines saved as .json: read it as such and say so.
            out.append(emit("SW112", "this .json file holds JSON Lines (one object per line), not a JSON array.",
                            "Rename it to .jsonl.", path))
            yield from _jsonl(path, out)
            return
        line, col = _line_col(data, exc.pos)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as uexc:
            line, col = _line_col(data, uexc.start)
            out.append(emit("SW108", "bytes that are not valid UTF-8.", "Re-save the file as UTF-8.", path, line, col))
            return
        out.append(emit("SW100", f"not valid JSON ({exc.msg}).", "Fix the JSON at this position.", path, line, col))
        return
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        out.append(emit("SW101", f"the file holds a single JSON {type(doc).__name__}, not a list of examples.", "A .json file must hold an array of example objects.", path, 1))
        return
    if kind == "jsonl":
        out.append(emit("SW112", "this .jsonl file holds one JSON array, not one object per line.",
                        f"Convert it with `sftwise convert {path} OUT.jsonl --to FORMAT`, or rename it to .json; tuning services reject an array in a .jsonl upload.", path, 1))
    if not doc:
        out.append(emit("SW113", "the JSON array is empty.", "Check the export.", path))
    # a .json file numbers its items (the documented Source.line of JSON); a .jsonl file, and a .json
    # file on one line, have real lines, and a finding must not point past the end of the file
    one_line = b"\n" not in data.rstrip()
    lines = [1] * len(doc) if one_line else _element_lines(data, len(doc)) if kind == "jsonl" else None
    for index, obj in enumerate(doc, 1):
        yield (lines[index - 1] if lines else index), obj


_POSITIONS_UP_TO = 64 * 1024 * 1024  # past this, finding each item's line costs a second parse: items are numbered instead


def _element_lines(data: bytes, count: int) -> list[int] | None:
    """The line each item of a JSON array starts on; ``None`` (number the items) for huge files or
    when the scan fails."""
    if len(data) > _POSITIONS_UP_TO:
        return None
    import json

    text = data.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    lines: list[int] = []
    pos = text.index("[") + 1
    line = 1 + text.count("\n", 0, pos)
    try:
        while len(lines) < count:
            start = pos
            while text[pos] in " \t\r\n,":
                pos += 1
            line += text.count("\n", start, pos)
            lines.append(line)
            _, end = decoder.raw_decode(text, pos)
            line += text.count("\n", pos, end)
            pos = end
    except (ValueError, IndexError):
        return None
    return lines


def _bom(path: str) -> Finding:
    return emit("SW109", "the file starts with a UTF-8 byte-order mark.", "Save it as UTF-8 without BOM (it is skipped here).", path, 1)


def _read_all(path: str, out: list[Finding]) -> bytes:
    """The whole file, without a leading BOM (reported)."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data.startswith(BOM):
        out.append(_bom(path))
        data = data[3:]
    return data


def _line_col(data: bytes, pos: int) -> tuple[int, int]:
    pos = max(0, min(pos, len(data)))
    line = data.count(b"\n", 0, pos) + 1
    return line, pos - (data.rfind(b"\n", 0, pos) + 1) + 1


def _csv(path: str, out: list[Finding]) -> Iterator[tuple[int, Any]]:
    data = _read_all(path, out)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data, exc.start)
        out.append(emit("SW108", f"byte 0x{data[exc.start]:02x} is not valid UTF-8.", "Re-save the CSV as UTF-8 (Excel: 'CSV UTF-8').", path, line, col))
        text = data.decode("utf-8", "replace")
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = 0
    start = 2
    try:
        for row in reader:
            rows += 1
            obj: dict[str, Any] = {}
            for key, value in row.items():
                if key is None or value is None or value == "":
                    continue
                if key in _JSON_FIELDS and value[:1] in ("[", "{"):
                    try:
                        value = orjson.loads(value)
                    except orjson.JSONDecodeError as exc:
                        out.append(emit("SW100", f"column {key!r} holds invalid JSON ({exc.msg}).", "Fix the cell or store plain text.", path, start, field=key))
                        continue
                elif key in _MAYBE_MESSAGES and value.startswith('[{"role"'):
                    try:
                        value = orjson.loads(value)
                    except orjson.JSONDecodeError:
                        pass  # plain text that happens to start like JSON
                obj[key] = value
            yield start, obj
            start = reader.line_num + 1
    except csv.Error as exc:
        out.append(emit("SW100", f"not valid CSV ({exc}).", "Check the quoting of this row.", path, reader.line_num))
    if rows == 0:
        out.append(emit("SW113", "the CSV has no data rows.", "Check the export.", path))


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _parquet(path: str, out: list[Finding]) -> Iterator[tuple[int, Any]]:
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    except ImportError:
        out.append(emit("SW114", "reading .parquet needs pyarrow.", "pip install pyarrow", path))
        return
    except Exception as exc:  # pyarrow raises many types for corrupt files; all mean the same here
        out.append(emit("SW114", f"not a readable Parquet file ({type(exc).__name__}: {exc}).", "Export it again, or as .jsonl.", path))
        return
    if table.num_rows == 0:
        out.append(emit("SW113", "the Parquet file has no rows.", "Check the export.", path))
    for index, row in enumerate(table.to_pylist(), 1):
        yield index, _drop_nulls(row)
