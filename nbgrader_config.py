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
# URL here at scale, e.g. c.CourseDirectory.db_url = "postgresql://user@host/gradebook".

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
