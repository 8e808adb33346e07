"""``sftwise label``: a small local web app for human labels, on the standard library's http.server.

One page of vanilla JavaScript (``label_page.html``) shows an item's prompt, reference and one response (a
rubric score) or two (a preference A / tie / B), with one keyboard shortcut per choice. Every choice is
POSTed at once and written to SQLite in its own transaction before the page shows "saved"; a choice the
server could not take (it was restarting) waits in the tab's localStorage and is re-sent until it is.
Several annotators label at once, each with ``?annotator=NAME`` in the address; the server is threaded
and each request opens its own SQLite connection (WAL mode lets readers and the writer overlap).

Humans have a position bias too, so for preferences the two responses are shown in an order drawn per
(item, annotator) from a hash (stable across reloads): half the items show results B on the left. The
page only ever sees display positions; the server maps them back, so the stored ``A`` always means
"the first results directory is better". ``shuffle=False`` keeps A on the left everywhere.

API (JSON): ``GET /api/config``, ``GET /api/items``, ``GET /api/labels?annotator=``,
``POST /api/label`` ``{item_id, annotator, value}`` (``value`` null removes the label),
``GET /api/export?format=csv|jsonl``. Every ``/api/`` call carries the token of this start of the server
(``X-Sftwise-Token`` or ``?token=``), and writes are JSON from our own origin: :mod:`sftwise.judge.label_guard`
says why and checks it, once, before any route runs.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import re
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from sftwise.evaluate.results import Prediction
from sftwise.errors import ParameterError, SftwiseError
from sftwise.judge.rubric import Rubric
from sftwise.judge.label_guard import SECURITY_HEADERS, WILDCARD_HOSTS, allowed_hosts, new_token, refusal, token_of, token_ok
from sftwise.judge.labels import Label, connect, delete_label, read_labels, save_label

ANNOTATOR_RE = re.compile(r"^[\w .@+-]{1,64}$")
PREFERENCE_CHOICES = [
    {"value": "A", "key": "a", "label": "A is better", "description": "Response A is better on the criteria"},
    {"value": "tie", "key": "t", "label": "Tie", "description": "Both are equally good (or equally bad)"},
    {"value": "B", "key": "b", "label": "B is better", "description": "Response B is better on the criteria"},
]


class LabelApp:
    """The state of one labelling session: the items, the task, the choices, the database."""

    def __init__(self, preds: list[Prediction], db: str | Path, annotator: str, rubric: Rubric | None = None,
                 preds_b: list[Prediction] | None = None, task: str | None = None, shuffle: bool = True) -> None:
        if not ANNOTATOR_RE.match(annotator):
            raise ParameterError("annotator", f"{annotator!r}: use 1-64 letters, digits, spaces or . @ + - _")
        self.db = Path(db)
        self.default_annotator = annotator
        self.rubric = rubric
        self.pairwise = preds_b is not None
        self.shuffle = shuffle
        by_b = {p.id: p for p in preds_b or []}
        if self.pairwise and not any(p.id in by_b for p in preds):
            raise SftwiseError("the two results share no example ids; a preference needs both responses to the same prompt")
        self.items: list[dict[str, Any]] = []
        for p in preds:
            if self.pairwise and p.id not in by_b:
                continue
            item = {"id": p.id, "system": p.system, "messages": p.messages, "reference": p.reference, "response_a": p.prediction or ""}
            if self.pairwise:
                item["response_b"] = by_b[p.id].prediction or ""
            self.items.append(item)
        if self.pairwise:
            self.task = task or (f"pairwise:{rubric.name}" if rubric else "pairwise")
            self.choices = PREFERENCE_CHOICES
        else:
            if rubric is None:
                raise ParameterError("rubric", "is required for scoring (it gives the scale); or give the second results (preds_b) for preferences.")
            self.task = task or rubric.name
            use_digits = all(0 <= s <= 9 for s in rubric.scores)
            self.choices = [{"value": level.score, "key": str(level.score) if use_digits else str(i + 1), "label": str(level.score),
                             "description": level.description} for i, level in enumerate(sorted(rubric.scale, key=lambda s: -s.score))]
        self.ids = {item["id"] for item in self.items}
        connect(self.db).close()  # create the table now, so a bad path fails before the server starts

    def config(self) -> dict[str, Any]:
        criteria = self.rubric.criteria if self.rubric else {}
        return {"mode": "preference" if self.pairwise else "score", "task": self.task, "choices": self.choices,
                "n_items": len(self.items), "default_annotator": self.default_annotator,
                "rubric": self.rubric.name if self.rubric else None, "criteria": criteria}

    def swapped(self, item_id: str, annotator: str) -> bool:
        """Whether this annotator sees results B on the left for this item (preferences only)."""
        if not (self.pairwise and self.shuffle):
            return False
        return hashlib.sha256(f"{item_id}\x1f{annotator}".encode()).digest()[0] & 1 == 1

    def _flip(self, value: Any, item_id: str, annotator: str) -> Any:
        """Display position ↔ results directory (the same map both ways)."""
        return {"A": "B", "B": "A"}.get(value, value) if self.swapped(item_id, annotator) else value

    def items_for(self, annotator: str) -> list[dict[str, Any]]:
        if not (self.pairwise and self.shuffle):
            return self.items
        return [{**it, "response_a": it["response_b"], "response_b": it["response_a"]} if self.swapped(it["id"], annotator) else it
                for it in self.items]

    def labels(self, annotator: str) -> dict[str, Any]:
        """This annotator's labels by item, in display positions."""
        return {lab.item_id: (self._flip(lab.preference, lab.item_id, annotator) if self.pairwise else lab.score)
                for lab in read_labels(self.db, task=self.task, annotator=annotator) if lab.item_id in self.ids}

    def save(self, body: dict[str, Any]) -> dict[str, Any]:
        item_id, annotator, value = body.get("item_id"), body.get("annotator"), body.get("value")
        if item_id not in self.ids:
            raise ValueError(f"unknown item id {item_id!r}")
        if not isinstance(annotator, str) or not ANNOTATOR_RE.match(annotator):
            raise ValueError("annotator: use 1-64 letters, digits, spaces or . @ + - _")
        if value is None:
            delete_label(self.db, item_id, annotator, self.task)
        else:
            allowed = [c["value"] for c in self.choices]
            if value not in allowed:
                raise ValueError(f"value {value!r} is not one of {allowed}")
            stored = {"preference": self._flip(value, item_id, annotator)} if self.pairwise else {"score": float(value)}
            label = Label(item_id=item_id, annotator=annotator, task=self.task, note=str(body.get("note") or "")[:2000],
                          created_at=time.time(), **stored)
            save_label(self.db, label)
        return {"ok": True, "labelled": len(self.labels(annotator))}

    def export(self, fmt: str) -> tuple[str, str]:
        rows = [{"id": lab.item_id, "annotator": lab.annotator, "task": lab.task, "score": lab.score, "preference": lab.preference,
                 "note": lab.note, "created_at": lab.created_at} for lab in read_labels(self.db, task=self.task)]
        if fmt == "csv":
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["id", "annotator", "task", "score", "preference"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            return buf.getvalue(), "text/csv"
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "application/x-ndjson"


def _page() -> bytes:
    return (resources.files("sftwise.judge") / "label_page.html").read_bytes()


def _page_csp(page: bytes) -> str:
    """The page's Content-Security-Policy: only its own inline script (by hash) runs, and it talks only to us."""
    script = re.search(rb"<script>(.*?)</script>", page, re.S)
    digest = base64.b64encode(hashlib.sha256(script.group(1) if script else b"").digest()).decode()
    return (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _open_the_link(port: int, stale: bool) -> bytes:
    """What ``/`` shows without the right token: the app would fail on every call, so say what to do."""
    why = "This link is from an earlier start of the server." if stale else "This address needs the server's token."
    return (f"<!doctype html><meta charset=utf-8><title>sftwise label</title><p>{html.escape(why)} Open the link that "
            f"<code>sftwise label</code> printed when it started (<code>http://127.0.0.1:{port}/?token=…</code>). "
            "Labels not saved yet wait in this browser and are sent when you do.</p>").encode()


class LabelServer(ThreadingHTTPServer):
    """The labelling app's HTTP server: one random token per start, and the addresses it answers to."""

    daemon_threads = True

    def __init__(self, host: str, port: int, app: LabelApp) -> None:
        self.token = new_token()  # new at each start: a link from an earlier start stops working
        super().__init__((host, port), make_handler(app))
        self.host = host
        self.port = int(self.server_address[1])
        self.allowed_hosts = allowed_hosts(host, self.port)

    def url(self, annotator: str | None = None) -> str:
        """The link to open (and the one the CLI prints): the app's address with this start's token."""
        name = "127.0.0.1" if self.host in WILDCARD_HOSTS else self.host
        query = {"token": self.token, **({"annotator": annotator} if annotator else {})}
        return f"http://{name}:{self.port}/?{urlencode(query)}"


def make_handler(app: LabelApp) -> type[BaseHTTPRequestHandler]:
    page = _page()
    page_csp = _page_csp(page)

    class Handler(BaseHTTPRequestHandler):
        server: LabelServer
        server_version = "sftwise-label"
        disable_nagle_algorithm = True  # headers and body are two writes; avoid the 40 ms delayed-ACK stall

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the CLI prints what matters
            return

        def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in {**SECURITY_HEADERS, **(extra or {})}.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, obj: Any, status: int = 200) -> None:
            self._send(status, json.dumps(obj, ensure_ascii=False).encode(), "application/json; charset=utf-8")

        def _refused(self) -> bool:
            """Apply :func:`label_guard.refusal` (host, origin, token, body type); answer and return True if refused."""
            why = refusal(self.command, self.path, self.headers, self.server.token, self.server.host, self.server.port,
                          self.server.allowed_hosts)
            if why is None:
                return False
            self._json({"error": why[1]}, why[0])
            return True

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self._refused():
                return
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                if url.path in ("/", "/index.html"):
                    got = token_of(self.path, {})  # the page's own address carries the token
                    if token_ok(got, self.server.token):
                        self._send(200, page, "text/html; charset=utf-8", {"Content-Security-Policy": page_csp})
                    else:
                        self._send(HTTPStatus.FORBIDDEN, _open_the_link(self.server.port, got is not None), "text/html; charset=utf-8")
                elif url.path == "/api/config":
                    self._json(app.config())
                elif url.path == "/api/items":
                    self._json(app.items_for(query.get("annotator", app.default_annotator)))
                elif url.path == "/api/labels":
                    self._json(app.labels(query.get("annotator", app.default_annotator)))
                elif url.path == "/api/export":
                    fmt = query.get("format", "csv")
                    text, ctype = app.export(fmt)
                    self._send(200, text.encode(), ctype, {"Content-Disposition": f'attachment; filename="labels.{"csv" if fmt == "csv" else "jsonl"}"'})
                else:
                    self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)
            except Exception as exc:  # a bad request must not take the server down
                self._json({"error": str(exc)}, HTTPStatus.INTERNAL_SERVER_ERROR)

        def do_POST(self) -> None:  # noqa: N802
            if self._refused():
                return
            if urlparse(self.path).path != "/api/label":
                self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(min(length, 1_000_000)) or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("expected a JSON object")
                self._json(app.save(body))
            except ValueError as exc:
                self._json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)
            except Exception as exc:
                self._json({"error": str(exc)}, HTTPStatus.INTERNAL_SERVER_ERROR)

        def _not_allowed(self) -> None:
            """PUT, PATCH, DELETE, OPTIONS: refused like any request first, then 405 (labels change by POST only)."""
            if not self._refused():
                self._json({"error": f"{self.command} is not supported; labels are changed with POST /api/label"},
                           HTTPStatus.METHOD_NOT_ALLOWED)

        do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _not_allowed

    return Handler


def check_port(port: int) -> None:
    """A port the OS can bind (the socket layer raises ``OverflowError`` outside 0-65535, a traceback)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ParameterError("port", f"{port!r} is not a TCP port; give 1-65535, or 0 to pick a free one.")


def serve(app: LabelApp, host: str = "127.0.0.1", port: int = 8765) -> LabelServer:
    """Bind the server (``port=0`` picks a free one) with a new token; the caller runs ``serve_forever`` and ``shutdown``.

    Open :meth:`LabelServer.url`: the token in it is required by every API call.
    """
    check_port(port)
    try:
        server = LabelServer(host, port, app)
    except OSError as exc:
        raise ParameterError("port", f"cannot listen on {host}:{port} ({exc.strerror}); pick another port.") from None
    return server


def serve_in_thread(app: LabelApp, host: str = "127.0.0.1", port: int = 0) -> tuple[LabelServer, threading.Thread]:
    server = serve(app, host, port)
    thread = threading.Thread(target=server.serve_forever, name="sftwise-label", daemon=True)
    thread.start()
    return server, thread
