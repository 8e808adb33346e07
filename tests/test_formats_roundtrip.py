"""Every format x container round trip, detection, conversion options, strict loading and safe writing."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftwise.conversation import Conversation, Dataset, Part, Turn
from sftwise.formats import FORMATS, apply_options, detect, load, read, write
from sftwise.errors import SftwiseError
from sftwise.demo.sample import sample_paths

CONTAINERS = ("jsonl", "json", "csv", "parquet")


def _convs() -> list[Conversation]:
    return [
        Conversation.from_pairs([("user", "What is 2+2?"), ("model", "4")], system="Answer briefly."),
        Conversation.from_pairs([("user", 'A "quoted", comma\nnewline ünïcödé 日本語'), ("model", '{"team": "billing"}')]),
        Conversation.from_pairs([("user", "[1, 2] starts like JSON"), ("model", "[not json")], system="S"),
    ]


def _shape(convs: list[Conversation]) -> list[tuple]:
    return [(c.system, [(t.role, t.text) for t in c.turns]) for c in convs]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(tmp_path: Path, fmt: str, container: str) -> None:
    path = tmp_path / f"data.{container}"
    write(_convs(), path, fmt)
    result = read(path)
    assert result.findings == []
    assert result.dataset.format == fmt
    assert _shape(result.dataset.conversations) == _shape(_convs())
    assert [r.source.line for r in result.dataset] == [1, 2, 3] if container != "csv" else True
    assert detect(path) == fmt


@pytest.mark.parametrize("fmt", ("gemini", "messages", "sharegpt"))
def test_multi_turn_round_trip(tmp_path: Path, fmt: str) -> None:
    conv = Conversation.from_pairs([("user", "a"), ("model", "b"), ("user", "c"), ("model", "d")], system="s")
    write([conv], tmp_path / "m.jsonl", fmt)
    assert _shape(load(tmp_path / "m.jsonl").conversations) == _shape([conv])


def test_alpaca_keeps_history(tmp_path: Path) -> None:
    conv = Conversation.from_pairs([("user", "a"), ("model", "b"), ("user", "c"), ("model", "d")])
    write([conv], tmp_path / "a.jsonl", "alpaca")
    assert _shape(load(tmp_path / "a.jsonl").conversations) == _shape([conv])


def test_flat_formats_refuse_what_they_cannot_hold(tmp_path: Path) -> None:
    multi = Conversation.from_pairs([("user", "a"), ("model", "b"), ("user", "c"), ("model", "d")])
    with pytest.raises(SftwiseError, match="example 1: prompt_completion holds one exchange"):
        write([multi], tmp_path / "p.jsonl", "prompt_completion")
    with pytest.raises(SftwiseError, match="gemini, messages or sharegpt"):
        write([Conversation.from_pairs([("user", "only a question")])], tmp_path / "a.jsonl", "alpaca")
    assert not (tmp_path / "p.jsonl").exists() and not (tmp_path / "a.jsonl").exists()


def test_file_parts_survive_gemini_and_messages(tmp_path: Path) -> None:
    conv = Conversation(turns=[Turn("user", [Part(text="what is this?"), Part(file_uri="gs://b/cat.png", mime_type="image/png")]), Turn.of("model", "a cat")])
    write([conv], tmp_path / "g.jsonl", "gemini")
    back = load(tmp_path / "g.jsonl").conversations[0]
    assert back.turns[0].parts[1].file_uri == "gs://b/cat.png" and back.turns[0].parts[1].mime_type == "image/png"
    write([conv], tmp_path / "m.jsonl", "messages")
    assert load(tmp_path / "m.jsonl").conversations[0].turns[0].parts[1].file_uri == "gs://b/cat.png"


def test_meta_fields_survive_conversion_but_not_into_gemini(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"id": 7, "label": "x", "prompt": "p", "completion": "c"}\n')
    data = load(tmp_path / "in.jsonl")
    assert data.conversations[0].meta == {"id": 7, "label": "x"}
    write(data, tmp_path / "out.jsonl", "messages")
    assert load(tmp_path / "out.jsonl").conversations[0].meta == {"id": 7, "label": "x"}
    write(data, tmp_path / "g.jsonl", "gemini")
    assert read(tmp_path / "g.jsonl").findings == []


def test_options_add_system_and_instruction_prefix(tmp_path: Path) -> None:
    convs = [Conversation.from_pairs([("user", "ticket text"), ("model", "billing")]),
             Conversation.from_pairs([("user", "other"), ("model", "x")], system="own")]
    write(convs, tmp_path / "o.jsonl", "gemini", system="Route tickets.", instruction_prefix="Classify:")
    out = load(tmp_path / "o.jsonl").conversations
    assert out[0].system == "Route tickets." and out[1].system == "own"
    assert out[0].turns[0].text == "Classify:\n\nticket text"
    assert convs[0].system is None and convs[0].turns[0].text == "ticket text", "inputs must not be modified"
    replaced = apply_options(convs, system="S", replace_system=True, instruction_prefix="Q: ")
    assert [c.system for c in replaced] == ["S", "S"] and replaced[0].turns[0].text == "Q: ticket text"


def test_field_map_reads_question_answer_files(tmp_path: Path) -> None:
    (tmp_path / "qa.jsonl").write_text('{"question": "1+1?", "answer": "2"}\n')
    data = load(tmp_path / "qa.jsonl", field_map={"question": "prompt", "answer": "completion"})
    assert _shape(data.conversations) == [(None, [("user", "1+1?"), ("model", "2")])]


def test_forced_format_reports_missing_fields(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"prompt": "a", "completion": "b"}\n')
    result = read(tmp_path / "x.jsonl", "messages")
    assert [f.code for f in result.findings] == ["SW103"]
    with pytest.raises(SftwiseError, match="unknown format 'chatml'"):
        read(tmp_path / "x.jsonl", "chatml")


def test_trl_conversational_prompt_completion(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text('{"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": "a"}]}\n')
    assert _shape(load(tmp_path / "t.jsonl").conversations) == [("s", [("user", "q"), ("model", "a")])]


def test_load_raises_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"contents": [{"role": "user", "parts": [{"text": "a"}]}]}\n{"contents": [\n')
    with pytest.raises(SftwiseError, match=r"bad\.jsonl:2:\d+: SW100"):
        load(path)


def test_write_never_overwrites_its_input(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    write(_convs(), path)
    before = path.read_bytes()
    with pytest.raises(SftwiseError, match="never overwrites input"):
        write(load(path), path, "messages")
    assert path.read_bytes() == before


def test_sample_reads_clean_and_writes_back_identically(tmp_path: Path) -> None:
    paths = sample_paths()
    data = load(paths["train"])
    assert len(data) == 480 and data.format == "gemini"
    write(data, tmp_path / "train.jsonl")
    assert _shape(load(tmp_path / "train.jsonl").conversations) == _shape(data.conversations)


def test_dataset_from_memory_has_no_path_check(tmp_path: Path) -> None:
    write(Dataset.from_conversations(_convs()), tmp_path / "m.json", "sharegpt")
    assert len(load(tmp_path / "m.json")) == 3
