"""A fake OpenAI-compatible server on 127.0.0.1 (stdlib http.server in a thread), speaking the real
wire protocol of POST /v1/chat/completions, with failure modes chosen by the last user message:

* ``ALWAYS500`` -> HTTP 500 every time;       * ``FLAKY`` -> 500 twice, then a normal answer;
* ``RATE`` -> 429 once, then a normal answer;  * ``SLOW`` -> sleeps past the client's timeout;
* ``MALFORMED`` -> 200 with a body that is not JSON;  * ``NOCHOICES`` -> 200 with ``{"choices": []}``;
* ``BADREQ`` -> 400 (not retried);             * anything else -> ``echo: <message>``;
* ``WAIT`` -> 429 once with ``Retry-After: <retry_after>`` (seconds or an HTTP-date, as set);
* ``ECHOKEY`` -> 401 whose message quotes the API key the request carried (as OpenAI's does).

``fail_status`` (settable while running) makes every request fail with that status, e.g. 401 for
a wrong key; set it back to None to "fix the server".
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, slow_s: float = 1.5, retry_after: str = "1"):
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.slow_s = slow_s
        self.in_flight = 0
        self.max_in_flight = 0
        self.retry_after = retry_after
        self.fail_status: int | None = None
        self.times: dict[str, list[float]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/v1/chat/completions":
                    return self._send(404, b'{"error": {"message": "not found"}}')
                content = payload["messages"][-1]["content"]
                with fake.lock:
                    fake.calls[content] += 1
                    fake.times.setdefault(content, []).append(time.monotonic())
                    count = fake.calls[content]
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    time.sleep(0.02)
                    if fake.fail_status is not None:
                        return self._send(fake.fail_status, json.dumps({"error": {"message": f"failing with {fake.fail_status}"}}).encode())
                    if "WAIT" in content and count == 1:
                        return self._send(429, b'{"error": {"message": "slow down"}}', headers={"Retry-After": fake.retry_after})
                    if "ECHOKEY" in content:
                        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                        return self._send(401, json.dumps({"error": {"message": f"Incorrect API key provided: {key}."}}).encode())
                    if "ALWAYS500" in content or ("FLAKY" in content and count <= 2):
                        return self._send(500, b'{"error": {"message": "internal error"}}')
                    if "RATE" in content and count == 1:
                        return self._send(429, b'{"error": {"message": "slow down"}}')
                    if "BADREQ" in content:
                        return self._send(400, b'{"error": {"message": "bad request"}}')
                    if "SLOW" in content:
                        time.sleep(fake.slow_s)
                    if "MALFORMED" in content:
                        return self._send(200, b'{"id": "x", "choices": [ {"message": ')
                    if "NOCHOICES" in content:
                        return self._send(200, json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": payload["model"], "choices": []}).encode())
                    text = f"echo: {content}"
                    stop = payload.get("stop") or []
                    for s in stop:
                        if s in text:
                            text = text[: text.index(s)]
                    body = {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": payload["model"],
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": len(content.split()), "completion_tokens": len(text.split()), "total_tokens": 0},
                    }
                    return self._send(200, json.dumps(body).encode())
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
