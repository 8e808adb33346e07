"""Property tests for the parsers of user input in evaluation: they return or raise SftwiseError, never crash."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sftwise.backends import parse_spec
from sftwise.evaluate.metrics import TextNormalization, extract_final_answer, math_correct, normalize_number, parse_json
from sftwise.evaluate.rouge import lcs_length, rouge_scores, tokenize
from sftwise.errors import SftwiseError


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_answer_parsing_never_crashes(text):
    answer = extract_final_answer(text)
    assert answer is None or isinstance(answer, str)
    assert normalize_number(answer) is None or isinstance(normalize_number(answer), str)
    assert math_correct(text, text) in (0.0, 1.0)
    ok, _ = parse_json(text)
    assert ok in (True, False)


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text())
def test_rouge_is_bounded_and_symmetric_in_lcs(a, b):
    scores = rouge_scores(a, b, tokenizer="unicode")
    for p, r, f in scores.values():
        assert 0.0 <= p <= 1.0 and 0.0 <= r <= 1.0 and 0.0 <= f <= 1.0
    ta, tb = tokenize(a, tokenizer="unicode"), tokenize(b, tokenizer="unicode")
    assert lcs_length(ta, tb) == lcs_length(tb, ta) <= min(len(ta), len(tb))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_specs_and_normalisation_options_fail_cleanly(text):
    for parse in (parse_spec, TextNormalization.parse):
        try:
            parse(text)
        except SftwiseError:
            pass
