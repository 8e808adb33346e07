"""Findings on a messages file speak its language, say each thing once, and all reach --json."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sftwise.audit import audit
from sftwise.cli import app


def _write(tmp_path: Path, text: str, name: str = "m.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _schema(report) -> list[tuple[int | None, str, str | None]]:  # noqa: ANN001
    return [(f.line, f.code, f.field) for f in report.findings if f.code < "SW200"]


def test_messages_findings_name_messages_and_assistant(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}]}\n'
                            '{"messages": [{"role": "user", "content": "q"}]}\n')
    report = audit(path)
    sw122 = next(f for f in report.findings if f.code == "SW122")
    assert sw122.field == "messages[2].role" and "messages[1] and messages[2] are both 'user'" in sw122.message  # the system message counts
    sw123 = next(f for f in report.findings if f.code == "SW123")
    assert "assistant" in sw123.message and "model" not in sw123.message and sw123.field == "messages"
    assert not any("contents" in (f.field or "") + f.message for f in report.findings)


def test_a_bare_string_message_is_one_finding(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"messages": ["hello", {"role": "assistant", "content": "hi"}]}\n'
                            '{"messages": [{"role": "user", "content": "q"}, "the answer"]}\n')
    assert _schema(audit(path)) == [(1, "SW104", "messages[0]"), (2, "SW104", "messages[1]")]  # no SW125, no SW123 as side effects


def test_a_skipped_gemini_turn_is_not_reported_again(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"contents": [42, {"role": "model", "parts": [{"text": "a"}]}]}\n'
                            '{"contents": [{"role": "user", "parts": [{"text": "q"}]}, null, {"role": "user", "parts": [{"text": "q2"}]}, {"role": "model", "parts": [{"text": "a"}]}]}\n')
    assert _schema(audit(path)) == [(1, "SW104", "contents[0]"), (2, "SW104", "contents[1]")]


def test_an_array_on_one_line_points_at_line_1(tmp_path: Path) -> None:
    path = _write(tmp_path, "[1, 2]\n")
    lines = {f.line for f in audit(path).findings if f.line is not None}
    assert lines == {1}
    pretty = _write(tmp_path, '[\n  {"contents": []},\n\n  {"contents": 5}\n]\n', "p.jsonl")
    located = {(f.line, f.code) for f in audit(pretty).findings if f.code in ("SW126", "SW104")}
    assert located == {(2, "SW126"), (4, "SW104")}  # the lines the items start on


def test_json_report_holds_every_finding_whatever_max_listed(tmp_path: Path) -> None:
    rows = "".join('{"messages": [{"role": "user", "content": "q%d"}, {"role": "narrator", "content": "a"}]}\n' % i for i in range(7))
    path = _write(tmp_path, rows)
    out = tmp_path / "a.json"
    result = CliRunner().invoke(app, ["audit", str(path), "--json", str(out), "--max-listed", "2"], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    findings = json.loads(out.read_text())["findings"]
    assert sorted(f["line"] for f in findings if f["code"] == "SW105") == list(range(1, 8))
    assert not any("more SW105 findings" in f["message"] for f in findings)
    assert "5 more SW105 findings in this file are not listed" in result.output  # the screen is still capped


def test_an_unknown_key_says_which_layout_allows_it(tmp_path: Path) -> None:
    """Without a target an unknown key stays a warning, and says where it would belong (the fix is a conversion)."""
    gemini = _write(tmp_path, '{"contents": [{"role": "user", "content": "q", "parts": [{"text": "q"}]}, {"role": "model", "parts": [{"text": "a"}]}]}\n', "g.jsonl")
    [sw102] = [f for f in audit(gemini).findings if f.code == "SW102"]
    assert sw102.severity.value == "warning" and sw102.field == "contents[0].content"
    assert "'content' belongs to the OpenAI/HF messages layout" in sw102.hint and "sftwise convert" in sw102.hint
    messages = _write(tmp_path, '{"messages": [{"role": "user", "content": "q", "parts": []}, {"role": "assistant", "content": "a", "colour": 1}]}\n')
    hints = {f.field: f.hint for f in audit(messages).findings if f.code == "SW102"}
    assert "'parts' belongs to the Gemini layout" in hints["messages[0].parts"]
    assert "No format sftwise reads has it" in hints["messages[1].colour"]
