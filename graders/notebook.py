"""What hidden-test cells call inside a student's kernel.

A hidden cell hands the student's spec over and nothing else::

    from graders.notebook import hidden_check
    hidden_check("adaptive_threshold", "jump", model=model, threshold=threshold, reset=reset,
                 method=method)

It prints the spec on one marked line (``GRADERS-SPEC {...}``) so that a trusted step outside the
kernel can re-grade it, then, while grading still happens in the kernel, grades the spec (one
cached build serves every hidden cell), prints the check's message and returns the points as the
cell's value, which nbgrader takes as partial credit. A failed check raises ``AssertionError``.
"""

from __future__ import annotations

import json
import os

from . import settings

MARKER = "GRADERS-SPEC"


def spec_line(assignment: str, check: str, spec: dict) -> str:
    return f"{MARKER} " + json.dumps({"assignment": assignment, "check": check, "spec": spec})


def parse_spec_line(text: str) -> dict | None:
    """The last spec handed over in a cell's output text, or ``None``."""
    found = None
    for line in text.splitlines():
        if line.startswith(MARKER + " "):
            try:
                found = json.loads(line[len(MARKER) + 1 :])
            except json.JSONDecodeError:
                continue
    return found


def hidden_check(assignment: str, check: str, **fields) -> float:
    """Hand the spec over, grade it and return this check's points (see module docstring)."""
    from . import SpecError
    from . import check as grade

    spec = {k: v for k, v in fields.items() if v is not None}
    print(spec_line(assignment, check, spec), flush=True)
    if os.environ.get(settings.TRUSTED_ENV) == "1":
        return None
    try:
        verdict = grade(assignment, spec)
    except SpecError as err:
        raise AssertionError("your answer cannot be graded: " + str(err)) from None
    result = verdict.check(check)
    print(result.message)
    if result.fraction <= 0:
        raise AssertionError(result.message)
    return result.points
