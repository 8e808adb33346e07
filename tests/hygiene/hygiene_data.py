"""Record builders shared by the hygiene tests (a module of its own: each test folder's ``conftest``
is a different module of the same name, so tests import helpers from here)."""

from __future__ import annotations

import json
from pathlib import Path

GSM8K = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "gsm8k"


def write_gemini(path: Path, pairs: list[tuple[str, str]], system: str | None = None, meta: list[dict] | None = None) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for k, (q, a) in enumerate(pairs):
            row: dict = {"contents": [{"role": "user", "parts": [{"text": q}]}, {"role": "model", "parts": [{"text": a}]}]}
            if system:
                row["systemInstruction"] = {"parts": [{"text": system}]}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


_WORDS = ("apple river mountain quickly yellow engine garden silver window planet coffee basket orange violin castle "
          "thunder pencil marble forest rocket candle bridge pirate dragon tomato jacket ladder mirror pepper saddle "
          "tunnel velvet walnut zipper anchor bucket cactus donkey eagle falcon glacier harbor island jungle kettle "
          "lantern meadow needle oyster parrot quartz rabbit shadow teapot umbrella valley wagon yogurt zebra blanket "
          "cherry dolphin feather giraffe hammer igloo jigsaw koala lemon magnet noodle ocean puzzle quilt ribbon").split()


def diverse(n: int, seed: int = 0, words: int = 12) -> list[str]:
    """``n`` distinct sentences of random words: pairwise Jaccard far below any dedup threshold."""
    import random

    rng = random.Random(seed)
    return [" ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + f" number {i}?" for i in range(n)]
