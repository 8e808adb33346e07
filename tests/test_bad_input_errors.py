"""Issue 18, parts 5 and 6: the tracebacks and the accepted nonsense found by the probe, one test each.

Each test runs the command the probe ran (in-process, on the small world of ``test_cli_fuzz``) and
checks for the one clear ``error:`` line and exit code 2, where there was a traceback or exit 0.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sftwise.cli import app
from sftwise.errors import SftwiseError
from sftwise.io import iter_jsonl
from test_cli_fuzz import CLOSED, _build_world

BINARY = b"\xff\xfe\x00binary\x80\n"


@pytest.fixture(scope="module")
def world_template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad-input-world")
    _build_world(root)
    return root


@pytest.fixture
def world(world_template, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SFTWISE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    shutil.copytree(world_template, tmp_path / "w")
    return tmp_path / "w"


def _run(*args) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)
    exc = result.exception if not isinstance(result.exception, SystemExit) else None
    return result.exit_code, result.output, exc


def _error(*args) -> str:
    code, output, exc = _run(*args)
    assert exc is None, f"traceback: {exc!r}"
    assert code == 2, output
    assert "error:" in output, output
    return " ".join(output.split())


# ---- part 5: binary input -------------------------------------------------------------------


BINARY_CASES = {
    "train --config": lambda w, b: ["train", "--config", b("spec.yaml")],
    "run": lambda w, b: ["run", b("pipeline.yaml")],
    "diagnose": lambda w, b: ["diagnose", b("metrics.jsonl")],
    "judge predictions": lambda w, b: ["judge", _binary_results(w), "--judge", CLOSED, "-o", w / "out" / "j"],
    "judge --rubric": lambda w, b: ["judge", w / "results", "--judge", CLOSED, "--rubric", b("rubric.yaml"), "-o", w / "out" / "j"],
    "calibrate --human": lambda w, b: ["calibrate", "--human", b("labels.csv"), "--judge-results", w / "judged"],
    "label --import": lambda w, b: ["label", w / "results", "--annotator", "a", "--db", w / "out" / "l.sqlite", "--import", b("labels.jsonl")],
    "eval --json-schema": lambda w, b: ["eval", "-o", w / "out" / "e", "--predictions", w / "preds.jsonl", "--json-schema", b("schema.json")],
}


def _binary_results(world: Path) -> Path:
    folder = world / "binres"
    shutil.copytree(world / "results", folder)
    (folder / "predictions.jsonl").write_bytes(b'{"id": "q0"}\n' + BINARY)
    return folder


@pytest.mark.parametrize("name", BINARY_CASES)
def test_binary_input_is_one_clear_error(world: Path, name: str) -> None:
    def binary(file: str) -> Path:
        path = world / "binary" / file
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(BINARY)
        return path

    message = _error(*BINARY_CASES[name](world, binary))
    assert "not UTF-8 text (byte 0x" in message and "at offset" in message, message


def test_not_utf8_names_the_file_offset_and_line(tmp_path: Path) -> None:
    from sftwise.io import read_text

    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": "caf\xe9"}\n')
    with pytest.raises(SftwiseError, match=r"x.jsonl: not UTF-8 text \(byte 0xe9 at offset 19, line 2\)"):
        list(iter_jsonl(path))
    with pytest.raises(SftwiseError, match=r"byte 0xe9 at offset 19, line 2"):
        read_text(path)


# ---- part 5: the other tracebacks ---------------------------------------------------------------


def test_run_config_that_is_a_directory(world: Path) -> None:
    assert "is a directory; give the YAML file itself" in _error("run", world / "results")


@pytest.mark.parametrize("command", ["train", "run"])
def test_run_dir_that_is_an_existing_file(world: Path, command: str) -> None:
    args = ["train", "--config", world / "spec.yaml"] if command == "train" else ["run", world / "pipeline.yaml"]
    message = _error(*args, "--run-dir", world / "train.jsonl")
    assert "--run-dir" in message and "is a file" in message


def test_run_dir_file_refused_by_the_library(world: Path) -> None:
    from sftwise.pipeline.config import load_config
    from sftwise.pipeline.runner import run_pipeline

    with pytest.raises(SftwiseError, match="is a file; give a directory"):
        run_pipeline(load_config(world / "pipeline.yaml"), world / "train.jsonl")


def test_diagnose_plot_with_an_unsupported_suffix(world: Path) -> None:
    message = _error("diagnose", world / "run", "--plot", world / "out" / "x.txt")
    assert "--plot" in message and ".png, .svg, .pdf" in message
    assert not (world / "out" / "x.txt").exists()


def test_skew_with_zero_permutations(world: Path) -> None:
    code, output, exc = _run("skew", world / "train.jsonl", world / "production.txt", "--permutations", "0", "--json", world / "out" / "s.json")
    assert exc is None and code == 0, output
    signals = {s["name"]: s for s in json.loads((world / "out" / "s.json").read_text())["signals"]}
    assert any(s["threshold"] == pytest.approx(0.55) for s in signals.values())


class _EchoGenerator:
    """Answers every prompt with its own last user turn: enough to score, no model."""

    name = "echo"

    def generate(self, requests, params):
        from sftwise.backends.base import GenerationResult

        return [GenerationResult(id=r.id, text=r.messages[-1]["content"]) for r in requests]


def test_eval_of_a_loaded_dataset(world: Path) -> None:
    """The pipeline's eval.max_examples passes a Dataset: it was handed to refuse_overwrite_input (TypeError)."""
    from sftwise.conversation import Dataset
    from sftwise.evaluate.runner import evaluate
    from sftwise.formats import load

    full = load(world / "test.jsonl")
    subset = Dataset(records=full.records[:5], path=full.path, format=full.format)
    summary = evaluate(output=world / "out" / "sub", model=_EchoGenerator(), data=subset, cache=False, resamples=10)
    assert summary.n_examples == 5


# ---- part 6: accepted but wrong -----------------------------------------------------------------


NONSENSE = {
    "eval --timeout -1": (lambda w: ["eval", "-o", w / "out" / "e", "--model", CLOSED, "--data", w / "test.jsonl", "--timeout", "-1"], "--timeout"),
    "eval --max-retries -1": (lambda w: ["eval", "-o", w / "out" / "e", "--model", CLOSED, "--data", w / "test.jsonl", "--max-retries", "-1"], "--max-retries"),
    "eval --top-p 2": (lambda w: ["eval", "-o", w / "out" / "e", "--predictions", w / "preds.jsonl", "--top-p", "2"], "--top-p"),
    "judge --max-retries -1": (lambda w: ["judge", w / "results", "--judge", CLOSED, "-o", w / "out" / "j", "--max-retries", "-1"], "--max-retries"),
    "judge --max-tokens 0": (lambda w: ["judge", w / "results", "--judge", CLOSED, "-o", w / "out" / "j", "--max-tokens", "0"], "--max-tokens"),
    "judge --price-input -1": (lambda w: ["judge", w / "results", "--judge", CLOSED, "-o", w / "out" / "j", "--price-input", "-1"], "--price-input"),
    "compare --top -1": (lambda w: ["compare", w / "results", w / "results2", "--top", "-1"], "--top"),
    "hard-examples --limit -1": (lambda w: ["hard-examples", w / "results", "--train-pool", w / "train.jsonl", "--limit", "-1"], "--limit"),
    "hard-examples --threshold -1": (lambda w: ["hard-examples", w / "results", "--train-pool", w / "train.jsonl", "--threshold", "-1"], "--threshold"),
    "skew --seed -1": (lambda w: ["skew", w / "train.jsonl", w / "production.txt", "--seed", "-1"], "--seed"),
}


@pytest.mark.parametrize("name", NONSENSE)
def test_nonsense_value_is_refused_with_its_flag(world: Path, name: str) -> None:
    build, flag = NONSENSE[name]
    code, output, exc = _run(*build(world))
    assert exc is None and code == 2, output
    assert flag in output
    assert not (world / "out" / "j").exists() and not (world / "out" / "e").exists()


def test_diagnose_of_an_empty_metrics_file(world: Path) -> None:
    (world / "empty.jsonl").write_text("")
    assert "no metric points" in _error("diagnose", world / "empty.jsonl")


def test_report_of_an_empty_folder(world: Path) -> None:
    (world / "nothing").mkdir()
    assert "is not a run directory" in _error("report", world / "nothing")
    assert not (world / "nothing" / "report.html").exists()


def test_report_of_a_damaged_run(world: Path) -> None:
    (world / "run" / "config.json").write_text('{"name": "x", ')
    message = _error("report", world / "run")
    assert "config.json:1: not valid JSON" in message
    assert not (world / "run" / "report.html").exists()


@pytest.mark.parametrize("name", ["../../../outside", "a/b", "..", ".hidden", ""])
def test_pipeline_name_must_be_one_folder_name(world: Path, name: str, monkeypatch) -> None:
    config = world / "named.yaml"
    config.write_text(f"name: '{name}'\n" + (world / "pipeline.yaml").read_text().split("\n", 1)[1])
    cwd = world / "a" / "b" / "c"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)  # runs/../../../outside would be world/a/outside
    message = _error("run", config)
    assert f"{config}:1: name:" in message and "not a run name" in message
    assert not (world / "a" / "outside").exists() and not (cwd / "runs").exists()


def test_damaged_files_sftwise_wrote_are_clear_errors(world: Path) -> None:
    """A results summary or a Vertex job record that is binary or cut short: named, not a traceback."""
    (world / "results2" / "summary.json").write_bytes(BINARY)
    assert "summary.json: not UTF-8 text" in _error("compare", world / "results", world / "results2")
    (world / "run" / "vertex_job.json").write_text('{"name": ')
    assert "vertex_job.json: not a Vertex AI job record" in _error("jobs", "best", world / "run")


@pytest.mark.slow
def test_pipeline_baseline_with_eval_max_examples(tmp_path: Path, monkeypatch) -> None:
    """The probe's case end to end: `eval.max_examples` crashed the baseline step (TypeError)."""
    from importlib import resources

    monkeypatch.setenv("SFTWISE_CACHE_DIR", str(tmp_path / "cache"))
    data = resources.files("sftwise.demo") / "data"
    config = tmp_path / "p.yaml"
    config.write_text(f"name: mx\ndata:\n  train: {data / 'train.jsonl'}\n  test: {data / 'test.jsonl'}\nmodel:\n  base: tiny\n"
                      "train:\n  enabled: false\neval:\n  max_examples: 3\n  max_new_tokens: 4\nreport: false\n")
    code, output, exc = _run("run", config, "--run-dir", tmp_path / "run")
    assert exc is None and code == 0, output
    predictions = next((tmp_path / "run" / "eval").glob("baseline-*/predictions.jsonl"))
    assert len(predictions.read_text().splitlines()) == 3


@pytest.mark.parametrize("damage", [BINARY, b"[1, 2]", b'{"state_version": 1, "sftwise_version": "x", "steps": {"audit": 3}}', b'{"steps": '])
def test_a_damaged_pipeline_state_is_a_clear_error(tmp_path: Path, damage: bytes) -> None:
    """pipeline_state.json is what resumes a run: binary, not an object, the wrong shape or cut short, it is named."""
    from sftwise.pipeline.state import STATE_FILE, STATE_VERSION, load_state

    damage = damage.replace(b'"state_version": 1', f'"state_version": {STATE_VERSION}'.encode())
    (tmp_path / STATE_FILE).write_bytes(damage)
    with pytest.raises(SftwiseError, match=rf"{STATE_FILE}.*(not UTF-8|corrupt)"):
        load_state(tmp_path)
    assert (tmp_path / STATE_FILE).read_bytes() == damage


def test_a_damaged_step_output_is_named_when_read_back(tmp_path: Path) -> None:
    """recommendation.json, diagnosis.json, a results summary: read back with io.read_json, a damaged one is named."""
    from sftwise.io import read_json

    assert read_json(tmp_path / "absent.json") is None
    (tmp_path / "recommendation.json").write_text('{"epochs": ', encoding="utf-8")
    with pytest.raises(SftwiseError, match=r"recommendation.json:1: not valid JSON .*run directory is damaged"):
        read_json(tmp_path / "recommendation.json")
