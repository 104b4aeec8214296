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

# --- executing submissions ---------------------------------------------------------------------
# Per cell. A hidden-test cell may build the whole grading network (C++ standalone or GeNN
# compiles for tens of seconds, more on a loaded server); the other cells run in seconds.
c.Execute.timeout = 600
c.Execute.interrupt_on_timeout = True

# --- trusted grading -----------------------------------------------------------------------------
# The same chain `autograde grade` uses (autograde.pipeline writes this file's settings plus its
# per-worker overrides: sandboxed kernel, limits, backend, cache). SafeExecute survives dead
# kernels and enforces a limit per submission; TrustedVerdicts re-grades every hidden cell from
# the spec the kernel handed over, outside the kernel, so a plain `nbgrader autograde` gets
# verdicts the student's code cannot forge. A plain run has no sandbox: grade untrusted
# submissions with `autograde grade`. InertOutputs cleans the HTML and JavaScript the student's
# cells displayed, so that the graded notebook and the feedback page run no student script.
c.Autograde.autograde_preprocessors = [
    "autograde.preprocessors.SafeExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "autograde.preprocessors.TrustedVerdicts",
    "autograde.preprocessors.InertOutputs",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# A student who deleted a graded cell gets it back (and its points are computed as usual).
c.OverwriteCells.add_missing_cells = True
c.SafeExecute.timeout = 600
c.SafeExecute.interrupt_on_timeout = True
c.SafeExecute.submission_timeout = 1800.0
# Simulation backend of the trusted verdicts: "" picks AUTOGRADE_BACKEND, else the best installed
# (genn, genn-cpu, cpp_standalone, runtime); a name forces it, e.g. "genn-cpu". `autograde grade
# --backend` overrides it.
c.TrustedVerdicts.backend = ""
# No sandbox in a plain run, so the kernel could plant results in the shared cache: simulate
# afresh (the hidden cells of one notebook still share one build). `autograde grade` turns the
# cache back on for sandboxed kernels.
c.TrustedVerdicts.use_cache = False
