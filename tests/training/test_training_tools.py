"""Tool-calling examples in local training: rendered with the chat template's tools, the model's
calls and answers trained, tool results masked like user turns, weight 0 left out, and a template
that cannot render tools a clear error naming the fix."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from sftwise.errors import ParameterError
from sftwise.formats import read
from sftwise.train.data import IGNORE_INDEX, encode_conversation, ensure_chat_template

CORPUS = Path(__file__).parents[1] / "audit_corpus"


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from sftwise.models import load_tokenizer

    return load_tokenizer(tiny_model)


def _tool_conversations(name: str):
    return [r.conversation for r in read(CORPUS / name).dataset if r.conversation.tools]


def _split(tok, ex) -> tuple[str, str]:
    trained = tok.decode([t for t, label in zip(ex.input_ids, ex.labels) if label != IGNORE_INDEX])
    masked = tok.decode([t for t, label in zip(ex.input_ids, ex.labels) if label == IGNORE_INDEX])
    return trained, masked


def test_calls_and_answers_trained_results_and_declarations_masked(tokenizer):
    tok = copy.deepcopy(tokenizer)
    ensure_chat_template(tok, "tiny", "chatml-tools")
    conversation = _tool_conversations("valid_messages.jsonl")[0]  # Paris: call, result {"temp_c": 18}, answer
    trained, masked = _split(tok, encode_conversation(tok, conversation))
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>' in trained
    assert trained.endswith("18 C in Paris.<|im_end|>")
    assert '{"temp_c": 18}' in masked and '{"temp_c": 18}' not in trained  # the tool's result is input, not a target
    assert "<tools>" in masked and '"name": "get_weather"' in masked  # the declarations are in the prompt


def test_parallel_calls_from_gemini_records_are_trained_in_one_turn(tokenizer):
    tok = copy.deepcopy(tokenizer)
    ensure_chat_template(tok, "tiny", "chatml-tools")
    oslo = next(c for c in _tool_conversations("valid_gemini.jsonl") if "Oslo" in c.turns[0].text)
    trained, masked = _split(tok, encode_conversation(tok, oslo))
    assert trained.count("<tool_call>") == 2 and '"Lima"' in trained
    assert masked.count("<|im_start|>tool") == 2


def test_weight_0_messages_are_not_trained(tokenizer, tmp_path):
    path = tmp_path / "w.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey there", "weight": 0}, '
                    '{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "weight": 1}]}\n')
    trained, masked = _split(tokenizer, encode_conversation(tokenizer, read(path).dataset[0].conversation))
    assert trained == "4<|im_end|>" and "Hey there" in masked


def test_a_template_without_tools_is_a_clear_error(tokenizer):
    tok = copy.deepcopy(tokenizer)
    ensure_chat_template(tok, "tiny", "chatml")
    with pytest.raises(ParameterError, match="chatml-tools") as info:
        encode_conversation(tok, _tool_conversations("valid_messages.jsonl")[0])
    assert info.value.parameter == "chat_template"


def test_file_parts_are_counted_as_left_out(tokenizer):
    from sftwise.train.data import prepare_split

    dataset = read(CORPUS / "valid_gemini.jsonl").dataset
    split = prepare_split("train", dataset, _chatml_tools(tokenizer), max_length=512)
    assert split.file_parts_dropped == 4 and split.examples_with_files == 4
    assert split.report()["file_parts_dropped"] == 4
    assert len(split.examples) == len(dataset)  # the text around the files is still trained on


def _chatml_tools(tokenizer):
    tok = copy.deepcopy(tokenizer)
    ensure_chat_template(tok, "tiny", "chatml-tools")
    return tok
