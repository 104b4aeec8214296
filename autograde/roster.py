"""The class list in nbgrader's student table: ``autograde roster import roster.csv``.

A roster is a CSV file with a header row and one row per student. Its columns (names in any
case, in any order) are nbgrader's student fields: ``id`` (the student's folder name under
``submitted/``, also read as ``student_id``, ``username`` or ``login``), ``first_name``,
``last_name``, ``email`` and ``lms_user_id`` (the LMS's own user id, e.g. Canvas's "ID" column),
with the spellings an LMS export uses (``First name``, ``Surname``, ``Email address``). Only
``id`` is required. Each row creates the student or updates the fields it gives (an empty cell
changes nothing), through nbgrader's ``Gradebook.update_or_create_student``, so that
``grades.csv`` and ``autograde export --format canvas|moodle`` carry names, emails and LMS ids.

A roster with an unknown column, a row without an id, or one id twice is refused as a whole
(:class:`RosterError`, every problem with its line), before anything is written.
"""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

from .gradebook_db import open_gradebook

FIELDS = ("id", "first_name", "last_name", "email", "lms_user_id")
#: Header spellings (lower case, spaces and dashes as underscores) -> nbgrader's field.
ALIASES = {
    "id": "id",
    "student_id": "id",
    "username": "id",
    "login": "id",
    "first_name": "first_name",
    "firstname": "first_name",
    "given_name": "first_name",
    "last_name": "last_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family_name": "last_name",
    "email": "email",
    "email_address": "email",
    "lms_user_id": "lms_user_id",
    "lms_id": "lms_user_id",
}
# nbgrader's student id is a folder name under submitted/
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")


class RosterError(ValueError):
    """A roster that cannot be imported; the message lists every problem and the fix."""


def _key(header: str) -> str:
    return re.sub(r"[\s-]+", "_", header.strip().lower())


def read(path) -> list[dict[str, str]]:
    """The roster's students as dicts of nbgrader's fields (empty cells left out).

    Raises
    ------
    RosterError
        The file is missing or unreadable, a column is unknown, the id column is missing, or
        a row has no valid id or repeats one.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # Excel's byte-order mark
    except (OSError, UnicodeDecodeError) as err:
        raise RosterError(f"cannot read the roster {path}: {err}") from err
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header:
        raise RosterError(f"the roster {path} is empty: it needs a header row, e.g. {FIELDS}")
    columns = [ALIASES.get(_key(h)) for h in header]
    unknown = [h for h, c in zip(header, columns, strict=True) if c is None and h.strip()]
    problems = []
    if unknown:
        problems.append(
            f"unknown column(s) {', '.join(map(repr, unknown))}: the columns are "
            f"{', '.join(FIELDS)} (or their LMS spellings, e.g. 'Email address'); rename or "
            "remove the others"
        )
    if "id" not in columns:
        problems.append(f"no id column: add one named id (or {', '.join(sorted(_aliases('id')))})")
    if problems:
        raise RosterError(f"the roster {path} cannot be imported: " + "; ".join(problems))
    students, seen = [], {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        fields = {
            c: cell.strip() for c, cell in zip(columns, row, strict=False) if c and cell.strip()
        }
        sid = fields.get("id", "")
        if not _ID.match(sid):
            problems.append(
                f"line {line}: {'no id' if not sid else f'the id {sid!r} is not a folder name'}"
                " (letters, digits and . _ @ + -, as the student's folder under submitted/)"
            )
        elif sid in seen:
            problems.append(f"line {line}: the id {sid!r} is also on line {seen[sid]}")
        else:
            seen[sid] = line
            students.append(fields)
    if problems:
        raise RosterError(f"the roster {path} cannot be imported: " + "; ".join(problems))
    return students


def _aliases(field: str) -> set[str]:
    return {k for k, v in ALIASES.items() if v == field and k != field}


def import_roster(db_url: str, path) -> tuple[int, int]:
    """Create or update every student of the roster at ``path`` in the gradebook at ``db_url``.

    Returns
    -------
    (added, updated) : tuple of int
    """
    students = read(path)
    added = updated = 0
    with warnings.catch_warnings(), open_gradebook(db_url) as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy noise from nbgrader's api
        known = {s.id for s in gb.students}
        for fields in students:
            sid = fields.pop("id")
            gb.update_or_create_student(sid, **fields)
            updated += sid in known
            added += sid not in known
    return added, updated
