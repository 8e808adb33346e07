"""A response cache on SQLite, so a re-run of an evaluation costs nothing and an interrupted run resumes.

Key: SHA-256 of the generator's name (``hf:/path``, ``openai:model@url``), the system instruction,
the messages and the :class:`GenerationParams` (including the seed, so sampled outputs are cached per
seed). Only successful generations are stored; errors are retried on the next run.

:class:`CachedGenerator` wraps any :class:`Generator`: it answers what the cache holds, sends the
rest to the wrapped generator in chunks, and commits each chunk as soon as it comes back, so
stopping a run (Ctrl-C, a crash, a lost connection) loses at most one chunk of work.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from sftwise.backends.base import GenerationParams, GenerationRequest, GenerationResult
from sftwise.errors import ParameterError
from sftwise.io import cache_root


def default_cache_path() -> Path:
    return cache_root() / "responses.sqlite"


def cache_key(model: str, request: GenerationRequest, params: GenerationParams) -> str:
    payload = {
        "model": model,
        "system": request.system,
        "messages": request.messages,
        "params": params.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class ResponseCache:
    """``get``/``put`` of generation results by key; safe to share between threads."""

    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.path = Path(path) if path else default_cache_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, text TEXT, "
                "prompt_tokens INTEGER, completion_tokens INTEGER, created REAL DEFAULT (julianday('now')))"
            )
            self._conn.commit()
        except sqlite3.Error as exc:
            raise ParameterError("cache", f"cannot open the response cache {self.path} as SQLite ({exc}); give another cache path, or turn the cache off.") from None
        self._lock = threading.Lock()
        self._unwritable = False

    def get(self, key: str) -> tuple[str, int | None, int | None] | None:
        with self._lock:
            row = self._conn.execute("SELECT text, prompt_tokens, completion_tokens FROM responses WHERE key = ?", (key,)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def put_many(self, rows: Sequence[tuple[str, str, GenerationResult]]) -> None:
        """Store successful results. A cache that cannot be written (a full disk: SQLite's "database
        or disk is full", a read-only one) warns once and stops storing: the responses are still
        returned, only not kept, so a run never fails over its cache."""
        with self._lock:
            if self._unwritable:
                return
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO responses (key, model, text, prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?, ?)",
                    [(key, model, r.text, r.prompt_tokens, r.completion_tokens) for key, model, r in rows if r.error is None and r.text is not None],
                )
                self._conn.commit()
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):  # another process holds it for now: the next store may succeed
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.rollback()
                    warnings.warn(f"response cache {self.path}: busy ({exc}); these responses are not stored.", stacklevel=2)
                    return
                self._unwritable = True
                with contextlib.suppress(sqlite3.Error):
                    self._conn.rollback()
                warnings.warn(f"response cache {self.path}: cannot store responses ({exc}); going on without storing them. "
                              "Free space on its disk, or give another cache path.", stacklevel=2)

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class CachedGenerator:
    """A :class:`Generator` that consults a :class:`ResponseCache` before its wrapped generator."""

    def __init__(self, inner, cache: ResponseCache, *, chunk_size: int = 32, on_progress: Callable[[int, int], None] | None = None):
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.chunk_size = max(1, chunk_size)
        self.on_progress = on_progress
        self.hits = 0

    def generate(self, requests: Sequence[GenerationRequest], params: GenerationParams) -> list[GenerationResult]:
        results: list[GenerationResult | None] = [None] * len(requests)
        keys = [cache_key(self.name, r, params) for r in requests]
        todo = []
        for i, (req, key) in enumerate(zip(requests, keys)):
            hit = self.cache.get(key)
            if hit is None:
                todo.append(i)
            else:
                results[i] = GenerationResult(id=req.id, text=hit[0], prompt_tokens=hit[1], completion_tokens=hit[2], cached=True)
        self.hits += len(requests) - len(todo)
        if self.on_progress and len(requests) - len(todo):
            self.on_progress(len(requests) - len(todo), 0)
        for start in range(0, len(todo), self.chunk_size):
            chunk = todo[start : start + self.chunk_size]
            out = self.inner.generate([requests[i] for i in chunk], params)
            self.cache.put_many([(keys[i], self.name, r) for i, r in zip(chunk, out)])
            for i, r in zip(chunk, out):
                results[i] = r
        return [r for r in results if r is not None]
