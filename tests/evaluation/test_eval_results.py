"""The one reader of results directories: a directory, its predictions file or its summary, by name."""

from __future__ import annotations

import pytest

from sftwise.errors import SftwiseError
from sftwise.evaluate.results import EvalSummary, Prediction, read_results, write_results
from sftwise.io import write_jsonl


def _write(folder):
    preds = [Prediction(id="a", prediction="x", reference="x"), Prediction(id="b", prediction="y", reference="z")]
    write_results(folder, preds, EvalSummary(model="m", data="d.jsonl", n_examples=2))
    return folder


def test_a_directory_its_predictions_and_its_summary_read_the_same(tmp_path):
    folder = _write(tmp_path / "res")
    for path in (folder, folder / "predictions.jsonl", folder / "summary.json"):
        read = read_results(path)
        assert [p.id for p in read.predictions] == ["a", "b"]
        assert read.require_summary().model == "m"
        assert read.path == folder / "predictions.jsonl"


def test_a_bare_predictions_file_has_no_summary_until_one_is_required(tmp_path):
    write_jsonl(tmp_path / "preds.jsonl", [Prediction(id="a", prediction="x")])
    read = read_results(tmp_path / "preds.jsonl")
    assert read.summary is None and read.predictions[0].id == "a"
    with pytest.raises(SftwiseError, match="no summary.json"):
        read.require_summary()


def test_bad_results_name_the_file_and_line(tmp_path):
    with pytest.raises(SftwiseError, match="not a results directory"):
        read_results(tmp_path)
    (tmp_path / "predictions.jsonl").write_text('{"id": "a"}\n{"prediction": "no id"}\n')
    with pytest.raises(SftwiseError, match=r"predictions.jsonl:2: not a prediction \(missing required key 'id'\)"):
        read_results(tmp_path)
    (tmp_path / "predictions.jsonl").write_text('{"id": "a"}\n{"id": "a"}\n')
    with pytest.raises(SftwiseError, match="ids must be unique; repeated: a"):
        read_results(tmp_path)
    (tmp_path / "predictions.jsonl").write_text("\n")
    with pytest.raises(SftwiseError, match="holds no predictions"):
        read_results(tmp_path)
