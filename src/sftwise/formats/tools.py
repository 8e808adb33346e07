"""Function calling in both shapes teams write it: Gemini parts and OpenAI tool calls.

Gemini: ``tools: [{"functionDeclarations": [...]}]`` at the top, ``{"functionCall": {"name", "args"}}``
parts in model turns and ``{"functionResponse": {"name", "response"}}`` parts in user (or ``function``)
turns. OpenAI: ``tools: [{"type": "function", "function": {...}}]``, assistant ``tool_calls`` whose
``arguments`` is a JSON string, and ``tool`` messages with ``tool_call_id`` and a string ``content``.

Both become :class:`~sftwise.conversation.FunctionCall` / :class:`~sftwise.conversation.FunctionResponse`
parts, and declarations one neutral dict (JSON Schema with lower-case types: Gemini's OpenAPI upper-case
types are folded on read and restored on write), so a conversion in either direction and back gives the
same record. What one shape holds and the other cannot is said by :func:`sftwise.formats.conversion_losses`.
"""

from __future__ import annotations

from typing import Any

import orjson

from sftwise.conversation import FunctionCall, FunctionResponse, Part
from sftwise.findings import emit
from sftwise.formats.fields import Out, missing, wrong_type

_DECLARATION = '{"name": ..., "description": ..., "parameters": {"type": "OBJECT", "properties": {...}}}'


def _with_type_case(schema: Any, upper: bool) -> Any:
    """``schema`` with every ``"type"`` value in upper (Gemini, OpenAPI) or lower case (JSON Schema)."""
    if isinstance(schema, dict):
        result = {}
        for key, value in schema.items():
            if key == "type" and isinstance(value, str):
                result[key] = value.upper() if upper else value.lower()
            elif key == "type" and isinstance(value, list):
                result[key] = [(v.upper() if upper else v.lower()) if isinstance(v, str) else v for v in value]
            else:
                result[key] = _with_type_case(value, upper)
        return result
    if isinstance(schema, list):
        return [_with_type_case(v, upper) for v in schema]
    return schema


def _declaration(decl: Any, out: Out, file: str, line: int, field: str) -> dict[str, Any] | None:
    if not isinstance(decl, dict):
        wrong_type(out, file, line, field, decl, f"a function declaration {_DECLARATION}")
        return None
    if not isinstance(decl.get("name"), str) or not decl["name"]:
        missing(out, file, line, f"{field}.name", "the function's name", "Every declared function needs a name the calls refer to.")
        return None
    return _with_type_case(decl, upper=False)


def read_gemini_tools(value: Any, out: Out, file: str, line: int) -> list[dict[str, Any]] | None:
    """The declarations of a Gemini record's top-level ``tools``; other tool kinds are reported and dropped."""
    if not isinstance(value, list):
        wrong_type(out, file, line, "tools", value, '[{"functionDeclarations": [...]}]')
        return None
    decls: list[dict[str, Any]] = []
    for i, tool in enumerate(value):
        field = f"tools[{i}]"
        if not isinstance(tool, dict):
            wrong_type(out, file, line, field, tool, '{"functionDeclarations": [...]}')
            continue
        for key in tool.keys() - {"functionDeclarations"}:
            out.append(emit("SW118", f"tool kind {key!r} is not carried by sftwise and is dropped.", "Only functionDeclarations are tuned on; keep other tools out of the training file.", file, line, field=f"{field}.{key}"))
        items = tool.get("functionDeclarations")
        if items is None:
            continue
        if not isinstance(items, list):
            wrong_type(out, file, line, f"{field}.functionDeclarations", items, f"a list of {_DECLARATION}")
            continue
        for j, item in enumerate(items):
            decl = _declaration(item, out, file, line, f"{field}.functionDeclarations[{j}]")
            if decl is not None:
                decls.append(decl)
    return decls


def read_openai_tools(value: Any, out: Out, file: str, line: int) -> list[dict[str, Any]] | None:
    """The declarations of an OpenAI record's top-level ``tools``."""
    if not isinstance(value, list):
        wrong_type(out, file, line, "tools", value, '[{"type": "function", "function": {...}}]')
        return None
    decls: list[dict[str, Any]] = []
    for i, tool in enumerate(value):
        field = f"tools[{i}]"
        if not isinstance(tool, dict) or not isinstance(tool.get("function"), dict):
            wrong_type(out, file, line, field, tool, '{"type": "function", "function": {"name": ..., "parameters": {...}}}')
            continue
        if tool.get("type", "function") != "function":
            wrong_type(out, file, line, f"{field}.type", tool["type"], '"function"')
        decl = _declaration(tool["function"], out, file, line, f"{field}.function")
        if decl is not None:
            decls.append(decl)
    return decls


def write_gemini_tools(decls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"functionDeclarations": [_with_type_case(d, upper=True) for d in decls]}]


def write_openai_tools(decls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": d} for d in decls]


# ---- parts -----------------------------------------------------------------------------------------


def read_gemini_call(data: Any, out: Out, file: str, line: int, field: str) -> Part | None:
    if not isinstance(data, dict):
        wrong_type(out, file, line, field, data, '{"name": ..., "args": {...}}')
        return None
    name, args = data.get("name"), data.get("args", {})
    if not isinstance(name, str) or not name:
        missing(out, file, line, f"{field}.name", "the called function's name") if name is None else wrong_type(out, file, line, f"{field}.name", name, "a function name")
        return None
    if not isinstance(args, dict):
        wrong_type(out, file, line, f"{field}.args", args, "an object of argument values")
        args = {}
    call_id = data.get("id") if isinstance(data.get("id"), str) else None
    return Part(function_call=FunctionCall(name=name, args=args, id=call_id))


def read_gemini_response(data: Any, out: Out, file: str, line: int, field: str) -> Part | None:
    if not isinstance(data, dict):
        wrong_type(out, file, line, field, data, '{"name": ..., "response": {...}}')
        return None
    name, response = data.get("name"), data.get("response")
    if not isinstance(name, str) or not name:
        missing(out, file, line, f"{field}.name", "the name of the function that answered") if name is None else wrong_type(out, file, line, f"{field}.name", name, "a function name")
        return None
    if response is None:
        missing(out, file, line, f"{field}.response", "the function's response", 'Write "response": {...} with what the tool returned.')
        response = {}
    elif not isinstance(response, dict):
        wrong_type(out, file, line, f"{field}.response", response, "an object", 'Wrap the value: "response": {"content": ...}.')
        response = {"content": response}
    response_id = data.get("id") if isinstance(data.get("id"), str) else None
    return Part(function_response=FunctionResponse(name=name, response=response, id=response_id))


def write_gemini_part(p: Part) -> dict[str, Any]:
    """A tool part as Gemini's tuning examples write it: name and args / response, no id (calls and
    results pair by name and order there; :func:`sftwise.formats.conversion_losses` says so)."""
    if p.function_call is not None:
        return {"functionCall": {"name": p.function_call.name, "args": p.function_call.args}}
    resp = p.function_response
    assert resp is not None
    return {"functionResponse": {"name": resp.name, "response": resp.response}}


def read_openai_calls(value: Any, out: Out, file: str, line: int, field: str) -> list[Part]:
    """The parts of an assistant message's ``tool_calls`` (``arguments`` a JSON string, or an object as
    Hugging Face chat templates take it)."""
    if not isinstance(value, list):
        wrong_type(out, file, line, field, value, '[{"id": ..., "type": "function", "function": {"name": ..., "arguments": "{...}"}}]')
        return []
    parts: list[Part] = []
    for k, call in enumerate(value):
        where = f"{field}[{k}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            wrong_type(out, file, line, where, call, '{"id": ..., "type": "function", "function": {"name": ..., "arguments": "{...}"}}')
            continue
        name, arguments = fn.get("name"), fn.get("arguments", "{}")
        if not isinstance(name, str) or not name:
            missing(out, file, line, f"{where}.function.name", "the called function's name")
            continue
        text: str | None = None
        if isinstance(arguments, str):
            text = arguments
            try:
                args = orjson.loads(arguments)
            except orjson.JSONDecodeError as exc:
                out.append(emit("SW104", f"{where}.function.arguments is not valid JSON ({exc.msg}).", 'Write the arguments as a JSON object in a string: "{\\"city\\": \\"Paris\\"}".', file, line, field=f"{where}.function.arguments"))
                continue
        else:
            args = arguments
        if not isinstance(args, dict):
            wrong_type(out, file, line, f"{where}.function.arguments", args, "a JSON object of argument values")
            continue
        call_id = call.get("id")
        if call_id is not None and not isinstance(call_id, str):
            wrong_type(out, file, line, f"{where}.id", call_id, "a string")
            call_id = None
        parts.append(Part(function_call=FunctionCall(name=name, args=args, id=call_id, arguments_text=text)))
    return parts


def read_openai_result(content: Any, call_id: Any, name: str | None) -> Part:
    """A ``tool`` message as a response part; ``name`` is the called function's (found from the call id)."""
    text = content if isinstance(content, str) else None
    response: Any = None
    if text is not None:
        try:
            response = orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    if not isinstance(response, dict):  # a plain-text result (or a JSON value that is not an object) is kept as written
        response = {"content": content}
    return Part(function_response=FunctionResponse(name=name or "", response=response, id=call_id if isinstance(call_id, str) else None, content_text=text))


def write_openai_call(call: FunctionCall, call_id: str) -> dict[str, Any]:
    arguments = call.arguments_text if call.arguments_text is not None else orjson.dumps(call.args).decode()
    return {"id": call_id, "type": "function", "function": {"name": call.name, "arguments": arguments}}


def openai_result_content(resp: FunctionResponse) -> str:
    """A response as an OpenAI tool message's string: as written, or the plain-text result, or JSON."""
    if resp.content_text is not None:
        return resp.content_text
    body = resp.response
    if len(body) == 1 and isinstance(body.get("content"), str):
        text = body["content"]
        try:  # a text that is itself a JSON object would read back as that object, not as {"content": ...}
            if not isinstance(orjson.loads(text), dict):
                return text
        except orjson.JSONDecodeError:
            return text
    return orjson.dumps(body).decode()
