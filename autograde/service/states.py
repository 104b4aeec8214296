"""The states of a submission to the grading service, as every module names them.

A submission is ``queued`` (waiting for a grading thread), then ``grading``, then ``graded`` or,
where the grader's side failed twice, ``failed`` (the student is told "not graded yet, the
instructor was told"); one still waiting when a newer submission of the same student to the
same assignment arrives is ``replaced`` and never graded. At start, ``grading`` rows go back to
``queued``: their result was never committed, so they are graded (once) again. An instructor's
regrade puts a ``graded`` or ``failed`` one back to ``queued``.

The values are the strings in the service's tables (SQLite and PostgreSQL alike), in its JSON
API (the ``state`` of a submission) and in its pages' markup, so a database written before
reads the same. The SQL passes them as parameters, as ``.value`` (a plain ``str``: psycopg
could dump an ``Enum`` by its name).

This module imports nothing of the package, so that nbgrader's exchange
(:mod:`autograde.exchange`, the client) and the store share it without loading the server.
"""

from __future__ import annotations

from enum import StrEnum


class SubmissionState(StrEnum):
    """Where a submission to the service stands (a ``StrEnum``:
    ``SubmissionState.QUEUED == "queued"``, the string its row and the JSON API hold)."""

    #: Waiting for a grading thread (also one an instructor queued to be graded again).
    QUEUED = "queued"
    #: A grading thread has it; back to queued at the next start if the service was killed.
    GRADING = "grading"
    #: Graded and recorded; a student's crashing or endless notebook is graded, with its reason.
    GRADED = "graded"
    #: The grader's side failed twice (not the student's code); the instructor was told.
    FAILED = "failed"
    #: It was waiting when a newer submission of the same student to the same assignment came.
    REPLACED = "replaced"


#: Waiting or being graded: a page showing one of these refreshes itself.
PENDING = frozenset({SubmissionState.QUEUED, SubmissionState.GRADING})

#: Done with: the latest submission in one of these states can be graded again.
REGRADABLE = frozenset({SubmissionState.GRADED, SubmissionState.FAILED})


def parse(value: str, sid: str = "?") -> SubmissionState:
    """The state stored in a row (``sid``: the submission's id, for the message).

    Raises
    ------
    ValueError
        ``value`` is none of the states this version knows (a database of a newer autograde,
        or a row edited by hand), naming the submission and the states it knows.
    """
    try:
        return SubmissionState(value)
    except ValueError:
        known = ", ".join(s.value for s in SubmissionState)
        raise ValueError(
            f"submission {sid} has the state {value!r}, which this autograde does not know "
            f"(it knows {known}): was the service's database written by a newer autograde? "
            "Run that version, or set the row's state to one of these"
        ) from None
