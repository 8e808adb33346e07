"""A conversation as the chat messages a Hugging Face chat template renders, tool calls included.

Tool calls go in as ``{"type": "function", "function": {"name", "arguments": {...}}}`` (a dict, as
templates expect), results as ``{"role": "tool", "content": ..., "name": ...}``, declarations as the
``tools`` argument of ``apply_chat_template``. Templates differ in what they render, and one that
ignores tools would train the model on conversations with the calls silently missing, so
:func:`check_renders_tools` renders the example once and raises, naming the fix, when a call, a
result or a declaration is not in the text.

``CHATML_TOOLS_TEMPLATE`` is ChatML with tools in the Qwen2.5 style (declarations in the system
turn inside ``<tools>``, calls as ``<tool_call>`` JSON, results as ``tool`` turns), for models whose
own template has no tool support (SmolLM2's, for one).
"""

from __future__ import annotations

import json
from typing import Any

from sftwise.conversation import MODEL, Conversation
from sftwise.errors import ParameterError
from sftwise.formats.tools import openai_result_content, write_openai_tools

CHATML_TOOLS_TEMPLATE = (
    "{%- if tools -%}"
    "{{ '<|im_start|>system\\n' }}{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\\n\\n' }}{% endif %}"
    "{{ '# Tools\\n<tools>\\n' }}{% for tool in tools %}{{ tool | tojson }}{{ '\\n' }}{% endfor %}{{ '</tools><|im_end|>\\n' }}"
    "{%- elif messages[0]['role'] == 'system' -%}"
    "{{ '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}{% if message.get('content') %}{{ message['content'] }}{% endif %}"
    "{% for call in message.get('tool_calls') or [] %}{{ '<tool_call>\\n' }}"
    "{{ {'name': call['function']['name'], 'arguments': call['function']['arguments']} | tojson }}{{ '\\n</tool_call>' }}{% endfor %}"
    "{{ '<|im_end|>\\n' }}"
    "{%- elif message['role'] == 'tool' -%}"
    "{{ '<|im_start|>tool\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- elif message['role'] != 'system' -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


def has_tools(conversation: Conversation) -> bool:
    return bool(conversation.tools) or any(p.is_tool for t in conversation.turns for p in t.parts)


def chat_messages(conversation: Conversation) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None, list[bool]]:
    """(messages, tools for ``apply_chat_template``, whether each message is trained on).

    A message is trained on when it is the model's and its ``weight`` is not 0; tool results, like
    user turns, are not.
    """
    messages: list[dict[str, Any]] = []
    trained: list[bool] = []
    if conversation.system:
        messages.append({"role": "system", "content": conversation.system})
        trained.append(False)
    for turn in conversation.turns:
        texts = [p.text for p in turn.parts if p.text is not None]
        if turn.role == MODEL:
            msg: dict[str, Any] = {"role": "assistant", "content": "\n".join(texts)}
            calls = [{"type": "function", "function": {"name": p.function_call.name, "arguments": p.function_call.args}}
                     for p in turn.parts if p.function_call is not None]
            if calls:
                msg["tool_calls"] = calls
            messages.append(msg)
            trained.append(turn.weight != 0)
            continue
        for p in turn.parts:
            if p.function_response is not None:
                messages.append({"role": "tool", "name": p.function_response.name, "content": openai_result_content(p.function_response)})
                trained.append(False)
        if texts or not any(p.is_tool for p in turn.parts):
            messages.append({"role": "user", "content": "\n".join(texts)})
            trained.append(False)
    tools = write_openai_tools(conversation.tools) if conversation.tools else None
    return messages, tools, trained


def check_renders_tools(tokenizer: Any, model_name: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> None:
    """Raise when the chat template cannot render this tool-calling example faithfully."""
    fix = ("Pass a template that renders tools: chat_template='chatml-tools' (ChatML with Qwen2.5-style tool calls), "
           "or the Jinja file of a model family with tool support.")
    try:
        text = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)
    except Exception as exc:  # jinja raises many types on a message shape it does not know
        raise ParameterError("chat_template", f"the chat template of {model_name} cannot render tool calls ({type(exc).__name__}: {exc}). {fix}") from None
    wanted = [("declaration", t["function"]["name"]) for t in tools or []]
    for m in messages:
        for call in m.get("tool_calls", []):
            args = call["function"]["arguments"]
            values = [v if isinstance(v, str) else json.dumps(v) for v in args.values()]
            wanted += [("call argument", v) for v in values] or [("call", call["function"]["name"])]
        if m["role"] == "tool":
            wanted.append(("tool result", m["content"]))
    missing = [f"{kind} {value!r}" for kind, value in wanted if value not in text]
    if missing:
        raise ParameterError("chat_template", f"the chat template of {model_name} drops tool content ({', '.join(missing[:3])} not in the rendered text). {fix}")
