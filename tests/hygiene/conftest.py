from __future__ import annotations

import json

import pytest
from hygiene_data import GSM8K


@pytest.fixture()
def gsm8k_questions() -> list[str]:
    if not GSM8K.exists():
        pytest.skip("../shared/data/gsm8k is absent")
    return [json.loads(line)["question"] for line in open(GSM8K / "train.jsonl", encoding="utf-8")]
