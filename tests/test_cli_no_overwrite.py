"""No command writes over what it reads (issue 18, §1): the one check of ``sftwise.cli.paths``.

Each case of the issue is run through the CLI on small real inputs (a dataset, a run directory, a
results directory, a model directory, human labels): exit 2, one clear line naming the flag and both
paths, and every file of the test folder byte-identical afterwards. The check runs before the command
body, so none of these does any real work. Default and repeated outputs keep working.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from sftwise.cli import app
from sftwise.cli.paths import MARK, RUN_DIR_WRITES, SftwiseCommand

runner = CliRunner()
FAKE_SERVER = "openai:m@http://127.0.0.1:9/v1"  # never contacted: every case is refused before the body runs


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _results(path: Path) -> Path:
    """A results directory as `sftwise eval` writes it."""
    _jsonl(path / "predictions.jsonl", [{"id": str(i), "prompt": f"q{i}", "reference": "a", "prediction": "a" if i % 2 else "b",
                                         "scores": {"exact_match": float(i % 2)}} for i in range(4)])
    (path / "summary.json").write_text(json.dumps({"model": "m", "data": "d", "n_examples": 4, "metrics": {}}), encoding="utf-8")
    return path


@pytest.fixture()
def inputs(tmp_path: Path) -> dict[str, Path]:
    data = _jsonl(tmp_path / "train.jsonl", [{"prompt": f"question {i}?", "completion": f"answer {i}"} for i in range(6)])
    prod = tmp_path / "production.txt"
    prod.write_text("".join(f"production question {i}?\n" for i in range(6)), encoding="utf-8")
    run = tmp_path / "run"
    points = [{"step": s, "epoch": e, "split": sp, "scope": "epoch", "loss": loss}
              for s, e, sp, loss in ((2, 1, "train", 1.5), (2, 1, "validation", 1.6), (4, 2, "train", 1.0), (4, 2, "validation", 1.2))]
    _jsonl(run / "metrics.jsonl", points)
    _jsonl(run / "train" / "metrics.jsonl", points)
    (run / "train" / "config.json").write_text(json.dumps({"model": "m", "learning_rate": 1e-4}), encoding="utf-8")
    (run / "pipeline_state.json").write_text(json.dumps({"version": 1, "steps": {}}), encoding="utf-8")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 8}), encoding="utf-8")
    labels = tmp_path / "labels.csv"
    labels.write_text("id,annotator,task,score\n0,ann,fluency,3\n1,ann,fluency,4\n", encoding="utf-8")
    return {"data": data, "prod": prod, "run": run, "model": model, "labels": labels,
            "a": _results(tmp_path / "a"), "b": _results(tmp_path / "b"), "judged": _results(tmp_path / "judged"), "tmp": tmp_path}


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


# (the command line, the flag whose value is refused, the input it names); {x} are paths of `inputs`
CASES = {
    "audit T --json T": (["audit", "{data}", "--json", "{data}"], "--json", "{data}"),
    "inspect T --json T": (["inspect", "{data}", "--model", "{model}", "--json", "{data}"], "--json", "{data}"),
    "recommend --data X --json X": (["recommend", "--model", "gemini-2.5-flash", "--data", "{data}", "--json", "{data}"], "--json", "{data}"),
    "skew T P --json P": (["skew", "{data}", "{prod}", "--json", "{prod}"], "--json", "{prod}"),
    "eval --data X --json X": (["eval", "-o", "{tmp}/out", "--model", FAKE_SERVER, "--data", "{data}", "--json", "{data}"], "--json", "{data}"),
    "eval --predictions X --json X": (["eval", "-o", "{tmp}/out", "--predictions", "{a}/predictions.jsonl", "--json", "{a}/predictions.jsonl"],
                                      "--json", "{a}/predictions.jsonl"),
    "dedup X -o Y --report X": (["dedup", "{data}", "-o", "{tmp}/dedup.jsonl", "--report", "{data}"], "--report", "{data}"),
    "hard-examples R --train-pool X --json X": (["hard-examples", "{a}", "--train-pool", "{data}", "--json", "{data}"], "--json", "{data}"),
    "calibrate --human labels.csv --json labels.csv": (["calibrate", "--human", "{labels}", "--judge-results", "{judged}", "--json", "{labels}"],
                                                       "--json", "{labels}"),
    "diagnose RUN --json RUN/metrics.jsonl": (["diagnose", "{run}", "--json", "{run}/metrics.jsonl"], "--json", "{run}"),
    "report RUN -o RUN/train/metrics.jsonl": (["report", "{run}", "-o", "{run}/train/metrics.jsonl"], "-o", "{run}"),
    "report RUN -o RUN/pipeline_state.json": (["report", "{run}", "-o", "{run}/pipeline_state.json"], "-o", "{run}"),
    "train --run-dir M (the base model's directory)": (["train", "--model", "{model}", "--train", "{data}", "--run-dir", "{model}"],
                                                       "--run-dir", "{model}"),
    "compare A B --json A/predictions.jsonl": (["compare", "{a}", "{b}", "--json", "{a}/predictions.jsonl"], "--json", "{a}"),
    "judge R -o R": (["judge", "{a}", "--judge", FAKE_SERVER, "-o", "{a}"], "-o", "{a}"),
    "label R --import F --export F": (["label", "{a}", "--annotator", "ann", "--db", "{tmp}/labels.sqlite", "--import", "{labels}",
                                       "--export", "{labels}"], "--export", "{labels}"),
    # beyond the list: the same refusals through other doors
    "eval --data X --cache X (the response cache is written)": (["eval", "-o", "{tmp}/out", "--model", FAKE_SERVER, "--data", "{data}",
                                                                 "--cache", "{data}"], "--cache", "{data}"),
    "label R --import F --db F": (["label", "{a}", "--annotator", "ann", "--db", "{labels}", "--import", "{labels}"], "--db", "{labels}"),
    "label R --db R/predictions.jsonl": (["label", "{a}", "--annotator", "ann", "--db", "{a}/predictions.jsonl", "--export", "{tmp}/x.csv"],
                                         "--db", "{a}"),
    "convert T T": (["convert", "{data}", "{data}"], "OUTPUT", "{data}"),
    "eval -o D --predictions D/predictions.jsonl": (["eval", "-o", "{a}", "--predictions", "{a}/predictions.jsonl"], "-o", "{a}/predictions.jsonl"),
    "eval --model hf:M -o M (a scheme prefix)": (["eval", "-o", "{model}", "--model", "hf:{model}", "--data", "{data}"], "-o", "{model}"),
    "split X -o DIR where DIR/train.jsonl is X": (["split", "{data}", "-o", "{tmp}"], "-o", "{data}"),
    "dedup X -o Y --report Y (two outputs, one file)": (["dedup", "{data}", "-o", "{tmp}/d.jsonl", "--report", "{tmp}/d.jsonl"], "--report", "{tmp}/d.jsonl"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_output_that_would_overwrite_an_input_is_refused(inputs: dict[str, Path], case: str) -> None:
    args, flag, named = CASES[case]
    args = [a.format(**inputs) for a in args]
    named = named.format(**inputs)
    before = _snapshot(inputs["tmp"])
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    message = " ".join(result.output.split())  # rich may wrap the line
    assert message.startswith("error: ") and f"{flag} " in message and named in message, message
    assert "never overwrites input files" in message or "one output would overwrite the other" in message
    assert _snapshot(inputs["tmp"]) == before, "an input was modified"


def test_a_symlink_or_hard_link_to_the_input_is_the_input(inputs: dict[str, Path]) -> None:
    tmp = inputs["tmp"]
    (tmp / "link.jsonl").symlink_to(inputs["data"])
    os.link(inputs["data"], tmp / "hard.jsonl")
    before = _snapshot(tmp)
    for out in (tmp / "link.jsonl", tmp / "hard.jsonl"):
        result = invoke("audit", inputs["data"], "--json", out)
        assert result.exit_code == 2 and "is the input TRAIN" in " ".join(result.output.split()), result.output
    assert _snapshot(tmp) == before


@pytest.mark.parametrize("run_dir", ["{model}", "{tmp}/other_model"])
def test_a_training_config_whose_run_dir_is_a_model_directory_is_refused(inputs: dict[str, Path], run_dir: str) -> None:
    """The run directory named inside a YAML spec is no flag: the library (TrainSpec) refuses it."""
    other = inputs["tmp"] / "other_model"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}), encoding="utf-8")
    spec = inputs["tmp"] / "spec.yaml"
    spec.write_text(f"model: {inputs['model']}\ntrain: {inputs['data']}\nrun_dir: {run_dir.format(**inputs)}\n", encoding="utf-8")
    before = _snapshot(inputs["tmp"])
    result = invoke("train", "--config", spec)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "spec.yaml:3: run_dir:" in message and "would overwrite" in message and "choose another run directory" in message, message
    assert _snapshot(inputs["tmp"]) == before


def test_default_and_repeated_outputs_still_work(inputs: dict[str, Path]) -> None:
    run, tmp = inputs["run"], inputs["tmp"]
    protected = {k: v for k, v in _snapshot(tmp).items() if not k.startswith("run/report")}
    for _ in range(2):  # the default output, then again over the report it wrote
        result = invoke("report", run)
        assert result.exit_code == 0, result.output
    assert (run / "report.html").is_file()
    assert invoke("report", run, "-o", run / "report.html").exit_code == 0  # its own default file, named explicitly
    for _ in range(2):
        result = invoke("audit", inputs["data"], "--json", tmp / "audit.json")
        assert result.exit_code == 0, result.output
    result = invoke("convert", inputs["data"], tmp / "converted.jsonl", "--to", "messages")
    assert result.exit_code == 0, result.output
    assert (tmp / "converted.jsonl").is_file()
    for _ in range(2):
        result = invoke("diagnose", run, "--json", run / "diagnosis.json", "--plot", run / "curves.png")
        assert result.exit_code == 0, result.output
    for _ in range(2):  # --json COMMAND.json inside an input directory is that command's own file
        result = invoke("diagnose", run, "--json", run / "diagnose.json")
        assert result.exit_code == 0, result.output
    assert {k: v for k, v in _snapshot(tmp).items() if k in protected} == protected


def test_every_command_is_checked_and_every_output_flag_is_declared() -> None:
    """New commands and output flags cannot slip past the check: each command is a SftwiseCommand, and
    each parameter named like an output is declared with the options helpers (which tag it)."""
    import inspect

    output_flags = {"-o", "--output", "--json", "--report", "--plot", "--export", "--run-dir"}

    def commands(group, prefix=""):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from commands(command, f"{prefix}{name} ")
            else:
                yield prefix + name, command

    seen = 0
    for name, command in commands(typer.main.get_command(app)):
        assert isinstance(command, SftwiseCommand), f"{name} is not a SftwiseCommand: create its Typer with SftwiseTyper"
        defaults = inspect.signature(command.callback).parameters
        for param in command.params:
            if set(param.opts) & output_flags or (param.param_type_name == "argument" and param.name == "output"):
                callback = getattr(defaults[param.name].default, "callback", None)
                ctx = typer.Context(command)
                if callback is not None:
                    callback(ctx, param, None)  # the options' callbacks tag the parameter while parsing
                assert getattr(param, MARK, None) is not None, f"{name} {param.opts or param.name}: declare it with sftwise.cli.options"
                seen += 1
    assert seen >= 20
    assert "metrics.jsonl" in RUN_DIR_WRITES and "pipeline_state.json" in RUN_DIR_WRITES


def test_the_judge_library_refuses_to_write_over_the_results_it_judges(tmp_path: Path) -> None:
    """The Python API has no CLI check in front of it: run_judge itself refuses output == results."""
    from sftwise.errors import ParameterError
    from sftwise.evaluate.results import EvalSummary, Prediction
    from sftwise.io import write_json, write_jsonl
    from sftwise.judge.autorater import run_judge
    from sftwise.judge.rubric import load_rubric

    results = tmp_path / "r"
    write_jsonl(results / "predictions.jsonl", [Prediction(id="0", messages=[{"role": "user", "content": "q"}], reference="a", prediction="a")])
    write_json(results / "summary.json", EvalSummary(model="m", data="d.jsonl", n_examples=1))
    before = _snapshot(tmp_path)
    with pytest.raises(ParameterError, match="never overwrites its inputs"):
        run_judge(results, FAKE_SERVER, load_rubric("fluency"), results)
    assert _snapshot(tmp_path) == before


def test_a_pipeline_run_dir_that_holds_a_model_is_refused(inputs: dict[str, Path]) -> None:
    """`sftwise run` writes RUN_DIR/config.json first: into a model's directory it would replace the model's."""
    config = inputs["tmp"] / "pipeline.yaml"
    config.write_text(f"name: t\nmodel:\n  base: {inputs['model']}\ndata:\n  train: {inputs['data']}\n", encoding="utf-8")
    before = _snapshot(inputs["tmp"])
    result = invoke("run", config, "--run-dir", inputs["model"])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "--run-dir" in message and "base model's directory" in message and "choose another run directory" in message, message
    assert _snapshot(inputs["tmp"]) == before
