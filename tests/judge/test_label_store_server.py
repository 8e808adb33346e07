"""Human labels: SQLite store, CSV/JSONL import and export, and the labelling app's HTTP API."""

from __future__ import annotations

import functools
import json
import threading
import urllib.error
import urllib.request

import pytest
from judge_fakes import make_items, write_results
from typer.testing import CliRunner

from sftwise.cli import app
from sftwise.errors import SftwiseError
from sftwise.evaluate.results import read_results
from sftwise.judge.rubric import load_rubric
from sftwise.judge.label_server import LabelApp, serve_in_thread
from sftwise.judge.labels import export_labels, import_labels, read_label_file, read_labels


@pytest.fixture()
def results(tmp_path):
    items = make_items(12, seed=5)
    return write_results(tmp_path / "res", "m", items, [3] * 12), [it["id"] for it in items]


def test_import_csv_with_unknown_ids_and_export_round_trip(tmp_path, results):
    res, ids = results
    src = tmp_path / "labels.csv"
    src.write_text("id,annotator,score\n" + "".join(f"{i},alice,{k % 5 + 1}\n" for k, i in enumerate(ids[:5])) + "ex-9999,alice,3\n")
    n, findings = import_labels(src, tmp_path / "l.sqlite", known_ids=ids, default_task="fluency")
    assert n == 5 and len(findings) == 1
    assert findings[0].code == "SW801" and findings[0].line == 7 and "ex-9999" in findings[0].message
    for ext in ("csv", "jsonl"):
        out = tmp_path / f"export.{ext}"
        assert export_labels(tmp_path / "l.sqlite", out) == 5
        again = read_label_file(out)
        assert sorted((lab.item_id, lab.score, lab.task) for lab in again) == sorted((i, float(k % 5 + 1), "fluency") for k, i in enumerate(ids[:5]))


@pytest.mark.parametrize("text,message", [
    ("id,score\nex-0000,3\n", "missing column 'annotator'"),
    ("id,annotator,score\nex-0000,al,high\n", "labels.csv:2: score 'high' is not a number"),
    ("id,annotator,preference\nex-0000,al,maybe\n", "preference 'maybe' is not one of A, B, tie"),
    ("id,annotator,score,preference\nex-0000,al,3,A\n", "exactly one of 'score' or 'preference'"),
    ("id,annotator,score\n", "holds no labels"),
])
def test_bad_label_files(tmp_path, text, message):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(SftwiseError, match=message):
        read_label_file(path)


def test_jsonl_labels_and_bad_json(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"id": "a", "annotator": "x", "preference": "same"}\n\n{"id": "b", "annotator": "x", "preference": "B"}\n')
    assert [lab.preference for lab in read_label_file(path)] == ["tie", "B"]
    path.write_text('{"id": "a", "annotator": "x", "score": 2}\n{broken\n')
    with pytest.raises(SftwiseError, match=r"labels.jsonl:2: not valid JSON"):
        read_label_file(path)


def _call(base, path, body=None, token=None):
    headers = {"Content-Type": "application/json", **({"X-Sftwise-Token": token} if token else {})}
    req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                 headers=headers, method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_api_restart_and_two_annotators(tmp_path, results):
    res, ids = results
    preds = read_results(res).predictions
    db = tmp_path / "labels.sqlite"
    server, _ = serve_in_thread(LabelApp(preds, db, "alice", load_rubric("fluency")))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    call = functools.partial(_call, base, token=server.token)
    assert _call(base, "/?token=" + server.token)[0] == 200
    config = json.loads(call("/api/config")[1])
    assert config["mode"] == "score" and [c["key"] for c in config["choices"]] == ["5", "4", "3", "2", "1"]

    def label(who, offset):
        for k, item in enumerate(ids):
            status, _ = call("/api/label", {"item_id": item, "annotator": who, "value": (k + offset) % 5 + 1})
            assert status == 200

    threads = [threading.Thread(target=label, args=(who, off)) for who, off in (("alice", 0), ("bob", 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert call("/api/label", {"item_id": "nope", "annotator": "alice", "value": 3})[0] == 400
    assert call("/api/label", {"item_id": ids[0], "annotator": "alice", "value": 9})[0] == 400
    assert call("/api/label", {"item_id": ids[0], "annotator": "<script>", "value": 3})[0] == 400
    server.shutdown()
    server.server_close()

    # a new server on the same database: every label is still there
    server, _ = serve_in_thread(LabelApp(preds, db, "alice", load_rubric("fluency")))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    call = functools.partial(_call, base, token=server.token)
    alice = json.loads(call("/api/labels?annotator=alice")[1])
    bob = json.loads(call("/api/labels?annotator=bob")[1])
    assert alice == {item: float(k % 5 + 1) for k, item in enumerate(ids)}
    assert bob == {item: float((k + 2) % 5 + 1) for k, item in enumerate(ids)}
    status, csv_text = call("/api/export?format=csv")
    assert status == 200 and len(csv_text.strip().splitlines()) == 1 + 2 * len(ids)
    assert call("/api/label", {"item_id": ids[0], "annotator": "alice", "value": None})[0] == 200
    assert len(read_labels(db, annotator="alice")) == len(ids) - 1
    server.shutdown()
    server.server_close()


def test_cli_label_import_export(tmp_path, results):
    res, ids = results
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "annotator": "bo", "score": 2}) + "\n" for i in ids[:3] + ["ex-7777"]))
    out = CliRunner().invoke(app, ["label", str(res), "--annotator", "bo", "--db", str(tmp_path / "l.sqlite"), "--import", str(src),
                                   "--export", str(tmp_path / "out.csv")])
    assert out.exit_code == 0, out.output
    assert "SW801" in out.output and "imported 3 label(s)" in out.output and "exported 3 label(s)" in out.output
    bad = CliRunner().invoke(app, ["label", str(res), "--annotator", "bo", "--rubric", "nope-rubric"])
    assert bad.exit_code == 2 and "unknown rubric" in bad.output


def test_cli_label_serves_until_stopped(tmp_path, results):
    import os
    import re
    import signal
    import subprocess
    import sys

    res, ids = results
    db = tmp_path / "l.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "sftwise", "label", str(res), "--annotator", "alice", "--db", str(db), "--port", "0",
                             "--rubric", "fluency"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]{40,})&annotator=alice", line)
        assert match, line
        base, token = f"http://127.0.0.1:{match.group(1)}", match.group(2)
        assert _call(base, "/api/label", {"item_id": ids[0], "annotator": "alice", "value": 4})[0] == 403  # no token
        assert _call(base, "/api/label", {"item_id": ids[0], "annotator": "alice", "value": 5}, token=token)[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode == 0
    assert [lab.score for lab in read_labels(db)] == [5.0]


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sftwise.judge.rubric import parse_rubric  # noqa: E402

cell = st.one_of(st.text(alphabet="abAB tie0123456789.-,\"\n", max_size=8), st.sampled_from(["", "A", "tie", "3", "x"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(cell, cell, cell, cell), max_size=6), st.sampled_from(["csv", "jsonl"]))
def test_label_parser_only_raises_user_errors(tmp_path, rows, ext):
    path = tmp_path / f"labels.{ext}"
    if ext == "csv":
        import csv

        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "annotator", "score", "preference"])
            writer.writerows(rows)
    else:
        path.write_text("".join(json.dumps(dict(zip(["id", "annotator", "score", "preference"], r))) + "\n" for r in rows))
    try:
        labels = read_label_file(path)
    except SftwiseError:
        return
    for lab in labels:
        assert lab.annotator and ((lab.score is None) != (lab.preference is None))


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=120))
def test_rubric_parser_only_raises_user_errors(text):
    try:
        parse_rubric(text, "r.yaml")
    except SftwiseError:
        pass


def test_preferences_map_display_sides_back_to_results(tmp_path, results):
    res, ids = results
    preds = read_results(res).predictions
    other = [p.model_copy(update={"prediction": "B: " + (p.prediction or "")}) for p in preds]
    app_ = LabelApp(preds, tmp_path / "l.sqlite", "alice", load_rubric("fluency"), other)
    flipped = [i for i in ids if app_.swapped(i, "alice")]
    assert 0 < len(flipped) < len(ids)
    shown = {it["id"]: it for it in app_.items_for("alice")}
    item = flipped[0]
    assert shown[item]["response_a"].startswith("B: ")  # results B on the left for this item
    app_.save({"item_id": item, "annotator": "alice", "value": "A"})  # the left one is better...
    assert read_labels(tmp_path / "l.sqlite")[0].preference == "B"  # ...which is results B
    assert app_.labels("alice") == {item: "A"}  # and the page sees its own choice back
    plain = LabelApp(preds, tmp_path / "m.sqlite", "alice", load_rubric("fluency"), other, shuffle=False)
    assert not any(plain.swapped(i, "alice") for i in ids) and plain.items_for("alice") == plain.items
