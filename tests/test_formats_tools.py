"""Tool calls, system_instruction and per-message fields through read, write and `sftwise convert`.

Gemini -> messages -> Gemini gives the same file; messages -> messages keeps every byte of the tool
traffic (argument strings as written); what a conversion cannot keep is said (weights, names, ids).
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from typer.testing import CliRunner

from sftwise.cli import app
from sftwise.formats import conversion_losses, read, write

CORPUS = Path(__file__).parent / "audit_corpus"


def _rows(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _tool_records(name: str, tmp_path: Path) -> Path:
    """The corpus's valid records that hold tools, as their own file."""
    rows = [r for r in _rows(CORPUS / name) if "tools" in r]
    assert len(rows) >= 3
    path = tmp_path / name
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def test_gemini_tool_records_survive_a_round_trip_through_messages(tmp_path: Path) -> None:
    src = _tool_records("valid_gemini.jsonl", tmp_path)
    first = read(src)
    assert first.findings == []
    write(first.dataset, tmp_path / "m.jsonl", "messages")
    middle = read(tmp_path / "m.jsonl")
    assert middle.findings == [] and middle.dataset.format == "messages"
    write(middle.dataset, tmp_path / "back.jsonl", "gemini")
    original = _rows(src)
    for row in original:  # sftwise writes the canonical spelling of the roles Gemini accepts for results
        for turn in row["contents"]:
            turn["role"] = "user" if turn["role"] == "function" else turn["role"]
    assert _rows(tmp_path / "back.jsonl") == original
    messages = _rows(tmp_path / "m.jsonl")
    parallel = next(m for m in messages if any(len(x.get("tool_calls", [])) == 2 for x in m["messages"]))
    calls = next(x["tool_calls"] for x in parallel["messages"] if x.get("tool_calls"))
    results = [x["tool_call_id"] for x in parallel["messages"] if x["role"] == "tool"]
    assert results == [c["id"] for c in calls] and len(set(results)) == 2  # each result answers its own call
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Oslo"}
    assert parallel["tools"][0]["function"]["parameters"]["properties"]["city"]["type"] == "string"


def test_messages_tool_records_are_kept_as_written(tmp_path: Path) -> None:
    src = _tool_records("valid_messages.jsonl", tmp_path)
    result = read(src)
    assert result.findings == []
    write(result.dataset, tmp_path / "same.jsonl", "messages")
    original = _rows(src)
    for row in original:  # an absent content beside tool calls is written as null (the same to OpenAI)
        for message in row["messages"]:
            if "tool_calls" in message:
                message.setdefault("content", None)
    assert _rows(tmp_path / "same.jsonl") == original


def test_messages_to_gemini_and_back_keeps_calls_results_and_tools(tmp_path: Path) -> None:
    src = _tool_records("valid_messages.jsonl", tmp_path)
    dataset = read(src).dataset
    write(dataset, tmp_path / "g.jsonl", "gemini")
    gem = _rows(tmp_path / "g.jsonl")
    assert gem[0]["tools"][0]["functionDeclarations"][0]["parameters"]["type"] == "OBJECT"
    assert gem[0]["contents"][1]["parts"] == [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
    assert gem[0]["contents"][2]["parts"] == [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}}]
    assert [p["functionResponse"]["response"] for p in gem[1]["contents"][2]["parts"]] == [{"content": "3 C"}, {"content": "19 C"}]
    back = read(tmp_path / "g.jsonl").dataset
    write(back, tmp_path / "m.jsonl", "messages")
    again = _rows(tmp_path / "m.jsonl")
    for before, after in zip(_rows(src), again, strict=True):
        assert len(before["messages"]) == len(after["messages"])
        for a, b in zip(before["messages"], after["messages"], strict=True):
            assert a["role"] == b["role"]
            assert a.get("content") == b.get("content") or json.loads(a["content"]) == json.loads(b["content"])  # JSON results re-serialised
            for ca, cb in zip(a.get("tool_calls", []), b.get("tool_calls", []), strict=True):
                assert ca["function"]["name"] == cb["function"]["name"]
                assert json.loads(ca["function"]["arguments"]) == json.loads(cb["function"]["arguments"])
        assert before["tools"] == after["tools"]
    losses = conversion_losses(dataset.conversations, "gemini")
    assert any("tool-call ids" in loss for loss in losses)


def test_system_instruction_snake_case_is_read_and_converted(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"system_instruction": {"parts": [{"text": "Answer in French."}]}, "contents": [{"role": "user", "parts": [{"text": "Hi"}]}, {"role": "model", "parts": [{"text": "Salut"}]}]}\n')
    result = read(path)
    assert result.findings == [] and result.dataset.format == "gemini"
    assert result.dataset[0].conversation.system == "Answer in French."
    write(result.dataset, tmp_path / "m.jsonl", "messages")
    assert _rows(tmp_path / "m.jsonl")[0]["messages"][0] == {"role": "system", "content": "Answer in French."}


def test_convert_says_what_gemini_cannot_hold(tmp_path: Path) -> None:
    src = tmp_path / "w.jsonl"
    src.write_text('{"messages": [{"role": "user", "content": "Hi", "name": "ana"}, {"role": "assistant", "content": "Hey", "weight": 0}, '
                   '{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "weight": 1}]}\n')
    result = CliRunner().invoke(app, ["convert", str(src), str(tmp_path / "g.jsonl"), "--to", "gemini"])
    assert result.exit_code == 0, result.output
    assert "1 assistant messages have weight 0" in result.output and "1 message names are dropped" in result.output
    assert conversion_losses(read(src).dataset.conversations, "messages") == []
    write(read(src).dataset, tmp_path / "m.jsonl", "messages")
    assert _rows(tmp_path / "m.jsonl") == _rows(src)  # weight and name kept in their own format


def test_flat_formats_say_tool_calls_become_text(tmp_path: Path) -> None:
    dataset = read(_tool_records("valid_gemini.jsonl", tmp_path)).dataset
    losses = conversion_losses(dataset.conversations, "sharegpt")
    assert any("tool calls and results become JSON text" in x for x in losses)
    assert any("tool declarations" in x for x in losses)

