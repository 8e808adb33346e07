"""Gemini as a Generator (base model and tuned endpoint) and the tuning cost estimate."""

from __future__ import annotations

import json

import pytest
from vertex_data import LOCATION, PROJECT

from sftwise.backends.base import GenerationParams, GenerationRequest, Generator
from sftwise.gemini.cost import estimate_tuning_cost, load_prices
from sftwise.errors import SftwiseError


def req(i: int, text: str = "Where is order 5?") -> GenerationRequest:
    return GenerationRequest(id=str(i), system="Route tickets.", messages=[{"role": "user", "content": text}])


def test_base_model_request_carries_the_system_instruction_and_params(emulator, genai_client):
    from sftwise.backends.gemini import GeminiGenerator

    gen = GeminiGenerator("gemini-2.5-flash", client=genai_client, concurrency=2)
    assert isinstance(gen, Generator) and gen.name == "gemini:gemini-2.5-flash"
    params = GenerationParams(max_new_tokens=64, temperature=0.0, top_p=1.0, stop=["\n\n"], seed=7)
    results = gen.generate([req(0), req(1, "second")], params)
    assert [r.id for r in results] == ["0", "1"]
    assert results[0].text == "[gemini-2.5-flash] Where is order 5?" and results[1].text == "[gemini-2.5-flash] second"
    assert results[0].prompt_tokens == 6 and results[0].completion_tokens == 5
    bodies = emulator.bodies("POST", "publishers/google/models/gemini-2.5-flash:generateContent")
    body = next(b for b in bodies if b["contents"][0]["parts"][0]["text"] == "Where is order 5?")
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": "Where is order 5?"}]}],
        "systemInstruction": {"role": "user", "parts": [{"text": "Route tickets."}]},
        "generationConfig": {"temperature": 0.0, "topP": 1.0, "maxOutputTokens": 64, "stopSequences": ["\n\n"], "seed": 7, "candidateCount": 1},
    }


def test_tuned_endpoint_and_multi_turn(emulator, genai_client):
    from sftwise.backends import get_generator

    endpoint = f"projects/{PROJECT}/locations/{LOCATION}/endpoints/10012"
    gen = get_generator(f"gemini:{endpoint}", client=genai_client, concurrency=1)
    request = GenerationRequest(id="a", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                                                  {"role": "assistant", "content": "hello"}, {"role": "user", "content": "route this"}])
    (result,) = gen.generate([request], GenerationParams())
    assert result.error is None and result.text == "[10012] route this"
    (body,) = emulator.bodies("POST", "endpoints/10012:generateContent")
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]


def test_errors_become_result_errors_after_retries(emulator, genai_client):
    from sftwise.backends.gemini import GeminiGenerator

    seen = []
    gen = GeminiGenerator("gemini-2.5-flash", client=genai_client, concurrency=1, max_retries=2, on_progress=lambda n, t: seen.append(n))
    emulator.inject(":generateContent", 503, "overloaded", times=2)
    (ok,) = gen.generate([req(0)], GenerationParams())
    assert ok.error is None  # two 503s, third attempt succeeds
    emulator.inject(":generateContent", 429, "Quota exceeded", times=3)
    (bad,) = gen.generate([req(1)], GenerationParams())
    assert bad.text is None and "quota exhausted (429) after 3 attempt(s)" in bad.error
    bad_model = GeminiGenerator("gemini-0-nope", client=genai_client)
    (missing,) = bad_model.generate([req(2)], GenerationParams())
    assert "not found (404)" in missing.error
    assert seen == [1, 1]  # one progress tick per finished request of `gen`


def test_bad_model_arguments():
    from sftwise.backends.gemini import GeminiGenerator

    with pytest.raises(SftwiseError, match="needs a model id"):
        GeminiGenerator("gemini:", client=object())
    with pytest.raises(SftwiseError, match="neither a model id nor"):
        GeminiGenerator("projects/p/locations/l/datasets/3", client=object())


def test_cost_estimate_is_tokens_times_epochs_with_a_dated_price(tmp_path, monkeypatch):
    est = estimate_tuning_cost(1_000_000, 3, model="gemini-2.5-flash", records=1000)
    assert est.billed_tokens == 3 * (1_000_000 + 8 * 1000)
    assert est.usd == pytest.approx(3.024 * 5.0) and est.prices_date == "2026-11-01"
    assert "prices as of 2026-11-01" in est.line()
    assert estimate_tuning_cost(10, 1, model="gemini-2.5-flash-lite-001").usd_per_million == 1.5
    assert estimate_tuning_cost(10, 1, model="gemini-3.5-flash").usd is None
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"gemini-2.5-flash": 2.0}))
    monkeypatch.setenv("SFTWISE_GEMINI_PRICES", str(prices))
    assert load_prices()["gemini-2.5-flash"] == 2.0
    prices.write_text("[1, 2]")
    with pytest.raises(SftwiseError, match="expected an object of model"):
        load_prices()
    with pytest.raises(SftwiseError, match="epochs must be >= 1"):
        estimate_tuning_cost(10, 0, model="gemini-2.5-flash", prices={})


def test_dataset_cost_counts_the_file(datasets):
    from sftwise.gemini.cost import estimate_dataset_cost

    train, _ = datasets
    est = estimate_dataset_cost(train, 4, model="gemini-2.5-flash-lite")
    assert est.records == 12 and est.tokens_counted_by == "offline estimate"
    assert est.billed_tokens == 4 * (est.dataset_tokens + 8 * 12) and est.usd_per_million == 1.5


def test_gemini_retries_wait_the_retry_after_the_service_asks_and_redact_keys(monkeypatch):
    """with_retries (every Gemini call) waits at least the Retry-After of a 429, capped; a quoted
    message never carries the key the environment holds."""
    from types import SimpleNamespace

    from google.genai import errors as genai_errors

    import sftwise.gemini.errors as gerrors
    from sftwise.errors import RETRY_AFTER_MAX_S

    monkeypatch.setattr(gerrors, "RETRY_BASE_DELAY_S", 0.0)
    monkeypatch.setenv("GOOGLE_API_KEY", "AIza-secret-key-0123456789")
    waits: list[float] = []
    calls = iter([("7", 429), ("99999", 429), (None, 403)])

    def call():
        after, code = next(calls)
        response = SimpleNamespace(headers={"Retry-After": after} if after else {})
        raise genai_errors.APIError(code, {"error": {"message": "denied for AIza-secret-key-0123456789", "status": "X"}}, response)

    with pytest.raises(gerrors.SftwiseError) as info:
        gerrors.with_retries(call, action="generating", attempts=4, sleep=waits.append)
    assert waits == [7.0, RETRY_AFTER_MAX_S]
    assert "AIza-secret" not in str(info.value) and "[redacted]" in str(info.value)
