"""One record in each supported format <-> a canonical :class:`Conversation`.

A parser takes the raw JSON object of one example, the file and line it came from, and a list to
append findings to; it returns the conversation (or ``None`` when nothing usable is left) and never
raises. Roles are mapped when the intent is obvious ("assistant" in Gemini contents becomes "model")
but the mapping is still reported, so the file gets fixed. Fields a format does not define are kept
in ``Conversation.meta`` (an id, a label) for the flat formats, and reported as SW102 for the
strictly validated ones (Gemini contents, chat messages).

An emitter turns a conversation back into the format's JSON object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sftwise.conversation import MODEL, USER, Conversation, Part, Turn
from sftwise.findings import Finding, emit
from sftwise.errors import SftwiseError

FORMATS = ("gemini", "messages", "prompt_completion", "alpaca", "sharegpt")

GEMINI_TOP = frozenset({"systemInstruction", "contents", "tools", "toolConfig"})
GEMINI_CONTENT = frozenset({"role", "parts"})
GEMINI_PART = frozenset({"text", "fileData", "inlineData", "functionCall", "functionResponse", "thought", "thoughtSignature"})
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id", "refusal"})
SHAREGPT_KEYS = frozenset({"from", "value", "weight"})

_MODEL_ALIASES = {"assistant", "model", "gpt", "bot", "chatbot", "ai"}
_USER_ALIASES = {"user", "human", "prompter", "customer"}

Out = list[Finding]


def record_format(obj: Any) -> str | None:
    """The format one raw record is in, from its keys; ``None`` when it matches none."""
    if not isinstance(obj, dict):
        return None
    if "contents" in obj or "systemInstruction" in obj:
        return "gemini"
    if "messages" in obj:
        return "messages"
    if "conversations" in obj:
        return "sharegpt"
    if "instruction" in obj or "output" in obj:
        return "alpaca"
    if "prompt" in obj or "completion" in obj:
        return "prompt_completion"
    return None


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _wrong_type(out: Out, file: str, line: int, field: str, value: Any, expected: str, hint: str = "") -> None:
    out.append(emit("SW104", f"{field} is {_type_name(value)}, expected {expected}.", hint or f"Write {field} as {expected}.", file, line, field=field))


def _missing(out: Out, file: str, line: int, field: str, what: str, hint: str = "") -> None:
    out.append(emit("SW103", f"missing {what}.", hint or f"Add {field}, or drop the example.", file, line, field=field))


def _text_field(obj: dict, key: str, out: Out, file: str, line: int, field: str, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            _missing(out, file, line, field, f"field {key!r}")
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        _wrong_type(out, file, line, field, value, "a string", "Quote the value; it is read as text.")
        return str(value)
    _wrong_type(out, file, line, field, value, "a string")
    return None


# ---- Gemini ----------------------------------------------------------------------------------------


def _gemini_parts(parts: Any, out: Out, file: str, line: int, field: str) -> list[Part]:
    if not isinstance(parts, list):
        _wrong_type(out, file, line, field, parts, 'a list of parts [{"text": ...}]')
        return [Part(text=parts)] if isinstance(parts, str) else []
    result: list[Part] = []
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            _wrong_type(out, file, line, f"{field}[{j}]", part, 'an object {"text": ...}')
            if isinstance(part, str):
                result.append(Part(text=part))
            continue
        text = part.get("text")
        if text is not None and len(part) == 1:  # the fast path: {"text": "..."}
            if isinstance(text, str):
                result.append(Part(text=text))
            else:
                _wrong_type(out, file, line, f"{field}[{j}].text", text, "a string")
            continue
        for key in part.keys() - GEMINI_PART:
            out.append(emit("SW102", f"unknown field {key!r} in a part.", 'A part holds "text" or "fileData".', file, line, field=f"{field}[{j}].{key}"))
        if text is not None:
            if isinstance(text, str):
                result.append(Part(text=text))
            else:
                _wrong_type(out, file, line, f"{field}[{j}].text", text, "a string")
        elif "fileData" in part:
            data = part["fileData"]
            if isinstance(data, dict) and isinstance(data.get("fileUri"), str):
                result.append(Part(file_uri=data["fileUri"], mime_type=data.get("mimeType")))
            else:
                _wrong_type(out, file, line, f"{field}[{j}].fileData", data, '{"mimeType": ..., "fileUri": "gs://..."}')
        else:
            kinds = sorted(part.keys() & (GEMINI_PART - {"text", "fileData"}))
            if kinds:
                out.append(emit("SW118", f"part kind {kinds[0]} is not carried by sftwise and is dropped.", "Keep function-calling data in a separate file, or convert images to gs:// fileData.", file, line, field=f"{field}[{j}]"))
            else:
                _missing(out, file, line, f"{field}[{j}]", 'part content ("text" or "fileData")')
    return result


def parse_gemini(obj: dict, file: str, line: int, out: Out) -> Conversation | None:
    meta: dict[str, Any] = {}
    if len(obj) > 2 or not obj.keys() <= GEMINI_TOP:
        for key in obj.keys() - GEMINI_TOP:
            meta[key] = obj[key]
            hint = 'Did you mean "contents"?' if key in ("content", "messages", "Contents") else "Vertex AI expects systemInstruction and contents only; move ids and labels to a side file."
            out.append(emit("SW102", f"unknown field {key!r} in a Gemini record.", hint, file, line, field=key))
    system = None
    sys_obj = obj.get("systemInstruction")
    if sys_obj is not None:
        parts = sys_obj.get("parts") if type(sys_obj) is dict else None
        if type(parts) is list and len(parts) == 1 and type(parts[0]) is dict and len(parts[0]) == 1 and type(parts[0].get("text")) is str:
            system = parts[0]["text"]  # the fast path: one text part
        elif isinstance(sys_obj, dict):
            parts = sys_obj.get("parts")
            if parts is None:
                _missing(out, file, line, "systemInstruction.parts", "parts in systemInstruction", 'Write {"systemInstruction": {"parts": [{"text": "..."}]}}.')
            else:
                system = "\n".join(p.text for p in _gemini_parts(parts, out, file, line, "systemInstruction.parts") if p.text is not None)
        elif isinstance(sys_obj, str):
            _wrong_type(out, file, line, "systemInstruction", sys_obj, 'an object {"parts": [{"text": ...}]}')
            system = sys_obj
        else:
            _wrong_type(out, file, line, "systemInstruction", sys_obj, 'an object {"parts": [{"text": ...}]}')
    contents = obj.get("contents")
    if contents is None:
        _missing(out, file, line, "contents", "field 'contents'", 'A Gemini example is {"contents": [{"role": "user", "parts": [...]}, {"role": "model", ...}]}.')
        return None
    if not isinstance(contents, list):
        _wrong_type(out, file, line, "contents", contents, "a list of turns")
        return None
    turns: list[Turn] = []
    for i, content in enumerate(contents):
        if type(content) is dict and len(content) == 2:  # the fast path: {"role": user|model, "parts": [{"text": str}]}
            role, parts = content.get("role"), content.get("parts")
            if (role == USER or role == MODEL) and type(parts) is list and len(parts) == 1:
                part = parts[0]
                if type(part) is dict and len(part) == 1:
                    text = part.get("text")
                    if type(text) is str:
                        turns.append(Turn(role, [Part(text)]))
                        continue
        if not isinstance(content, dict):
            _wrong_type(out, file, line, f"contents[{i}]", content, 'an object {"role": ..., "parts": [...]}')
            continue
        if len(content) != 2 or not content.keys() <= GEMINI_CONTENT:
            for key in content.keys() - GEMINI_CONTENT:
                out.append(emit("SW102", f"unknown field {key!r} in a turn.", 'A turn holds "role" and "parts".', file, line, field=f"contents[{i}].{key}"))
        role = content.get("role")
        if role is None:
            _missing(out, file, line, f"contents[{i}].role", "role", 'Set "role" to "user" or "model".')
            role = MODEL if i % 2 else USER
        elif role != USER and role != MODEL:
            if role == "system":
                out.append(emit("SW106", "a system turn inside contents.", 'Move its text to {"systemInstruction": {"parts": [{"text": ...}]}}.', file, line, field=f"contents[{i}].role"))
                text = "\n".join(p.text for p in _gemini_parts(content.get("parts", []), out, file, line, f"contents[{i}].parts") if p.text)
                system = f"{system}\n{text}" if system else text
                continue
            role = _map_role(role, out, file, line, f"contents[{i}].role", "Gemini contents accept only 'user' and 'model'.")
        parts = content.get("parts")
        if parts is None:
            _missing(out, file, line, f"contents[{i}].parts", "parts", 'Write "parts": [{"text": "..."}].')
            parts = []
        turns.append(Turn(role=role, parts=_gemini_parts(parts, out, file, line, f"contents[{i}].parts")))
    return Conversation(turns=turns, system=system, meta=meta) if meta else Conversation(turns=turns, system=system)


def _map_role(role: Any, out: Out, file: str, line: int, field: str, accepted: str) -> str:
    """Report a wrong role and map it to user/model when the intent is clear (else keep it as given)."""
    text = str(role).lower() if isinstance(role, str) else str(role)
    mapped = MODEL if text in _MODEL_ALIASES else USER if text in _USER_ALIASES else text
    fix = f"Rename it to {mapped!r}." if mapped in (USER, MODEL) else "Use a supported role or drop the turn."
    out.append(emit("SW105", f"role {role!r} is not accepted here. {accepted}", fix, file, line, field=field))
    return mapped


def emit_gemini(c: Conversation) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    if c.system:
        obj["systemInstruction"] = {"role": "system", "parts": [{"text": c.system}]}
    obj["contents"] = [{"role": t.role, "parts": [_emit_gemini_part(p) for p in t.parts]} for t in c.turns]
    return obj


def _emit_gemini_part(p: Part) -> dict[str, Any]:
    if p.text is not None:
        return {"text": p.text}
    return {"fileData": {"mimeType": p.mime_type, "fileUri": p.file_uri}}


# ---- OpenAI / Hugging Face messages and ShareGPT ---------------------------------------------------


def _message_content(content: Any, out: Out, file: str, line: int, field: str) -> list[Part] | None:
    if isinstance(content, str):
        return [Part(text=content)]
    if isinstance(content, list):
        parts = []
        for j, item in enumerate(content):
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                parts.append(Part(text=item["text"]))
            elif isinstance(item, dict) and isinstance(item.get("image_url"), dict | str):
                url = item["image_url"]["url"] if isinstance(item["image_url"], dict) else item["image_url"]
                parts.append(Part(file_uri=url, mime_type="image/*"))
            else:
                _wrong_type(out, file, line, f"{field}[{j}]", item, '{"type": "text", "text": ...}')
        return parts
    _wrong_type(out, file, line, field, content, "a string")
    return None


def _parse_chat(items: Any, out: Out, file: str, line: int, top: str, role_key: str, text_key: str,
                allowed: frozenset[str], system_value: str, model_names: set[str], user_names: set[str], fmt: str) -> tuple[list[Turn], str | None]:
    turns: list[Turn] = []
    system: str | None = None
    if not isinstance(items, list):
        _wrong_type(out, file, line, top, items, "a list of messages")
        return turns, system
    for i, msg in enumerate(items):
        field = f"{top}[{i}]"
        if not isinstance(msg, dict):
            _wrong_type(out, file, line, field, msg, f'an object {{"{role_key}": ..., "{text_key}": ...}}')
            continue
        if not msg.keys() <= allowed:
            for key in msg.keys() - allowed:
                out.append(emit("SW102", f"unknown field {key!r} in a message.", f'A {fmt} message holds "{role_key}" and "{text_key}".', file, line, field=f"{field}.{key}"))
        role = msg.get(role_key)
        content = msg.get(text_key)
        if content is None:
            if msg.get("tool_calls"):
                out.append(emit("SW118", "a tool call message is not carried by sftwise and is dropped.", "Keep function-calling data in a separate file.", file, line, field=field))
                continue
            _missing(out, file, line, f"{field}.{text_key}", f"field {text_key!r}")
            content = ""
        parts = _message_content(content, out, file, line, f"{field}.{text_key}") or []
        if role is None or not isinstance(role, str):
            if role is None:
                _missing(out, file, line, f"{field}.{role_key}", f"field {role_key!r}")
            else:
                _wrong_type(out, file, line, f"{field}.{role_key}", role, "a string")
            turns.append(Turn(role=MODEL if len(turns) % 2 else USER, parts=parts))  # guessed from the position
            continue
        if role == system_value:
            text = "\n".join(p.text for p in parts if p.text is not None)
            if turns or system is not None:
                out.append(emit("SW106", "a system message that is not the first message.", "Merge it into one system message at the start; chat templates render only a leading one.", file, line, field=f"{field}.{role_key}"))
            system = f"{system}\n{text}" if system else text
            continue
        if role in model_names:
            mapped = MODEL
        elif role in user_names:
            mapped = USER
        else:
            mapped = _map_role(role, out, file, line, f"{field}.{role_key}", f"{fmt} accepts {', '.join(sorted({system_value, *user_names, *model_names}))}.")
        turns.append(Turn(role=mapped, parts=parts))
    return turns, system


def parse_messages(obj: dict, file: str, line: int, out: Out) -> Conversation | None:
    if obj.get("messages") is None:
        _missing(out, file, line, "messages", "field 'messages'", 'A chat example is {"messages": [{"role": "user", "content": ...}, {"role": "assistant", ...}]}.')
        return None
    turns, system = _parse_chat(obj["messages"], out, file, line, "messages", "role", "content", MESSAGE_KEYS, "system", {"assistant"}, {"user"}, "messages")
    meta = {k: v for k, v in obj.items() if k != "messages"} if len(obj) > 1 else {}
    return Conversation(turns=turns, system=system, meta=meta)


def emit_messages(c: Conversation) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": c.system}] if c.system else []
    for t in c.turns:
        role = "assistant" if t.role == MODEL else "user"
        if all(p.text is not None for p in t.parts):
            messages.append({"role": role, "content": t.text})
        else:
            content = [{"type": "text", "text": p.text} if p.text is not None else {"type": "image_url", "image_url": {"url": p.file_uri}} for p in t.parts]
            messages.append({"role": role, "content": content})
    return {"messages": messages}


def parse_sharegpt(obj: dict, file: str, line: int, out: Out) -> Conversation | None:
    if obj.get("conversations") is None:
        _missing(out, file, line, "conversations", "field 'conversations'", 'A ShareGPT example is {"conversations": [{"from": "human", "value": ...}, {"from": "gpt", ...}]}.')
        return None
    turns, system = _parse_chat(obj["conversations"], out, file, line, "conversations", "from", "value", SHAREGPT_KEYS, "system",
                                {"gpt", "assistant", "model"}, {"human", "user"}, "sharegpt")
    meta = {k: v for k, v in obj.items() if k not in ("conversations", "system")}
    top_system = obj.get("system")
    if isinstance(top_system, str) and top_system:
        system = f"{top_system}\n{system}" if system else top_system
    return Conversation(turns=turns, system=system, meta=meta)


def emit_sharegpt(c: Conversation) -> dict[str, Any]:
    conv = [{"from": "system", "value": c.system}] if c.system else []
    conv.extend({"from": "gpt" if t.role == MODEL else "human", "value": t.text} for t in c.turns)
    return {"conversations": conv}


# ---- flat formats: prompt-completion and Alpaca ----------------------------------------------------


def parse_prompt_completion(obj: dict, file: str, line: int, out: Out) -> Conversation | None:
    prompt, completion = obj.get("prompt"), obj.get("completion")
    system = _text_field(obj, "system", out, file, line, "system", required=False)
    turns: list[Turn] = []
    if isinstance(prompt, list):  # TRL's conversational prompt-completion: lists of messages
        turns, sys2 = _parse_chat(prompt, out, file, line, "prompt", "role", "content", MESSAGE_KEYS, "system", {"assistant"}, {"user"}, "messages")
        system = system or sys2
    else:
        text = _text_field(obj, "prompt", out, file, line, "prompt")
        if text is not None:
            turns.append(Turn.of(USER, text))
    if isinstance(completion, list):
        more, _ = _parse_chat(completion, out, file, line, "completion", "role", "content", MESSAGE_KEYS, "system", {"assistant"}, {"user"}, "messages")
        turns.extend(more)
    else:
        text = _text_field(obj, "completion", out, file, line, "completion")
        if text is not None:
            turns.append(Turn.of(MODEL, text))
    meta = {k: v for k, v in obj.items() if k not in ("prompt", "completion", "system")}
    return Conversation(turns=turns, system=system, meta=meta)


def parse_alpaca(obj: dict, file: str, line: int, out: Out) -> Conversation | None:
    instruction = _text_field(obj, "instruction", out, file, line, "instruction")
    extra = _text_field(obj, "input", out, file, line, "input", required=False)
    output = _text_field(obj, "output", out, file, line, "output")
    system = _text_field(obj, "system", out, file, line, "system", required=False)
    turns: list[Turn] = []
    history = obj.get("history")
    if isinstance(history, list):
        for i, pair in enumerate(history):
            if isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(x, str) for x in pair):
                turns += [Turn.of(USER, pair[0]), Turn.of(MODEL, pair[1])]
            else:
                _wrong_type(out, file, line, f"history[{i}]", pair, '["user text", "model text"]')
    elif history is not None:
        _wrong_type(out, file, line, "history", history, "a list of [user, model] pairs")
    if instruction is not None:
        turns.append(Turn.of(USER, f"{instruction}\n\n{extra}" if extra else instruction))
    if output is not None:
        turns.append(Turn.of(MODEL, output))
    meta = {k: v for k, v in obj.items() if k not in ("instruction", "input", "output", "system", "history")}
    return Conversation(turns=turns, system=system, meta=meta)


def _single_turn(c: Conversation, fmt: str) -> tuple[str, str, list[tuple[str, str]]]:
    """(prompt, completion, earlier [(user, model)] pairs) of a conversation, for the flat formats."""
    turns = c.turns
    if len(turns) < 2 or turns[-1].role != MODEL or turns[-2].role != USER:
        raise SftwiseError(f"{fmt} holds examples that end with one user turn and one model turn; this one has roles {[t.role for t in turns]}. Convert to gemini, messages or sharegpt instead.")
    history = []
    earlier = turns[:-2]
    for i in range(0, len(earlier) - 1, 2):
        if earlier[i].role != USER or earlier[i + 1].role != MODEL:
            break
        history.append((earlier[i].text, earlier[i + 1].text))
    else:
        if len(earlier) % 2 == 0:
            return turns[-2].text, turns[-1].text, history
    raise SftwiseError(f"{fmt} cannot hold a conversation with roles {[t.role for t in turns]} (not alternating user/model). Convert to gemini, messages or sharegpt instead.")


def emit_prompt_completion(c: Conversation) -> dict[str, Any]:
    prompt, completion, history = _single_turn(c, "prompt_completion")
    if history:
        raise SftwiseError("prompt_completion holds one exchange per example, and this one has several turns; convert to gemini, messages or sharegpt instead.")
    obj: dict[str, Any] = {"system": c.system} if c.system else {}
    obj.update(prompt=prompt, completion=completion)
    return obj


def emit_alpaca(c: Conversation) -> dict[str, Any]:
    prompt, completion, history = _single_turn(c, "alpaca")
    obj: dict[str, Any] = {"instruction": prompt, "input": "", "output": completion}
    if c.system:
        obj["system"] = c.system
    if history:
        obj["history"] = [list(pair) for pair in history]
    return obj


PARSERS: dict[str, Callable[[dict, str, int, Out], Conversation | None]] = {
    "gemini": parse_gemini,
    "messages": parse_messages,
    "prompt_completion": parse_prompt_completion,
    "alpaca": parse_alpaca,
    "sharegpt": parse_sharegpt,
}
EMITTERS: dict[str, Callable[[Conversation], dict[str, Any]]] = {
    "gemini": emit_gemini,
    "messages": emit_messages,
    "prompt_completion": emit_prompt_completion,
    "alpaca": emit_alpaca,
    "sharegpt": emit_sharegpt,
}
