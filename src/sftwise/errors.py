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
