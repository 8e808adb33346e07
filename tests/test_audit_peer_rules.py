"""sftwise flags every record the peers' published validators flag (rules about record structure).

The rules are restated here from what the peers publish, not copied from their code:

* OpenAI cookbook, "Data preparation and analysis for chat model fine-tuning": ``data_type`` (the
  example is not an object), ``missing_messages_list`` (no or empty ``messages``),
  ``message_missing_key`` (a message without ``role`` or ``content``), ``message_unrecognized_key``
  (a key other than role, content, name, function_call, weight), ``unrecognized_role`` (not system,
  user, assistant, function), ``missing_content`` (content empty or not a string, and no
  function_call), ``example_missing_assistant_message``.
* Google's Gemini tuning validators (the tuning notebook's ``validate_dataset_format`` and the
  generative-ai repository's ``validate_gemini_tuning_jsonl``) and the Vertex dataset-format page:
  invalid JSON; ``contents`` missing or not a list; a turn that is not an object or lacks ``role`` or
  ``parts``; a role other than user/model; ``parts`` not a list; a part with neither ``text`` nor
  ``fileData``; ``text`` not a string; ``systemInstruction`` without parts; and for the older
  messages layout: ``messages`` missing or not a list, a message not an object, without role or
  content, or with a role other than system/user/model.

Each record below breaks one rule; the peer's predicate (restated) must flag it, and sftwise must
report a format or shape finding (SW1xx, error or warning) at its line. The same implication is then
checked over the whole audit corpus: wherever a peer rule applies, sftwise agrees.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sftwise.audit import audit

CORPUS = Path(__file__).parent / "audit_corpus"

_COOKBOOK_KEYS = {"role", "content", "name", "function_call", "weight"}
_COOKBOOK_ROLES = {"system", "user", "assistant", "function"}


def cookbook_errors(raw: str) -> set[str]:
    """The OpenAI cookbook's format-error names for one JSONL line (restated)."""
    try:
        ex = json.loads(raw)
    except json.JSONDecodeError:
        return {"json"}
    if not isinstance(ex, dict):
        return {"data_type"}
    messages = ex.get("messages")
    if not messages:
        return {"missing_messages_list"}
    errors: set[str] = set()
    if not isinstance(messages, list):
        return {"missing_messages_list"}
    for m in messages:
        if not isinstance(m, dict):
            errors.add("data_type")
            continue
        if "role" not in m or "content" not in m:
            errors.add("message_missing_key")
        if any(k not in _COOKBOOK_KEYS for k in m):
            errors.add("message_unrecognized_key")
        if m.get("role") not in _COOKBOOK_ROLES:
            errors.add("unrecognized_role")
        content, function_call = m.get("content"), m.get("function_call")
        if (not content and not function_call) or not isinstance(content, str):
            errors.add("missing_content")
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        errors.add("example_missing_assistant_message")
    return errors


def google_errors(raw: str) -> set[str]:
    """The Gemini tuning validators' errors for one JSONL line (restated)."""
    try:
        ex = json.loads(raw)
    except json.JSONDecodeError:
        return {"json"}
    if not isinstance(ex, dict):
        return {"not_object"}
    if "contents" not in ex and "messages" in ex:  # the older messages layout
        messages = ex["messages"]
        if not isinstance(messages, list):
            return {"messages_not_list"}
        errors = set()
        for m in messages:
            if not isinstance(m, dict):
                errors.add("message_not_object")
            elif "role" not in m or "content" not in m:
                errors.add("message_missing_role_or_content")
            elif m["role"] not in ("system", "user", "model"):
                errors.add("message_invalid_role")
        return errors
    if "contents" not in ex:
        return {"missing_contents"}
    errors = set()
    system = ex.get("systemInstruction")
    if system is not None and not (isinstance(system, dict) and isinstance(system.get("parts"), list)):
        errors.add("system_instruction_without_parts")
    contents = ex["contents"]
    if not isinstance(contents, list):
        return errors | {"contents_not_list"}
    for c in contents:
        if not isinstance(c, dict):
            errors.add("content_not_object")
            continue
        if "role" not in c or "parts" not in c:
            errors.add("content_missing_role_or_parts")
        if "role" in c and c["role"] not in ("user", "model"):
            errors.add("invalid_role")
        parts = c.get("parts", [])
        if not isinstance(parts, list):
            errors.add("parts_not_list")
            continue
        for p in parts:
            if not isinstance(p, dict) or not ({"text", "fileData"} & p.keys()):
                errors.add("part_without_text_or_file")
            elif "text" in p and not isinstance(p["text"], str):
                errors.add("text_not_string")
    return errors


def _msgs(*messages: dict) -> dict:
    return {"messages": list(messages)}


U, A = {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}
TURN_U, TURN_M = {"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": [{"text": "a"}]}

# (peer, rule, record): each record breaks the named rule
CASES: list[tuple[str, str, object]] = [
    ("cookbook", "data_type", ["not", "an", "object"]),
    ("cookbook", "data_type", "a string"),
    ("cookbook", "missing_messages_list", {"messages": []}),
    ("cookbook", "missing_messages_list", {"messages": None}),
    ("cookbook", "message_missing_key", _msgs({"role": "user"}, A)),
    ("cookbook", "message_missing_key", _msgs({"content": "q"}, A)),
    ("cookbook", "message_unrecognized_key", _msgs(U, {"role": "assistant", "content": "a", "score": 3})),
    ("cookbook", "unrecognized_role", _msgs({"role": "customer_agent", "content": "q"}, A)),
    ("cookbook", "missing_content", _msgs(U, {"role": "assistant", "content": ""})),
    ("cookbook", "missing_content", _msgs(U, {"role": "assistant", "content": 42})),
    ("cookbook", "missing_content", _msgs({"role": "user", "content": None}, A)),
    ("cookbook", "example_missing_assistant_message", _msgs({"role": "system", "content": "s"}, U)),
    ("cookbook", "example_missing_assistant_message", _msgs(U, U)),
    ("google", "missing_contents", {"systemInstruction": {"parts": [{"text": "s"}]}}),
    ("google", "contents_not_list", {"contents": {"role": "user", "parts": [{"text": "q"}]}}),
    ("google", "content_not_object", {"contents": ["user: q", TURN_M]}),
    ("google", "content_missing_role_or_parts", {"contents": [{"parts": [{"text": "q"}]}, TURN_M]}),
    ("google", "content_missing_role_or_parts", {"contents": [TURN_U, {"role": "model"}]}),
    ("google", "invalid_role", {"contents": [TURN_U, {"role": "assistant", "parts": [{"text": "a"}]}]}),
    ("google", "invalid_role", {"contents": [{"role": "system", "parts": [{"text": "s"}]}, TURN_U, TURN_M]}),
    ("google", "parts_not_list", {"contents": [{"role": "user", "parts": "q"}, TURN_M]}),
    ("google", "part_without_text_or_file", {"contents": [{"role": "user", "parts": [{"txt": "q"}]}, TURN_M]}),
    ("google", "part_without_text_or_file", {"contents": [{"role": "user", "parts": ["q"]}, TURN_M]}),
    ("google", "text_not_string", {"contents": [{"role": "user", "parts": [{"text": ["q"]}]}, TURN_M]}),
    ("google", "system_instruction_without_parts", {"systemInstruction": {"text": "s"}, "contents": [TURN_U, TURN_M]}),
    ("google", "system_instruction_without_parts", {"systemInstruction": "be brief", "contents": [TURN_U, TURN_M]}),
    ("google", "messages_not_list", {"messages": {"role": "user", "content": "q"}}),
    ("google", "message_not_object", _msgs("q", {"role": "model", "content": "a"})),
    ("google", "message_missing_role_or_content", _msgs({"role": "user"}, {"role": "model", "content": "a"})),
    ("google", "message_invalid_role", _msgs({"role": "human", "content": "q"}, {"role": "model", "content": "a"})),
]
PEERS = {"cookbook": cookbook_errors, "google": google_errors}


def _flagged_lines(path: Path) -> set[int]:
    report = audit(path, max_listed=0)
    return {f.line for f in report.findings if f.code < "SW200" and f.line is not None and f.severity.value in ("error", "warning")}


def test_every_rule_is_covered() -> None:
    assert len(CASES) >= 25 and len({(p, r) for p, r, _ in CASES}) >= 20


@pytest.mark.parametrize(("peer", "rule", "record"), CASES, ids=[f"{p}-{r}-{i}" for i, (p, r, _) in enumerate(CASES)])
def test_sftwise_flags_what_the_peer_flags(tmp_path: Path, peer: str, rule: str, record: object) -> None:
    raw = json.dumps(record)
    assert rule in PEERS[peer](raw), f"the restated {peer} rule does not fire on its own case"
    path = tmp_path / "one.jsonl"
    valid = json.dumps({"messages": [U, A]}) if "messages" in raw or peer == "cookbook" else json.dumps({"contents": [TURN_U, TURN_M]})
    path.write_text(f"{valid}\n{raw}\n")  # not on line 1, so that a finding at the wrong line shows
    assert 2 in _flagged_lines(path), f"sftwise does not flag the {peer} rule {rule} at line 2"


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.jsonl")))
def test_sftwise_agrees_with_the_peers_over_the_corpus(name: str) -> None:
    path = CORPUS / name
    flagged = _flagged_lines(path)
    kind = "messages" if "messages" in name else "gemini"
    peer = cookbook_errors if kind == "messages" else google_errors
    missed = []
    for line, raw in enumerate(path.read_text().splitlines(), 1):
        rules = peer(raw)
        if name.startswith("valid_"):
            # rules written before tool calls: content null beside tool_calls, the tool role and its keys,
            # Gemini's "function" role and functionCall / functionResponse parts
            rules -= {"missing_content", "message_missing_key", "message_unrecognized_key", "unrecognized_role", "invalid_role", "part_without_text_or_file"}
        if rules and line not in flagged:
            missed.append((line, sorted(rules)))
    assert not missed, missed
