"""The labelling app refuses other websites: each attack a hostile page can make, against the real server on 127.0.0.1.

A page the annotator visits can send requests to 127.0.0.1 (forms and ``text/plain`` fetches need no CORS
preflight), and a DNS-rebinding page is same-origin to the browser. Each test sends what such a page would
send, with ``http.client`` so the Host, Origin and Content-Type headers are exactly the attacker's, and checks
both the answer and that the labels in SQLite did not change.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re

import pytest
from judge_fakes import make_items, write_results
from typer.testing import CliRunner

from sftwise.cli import app
from sftwise.errors import ParameterError
from sftwise.evaluate.results import read_results
from sftwise.judge.label_guard import allowed_hosts, host_allowed
from sftwise.judge.label_server import LabelApp, serve, serve_in_thread
from sftwise.judge.labels import read_labels
from sftwise.judge.rubric import load_rubric

EVIL = "http://evil.example"


@pytest.fixture()
def site(tmp_path):
    """A running app with three labels by alice already saved; yields (server, db, item ids)."""
    items = make_items(6, seed=3)
    res = write_results(tmp_path / "res", "m", items, [3] * 6)
    db = tmp_path / "labels.sqlite"
    label_app = LabelApp(read_results(res).predictions, db, "alice", load_rubric("fluency"))
    ids = [it["id"] for it in items]
    for item, score in zip(ids[:3], (5, 4, 3)):
        label_app.save({"item_id": item, "annotator": "alice", "value": score})
    server, _ = serve_in_thread(label_app)
    yield server, db, ids
    server.shutdown()
    server.server_close()


def _snapshot(db):
    """Every stored label with its timestamp: an overwrite with the same value shows too."""
    return sorted((lab.item_id, lab.annotator, lab.task, lab.score, lab.preference, lab.note, lab.created_at) for lab in read_labels(db))


def _request(server, method, path, body=None, headers=None):
    """One raw request; ``Host`` defaults to the bound address, a header given as None is left out."""
    port = server.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    sent = {k: v for k, v in {"Host": f"127.0.0.1:{port}", **(headers or {})}.items() if v is not None}
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)  # only the headers given here
    for key, value in {**sent, "Content-Length": str(len(body or b""))}.items():
        conn.putheader(key, value)
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def _token(server):
    return getattr(server, "token", "")


# -- reads: no token, wrong token, token in the wrong place, DNS rebinding ---------------------------------

READ_ATTACKS = {
    "no token": {},
    "wrong token": {"X-Sftwise-Token": "guess"},
    "token as cookie": {"Cookie": "token={token}"},
    "token as bearer": {"Authorization": "Bearer {token}"},
    "rebinding page (no token)": {"Host": "attacker.example:{port}"},
    "rebinding page with the token": {"Host": "attacker.example:{port}", "X-Sftwise-Token": "{token}"},
    "rebinding subdomain of localhost": {"Host": "localhost.attacker.example:{port}", "X-Sftwise-Token": "{token}"},
    "no Host header": {"Host": None, "X-Sftwise-Token": "{token}"},
}


@pytest.mark.parametrize("path", ["/api/export?format=csv", "/api/export?format=jsonl", "/api/items", "/api/labels?annotator=alice",
                                  "/api/config"])
@pytest.mark.parametrize("attack", list(READ_ATTACKS))
def test_reads_without_the_token_or_from_another_host_are_refused(site, path, attack):
    server, db, ids = site
    port, token = server.server_address[1], _token(server)
    headers = {k: (v.format(token=token, port=port) if v else v) for k, v in READ_ATTACKS[attack].items()}
    status, got, body = _request(server, "GET", path, headers=headers)
    assert status == 403, (status, body[:200])
    assert got["content-type"].startswith("application/json") and "error" in json.loads(body)
    assert not any(item.encode() in body for item in ids)  # nothing of the data leaks in the refusal


def test_token_in_the_wrong_query_parameter_is_refused(site):
    server, _, _ = site
    assert _request(server, "GET", f"/api/export?tok={_token(server)}")[0] == 403
    assert _request(server, "GET", f"/api/items?annotator={_token(server)}")[0] == 403


# -- writes: the cross-site forms and fetches ---------------------------------------------------------------

def _label_body(ids):
    return json.dumps({"item_id": ids[0], "annotator": "alice", "value": 1})


WRITE_ATTACKS = {
    # (method, content type, body kind, extra headers): what a hostile page can send without a preflight, and worse
    "text/plain fetch": ("POST", "text/plain", "json", {"Origin": EVIL}),
    "text/plain, no Origin": ("POST", "text/plain;charset=UTF-8", "json", {}),
    "form post": ("POST", "application/x-www-form-urlencoded", "form", {"Origin": EVIL}),
    "multipart form": ("POST", "multipart/form-data; boundary=x", "json", {"Origin": EVIL}),
    "json from a foreign origin": ("POST", "application/json", "json", {"Origin": EVIL}),
    "json from a foreign origin with the token": ("POST", "application/json", "json", {"Origin": EVIL, "X-Sftwise-Token": "{token}"}),
    "null origin (sandboxed iframe) with the token": ("POST", "application/json", "json", {"Origin": "null", "X-Sftwise-Token": "{token}"}),
    "foreign Referer, no Origin, with the token": ("POST", "application/json", "json", {"Referer": EVIL + "/page", "X-Sftwise-Token": "{token}"}),
    "other port on localhost with the token": ("POST", "application/json", "json", {"Origin": "http://127.0.0.1:1", "X-Sftwise-Token": "{token}"}),
    "rebinding page with the token": ("POST", "application/json", "json", {"Host": "attacker.example:{port}",
                                                                           "Origin": "http://attacker.example:{port}", "X-Sftwise-Token": "{token}"}),
    "wrong token, same origin": ("POST", "application/json", "json", {"Origin": "http://127.0.0.1:{port}", "X-Sftwise-Token": "guess"}),
    "no token, same origin": ("POST", "application/json", "json", {"Origin": "http://127.0.0.1:{port}"}),
    "token in the body": ("POST", "application/json", "json+token", {}),
    "cross-origin delete": ("DELETE", "application/json", "json", {"Origin": EVIL}),
    "cross-origin put with the token": ("PUT", "application/json", "json", {"Origin": EVIL, "X-Sftwise-Token": "{token}"}),
}


@pytest.mark.parametrize("attack", list(WRITE_ATTACKS))
@pytest.mark.parametrize("value", [1, None])  # overwrite a label, delete it
def test_cross_site_writes_are_refused_and_labels_unchanged(site, attack, value):
    server, db, ids = site
    port, token = server.server_address[1], _token(server)
    method, ctype, kind, extra = WRITE_ATTACKS[attack]
    payload = {"item_id": ids[0], "annotator": "alice", "value": value}
    if kind == "form":
        body = json.dumps(payload) + "="  # <form enctype=urlencoded> with one field named like the JSON
    elif kind == "json+token":
        body = json.dumps({**payload, "token": token})
    else:
        body = json.dumps(payload)
    headers = {"Content-Type": ctype, **{k: v.format(token=token, port=port) for k, v in extra.items()}}
    before = _snapshot(db)
    status, got, data = _request(server, method, "/api/label", body.encode(), headers)
    assert status == 403, (status, data[:200])
    assert "error" in json.loads(data)
    assert _snapshot(db) == before


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None])
def test_writes_must_be_json_even_with_the_token(site, ctype):
    server, db, ids = site
    port = server.server_address[1]
    before = _snapshot(db)
    status, _, data = _request(server, "POST", "/api/label", _label_body(ids).encode(),
                               {"Content-Type": ctype, "X-Sftwise-Token": _token(server), "Origin": f"http://127.0.0.1:{port}"})
    assert status == 415 and "application/json" in json.loads(data)["error"]
    assert _snapshot(db) == before


# -- the legitimate flow still works ----------------------------------------------------------------------

def test_the_page_and_its_own_calls_work(site):
    server, db, ids = site
    port, token = server.server_address[1], server.token
    assert server.url("bob") == f"http://127.0.0.1:{port}/?token={token}&annotator=bob"
    same = {"Origin": f"http://127.0.0.1:{port}", "X-Sftwise-Token": token}
    status, _, page = _request(server, "GET", f"/?token={token}&annotator=bob")
    assert status == 200 and b'"X-Sftwise-Token"' in page  # the page sends the token it was opened with
    # the page's fetches: a header, our own origin, a JSON body
    status, _, data = _request(server, "POST", "/api/label", json.dumps({"item_id": ids[4], "annotator": "bob", "value": 2}).encode(),
                               {"Content-Type": "application/json; charset=utf-8", **same})
    assert status == 200 and json.loads(data) == {"ok": True, "labelled": 1}
    status, _, data = _request(server, "POST", "/api/label", json.dumps({"item_id": ids[0], "annotator": "alice", "value": None}).encode(),
                               {"Content-Type": "application/json", "X-Sftwise-Token": token})  # no Origin: not a browser
    assert status == 200
    assert {(lab.item_id, lab.annotator) for lab in read_labels(db)} == {(ids[1], "alice"), (ids[2], "alice"), (ids[4], "bob")}
    assert json.loads(_request(server, "GET", "/api/labels?annotator=bob", headers=same)[2]) == {ids[4]: 2.0}
    # the export link carries the token in the query (a link cannot set a header); localhost names us too
    status, _, data = _request(server, "GET", f"/api/export?format=csv&token={token}", headers={"Host": f"localhost:{port}"})
    assert status == 200 and data.decode().count("\n") == 1 + 3


def test_page_without_or_with_a_stale_token_says_what_to_open(site, tmp_path):
    server, _, _ = site
    status, _, page = _request(server, "GET", "/")
    assert status == 403 and b"Open the link" in page and b"X-Sftwise-Token" not in page
    # a new start has a new token: a link from the earlier start says so
    again = serve(LabelApp(read_results(tmp_path / "res").predictions, tmp_path / "other.sqlite", "alice", load_rubric("fluency")), port=0)
    try:
        assert again.token != server.token and len(again.token) >= 40
        status, _, page = _request(server, "GET", f"/?token={again.token}")
        assert status == 403 and b"earlier start" in page
    finally:
        again.server_close()


def test_security_headers_on_every_response(site):
    server, _, _ = site
    token = server.token
    for path, want in [(f"/?token={token}", 200), ("/", 403), ("/api/items", 403), (f"/api/items?token={token}", 200),
                       (f"/api/nope?token={token}", 404), (f"/api/export?token={token}", 200)]:
        status, got, body = _request(server, "GET", path)
        assert status == want, path
        assert got["x-content-type-options"] == "nosniff", path
        assert got["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in got["content-security-policy"], path
        assert got["referrer-policy"] == "no-referrer", path
        assert got["cache-control"] == "no-store", path
    # the page runs only its own script: the policy names it by hash, and nothing else
    _, got, page = _request(server, "GET", f"/?token={token}")
    script = re.search(rb"<script>(.*?)</script>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in got["content-security-policy"]
    assert "unsafe-inline" not in got["content-security-policy"].split("script-src")[1].split(";")[0]


def test_host_check_for_wildcard_and_loopback_binds():
    loop = allowed_hosts("127.0.0.1", 8765)
    assert host_allowed("127.0.0.1:8765", "127.0.0.1", 8765, loop) and host_allowed("LOCALHOST:8765", "127.0.0.1", 8765, loop)
    assert not host_allowed("127.0.0.1:8766", "127.0.0.1", 8765, loop)
    assert not host_allowed("10.0.0.5:8765", "127.0.0.1", 8765, loop)
    assert not host_allowed("evil.example:8765", "127.0.0.1", 8765, loop) and not host_allowed(None, "127.0.0.1", 8765, loop)
    anywhere = allowed_hosts("0.0.0.0", 8765)
    assert host_allowed("10.0.0.5:8765", "0.0.0.0", 8765, anywhere) and host_allowed("[::1]:8765", "0.0.0.0", 8765, anywhere)
    assert not host_allowed("evil.example:8765", "0.0.0.0", 8765, anywhere)  # rebinding needs a name, never an address


# -- the port ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("port", [-1, 99999, 65536])
def test_bad_port_is_a_clear_error(tmp_path, port):
    items = make_items(3, seed=1)
    res = write_results(tmp_path / "res", "m", items, [3] * 3)
    db = tmp_path / "l.sqlite"
    out = CliRunner().invoke(app, ["label", str(res), "--annotator", "al", "--db", str(db), "--port", str(port), "--rubric", "fluency"])
    assert out.exit_code == 2, out.output
    assert f"--port: {port} is not a TCP port; give 1-65535, or 0" in out.output and "Traceback" not in out.output
    assert not db.exists()  # refused before anything is created
    with pytest.raises(ParameterError, match="not a TCP port"):
        serve(LabelApp(read_results(res).predictions, db, "al", load_rubric("fluency")), port=port)
