"""A small emulator of the Vertex AI and Cloud Storage REST surface that sftwise drives, on 127.0.0.1.

The real ``google-genai`` client (``GOOGLE_VERTEX_BASE_URL`` / ``HttpOptions(base_url=...)``) and the
real ``google-cloud-storage`` client (``STORAGE_EMULATOR_HOST``) talk to it over HTTP, so the tests
see the exact bodies the service would receive (:attr:`VertexEmulator.requests`).

Served:
- ``POST/GET v1beta1/projects/P/locations/L/tuningJobs`` (create / list), ``GET .../tuningJobs/ID``,
  ``POST .../tuningJobs/ID:cancel``. Each GET advances a job one state: PENDING -> RUNNING
  (PROCESSING_DATASET) -> RUNNING (TUNING) -> SUCCEEDED with tuned model, checkpoints per epoch,
  data stats and an experiment; or FAILED when :attr:`fail_jobs_with` is set; CANCELLING -> CANCELLED.
- ``POST .../publishers/google/models/M:generateContent`` and ``:countTokens``, ``.../endpoints/E:generateContent``.
- The TensorBoard read path behind ``job.experiment``: the metadata context, runs, time series, ``:read``.
- Storage JSON API: bucket get, object get, multipart upload, resumable upload (files over 8 MiB).
- Injected errors: :meth:`inject` makes the next N matching requests answer ``{"error": {...}}``.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

TUNABLE = {"gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro", "gemini-3.5-flash", "gemini-3.5-flash-lite", "gemini-3.1-flash-lite-preview"}
STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
          500: "INTERNAL", 503: "UNAVAILABLE"}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class _Injected:
    method: str
    pattern: str
    status: int
    message: str
    times: int


@dataclass
class _Job:
    body: dict[str, Any]
    polls: int = 0
    cancelled: bool = False


@dataclass
class VertexEmulator:
    project: str = "demo-project"
    location: str = "us-central1"
    epochs_default: int = 3
    steps_per_epoch: int = 4
    fail_jobs_with: tuple[int, str] | None = None
    responder: Callable[[str, dict[str, Any]], str] | None = None
    requests: list[Recorded] = field(default_factory=list)
    buckets: set[str] = field(default_factory=lambda: {"sftwise-test"})
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    jobs: dict[str, _Job] = field(default_factory=dict)
    _injected: list[_Injected] = field(default_factory=list)
    _resumable: dict[str, tuple[str, dict[str, Any], bytearray]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: int = 1000

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> VertexEmulator:
        emulator = self

        class Handler(_Handler):
            emu = emulator

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def inject(self, pattern: str, status: int, message: str = "injected", *, method: str = "", times: int = 1) -> None:
        """The next ``times`` requests whose path contains ``pattern`` answer ``status``."""
        self._injected.append(_Injected(method.upper(), pattern, status, message, times))

    def bodies(self, method: str, pattern: str) -> list[Any]:
        return [r.body for r in self.requests if r.method == method and pattern in r.path]

    # -- routing -----------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any, str]:
        url = urlparse(raw_path)
        path, query = unquote(url.path), parse_qs(url.query)
        ctype = headers.get("content-type", "")
        body: Any = None
        if raw:
            if ctype.split(";")[0].strip() == "application/json":
                body = json.loads(raw)
            elif "multipart" in ctype:
                body = _parse_multipart(raw, ctype)
            else:
                body = raw
        with self._lock:
            self.requests.append(Recorded(method, path, query, headers, body))
            for inj in self._injected:
                if inj.times > 0 and inj.pattern in path and (not inj.method or inj.method == method):
                    inj.times -= 1
                    return inj.status, _error(inj.status, inj.message), "application/json"
        if path.startswith("/storage/v1/") or path.startswith("/upload/storage/v1/"):
            return self._storage(method, path, query, body, headers.get("content-range", ""))
        m = re.match(r"^/v1beta1/(projects/[^/]+/locations/[^/]+)/(.*)$", path)
        if not m:
            return 404, _error(404, f"no route {path}"), "application/json"
        parent, rest = m.groups()
        if rest == "tuningJobs" and method == "POST":
            return self._create(parent, body)
        if rest == "tuningJobs" and method == "GET":
            names = [n for n in self.jobs if n.startswith(parent)]
            size = int(query.get("pageSize", ["50"])[0])
            start = int(query.get("pageToken", ["0"])[0] or 0)
            page = names[start : start + size]
            out: dict[str, Any] = {"tuningJobs": [self._view(n, advance=False) for n in page]}
            if start + size < len(names):
                out["nextPageToken"] = str(start + size)
            return 200, out, "application/json"
        jm = re.match(r"^tuningJobs/([^/:]+)(:cancel)?$", rest)
        if jm:
            name = f"{parent}/tuningJobs/{jm.group(1)}"
            if name not in self.jobs:
                return 404, _error(404, f"TuningJob {name} not found."), "application/json"
            if jm.group(2):
                job = self.jobs[name]
                if job.body["state"] in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
                    return 400, _error(400, f"Cannot cancel tuning job {name} in state {job.body['state']}."), "application/json"
                job.cancelled = True
                job.body["state"] = "JOB_STATE_CANCELLING"
                return 200, {}, "application/json"
            return 200, self._view(name, advance=True), "application/json"
        gm = re.match(r"^(publishers/google/models/[^/:]+|endpoints/[^/:]+):(generateContent|countTokens)$", rest)
        if gm:
            return self._model_call(gm.group(1), gm.group(2), body)
        return self._tensorboard(parent, rest)

    # -- tuning jobs -------------------------------------------------------------------------
    def _create(self, parent: str, body: dict[str, Any]) -> tuple[int, Any, str]:
        base = body.get("baseModel", "")
        if base not in TUNABLE:
            return 400, _error(400, f"Base model {base} is not supported for tuning."), "application/json"
        spec = body.get("supervisedTuningSpec") or {}
        for key in ("trainingDatasetUri", "validationDatasetUri"):
            uri = spec.get(key)
            if uri is None:
                continue
            bucket, _, name = uri[5:].partition("/")
            if not uri.startswith("gs://") or (bucket in self.buckets and (bucket, name) not in self.objects):
                return 400, _error(400, f"Invalid dataset: {uri} does not exist or is not readable."), "application/json"
        with self._lock:
            self._counter += 1
            job_id = str(self._counter)
        name = f"{parent}/tuningJobs/{job_id}"
        now = _now()
        job = {"name": name, "state": "JOB_STATE_PENDING", "createTime": now, "updateTime": now, **body}
        self.jobs[name] = _Job(job)
        return 200, job, "application/json"

    def _view(self, name: str, *, advance: bool) -> dict[str, Any]:
        job = self.jobs[name]
        body = job.body
        if advance and body["state"] not in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
            job.polls += 1
            if job.cancelled:
                body.update(state="JOB_STATE_CANCELLED", endTime=_now())
            elif job.polls == 1:
                body.update(state="JOB_STATE_RUNNING", tuningJobState="TUNING_JOB_STATE_PROCESSING_DATASET", startTime=_now())
            elif job.polls == 2 and self.fail_jobs_with:
                code, message = self.fail_jobs_with
                body.update(state="JOB_STATE_FAILED", error={"code": code, "message": message}, endTime=_now())
            elif job.polls == 2:
                body.update(tuningJobState="TUNING_JOB_STATE_TUNING", tuningDataStats=self._stats(body))
            else:
                self._succeed(name, body)
        body["updateTime"] = _now()
        return body

    def _epochs(self, body: dict[str, Any]) -> int:
        return int(body.get("supervisedTuningSpec", {}).get("hyperParameters", {}).get("epochCount") or self.epochs_default)

    def _stats(self, body: dict[str, Any]) -> dict[str, Any]:
        epochs = self._epochs(body)
        return {"supervisedTuningDataStats": {
            "tuningDatasetExampleCount": "12", "totalBillableTokenCount": "3400", "totalTuningCharacterCount": "13600",
            "tuningStepCount": str(epochs * self.steps_per_epoch), "totalTruncatedExampleCount": "0",
            "userInputTokenDistribution": {"sum": "2400", "min": 10, "max": 400, "mean": 200, "median": 180, "p5": 20, "p95": 380,
                                           "buckets": [{"count": 12, "left": 10, "right": 400}]},
        }}

    def _succeed(self, name: str, body: dict[str, Any]) -> None:
        job_id = name.rsplit("/", 1)[1]
        parent = name.split("/tuningJobs/")[0]
        epochs = self._epochs(body)
        checkpoints = [
            {"checkpointId": str(e), "epoch": str(e), "step": str(e * self.steps_per_epoch),
             "endpoint": f"{parent}/endpoints/{job_id}{e}"}
            for e in range(1, epochs + 1)
        ]
        body.update(
            state="JOB_STATE_SUCCEEDED", endTime=_now(), tuningJobState="TUNING_JOB_STATE_POST_PROCESSING",
            tunedModel={"model": f"{parent}/models/{job_id}@1", "endpoint": f"{parent}/endpoints/{job_id}", "checkpoints": checkpoints},
            experiment=f"{parent}/metadataStores/default/contexts/tuning-experiment-{job_id}",
        )
        body.setdefault("tuningDataStats", self._stats(body))

    # -- TensorBoard ---------------------------------------------------------------------------
    def series(self, job_id: str) -> dict[str, list[tuple[int, float]]]:
        """The metric curves of a finished job: loss falls, accuracy rises, validation bottoms out at epoch 2."""
        name = next(n for n in self.jobs if n.endswith(f"/{job_id}"))
        epochs = self._epochs(self.jobs[name].body)
        steps = range(1, epochs * self.steps_per_epoch + 1)
        out: dict[str, list[tuple[int, float]]] = {
            "/train_total_loss": [(s, round(2.0 * math.exp(-s / 4), 4)) for s in steps],
            "/train_fraction_of_correct_next_step_preds": [(s, round(1 - 0.8 * math.exp(-s / 4), 4)) for s in steps],
            "/train_num_predictions": [(s, 512.0) for s in steps],
        }
        if self.jobs[name].body.get("supervisedTuningSpec", {}).get("validationDatasetUri"):
            ends = [e * self.steps_per_epoch for e in range(1, epochs + 1)]
            out["/eval_total_loss"] = [(s, round(1.0 + 0.1 * (s / self.steps_per_epoch - 2) ** 2, 4)) for s in ends]
            out["/eval_fraction_of_correct_next_step_preds"] = [(s, round(0.7 - 0.02 * abs(s / self.steps_per_epoch - 2), 4)) for s in ends]
            out["/eval_num_predictions"] = [(s, 128.0) for s in ends]
        return out

    def _tensorboard(self, parent: str, rest: str) -> tuple[int, Any, str]:
        tb = f"{parent}/tensorboards/77"
        m = re.match(r"^metadataStores/default/contexts/tuning-experiment-(\d+)$", rest)
        if m:
            return 200, {"name": f"{parent}/{rest}", "metadata": {"backing_tensorboard_resource": tb}}, "application/json"
        m = re.match(r"^tensorboards/77/experiments/tuning-experiment-(\d+)/runs$", rest)
        if m:
            return 200, {"tensorboardRuns": [{"name": f"{tb}/experiments/tuning-experiment-{m.group(1)}/runs/run-1"}]}, "application/json"
        m = re.match(r"^tensorboards/77/experiments/tuning-experiment-(\d+)/runs/run-1/timeSeries$", rest)
        if m:
            run = f"{tb}/experiments/tuning-experiment-{m.group(1)}/runs/run-1"
            series = self.series(m.group(1))
            return 200, {"tensorboardTimeSeries": [
                {"name": f"{run}/timeSeries/ts{i}", "displayName": key, "valueType": "SCALAR"} for i, key in enumerate(series)
            ]}, "application/json"
        m = re.match(r"^tensorboards/77/experiments/tuning-experiment-(\d+)/runs/run-1/timeSeries/ts(\d+):read$", rest)
        if m:
            series = list(self.series(m.group(1)).values())[int(m.group(2))]
            return 200, {"timeSeriesData": {"tensorboardTimeSeriesId": f"ts{m.group(2)}", "valueType": "SCALAR", "values": [
                {"wallTime": _now(), "step": str(step), "scalar": {"value": value}} for step, value in series
            ]}}, "application/json"
        return 404, _error(404, f"no route {rest}"), "application/json"

    # -- models ------------------------------------------------------------------------------
    def _model_call(self, model: str, verb: str, body: dict[str, Any]) -> tuple[int, Any, str]:
        texts = [p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", [])]
        system = body.get("systemInstruction") or {}
        texts += [p.get("text", "") for p in system.get("parts", [])]
        if verb == "countTokens":
            # deliberately not the offline estimate, so a test can tell which one was used
            return 200, {"totalTokens": sum(len(t.split()) for t in texts) + 3 * len(body.get("contents", []))}, "application/json"
        if model.startswith("publishers/") and model.rsplit("/", 1)[1] not in TUNABLE | {"gemini-2.0-flash-001"}:
            return 404, _error(404, f"Publisher Model {model} was not found."), "application/json"
        last = next((p.get("text", "") for c in reversed(body.get("contents", [])) if c.get("role") == "user" for p in c.get("parts", [])), "")
        text = self.responder(model, body) if self.responder else f"[{model.rsplit('/', 1)[1]}] {last}"
        return 200, {
            "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": sum(len(t.split()) for t in texts), "candidatesTokenCount": len(text.split()),
                              "totalTokenCount": sum(len(t.split()) for t in texts) + len(text.split())},
            "modelVersion": model.rsplit("/", 1)[1],
        }, "application/json"

    # -- storage -----------------------------------------------------------------------------
    def _storage(self, method: str, path: str, query: dict[str, list[str]], body: Any, content_range: str) -> tuple:
        m = re.match(r"^/storage/v1/b/([^/]+)$", path)
        if m and method == "GET":
            if m.group(1) not in self.buckets:
                return 404, _error(404, "The specified bucket does not exist."), "application/json"
            return 200, {"kind": "storage#bucket", "name": m.group(1), "id": m.group(1), "location": "US-CENTRAL1"}, "application/json"
        m = re.match(r"^/storage/v1/b/([^/]+)/o/(.+)$", path)
        if m and method == "GET":
            key = (m.group(1), m.group(2))
            if key not in self.objects:
                return 404, _error(404, "No such object."), "application/json"
            return 200, _object(key, self.objects[key]), "application/json"
        m = re.match(r"^/upload/storage/v1/b/([^/]+)/o$", path)
        if m and method == "POST" and query.get("uploadType") == ["resumable"]:  # files over 8 MiB
            if m.group(1) not in self.buckets:
                return 404, _error(404, "The specified bucket does not exist."), "application/json"
            with self._lock:
                self._counter += 1
                upload_id = f"up{self._counter}"
            self._resumable[upload_id] = (m.group(1), body, bytearray())
            location = f"{self.base_url}upload/storage/v1/b/{m.group(1)}/o?uploadType=resumable&upload_id={upload_id}"
            return 200, {}, "application/json", {"Location": location}
        if m and method == "PUT" and query.get("upload_id"):
            bucket, meta, buffer = self._resumable[query["upload_id"][0]]
            buffer.extend(body or b"")
            total = re.search(r"/(\d+|\*)$", content_range)
            if total and total.group(1) != "*" and len(buffer) == int(total.group(1)):
                key = (bucket, meta["name"])
                self.objects[key] = bytes(buffer)
                return 200, _object(key, self.objects[key], meta.get("contentType")), "application/json"
            return 308, {}, "application/json", {"Range": f"bytes=0-{len(buffer) - 1}"}
        if m and method == "POST":
            bucket = m.group(1)
            if bucket not in self.buckets:
                return 404, _error(404, "The specified bucket does not exist."), "application/json"
            meta, content = body
            key = (bucket, meta["name"])
            self.objects[key] = content
            return 200, _object(key, content, meta.get("contentType")), "application/json"
        return 404, _error(404, f"no storage route {method} {path}"), "application/json"


class _Handler(BaseHTTPRequestHandler):
    emu: VertexEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, ctype, *extra = self.emu.handle(self.command, self.path, headers, raw)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for key, value in (extra[0] if extra else {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN")}}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def _object(key: tuple[str, str], content: bytes, ctype: str | None = None) -> dict[str, Any]:
    import base64
    import struct

    import google_crc32c  # the storage client checks uploads against it

    crc = base64.b64encode(struct.pack(">I", google_crc32c.value(content))).decode()
    return {"kind": "storage#object", "bucket": key[0], "name": key[1], "size": str(len(content)), "crc32c": crc,
            "contentType": ctype or "application/octet-stream", "generation": "1", "id": f"{key[0]}/{key[1]}/1"}


def _parse_multipart(raw: bytes, ctype: str) -> tuple[dict[str, Any], bytes]:
    boundary = re.search(r'boundary="?([^";]+)"?', ctype).group(1).encode()
    chunks = [c for c in raw.split(b"--" + boundary) if c.strip() and c.strip() != b"--"]
    parts = []
    for chunk in chunks:
        head, _, payload = chunk.partition(b"\r\n\r\n")
        parts.append(payload.removesuffix(b"\r\n"))
    return json.loads(parts[0]), parts[1]
