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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from sftwise.errors import SftwiseError


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


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSONL file sftwise itself wrote (run directories, results); user data goes through formats."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SftwiseError(f"{path}:{number}: not valid JSON ({exc.msg}); was the file cut short?") from exc
    return rows


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
