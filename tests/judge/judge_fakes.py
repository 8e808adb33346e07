"""Fixtures for the judge tests: real-looking results directories and a fake OpenAI-compatible judge.

The data: support-desk questions whose reference answer lists five facts; a response carries some of
them, so its latent quality is the number of facts it carries (1..5). The fake judge server speaks
the chat-completions wire protocol on 127.0.0.1 and reads the rendered judge prompt like a judge would
(the reference, the response or responses); its behaviour is chosen by the model name:

* ``good-judge``: scores = facts carried (pointwise); prefers the response with more facts (pairwise);
* ``noise-judge``: a score drawn from a hash of the prompt, unrelated to quality;
* ``biased-judge``: pairwise like ``good-judge``, but for 40 % of prompts answers "A" (the first-shown
  response) whatever it is;
* ``prose-judge`` answers in prose; ``outofscale-judge`` gives 9 on a 1..5 scale;
  ``empty-explanation-judge`` gives a right score with an empty explanation.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sftwise.evaluate.results import EvalSummary, Prediction
from sftwise.io import write_json, write_jsonl

FACTS = [
    "the order {n} shipped from the Leeds warehouse on {day}",
    "the tracking number is TRK-{n}{m}",
    "delivery normally takes {m} working days",
    "a refund is issued to the original card within {m} days",
    "the customer can change the address until {day} noon",
    "the courier leaves a card after {m} failed attempts",
    "the parcel weighs {m}.{n} kilograms",
    "support is open from 8 to {m} on weekdays",
]
QUESTIONS = [
    "Where is my order {n} and when will it arrive?",
    "I want my money back for order {n}. What happens now?",
    "Can I still change where order {n} is delivered?",
    "Nobody was home when the courier came with order {n}. What next?",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def make_items(n: int, seed: int = 0) -> list[dict]:
    """Items with a reference of five facts and the facts themselves, for building responses."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        num, m = 1000 + i, rng.randint(2, 9)
        facts = [f.format(n=num, m=m, day=rng.choice(DAYS)) for f in rng.sample(FACTS, 5)]
        items.append({"id": f"ex-{i:04d}", "question": rng.choice(QUESTIONS).format(n=num), "facts": facts,
                      "reference": ". ".join(facts) + "."})
    return items


def response_with(facts: list[str], quality: int, style: int = 0) -> str:
    lead = ["Thanks for reaching out!", "Hello, and sorry for the trouble.", "Happy to help with that."][style % 3]
    body = ". ".join(f[0].upper() + f[1:] for f in facts[:quality])
    return f"{lead} {body}."


def write_results(folder: Path, model: str, items: list[dict], qualities: list[int], style: int = 0) -> Path:
    preds = [Prediction(id=it["id"], source=f"test.jsonl:{k + 1}", system="You are a support agent for a parcel company.",
                        messages=[{"role": "user", "content": it["question"]}], reference=it["reference"],
                        prediction=response_with(it["facts"], q, style + k)) for k, (it, q) in enumerate(zip(items, qualities))]
    write_jsonl(folder / "predictions.jsonl", preds)
    write_json(folder / "summary.json", EvalSummary(model=model, data="test.jsonl", n_examples=len(preds)))
    return folder


# ------------------------------------------------------------------------------------ fake judge
def _between(text: str, start: str, end: str) -> str:
    i = text.index(start) + len(start)
    j = text.index(end, i)
    return text[i:j].strip()


def _facts_in(response: str, reference: str) -> int:
    facts = [f.strip().lower() for f in reference.rstrip(".").split(". ") if f.strip()]
    low = response.lower()
    return sum(1 for f in facts if f in low)


def _h(text: str, salt: str) -> int:
    return int(hashlib.sha256((salt + text).encode()).hexdigest()[:8], 16)


def judge_reply(model: str, prompt: str) -> str:
    if model == "prose-judge":
        return "The response is quite helpful and I would rate it highly overall."
    reference = _between(prompt, "### Reference answer\n", "\n\n## AI-generated")
    if "### Response B" in prompt:
        a = _between(prompt, "### Response A\n", "\n\n### Response B")
        b = _between(prompt, "### Response B\n", "\n\n# Output format")
        fa, fb = _facts_in(a, reference), _facts_in(b, reference)
        verdict = "A" if fa > fb else "B" if fb > fa else "SAME"
        if model == "biased-judge" and _h(prompt, "bias") % 100 < 40:
            verdict = "A"
        return json.dumps({"explanation": f"A has {fa} facts of the reference, B has {fb}.", "verdict": verdict})
    response = _between(prompt, "## AI-generated Response\n", "\n\n# Output format")
    facts = _facts_in(response, reference)
    if model == "noise-judge":
        return json.dumps({"explanation": "A considered opinion.", "score": 1 + _h(prompt, "noise") % 5})
    if model == "outofscale-judge":
        return json.dumps({"explanation": "Exceptional.", "score": 9})
    if model == "empty-explanation-judge":
        return json.dumps({"explanation": "", "score": max(1, facts)})
    return "```json\n" + json.dumps({"explanation": f"The response carries {facts} of the 5 reference facts.", "score": max(1, facts)}) + "\n```"


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this, 40 ms per reply
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        return

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self.path.endswith("/chat/completions"):
            self.send_error(404)
            return
        prompt = body["messages"][-1]["content"]
        text = judge_reply(body["model"], prompt)
        self.server.calls += 1  # type: ignore[attr-defined]
        payload = {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                      "total_tokens": len(prompt.split()) + len(text.split())},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="session")
def judge_server():
    """Base URL of the fake judge (``http://127.0.0.1:PORT/v1``); ``.calls`` counts requests."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.calls = 0  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


def spec(server, model: str) -> str:
    return f"openai:{model}@{server.base_url}"


class FakeGenerator:
    """An in-process judge (no HTTP) with the same behaviour, for unit tests."""

    def __init__(self, model: str = "good-judge") -> None:
        self.model = model
        self.name = f"fake:{model}"
        self.calls = 0

    def generate(self, requests, params):
        from sftwise.backends.base import GenerationResult

        self.calls += len(requests)
        out = []
        for r in requests:
            text = judge_reply(self.model, r.messages[-1]["content"])
            out.append(GenerationResult(id=r.id, text=text, prompt_tokens=len(r.messages[-1]["content"].split()), completion_tokens=len(text.split())))
        return out


def qualities(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.choice([1, 2, 3, 3, 4, 4, 5]) for _ in range(n)]

