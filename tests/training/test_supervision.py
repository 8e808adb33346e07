"""The supervision report (``sftwise inspect``): which tokens carry loss, checked on the trainer's own labels.

The report must agree with what the trainer trains on (parity with ``prepare_split``), and catch a
broken mask: the tests break ``encode_conversation`` on purpose (drop the end-of-turn token, mask
everything, train on the prompt) and check each break becomes its finding.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from sftwise.conversation import Conversation, Dataset
from sftwise.errors import ParameterError
from sftwise.train import data as train_data
from sftwise.train.data import CHATML_TEMPLATE, IGNORE_INDEX, prepare_split
from sftwise.train.supervision import inspect_supervision

CHATML_BODY = CHATML_TEMPLATE
NO_SYSTEM_TEMPLATE = "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" + CHATML_BODY
DEFAULT_SYSTEM_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful tiny assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SKEWED_BODY = (  # trains on '<|im_start|>model' but prompts with '<|im_start|>assistant': skew in the template itself
    "{% for m in messages %}{% if m['role'] == 'assistant' %}{{ '<|im_start|>model\\n' }}{% generation %}{{ m['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{{ '\\n' }}{% else %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from sftwise.models import load_tokenizer

    return load_tokenizer(tiny_model)


def _tok(tokenizer, template: str | None = None):
    tok = copy.deepcopy(tokenizer)
    if template is not None:
        tok.chat_template = template
    return tok


def _data(n: int = 6, system: str | None = "route tickets", answer: str = '{"team": "shipping"}') -> Dataset:
    convs = [Conversation.from_pairs([("user", f"my parcel {i} is late"), ("model", answer)], system=system) for i in range(n)]
    return Dataset.from_conversations(convs, path="train.jsonl")


def _codes(report) -> set[str]:
    return {f.code for f in report.findings}


def test_tiny_model_report_matches_what_the_trainer_trains_on(tokenizer):
    data = _data()
    report = inspect_supervision(data, "tiny", tokenizer=_tok(tokenizer), max_length=512)
    split = prepare_split("train", data, _tok(tokenizer), max_length=512)
    assert [r.loss_tokens for r in report.per_example] == [ex.n_loss_tokens for ex in split.examples]
    assert report.loss_tokens == sum(ex.n_loss_tokens for ex in split.examples)
    assert report.tokens == sum(len(ex.input_ids) for ex in split.examples)
    assert 0 < report.loss_share < 0.5
    assert not report.has_errors and _codes(report) == {"SW210"}  # generation markers present: no SW215
    assert all(r.end_of_turn_trained == r.model_turns == 1 and not r.prompt_trained for r in report.per_example)
    view = report.shown[0]
    assert "".join(t for t, trained in zip(view.tokens, view.trained) if trained) == '{"team": "shipping"}<|im_end|>'
    assert "route tickets" in "".join(view.tokens) and report.end_of_turn == "<|im_end|>"
    assert report.per_example[0].prompt_tokens == view.trained.index(True)
    summary = next(f for f in report.findings if f.code == "SW210")
    assert summary.file == "train.jsonl" and "carry loss" in summary.message


def test_a_template_without_generation_markers_says_how_sftwise_masks(tokenizer):
    report = inspect_supervision(_data(), "tiny", tokenizer=_tok(tokenizer, CHATML_TEMPLATE))
    assert not report.generation_markers and "SW215" in _codes(report) and not report.has_errors
    assert all(r.mask == "prefix" and r.end_of_turn_trained == 1 for r in report.per_example)
    assert "rendering the conversation up to it" in next(f.message for f in report.findings if f.code == "SW215")


def _broken(monkeypatch, change):
    original = train_data.encode_conversation

    def broken(tokenizer, conversation):
        ex = original(tokenizer, conversation)
        ex.labels = change(tokenizer, ex)
        return ex

    monkeypatch.setattr(train_data, "encode_conversation", broken)


def test_a_mask_that_drops_the_end_of_turn_token_is_an_error(tokenizer, monkeypatch):
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    _broken(monkeypatch, lambda tok, ex: [IGNORE_INDEX if t == end else lab for t, lab in zip(ex.input_ids, ex.labels)])
    report = inspect_supervision(_data(4), "tiny", tokenizer=_tok(tokenizer))
    assert report.has_errors and report.counts == {"SW212": 4}
    located = [f for f in report.findings if f.code == "SW212"]
    assert [(f.file, f.line) for f in located] == [("train.jsonl", k) for k in range(1, 5)]
    assert "1 of 1 model turns end without a loss-bearing end-of-turn token" in located[0].message


def test_a_mask_that_masks_everything_trains_on_nothing(tokenizer, monkeypatch):
    _broken(monkeypatch, lambda tok, ex: [IGNORE_INDEX] * len(ex.labels))
    report = inspect_supervision(_data(3), "tiny", tokenizer=_tok(tokenizer))
    assert report.counts == {"SW211": 3} and report.loss_share == 0.0 and report.has_errors
    assert "trains on nothing" in next(f.message for f in report.findings if f.code == "SW211")


def test_a_mask_that_trains_on_the_prompt_is_caught(tokenizer, monkeypatch):
    _broken(monkeypatch, lambda tok, ex: list(ex.input_ids))
    report = inspect_supervision(_data(2), "tiny", tokenizer=_tok(tokenizer))
    assert report.counts == {"SW213": 2}
    assert report.loss_share == 1.0


def test_truncation_into_the_answer_counts_the_supervised_tokens_lost(tokenizer):
    data = Dataset.from_conversations([Conversation.from_pairs([("user", "q"), ("model", "word " * 30)]),
                                       Conversation.from_pairs([("user", "word " * 80), ("model", "ok")])], path="t.jsonl")
    full = inspect_supervision(data, "tiny", tokenizer=_tok(tokenizer), max_length=4096)
    cut = 20
    report = inspect_supervision(data, "tiny", tokenizer=_tok(tokenizer), max_length=cut)
    first, second = report.per_example
    assert first.truncated and first.lost_loss_tokens == full.per_example[0].loss_tokens - first.loss_tokens > 0
    assert second.loss_tokens == 0 and "SW211" in second.problems and "SW214" in second.problems  # its whole answer is cut off
    assert report.counts == {"SW211": 1, "SW214": 2}
    view = next(v for v in report.shown if v.line == 1)
    assert view.cut == cut and sum(view.trained[cut:]) == first.lost_loss_tokens


def test_a_default_system_prompt_the_data_never_shows(tokenizer):
    data = Dataset.from_conversations([*_data(2).conversations, *_data(3, system=None).conversations], path="d.jsonl")
    report = inspect_supervision(data, "tiny", tokenizer=_tok(tokenizer, DEFAULT_SYSTEM_TEMPLATE))
    assert report.default_system == "You are a helpful tiny assistant."
    finding = next(f for f in report.findings if f.code == "SW217")
    assert "into the 3 examples without a system instruction (first at line 3)" in finding.message
    no_default = inspect_supervision(_data(2, system=None), "tiny", tokenizer=_tok(tokenizer, CHATML_TEMPLATE))
    assert no_default.default_system is None and "SW217" not in _codes(no_default)


def test_a_template_that_refuses_a_system_role_names_the_examples(tokenizer):
    data = Dataset.from_conversations([*_data(1, system=None).conversations, *_data(2).conversations], path="s.jsonl")
    report = inspect_supervision(data, "tiny", tokenizer=_tok(tokenizer, NO_SYSTEM_TEMPLATE))
    failed = [f for f in report.findings if f.code == "SW218"]
    assert [f.line for f in failed] == [2, 3] and "System role not supported" in failed[0].message
    assert report.per_example[0].mask == "prefix" and report.per_example[0].loss_tokens > 0


def test_generation_prompt_not_a_prefix_of_the_training_text(tokenizer):
    skewed = inspect_supervision(_data(2), "tiny", tokenizer=_tok(tokenizer, SKEWED_BODY))
    assert skewed.counts == {"SW216": 2} and not skewed.has_errors
    assert all(r.mask == "generation" and r.end_of_turn_trained == 1 for r in skewed.per_example)
    unmaskable = inspect_supervision(_data(2), "tiny", tokenizer=_tok(tokenizer, SKEWED_BODY.replace("{% generation %}", "").replace("{% endgeneration %}", "")))
    assert unmaskable.counts == {"SW218": 2} and "no {% generation %}" in next(f.message for f in unmaskable.findings if f.code == "SW218")


def test_no_chat_template_is_a_clear_error_unless_one_is_given(tokenizer):
    with pytest.raises(ParameterError, match="chat_template: .*no chat template.*'chatml'"):
        inspect_supervision(_data(1), "base-model", tokenizer=_tok(tokenizer, ""))
    report = inspect_supervision(_data(1), "base-model", tokenizer=_tok(tokenizer, ""), chat_template="chatml")
    assert report.loss_tokens > 0 and not report.has_errors


@pytest.mark.parametrize(("kwargs", "parameter"), [({"max_length": 0}, "max_length"), ({"show": -1}, "show")])
def test_bad_parameters_name_themselves(tokenizer, kwargs, parameter):
    with pytest.raises(ParameterError) as info:
        inspect_supervision(_data(1), "tiny", tokenizer=_tok(tokenizer), **kwargs)
    assert info.value.parameter == parameter


def _write(path: Path, data: Dataset) -> Path:
    from sftwise.formats import write

    write(data, path, "gemini")
    return path


def test_cli_inspect_and_audit_with_a_model(tiny_model, tmp_path):
    from typer.testing import CliRunner

    from sftwise.cli import app

    train = _write(tmp_path / "train.jsonl", _data(5))
    result = CliRunner().invoke(app, ["inspect", str(train), "--model", str(tiny_model), "--show", "2", "--json", str(tmp_path / "i.json")])
    assert result.exit_code == 0, result.output
    assert "line 1" in result.output and "trained" in result.output and "carry loss" in result.output
    saved = json.loads((tmp_path / "i.json").read_text())
    assert saved["examples"] == 5 and len(saved["per_example"]) == 5 and saved["shown"]
    result = CliRunner().invoke(app, ["inspect", str(train), "--model", str(tiny_model), "--max-length", "8"])
    assert result.exit_code == 1 and "SW211" in result.output
    result = CliRunner().invoke(app, ["audit", str(train), "--model", str(tiny_model), "--json", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    audit = json.loads((tmp_path / "a.json").read_text())
    assert "SW210" in {f["code"] for f in audit["findings"]} and audit["supervision"]["checked"] is True
    broken = tmp_path / "broken.jsonl"
    broken.write_text(train.read_text() + '{"contents": [}\n')  # a line the reader rejects: the other 5 are still inspected
    result = CliRunner().invoke(app, ["audit", str(broken), "--model", str(tiny_model), "--json", str(tmp_path / "b.json")])
    audit = json.loads((tmp_path / "b.json").read_text())
    assert result.exit_code == 1 and {"SW100", "SW210"} <= {f["code"] for f in audit["findings"]} and audit["supervision"]["examples"] == 5


def test_audit_says_when_the_supervision_was_not_checked(tmp_path):
    from typer.testing import CliRunner

    from sftwise.cli import app

    train = _write(tmp_path / "train.jsonl", _data(2))
    result = CliRunner().invoke(app, ["audit", str(train), "--model", str(tmp_path / "no-such-model"), "--json", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    assert "which tokens carry loss was not checked" in result.output
    assert json.loads((tmp_path / "a.json").read_text())["supervision"]["checked"] is False


def test_the_html_report_shows_the_token_view(tokenizer, tmp_path):
    from sftwise.io import write_json
    from sftwise.report import build_report

    report = inspect_supervision(_data(2), "tiny", tokenizer=_tok(tokenizer))
    run = tmp_path / "run"
    write_json(run / "audit.json", {"findings": [], "stats": {}})
    write_json(run / "supervision.json", report)
    page = build_report(run).read_text(encoding="utf-8")
    assert "Which tokens carry loss" in page and "<span class='t'>" in page and "<span class='m'>" in page
    assert page.count("class='tokens'") >= 2


def test_the_trainer_refuses_a_skewed_template_without_markers(tokenizer):
    """The fallback once took 'add_generation_prompt' for a {% generation %} marker and trained on nothing."""
    tok = _tok(tokenizer, SKEWED_BODY.replace("{% generation %}", "").replace("{% endgeneration %}", ""))
    with pytest.raises(ParameterError, match="no {% generation %}"):
        train_data.encode_conversation(tok, _data(1).conversations[0])
    assert not train_data.has_generation_markers("{% if add_generation_prompt %}x{% endif %}")
    assert train_data.has_generation_markers("{%- generation -%}a{% endgeneration %}")


def test_the_pipelines_audit_step_checks_supervision_under_the_base_model(tiny_model, tmp_path):
    from sftwise.errors import SftwiseError
    from sftwise.pipeline.config import DataConfig, ModelConfig, PipelineConfig
    from sftwise.pipeline.runner import RunContext, _step_audit

    train = _write(tmp_path / "train.jsonl", _data(3))
    run = tmp_path / "run"
    written, _ = _step_audit(RunContext(PipelineConfig(data=DataConfig(train=str(train)), model=ModelConfig(base=str(tiny_model))), run))
    assert written == ["audit.json", "supervision.json"]
    supervision = json.loads((run / "supervision.json").read_text())
    assert supervision["max_length"] == 1024 and supervision["shown"]
    audit = json.loads((run / "audit.json").read_text())
    assert audit["supervision"]["checked"] and "SW210" in {f["code"] for f in audit["findings"]}
    # an example whose answer the max_length cuts off entirely is an audit error: the run stops before training
    config = PipelineConfig(data=DataConfig(train=str(train)), model=ModelConfig(base=str(tiny_model), max_length=8), train={"overlong": "truncate"})
    with pytest.raises(SftwiseError, match="SW211"):
        _step_audit(RunContext(config, tmp_path / "run2"))


def test_the_trainer_names_the_example_a_template_refuses(tokenizer):
    from sftwise.errors import SftwiseError

    data = Dataset.from_conversations([*_data(1, system=None).conversations, *_data(1).conversations], path="s.jsonl")
    with pytest.raises(SftwiseError, match=r"^s.jsonl:2: the chat template fails on this example \(System role not supported\)"):
        prepare_split("train", data, _tok(tokenizer, NO_SYSTEM_TEMPLATE), max_length=512)


def test_the_terminal_view_highlights_trained_tokens_and_marks_the_cut():
    from sftwise.cli.inspect_cmds import token_view
    from sftwise.train.supervision import TokenView

    text = token_view(TokenView(line=7, tokens=["<s>", "q", "\n", "a", "b", "</s>"], trained=[False, False, False, True, True, True], cut=5, problems=["SW214"]))
    plain = text.plain
    assert plain.startswith("line 7 [SW214]: trained masked") and "⏎" in plain and "✂ max_length 5" in plain
    styles = {plain[s.start:s.end]: str(s.style) for s in text.spans}
    assert "green" in styles["a"] and "green" in styles["b"] and "grey" in styles["q"]
    assert styles["a"] != styles["b"]  # neighbours alternate: token boundaries stay visible


def test_a_weight_0_assistant_message_is_prompt_not_a_missing_end_of_turn(tokenizer):
    """The report counts model turns as the trainer does: a weight-0 assistant message is not trained on,
    so its end-of-turn token carrying no loss is not SW212, and it belongs to the prompt."""
    convs = []
    for i in range(4):
        conv = Conversation.from_pairs([("user", f"parcel {i}?"), ("model", "which one?"), ("user", "the blue one"), ("model", '{"team": "shipping"}')])
        conv.turns[1].weight = 0
        convs.append(conv)
    report = inspect_supervision(Dataset.from_conversations(convs, path="train.jsonl"), "tiny", tokenizer=_tok(tokenizer), max_length=512)
    assert "SW212" not in _codes(report) and "SW213" not in _codes(report)
    row = report.per_example[0]
    assert row.model_turns == 1 and row.end_of_turn_trained == 1
    [ex] = prepare_split("train", Dataset.from_conversations(convs[:1], path="t.jsonl"), _tok(tokenizer), 512).examples
    first_trained = next(i for i, label in enumerate(ex.labels) if label != IGNORE_INDEX)
    assert abs(row.prompt_tokens - first_trained) <= 1  # the prompt runs up to the trained answer
