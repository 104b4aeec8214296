"""The course's policy for the grading service, declared once: default, help, and where it is set.

A course sets these in its ``nbgrader_config.py`` on the class below, e.g.
``c.ServicePolicy.submissions_per_hour = 3``; ``autograde serve`` reads them at start (restart
it after a change). Due dates are nbgrader's own (the gradebook's ``duedate`` of the assignment,
``nbgrader db assignment add NAME --duedate=...``) and so is the late penalty (nbgrader's
``LateSubmissionPlugin``, applied by ``AssignLatePenalties`` in the grading chain to the
timestamp the service gives a submission when it arrives, never the student's clock).
"""

from __future__ import annotations

from pathlib import Path

from traitlets import Bool, Integer, List, Unicode
from traitlets.config import Configurable
from traitlets.config.loader import PyFileConfigLoader


class ServicePolicy(Configurable):
    """What the grading service accepts, and how often."""

    # The grader answers with behaviour on hidden cases, so it is an oracle: unlimited
    # resubmissions would let a student search the hidden values. 6 an hour is one every ten
    # minutes on average, about the time a student needs to read the feedback and change the
    # answer.
    submissions_per_hour = Integer(
        6,
        help="graded submissions a student may make to one assignment in any hour; a submission "
        "over it is refused with the time the next one is allowed; 0: no limit",
    ).tag(config=True)

    # 5 MB: an exercise notebook with its plots is 0.3-1 MB; the cap keeps a notebook full of
    # printed arrays from filling the disk.
    max_upload_bytes = Integer(
        5_000_000, help="bytes one submission (all its notebooks, as sent) may have"
    ).tag(config=True)

    open_assignments = List(
        Unicode(),
        help="assignments open for submission; empty: every released one (a folder "
        "release/<name>/ in the course, as `autograde release` writes)",
    ).tag(config=True)

    accept_late = Bool(
        True,
        help="accept submissions after the assignment's nbgrader due date (graded with the "
        "course's late penalty, nbgrader's LateSubmissionPlugin); false: refuse them",
    ).tag(config=True)

    failed_logins_per_minute = Integer(
        10,
        help="failed token checks one client address may make in a minute before it is "
        "refused for the rest of that minute; 0: no limit",
    ).tag(config=True)


def load(course: Path) -> ServicePolicy:
    """The policy of ``course`` (its ``nbgrader_config.py``, defaults where it says nothing)."""
    path = Path(course) / "nbgrader_config.py"
    if not path.is_file():
        return ServicePolicy()
    config = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    return ServicePolicy(config=config)


def default(name: str):
    """The default value of policy setting ``name``."""
    return getattr(ServicePolicy(), name)
