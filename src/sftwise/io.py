"""Writing outputs without ever leaving a half-written file behind.

Every file sftwise writes goes through :func:`atomic_write` (temp file in the same directory, fsync,
rename), so an interrupted command leaves either the old file or the new one, never a torn one. User
inputs are only ever opened for reading; :func:`refuse_overwrite_input` guards against an output path
that is one of the inputs.

The system's refusals are said here, once: a full disk, a read-only mount, a folder without write
permission or a file where a folder should be raise :class:`OutputError` (path, reason, fix) from
:func:`atomic_write`, and :func:`os_error_message` words any other ``OSError`` about a file for the
CLI. Temps carry their writer's pid and host, so the next write of an output removes those that a
killed writer left (:func:`remove_stale_temps`).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from sftwise.errors import ParameterError, SftwiseError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``.

    The temp file is named ``.NAME.<pid>@<host>.<random>.tmp`` so that the next write of the same
    output can remove the ones a killed process left (:func:`remove_stale_temps`), however large,
    without touching a live process's. It gets the mode a plain ``open`` would give (the existing
    file's, else 0666 less the umask), not ``mkstemp``'s 0600, so a colleague can read the report.
    A write that the system refuses (full disk, read-only mount, no permission) raises
    :class:`OutputError` naming the path and the cause, never a bare ``OSError``.
    """
    target = Path(path)
    tmp: str | None = None
    caller_error = False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(target)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{temp_stamp()}.", suffix=".tmp")
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            _set_mode(handle.fileno(), target)
            try:
                yield handle
            except OSError as exc:
                if exc.filename is None and exc.errno in WRITE_ERRNOS:  # a write to our handle (ENOSPC, EFBIG, EIO)
                    exc.filename = str(target)
                else:
                    caller_error = True  # the caller's own error (reading an input, say): not ours to restate
                raise
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        _discard(tmp)
        if exc.errno in WRITE_ERRNOS and not caller_error:
            raise output_error(target, exc) from None
        raise
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: str | None) -> None:
    if tmp is not None:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


class OutputError(SftwiseError):
    """An output the system refused to write: ``path`` and the ``errno`` (ENOSPC, EACCES, EROFS...)."""

    def __init__(self, path: str | os.PathLike[str], errno_: int | None, message: str) -> None:
        self.path = str(path)
        self.errno = errno_
        super().__init__(message)


WRITE_ERRNOS = frozenset(getattr(errno, name) for name in (
    "ENOSPC", "EDQUOT", "EFBIG", "EACCES", "EPERM", "EROFS", "ENOTDIR", "EISDIR", "ENAMETOOLONG", "EEXIST", "EIO", "ELOOP", "ENOENT",
) if hasattr(errno, name))
"""Errors of writing an output that the user can fix (disk, permissions, the path); any other
``OSError`` is left as it is."""


def output_error(path: str | os.PathLike[str], exc: OSError) -> OutputError:
    """The one message for an output that could not be written: the path, the system's reason, a fix."""
    target = Path(path)
    code = exc.errno
    name = errno.errorcode.get(code, "") if code is not None else ""
    blocker = _file_on_path(target) if code in (errno.ENOTDIR, errno.EEXIST) else None
    if blocker is not None:  # mkdir's EEXIST for a file in the way reads as nonsense: say what it means
        code, name, reason = errno.ENOTDIR, "ENOTDIR", f"{os.strerror(errno.ENOTDIR)} (ENOTDIR)"
    else:
        reason = f"{exc.strerror or exc}" + (f" ({name})" if name else "")
    where = f"cannot write {target}"
    if exc.filename and not _about(Path(os.fsdecode(exc.filename)), target):
        where += f" ({os.fsdecode(exc.filename)})"
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1), errno.EFBIG):
        hint = "the disk is full" if code != errno.EFBIG else "the file is larger than this system allows"
        space = free_space(target)
        if space is not None:
            hint += f": the output did not fit in the {format_bytes(space)} free on the disk of {_existing(target)}"
        hint += ". Free some space or choose an output on another disk."
    elif code == errno.EROFS:
        hint = f"{_existing(target)} is on a read-only file system. Choose an output on a writable disk."
    elif code in (errno.EACCES, errno.EPERM):
        hint = f"no permission to write in {_existing(target)}. Choose another output path or fix its permissions."
    elif blocker is not None:
        hint = f"{blocker} is a file, not a directory. Choose another output path."
    elif code == errno.EISDIR:
        hint = f"{target if target.is_dir() else exc.filename} is a directory. Give a file path for the output."
    else:
        hint = "Check the output path."
    return OutputError(target, code, f"{where}: {reason}; {hint}")


def os_error_message(exc: OSError) -> str:
    """One line for an ``OSError`` about a file: a write error as :func:`output_error` says it, else
    ``cannot read PATH: reason (ERRNO)``. The CLI's last resort, so no command ends in a traceback."""
    path = Path(str(exc.filename))
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1), errno.EFBIG, errno.EROFS):
        return str(output_error(path, exc))
    name = errno.errorcode.get(exc.errno, "") if exc.errno is not None else ""
    reason = f"{exc.strerror or exc}" + (f" ({name})" if name else "")
    second = f" -> {exc.filename2}" if getattr(exc, "filename2", None) else ""
    if exc.errno in (errno.EACCES, errno.EPERM):
        hint = "Check its permissions, or choose another path."
    elif exc.errno == errno.ENOENT:
        hint = "Check the path."
    elif exc.errno == errno.EISDIR:
        hint = "Give a file path, not a directory."
    elif exc.errno == errno.ENOTDIR:
        hint = "A part of the path is a file, not a directory."
    else:
        hint = "Check the path and the disk."
    return f"{exc.filename}{second}: {reason}. {hint}"


def free_space(path: str | os.PathLike[str]) -> int | None:
    """Free bytes on the disk that holds ``path`` (or its nearest existing parent), or None."""
    try:
        return shutil.disk_usage(_existing(Path(path))).free
    except OSError:
        return None


def format_bytes(n: int) -> str:
    """``1536`` -> ``1.5 KB``: sizes in messages."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - unreachable


def _about(path: Path, target: Path) -> bool:
    """Whether an error's file is the output itself, its folder or one of its temps (not worth naming)."""
    try:
        path, target = path.resolve(), target.resolve()
    except OSError:
        return False
    return path in (target, target.parent) or (path.parent == target.parent and path.name.startswith(f".{target.name}."))


def _existing(path: Path) -> Path:
    """``path`` or its nearest parent that exists (what a message about a missing output can name)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return path


def _file_on_path(path: Path) -> Path | None:
    """The first parent of ``path`` that is a file, where a directory is needed (ENOTDIR)."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


# ---- file modes and stale temporaries ------------------------------------------------------

_UMASK: int | None = None


def umask() -> int:
    """The process umask, read once (``/proc/self/status`` where it can, as setting it is the only
    other way to read it, and setting it races with other threads creating files)."""
    global _UMASK
    if _UMASK is None:
        try:
            with open("/proc/self/status", encoding="ascii") as handle:
                _UMASK = next(int(line.split()[1], 8) for line in handle if line.startswith("Umask:"))
        except (OSError, StopIteration, ValueError, IndexError):
            _UMASK = os.umask(0o022)
            os.umask(_UMASK)
    return _UMASK


def _set_mode(fd: int, target: Path) -> None:
    """Give the temp file the mode the output should have: the existing file's, else 0666 & ~umask."""
    if not hasattr(os, "fchmod"):  # pragma: no cover - Windows
        return
    try:
        wanted = target.stat().st_mode & 0o7777
    except OSError:
        wanted = 0o666 & ~umask()
    os.fchmod(fd, wanted)


def temp_stamp() -> str:
    """``<pid>@<host>``: which process a temporary belongs to, for :func:`is_stale_stamp`."""
    return f"{os.getpid()}@{_HOST}"


_HOST = re.sub(r"[^A-Za-z0-9_-]", "", os.uname().nodename.split(".")[0] if hasattr(os, "uname") else "") or "host"
STAMP_PATTERN = r"(?P<pid>\d+)@(?P<host>[A-Za-z0-9_-]+)"
STALE_UNSTAMPED_SECONDS = 3600
"""A temporary without a stamp (written before stamps existed) is stale once untouched this long."""


def is_stale_stamp(stamp: re.Match[str] | None, path: Path) -> bool:
    """Whether a temporary was left by a process that is gone: its pid no longer runs on this host.

    A temp of another host (a shared disk) or of a live process is never stale; one without a stamp
    (older sftwise) is stale once untouched for ``STALE_UNSTAMPED_SECONDS``.
    """
    if stamp is None:
        try:
            return time.time() - path.stat().st_mtime > STALE_UNSTAMPED_SECONDS
        except OSError:
            return False
    if stamp["host"] != _HOST:
        return False
    pid = int(stamp["pid"])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):  # alive, another user's
        return False
    return False


def remove_stale_temps(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temp files that killed writers of ``target`` left beside it; return them."""
    target = Path(target)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?:{STAMP_PATTERN}\.)?[A-Za-z0-9_]{{8}}\.tmp")
    removed = []
    try:
        candidates = [p for p in target.parent.glob(f".{glob.escape(target.name)}.*.tmp")]
    except OSError:
        return removed
    for candidate in candidates:
        match = pattern.fullmatch(candidate.name)
        if match is None or not candidate.is_file():
            continue
        if is_stale_stamp(match if match["pid"] else None, candidate):
            with contextlib.suppress(OSError):
                candidate.unlink()
                removed.append(candidate)
    return removed


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


def read_json(path: str | os.PathLike[str]) -> Any:
    """A JSON file sftwise wrote into a run (a step's summary, recommendation, diagnosis), None when
    it is absent (its step has not run); a damaged file is one clear error naming it, never a
    traceback, and never silently skipped (what is built on it would leave out what the run did)."""
    if not Path(path).exists():
        return None
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise SftwiseError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); the run directory is damaged: "
                           "re-run the step that writes it (`sftwise run` redoes it) or delete the file.") from None


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


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks: the one content hash of sftwise (caches,
    uploads, fingerprints of inputs)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_digest(path: str | os.PathLike[str] | None) -> str:
    """:func:`file_sha256` of an optional input, for fingerprints: '' for none, 'missing' for a path
    that is not a file, so an edited, added or removed dataset changes the fingerprint."""
    if not path:
        return ""
    return file_sha256(path) if Path(path).is_file() else "missing"


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
