"""Credentials that cannot be used are user errors: one line on what to run, never a traceback.

The credentials here are real ``google.oauth2`` user credentials whose token endpoint is a closed
port on 127.0.0.1, so refreshing them raises google-auth's own ``TransportError`` (as an unreachable
``oauth2.googleapis.com`` does), through the real google-genai client.
"""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner
from vertex_data import PROJECT, example, write_gemini

from sftwise.cli import app

runner = CliRunner()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def unreachable_token_endpoint(emulator, monkeypatch):
    from google.oauth2.credentials import Credentials

    from sftwise.gemini import client as gclient

    stale = Credentials(token=None, refresh_token="refresh-me", client_id="id", client_secret="secret",
                        token_uri=f"http://127.0.0.1:{closed_port()}/token")
    monkeypatch.setattr(gclient, "default_credentials", lambda: (stale, PROJECT))
    return emulator


@pytest.mark.parametrize("args", [["jobs", "list"], ["jobs", "get", "1001"]])
def test_jobs_commands_say_what_to_run(unreachable_token_endpoint, args):
    result = runner.invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "cannot reach Google's token endpoint" in text and "gcloud auth application-default login" in text
    assert "GOOGLE_CLOUD_PROJECT" in text and "Traceback" not in result.output
    assert not unreachable_token_endpoint.requests  # nothing reached the service without a token


def test_inside_an_eval_they_are_per_example_errors(unreachable_token_endpoint, tmp_path):
    data = write_gemini(tmp_path / "test.jsonl", [example(f"ticket {i}") for i in range(3)])
    result = runner.invoke(app, ["eval", "--model", "gemini:gemini-2.5-flash", "--data", str(data), "--output", str(tmp_path / "out"),
                                 "--metrics", "exact_match"])
    assert "Traceback" not in result.output, result.output
    predictions = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 3
    assert all("cannot reach Google's token endpoint" in (p.get("error") or "") for p in predictions)



def test_callers_that_word_errors_themselves_get_the_same_line():
    """``describe_api_error`` (token counting, storage) words an auth failure as with_retries does."""
    from google.auth.exceptions import RefreshError, TransportError

    from sftwise.gemini.errors import describe_api_error

    assert describe_api_error(TransportError("Connection refused"), "countTokens").startswith(
        "countTokens: cannot reach Google's token endpoint to authenticate (Connection refused)")
    assert "gcloud auth application-default login` again" in describe_api_error(RefreshError("invalid_grant: Token has been expired"), "countTokens")
