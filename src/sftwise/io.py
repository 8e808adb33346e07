"""Writing outputs without ever leaving a half-written file behind.

Every file sftwise writes goes through :func:`atomic_write` (temp file in the same directory, fsync,
rename), so an interrupted command leaves either the old file or the new one, never a torn one. User
inputs are only ever opened for reading; :func:`refuse_overwrite_input` guards against an output path
that is one of the inputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from sftwise.errors import ParameterError, SftwiseError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_write(path) as handle:
        handle.write(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write a pydantic model, or anything ``json`` can serialise, atomically and indented."""
    if hasattr(obj, "model_dump_json"):  # a pydantic model (pydantic is not imported here: CLI start-up time)
        text = obj.model_dump_json(indent=2)
    else:
        text = json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default)
    write_text(path, text + "\n")


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[Any]) -> None:
    with atomic_write(path) as handle:
        for row in rows:
            if hasattr(row, "model_dump_json"):
                handle.write(row.model_dump_json())
            else:
                handle.write(json.dumps(row, ensure_ascii=False, default=_json_default))
            handle.write("\n")


def not_utf8(origin: str | os.PathLike[str], data: bytes, exc: UnicodeDecodeError, base: int = 0, line: int | None = None) -> SftwiseError:
    """The error for text that is not UTF-8: which byte, where, and what to do about it.

    ``data`` is the chunk that failed to decode and ``base`` its offset in the file, so the offset is
    the file's (a hex editor or ``cmp`` finds it); ``line`` is the chunk's line when it is one line.
    """
    offset = base + exc.start
    number = line if line is not None else data.count(b"\n", 0, exc.start) + 1
    return SftwiseError(f"{origin}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {offset}, line {number}); "
                        "is it a binary file? Give a text file saved as UTF-8 (e.g. `iconv -f latin1 -t utf-8`).")


def read_text(path: str | os.PathLike[str], origin: str | None = None, *, bom: bool = False) -> str:
    """The text of a UTF-8 file; a file that is not UTF-8 raises :func:`not_utf8`, never ``UnicodeDecodeError``.

    Every text file a user gives (configs, rubrics, schemas, labels) is read through this or
    :func:`iter_text_lines`, so a binary file gets the same one-line message everywhere. ``bom``
    drops a leading byte-order mark (spreadsheets write one into CSV files).
    """
    if Path(path).is_dir():
        raise SftwiseError(f"{origin or path} is a directory; give a file.")
    if not Path(path).exists():
        raise SftwiseError(f"{origin or path} does not exist; check the path.")
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as exc:
        raise not_utf8(origin or path, data, exc) from None


def iter_text_lines(path: str | os.PathLike[str], origin: str | None = None) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each line of a UTF-8 file, streamed; a line that is not UTF-8 raises
    :func:`not_utf8` with its line and the file offset of the bad byte."""
    offset = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise not_utf8(origin or path, raw, exc, base=offset, line=number) from None
            offset += len(raw)
            yield number, line


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` of each non-blank line; a line that is not JSON raises naming ``file:line``.

    The one JSONL loop of sftwise, for the files it writes or reads back (run directories, results,
    labels); user datasets go through :mod:`sftwise.formats`, which keeps the source of every record.
    """
    if Path(path).is_dir():
        raise SftwiseError(f"{path} is a directory; expected a JSONL file.")
    for number, line in iter_text_lines(path):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SftwiseError(f"{path}:{number}: not valid JSON ({exc.msg}); was the file cut short?") from exc
        yield number, value


def read_jsonl(path: str | os.PathLike[str], validate: Callable[[Any], Any] | None = None, *, what: str = "a valid record",
               hint: str = "") -> list[Any]:
    """Every value of a JSONL file, each passed through ``validate`` when given (a pydantic ``model_validate``).

    A value that ``validate`` rejects with ``ValueError`` (pydantic's ``ValidationError`` is one) raises
    ``path:line: not WHAT (why).HINT``, so a reader only says what a line should be.
    """
    if validate is None:
        return [value for _, value in iter_jsonl(path)]
    out = []
    for number, value in iter_jsonl(path):
        try:
            out.append(validate(value))
        except ValueError as exc:
            why = "; ".join(describe_error(err) for err in exc.errors()) if hasattr(exc, "errors") else str(exc)
            raise SftwiseError(f"{path}:{number}: not {what} ({why}).{hint}") from None
    return out


def require_dir_or_absent(path: str | os.PathLike[str], parameter: str) -> Path:
    """``path`` as a directory to write into: an existing file there is a
    :class:`~sftwise.errors.ParameterError` before any work starts, not a ``FileExistsError`` later."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ParameterError(parameter, f"{path} is a file; give a directory to write into (a new one is created).")
    return target


def cache_root() -> Path:
    """Where sftwise keeps what it can rebuild (response cache, converted models): ``$SFTWISE_CACHE_DIR``
    or ``~/.cache/sftwise``."""
    return Path(os.environ.get("SFTWISE_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "sftwise"))


def refuse_overwrite_input(output: str | os.PathLike[str], *inputs: str | os.PathLike[str]) -> None:
    """Raise when an output path would overwrite one of the user's input files."""
    out = Path(output).resolve()
    for item in inputs:
        if item is not None and Path(item).resolve() == out:
            raise SftwiseError(f"output {output} is the same file as input {item}; sftwise never overwrites input files. Choose another output path.")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


# ---- YAML with line numbers: the one loader of every config file ----------------------------

KeyLines = dict[tuple[Any, ...], int]
"""The 1-based line of every key and list item of a YAML document, keyed by its path, e.g.
``{("data",): 2, ("data", "train"): 3, ("scale", 1): 7}``; the root is ``()``."""


def load_yaml_with_lines(source: str | os.PathLike[str], origin: str | None = None, *, mapping_of: str | None = None) -> tuple[Any, KeyLines]:
    """Parse YAML and remember where each key is, so that a validation error can name its line.

    ``source`` is a path (``Path``/``PathLike``: the file is read) or the YAML text itself (``str``,
    then ``origin`` names it in messages, e.g. ``<built-in rubric fluency>``). ``mapping_of`` says
    what the top-level mapping holds; with it, anything but a mapping at the top is an error.
    """
    import yaml

    if isinstance(source, str):
        text, origin = source, origin or "<text>"
    else:
        path = Path(source)
        origin = origin or str(path)
        if path.is_dir():
            raise SftwiseError(f"{origin} is a directory; give the YAML file itself.")
        if not path.is_file():
            raise SftwiseError(f"{origin} does not exist; check the path.")
        text = read_text(path, origin)
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # the reader already refuses control characters
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        lines: KeyLines = {(): 1}
        if node is not None:
            _record_lines(loader, node, (), lines)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark else origin
        raise SftwiseError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    finally:
        if loader is not None:
            loader.dispose()
    if mapping_of is not None and not isinstance(data, dict):
        raise SftwiseError(f"{origin}: expected a mapping of {mapping_of} at the top, got {type(data).__name__}")
    return data, lines


def _record_lines(loader: Any, node: Any, path: tuple[Any, ...], lines: KeyLines) -> None:
    """Walk the composed YAML nodes beside the constructed data, recording each key's line."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True) if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                continue
            lines.setdefault((*path, key), key_node.start_mark.line + 1)
            _record_lines(loader, value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _record_lines(loader, item, (*path, index), lines)


def line_of(lines: KeyLines, loc: tuple[Any, ...]) -> int | None:
    """The line of ``loc``, or of its deepest ancestor in the file (a missing key: its parent)."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def validation_problems(exc: Any, lines: KeyLines, origin: str, model: Any = None) -> list[str]:
    """One ``origin:line: key: problem`` line per error of a pydantic ``ValidationError``.

    ``model`` (the pydantic model that was validated) lets an unknown key name the closest valid
    one. pydantic is not imported here: this module is on the CLI's start-up path.
    """
    located = sorted(((line_of(lines, tuple(err["loc"])) or 0, describe_error(err, model)) for err in exc.errors()), key=lambda p: p[0])
    return [f"{origin}:{line}: {problem}" if line else f"{origin}: {problem}" for line, problem in located]


def config_error(what: str, exc: Any, lines: KeyLines, origin: str, model: Any = None) -> SftwiseError:
    """The error to raise for an invalid config file: ``invalid WHAT:`` then one problem a line."""
    return SftwiseError(f"invalid {what}:\n  " + "\n  ".join(validation_problems(exc, lines, origin, model)))


def describe_error(err: dict[str, Any], model: Any = None) -> str:
    """One pydantic error as a sentence that names its key (dotted), without a location."""
    import difflib

    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        parent = ".".join(str(p) for p in loc[:-1])
        valid = list(getattr(_model_at(model, loc[:-1]), "model_fields", {}))
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else (f"valid keys: {', '.join(valid)}" if valid else "check its spelling")
        return f"unknown key '{loc[-1]}'" + (f" in {parent}" if parent else "") + f"; {hint}"
    if err["type"] == "missing":
        return f"missing required key '{key}'"
    return f"{key}: {error_problem(err)}" if key else error_problem(err)


def error_problem(err: dict[str, Any]) -> str:
    """What is wrong with the value of one pydantic error, with the value received when it is short."""
    error = (err.get("ctx") or {}).get("error")
    message = str(error) if err["type"] == "value_error" and error is not None else err["msg"]
    value = err.get("input")
    scalar = value is None or isinstance(value, (str, int, float, bool))
    return f"{message} (got {value!r})" if err["loc"] and scalar and repr(value) not in message else message


def _model_at(model: Any, parts: tuple[Any, ...]) -> Any:
    """The pydantic model that holds the keys at ``parts`` (list indices skipped), or None."""
    for part in parts:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        model = _inner_model(field.annotation) if field is not None else None
    return model


def _inner_model(annotation: Any) -> Any:
    """The first pydantic model inside an annotation such as ``list[ScaleLevel] | None``."""
    import typing

    if hasattr(annotation, "model_fields"):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
