"""The pipeline config: unknown keys and wrong types point at the key and its YAML line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftwise.errors import SftwiseError
from sftwise.pipeline.config import load_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_config_resolves_paths_relative_to_the_yaml(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "name: t\ndata:\n  train: d/train.jsonl\nmodel:\n  base: tiny\ntrain:\n  epochs: 3\n"))
    assert cfg.data.train == str((tmp_path / "d/train.jsonl").resolve())
    assert cfg.train.epochs == 3
    assert cfg.eval.enabled and cfg.audit.enabled and not cfg.split.enabled


def test_unknown_key_names_key_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: t\ndata:\n  train: a.jsonl\n  valdation: b.jsonl\nmodel:\n  base: tiny\n")
    with pytest.raises(SftwiseError) as err:
        load_config(path)
    assert f"{path}:4" in str(err.value)
    assert "data.valdation" in str(err.value)


def test_wrong_type_names_key_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "data:\n  train: a.jsonl\nmodel:\n  base: tiny\ntrain:\n  epochs: many\n")
    with pytest.raises(SftwiseError) as err:
        load_config(path)
    assert f"{path}:6" in str(err.value) and "train.epochs" in str(err.value) and "'many'" in str(err.value)


def test_missing_required_key(tmp_path: Path) -> None:
    with pytest.raises(SftwiseError, match="missing required key 'model'"):
        load_config(_write(tmp_path, "data:\n  train: a.jsonl\n"))


@pytest.mark.parametrize("text", ["[1, 2]", "data: [\n", ""])
def test_not_a_mapping_or_broken_yaml(tmp_path: Path, text: str) -> None:
    with pytest.raises(SftwiseError):
        load_config(_write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SftwiseError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_readme_example_config_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "pipeline.yaml"
    cfg = load_config(example)
    assert cfg.model.base
