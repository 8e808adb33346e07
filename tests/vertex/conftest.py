"""Fixtures for the Vertex AI tests: the local emulator and the real SDK clients pointed at it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))

from vertex_emulator import VertexEmulator  # noqa: E402

from vertex_data import LOCATION, PROJECT, example, write_gemini  # noqa: E402


@pytest.fixture(autouse=True)
def _no_real_google_credentials(monkeypatch, tmp_path_factory):
    """Whatever the machine has, these tests see no ADC unless they create it (hermetic token counting)."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("SFTWISE_COUNT_TOKENS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path_factory.mktemp("gcloud")))


@pytest.fixture
def emulator(monkeypatch):
    """A started emulator; env points google-genai and google-cloud-storage at it; ADC is faked."""
    from google.oauth2.credentials import Credentials

    from sftwise.gemini import client as gclient
    from sftwise.gemini import errors

    emu = VertexEmulator(project=PROJECT, location=LOCATION).start()
    monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", emu.base_url)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emu.base_url.rstrip("/"))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)
    monkeypatch.setattr(gclient, "default_credentials", lambda: (Credentials(token="test-token"), PROJECT))
    monkeypatch.setattr(errors, "RETRY_BASE_DELAY_S", 0.0)
    yield emu
    emu.stop()


@pytest.fixture
def genai_client(emulator):
    from sftwise.gemini.client import genai_client, resolve_context

    return genai_client(resolve_context(PROJECT, LOCATION))


@pytest.fixture
def storage_client(emulator):
    from sftwise.gemini.client import resolve_context, storage_client

    return storage_client(resolve_context(PROJECT, LOCATION))


@pytest.fixture
def datasets(tmp_path):
    train = write_gemini(tmp_path / "train.jsonl", [example(f"ticket {i} about order {i}") for i in range(12)])
    val = write_gemini(tmp_path / "val.jsonl", [example(f"held-out ticket {i}") for i in range(4)])
    return train, val
