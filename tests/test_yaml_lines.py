"""The one YAML loader (io.load_yaml_with_lines): every config file names the line of a bad key.

Pipeline configs and rubrics have their own tests; here the loader itself, and the TrainSpec YAML of
``sftwise train --config`` / ``python -m sftwise.train.local``, which had no line numbers before.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from sftwise.cli import app
from sftwise.errors import ParameterError, SftwiseError
from sftwise.io import line_of, load_yaml_with_lines
from sftwise.train.spec import TrainSpec

DOC = """name: t
data:
  train: a.jsonl

scale:
  - score: 1
    description: good
  - {score: 0, description: bad}
"""


def test_every_key_and_item_has_its_line() -> None:
    data, lines = load_yaml_with_lines(DOC, "doc.yaml")
    assert data["scale"][1] == {"score": 0, "description": "bad"}
    assert lines[("name",)] == 1 and lines[("data", "train")] == 3
    assert lines[("scale", 0)] == 6 and lines[("scale", 0, "description")] == 7 and lines[("scale", 1, "score")] == 8
    assert line_of(lines, ("data", "validation")) == 2  # a missing key: the line of its parent
    assert line_of(lines, ("nothing",)) == 1


def test_files_errors_and_what_the_top_must_be(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(DOC, encoding="utf-8")
    assert load_yaml_with_lines(path)[0]["name"] == "t"
    with pytest.raises(SftwiseError, match="does not exist"):
        load_yaml_with_lines(tmp_path / "nope.yaml")
    with pytest.raises(SftwiseError, match=r"^doc.yaml:2: not valid YAML \(mapping values are not allowed here\)"):
        load_yaml_with_lines("a: 1\nb: c: d\n", "doc.yaml")
    with pytest.raises(SftwiseError, match="expected a mapping of things at the top, got list"):
        load_yaml_with_lines("- 1\n", "doc.yaml", mapping_of="things")
    assert load_yaml_with_lines("", "doc.yaml")[0] is None


@given(st.text(max_size=200))
def test_any_text_is_data_or_one_sftwise_error(text: str) -> None:
    try:
        data, lines = load_yaml_with_lines(text, "t.yaml")
    except SftwiseError as exc:
        assert str(exc).startswith("t.yaml")
        return
    assert all(1 <= line <= text.count("\n") + 1 for line in lines.values())


SPEC = """model: m
train: t.jsonl
lora_rnk: 4
epochs: 0
"""


def test_train_spec_yaml_names_file_line_and_closest_key(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC, encoding="utf-8")
    with pytest.raises(SftwiseError) as err:
        TrainSpec.from_yaml(path)
    assert str(err.value).splitlines()[1:] == [f"  {path}:3: unknown key 'lora_rnk'; did you mean 'lora_rank'?",
                                               f"  {path}:4: epochs: must be >= 1, got 0"]
    path.write_text("model: m\ntrain: t.jsonl\nlora_rank: 4\n", encoding="utf-8")
    assert TrainSpec.from_yaml(path, epochs=2, lora_rank=None).lora_rank == 4  # None: not given
    with pytest.raises(ParameterError) as bad:  # a bad override names the parameter, not a line of the file
        TrainSpec.from_yaml(path, lora_rank=0)
    assert (bad.value.parameter, bad.value.problem) == ("lora_rank", "must be >= 1, got 0")


def test_cli_names_the_line_of_a_spec_and_the_flag_of_an_argument(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC, encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "--config", str(path)])
    assert result.exit_code == 2 and "spec.yaml:3: unknown key 'lora_rnk'; did you mean 'lora_rank'?" in " ".join(result.output.split())
    path.write_text("model: m\ntrain: t.jsonl\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "--config", str(path), "--rank", "0"])
    assert result.exit_code == 2 and "--rank: must be >= 1, got 0" in result.output, result.output
