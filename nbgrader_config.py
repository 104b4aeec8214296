"""nbgrader configuration of the Brian2GeNN course.

Run nbgrader from the repository root (the course directory). Instructors edit
``source/<assignment>/<assignment>.ipynb``; ``nbgrader generate_assignment <assignment> --force``
writes the student version to ``release/<assignment>/``, which is committed and kept identical
to what that command makes (``tests/test_release.py`` checks it).
"""

c = get_config()  # noqa: F821 -- provided by traitlets when nbgrader loads this file

# --- course directory ---------------------------------------------------------------------------
c.CourseDirectory.course_id = "brian2genn-course"

c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# Gradebook: sqlite:///<root>/gradebook.db (nbgrader's default; gitignored). Use a PostgreSQL
# URL here at scale, e.g. c.CourseDirectory.db_url = "postgresql+psycopg://user@host/gradebook".

# --- generating the student version ------------------------------------------------------------
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

# --- executing and grading submissions ----------------------------------------------------------
# Every grading setting (per-cell and per-submission limits, memory, backend, cache) is declared
# once, with its default and the reason for it, in graders/settings.py; the preprocessors take
# their defaults from there, and `autograde grade` its options. Set here only what this course
# wants to differ, on the class that uses it (`autograde grade` takes the same values from its
# options, e.g. --timeout), for example:
#     c.SafeExecute.timeout = 300              # seconds per cell
#     c.SafeExecute.submission_timeout = 1800  # seconds per notebook
#     c.TrustedVerdicts.backend = "genn-cpu"   # force a backend ("": AUTOGRADE_BACKEND or the best)
#     c.Feedback.hidden_numbers = "always"     # hidden cases' numbers before the due date too
#                                              # (default "after_due_date"; or "never")
from graders import settings  # noqa: E402

# nbgrader's own Execute (e.g. `nbgrader validate`) gets the same per-cell limit
c.Execute.timeout = int(settings.default("cell_timeout"))

# The same chain `autograde grade` uses (autograde.pipeline writes this file's settings plus its
# per-worker overrides: sandboxed kernel, limits, backend, cache). SafeExecute survives dead
# kernels and enforces a limit per submission; TrustedVerdicts re-grades every hidden cell from
# the spec the kernel handed over, outside the kernel, so a plain `nbgrader autograde` gets
# verdicts the student's code cannot forge. A plain run has no sandbox (so TrustedVerdicts uses
# no result cache there): grade untrusted submissions with `autograde grade`. InertOutputs
# cleans the HTML and JavaScript the student's cells displayed, so that the graded notebook and
# the feedback page run no student script.
c.Autograde.autograde_preprocessors = list(settings.PREPROCESSORS)
# A student who deleted a graded cell gets it back (and its points are computed as usual).
c.OverwriteCells.add_missing_cells = True

# --- feedback pages -----------------------------------------------------------------------------
# The same page as `autograde feedback` makes (without its per-check plots): no hidden-test code,
# no empty self-checks, maths rendered on the server (no MathJax from a CDN).
c.GenerateFeedback.preprocessors = list(settings.FEEDBACK_PREPROCESSORS)
c.GenerateFeedback.exporter_class = settings.FEEDBACK_EXPORTER
