"""What hidden-test cells call inside a student's kernel.

A hidden cell hands the student's spec over and nothing else::

    from graders.notebook import hidden_check
    hidden_check("adaptive_threshold", "jump", model=model, threshold=threshold, reset=reset,
                 method=method)

It prints the spec on one marked line (``GRADERS-SPEC {...}``) so that a trusted step outside the
kernel can re-grade it, then, while grading still happens in the kernel, grades the spec (one
cached build serves every hidden cell), prints the check's message and returns the points as the
cell's value, which nbgrader takes as partial credit. A failed check raises ``AssertionError``.

This module owns that protocol both ways: writing it (:func:`hidden_check`, :func:`spec_line`)
and reading it back, outside the kernel, from a cell's text (:func:`hidden_calls`,
:func:`cell_check`: which check a hidden cell stands for and which variables it passes, read by
``autograde.preprocessors.TrustedVerdicts`` and ``autograde.batches``) and from its output
(:func:`parse_spec_line`).

Imports inside functions: :func:`hidden_check` imports :func:`graders.check` only when it
grades in the kernel itself (outside the pipeline); handing the spec over needs nothing more.
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass, field

from . import settings

MARKER = "GRADERS-SPEC"


def spec_line(assignment: str, check: str, spec: dict) -> str:
    """The marked line by which :func:`hidden_check` hands a spec over."""
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


# --- reading the protocol back from a cell's source -------------------------------------------

#: What :func:`hidden_check` calls its first two parameters (a call may also name them).
_NAMED = ("assignment", "check")


@dataclass(frozen=True)
class HiddenCall:
    """One ``hidden_check("assignment", "check", field=name, ...)`` call as a cell writes it.

    ``fields`` maps each field passed as a plain variable (``model=model``) to that variable's
    name; fields passed any other way (a literal, an expression, ``**kwargs``) are not in it.
    """

    assignment: str
    check: str
    fields: dict[str, str] = field(default_factory=dict)


def _is_hidden_check(func: ast.expr) -> bool:
    # hidden_check(...) or a module's: graders.notebook.hidden_check(...), nb.hidden_check(...)
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    return isinstance(func, ast.Name | ast.Attribute) and name == "hidden_check"


def _read_call(node: ast.Call) -> HiddenCall | None:
    if any(isinstance(a, ast.Starred) for a in node.args):
        return None  # which argument is which is not known before it runs
    bound = dict(zip(_NAMED, node.args, strict=False))
    for kw in node.keywords:
        if kw.arg in _NAMED:
            if kw.arg in bound:
                return None  # given twice: Python refuses the call
            bound[kw.arg] = kw.value
    literal = [bound.get(n) for n in _NAMED]
    if not all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in literal):
        return None  # the protocol names the assignment and check as string literals
    fields = {
        kw.arg: kw.value.id
        for kw in node.keywords
        if kw.arg is not None and kw.arg not in _NAMED and isinstance(kw.value, ast.Name)
    }
    return HiddenCall(literal[0].value, literal[1].value, fields)


def hidden_calls(source: str) -> list[HiddenCall]:
    """Every ``hidden_check`` call in a cell's ``source`` that names its assignment and check
    as string literals, in the order they appear; none where the source is not Python.

    The cell is parsed, never run: a call in a comment or a string is no call, and a call whose
    assignment or check is computed (``hidden_check(name, "x")``) cannot be read and is left out.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):  # IPython syntax, a typo, a NUL byte
        return []
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _is_hidden_check(n.func)]
    found.sort(key=lambda n: (n.lineno, n.col_offset))
    return [c for c in map(_read_call, found) if c is not None]


def cell_check(source: str) -> HiddenCall | None:
    """The check a hidden cell stands for: its last :func:`hidden_calls` call, or ``None``."""
    calls = hidden_calls(source)
    return calls[-1] if calls else None
