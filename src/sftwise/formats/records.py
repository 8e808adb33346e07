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
from sftwise.formats import tools
from sftwise.findings import emit
from sftwise.formats.fields import Out, missing, wrong_type
from sftwise.errors import SftwiseError

FORMATS = ("gemini", "messages", "prompt_completion", "alpaca", "sharegpt")

GEMINI_TOP = frozenset({"systemInstruction", "system_instruction", "contents", "tools", "toolConfig"})
GEMINI_CONTENT = frozenset({"role", "parts"})
GEMINI_PART = frozenset({"text", "fileData", "inlineData", "functionCall", "functionResponse", "thought", "thoughtSignature"})
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id", "refusal"})
SHAREGPT_KEYS = frozenset({"from", "value", "weight"})


def key_elsewhere(key: str, here: str) -> str:
    """Which other layout allows ``key``, for SW102's hint: a key that is unknown in a Gemini turn is
    often a messages key (``content``), and the fix is to convert the file, not to delete the key."""
    layouts = (("the OpenAI/HF messages layout", MESSAGE_KEYS), ("the Gemini layout", GEMINI_CONTENT | GEMINI_PART), ("the ShareGPT layout", SHAREGPT_KEYS))
    for name, keys in layouts:
        if key in keys and name != here:
            return f" {key!r} belongs to {name}: write the file in one layout (`sftwise convert` writes either)."
    return " No format sftwise reads has it; remove it or move it to a side file."
_MODEL_ALIASES = {"assistant", "model", "gpt", "bot", "chatbot", "ai"}
_USER_ALIASES = {"user", "human", "prompter", "customer"}



def record_format(obj: Any) -> str | None:
    """The format one raw record is in, from its keys; ``None`` when it matches none."""
    if not isinstance(obj, dict):
        return None
    if "contents" in obj or "systemInstruction" in obj or "system_instruction" in obj:
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


def _text_field(obj: dict, key: str, out: Out, file: str, line: int, field: str, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            missing(out, file, line, field, f"field {key!r}")
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        wrong_type(out, file, line, field, value, "a string", "Quote the value; it is read as text.")
        return str(value)
    wrong_type(out, file, line, field, value, "a string")
    return None


# ---- Gemini ----------------------------------------------------------------------------------------


def _gemini_parts(parts: Any, out: Out, file: str, line: int, field: str) -> list[Part]:
    if not isinstance(parts, list):
        wrong_type(out, file, line, field, parts, 'a list of parts [{"text": ...}]')
        return [Part(text=parts)] if isinstance(parts, str) else []
    result: list[Part] = []
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            wrong_type(out, file, line, f"{field}[{j}]", part, 'an object {"text": ...}')
            if isinstance(part, str):
                result.append(Part(text=part))
            continue
        text = part.get("text")
        if text is not None and len(part) == 1:  # the fast path: {"text": "..."}
            if isinstance(text, str):
                result.append(Part(text=text))
            else:
                wrong_type(out, file, line, f"{field}[{j}].text", text, "a string")
            continue
        for key in part.keys() - GEMINI_PART:
            out.append(emit("SW102", f"unknown field {key!r} in a part.", 'A part holds "text", "fileData", "functionCall" or "functionResponse".', file, line, field=f"{field}[{j}].{key}"))
        if text is not None:
            if isinstance(text, str):
                result.append(Part(text=text))
            else:
                wrong_type(out, file, line, f"{field}[{j}].text", text, "a string")
        elif "fileData" in part:
            data = part["fileData"]
            if isinstance(data, dict) and isinstance(data.get("fileUri"), str):
                result.append(Part(file_uri=data["fileUri"], mime_type=data.get("mimeType")))
            else:
                wrong_type(out, file, line, f"{field}[{j}].fileData", data, '{"mimeType": ..., "fileUri": "gs://..."}')
        elif "functionCall" in part or "functionResponse" in part:
            read = tools.read_gemini_call if "functionCall" in part else tools.read_gemini_response
            key = "functionCall" if "functionCall" in part else "functionResponse"
            tool_part = read(part[key], out, file, line, f"{field}[{j}].{key}")
            if tool_part is not None:
                result.append(tool_part)
        else:
            kinds = sorted(part.keys() & (GEMINI_PART - {"text", "fileData"}))
            if kinds:
                out.append(emit("SW118", f"part kind {kinds[0]} is not carried by sftwise and is dropped.", "Upload inline data to Cloud Storage and reference it as fileData; drop thought parts.", file, line, field=f"{field}[{j}]"))
            else:
                missing(out, file, line, f"{field}[{j}]", 'part content ("text" or "fileData")')
    return result


def parse_gemini(obj: dict, file: str, line: int, out: Out) -> Conversation | None:
    meta: dict[str, Any] = {}
    if len(obj) > 2 or not obj.keys() <= GEMINI_TOP:
        for key in obj.keys() - GEMINI_TOP:
            meta[key] = obj[key]
            hint = 'Did you mean "contents"?' if key in ("content", "messages", "Contents") else "Vertex AI expects systemInstruction and contents only; move ids and labels to a side file."
            out.append(emit("SW102", f"unknown field {key!r} in a Gemini record.", hint, file, line, field=key))
    system = None
    sys_key = "systemInstruction" if "systemInstruction" in obj else "system_instruction"
    if "systemInstruction" in obj and "system_instruction" in obj:
        out.append(emit("SW102", "both systemInstruction and system_instruction are given; system_instruction is ignored.", "Keep one of the two spellings.", file, line, field="system_instruction"))
    sys_obj = obj.get(sys_key)
    if sys_obj is not None:
        parts = sys_obj.get("parts") if type(sys_obj) is dict else None
        if type(parts) is list and len(parts) == 1 and type(parts[0]) is dict and len(parts[0]) == 1 and type(parts[0].get("text")) is str:
            system = parts[0]["text"]  # the fast path: one text part
        elif isinstance(sys_obj, dict):
            parts = sys_obj.get("parts")
            if parts is None:
                missing(out, file, line, f"{sys_key}.parts", f"parts in {sys_key}", f'Write {{"{sys_key}": {{"parts": [{{"text": "..."}}]}}}}.')
            else:
                system = "\n".join(p.text for p in _gemini_parts(parts, out, file, line, f"{sys_key}.parts") if p.text is not None)
        elif isinstance(sys_obj, str):
            wrong_type(out, file, line, sys_key, sys_obj, 'an object {"parts": [{"text": ...}]}')
            system = sys_obj
        else:
            wrong_type(out, file, line, sys_key, sys_obj, 'an object {"parts": [{"text": ...}]}')
    declared = tools.read_gemini_tools(obj["tools"], out, file, line) if "tools" in obj else None
    contents = obj.get("contents")
    if contents is None:
        missing(out, file, line, "contents", "field 'contents'", 'A Gemini example is {"contents": [{"role": "user", "parts": [...]}, {"role": "model", ...}]}.')
        return None
    if not isinstance(contents, list):
        wrong_type(out, file, line, "contents", contents, "a list of turns")
        return None
    turns: list[Turn] = []
    skipped: list[int] = []
    for i, content in enumerate(contents):
        if type(content) is dict and len(content) == 2:  # the fast path: {"role": user|model, "parts": [{"text": str}]}
            role, parts = content.get("role"), content.get("parts")
            if (role == USER or role == MODEL) and type(parts) is list and len(parts) == 1:
                part = parts[0]
                if type(part) is dict and len(part) == 1:
                    text = part.get("text")
                    if type(text) is str:
                        turns.append(Turn(role, [Part(text)], i))
                        continue
        if not isinstance(content, dict):
            wrong_type(out, file, line, f"contents[{i}]", content, 'an object {"role": ..., "parts": [...]}')
            skipped.append(i)
            continue
        if len(content) != 2 or not content.keys() <= GEMINI_CONTENT:
            for key in content.keys() - GEMINI_CONTENT:
                out.append(emit("SW102", f"unknown field {key!r} in a turn.", 'A turn holds "role" and "parts".' + key_elsewhere(key, "the Gemini layout"), file, line, field=f"contents[{i}].{key}"))
        role = content.get("role")
        if role is None:
            missing(out, file, line, f"contents[{i}].role", "role", 'Set "role" to "user" or "model".')
            role = MODEL if i % 2 else USER
        elif role == "function":  # the role older Gemini examples give a turn of functionResponse parts
            role = USER
        elif role != USER and role != MODEL:
            if role == "system":
                out.append(emit("SW106", "a system turn inside contents.", 'Move its text to {"systemInstruction": {"parts": [{"text": ...}]}}.', file, line, field=f"contents[{i}].role"))
                text = "\n".join(p.text for p in _gemini_parts(content.get("parts", []), out, file, line, f"contents[{i}].parts") if p.text)
                system = f"{system}\n{text}" if system else text
                continue
            role = _map_role(role, out, file, line, f"contents[{i}].role", "Gemini contents accept only 'user' and 'model'.")
        parts = content.get("parts")
        reported = len(out)
        if parts is None:
            missing(out, file, line, f"contents[{i}].parts", "parts", 'Write "parts": [{"text": "..."}].')
            parts = []
        read_parts = _gemini_parts(parts, out, file, line, f"contents[{i}].parts")
        if not read_parts and len(out) > reported:
            skipped.append(i)  # its parts were unreadable and are reported: the turn is not "empty" too
        turns.append(Turn(role=role, parts=read_parts, index=i))
    return Conversation(turns=turns, system=system, meta=meta, tools=declared, skipped=tuple(skipped))


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
    if c.tools:
        obj["tools"] = tools.write_gemini_tools(c.tools)
    obj["contents"] = [{"role": t.role, "parts": [_emit_gemini_part(p) for p in t.parts]} for t in c.turns]
    return obj


def _emit_gemini_part(p: Part) -> dict[str, Any]:
    if p.text is not None:
        return {"text": p.text}
    if p.is_tool:
        return tools.write_gemini_part(p)
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
                wrong_type(out, file, line, f"{field}[{j}]", item, '{"type": "text", "text": ...}')
        return parts
    wrong_type(out, file, line, field, content, "a string")
    return None


_MESSAGES_SYSTEM = frozenset({"system", "developer"})


def _weight(msg: dict, role: str, out: Out, file: str, line: int, field: str) -> float | None:
    """OpenAI's per-message ``weight``: 0 (not trained on) or 1, on assistant messages only."""
    value = msg["weight"]
    if isinstance(value, bool) or value not in (0, 1):
        out.append(emit("SW104", f"{field}.weight is {value!r}; it must be 0 (do not train on this message) or 1.", "Set weight to 0 or 1, or remove it (the default is 1).", file, line, field=f"{field}.weight"))
        return None
    if role != MODEL:
        out.append(emit("SW102", f"{field}.weight is given on a non-assistant message, where it means nothing.", "Only assistant messages carry a weight; remove it here.", file, line, field=f"{field}.weight"))
        return None
    return float(value)


def _parse_chat(items: Any, out: Out, file: str, line: int, top: str, role_key: str, text_key: str,
                allowed: frozenset[str], system_values: frozenset[str], model_names: set[str], user_names: set[str], fmt: str,
                with_tools: bool = False) -> tuple[list[Turn], str | None, tuple[int, ...]]:
    """Turns, system text and the indices of unreadable messages of a chat list (messages, ShareGPT
    conversations). ``with_tools`` reads OpenAI's tool calls and ``tool`` messages (consecutive tool
    messages become one user turn of responses, as Gemini writes parallel results)."""
    turns: list[Turn] = []
    system: str | None = None
    skipped: list[int] = []
    if not isinstance(items, list):
        wrong_type(out, file, line, top, items, "a list of messages")
        return turns, system, ()
    call_names: dict[str, str] = {}
    accepted = sorted({*system_values, *user_names, *model_names} | ({"tool"} if with_tools else set()))
    for i, msg in enumerate(items):
        field = f"{top}[{i}]"
        if not isinstance(msg, dict):
            wrong_type(out, file, line, field, msg, f'an object {{"{role_key}": ..., "{text_key}": ...}}')
            skipped.append(i)
            continue
        if not msg.keys() <= allowed:
            for key in msg.keys() - allowed:
                here = "the ShareGPT layout" if role_key == "from" else "the OpenAI/HF messages layout"
                out.append(emit("SW102", f"unknown field {key!r} in a message.", f'A {fmt} message holds "{role_key}" and "{text_key}".' + key_elsewhere(key, here), file, line, field=f"{field}.{key}"))
        role = msg.get(role_key)
        content = msg.get(text_key)
        calls: list[Part] = []
        reported = len(out)
        if with_tools and role == "tool":
            call_id = msg.get("tool_call_id")
            if call_id is None:
                missing(out, file, line, f"{field}.tool_call_id", "field 'tool_call_id'", "A tool message answers one call: give the id of the assistant's tool call it answers.")
            if content is None:
                missing(out, file, line, f"{field}.{text_key}", f"field {text_key!r}", "Give the tool's result as the content.")
                content = ""
            name = call_names.get(call_id) if isinstance(call_id, str) else None
            part = tools.read_openai_result(content, call_id, name or (msg["name"] if isinstance(msg.get("name"), str) else None))
            if turns and turns[-1].role == USER and turns[-1].parts and all(p.function_response is not None for p in turns[-1].parts):
                turns[-1].parts.append(part)  # parallel results: one turn, as Gemini writes them
            else:
                turns.append(Turn(role=USER, parts=[part], index=i))
            continue
        if with_tools and "tool_calls" in msg:
            calls = tools.read_openai_calls(msg["tool_calls"], out, file, line, f"{field}.tool_calls")
            for p in calls:
                assert p.function_call is not None
                if p.function_call.id:
                    call_names[p.function_call.id] = p.function_call.name
        if content is None:
            if calls or (with_tools and "tool_calls" in msg):
                content = []
            else:
                missing(out, file, line, f"{field}.{text_key}", f"field {text_key!r}")
                content = ""
        parts = (_message_content(content, out, file, line, f"{field}.{text_key}") or []) if content != [] else []
        if calls:
            parts = [p for p in parts if p.text is None or p.text] + calls  # "content": "" beside tool calls is no text part
        if len(out) > reported and not any(p.rendered() or p.file_uri for p in parts):
            skipped.append(i)  # its content was unreadable and is reported: the turn is not "empty" too
        if role is None or not isinstance(role, str):
            if role is None:
                missing(out, file, line, f"{field}.{role_key}", f"field {role_key!r}")
            else:
                wrong_type(out, file, line, f"{field}.{role_key}", role, "a string")
            turns.append(Turn(role=MODEL if len(turns) % 2 else USER, parts=parts, index=i))  # guessed from the position
            continue
        if role in system_values:
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
            mapped = _map_role(role, out, file, line, f"{field}.{role_key}", f"{fmt} accepts {', '.join(accepted)}.")
        turn = Turn(role=mapped, parts=parts, index=i)
        if "weight" in msg:
            turn.weight = _weight(msg, mapped, out, file, line, field)
        if isinstance(msg.get("name"), str):
            turn.name = msg["name"]
        turns.append(turn)
    return turns, system, tuple(skipped)


def parse_messages(obj: dict, file: str, line: int, out: Out) -> Conversation | None:
    if obj.get("messages") is None:
        missing(out, file, line, "messages", "field 'messages'", 'A chat example is {"messages": [{"role": "user", "content": ...}, {"role": "assistant", ...}]}.')
        return None
    if not isinstance(obj["messages"], list):
        wrong_type(out, file, line, "messages", obj["messages"], "a list of messages")
        return None
    turns, system, skipped = _parse_chat(obj["messages"], out, file, line, "messages", "role", "content", MESSAGE_KEYS, _MESSAGES_SYSTEM,
                                         {"assistant"}, {"user"}, "messages", with_tools=True)
    declared = tools.read_openai_tools(obj["tools"], out, file, line) if "tools" in obj else None
    meta = {k: v for k, v in obj.items() if k != "messages" and k != "tools"} if len(obj) > 1 else {}
    return Conversation(turns=turns, system=system, meta=meta, tools=declared, skipped=skipped)


def emit_messages(c: Conversation) -> dict[str, Any]:
    """OpenAI chat messages; tool calls get ids (their own, else ``call_N``) that their results refer to."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": c.system}] if c.system else []
    pending: dict[str, list[str]] = {}  # function name -> ids of its calls not yet answered
    n_calls = 0
    for t in c.turns:
        if t.role == MODEL:
            texts = [p for p in t.parts if p.function_call is None]
            msg: dict[str, Any] = {"role": "assistant", "content": _message_body(texts) if texts else None}
            calls = []
            for p in t.parts:
                if p.function_call is not None:
                    n_calls += 1
                    call_id = p.function_call.id or f"call_{n_calls}"
                    pending.setdefault(p.function_call.name, []).append(call_id)
                    calls.append(tools.write_openai_call(p.function_call, call_id))
            if calls:
                msg["tool_calls"] = calls
            if t.weight is not None:
                msg["weight"] = int(t.weight)
            if t.name is not None:
                msg["name"] = t.name
            messages.append(msg)
            continue
        others: list[Part] = []
        for p in t.parts:
            resp = p.function_response
            if resp is None:
                others.append(p)
                continue
            waiting = pending.get(resp.name) or []
            call_id = resp.id or (waiting[0] if waiting else f"call_{resp.name}")
            if call_id in waiting:
                waiting.remove(call_id)
            messages.append({"role": "tool", "tool_call_id": call_id, "content": tools.openai_result_content(resp)})
        if others or not t.parts:
            msg = {"role": "user", "content": _message_body(others)}
            if t.name is not None:
                msg["name"] = t.name
            messages.append(msg)
    obj: dict[str, Any] = {"messages": messages}
    if c.tools:
        obj["tools"] = tools.write_openai_tools(c.tools)
    return obj


def _message_body(parts: list[Part]) -> str | list[dict[str, Any]]:
    if all(p.text is not None for p in parts):
        return "\n".join(p.text for p in parts if p.text is not None)
    return [{"type": "text", "text": p.text} if p.text is not None else {"type": "image_url", "image_url": {"url": p.file_uri}} for p in parts]


def parse_sharegpt(obj: dict, file: str, line: int, out: Out) -> Conversation | None:
    if obj.get("conversations") is None:
        missing(out, file, line, "conversations", "field 'conversations'", 'A ShareGPT example is {"conversations": [{"from": "human", "value": ...}, {"from": "gpt", ...}]}.')
        return None
    turns, system, skipped = _parse_chat(obj["conversations"], out, file, line, "conversations", "from", "value", SHAREGPT_KEYS, frozenset({"system"}),
                                         {"gpt", "assistant", "model"}, {"human", "user"}, "sharegpt")
    meta = {k: v for k, v in obj.items() if k not in ("conversations", "system")}
    top_system = obj.get("system")
    if isinstance(top_system, str) and top_system:
        system = f"{top_system}\n{system}" if system else top_system
    return Conversation(turns=turns, system=system, meta=meta, skipped=skipped)


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
        turns, sys2, _ = _parse_chat(prompt, out, file, line, "prompt", "role", "content", MESSAGE_KEYS, _MESSAGES_SYSTEM, {"assistant"}, {"user"}, "messages", with_tools=True)
        system = system or sys2
    else:
        text = _text_field(obj, "prompt", out, file, line, "prompt")
        if text is not None:
            turns.append(Turn.of(USER, text))
    if isinstance(completion, list):
        more, _, _ = _parse_chat(completion, out, file, line, "completion", "role", "content", MESSAGE_KEYS, _MESSAGES_SYSTEM, {"assistant"}, {"user"}, "messages", with_tools=True)
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
                wrong_type(out, file, line, f"history[{i}]", pair, '["user text", "model text"]')
    elif history is not None:
        wrong_type(out, file, line, "history", history, "a list of [user, model] pairs")
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
