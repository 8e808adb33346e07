"""Issue 14, limits and targets: the per-example token limit is always checked and names its source; the
Gemini model table is dated and sourced; file parts are checked on every audit; ``--target openai:MODEL``;
another layout under a Gemini target names ``sftwise convert``. Defective and valid records, each asserting
code, severity and line."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sftwise.audit import audit
from sftwise.audit.targets import OPENAI_LIMITS, choose_limit, resolve_openai
from sftwise.cli.app import app
from sftwise.errors import ParameterError
from sftwise.findings import Severity
from sftwise.gemini import limits as gl

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO
LONG = "word " * 160_000  # 800,000 bytes: 200,000 estimated tokens


def gem(user: str = "Where is my order?", model: str = "Shipping.", parts: list | None = None, **extra) -> dict:
    row = {"contents": [{"role": "user", "parts": [{"text": user}, *(parts or [])]}, {"role": "model", "parts": [{"text": model}]}]}
    row.update(extra)
    return row


def msg(user: str = "Where is my order?", answer: str = "Shipping.", **extra) -> dict:
    row = {"messages": [{"role": "system", "content": "Route tickets."}, {"role": "user", "content": user}, {"role": "assistant", "content": answer}]}
    row.update(extra)
    return row


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def hits(report, code: str) -> list:
    return [f for f in report.findings if f.code == code]


def image(uri: str = "gs://bucket/cat.png", mime: str | None = "image/png") -> dict:
    data = {"fileUri": uri} if mime is None else {"mimeType": mime, "fileUri": uri}
    return {"fileData": data}


# -- the per-example token limit -------------------------------------------------------------------

def test_default_limit_for_a_gemini_file_is_131072_and_named(tmp_path):
    report = audit(write(tmp_path / "t.jsonl", [gem(), gem(LONG)]))
    assert report.max_tokens == 131_072 and "Gemini" in report.max_tokens_source
    (over,) = hits(report, "SW201")
    assert (over.severity, over.line) == (E, 2) and "limit 131,072 (default for Gemini files)" in over.message
    (default,) = hits(report, "SW205")
    assert default.severity is I and "131,072" in default.message and "gemini-vertex.md" in default.message


def test_default_limit_for_a_messages_file_is_65536(tmp_path):
    report = audit(write(tmp_path / "m.jsonl", [msg(), msg("word " * 60_000)]))  # 75,000 estimated tokens
    (over,) = hits(report, "SW201")
    assert (over.severity, over.line) == (E, 2) and "65,536 (default for messages files)" in over.message
    assert "gpt-4o" in over.hint and "formats-2026.md" in over.hint  # the full source, once per code on screen
    assert "formats-2026.md" in hits(report, "SW205")[0].message
    assert not hits(audit(write(tmp_path / "ok.jsonl", [msg(), msg("word " * 40_000)])), "SW201")  # 50,000: under


def test_max_tokens_overrides_the_default_and_names_itself(tmp_path):
    report = audit(write(tmp_path / "t.jsonl", [gem(), gem("word " * 100)]), max_tokens=50)
    assert report.max_tokens == 50 and not hits(report, "SW205")
    (over,) = hits(report, "SW201")
    assert over.line == 2 and "(max_tokens given)" in over.message


def test_choose_limit_order():
    assert choose_limit(10, "gemini-2.5-flash", "gpt2", 1024, "gemini").kind == "max_tokens"
    assert choose_limit(None, "gemini-2.5-flash", "gpt2", 1024, "messages").value == 131_072
    assert choose_limit(None, None, "gpt2", 1024, "gemini").value == 1024
    assert choose_limit(None, None, None, None, "alpaca").label == "default for alpaca files"
    three = choose_limit(None, "gemini-3.5-flash", None, None, "gemini")  # the docs state no per-example limit
    assert (three.kind, three.value) == ("default", 131_072) and "give none for gemini-3.5-flash" in three.source


# -- Gemini target: resource paths, SW606 vs SW205/SW201 -------------------------------------------

@pytest.mark.parametrize("target", ["publishers/google/models/gemini-2.5-flash",
                                    "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash", "gemini:gemini-2.5-flash"])
def test_resource_path_target_checks_the_service_limit(tmp_path, target, monkeypatch):
    monkeypatch.setenv("SFTWISE_COUNT_TOKENS", "0")
    report = audit(write(tmp_path / "t.jsonl", [gem(), gem(LONG)]), target=target)
    (over,) = hits(report, "SW606")
    assert (over.severity, over.line) == (E, 2) and "131,072 per example" in over.message and "Vertex AI docs" in over.message
    assert not hits(report, "SW205") and not hits(report, "SW201")  # one finding per over-long example, no "no limit" note
    assert report.max_tokens == 131_072 and "gemini-2.5-flash" in report.max_tokens_source


def test_sw205_and_sw606_never_contradict(tmp_path, monkeypatch):
    monkeypatch.setenv("SFTWISE_COUNT_TOKENS", "0")
    path = write(tmp_path / "t.jsonl", [gem(), gem(LONG)])
    for target in ("gemini-2.5-pro", "gemini-3.5-flash", "gemini-3.1-flash-lite"):
        report = audit(path, target=target)
        codes = {f.code for f in report.findings}
        assert not ({"SW205", "SW606"} <= codes), target
        assert codes & {"SW201", "SW606"}, target  # the over-long line is reported either way
        assert [f.line for f in report.findings if f.code in ("SW201", "SW606")] == [2]


def test_unknown_turn_key_is_an_error_under_a_gemini_target(tmp_path, monkeypatch):
    monkeypatch.setenv("SFTWISE_COUNT_TOKENS", "0")
    bad = gem()
    bad["contents"][1]["id"] = 7
    si = gem(system_instruction={"parts": [{"text": "Route."}], "note": "x"})
    report = audit(write(tmp_path / "t.jsonl", [gem(), bad, si, gem(systemInstruction={"role": "system", "parts": [{"text": "ok"}]})]), target="gemini-2.5-flash")
    schema = [(f.line, f.severity, f.field) for f in hits(report, "SW601")]
    assert (2, E, "contents[1].id") in schema
    assert (3, E, "system_instruction") in schema  # the snake_case spelling is known; its unknown key is not
    assert not [f for f in report.findings if f.line in (1, 4) and f.severity is E]


def test_a_messages_file_under_a_gemini_target_names_convert(tmp_path, monkeypatch):
    monkeypatch.setenv("SFTWISE_COUNT_TOKENS", "0")
    path = write(tmp_path / "m.jsonl", [msg(), msg("other")])
    report = audit(path, target="gemini-2.5-flash")
    (layout,) = [f for f in hits(report, "SW601") if "layout" in f.message]
    assert layout.severity is E and layout.line == 1 and "messages layout" in layout.message
    assert f"sftwise convert {path}" in layout.hint and "--to gemini" in layout.hint
    result = CliRunner().invoke(app, ["audit", str(path), "--target", "gemini-2.5-flash"], env={"COLUMNS": "250", "SFTWISE_COUNT_TOKENS": "0"})
    assert result.exit_code == 1 and "sftwise convert" in result.output


# -- the model table -------------------------------------------------------------------------------

def test_model_table_carries_source_and_date():
    assert gl.CHECKED <= date.today() and "2026" in gl.MODELS_REFERENCE
    for lim in gl.GEMINI_LIMITS.values():
        assert lim.listed.source and lim.listed.checked == gl.CHECKED
        for f in dataclasses.fields(lim):
            value = getattr(lim, f.name)
            if isinstance(value, gl.Figure):
                assert value.source and value.checked <= date.today(), (lim.model, f.name)
    assert {"gemini-3.5-flash", "gemini-3.5-flash-lite", "gemini-3.1-flash-lite-preview", "gemini-2.5-pro", "gemini-2.5-flash",
            "gemini-2.5-flash-lite"} == set(gl.tunable_models(date(2026, 12, 4)))
    assert gl.resolve_model("gemini-3.1-flash-lite").preview
    assert gl.resolve_model("gemini-2.5-flash").max_training_examples_text.value == 1_000_000
    assert all(lim.max_training_examples_text.value != 10_000_000 for lim in gl.GEMINI_LIMITS.values())
    assert not hasattr(gl.GEMINI_LIMITS["gemini-2.5-flash"], "validation_fraction_over_1000")
    for lim in OPENAI_LIMITS.values():
        assert lim.tokens_per_example.value and lim.tokens_per_example.source


def test_unknown_model_says_where_the_table_came_from():
    for stale in ("gemini-1.5-pro-002", "gemini-1.5-flash-002", "publishers/google/models/gemini-9-ultra"):
        with pytest.raises(ParameterError, match=r"target: .*cannot be tuned.*table from the tunable-model list.*checked 2026-12-01"):
            gl.resolve_model(stale, parameter="target")


def test_unknown_model_on_the_cli_names_target_not_model(tmp_path):
    path = write(tmp_path / "t.jsonl", [gem()])
    result = CliRunner().invoke(app, ["audit", str(path), "--target", "gemini-1.5-pro-002"], env={"COLUMNS": "400"})
    assert result.exit_code == 2 and "--target" in result.output and "--model" not in result.output
    assert "Traceback" not in result.output and "tunable-model list" in result.output


def test_training_set_size_finding_names_its_source(tmp_path, monkeypatch):
    from sftwise.audit import gemini_target as gt

    small = dataclasses.replace(gl.GEMINI_LIMITS["gemini-2.5-flash"], max_training_examples_text=gl.Figure(3, "a test source"))
    monkeypatch.setitem(gl.GEMINI_LIMITS, "gemini-2.5-flash", small)
    found = gt.check_gemini_target(write(tmp_path / "t.jsonl", [gem(f"q{i}") for i in range(4)]), target="gemini-2.5-flash", token_counter=None)
    (size,) = [f for f in found if f.code == "SW607"]
    assert size.severity is E and "at most 3 (text-only; a test source, checked" in size.message


# -- file parts, with and without a target -----------------------------------------------------------

VALID_FILES = [image(), image("https://example.com/cat.webp", "image/webp"), image("gs://b/doc.pdf", "application/pdf"),
               image("gs://b/talk.mp3", "audio/mp3"), image("gs://b/clip.mp4", "video/mp4"), image("https://example.com/a.wav", "audio/wav")]


def test_valid_file_parts_pass_with_and_without_a_target(tmp_path, monkeypatch):
    monkeypatch.setenv("SFTWISE_COUNT_TOKENS", "0")
    path = write(tmp_path / "t.jsonl", [gem(parts=[p]) for p in VALID_FILES] + [gem(parts=[image()] * 30)])
    for target in (None, "gemini-2.5-flash", "gemini-3.5-flash"):
        report = audit(path, target=target)
        bad = [f for f in report.findings if f.code in ("SW140", "SW141", "SW142", "SW143", "SW604", "SW605")]
        assert not bad, (target, [str(f) for f in bad])


def test_defective_file_parts_without_a_target(tmp_path):
    rows = [gem(), gem(parts=[image("file:///home/me/cat.png")]), gem(parts=[image(mime=None)]), gem(parts=[image()] * 31),
            gem(parts=[image("gs://b/x.gif", "image/gif")]), gem(parts=[image("/tmp/cat.png")])]
    report = audit(write(tmp_path / "t.jsonl", rows))
    got = {(f.code, f.severity, f.line, f.field) for f in report.findings if f.code in ("SW140", "SW141", "SW142", "SW143")}
    assert got == {("SW140", E, 2, "contents[0].parts[1].fileData.fileUri"), ("SW141", E, 3, "contents[0].parts[1].fileData.mimeType"),
                   ("SW142", E, 4, None), ("SW143", W, 5, "contents[0].parts[1].fileData.mimeType"),
                   ("SW140", E, 6, "contents[0].parts[1].fileData.fileUri")}


def test_defective_file_parts_under_a_gemini_target_are_sw604_sw605_once(tmp_path, monkeypatch):
    monkeypatch.setenv("SFTWISE_COUNT_TOKENS", "0")
    rows = [gem(), gem(parts=[image("file:///home/me/cat.png")]), gem(parts=[image(mime=None)]), gem(parts=[image()] * 31),
            gem(parts=[image("gs://b/x.gif", "image/gif")])]
    report = audit(write(tmp_path / "t.jsonl", rows), target="gemini-2.5-flash")
    got = {(f.code, f.line, f.field) for f in report.findings if f.code in ("SW604", "SW605")}
    assert got == {("SW604", 2, "contents[0].parts[1].fileData.fileUri"), ("SW604", 3, "contents[0].parts[1].fileData.mimeType"),
                   ("SW605", 4, None), ("SW604", 5, "contents[0].parts[1].fileData.mimeType")}
    assert all(f.severity is E for f in report.findings if f.code in ("SW604", "SW605"))
    assert not [f for f in report.findings if f.code in ("SW140", "SW141", "SW142", "SW143")]  # said once, as SW6xx


def test_local_image_url_in_a_messages_file(tmp_path):
    row = {"messages": [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": "file:///x.png"}}]},
                        {"role": "assistant", "content": "a cat"}]}
    ok = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}]},
                       {"role": "assistant", "content": "a cat"}]}
    report = audit(write(tmp_path / "m.jsonl", [ok, row]))
    assert [(f.code, f.severity, f.line) for f in report.findings if f.code.startswith("SW14")] == [("SW140", E, 2)]


# -- OpenAI target ---------------------------------------------------------------------------------

def test_openai_target_gives_the_65536_limit_without_a_model(tmp_path):
    report = audit(write(tmp_path / "m.jsonl", [msg(), msg("word " * 60_000)]), target="openai:gpt-4.1-mini")
    assert report.max_tokens == 65_536 and "OpenAI fine-tuning of gpt-4.1-mini" in report.max_tokens_source
    (over,) = hits(report, "SW201")
    assert (over.severity, over.line) == (E, 2) and "(gpt-4.1-mini tuning limit)" in over.message
    assert not hits(report, "SW205") and not hits(report, "SW204")  # no hub, no tokenizer asked for
    assert audit(write(tmp_path / "o.jsonl", [msg()]), target="openai:gpt-3.5-turbo-0125").max_tokens == 16_385
    assert resolve_openai("ft:gpt-4o-mini-2024-07-18:org::abc").model == "gpt-4o-mini"


def test_openai_target_rejects_unknown_keys_and_other_layouts(tmp_path):
    bad = msg()
    bad["messages"][1]["id"] = "u1"
    report = audit(write(tmp_path / "m.jsonl", [msg(), bad, msg(meta={"a": 1}), msg(tools=[])]), target="openai:gpt-4o-mini")
    got = {(f.severity, f.line, f.field) for f in hits(report, "SW650")}
    assert got == {(E, 2, "messages[1].id"), (E, 3, "meta")}
    gemini_file = write(tmp_path / "g.jsonl", [gem()])
    (layout,) = hits(audit(gemini_file, target="openai:gpt-4o-mini"), "SW650")
    assert layout.severity is E and "gemini layout" in layout.message and "--to messages" in layout.hint


def test_unknown_openai_model_is_a_usage_error(tmp_path):
    path = write(tmp_path / "m.jsonl", [msg()])
    with pytest.raises(ParameterError, match="target: 'davinci-9'.*known: gpt-3.5-turbo"):
        audit(path, target="openai:davinci-9")
    result = CliRunner().invoke(app, ["audit", str(path), "--target", "openai:davinci-9"], env={"COLUMNS": "400"})
    assert result.exit_code == 2 and "--target" in result.output


def test_function_calls_and_tools_count_toward_the_gemini_token_estimate():
    call = {"contents": [{"role": "user", "parts": [{"text": "weather?"}]},
                         {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "x" * 400}}}]}]}
    bare = gl.example_size({"contents": call["contents"][:1]})
    with_call = gl.example_size(call)
    assert with_call.text_tokens >= bare.text_tokens + 100
    tools = {**call, "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "d" * 800}]}]}
    assert gl.example_size(tools).text_tokens >= with_call.text_tokens + 200


TOOLS = [{"functionDeclarations": [{"name": "get_weather", "description": "Weather of a city",
                                    "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}]}]


def test_valid_function_calling_records_pass_the_gemini_target_checks(tmp_path):
    from sftwise.audit import gemini_target as gt

    call = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    result = {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}}
    ends_on_call = {"tools": TOOLS, "contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}, {"role": "model", "parts": [call]}]}
    answers = {"tools": TOOLS, "system_instruction": {"parts": [{"text": "Be brief."}]}, "contents": [
        {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]}, {"role": "model", "parts": [call, call]},
        {"role": "user", "parts": [result, result]}, {"role": "model", "parts": [{"text": "21 in both."}]}]}
    function_role = {"contents": [{"role": "user", "parts": [{"text": "Weather?"}]}, {"role": "model", "parts": [call]},
                                  {"role": "function", "parts": [result]}, {"role": "model", "parts": [{"text": "21."}]}]}
    path = write(tmp_path / "t.jsonl", [ends_on_call, answers, function_role])
    for target in ("gemini-2.5-pro", "gemini-2.5-flash"):
        found = gt.check_gemini_target(path, target=target, token_counter=None)
        assert not [str(f) for f in found if f.severity is E], target
    warned = {f.line for f in gt.check_gemini_target(path, target="gemini-2.5-flash", token_counter=None) if f.code == "SW611"}
    assert warned == {1, 2, 3}  # 2.5 Flash was seen to reject function calls: a warning, not an error


def test_valid_openai_tool_call_records_have_no_sw650(tmp_path):
    row = {"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}], "parallel_tool_calls": False,
           "messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Weather?", "name": "ann"},
                        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
                        {"role": "tool", "tool_call_id": "c1", "content": "21"}, {"role": "assistant", "content": "21.", "weight": 1}]}
    report = audit(write(tmp_path / "m.jsonl", [msg(), row]), target="openai:gpt-4o-mini")
    assert not hits(report, "SW650")


def test_a_malformed_file_part_beside_a_valid_one_is_the_readers_error_not_a_crash(tmp_path):
    rows = [gem(parts=[image()]), gem(parts=[{"fileData": "gs://b/cat.png"}]), gem(parts=[image("file:///x.png")])]
    report = audit(write(tmp_path / "t.jsonl", rows))
    assert not hits(report, "SW199")
    assert [(f.code, f.line) for f in report.findings if f.code in ("SW104", "SW140")] == [("SW104", 2), ("SW140", 3)]


def test_the_reports_length_plot_keeps_a_far_default_limit_off_the_scale():
    """The audit now always has a limit; 131,072 beside 30-token examples must not squash the histogram."""
    pytest.importorskip("matplotlib")
    from sftwise.report.plots import histogram_svg

    far = histogram_svg({"train": [10, 20, 30]}, "input length", "tokens", 131_072)
    near = histogram_svg({"train": [10, 20, 30]}, "input length", "tokens", 40)
    assert "off the scale" in far and "context limit" not in far
    assert "context limit" in near and "off the scale" not in near
