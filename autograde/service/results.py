"""What a student reads of one graded submission on the service's pages: each check's points and
message, kept with the submission's feedback pages when it is graded.

The same words as the feedback page and the Gradescope export (:func:`autograde.exports.
gradescope_results`: the checks in the notebook's order, each message as the course's policy
shows it then, with or without the hidden cases' numbers), so the page, the feedback page
and ``nbgrader fetch_feedback`` agree.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import exports
from ..course import hidden_numbers_policy, load_status, shows_hidden_numbers
from ..jobs import StudentStatus

#: The file beside a submission's feedback pages.
RESULTS = "results.json"


def write(course: Path, assignment: str, student: str, folder: Path) -> None:
    """Write the checks of ``student``'s just recorded result into ``folder/results.json``."""
    status = load_status(course, assignment, student) or StudentStatus.missing(assignment, student)
    out = exports.gradescope_results(
        status,
        exports.settings(course).decimals,
        exports.check_order(course, assignment),
        shows_hidden_numbers(course, assignment),
        hidden_numbers_policy(course),
    )
    (Path(folder) / RESULTS).write_text(json.dumps(out, indent=1))


def read(folder: Path) -> dict | None:
    """The checks kept in ``folder`` (None for a submission graded before they were kept)."""
    try:
        return json.loads((Path(folder) / RESULTS).read_text())
    except (OSError, ValueError):
        return None
