"""Turning conversations into training rows: chat template, assistant-only labels, length policy, batches.

Kept apart from the recipe (``local.py``) so the benchmark and the tests can build exactly the rows
the recipe trains on, and so the label masking can be inspected on its own.

Assistant-only masking works on characters, not on template markup: for every model turn ``i`` we
render ``messages[:i]`` with the generation prompt and ``messages[:i+1]`` without it; the characters
between the two renderings are the model turn's content *and its end-of-turn marker*, so the model
learns to stop. Trailing whitespace after the marker (ChatML's newline) is not trained. The
character spans are mapped onto tokens with the fast tokenizer's offset mapping. This works for any
chat template whose rendering of a prefix of the conversation is a prefix of the rendering of the
whole (true of Llama, Mistral, Gemma, Qwen2.5, ChatML and our tiny models); when a template breaks
that (for example one that strips earlier reasoning), we fall back to its ``{% generation %}`` mask
and raise a clear error when it has none. No all-zero masks are ever trained on silently: an example
with no loss-bearing token is counted and reported.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftwise.conversation import Conversation, Dataset
from sftwise.errors import ParameterError, SftwiseError
from sftwise.formats import load
from sftwise.train.chat_messages import CHATML_TOOLS_TEMPLATE, chat_messages, check_renders_tools, has_tools

IGNORE_INDEX = -100

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
NAMED_TEMPLATES = {"chatml": CHATML_TEMPLATE, "chatml-tools": CHATML_TOOLS_TEMPLATE}


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    source: str = ""
    mask: str = "prefix"  # how the labels were found: "prefix" renderings, or the template's "generation" blocks

    @property
    def n_loss_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE_INDEX)


@dataclass
class PreparedSplit:
    """Rows of one split plus what happened on the way (never silent)."""

    name: str
    examples: list[Example]
    total: int
    overlong: int = 0
    truncated: int = 0
    dropped_overlong: int = 0
    dropped_no_target: int = 0
    max_tokens: int = 0
    overlong_sources: list[str] = field(default_factory=list)
    file_parts_dropped: int = 0  # images, audio, PDFs: the local trainer tunes text models
    examples_with_files: int = 0

    def report(self) -> dict[str, Any]:
        return {
            "split": self.name,
            "examples_read": self.total,
            "examples_used": len(self.examples),
            "overlong": self.overlong,
            "truncated": self.truncated,
            "dropped_overlong": self.dropped_overlong,
            "dropped_no_target": self.dropped_no_target,
            "longest_tokens": self.max_tokens,
            "overlong_examples": self.overlong_sources[:20],
            "file_parts_dropped": self.file_parts_dropped,
        }


def load_conversations(path: str | Path, format: str | None = None) -> Dataset:
    """The conversations of a data file in any supported format, as the audit reads them
    (:func:`sftwise.formats.load`: a missing file or error-level findings raise)."""
    return load(path, format)


def ensure_chat_template(tokenizer: Any, model_name: str, chat_template: str | None = None) -> None:
    """Install ``chat_template`` (text, file path or a name like 'chatml') or check the tokenizer has one."""
    if chat_template:
        text = NAMED_TEMPLATES.get(chat_template)
        if text is None:
            candidate = Path(chat_template)
            text = candidate.read_text(encoding="utf-8") if candidate.exists() and len(chat_template) < 4096 else chat_template
        tokenizer.chat_template = text
        if "<|im_end|>" in text and tokenizer.convert_tokens_to_ids("<|im_end|>") in (None, tokenizer.unk_token_id):
            tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    if not getattr(tokenizer, "chat_template", None):
        raise ParameterError(
            "chat_template",
            f"the tokenizer of {model_name} has no chat template, so sftwise cannot tell user turns from model turns. "
            "Pass one: 'chatml' (a ChatML template; adds <|im_start|>/<|im_end|>), or the path of a Jinja file, "
            "e.g. the template of the instruct variant of this model.",
        )
    if not getattr(tokenizer, "is_fast", False):
        raise SftwiseError(f"the tokenizer of {model_name} is a slow tokenizer; sftwise needs a fast one (offset mapping) for assistant-only masking")


def encode_conversation(tokenizer: Any, conversation: Conversation) -> Example:
    """Token ids and labels: loss on model turns (content, tool calls + end-of-turn marker) only;
    tool results are masked like user turns, and a model turn with weight 0 is not trained on."""
    messages, tools, trained = chat_messages(conversation)
    if has_tools(conversation):
        check_renders_tools(tokenizer, getattr(tokenizer, "name_or_path", "") or "this model", messages, tools)
    full = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)
    spans: list[tuple[int, int]] = []
    consistent = True
    for i, message in enumerate(messages):
        if not trained[i]:
            continue
        prefix = tokenizer.apply_chat_template(messages[:i], tools=tools, tokenize=False, add_generation_prompt=True) if i else ""
        upto = tokenizer.apply_chat_template(messages[: i + 1], tools=tools, tokenize=False)
        if not (full.startswith(upto) and upto.startswith(prefix)):
            consistent = False
            break
        end = len(upto.rstrip())
        spans.append((len(prefix), end))
    if not consistent:
        if not all(trained[i] for i, m in enumerate(messages) if m["role"] == "assistant"):
            raise ParameterError("chat_template", "this chat template renders earlier turns differently once later turns are added, so assistant messages "
                                 "with weight 0 cannot be left out of the loss; pass 'chatml' (or 'chatml-tools').")
        return _encode_with_generation_mask(tokenizer, messages, tools)
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = [IGNORE_INDEX] * len(ids)
    for j, (start, stop) in enumerate(enc["offset_mapping"]):
        if stop <= start:
            continue
        for a, b in spans:
            if a <= start < b:
                labels[j] = ids[j]
                break
    return Example(ids, labels)


_GENERATION_BLOCK = re.compile(r"{%-?\s*generation\s*-?%}")


def has_generation_markers(template: str | None) -> bool:
    """Whether a chat template wraps model turns in ``{% generation %}`` blocks (``add_generation_prompt``,
    which every template mentions, is not one: a substring test would take it for a marker)."""
    return bool(_GENERATION_BLOCK.search(template or ""))


def _encode_with_generation_mask(tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> Example:
    if not has_generation_markers(tokenizer.chat_template):
        raise ParameterError(
            "chat_template",
            "the chat template renders earlier turns differently once later turns are added, and has no {% generation %} "
            "markers, so the model turns cannot be located; pass 'chatml' or a template with {% generation %} blocks.",
        )
    out = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids = list(out["input_ids"])
    mask = list(out["assistant_masks"])
    return Example(ids, [t if m else IGNORE_INDEX for t, m in zip(ids, mask)], mask="generation")


def _encode_record(tokenizer: Any, record: Any) -> Example:
    """:func:`encode_conversation` with a template that raises on the example (one that refuses a
    system role, say) turned into a clear error naming the example, not a Jinja traceback."""
    from jinja2 import TemplateError

    try:
        return encode_conversation(tokenizer, record.conversation)
    except TemplateError as exc:
        raise SftwiseError(
            f"{record.source}: the chat template fails on this example ({exc}). Change the data (e.g. merge the system "
            "instruction into the first user turn) or pass another template (chat_template); `sftwise inspect` lists every such example."
        ) from None


def prepare_split(
    name: str, dataset: Dataset, tokenizer: Any, max_length: int, overlong: str = "error"
) -> PreparedSplit:
    """Encode every record, apply the over-length policy, count everything that was changed or dropped."""
    out = PreparedSplit(name=name, examples=[], total=len(dataset))
    for record in dataset:
        files = sum(1 for t in record.conversation.turns for p in t.parts if p.file_uri is not None)
        if files:
            out.file_parts_dropped += files
            out.examples_with_files += 1
        ex = _encode_record(tokenizer, record)
        ex.source = str(record.source)
        out.max_tokens = max(out.max_tokens, len(ex.input_ids))
        if len(ex.input_ids) > max_length:
            out.overlong += 1
            out.overlong_sources.append(f"{record.source} ({len(ex.input_ids)} tokens)")
            if overlong == "drop":
                out.dropped_overlong += 1
                continue
            if overlong == "truncate":
                out.truncated += 1
                ex = Example(ex.input_ids[:max_length], ex.labels[:max_length], ex.source)
        if ex.n_loss_tokens == 0:
            out.dropped_no_target += 1
            continue
        out.examples.append(ex)
    return out


# -- batching -------------------------------------------------------------------------------------


@dataclass
class Batch:
    input_ids: Any
    labels: Any
    attention_mask: Any | None
    position_ids: Any | None
    n_loss_tokens: int
    n_tokens: int


def pack(examples: Sequence[Example], max_length: int, pad_id: int) -> list[Example]:
    """Greedy first-fit packing into rows of at most ``max_length`` tokens (an example is never split).

    The position ids restart at 0 for each example; transformers turns that into a block-diagonal
    attention mask (``masking_utils.find_packed_sequence_indices``), so packed examples do not attend
    to one another. Rows are stored as Examples whose ``source`` lists the packed lengths.
    """
    rows: list[list[Example]] = []
    room: list[int] = []
    for ex in sorted(examples, key=lambda e: -len(e.input_ids)):
        n = len(ex.input_ids)
        for k, free in enumerate(room):
            if free >= n:
                rows[k].append(ex)
                room[k] -= n
                break
        else:
            rows.append([ex])
            room.append(max_length - n)
    packed = []
    for row in rows:
        ids, labels, lengths = [], [], []
        for ex in row:
            ids += ex.input_ids
            labels += ex.labels
            lengths.append(len(ex.input_ids))
        packed.append(Example(ids, labels, source=",".join(map(str, lengths))))
    return packed


def batch_order(examples: Sequence[Example], batch_size: int, mode: str, rng: random.Random) -> list[list[int]]:
    """Index batches for one epoch: shuffled; length-grouped sorts within megabatches of 50 batches."""
    idx = list(range(len(examples)))
    rng.shuffle(idx)
    if mode == "length_grouped":
        mega = batch_size * 50
        grouped = []
        for start in range(0, len(idx), mega):
            chunk = sorted(idx[start : start + mega], key=lambda i: -len(examples[i].input_ids))
            grouped += chunk
        idx = grouped
    batches = [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
    if mode == "length_grouped":
        rng.shuffle(batches)
    return batches


def collate(examples: Sequence[Example], pad_id: int, packed: bool = False) -> Batch:
    """Right-pad to the longest row; labels of padding are IGNORE_INDEX."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    positions = torch.zeros((len(examples), width), dtype=torch.long) if packed else None
    for row, ex in enumerate(examples):
        n = len(ex.input_ids)
        ids[row, :n] = torch.tensor(ex.input_ids)
        labels[row, :n] = torch.tensor(ex.labels)
        mask[row, :n] = 1
        if packed:
            pos: list[int] = []
            for length in (int(x) for x in ex.source.split(",")):
                pos += list(range(length))
            pos += list(range(width - n))  # the padding tail is a separate "sequence"
            positions[row] = torch.tensor(pos)
    n_loss = int((labels != IGNORE_INDEX).sum())
    return Batch(ids, labels, None if packed else mask, positions, n_loss, int(mask.sum()))


def iter_batches(examples: Sequence[Example], order: list[list[int]], pad_id: int, packed: bool) -> Iterator[Batch]:
    for indices in order:
        yield collate([examples[i] for i in indices], pad_id, packed)
