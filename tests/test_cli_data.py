"""`sftwise audit`, `convert` and `explain` through Typer's CliRunner: exit codes, --json, messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pytest
from typer.testing import CliRunner

from sftwise.cli import app
from sftwise.formats import load
from sftwise.demo.sample import sample_paths

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_audit_clean_sample_exits_0_and_writes_json(tmp_path: Path) -> None:
    p = sample_paths()
    out = tmp_path / "audit.json"
    result = invoke("audit", p["train"], "--validation", p["validation"], "--test", p["test"], "--json", out)
    assert result.exit_code == 0, result.output
    assert "no errors" in result.output and "Statistics" in result.output
    report = json.loads(out.read_text())
    assert set(report["stats"]) == {"train", "validation", "test"}
    assert report["stats"]["train"]["example_count"] == 480
    assert all(f["severity"] == "info" for f in report["findings"])


def test_audit_dirty_sample_exits_1_with_locations(tmp_path: Path) -> None:
    p = sample_paths()
    out = tmp_path / "a.json"
    result = invoke("audit", p["dirty"], "--test", p["test"], "--max-tokens", "1024", "--json", out)
    assert result.exit_code == 1, result.output
    assert "dirty.jsonl:3:" in result.output and "SW100" in result.output and "errors found" in result.output
    findings = json.loads(out.read_text())["findings"]
    assert any(f["code"] == "SW403" for f in findings)


@pytest.mark.parametrize(
    "args, message",
    [
        (["audit", "missing.jsonl"], "no such file"),
        (["audit", "{train}", "--max-tokens", "0"], "--max-tokens"),
        (["audit"], "Missing argument"),
        (["explain", "SW999"], "unknown finding code"),
        (["audit", "{train}", "--json", "{dir}"], "is a directory"),
        (["convert", "{train}", "{out}", "--to", "chatml"], "not a format"),
        (["convert", "{train}", "{out}", "--map", "question"], "expected OLD=NEW"),
        (["convert", "{train}", "{train}"], "never overwrites input"),
    ],
)
def test_usage_errors_exit_2_without_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    train = tmp_path / "train.jsonl"
    train.write_text('{"prompt": "a", "completion": "b"}\n')
    args = [a.format(train=train, out=tmp_path / "out.jsonl", dir=tmp_path) for a in args]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_audit_of_a_broken_file_is_findings_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "bin.jsonl"
    path.write_bytes(b"\x00\x01\x02" * 50)
    result = invoke("audit", path)
    assert result.exit_code == 1 and "SW114" in result.output


def test_convert_with_options(tmp_path: Path) -> None:
    src = tmp_path / "qa.csv"
    src.write_text("question,answer\nWhat is 2+2?,4\nCapital of France?,Paris\n")
    out = tmp_path / "out.jsonl"
    result = invoke("convert", src, out, "--to", "gemini", "--map", "question=prompt", "--map", "answer=completion",
                    "--system", "Answer briefly.", "--instruction-prefix", "Question:")
    assert result.exit_code == 0, result.output
    assert "wrote 2 examples" in result.output
    convs = load(out).conversations
    assert convs[0].system == "Answer briefly." and convs[0].turns[0].text == "Question:\n\nWhat is 2+2?" and convs[1].target == "Paris"
    assert src.read_text().startswith("question,answer"), "input untouched"


def test_convert_refuses_broken_input_unless_forced(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": \n')
    out = tmp_path / "out.jsonl"
    refused = invoke("convert", src, out, "--to", "messages")
    assert refused.exit_code == 2 and "in.jsonl:2" in refused.output and "--force" in refused.output
    assert not out.exists()
    forced = invoke("convert", src, out, "--to", "messages", "--force")
    assert forced.exit_code == 0 and len(load(out)) == 1


def test_explain_a_code_and_the_list() -> None:
    one = invoke("explain", "sw201")
    assert one.exit_code == 0 and "over-token-limit" in one.output and "Why it matters" in one.output
    every = invoke("explain")
    assert every.exit_code == 0 and "SW100" in every.output and "SW403" in every.output


def test_help_of_every_data_command() -> None:
    for command in ("audit", "convert", "explain"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


# ---- the shared options: one meaning everywhere ------------------------------------------------


def _commands():  # noqa: ANN202 - (path, click command) of every command, jobs subcommands included
    import typer

    def walk(command, path):  # noqa: ANN001, ANN202
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            yield path, command
            return
        for name, sub in subcommands.items():
            yield from walk(sub, [*path, name])

    return list(walk(typer.main.get_command(app), []))


def _options(flag: str):  # noqa: ANN202
    return [(path, p) for path, command in _commands() for p in command.params if flag in getattr(p, "opts", ())]


FILE_OUTPUTS = [(path, "--json") for path, _ in _options("--json")] + [
    (["dedup", "{train}"], "--report"), (["dedup", "{train}"], "-o"), (["hard-examples", "{dir}"], "-o"), (["report", "{dir}"], "-o")]


@pytest.mark.parametrize("command, flag", FILE_OUTPUTS, ids=[" ".join(c[:1] + [f]) for c, f in FILE_OUTPUTS])
def test_every_output_file_refuses_a_directory_before_any_work(tmp_path: Path, command: list[str], flag: str) -> None:
    train = tmp_path / "train.jsonl"
    train.write_text('{"prompt": "a", "completion": "b"}\n')
    args = [a.format(train=train, dir=tmp_path) for a in command]
    result = invoke(*args, flag, tmp_path)
    assert result.exit_code == 2, result.output
    assert f"{flag} {tmp_path} is a directory; give a file path such as" in " ".join(result.output.split())


@pytest.mark.parametrize("command", [["split", "{train}"], ["eval", "--predictions", "{train}"], ["judge", "{dir}", "--judge", "x"]])
def test_every_output_directory_refuses_a_file(tmp_path: Path, command: list[str]) -> None:
    train = tmp_path / "train.jsonl"
    train.write_text('{"prompt": "a", "completion": "b"}\n')
    result = invoke(*[a.format(train=train, dir=tmp_path) for a in command], "-o", train)
    assert result.exit_code == 2 and f"-o {train} is a file; give a directory" in " ".join(result.output.split()), result.output


def test_seed_defaults_to_0_in_every_command() -> None:
    seeds = {" ".join(path): option.default for path, option in _options("--seed")}
    assert seeds.pop("train") is None  # not given: the TrainSpec's seed (0 unless a --config sets it)
    assert {"compare", "eval", "dedup", "split", "skew", "judge", "calibrate"} <= set(seeds)
    assert set(seeds.values()) == {0}


def test_map_means_the_same_in_every_command(tmp_path: Path) -> None:
    src = tmp_path / "qa.jsonl"
    src.write_text("".join(json.dumps({"question": f"q{i} " * 5, "answer": f"a{i}"}) + "\n" for i in range(12)))
    commands = [_options("--map")]
    assert sorted(" ".join(path) for path, _ in commands[0]) == ["convert", "dedup", "skew", "split"]
    ok = {"convert": ["convert", src, tmp_path / "o.jsonl"], "dedup": ["dedup", src, "-o", tmp_path / "d.jsonl"],
          "split": ["split", src, "-o", tmp_path / "s", "--no-dedup"]}
    for name, args in ok.items():
        assert invoke(*args, "--map", "question=prompt", "--map", "answer=completion").exit_code == 0, name
        result = invoke(*args, "--map", "question")
        assert result.exit_code == 2 and "--map 'question': expected OLD=NEW" in result.output, name


# ---- a library ParameterError is shown with the flag of the command that was run ------------------


def test_flag_for_prefers_the_command_then_the_table_then_the_dashed_name() -> None:
    from sftwise.cli.options import flag_for

    commands = dict((" ".join(path), command) for path, command in _commands())
    assert flag_for("output", commands["eval"]) == "-o" and flag_for("json_out", commands["audit"]) == "--json"
    assert flag_for("json_path", commands["jobs list"]) == "--json"  # a command of the nested jobs group
    assert flag_for("lora_rank", commands["train"]) == "--rank" and flag_for("learning_rate") == "--lr"
    assert flag_for("max_new_tokens") == "--max-new-tokens"
    assert flag_for("run_dir", commands["jobs best"]) == "RUN_DIR"  # a positional argument
    assert flag_for("model", commands["judge"]) == "--judge" and flag_for("model", commands["eval"]) == "--model"
    assert flag_for("runs", commands["calibrate"]) == "--judge-results"


def test_parameter_error_surfaces_as_the_flag() -> None:
    import typer

    from sftwise.cli.app import SftwiseGroup
    from sftwise.cli.options import json_option
    from sftwise.errors import ParameterError

    demo = typer.Typer(cls=SftwiseGroup)

    @demo.command()
    def fail(parameter: str, json_out: Optional[Path] = json_option(), shots: int = typer.Option(0, "--shots")) -> None:
        raise ParameterError(parameter, "must be >= 1, got 0.")

    @demo.command()
    def other() -> None:
        pass

    for parameter, flag in (("json_out", "--json"), ("shots", "--shots"), ("lora_rank", "--rank"), ("max_new_tokens", "--max-new-tokens")):
        result = runner.invoke(demo, ["fail", parameter])
        assert result.exit_code == 2 and f"error: {flag}: must be >= 1, got 0." in result.output, result.output
