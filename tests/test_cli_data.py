"""`sftwise audit`, `convert` and `explain` through Typer's CliRunner: exit codes, --json, messages."""

from __future__ import annotations

import json
from pathlib import Path

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
