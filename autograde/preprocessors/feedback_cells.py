"""``FeedbackCells``: the feedback page's view of the graded cells (the page only; the graded
notebook and the gradebook are not touched).

- A self-check cell worth no points (a grade cell with ``points: 0``) is shown as a plain cell:
  nbgrader's feedback template would list it in the table of contents as
  "Test cell (Score: 0.0 / 0.0)" and give it a score heading.
- A hidden-test cell keeps its message but not its ``execute_result``: that output is how
  :class:`~autograde.preprocessors.TrustedVerdicts` hands partial credit to nbgrader
  (``Out[7]: 1.8182``), a bare number with four decimals beside the page's "1.82"; and it is
  tagged :data:`VERDICT_TAG`, which the template writes as the class ``celltag_<tag>``, so that
  its message (prose) is set in the page's font, not as code (``autograde.feedback.WRAP_CSS``).
"""

from __future__ import annotations

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool

from graders.notebook import cell_check

from .common import META

#: The tag of a hidden-test cell on the page (class ``celltag_autograde-verdict``).
VERDICT_TAG = "autograde-verdict"


class FeedbackCells(NbGraderPreprocessor):
    """Tidy the graded cells for the student's feedback page.

    Runs in ``generate_feedback`` after ``GetGrades`` (the scores are read) and before
    ``ClearHiddenTests`` (a hidden cell is still recognised by its ``hidden_check`` call, as
    well as by the cells :class:`~autograde.preprocessors.TrustedVerdicts` recorded).
    nbconvert exports a copy of the notebook, so the autograded notebook on disk keeps every
    output nbgrader reads the scores from.
    """

    # nbconvert's preprocessors are off unless enabled; this one is meant to run wherever listed
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        self._hidden = set((nb.metadata.get(META) or {}).get("cells") or {})
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if not utils.is_grade(cell) or utils.is_solution(cell):
            return cell, resources
        info = cell.metadata["nbgrader"]
        if float(info.get("points") or 0) == 0:
            info["grade"] = False  # out of the table of contents and its "Score: 0.0 / 0.0"
            return cell, resources
        if cell.cell_type == "code" and (
            info.get("grade_id") in self._hidden or cell_check(cell.source or "") is not None
        ):
            cell.outputs = [o for o in cell.outputs if o.get("output_type") != "execute_result"]
            tags = list(cell.metadata.get("tags") or [])
            cell.metadata["tags"] = [*tags, VERDICT_TAG] if VERDICT_TAG not in tags else tags
        return cell, resources
