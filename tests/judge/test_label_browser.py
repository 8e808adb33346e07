"""The labelling app in a real headless browser: keyboard labels, a server restart mid-session, two annotators.

Skips cleanly when Debian chromium (/usr/bin/chromium) or the playwright package is absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from judge_fakes import make_items, write_results

from sftwise.evaluate.results import read_results
from sftwise.judge.rubric import load_rubric
from sftwise.judge.label_server import LabelApp, serve_in_thread
from sftwise.judge.labels import read_labels

CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# playwright's wait_for_function evaluates its string, which the page's policy (no eval) forbids; the
# policy itself is tested without this in test_page_runs_under_its_content_security_policy
TEST_CONTEXT = {"bypass_csp": True}

pytestmark = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (apt-get install chromium)")]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def results(tmp_path):
    items = make_items(6, seed=9)
    a = write_results(tmp_path / "a", "tuned", items, [4, 2, 5, 3, 1, 4])
    b = write_results(tmp_path / "b", "base", items, [2, 2, 3, 5, 1, 1], style=1)
    return read_results(a).predictions, read_results(b).predictions


def _open(browser, url):
    """A page in a context of its own (``page.context`` can open a second tab that shares its localStorage)."""
    page = browser.new_context(**TEST_CONTEXT).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("#choices button")
    return page, errors


def _saved(page, labelled: int) -> None:
    page.wait_for_function(f"document.getElementById('progress').textContent.startsWith('{labelled} /')")
    page.wait_for_function("document.getElementById('status').textContent === 'saved' || document.getElementById('status').textContent.startsWith('all ')")


def test_restart_mid_session_keeps_every_label(browser, results, tmp_path):
    preds, _ = results
    db = tmp_path / "labels.sqlite"
    rubric = load_rubric("fluency")
    server, _ = serve_in_thread(LabelApp(preds, db, "alice", rubric))
    port = server.server_address[1]
    page, errors = _open(browser, server.url("alice"))
    assert preds[0].prediction in page.inner_text("#response-a")
    assert preds[0].reference in page.inner_text("#reference")
    for k, key in enumerate(["4", "2", "5"], 1):
        page.keyboard.press(key)
        _saved(page, k)
    assert [lab.score for lab in read_labels(db, annotator="alice")] == [4.0, 2.0, 5.0]  # in SQLite already

    # the server goes away mid-session; the next label waits in the tab and is sent when it is back
    server.shutdown()
    server.server_close()
    page.keyboard.press("3")
    page.wait_for_function("document.getElementById('status').textContent.includes('not saved yet')")
    assert len(read_labels(db)) == 3
    old_link = server.url("alice")
    server, _ = serve_in_thread(LabelApp(preds, db, "alice", rubric), port=port)
    # a new start has a new token: the open tab cannot send with the old one; it keeps the label and says what to do
    page.wait_for_function("document.getElementById('status').textContent.includes('open the new link')", timeout=15000)
    assert "1 label(s) kept in this browser" in page.inner_text("#status") and len(read_labels(db)) == 3
    assert server.url("alice") != old_link
    # the new link, in the same browser: the kept label is sent
    tab = page.context.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(server.url("alice"))
    tab.wait_for_selector("#choices button")
    tab.wait_for_function("document.getElementById('status').textContent === 'saved'", timeout=15000)
    assert [lab.score for lab in read_labels(db, annotator="alice")] == [4.0, 2.0, 5.0, 3.0]
    assert tab.get_attribute("#export", "href") == f"/api/export?format=csv&token={server.token}"

    # close the tabs, open a new one: the page picks up where it stopped
    page.context.close()
    page, errors2 = _open(browser, server.url("alice"))
    assert page.inner_text("#progress").startswith("4 / 6")
    assert preds[4].id in page.inner_text("#position")  # the first unlabelled item
    page.keyboard.press("ArrowLeft")
    assert page.locator("#choices button.chosen").inner_text().startswith("3")
    page.context.close()
    server.shutdown()
    server.server_close()
    assert errors == [] and errors2 == []


def test_two_annotators_at_once_with_preferences(browser, results, tmp_path):
    preds_a, preds_b = results
    db = tmp_path / "labels.sqlite"
    label_app = LabelApp(preds_a, db, "alice", load_rubric("task_specific"), preds_b)
    server, _ = serve_in_thread(label_app)
    contexts = [browser.new_context(**TEST_CONTEXT), browser.new_context(**TEST_CONTEXT)]
    pages = []
    for ctx, who in zip(contexts, ("alice", "bob")):
        page = ctx.new_page()
        page.goto(server.url(who))
        page.wait_for_selector("#response-b")
        pages.append(page)
    assert "response b" in pages[0].inner_text("#responses").lower()
    # each annotator sees a stable random side per item (human position bias); the first item here:
    left = preds_b[0].prediction if label_app.swapped(preds_a[0].id, "alice") else preds_a[0].prediction
    assert pages[0].inner_text("#response-a") == left
    swaps = [label_app.swapped(p.id, who) for p in preds_a for who in ("alice", "bob")]
    assert any(swaps) and not all(swaps)
    keys = {"alice": ["a", "t", "a", "b", "t", "a"], "bob": ["a", "a", "b", "b", "t", "a"]}
    for step in range(6):  # interleaved: both annotators work at the same time
        for page, who in zip(pages, ("alice", "bob")):
            page.keyboard.press(keys[who][step])
    for page in pages:
        page.wait_for_function("document.getElementById('status').textContent.startsWith('all 6 items labelled')")
        assert page.inner_text("#progress").startswith("6 / 6")
    shown = {"a": "A", "t": "tie", "b": "B"}
    flip = {"A": "B", "B": "A", "tie": "tie"}
    for who in ("alice", "bob"):
        got = {lab.item_id: lab.preference for lab in read_labels(db, annotator=who)}
        # stored labels name the results directory, whichever side it was shown on
        assert got == {p.id: flip[shown[k]] if label_app.swapped(p.id, who) else shown[k] for p, k in zip(preds_a, keys[who])}
        assert all(lab.task == "pairwise:task_specific" for lab in read_labels(db, annotator=who))
    for ctx in contexts:
        ctx.close()
    server.shutdown()
    server.server_close()


def test_page_runs_under_its_content_security_policy(browser, results, tmp_path):
    preds, _ = results
    server, _ = serve_in_thread(LabelApp(preds, tmp_path / "labels.sqlite", "alice", load_rubric("fluency")))
    ctx = browser.new_context()  # the real policy: only the page's own script (by hash) runs
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url("alice"))
    page.wait_for_selector("#choices button")  # the script ran and its fetches (with the token) were answered
    page.keyboard.press("4")
    page.wait_for_selector("#progress:has-text('1 / 6')")
    for _ in range(50):
        if read_labels(tmp_path / "labels.sqlite"):
            break
        page.wait_for_timeout(100)
    assert [lab.score for lab in read_labels(tmp_path / "labels.sqlite")] == [4.0]
    ctx.close()
    server.shutdown()
    server.server_close()
    assert errors == []


def test_another_website_cannot_write_through_the_browser(browser, results, tmp_path):
    """The classic CSRF, end to end: a page on another origin posts a form and a text/plain fetch to the app."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    preds, _ = results
    db = tmp_path / "labels.sqlite"
    server, _ = serve_in_thread(LabelApp(preds, db, "alice", load_rubric("fluency")))
    target = f"http://127.0.0.1:{server.server_address[1]}/api/label"
    body = '{"item_id": "%s", "annotator": "alice", "value": 1}' % preds[0].id
    # a text/plain form sends NAME=VALUE: this name and value make the body valid JSON, {..., "pad": "="}
    form_name = '{"item_id": "%s", "annotator": "alice", "value": 2, "pad": "' % preds[1].id
    evil_page = f"""<!doctype html><body>
<form id=f method=POST action="{target}" enctype="text/plain"><input name='{form_name}' value='"}}'></form>
<script>
fetch("{target}", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body: '{body}'}})
  .finally(() => {{ document.title = "sent"; document.getElementById("f").submit(); }});
</script></body>""".encode()

    class Evil(BaseHTTPRequestHandler):
        def log_message(self, *args):
            return

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(evil_page)

    evil = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"http://localhost:{evil.server_address[1]}/")  # another origin (another host name and port)
    page.wait_for_url(target, timeout=10000)  # the form was submitted: the browser now shows the app's answer
    assert read_labels(db) == []
    assert "cross-origin request" in page.content()
    ctx.close()
    evil.shutdown()
    evil.server_close()
    server.shutdown()
    server.server_close()
