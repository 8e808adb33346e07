"""The generation progress bar (count, tokens/s, elapsed, ETA), shared by `sftwise eval` and `sftwise run`.

:func:`sftwise.evaluate.runner.evaluate` reports through two callbacks, ``on_start(total)`` and
``on_progress(n, tokens)``, so the library never draws anything itself; this module turns them into
one rich bar on stderr, which disappears when the step ends (the run prints one line per step).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def generation_progress(label: str = "generating") -> Iterator[tuple[Callable[[int], None], Callable[..., None]]]:
    """``(on_start, on_progress)`` for :func:`~sftwise.evaluate.runner.evaluate`; the bar starts on the
    first ``on_start`` (nothing is drawn when every answer comes from the cache or a file)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    progress = Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[tps]} tok/s"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
        disable=not console.is_terminal,  # a log file gets the step's one line, not a bar's leftovers
    )
    state: dict = {"task": None, "tokens": 0, "start": 0.0}

    def on_start(total: int) -> None:
        progress.start()
        state["start"] = time.perf_counter()
        state["task"] = progress.add_task("gen", total=total, tps="-")

    def on_progress(n: int, tokens: int = 0) -> None:
        if state["task"] is None:
            return
        state["tokens"] += tokens
        elapsed = time.perf_counter() - state["start"]
        progress.update(state["task"], advance=n, tps=f"{state['tokens'] / elapsed:.1f}" if elapsed > 0 else "-")

    try:
        yield on_start, on_progress
    finally:
        if state["task"] is not None:
            progress.stop()
