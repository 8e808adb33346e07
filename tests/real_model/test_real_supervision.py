"""The supervision report under SmolLM2-135M-Instruct's own chat template (tokenizer only: fast).

SmolLM2's template has no ``{% generation %}`` markers (SW215: sftwise masks by prefix renderings)
and injects "You are a helpful AI assistant named SmolLM..." when a conversation has no system
message (SW217); its end-of-turn token is ``<|im_end|>``, which must carry loss once per answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sftwise.conversation import Conversation, Dataset

pytestmark = [pytest.mark.real_model]


@pytest.fixture(scope="module")
def smol_tokenizer(real_model):
    from sftwise.models import load_tokenizer

    return load_tokenizer(real_model)


def test_sample_task_under_smollm2s_template(real_model, smol_tokenizer):
    import copy

    from sftwise.demo.sample import sample_paths
    from sftwise.formats import load
    from sftwise.train.data import prepare_split
    from sftwise.train.supervision import inspect_supervision

    data = load(Path(sample_paths()["train"]))
    data.records = data.records[:40]
    report = inspect_supervision(data, real_model, tokenizer=copy.deepcopy(smol_tokenizer), show=2)
    assert not report.has_errors, [str(f) for f in report.findings if f.severity.value == "error"]
    assert {f.code for f in report.findings} == {"SW210", "SW215"}  # every sample example has its own system instruction
    assert report.end_of_turn == "<|im_end|>" and "SmolLM" in (report.default_system or "")
    assert all(r.end_of_turn_trained == r.model_turns == 1 and r.mask == "prefix" for r in report.per_example)
    split = prepare_split("train", data, copy.deepcopy(smol_tokenizer), max_length=1024)
    assert [r.loss_tokens for r in report.per_example] == [ex.n_loss_tokens for ex in split.examples]
    view = report.shown[0]
    answer = data.records[0].conversation.turns[-1].text
    assert "".join(t for t, trained in zip(view.tokens, view.trained) if trained) == answer + "<|im_end|>"


def test_smollm2_injects_a_system_prompt_the_data_never_shows(real_model, smol_tokenizer):
    import copy

    from sftwise.train.supervision import inspect_supervision

    data = Dataset.from_conversations([Conversation.from_pairs([("user", f"what is {i} + {i}?"), ("model", str(2 * i))]) for i in range(5)], path="bare.jsonl")
    report = inspect_supervision(data, real_model, tokenizer=copy.deepcopy(smol_tokenizer))
    finding = next(f for f in report.findings if f.code == "SW217")
    assert "You are a helpful AI assistant named SmolLM" in finding.message and "5 examples" in finding.message
    assert "SmolLM" in "".join(report.shown[0].tokens)  # the injected prompt is in what the model is trained on
