"""Every row of the fault matrix, by name, and the (row, operation) pairs it runs."""

from __future__ import annotations

from collections.abc import Mapping

from .case import ESCAPED_KEY, Case, wait_matches
from .cases_answers import ANSWER_CASES
from .cases_http import HTTP_CASES
from .ops import OPS

__all__ = ["BY_NAME", "CASES", "ESCAPED_KEY", "rows", "wait_matches"]

CASES: list[Case] = [*HTTP_CASES, *ANSWER_CASES]
BY_NAME: Mapping[str, Case] = {case.name: case for case in CASES}
assert len(BY_NAME) == len(CASES), "case names must be unique"


def rows() -> list[tuple[str, str]]:
    """Every (case name, operation) the matrix runs."""
    return [(case.name, op) for case in CASES for op in OPS if op in case.ops]
