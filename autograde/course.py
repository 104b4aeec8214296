"""The course folder: its gradebook, submissions, configuration and status files.

Only the coordinating process (:mod:`autograde.pipeline`) writes here: the gradebook,
``autograded/``, one status file per student (``autograde_status/<assignment>/<student>.json``)
and the feedback plots next to it, each as soon as a result arrives (:func:`record`), so an
interrupted run loses nothing already graded. Of :mod:`autograde` this module imports only
:mod:`autograde.gradebook_db` and the types of :mod:`autograde.jobs`, so every other room may read
the course through it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from graders import settings

from . import gradebook_db
from .jobs import StudentStatus

STATUS_DIR = "autograde_status"


def config_text(course: Path) -> str:
    """The course's ``nbgrader_config.py`` (a bare one where the course has none)."""
    cfg = course / "nbgrader_config.py"
    return cfg.read_text() if cfg.is_file() else "c = get_config()  # noqa: F821\n"


# Course settings a grading worker is not sent: where the course, its folders and its gradebook
# live (the worker lays out its own temporary course), which are paths of this machine and may
# hold the gradebook's password. Exchange settings are paths of the exchange, never used there.
_NOT_SENT = {"CourseDirectory": {"root", "db_url"}}
_NOT_SENT_SECTIONS = ("Exchange",)


def config_data(course: Path) -> dict:
    """The course's ``nbgrader_config.py`` as plain data, for a grading worker.

    The file is loaded here (it may import and compute), and its values are sent: a worker
    writes them into its own temporary course (:func:`autograde.worker.grade_one`). Left out:
    the course's paths and gradebook URL (``_NOT_SENT``), the exchange's settings, the folder
    names of ``CourseDirectory`` (the worker's course uses nbgrader's own) and any value that
    names this course's folder.

    Raises
    ------
    ValueError
        A setting that is not plain data (JSON: numbers, strings, lists, dicts), which could
        not be written into the worker's configuration.
    """
    path = course / "nbgrader_config.py"
    if not path.is_file():
        return {}
    loaded = PyFileConfigLoader(path.name, path=str(course)).load_config()
    where = str(course)
    out = {}
    for section, values in loaded.items():
        if section.startswith(_NOT_SENT_SECTIONS) or not hasattr(values, "items"):
            continue
        kept = {}
        for key, value in values.items():
            if key in _NOT_SENT.get(section, ()) or key.endswith("_directory"):
                continue
            try:
                text = json.dumps(value)
            except TypeError:
                raise ValueError(
                    f"c.{section}.{key} in {path} is {type(value).__name__}, not plain data "
                    "(numbers, strings, lists, dicts), so it cannot be sent to a grading worker: "
                    "write its value out in the file"
                ) from None
            if where not in text:
                kept[key] = value
        if kept:
            out[section] = kept
    return out


def files(folder: Path, *, notebooks: bool = True) -> dict[str, bytes]:
    """Every file under ``folder`` as ``relative path -> bytes`` (notebooks where ``notebooks``)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and (notebooks or p.suffix != ".ipynb")
    }


def gradebook_facts(course: Path, assignment: str, dest: Path) -> bytes:
    """What nbgrader in a worker needs of the gradebook, as SQLite bytes.

    A snapshot (:func:`snapshot`, SQLite or PostgreSQL) of the assignments and their cells, with
    every student and submission taken out: a worker gets the facts of the assignment (cells,
    points, checksums, due date) and nothing of anyone's grades.
    """
    snapshot(course, dest)
    con = sqlite3.connect(dest)
    try:
        with con:
            # children first (foreign keys); nbgrader re-creates the student it grades
            for table in ("grade", "comment", "submitted_notebook", "submitted_assignment"):
                con.execute(f"DELETE FROM {table}")  # noqa: S608 -- fixed table names
            con.execute("DELETE FROM student")
        con.execute("VACUUM")
    finally:
        con.close()
    return dest.read_bytes()


def fingerprint(folder: Path) -> str:
    """A hash of a submission folder, to regrade only what changed."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def run_nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` in ``course`` with this Python; raises on failure where ``check``."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def db_url(course: Path) -> str:
    """The course's gradebook: its ``c.CourseDirectory.db_url``, else ``gradebook.db`` in it."""
    return gradebook_db.course_db_url(course)


def ensure_assignment(course: Path, assignment: str) -> None:
    """Record the assignment's notebooks and cells in the gradebook if they are missing.

    Generates into a temporary release folder, leaving the committed ``release/`` untouched.
    """
    # Imported here: nbgrader.api takes 2-4 s to import, which `autograde release` and the
    # feedback pages (that read this module's paths only) need not pay.
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url(course)) as gb:
        try:
            if gb.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            pass
    with tempfile.TemporaryDirectory() as tmp:
        generate(course, assignment, Path(tmp))


def generate(course: Path, assignment: str, folder: Path) -> Path:
    """``nbgrader generate_assignment`` into ``folder`` (not ``release/``); the gradebook
    records the assignment's cells on the way. Returns ``folder / assignment``."""
    run_nbgrader(
        course,
        "generate_assignment",
        assignment,
        "--force",
        f"--CourseDirectory.release_directory={folder}",
    )
    return folder / assignment


def snapshot(course: Path, dest: Path) -> Path:
    """A consistent SQLite copy of the gradebook, SQLite or PostgreSQL (see gradebook_db)."""
    return gradebook_db.snapshot(db_url(course), dest)


def students(course: Path, assignment: str) -> list[str]:
    base = course / "submitted"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())


def status_path(course: Path, assignment: str, student: str) -> Path:
    return course / STATUS_DIR / assignment / f"{student}.json"


def load_status(course: Path, assignment: str, student: str) -> StudentStatus | None:
    """The student's status file, or None where there is none (or it cannot be read: the
    student is then regraded, and the report says there is no result yet)."""
    p = status_path(course, assignment, student)
    try:
        return StudentStatus.from_dict(json.loads(p.read_text()))
    except (OSError, ValueError):  # json.JSONDecodeError is a ValueError
        return None


def answer_notes(cells: dict) -> list[str]:
    """The notes on a student's answer (``notes`` of the check records of one notebook, as
    ``TrustedVerdicts`` keeps them beside every check), each once, in order."""
    out: list[str] = []
    for rec in cells.values():
        for note in rec.get("notes") or ():
            if note not in out:
                out.append(note)
    return out


def hidden_numbers_policy(course: Path) -> str:
    """The course's ``c.Feedback.hidden_numbers`` (:class:`graders.settings.Feedback`)."""
    path = Path(course) / "nbgrader_config.py"
    config = Config()
    if path.is_file():
        config = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    return settings.Feedback(config=config).hidden_numbers


def due_date(course: Path, assignment: str):
    """The assignment's due date in nbgrader's gradebook (naive UTC), or None."""
    from nbgrader.api import Gradebook, MissingEntry  # 2-4 s to import, as above

    try:
        with Gradebook(db_url(Path(course))) as gb:
            return gb.find_assignment(assignment).duedate
    except MissingEntry:
        return None


def shows_hidden_numbers(course: Path, assignment: str, now=None) -> bool:
    """Whether the students' feedback of ``assignment`` may give the hidden cases' numbers now:
    the course's policy and the assignment's due date (:func:`graders.settings.
    shows_hidden_numbers`)."""
    policy = hidden_numbers_policy(course)
    if policy != "after_due_date":
        return settings.shows_hidden_numbers(policy, None)
    return settings.shows_hidden_numbers(policy, due_date(course, assignment), now)


def shown_message(rec: dict, numbers: bool) -> str:
    """A check record's message as a student may read it: with the hidden cases' numbers
    (``message``) or in words (``words``, where the message has such numbers)."""
    if numbers or not rec.get("words"):
        return rec.get("message") or ""
    return rec["words"]


def plots_path(course: Path, assignment: str, student: str) -> Path:
    """Where the worker's plots of one student are kept (instructor side, next to the status)."""
    return Path(course) / STATUS_DIR / assignment / "plots" / f"{student}.json"


def record(course: Path, res) -> None:
    """Write one result into the course: gradebook, autograded files, status (in that order).

    ``res`` is an :class:`autograde.jobs.SubmissionResult`.
    """

    a, s = res.assignment, res.student
    if res.ok:
        with warnings.catch_warnings(), gradebook_db.open_gradebook(db_url(course)) as gb:
            warnings.simplefilter("ignore")  # SQLAlchemy autoflush noise from nbgrader's api
            gb.update_or_create_student(s)
            kw = {"timestamp": res.timestamp} if res.timestamp else {}
            gb.update_or_create_submission(a, s, **kw)
            for nb, grades in res.grades.items():
                for gid, g in grades.items():
                    grade = gb.find_grade(gid, nb, a, s)
                    grade.auto_score = g["auto_score"]
                    # As SaveAutoGrades: a manual score or no automatic one needs a human.
                    grade.needs_manual_grade = (
                        grade.manual_score is not None or grade.auto_score is None
                    )
                for gid, text in res.comments.get(nb, {}).items():
                    gb.find_comment(gid, nb, a, s).auto_comment = text
            gb.db.commit()
        out = course / "autograded" / s / a
        if out.exists():
            shutil.rmtree(out)
        for rel, data in res.files.items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(data)
    if res.ok:
        pp = plots_path(course, a, s)
        pp.parent.mkdir(parents=True, exist_ok=True)
        pp.write_text(json.dumps(res.plots))
    status = StudentStatus.from_result(res, graded_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
    write_atomic(status_path(course, a, s), json.dumps(status.to_dict(), indent=1, default=str))
