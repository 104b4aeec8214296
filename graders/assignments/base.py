"""What an assignment provides to the grader.

An assignment names the fields of its answer spec, the parameters its task text states, how to
build one network that holds every hidden case (student, reference and control groups side by
side) and how to grade the observables that network records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..results import CheckResult

METHODS = ("euler", "exact", "linear", "exponential_euler", "rk2", "rk4", "heun")


@dataclass(frozen=True)
class Field:
    """One field of an answer spec.

    Parameters
    ----------
    name : str
        Key in the spec.
    kind : {"equations", "expression", "statements", "method"}
        How the string is parsed.
    help : str
        What the field holds, with an example; quoted in error messages.
    required : bool
        Missing required fields are an error; optional ones take ``default``.
    default : str or None
        Value used when an optional field is absent.
    """

    name: str
    kind: str
    help: str
    required: bool = True
    default: str | None = None


@dataclass
class Built:
    """A network ready to run on the active device.

    ``collect`` is called after the run and returns the observables as plain float arrays in SI
    units (seconds, volts), keyed by stable names.
    """

    objects: list
    duration: Any
    collect: Callable[[], dict[str, np.ndarray]]


@dataclass
class Assignment:
    """Base class; concrete assignments override the methods below."""

    name: str
    title: str
    fields: tuple[Field, ...]
    # Names the model field must define (as variable or subexpression).
    required_variables: dict[str, tuple[str, ...]]
    # The parameters the task text states: name -> (value, unit expression).
    parameters: dict[str, tuple[float, str]]
    # Check name -> points; the order is the order of feedback.
    points: dict[str, float]
    # Fields whose statements may write to postsynaptic variables (the -= rewrite applies).
    synaptic_fields: tuple[str, ...] = ()
    # Extra identifiers the strings may use besides parameters (e.g. names the grader adds).
    extra_identifiers: tuple[str, ...] = field(default_factory=tuple)
    # The parameters the answer's strings may use; empty means all of ``parameters``.
    string_parameters: tuple[str, ...] = ()
    # Appended to unit errors: which unit each of the task's quantities has.
    units_hint: str = (
        "every term of a sum and both sides of an equation or comparison must have the same unit"
    )

    # --- to override -------------------------------------------------------------------------
    def validation_objects(self, spec: dict, namespace: dict, upto: str) -> list:
        """Minimal Brian objects using the spec's fields up to and including ``upto``.

        Used by the dry run (runtime device, ``before_run`` only) to attribute syntax, unit and
        identifier errors to the first field that causes them.
        """
        raise NotImplementedError

    def cases(self) -> list[dict]:
        """The hidden cases, as JSON-serialisable dicts."""
        raise NotImplementedError

    def feedback_cases(self) -> list[dict]:
        """Small cases for the students' feedback plots, in the format of :meth:`cases`.

        They use only the parameters the task text states and inputs like the notebook's, so
        that plotting them reveals nothing of the hidden cases.
        """
        raise NotImplementedError

    def build(self, spec: dict, cases: list[dict], prefix: str = "") -> Built:
        """Every case's groups in one network, on whatever device is active.

        Every Brian object's name starts with ``prefix``, so that several answers' networks can
        share one build (see :func:`graders.harness.simulate_batch`).
        """
        raise NotImplementedError

    def grade(self, spec: dict, obs: dict[str, np.ndarray], cases: list[dict]) -> list[CheckResult]:
        """Checks as pure functions of the observables."""
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------------
    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def namespace(self, overrides: dict | None = None) -> dict:
        """Brian quantities for the task's parameters, with per-case overrides."""
        params = dict(self.parameters)
        params.update(overrides or {})
        return to_namespace(params)

    def simulated_cases(self) -> list[dict]:
        """The hidden cases followed by the feedback cases: one network, one build, serves both
        the checks (which read cases ``0..len(cases())-1``) and the feedback plots."""
        try:
            extra = self.feedback_cases()
        except NotImplementedError:
            extra = []
        return self.cases() + extra

    def usable_parameters(self) -> tuple[str, ...]:
        return self.string_parameters or tuple(self.parameters)

    def failed(self, reason: str) -> list[CheckResult]:
        """Every check at zero points, each carrying the reason the simulation failed."""
        return [CheckResult(n, p, 0.0, reason) for n, p in self.points.items()]


def to_namespace(params: dict[str, tuple[float, str]]) -> dict:
    """``{"tau": (0.02, "second")}`` -> ``{"tau": 20*ms}``, evaluated with Brian's units."""
    import brian2.units as u
    import brian2.units.allunits as au

    units = {**vars(au), **vars(u)}
    return {
        k: float(v) * eval(unit, {"__builtins__": {}}, units) for k, (v, unit) in params.items()
    }
