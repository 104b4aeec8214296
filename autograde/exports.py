"""Grades in the shapes a learning-management system takes.

``grades.csv`` in the course folder: one row per student (sorted by id, with nbgrader's student
fields), one column per assignment, the total, optionally one column per graded check, every
score rounded as the course configures. It replaces ``nbgrader export``'s one row per student and
assignment, unrounded and unsorted.

``exports/gradescope/<assignment>/<student>/results.json``: the verdict of one submission in
Gradescope's ``results.json`` format (``score``, ``tests[{name, score, max_score, output,
visibility}]``), so the grader can also run behind Gradescope or otter-style tooling.

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
from traitlets import Bool, Integer
from traitlets.config import Config, LoggingConfigurable
from traitlets.config.loader import PyFileConfigLoader

from .course import write_atomic
from .gradebook_db import open_gradebook

GRADES_CSV = "grades.csv"
EXPORTS_DIR = "exports"
STUDENT_FIELDS = ("student_id", "last_name", "first_name", "email", "lms_user_id")


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


def gradescope_results(status: dict, decimals: int = 2) -> dict:
    """One graded submission as Gradescope's ``results.json``."""
    tests = []
    for cells in (status.get("checks") or {}).values():
        for rec in cells.values():
            tests.append(
                {
                    "name": rec["check"],
                    "score": _round(rec.get("points", 0.0), decimals),
                    "max_score": rec.get("max_points", 0.0),
                    "output": rec.get("message", ""),
                    "visibility": "visible",
                }
            )
    notes = [*(status.get("incidents") or {}).values()]
    for events in (status.get("events") or {}).values():
        notes += events
    out = {
        "score": _round(status.get("score", 0.0), decimals),
        "execution_time": status.get("seconds", 0.0),
        "tests": tests,
    }
    if notes:
        out["output"] = "\n".join(notes)
    return out


def write(course, db_url: str, assignment: str | None = None, statuses=()) -> list[Path]:
    """Write ``grades.csv`` (and the Gradescope files of ``statuses``); return the paths.

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
            for st in statuses:
                if not st or not st.get("ok"):
                    continue
                path = course / EXPORTS_DIR / "gradescope" / assignment / st["student"]
                write_atomic(
                    path / "results.json", json.dumps(gradescope_results(st, opts.decimals))
                )
                written.append(path / "results.json")
    except Exception as err:  # noqa: BLE001 -- any failure of the export is reported the same way
        raise ExportError(
            f"could not export the grades of {course} ({type(err).__name__}: {err}). The "
            "gradebook and the status files are kept: fix the cause and run `autograde grade` "
            "again, which exports without regrading"
        ) from err
    return written
