"""Fixtures of the judge tests; the fakes themselves live in judge_fakes.py (a unique module name)."""

from judge_fakes import judge_server  # noqa: F401  (fixture)
