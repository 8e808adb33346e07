"""Rubrics as YAML (built-ins, typos named with file:line and the closest key), prompt layout, reply parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sftwise.errors import SftwiseError
from sftwise.judge.parse import parse_pairwise, parse_pointwise
from sftwise.judge.rubric import builtin_rubrics, load_rubric, render_pairwise, render_pointwise

BUILTINS = {"instruction_following", "summarization_quality", "groundedness", "fluency", "coherence", "safety", "task_specific"}


def test_builtins_load_with_their_scales():
    assert BUILTINS <= set(builtin_rubrics())
    for name in BUILTINS:
        rubric = load_rubric(name)
        assert rubric.name == name and rubric.criteria and len(rubric.scale) >= 2
    assert load_rubric("safety").scores == [0, 1]
    assert load_rubric("fluency").scores == [1, 2, 3, 4, 5]


def test_prompt_follows_vertex_layout():
    rubric = load_rubric("task_specific")
    text = render_pointwise(rubric, "Be brief.", [{"role": "user", "content": "Where is my parcel?"}], "On its way.", "It ships Monday.")
    order = ["# Instruction", "## Metric Definition", "## Criteria", "## Rating Rubric", "## Evaluation Steps",
             "## User Inputs", "### Reference answer", "## AI-generated Response", "# Output format"]
    positions = [text.index(h) for h in order]
    assert positions == sorted(positions)
    assert "5: Correct, complete and in the requested format." in text and '"score"' in text
    pair = render_pairwise(load_rubric("fluency"), None, [{"role": "user", "content": "Hi"}], "one", "two")
    assert '"SAME"' in pair and "### Response A\none" in pair and "### Response B\ntwo" in pair
    assert "### Reference answer" not in pair  # fluency does not use the reference


def _typo_file(tmp_path, text):
    path = tmp_path / "my_rubric.yaml"
    path.write_text(text)
    return path


GOOD = """name: tone
metric_definition: Is the tone right for a support desk?
criteria:
  Tone: Polite, calm and concrete.
scale:
  - {score: 1, description: right tone}
  - {score: 0, description: wrong tone}
"""


def test_user_rubric_and_typo_names_key_line_and_closest(tmp_path):
    assert load_rubric(_typo_file(tmp_path, GOOD)).scores == [0, 1]
    bad = GOOD.replace("criteria:", "critera:")
    with pytest.raises(SftwiseError) as err:
        load_rubric(_typo_file(tmp_path, bad))
    msg = str(err.value)
    assert "my_rubric.yaml:3: unknown key 'critera'" in msg and "did you mean 'criteria'" in msg
    bad = GOOD.replace("{score: 0, description", "{score: 0, descripton")
    with pytest.raises(SftwiseError, match=r"my_rubric.yaml:7: unknown key 'descripton' in scale.1; did you mean 'description'"):
        load_rubric(_typo_file(tmp_path, bad))
    with pytest.raises(SftwiseError, match="did you mean 'fluency'"):
        load_rubric("fluncy")
    with pytest.raises(SftwiseError, match="scale scores must be distinct"):
        load_rubric(_typo_file(tmp_path, GOOD.replace("score: 0", "score: 1")))
    with pytest.raises(SftwiseError, match="not valid YAML"):
        load_rubric(_typo_file(tmp_path, "name: [unclosed"))


SCALE = [1, 2, 3, 4, 5]


def test_prose_is_missing_never_guessed():
    p = parse_pointwise("This answer is great, I'd give it a 5 out of 5.", SCALE)
    assert p.score is None and "prose" in p.missing_reason
    assert parse_pairwise("A is clearly better.").verdict is None


def test_out_of_scale_and_non_integer_are_missing_with_reason():
    assert parse_pointwise('{"explanation": "wow", "score": 9}', SCALE).missing_reason == "score 9 is outside the scale 1..5"
    assert parse_pointwise('{"explanation": "x", "score": 3.5}', SCALE).missing_reason == "score 3.5 is not an integer"
    assert parse_pointwise('{"explanation": "x", "score": true}', SCALE).score is None
    assert parse_pairwise('{"explanation": "x", "verdict": "C"}').missing_reason == "verdict 'C' is not one of A, SAME, B"


def test_lenient_but_unambiguous_forms():
    p = parse_pointwise('Thinking...\n```json\n{"explanation": "ok", "score": "4"}\n```', SCALE)
    assert p.score == 4 and p.explanation == "ok" and not p.warnings
    assert parse_pointwise('{"explanation": "x", "score": 2.0}', SCALE).score == 2
    assert parse_pairwise('{"explanation": "same", "verdict": "tie"}').verdict == "SAME"
    assert parse_pairwise('{"explanation": "b", "verdict": "b"}').verdict == "B"


def test_empty_explanation_is_kept_with_a_warning():
    p = parse_pointwise('{"explanation": "", "score": 3}', SCALE)
    assert p.score == 3 and p.warnings == ["empty explanation"]
    assert parse_pointwise("", SCALE).missing_reason == "empty reply"


@given(st.text(max_size=200))
def test_parser_never_raises_and_never_invents_scores(text):
    p = parse_pointwise(text, SCALE)
    assert p.score is None or p.score in SCALE
    assert (p.score is None) == (p.missing_reason is not None)
    q = parse_pairwise(text)
    assert q.verdict in (None, "A", "B", "SAME")
