"""nbgrader preprocessors of the grading pipeline.

``SafeExecute`` replaces nbgrader's ``Execute``: it survives a dead kernel, enforces a wall-clock
limit for the whole submission as well as per cell, and caps the output a cell may produce.
``TrustedVerdicts`` sits between it and ``SaveAutoGrades``: for every hidden-test cell it takes the
spec the kernel handed over (a ``GRADERS-SPEC {...}`` line), re-grades it with :func:`graders.check`
outside the kernel and rewrites the cell's outputs, so that nothing the student's code did inside
the kernel (monkeypatching ``graders``, numpy or ``showtraceback``) can change the score.
``InertOutputs`` then cleans the HTML and JavaScript the student's cells displayed, so that
neither the graded notebook nor the feedback page made from it runs a student's script.
``FeedbackCells`` runs only when the feedback page is made: self-checks worth no points leave
its table of contents, hidden cells show their message without nbgrader's bare score.

The course's ``nbgrader_config.py`` enables them with ``c.Autograde.autograde_preprocessors``
(:data:`graders.settings.PREPROCESSORS`); their traits' defaults and help come from
:class:`graders.settings.Grading`.

One preprocessor per module, as nbgrader has them: :mod:`.safe_execute`,
:mod:`.trusted_verdicts`, :mod:`.inert_outputs`, :mod:`.feedback_cells`; the names stay
importable from here, where the configuration names them (``autograde.preprocessors.SafeExecute``).
"""

from __future__ import annotations

from .common import META
from .feedback_cells import FeedbackCells
from .inert_outputs import InertOutputs
from .safe_execute import SafeExecute
from .trusted_verdicts import TrustedVerdicts

__all__ = ["META", "FeedbackCells", "InertOutputs", "SafeExecute", "TrustedVerdicts"]
