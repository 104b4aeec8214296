"""One simulation job: what the harness asks a fresh simulation process to build and run.

A job travels to that process as ``JOBDIR/job.json``, plain JSON (never a pickle)::

    {"assignment": ..., "backend": ..., "cases": [...], "spec": {...}, "dry_run": true}

with ``specs`` (a list of answers, one build holding all their networks) in place of ``spec``
for a batch. :meth:`Job.write` is the one place that writes it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: The file a job folder holds the job in.
JOB_FILE = "job.json"


def _as_json(value, name: str):
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as err:
        raise TypeError(f"a Job's {name} must be plain JSON data (no pickles): {err}") from None


@dataclass(frozen=True)
class Job:
    """What one simulation process builds and runs.

    Parameters
    ----------
    assignment : str
        The assignment's registered name.
    backend : str
        A backend name from :mod:`graders.backends`.
    cases : list of dict
        The cases every network is run on (all in one network).
    spec : dict, optional
        One answer. Exactly one of ``spec`` and ``specs`` is given.
    specs : list of dict, optional
        A batch: every answer's network in one build, each under its own name prefix.
    dry_run : bool
        Check each answer with Brian on the runtime device first (units, unknown names).
    """

    assignment: str
    backend: str
    cases: list
    spec: dict | None = None
    specs: list | None = None
    dry_run: bool = True

    def __post_init__(self):
        if (self.spec is None) == (self.specs is None):
            raise ValueError("a Job takes exactly one of spec (one answer) and specs (a batch)")
        # held as JSON gives them back (tuples become lists), so that a job read from its file
        # equals the one written; what JSON cannot carry fails here, not in the other process
        for name in ("cases", "spec", "specs"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _as_json(value, name))

    @property
    def batch(self) -> bool:
        """Whether this job builds many answers together."""
        return self.specs is not None

    def to_json(self) -> dict:
        """The job as JSON data, in the format of ``job.json``."""
        answer = {"specs": self.specs} if self.batch else {"spec": self.spec}
        return {
            "assignment": self.assignment,
            **answer,
            "cases": self.cases,
            "backend": self.backend,
            "dry_run": self.dry_run,
        }

    @classmethod
    def from_json(cls, data: dict) -> Job:
        """The job :meth:`to_json` gave (``dry_run`` defaults to true where absent)."""
        return cls(
            assignment=data["assignment"],
            backend=data["backend"],
            cases=data["cases"],
            spec=data.get("spec"),
            specs=data.get("specs"),
            dry_run=data.get("dry_run", True),
        )

    def write(self, jobdir: str | os.PathLike) -> Path:
        """Write ``JOBDIR/job.json`` atomically; its path."""
        path = Path(jobdir) / JOB_FILE
        fd, tmp = tempfile.mkstemp(dir=jobdir, prefix=".job-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.to_json(), f)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        return path

    @classmethod
    def read(cls, jobdir: str | os.PathLike) -> Job:
        """The job in ``JOBDIR/job.json``."""
        return cls.from_json(json.loads((Path(jobdir) / JOB_FILE).read_text()))
