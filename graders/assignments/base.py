"""What an assignment provides to the grader, and the registry it joins.

An assignment names the fields of its answer spec, the parameters its task text states, how to
build one network that holds every hidden case (student, reference and control groups side by
side), the checks that grade the observables that network records, a feedback plot per check and
sample answers for the demo class. Each assignment is one package beside this module whose
``__init__.py`` calls :func:`register` (as Brian2's devices join ``all_devices``);
:mod:`graders.assignments` finds the packages and imports them on demand.

Quantities are plain floats in SI units everywhere in ``graders``: ``MV`` is one millivolt in
volts, so a value in mV is ``x * MV`` and a plot in mV shows ``volts / MV``.

Imports inside functions: Brian2 (about 4.7 s to import) loads only when units are evaluated.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..results import CheckResult
from .outcome import Outcome, outcome_of

MV = 1e-3  # one millivolt, in volts
MS = 1e-3  # one millisecond, in seconds

#: A check: ``check(spec, obs, cases) -> Outcome`` (or the short form ``(pass fraction in [0, 1],
#: message)``). ``obs`` are the observables of ``cases`` (keys as the assignment's ``build`` names
#: them): the hidden cases when grading, the feedback cases (renumbered from ``c0``) for the
#: feedback page. A check that also accepts a keyword ``visible`` is told which: with
#: ``visible=True`` it leaves out any extra protocol of its own that uses hidden values. The
#: words never print a hidden value.
Check = Callable[..., "Outcome | tuple[float, str]"]
#: A feedback plot: ``plot(check, ax, obs, cases, focus=None)`` draws on the Matplotlib ``Axes``
#: ``ax`` the student's traces against the reference for one check, on the feedback cases'
#: observables, at ``focus`` (:attr:`Outcome.focus`: where the check failed) with the check's
#: tolerance drawn. Plot functions without a ``focus`` parameter are called without it.
Plot = Callable[..., None]

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
    # Check name -> check function (see :data:`Check`); one per entry of ``points``.
    checks: dict[str, Check] = field(default_factory=dict)
    # Draws the feedback plot of a check (see :data:`Plot`); None: feedback without plots.
    plot: Plot | None = None
    # Sample answer cells for the demo class: kind ("right", "partly", "wrong") -> Python source
    # that defines the spec's fields, as a student would type it into the answer cell.
    answers: dict[str, str] = field(default_factory=dict)
    # What an answer can get wrong (:class:`graders.faults.Fault`, from the package's
    # ``faults.py``): a failing check's message ends with the advice of the faults the answer's
    # strings show, and with none where none is found. Empty: each check's own advice.
    faults: tuple = ()

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

    # --- shared ------------------------------------------------------------------------------
    def grade(self, spec: dict, obs: dict[str, np.ndarray], cases: list[dict]) -> list[CheckResult]:
        """Every check of :attr:`points`, in order, as a pure function of the observables.

        Parameters
        ----------
        spec : dict
            The validated answer spec (some checks read its statements).
        obs : dict of str to ndarray
            What :meth:`build` recorded, hidden cases first.
        cases : list of dict
            The hidden cases (:meth:`cases`).
        """
        out = []
        faults = self.diagnose(spec)
        for name, points in self.points.items():
            found = self.advised(name, self.run_check(name, spec, obs, cases), faults)
            focus = {"focus": found.focus} if found.focus is not None else {}
            message = found.hidden_message(points)
            # the same without the hidden cases' numbers, for feedback before the due date
            # (graders.settings.Feedback.hidden_numbers)
            words = found.hidden_message(points, numbers=False)
            details = {**focus, **({"words": words} if words != message else {})}
            out.append(CheckResult(name, points, found.fraction, message, details))
        return out

    def run_check(
        self, name: str, spec: dict, obs: dict, cases: list[dict], *, visible: bool = False
    ) -> Outcome:
        """Run check ``name`` on ``cases`` (``visible``: the feedback cases) as an Outcome."""
        fn = self.checks[name]
        kw = {"visible": True} if visible and "visible" in inspect.signature(fn).parameters else {}
        return outcome_of(fn(spec, obs, cases, **kw))

    def diagnose(self, spec: dict) -> dict[str, str] | None:
        """The faults the strings of ``spec`` show (:func:`graders.faults.diagnose`: name ->
        advice); None for an assignment without :attr:`faults`. A spec without its required
        fields (never graded: validation refuses it) shows none."""
        if not self.faults:
            return None
        if any(f.required and not isinstance(spec.get(f.name), str) for f in self.fields):
            return {}
        from ..faults import diagnose

        return diagnose(self, spec)

    def advised(self, name: str, found: Outcome, faults: dict[str, str] | None) -> Outcome:
        """``found`` with the advice of the ``faults`` that explain check ``name`` (none: no
        advice, the message says what was measured); unchanged without a diagnosis."""
        if faults is None:
            return found
        from ..faults import advice_for

        found.advice = advice_for(self, faults, name)
        return found

    def feedback(
        self, name: str, spec: dict, obs: dict, cases: list[dict], hidden_passed: bool = False
    ) -> CheckResult:
        """Check ``name`` measured on the feedback cases, for the feedback page.

        ``obs`` and ``cases`` as for :meth:`draw`; ``hidden_passed`` says whether the check
        passed on the hidden cases (the words differ when only those fail). The result's
        ``details`` hold ``focus`` (where to draw) and ``passed`` (on the feedback cases).
        """
        found = self.run_check(name, spec, obs, cases, visible=True)
        found = self.advised(name, found, self.diagnose(spec))
        return CheckResult(
            name,
            self.points.get(name, 0.0),
            found.fraction,
            found.feedback_message(hidden_passed),
            {"focus": found.focus, "passed": found.passed},
        )

    def draw(
        self, check: str, ax, obs: dict[str, np.ndarray], cases: list[dict], focus=None
    ) -> None:
        """Draw the feedback plot of ``check`` on the Matplotlib ``Axes`` ``ax``.

        ``obs`` are the feedback cases' observables, renumbered from ``c0``
        (:func:`graders.feedback.feedback_only`), ``cases`` the feedback cases and ``focus``
        where the check failed on them (:attr:`Outcome.focus`; None: the plot's own choice).
        """
        if self.plot is None:
            raise NotImplementedError(f"assignment {self.name!r} has no feedback plots")
        if "focus" in inspect.signature(self.plot).parameters:
            self.plot(check, ax, obs, cases, focus=focus)
        else:
            self.plot(check, ax, obs, cases)

    def code_digest(self) -> str:
        """Hash of every Python file of the assignment's package (part of the cache key).

        The observables depend on the network, the inputs and the constants, wherever in the
        package they live, so a change to any of its modules makes cached results stale.
        """
        package = Path(inspect.getfile(type(self))).resolve().parent
        h = hashlib.sha256()
        for path in sorted(package.rglob("*.py")):
            h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
        return h.hexdigest()

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


#: The assignments registered so far, by name (filled as their packages are imported).
REGISTRY: dict[str, Assignment] = {}


def register(assignment: Assignment) -> Assignment:
    """Add ``assignment`` to :data:`REGISTRY` and return it; its package's ``__init__`` calls
    this once: ``ASSIGNMENT = MyAssignment(...)``, then ``register(ASSIGNMENT)``.

    Raises
    ------
    ValueError
        A check named in ``points`` has no function in ``checks`` (or the other way round), or
        another assignment of the same name is registered already.
    """
    missing = [c for c in assignment.points if c not in assignment.checks]
    extra = [c for c in assignment.checks if c not in assignment.points]
    if missing or extra:
        raise ValueError(
            f"assignment {assignment.name!r}: every check needs points and a function; "
            f"without a function: {missing or 'none'}; without points: {extra or 'none'}"
        )
    known = REGISTRY.get(assignment.name)
    if known is not None and type(known).__module__ != type(assignment).__module__:
        raise ValueError(f"two assignments are called {assignment.name!r}; rename one")
    REGISTRY[assignment.name] = assignment
    return assignment
