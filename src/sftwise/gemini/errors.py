"""Service errors as sentences a user can act on, and retries where retrying is right.

google-genai raises ``errors.ClientError`` (4xx) and ``errors.ServerError`` (5xx), both ``APIError``
with ``code``, ``status`` and ``message``; google-cloud-storage raises ``google.api_core.exceptions``.
:func:`describe_api_error` turns any of them into one line naming what failed and what to do.
:func:`with_retries` retries 429 (quota) and 5xx / connection failures with exponential backoff (or
the service's Retry-After when longer, capped), and never retries 400/403/404, whose answer will not
change. Quoted service messages have credentials redacted (:func:`sftwise.errors.redact`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from sftwise.errors import SftwiseError, redact, retry_after_seconds

T = TypeVar("T")

RETRY_CODES = (429, 500, 502, 503, 504)
RETRY_ATTEMPTS = 5
RETRY_BASE_DELAY_S = 2.0  # tests set this to 0
RETRY_MAX_DELAY_S = 60.0

ROLES_HINT = (
    "Your account needs roles/aiplatform.user on the project and roles/storage.objectAdmin on the bucket; "
    "the Vertex AI service agent needs read access to the bucket (see docs/vertex.md)."
)


def error_code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _is_connection_error(exc: BaseException) -> bool:
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is a core dependency
        return False
    import requests

    return isinstance(exc, (httpx.TransportError, requests.ConnectionError, ConnectionError))


def describe_api_error(exc: BaseException, action: str, attempts: int | None = None) -> str:
    """``action`` (e.g. "creating the tuning job") failed: what the service said and what to do."""
    if _is_auth_error(exc):
        return auth_failure(action, exc)
    code = error_code(exc)
    attempts = attempts or RETRY_ATTEMPTS
    message = getattr(exc, "message", None) or str(exc)
    message = redact(" ".join(str(message).split()))  # a service may echo the key it was sent
    if _is_connection_error(exc):
        return f"{action}: cannot reach the service ({message}). Check your network or proxy settings."
    if code == 400:
        hint = ""
        low = message.lower()
        if any(word in low for word in ("dataset", "jsonl", "gs://", "parse", "example", "token")):
            hint = " Likely a dataset problem: run `sftwise audit --target gemini-MODEL FILE` and fix its errors."
        elif "location" in low or "region" in low:
            hint = " Pick a region that offers tuning, e.g. --location us-central1."
        return f"{action}: the service rejected the request (400 {getattr(exc, 'status', '') or 'INVALID_ARGUMENT'}): {message}.{hint}"
    if code in (401, 403):
        return f"{action}: permission denied ({code}): {message}. {ROLES_HINT}"
    if code == 404:
        return f"{action}: not found (404): {message}. Check the project, the region (--location) and the name."
    if code == 429:
        return (f"{action}: quota exhausted (429) after {attempts} attempt(s): {message}. "
                "Wait and retry, or request more tuning quota for this region in the Cloud console.")
    if code is not None and code >= 500:
        return f"{action}: the service failed ({code}) after {attempts} attempt(s): {message}. This is on Google's side; retry later."
    return f"{action}: {type(exc).__name__}: {message}"


def _is_auth_error(exc: BaseException) -> bool:
    """Credentials that cannot be used: expired or revoked, missing, or a token endpoint out of reach."""
    try:
        from google.auth import exceptions as auth_exc
    except ImportError:  # pragma: no cover - google-auth comes with google-genai
        return False
    return isinstance(exc, (auth_exc.RefreshError, auth_exc.DefaultCredentialsError, auth_exc.TransportError))


def is_api_error(exc: BaseException) -> bool:
    if error_code(exc) is not None or _is_connection_error(exc):
        return True
    try:
        from google.api_core import exceptions as gexc

        return isinstance(exc, gexc.GoogleAPIError)
    except ImportError:  # pragma: no cover
        return False


def auth_failure(action: str, exc: BaseException) -> str:
    """One line for credentials that cannot be used: expired or revoked (RefreshError), none at all
    (DefaultCredentialsError), or a token endpoint that cannot be reached (TransportError)."""
    from google.auth import exceptions as auth_exc

    detail = redact(" ".join(str(exc).split()))[:300]
    if isinstance(exc, auth_exc.TransportError):
        return (f"{action}: cannot reach Google's token endpoint to authenticate ({detail}). Check the network or proxy, then run "
                "`gcloud auth application-default login`; set the project and region with GOOGLE_CLOUD_PROJECT / GOOGLE_CLOUD_LOCATION "
                "(or --project / --location).")
    return (f"{action}: your Google credentials could not be used ({detail}). "
            "Run `gcloud auth application-default login` again (tokens expire), or check GOOGLE_APPLICATION_CREDENTIALS; "
            "set the project and region with GOOGLE_CLOUD_PROJECT / GOOGLE_CLOUD_LOCATION (or --project / --location).")


def with_retries(
    fn: Callable[[], T],
    *,
    action: str,
    retry_codes: tuple[int, ...] = RETRY_CODES,
    attempts: int | None = None,
    sleep: Callable[[float], Any] = time.sleep,
    on_retry: Callable[[str], Any] | None = None,
) -> T:
    """Call ``fn``; retry quota and server errors with exponential backoff; raise SftwiseError otherwise."""
    attempts = attempts or RETRY_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except SftwiseError:
            raise
        except Exception as exc:
            if _is_auth_error(exc):  # never retried: the same credentials fail the same way
                raise SftwiseError(auth_failure(action, exc)) from None
            if not is_api_error(exc):
                raise
            code = error_code(exc)
            retryable = (code in retry_codes) or (code is None and _is_connection_error(exc))
            if not retryable or attempt == attempts:
                raise SftwiseError(describe_api_error(exc, action, attempt)) from None
            delay = min(RETRY_MAX_DELAY_S, RETRY_BASE_DELAY_S * 2 ** (attempt - 1))
            delay = max(delay, retry_after_seconds(exc) or 0.0)  # the wait the service asked for, capped
            if on_retry is not None:
                on_retry(f"{action}: {code or 'connection error'}, retrying in {delay:.0f}s (attempt {attempt + 1}/{attempts})")
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
