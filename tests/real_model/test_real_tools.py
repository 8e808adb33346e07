"""A tool-calling dataset on SmolLM2-135M-Instruct: its own template cannot render tools (a clear
error naming the fix), and with 'chatml-tools' a short LoRA run trains on the calls."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.real_model]

CITIES = ["Paris", "Rome", "Oslo", "Lima", "Kyiv", "Riga", "Bern", "Nice"]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def _record(i: int, city: str) -> dict:
    call = {"id": f"call_{i}", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}
    return {"messages": [{"role": "user", "content": f"What is the weather in {city}?"},
                         {"role": "assistant", "content": None, "tool_calls": [call]},
                         {"role": "tool", "tool_call_id": f"call_{i}", "content": json.dumps({"temp_c": 10 + i})},
                         {"role": "assistant", "content": f"It is {10 + i} C in {city}."}], "tools": TOOLS}


def test_smollm2_template_is_refused_and_chatml_tools_trains(real_model, tmp_path: Path) -> None:
    from sftwise.errors import ParameterError
    from sftwise.formats import read
    from sftwise.models import load_tokenizer
    from sftwise.train.data import encode_conversation

    (tmp_path / "tools.jsonl").write_text("".join(json.dumps(_record(i, c)) + "\n" for i, c in enumerate(CITIES)))
    conversation = read(tmp_path / "tools.jsonl").dataset[0].conversation
    with pytest.raises(ParameterError, match="chatml-tools"):
        encode_conversation(load_tokenizer(real_model), conversation)  # SmolLM2's template has no tool support

    proc = subprocess.run([sys.executable, "-m", "sftwise", "train", "--model", real_model, "--train", "tools.jsonl", "--run-dir", "run",
                           "--epochs", "1", "--rank", "4", "--lr", "1e-3", "--batch-size", "8", "--max-length", "192",
                           "--chat-template", "chatml-tools", "--json", "train.json"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "train.json").read_text())
    points = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [p["loss"] for p in points if p.get("split") == "train" and p.get("loss") is not None]
    assert losses and all(0 < loss < 20 for loss in losses), losses  # finite losses on the tool-call and answer tokens
    report = result["data_report"][0]
    assert report["examples_used"] == len(CITIES) and report["dropped_no_target"] == 0 and result["checkpoints"]
