"""Grades in the shapes a learning-management system takes.

``grades.csv`` in the course folder: one row per student (sorted by id, with nbgrader's student
fields), one column per assignment, the total, optionally one column per graded check, every
score rounded as the course configures. It replaces ``nbgrader export``'s one row per student and
assignment, unrounded and unsorted.

``grades-canvas.csv`` and ``grades-moodle.csv`` (``autograde export --format canvas|moodle``):
the same grades in the columns each LMS's gradebook import reads (:func:`lms_table`), without
the total (an LMS computes its own, and a column it does not know becomes a new assignment).
The student fields come from nbgrader's student table, which ``autograde roster import`` fills
from the class list (:mod:`autograde.roster`).

``exports/gradescope/<assignment>/<student>/results.json``: the verdict of one submission in
Gradescope's ``results.json`` format (``score``, ``tests[{number, name, score, max_score,
status, output, output_format, visibility}]`` in the notebook's order), so the grader can also
run behind Gradescope or otter-style tooling.

A course sets the options in its ``nbgrader_config.py``, e.g. ``c.GradesExport.decimals = 1``.
An export that fails raises :class:`ExportError` with what went wrong; the gradebook and the
status files written before it are kept, and ``autograde grade`` run again exports without
regrading.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path

from nbgrader.api import MissingEntry
from traitlets import Bool, Dict, Integer
from traitlets.config import Config, LoggingConfigurable
from traitlets.config.loader import PyFileConfigLoader

from graders.results import Status

from .course import (
    answer_notes,
    hidden_numbers_policy,
    shown_message,
    shows_hidden_numbers,
    write_atomic,
)
from .gradebook_db import open_gradebook
from .jobs import StudentStatus

GRADES_CSV = "grades.csv"
EXPORTS_DIR = "exports"
STUDENT_FIELDS = ("student_id", "last_name", "first_name", "email", "lms_user_id")
FORMATS = ("plain", "canvas", "moodle")
#: The file each format writes in the course folder.
FORMAT_FILES = {"plain": GRADES_CSV, "canvas": "grades-canvas.csv", "moodle": "grades-moodle.csv"}

# Canvas's gradebook import (Canvas Instructor Guide, "How do I import grades in the
# Gradebook?"; summarised for instructors at
# https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades):
# the columns of Canvas's own gradebook export, "Student" (last name, first name), "ID"
# (Canvas's user id), "SIS User ID", "SIS Login ID", "Section", then one column per assignment;
# the row under the header gives each assignment's "Points Possible". Canvas finds the student
# by ID (else by SIS id) and the assignment by its name followed by "(<Canvas assignment id>)";
# a column it does not know becomes a new assignment.
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "Points Possible"
# Moodle's CSV grade import (https://docs.moodle.org/311/en/Grade_import, "CSV grade import"):
# the file has a header row; on upload the teacher maps one column to identify the user
# ("Map from" a column, "Map to" username, useremail or useridnumber) and each further column to
# a grade item. So: the names, the two identifiers it maps from, one column per assignment.
MOODLE_COLUMNS = ("First name", "Last name", "Username", "Email address")


class ExportError(RuntimeError):
    """The grades could not be exported; the message says why and what to do."""


class GradesExport(LoggingConfigurable):
    """How ``autograde grade`` exports grades (set in the course's ``nbgrader_config.py``)."""

    decimals = Integer(
        2, help="Decimal places of every exported score (the gradebook keeps full precision)."
    ).tag(config=True)
    per_check = Bool(
        False,
        help="Add one column per graded check ('<assignment>:<cell id>') to grades.csv.",
    ).tag(config=True)
    gradescope = Bool(
        True,
        help="Write a Gradescope-style results.json per graded submission under exports/.",
    ).tag(config=True)
    lms_columns = Dict(
        {},
        help="Assignment -> its column name in the LMS, for `autograde export --format "
        "canvas|moodle`: e.g. {'ei_balance': 'E/I balance (4711)'}, Canvas's assignment name "
        "and id as its own export writes them, so that the import fills that assignment "
        "instead of creating one. Default: the nbgrader assignment's name.",
    ).tag(config=True)


def settings(course: Path) -> GradesExport:
    """The course's export options (defaults where its ``nbgrader_config.py`` is silent)."""
    config = Config()
    path = Path(course) / "nbgrader_config.py"
    if path.is_file():
        config = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    return GradesExport(config=config)


def _round(x, decimals: int):
    return "" if x is None else round(float(x), decimals)


def grade_table(db_url: str, decimals: int = 2, per_check: bool = False) -> tuple[list, list]:
    """``(header, rows)`` of the gradebook: one row per student, sorted by id."""
    with warnings.catch_warnings(), open_gradebook(db_url) as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy noise from nbgrader's api
        assignments = sorted(gb.assignments, key=lambda a: (a.duedate is None, a.duedate, a.name))
        names = [a.name for a in assignments]
        checks = []
        if per_check:
            for a in assignments:
                for nb in a.notebooks:
                    checks += [
                        (a.name, nb.name, c.name)
                        for c in nb.grade_cells
                        if (c.max_score or 0) > 0  # ungraded self-checks are not grades
                    ]
        header = [*STUDENT_FIELDS, *names, "total", "max_total"]
        header += [f"{a}:{c}" for a, _, c in checks]
        max_total = sum(a.max_score for a in assignments)
        rows = []
        for st in sorted(gb.students, key=lambda s: s.id):
            row = [st.id, st.last_name or "", st.first_name or "", st.email or ""]
            row.append(getattr(st, "lms_user_id", None) or "")
            total = 0.0
            for a in names:
                try:
                    score = gb.find_submission(a, st.id).score
                except MissingEntry:
                    score = None
                total += score or 0.0
                row.append(_round(score, decimals))
            row += [_round(total, decimals), _round(max_total, decimals)]
            for a, nb, c in checks:
                try:
                    row.append(_round(gb.find_grade(c, nb, a, st.id).score, decimals))
                except MissingEntry:
                    row.append("")
            rows.append(row)
    return header, rows


def check_order(course, assignment: str) -> dict[str, int]:
    """Cell id -> position of every graded cell of ``assignment`` in the notebook's order.

    Read from the course's source notebooks (``source/<assignment>/*.ipynb``); empty where there
    are none (the records keep their own order then).
    """
    order: dict[str, int] = {}
    for path in sorted((Path(course) / "source" / assignment).glob("*.ipynb")):
        for cell in json.loads(path.read_text()).get("cells", []):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and meta.get("grade_id"):
                order.setdefault(meta["grade_id"], len(order))
    return order


def gradescope_results(
    status: StudentStatus,
    decimals: int = 2,
    order: dict | None = None,
    numbers: bool = True,
    policy: str = "always",
) -> dict:
    """One graded submission as Gradescope's ``results.json``, tests in the notebook's order
    (``order``: cell id -> position, :func:`check_order`) and numbered from 1.

    ``numbers``: whether the outputs may give the hidden cases' numbers now (else the words of
    each record's ``words``); ``policy`` (``c.Feedback.hidden_numbers``) gives the tests whose
    message has such numbers Gradescope's matching ``visibility`` ("after_due_date"); the
    others, and all under "always" or "never", are "visible".
    """
    items = [(cell, rec) for cells in status.checks.values() for cell, rec in cells.items()]
    if order:  # a stable sort: cells the notebook does not name keep their place at the end
        items.sort(key=lambda item: order.get(item[0], len(order)))
    tests = []
    for number, (_, rec) in enumerate(items, start=1):
        points, worth = rec.get("points", 0.0), rec.get("max_points", 0.0)
        tests.append(
            {
                "number": str(number),
                "name": rec["check"],
                "score": _round(points, decimals),
                "max_score": worth,
                "status": Status.PASSED if points >= worth - 1e-9 else Status.FAILED,
                "output": shown_message(rec, numbers),
                "output_format": "text",
                "visibility": (
                    "after_due_date"
                    if rec.get("words") and policy == "after_due_date"
                    else "visible"
                ),
            }
        )
    notes = [*status.incidents.values()]
    for events in status.events.values():
        notes += events
    for cells in status.checks.values():
        notes += [f"Note: {n}" for n in answer_notes(cells)]  # once, not in every test
    out = {
        "score": _round(status.score, decimals),
        "execution_time": status.seconds,
        "output_format": "text",
        "tests": tests,
    }
    if notes:
        out["output"] = "\n".join(notes)
    return out


def lms_table(db_url: str, fmt: str, decimals: int = 2, columns: dict | None = None) -> list:
    """The rows of ``fmt``'s grade file ("canvas" or "moodle"), header first.

    One row per student of nbgrader's student table (sorted by id), one column per assignment
    (named as ``columns`` says, else as in nbgrader), no total; a missing submission is blank.
    Canvas's second row gives each assignment's points possible.
    """
    if fmt not in ("canvas", "moodle"):
        raise ValueError(f"unknown LMS format {fmt!r}: one of canvas, moodle")
    header, rows = grade_table(db_url, decimals)
    names = header[len(STUDENT_FIELDS) : header.index("total")]
    with warnings.catch_warnings(), open_gradebook(db_url) as gb:
        warnings.simplefilter("ignore")
        worth = {a.name: a.max_score for a in gb.assignments}
    titles = [(columns or {}).get(a, a) for a in names]
    out = []
    if fmt == "canvas":
        out.append([*CANVAS_COLUMNS, *titles])
        blank = [""] * (len(CANVAS_COLUMNS) - 1)
        out.append([CANVAS_POINTS_ROW, *blank, *(_round(worth[a], decimals) for a in names)])
    else:
        out.append([*MOODLE_COLUMNS, *titles])
    for row in rows:
        sid, last, first, email, lms_id = row[: len(STUDENT_FIELDS)]
        scores = row[len(STUDENT_FIELDS) : len(STUDENT_FIELDS) + len(names)]
        if fmt == "canvas":
            student = ", ".join(x for x in (last, first) if x) or sid
            # ID: Canvas's own user id (nbgrader's lms_user_id); SIS Login ID: the login the
            # class list gave nbgrader as the student's id; no SIS user id or section is known
            out.append([student, lms_id, "", sid, "", *scores])
        else:
            out.append([first, last, sid, email, *scores])
    return out


def write_format(course, db_url: str, fmt: str) -> Path:
    """Write the grade file of ``fmt`` (:data:`FORMATS`) in the course folder; its path.

    Raises
    ------
    ExportError
        The gradebook could not be read or the file not written.
    """
    course = Path(course)
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    opts = settings(course)
    path = course / FORMAT_FILES[fmt]
    try:
        if fmt == "plain":
            header, rows = grade_table(db_url, opts.decimals, opts.per_check)
            rows = [header, *rows]
        else:
            rows = lms_table(db_url, fmt, opts.decimals, opts.lms_columns)
        text = io.StringIO()
        csv.writer(text).writerows(rows)
        write_atomic(path, text.getvalue())
    except Exception as err:  # noqa: BLE001 -- any failure of the export is reported the same way
        raise ExportError(
            f"could not export the grades of {course} as {fmt} ({type(err).__name__}: {err}); "
            "check that the course's gradebook can be read (`autograde grade` records it)"
        ) from err
    return path


def write(
    course, db_url: str, assignment: str | None = None, statuses: list[StudentStatus] = ()
) -> list[Path]:
    """Write ``grades.csv`` (and the Gradescope files of ``statuses``, those graded); return the
    paths.

    Raises
    ------
    ExportError
        The gradebook could not be read or a file not written; nothing graded is lost.
    """
    course = Path(course)
    opts = settings(course)
    written = []
    try:
        header, rows = grade_table(db_url, opts.decimals, opts.per_check)
        text = io.StringIO()
        w = csv.writer(text)
        w.writerow(header)
        w.writerows(rows)
        write_atomic(course / GRADES_CSV, text.getvalue())
        written.append(course / GRADES_CSV)
        if opts.gradescope and assignment:
            order = check_order(course, assignment)
            policy = hidden_numbers_policy(course)
            numbers = shows_hidden_numbers(course, assignment)
            for st in statuses:
                if not st.ok:
                    continue
                path = course / EXPORTS_DIR / "gradescope" / assignment / st.student
                write_atomic(
                    path / "results.json",
                    json.dumps(
                        gradescope_results(st, opts.decimals, order, numbers, policy), indent=1
                    ),
                )
                written.append(path / "results.json")
    except Exception as err:  # noqa: BLE001 -- any failure of the export is reported the same way
        raise ExportError(
            f"could not export the grades of {course} ({type(err).__name__}: {err}). The "
            "gradebook and the status files are kept: fix the cause and run `autograde grade` "
            "again, which exports without regrading"
        ) from err
    return written
