"""Malformed files give findings with file:line, never a traceback; any bytes at all are safe to read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sftwise.findings import Finding
from sftwise.formats import read

GOOD = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "yo"}]}]})


def _read(tmp_path: Path, data: bytes, name: str = "d.jsonl"):
    path = tmp_path / name
    path.write_bytes(data)
    result = read(path)
    assert path.read_bytes() == data, "the input file must never be modified"
    return result


def _codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def test_invalid_json_has_line_and_column(tmp_path: Path) -> None:
    result = _read(tmp_path, f'{GOOD}\n{{"contents": [}}\n{GOOD}\n'.encode())
    (f,) = result.findings
    assert (f.code, f.line, f.column) == ("SW100", 2, 15)
    assert len(result.dataset) == 2


def test_bom_is_reported_and_skipped(tmp_path: Path) -> None:
    result = _read(tmp_path, b"\xef\xbb\xbf" + GOOD.encode() + b"\n")
    assert _codes(result.findings) == ["SW109"] and len(result.dataset) == 1


def test_crlf_is_noted(tmp_path: Path) -> None:
    result = _read(tmp_path, (GOOD + "\r\n") .encode() * 3)
    assert _codes(result.findings) == ["SW110"] and result.findings[0].line == 1 and len(result.dataset) == 3


def test_truncated_last_line(tmp_path: Path) -> None:
    result = _read(tmp_path, f"{GOOD}\n{GOOD[:25]}".encode())
    (f,) = result.findings
    assert f.code == "SW111" and f.line == 2 and "cut short" in f.message


def test_fifty_megabyte_single_line(tmp_path: Path) -> None:
    big = json.dumps({"contents": [{"role": "user", "parts": [{"text": "x" * 50_000_000}]}, {"role": "model", "parts": [{"text": "ok"}]}]})
    result = _read(tmp_path, big.encode() + b"\n")
    assert _codes(result.findings) == ["SW116"] and len(result.dataset) == 1
    broken = _read(tmp_path, big[:-5].encode() + b"\n", "broken.jsonl")
    assert _codes(broken.findings) == ["SW100"] and broken.findings[0].column > 50_000_000


@pytest.mark.parametrize("data", [b"\x00\x01\x02binary\x00" * 100, b"\x1f\x8b\x08\x00gzipdata", b"PK\x03\x04zip", b"\x89PNG\r\n"])
def test_binary_files(tmp_path: Path, data: bytes) -> None:
    result = _read(tmp_path, data)
    assert _codes(result.findings) == ["SW114"] and len(result.dataset) == 0


@pytest.mark.parametrize("data", [b"", b"\n\n  \n", b"\xef\xbb\xbf"])
def test_empty_files(tmp_path: Path, data: bytes) -> None:
    assert _codes(_read(tmp_path, data).findings) == ["SW113"]


def test_json_array_in_jsonl_says_how_to_fix(tmp_path: Path) -> None:
    result = _read(tmp_path, f"[{GOOD}, {GOOD}]".encode())
    (f,) = result.findings
    assert f.code == "SW112" and "sftwise convert" in f.hint and "rename it to .json" in f.hint
    assert len(result.dataset) == 2


def test_jsonl_in_a_json_file(tmp_path: Path) -> None:
    result = _read(tmp_path, f"{GOOD}\n{GOOD}\n".encode(), "d.json")
    assert _codes(result.findings) == ["SW112"] and len(result.dataset) == 2


def test_invalid_json_array_file_has_line_and_column(tmp_path: Path) -> None:
    result = _read(tmp_path, b'[\n  {"prompt": "a", "completion": "b"},\n  {"prompt": "a" "completion": "b"}\n]', "d.json")
    (f,) = result.findings
    assert (f.code, f.line) == ("SW100", 3) and f.column > 1


def test_non_utf8_bytes_are_located_and_the_record_salvaged(tmp_path: Path) -> None:
    line = '{"prompt": "caf\u00e9", "completion": "ok"}'.encode("latin-1")
    result = _read(tmp_path, GOOD.encode() + b"\n" + line + b"\n")
    codes = _codes(result.findings)
    assert "SW108" in codes
    f = next(f for f in result.findings if f.code == "SW108")
    assert (f.line, f.column) == (2, 16)  # the 16th byte is the Latin-1 \xe9


def test_non_utf8_csv(tmp_path: Path) -> None:
    result = _read(tmp_path, b"prompt,completion\ncaf\xe9,ok\n", "d.csv")
    assert _codes(result.findings) == ["SW108"] and result.findings[0].line == 2
    assert result.dataset.conversations[0].turns[0].text == "caf\ufffd"


def test_mixed_formats_point_at_the_odd_lines(tmp_path: Path) -> None:
    other = json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    result = _read(tmp_path, "\n".join([GOOD, GOOD, other, GOOD]).encode() + b"\n")
    (f,) = result.findings
    assert (f.code, f.line) == ("SW107", 3) and "messages" in f.message and "gemini" in f.message
    assert len(result.dataset) == 4


def test_blank_lines_and_non_objects(tmp_path: Path) -> None:
    result = _read(tmp_path, f'{GOOD}\n\n"just a string"\n[1, 2]\n{GOOD}\n'.encode())
    assert sorted((f.code, f.line) for f in result.findings) == [("SW101", 3), ("SW101", 4), ("SW117", 2)]


def test_corrupt_parquet(tmp_path: Path) -> None:
    result = _read(tmp_path, b"PAR1 this is not really parquet PAR1", "d.parquet")
    assert _codes(result.findings) == ["SW114"]


def test_csv_with_bad_json_cell_and_header_only(tmp_path: Path) -> None:
    result = _read(tmp_path, b'messages\n"[{""role"": ""user"""\n', "d.csv")
    assert "SW100" in _codes(result.findings)
    assert _codes(_read(tmp_path, b"prompt,completion\n", "h.csv").findings) == ["SW113"]


def _check_any(tmp_path: Path, data: bytes, name: str) -> None:
    result = _read(tmp_path, data, name)
    for f in result.findings:
        assert f.code.startswith("SW1") and f.code != "SW119" and f.file, str(f)
    for record in result.dataset:
        assert record.source.line >= 1


_ROLES = st.sampled_from(["user", "model", "assistant", "system", "human", "gpt", "tool", ""])
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | _ROLES,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
        st.sampled_from(["contents", "role", "parts", "text", "messages", "content", "prompt", "completion", "instruction", "output",
                         "input", "system", "history", "conversations", "from", "value", "systemInstruction", "fileData", "fileUri",
                         "image_url", "tool_calls", "x"]), kids, max_size=4),
    max_leaves=16,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), ext=st.sampled_from(["jsonl", "json", "csv", "parquet"]))
def test_any_bytes_give_records_or_findings(tmp_path: Path, data: bytes, ext: str) -> None:
    _check_any(tmp_path, data, f"h.{ext}")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(_json_values, max_size=5), crlf=st.booleans())
def test_any_json_lines_give_records_or_findings(tmp_path: Path, values: list, crlf: bool) -> None:
    sep = "\r\n" if crlf else "\n"
    _check_any(tmp_path, sep.join(json.dumps(v) for v in values).encode(), "v.jsonl")


def test_a_reader_bug_costs_one_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sftwise.formats import records

    real = records.PARSERS["prompt_completion"]

    def flaky(obj, file, line, out):
        if obj.get("prompt") == "boom":
            raise KeyError("boom")
        return real(obj, file, line, out)

    monkeypatch.setitem(records.PARSERS, "prompt_completion", flaky)
    result = _read(tmp_path, b'{"prompt": "a", "completion": "b"}\n{"prompt": "boom", "completion": "b"}\n')
    assert [(f.code, f.line) for f in result.findings] == [("SW119", 2)] and len(result.dataset) == 1
