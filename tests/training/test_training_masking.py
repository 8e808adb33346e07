"""Assistant-only loss masking, inspected on the labels themselves."""

from __future__ import annotations

import pytest

from sftwise.conversation import Conversation
from sftwise.errors import ParameterError
from sftwise.train.data import IGNORE_INDEX, encode_conversation, ensure_chat_template, pack, collate, prepare_split


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from sftwise.models import load_tokenizer

    return load_tokenizer(tiny_model)


def _trained_text(tok, ex):
    return tok.decode([t for t, l in zip(ex.input_ids, ex.labels) if l != IGNORE_INDEX])


def test_only_model_turns_and_end_of_turn_carry_loss(tokenizer):
    conv = Conversation.from_pairs([("user", "my parcel is late"), ("model", '{"team": "shipping"}')], system="route tickets")
    ex = encode_conversation(tokenizer, conv)
    assert len(ex.input_ids) == len(ex.labels)
    assert _trained_text(tokenizer, ex) == '{"team": "shipping"}<|im_end|>'
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    trained = [t for t, l in zip(ex.input_ids, ex.labels) if l != IGNORE_INDEX]
    assert trained[-1] == end_id  # the model learns to stop
    # the prompt (system, user turn, the assistant header) carries no loss
    first = next(i for i, l in enumerate(ex.labels) if l != IGNORE_INDEX)
    assert "route tickets" in tokenizer.decode(ex.input_ids[:first])
    assert tokenizer.decode(ex.input_ids[:first]).endswith("<|im_start|>assistant\n")


def test_multi_turn_every_model_turn_trained(tokenizer):
    conv = Conversation.from_pairs([("user", "hi"), ("model", "hello"), ("user", "bye"), ("model", "goodbye")])
    ex = encode_conversation(tokenizer, conv)
    assert _trained_text(tokenizer, ex) == "hello<|im_end|>goodbye<|im_end|>"


def test_agrees_with_the_templates_generation_mask(tokenizer):
    conv = Conversation.from_pairs([("user", "a b c"), ("model", "the answer"), ("user", "more"), ("model", "again")], system="sys")
    ex = encode_conversation(tokenizer, conv)
    out = tokenizer.apply_chat_template(conv.to_messages(), tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    assert list(out["input_ids"]) == ex.input_ids
    assert [int(m) for m in out["assistant_masks"]] == [int(l != IGNORE_INDEX) for l in ex.labels]


def test_missing_chat_template_names_the_fix(tokenizer):
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = None
    with pytest.raises(ParameterError, match="chat_template: .*no chat template.*'chatml'"):
        ensure_chat_template(tok, "some-model")
    ensure_chat_template(tok, "some-model", "chatml")
    ex = encode_conversation(tok, Conversation.from_pairs([("user", "q"), ("model", "a")]))
    assert _trained_text(tok, ex) == "a<|im_end|>"


def test_overlong_counted_truncated_or_dropped(tokenizer):
    from sftwise.conversation import Dataset

    ds = Dataset.from_conversations([Conversation.from_pairs([("user", "word " * 50), ("model", "ok")]), Conversation.from_pairs([("user", "q"), ("model", "a")])])
    kept = prepare_split("train", ds, tokenizer, max_length=20, overlong="drop")
    assert (kept.overlong, kept.dropped_overlong, len(kept.examples)) == (1, 1, 1)
    cut = prepare_split("train", ds, tokenizer, max_length=20, overlong="truncate")
    # truncating the long one removes its answer: it is then counted as having no target, not trained silently
    assert cut.overlong == 1 and cut.truncated == 1 and cut.dropped_no_target == 1 and len(cut.examples) == 1


def test_packing_keeps_examples_whole_and_positions_restart(tokenizer):
    exs = [encode_conversation(tokenizer, Conversation.from_pairs([("user", f"q{i}"), ("model", "a" * (i + 1))])) for i in range(6)]
    rows = pack(exs, 64, tokenizer.pad_token_id)
    assert sum(len(r.input_ids) for r in rows) == sum(len(e.input_ids) for e in exs)
    assert all(len(r.input_ids) <= 64 for r in rows)
    batch = collate(rows, tokenizer.pad_token_id, packed=True)
    assert batch.attention_mask is None and int((batch.position_ids == 0).sum()) >= len(exs)
    assert batch.n_loss_tokens == sum(e.n_loss_tokens for e in exs)
