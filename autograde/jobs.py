"""What crosses between the coordinator and a worker: one submission's job and its result.

A :class:`SubmissionJob` is made by :func:`autograde.pipeline.make_jobs` (and the service's
grader) and graded by :func:`autograde.worker.grade_job`, in a process of the local pool or on
another machine (:mod:`autograde.cluster`); its :class:`SubmissionResult` comes back. Both cross
as plain data (:meth:`to_dict`: JSON-like values and bytes, never a pickled object of this
package) and as JSON text (:meth:`to_json`, bytes in base64: the stored results of
:mod:`autograde.submission_cache`). ``graders.job.Job`` is the other job: one simulation, handed
by the harness to a simulation process.

A :class:`StudentStatus` is what the course keeps of a result (the status file
``autograde_status/<assignment>/<student>.json``, :func:`autograde.course.record`): the result
without its files and plots, with the time it was recorded. The report, the exports, the
feedback pages and the CLI read it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field, fields

from .options import GradeOptions


def encode(x):
    """``x`` with every ``bytes`` as ``{"__b64__": ...}``, for JSON."""
    if isinstance(x, bytes):
        return {"__b64__": base64.b64encode(x).decode()}
    if isinstance(x, dict):
        return {k: encode(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [encode(v) for v in x]
    return x


def decode(x):
    """The inverse of :func:`encode`."""
    if isinstance(x, dict):
        if set(x) == {"__b64__"}:
            return base64.b64decode(x["__b64__"])
        return {k: decode(v) for k, v in x.items()}
    if isinstance(x, list):
        return [decode(v) for v in x]
    return x


@dataclass(frozen=True)
class SubmissionJob:
    """One student's submission to grade, with all a worker needs and no path of the course.

    Parameters
    ----------
    assignment, student : str
        Whose submission of what.
    submission : dict
        The submitted folder, ``relative path -> bytes``.
    source_files : dict
        The data files the assignment ships (no notebooks), ``relative path -> bytes``.
    gradebook : bytes
        The assignment's gradebook facts, SQLite (:func:`autograde.course.gradebook_facts`).
    config : dict
        The course's settings without paths or passwords
        (:func:`autograde.course.config_data`).
    options : GradeOptions
        The run's options; ``cache_dir`` is the worker's (empty: its default).
    fingerprint : str
        Of the submitted folder, kept with the result (:func:`autograde.course.fingerprint`).
    course_key : str
        Tells copies of a course apart in the result cache.
    """

    assignment: str
    student: str
    submission: dict
    source_files: dict
    gradebook: bytes
    config: dict
    options: GradeOptions
    fingerprint: str = ""
    course_key: str = ""

    def to_dict(self) -> dict:
        """Plain data: what an executor carries to the worker."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {
            "options": self.options.to_dict()
        }

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionJob:
        """The inverse of :meth:`to_dict`."""
        return cls(**{**data, "options": GradeOptions.from_dict(data.get("options") or {})})

    def to_json(self) -> str:
        return json.dumps(encode(self.to_dict()))

    @classmethod
    def from_json(cls, text: str) -> SubmissionJob:
        return cls.from_dict(decode(json.loads(text)))


@dataclass
class SubmissionResult:
    """What a worker hands back for one student; ``ok``: graded (a student's crashing or
    endless notebook is graded, with its reason), else ``error`` says why not."""

    student: str
    assignment: str
    ok: bool
    score: float = 0.0
    max_score: float = 0.0
    grades: dict = field(default_factory=dict)  # notebook -> grade_id -> {auto_score, ...}
    comments: dict = field(default_factory=dict)  # notebook -> grade_id -> auto_comment
    checks: dict = field(default_factory=dict)  # notebook -> grade_id -> TrustedVerdicts record
    incidents: dict = field(default_factory=dict)  # notebook -> reason the run was cut short
    events: dict = field(default_factory=dict)  # notebook -> cell timeouts, MemoryErrors
    timestamp: str | None = None
    backend: str | None = None
    seconds: float = 0.0
    error: str = ""
    files: dict = field(default_factory=dict)  # relative path -> bytes (the autograded folder)
    plots: dict = field(default_factory=dict)  # notebook -> autograde.feedback.make_plots(...)
    fingerprint: str = ""

    def to_dict(self) -> dict:
        """Plain data: what an executor carries back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionResult:
        """The inverse of :meth:`to_dict`; a key this class does not have is a
        ``TypeError`` (a result of another version of it)."""
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(encode(self.to_dict()))

    @classmethod
    def from_json(cls, text: str) -> SubmissionResult:
        return cls.from_dict(decode(json.loads(text)))


@dataclass(frozen=True)
class StudentStatus:
    """One student's status file: a :class:`SubmissionResult` as the course keeps it, without
    ``files`` and ``plots``, with ``graded_at`` (when it was recorded). The fields, their order
    and their meaning are the result's, so the file's keys are in the order they always had."""

    student: str
    assignment: str
    ok: bool
    score: float = 0.0
    max_score: float = 0.0
    grades: dict = field(default_factory=dict)
    comments: dict = field(default_factory=dict)
    checks: dict = field(default_factory=dict)
    incidents: dict = field(default_factory=dict)
    events: dict = field(default_factory=dict)
    timestamp: str | None = None
    backend: str | None = None
    seconds: float = 0.0
    error: str = ""
    fingerprint: str = ""
    graded_at: str = ""

    @classmethod
    def from_result(cls, res: SubmissionResult, graded_at: str) -> StudentStatus:
        """What :func:`autograde.course.record` keeps of ``res``, recorded at ``graded_at``."""
        kept = [f.name for f in fields(cls) if f.name != "graded_at"]
        return cls(**{k: getattr(res, k) for k in kept}, graded_at=graded_at)

    @classmethod
    def missing(cls, assignment: str, student: str) -> StudentStatus:
        """A submission with no status file: not graded, and the error says so."""
        return cls(
            student,
            assignment,
            ok=False,
            error=(
                f"no result yet (run `autograde grade` to grade it): {student}'s {assignment} "
                "has no readable status file (not graded, its grading was interrupted, or the "
                "file is damaged)"
            ),
        )

    @classmethod
    def from_dict(cls, data: dict) -> StudentStatus:
        """A status file's data (:meth:`to_dict`).

        Lenient both ways: a key the file lacks takes its default, since fields were added to
        the results over time (``events``, ``fingerprint``, ...) and a course graded by an older
        autograde must still give its report; a key this class does not know is left out, since
        the file is only read (nothing writes a status back from it) and a newer autograde's file
        must not stop the report. ``student``, ``assignment`` and ``ok`` every file has.

        Raises
        ------
        ValueError
            ``data`` is not a dict, or lacks ``student``, ``assignment`` or ``ok``.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a status file holds a JSON object, not {type(data).__name__}")
        lacks = [k for k in ("student", "assignment", "ok") if k not in data]
        if lacks:
            raise ValueError(f"a status file without {', '.join(lacks)} is not a status file")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict:
        """The status file's data, keys in the order of the fields."""
        return asdict(self)
