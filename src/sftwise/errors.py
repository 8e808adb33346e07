"""The one error type meant for the user.

An error is not I/O: every stage raises :class:`SftwiseError` for bad input, and the CLI turns it
into one message and exit code 2, never a traceback.
"""

from __future__ import annotations


class SftwiseError(Exception):
    """An error meant for the user: the CLI prints its message (no traceback) and exits with 2.

    Messages follow the scikit-learn habit: name the argument or file, the value received, what was
    expected, and how to fix it.
    """


class ParameterError(SftwiseError):
    """A bad value for one named parameter of a library function.

    Library code speaks in its own parameter names (``max_new_tokens``), never in CLI flags or YAML
    keys, so the same function serves a notebook, the CLI and ``sftwise run`` alike. The CLI restates
    the parameter as its flag (``--max-new-tokens``) and the pipeline as its YAML key
    (``eval.max_new_tokens``), each in one place, with :meth:`restated`.

    ``problem`` is the sentence after the name: what was received, what was expected, how to fix it.
    Where it must mention another parameter, it names that one by its Python name too.
    """

    def __init__(self, parameter: str, problem: str) -> None:
        self.parameter = parameter
        self.problem = problem
        super().__init__(f"{parameter}: {problem}")

    def restated(self, name: str) -> str:
        """The same message with ``parameter`` shown as ``name`` (a flag or a config key)."""
        return f"{name}: {self.problem}"


def require_at_least(parameter: str, value: float | None, minimum: float, why: str = "") -> None:
    """Raise :class:`ParameterError` unless ``value`` (when given) is at least ``minimum``: the one
    check of counts, sizes, timeouts and prices, so that -1 never means something by accident."""
    if value is not None and value < minimum:
        raise ParameterError(parameter, f"must be >= {minimum:g}{why}, got {value:g}.")


def require_within(parameter: str, value: float | None, low: float, high: float, *, low_open: bool = False) -> None:
    """Raise :class:`ParameterError` unless ``value`` (when given) lies in ``[low, high]`` (``(low, high]``
    with ``low_open``): probabilities, similarities, shares."""
    if value is None:
        return
    above_low = low < value if low_open else low <= value
    if not (above_low and value <= high):
        raise ParameterError(parameter, f"must be in {'(' if low_open else '['}{low:g}, {high:g}], got {value:g}.")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (a library's error text, quoted in ours), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


REDACTED = "[redacted]"
SECRET_ENV_WORDS = ("API_KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD")
"""Environment variables whose values are credentials (OPENAI_API_KEY, GOOGLE_API_KEY, HF_TOKEN, ...)."""
_MIN_SECRET_LEN = 6  # shorter values ('EMPTY', '1') would blank ordinary words out of a message


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every known secret replaced by ``[redacted]``.

    Servers echo what they were sent ("Incorrect API key provided: sk-..."), and an error message is
    stored (predictions.jsonl, the pipeline state) and printed; so every message quoted from a
    service passes through here. Known secrets: those given (the key in use) and the values of
    credential-like environment variables.
    """
    import os

    known = {s for s in secrets if s and len(s) >= _MIN_SECRET_LEN}
    known |= {v for k, v in os.environ.items() if len(v) >= _MIN_SECRET_LEN and any(w in k.upper() for w in SECRET_ENV_WORDS)}
    for secret in sorted(known, key=len, reverse=True):  # longest first: a key that contains another is blanked whole
        text = text.replace(secret, REDACTED)
    return text


RETRY_AFTER_MAX_S = 60.0
"""The longest wait a server's Retry-After may impose before a retry; longer requests are capped."""


def retry_after_seconds(exc: BaseException) -> float | None:
    """The wait a failed HTTP call's server asked for, in seconds (capped at :data:`RETRY_AFTER_MAX_S`), or None.

    Reads ``retry-after-ms`` (OpenAI's) or ``Retry-After`` (RFC 9110: delay seconds or an HTTP-date)
    from ``exc.response.headers``, as the openai SDK and google-genai attach it; a retry sooner than
    asked only earns another 429.
    """
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None

    def header(name: str) -> str | None:
        try:
            value = headers.get(name) or headers.get(name.title())
        except Exception:  # noqa: BLE001 - an odd headers object: no hint
            return None
        return str(value).strip() if value else None

    seconds: float | None = None
    if (ms := header("retry-after-ms")) is not None:
        try:
            seconds = float(ms) / 1000
        except ValueError:
            seconds = None
    if seconds is None and (value := header("retry-after")) is not None:
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if seconds is None or seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_S)
