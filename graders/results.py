"""Result types shared by checks, the harness and the command line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """How a check ended, as every module names it; each value is the string that JSON, the
    status files, the feedback page, the class report and the exports hold (a ``StrEnum``:
    ``Status.GRADED == "graded"``, so records written before read the same)."""

    #: The answer was simulated and checked (full marks or not).
    GRADED = "graded"
    #: The simulation ran past its time limit.
    TIMEOUT = "timeout"
    #: The simulation ran out of memory.
    MEMORY = "memory"
    #: The simulation process failed otherwise.
    CRASHED = "crashed"
    #: The hidden cell never ran (the notebook stopped before it).
    NOT_RUN = "not_run"
    #: The answer handed over was refused by validation (the message says why).
    INVALID_SPEC = "invalid_spec"
    #: The hidden cell ran but handed no answer over.
    NO_SPEC = "no_spec"
    #: The answer cell still raises ``NotImplementedError``.
    NOT_ANSWERED = "not_answered"
    #: The hidden cell's hand-over was interfered with.
    TAMPERED = "tampered"
    #: In the exports' per-test records: full marks, or not.
    PASSED = "passed"
    FAILED = "failed"


#: The statuses where the grader's run, not the answer, decided the points: a later run may
#: go otherwise.
CUT_SHORT = frozenset({Status.TIMEOUT, Status.MEMORY, Status.CRASHED, Status.NOT_RUN})


@dataclass
class CheckResult:
    """The outcome of one check.

    Parameters
    ----------
    name : str
        Stable identifier of the check (e.g. ``"jump"``).
    max_points : float
        Points the check is worth.
    fraction : float
        Pass fraction in ``[0, 1]``; the check earns ``fraction * max_points``.
    message : str
        Feedback in physics terms, addressed to the student.
    details : dict
        What the grader keeps for itself: ``focus``, where the check failed on the cases it
        ran on (:attr:`graders.assignments.base.Outcome.focus`), and, on the feedback cases,
        ``passed``. Not in :meth:`to_json`: on hidden cases it names the hidden case.
    """

    name: str
    max_points: float
    fraction: float
    message: str
    details: dict = field(default_factory=dict)

    @property
    def points(self) -> float:
        return round(self.max_points * max(0.0, min(1.0, self.fraction)), 6)

    @property
    def passed(self) -> bool:
        return self.fraction >= 1.0

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "points": self.points,
            "max_points": self.max_points,
            "passed": self.passed,
            "message": self.message,
        }


@dataclass
class Verdict:
    """Everything ``python -m graders check`` reports for one spec."""

    assignment: str
    backend: str
    checks: list[CheckResult]
    notes: list[str] = field(default_factory=list)
    status: Status = Status.GRADED  # or TIMEOUT, MEMORY, CRASHED with every check at zero
    timing: dict = field(default_factory=dict)

    @property
    def score(self) -> float:
        return round(sum(c.points for c in self.checks), 6)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_points for c in self.checks), 6)

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_json(self) -> dict:
        return {
            "assignment": self.assignment,
            "backend": self.backend,
            "status": str(self.status),
            "score": self.score,
            "max_score": self.max_score,
            "checks": [c.to_json() for c in self.checks],
            "notes": list(self.notes),
            "timing": dict(self.timing),
        }


@dataclass
class Problem:
    """One thing wrong with a spec: the field it is in and what to do about it."""

    field: str
    kind: str
    message: str

    def to_json(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SpecError(ValueError):
    """A spec that cannot be graded; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    def to_json(self) -> dict:
        return {
            "error": "invalid spec",
            "problems": [p.to_json() for p in self.problems],
        }
