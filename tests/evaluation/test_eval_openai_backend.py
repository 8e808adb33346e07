"""The OpenAI-compatible generator against a fake server, through the real openai SDK: retries on
500/429/timeouts/malformed JSON, errors recorded per example, concurrency limit, the response cache."""

from __future__ import annotations

import pytest

from eval_helpers import gemini_row, write_jsonl
from fake_openai_server import FakeOpenAI
from sftwise.backends import get_generator, parse_spec
from sftwise.backends.base import GenerationParams, GenerationRequest
from sftwise.evaluate.results import read_results
from sftwise.errors import SftwiseError

pytest.importorskip("openai")


def _req(i: int, text: str) -> GenerationRequest:
    return GenerationRequest(id=str(i), messages=[{"role": "user", "content": text}])


@pytest.fixture()
def server():
    with FakeOpenAI(slow_s=1.5) as fake:
        yield fake


def test_spec_parsing():
    assert parse_spec("openai:llama3@http://localhost:8000/v1") == ("openai", "llama3", "http://localhost:8000/v1")
    assert parse_spec("gemini:gemini-2.5-flash") == ("gemini", "gemini-2.5-flash", None)
    assert parse_spec("hf:/models/x") == ("hf", "/models/x", None)
    with pytest.raises(SftwiseError, match="http"):
        parse_spec("openai:m@localhost:8000")


def test_failures_are_retried_then_recorded_per_example(server):
    gen = get_generator(f"openai:fake@{server.base_url}", concurrency=4, max_retries=2, timeout_s=0.5, backoff_s=0.01)
    texts = ["hello", "ALWAYS500 a", "FLAKY b", "RATE c", "SLOW d", "MALFORMED e", "NOCHOICES f", "BADREQ g", "world"]
    results = gen.generate([_req(i, t) for i, t in enumerate(texts)], GenerationParams(max_new_tokens=8))
    by_text = dict(zip(texts, results))
    assert [r.id for r in results] == [str(i) for i in range(len(texts))]
    assert by_text["hello"].text == "echo: hello" and by_text["world"].text == "echo: world"
    assert by_text["FLAKY b"].text == "echo: FLAKY b" and server.calls["FLAKY b"] == 3
    assert by_text["RATE c"].text == "echo: RATE c" and server.calls["RATE c"] == 2
    for bad in ("ALWAYS500 a", "SLOW d", "MALFORMED e", "NOCHOICES f"):
        assert by_text[bad].text is None and "after 3 attempts" in by_text[bad].error, by_text[bad]
        assert server.calls[bad] == 3
    assert "InternalServerError" in by_text["ALWAYS500 a"].error
    assert "Timeout" in by_text["SLOW d"].error
    assert by_text["BADREQ g"].error and server.calls["BADREQ g"] == 1  # a 400 is not retried
    assert by_text["hello"].completion_tokens == 2


def test_concurrency_limit_is_respected(server):
    gen = get_generator(f"openai:fake@{server.base_url}", concurrency=3, max_retries=0)
    results = gen.generate([_req(i, f"q{i}") for i in range(24)], GenerationParams())
    assert all(r.text == f"echo: q{i}" for i, r in enumerate(results))
    assert 1 < server.max_in_flight <= 3


def test_eval_cli_through_server_with_cache_and_resume(server, tmp_path):
    from typer.testing import CliRunner

    from sftwise.cli import app

    rows = [gemini_row(f"question {i}", f"echo: question {i}") for i in range(6)] + [gemini_row("ALWAYS500 please", "x")]
    data = write_jsonl(tmp_path / "test.jsonl", rows)
    cache = tmp_path / "cache.sqlite"
    args = ["eval", "--model", f"openai:fake@{server.base_url}", "--data", str(data), "--metrics", "exact_match", "--max-retries", "1",
            "--cache", str(cache), "--resamples", "50"]
    first = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "r1")])
    assert first.exit_code == 0, first.output
    read = read_results(tmp_path / "r1")
    summary, preds = read.summary, read.predictions
    # the failed request is not a wrong answer: the metric is over the 6 that came back, the failure beside it
    assert summary.n_errors == 1 and summary.metrics["exact_match"].value == 1.0 and summary.metrics["exact_match"].n == 6
    assert preds[-1].error and preds[-1].scores["exact_match"] is None
    assert "1 of 7 generations failed" in " ".join(first.output.split())
    calls_before = sum(server.calls.values())
    second = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "r2")])
    assert second.exit_code == 0, second.output
    summary2 = read_results(tmp_path / "r2").summary
    # the six answers came from the cache; only the failed request went to the server again (twice: 1 retry)
    assert summary2.settings["cache_hits"] == 6
    assert sum(server.calls.values()) - calls_before == 2


def test_interrupted_run_resumes_from_cache(server, tmp_path):
    from sftwise.backends.cache import CachedGenerator, ResponseCache

    gen = get_generator(f"openai:fake@{server.base_url}", concurrency=2, max_retries=0)

    class Interrupting:
        name = gen.name

        def __init__(self):
            self.batches = 0

        def generate(self, requests, params):
            self.batches += 1
            if self.batches == 3:
                raise KeyboardInterrupt
            return gen.generate(requests, params)

    requests = [_req(i, f"item {i}") for i in range(20)]
    cache = ResponseCache(tmp_path / "c.sqlite")
    with pytest.raises(KeyboardInterrupt):
        CachedGenerator(Interrupting(), cache, chunk_size=4).generate(requests, GenerationParams())
    assert len(cache) == 8  # two chunks were committed before the interruption
    before = sum(server.calls.values())
    resumed = CachedGenerator(gen, cache, chunk_size=4)
    results = resumed.generate(requests, GenerationParams())
    assert [r.text for r in results] == [f"echo: item {i}" for i in range(20)]
    assert resumed.hits == 8 and sum(server.calls.values()) - before == 12
    # different params are a different key
    assert CachedGenerator(gen, cache).generate(requests[:1], GenerationParams(temperature=0.5))[0].cached is False


def test_backends_and_cli_import_no_sdk_or_torch():
    import subprocess
    import sys

    code = (
        "import sys, sftwise.backends, sftwise.cli.eval_cmds, sftwise.evaluate.results;"
        "heavy = [m for m in ('torch', 'openai', 'google.genai', 'transformers', 'sacrebleu', 'sklearn') if m in sys.modules];"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_retry_after_is_waited_for():
    """The server asks for 2 s; the exponential backoff alone (0.01 s) would retry at once."""
    import time

    with FakeOpenAI(retry_after="2") as fake:
        gen = get_generator(f"openai:fake@{fake.base_url}", max_retries=2, backoff_s=0.01)
        result = gen.generate([_req(0, "WAIT a")], GenerationParams(max_new_tokens=4))[0]
    assert result.text == "echo: WAIT a" and fake.calls["WAIT a"] == 2
    first, second = fake.times["WAIT a"]
    assert second - first >= 1.9


def test_retry_after_is_capped(monkeypatch):
    """An HTTP-date an hour ahead is honoured only up to RETRY_AFTER_MAX_S (a small cap here)."""
    from email.utils import formatdate
    import time

    import sftwise.errors as errors

    monkeypatch.setattr(errors, "RETRY_AFTER_MAX_S", 0.5)
    with FakeOpenAI(retry_after=formatdate(time.time() + 3600, usegmt=True)) as fake:
        gen = get_generator(f"openai:fake@{fake.base_url}", max_retries=2, backoff_s=0.01)
        started = time.monotonic()
        result = gen.generate([_req(0, "WAIT b")], GenerationParams(max_new_tokens=4))[0]
    assert result.text == "echo: WAIT b"
    assert 0.4 <= time.monotonic() - started < 5


def test_retry_after_parsing():
    from types import SimpleNamespace

    from sftwise.errors import RETRY_AFTER_MAX_S, retry_after_seconds

    def exc(headers):
        return SimpleNamespace(response=SimpleNamespace(headers=headers))

    assert retry_after_seconds(exc({"retry-after": "3"})) == 3.0
    assert retry_after_seconds(exc({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert retry_after_seconds(exc({"retry-after": "99999"})) == RETRY_AFTER_MAX_S
    assert retry_after_seconds(exc({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0  # in the past
    assert retry_after_seconds(exc({"retry-after": "soon"})) is None
    assert retry_after_seconds(exc({})) is None and retry_after_seconds(ValueError()) is None


def test_an_echoed_api_key_is_redacted_from_stored_errors(tmp_path, monkeypatch):
    from sftwise.evaluate.runner import evaluate

    key = "sk-test-SECRET-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    data = write_jsonl(tmp_path / "t.jsonl", [gemini_row("ECHOKEY please", "x"), gemini_row("hello", "echo: hello")])
    with FakeOpenAI() as fake:
        evaluate(output=tmp_path / "out", model=f"openai:fake@{fake.base_url}", data=data, metrics="exact_match", cache=False)
    stored = (tmp_path / "out" / "predictions.jsonl").read_text(encoding="utf-8")
    assert "Incorrect API key provided: [redacted]" in stored
    assert key not in stored and "SECRET-0123" not in stored


def test_eval_exits_1_when_every_request_failed_and_a_rerun_retries_them(tmp_path):
    """60/60 HTTP 401 is not a score of 0: exit 1, no metric; once the server is fixed the same
    command sends exactly the failed requests again and scores them."""
    from typer.testing import CliRunner

    from sftwise.cli import app

    data = write_jsonl(tmp_path / "test.jsonl", [gemini_row(f"question {i}", f"echo: question {i}") for i in range(5)])
    with FakeOpenAI() as fake:
        fake.fail_status = 401
        args = ["eval", "--model", f"openai:fake@{fake.base_url}", "--data", str(data), "--metrics", "exact_match",
                "--cache", str(tmp_path / "cache.sqlite"), "--resamples", "20", "-o", str(tmp_path / "r")]
        first = CliRunner().invoke(app, args)
        assert first.exit_code == 1, first.output
        assert "every generation failed" in first.output and "401" in first.output and "Traceback" not in first.output
        summary = read_results(tmp_path / "r").summary
        assert summary.n_errors == 5 and summary.metrics == {}
        fake.fail_status = None
        sent = sum(fake.calls.values())
        second = CliRunner().invoke(app, args)
        assert second.exit_code == 0, second.output
        assert sum(fake.calls.values()) - sent == 5
    summary = read_results(tmp_path / "r").summary
    assert summary.n_errors == 0 and summary.metrics["exact_match"].value == 1.0
