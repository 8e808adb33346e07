"""The pipeline config: unknown keys and wrong types point at the key and its YAML line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftwise.errors import SftwiseError
from sftwise.pipeline.config import PIPELINE_OWNED, RECOMMENDED, TrainStepConfig, load_config
from sftwise.train.spec import TrainSpec


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
    assert f"{path}:4: unknown key 'valdation' in data; did you mean 'validation'?" in str(err.value)


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


ROOT = Path(__file__).resolve().parents[2]


def test_readme_example_config_is_valid_and_is_the_readme_block(tmp_path: Path) -> None:
    example = ROOT / "examples" / "pipeline.yaml"
    cfg = load_config(example)
    assert cfg.model.base and cfg.train.overlong == "error" and cfg.train.method == "full"
    assert example.read_text(encoding="utf-8").strip() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_train_section_is_every_train_spec_key_the_pipeline_does_not_set() -> None:
    keys = set(TrainStepConfig.model_fields) - {"enabled"}
    assert keys == set(TrainSpec.model_fields) - set(PIPELINE_OWNED)
    for name in keys - set(RECOMMENDED):  # typed and documented as in TrainSpec, with its default
        mine, theirs = TrainStepConfig.model_fields[name], TrainSpec.model_fields[name]
        assert (mine.annotation, mine.default, mine.description) == (theirs.annotation, theirs.default, theirs.description)
    assert all(TrainStepConfig.model_fields[name].default is None for name in RECOMMENDED)  # None: the recommendation


TRAIN = "data:\n  train: a.jsonl\nmodel:\n  base: tiny\ntrain:\n"


def test_any_training_key_is_typed_and_checked_with_its_line(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, TRAIN + "  grad_accum: 2\n  batching: packed\n  lora_dropout: 0.1\n  bucket: gs://b\n"))
    assert (cfg.train.grad_accum, cfg.train.batching, cfg.train.lora_dropout, cfg.train.bucket) == (2, "packed", 0.1, "gs://b")
    cases = {
        "  epochs: 2\n  lora_rnak: 4\n": ":7: unknown key 'lora_rnak' in train; did you mean 'lora_rank'?",
        "  batch_size: 16\n  epochs: 0\n": ":7: train.epochs: must be >= 1, got 0",
        "  warmup_ratio: 1.5\n": ":6: train.warmup_ratio: must be in [0, 1), got 1.5",
        "  batching: fast\n": ":6: train.batching: Input should be 'plain', 'length_grouped' or 'packed' (got 'fast')",
        "  model: other\n": ":6: unknown key 'model' in train",  # the pipeline sets it from model.base
        "  overrides: {epochs: 2}\n": ":6: unknown key 'overrides' in train",  # gone: every key is typed now
    }
    for text, message in cases.items():
        path = _write(tmp_path, TRAIN + text)
        with pytest.raises(SftwiseError) as err:
            load_config(path)
        assert f"{path}{message}" in str(err.value), str(err.value)


def test_data_format_is_not_a_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "data:\n  train: a.jsonl\n  format: gemini\nmodel:\n  base: tiny\n")
    with pytest.raises(SftwiseError, match=r"pipeline.yaml:3: unknown key 'format' in data"):
        load_config(path)
