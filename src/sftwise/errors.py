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
