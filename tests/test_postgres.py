"""A PostgreSQL gradebook (``c.CourseDirectory.db_url = "postgresql+psycopg://..."``).

The tests marked ``postgres`` start a real PostgreSQL server of their own (Debian's package,
found in ``/usr/lib/postgresql/<version>/bin``; see :mod:`postgres_server`) and grade the same
small class twice through ``autograde grade`` on the runtime backend: into nbgrader's SQLite file,
and into PostgreSQL in a run that is killed half-way and run again. The two gradebooks must hold
the same rows and ``nbgrader export`` the same ``grades.csv`` rows. Where the server binaries are
missing or the server cannot start, they are skipped with the reason (and a summary line). The
tests of an unreachable database need no server and run everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from banks import SMALL_CLASS
from sqlalchemy.engine import make_url

from autograde import course as coursedir
from autograde import demo, gradebook_db
from autograde.jobs import SubmissionResult
from graders import settings

REPO = Path(__file__).resolve().parent.parent
A = "adaptive_threshold"
CLASS = SMALL_CLASS
HIDDEN = {"hidden_reduction", "hidden_jump", "hidden_decay", "hidden_rest", "hidden_agreement"}
SANDBOX = shutil.which("bwrap") is not None


def _env(cache: Path) -> dict:
    env = dict(os.environ, **{settings.BACKEND_ENV: "runtime", settings.CACHE_ENV: str(cache)})
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _grade_cmd(*extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "autograde", "grade", A, "--jobs", "2", "--timeout", "20"]
    cmd += ["--submission-timeout", "120", "--memory", "3000", *extra]
    return cmd if SANDBOX else cmd + ["--no-sandbox"]


def _use_db(course: Path, url: str) -> None:
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(f"\nc.CourseDirectory.db_url = {url!r}\n")


def gradebook_rows(url: str, assignment: str) -> dict:
    """Everything nbgrader keeps about ``assignment``, keyed by names (ids are random uuids)."""
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb:
        a = gb.find_assignment(assignment)
        out = {
            "assignment": (a.name, a.duedate, a.max_score),
            "students": sorted(s.id for s in gb.students),
            "cells": sorted(
                (
                    nb.name,
                    type(c).__name__,
                    c.name,
                    getattr(c, "max_score", None),
                    getattr(c, "checksum", None),
                    getattr(c, "locked", None),
                )
                for nb in a.notebooks
                for c in [*nb.grade_cells, *nb.solution_cells, *nb.task_cells, *nb.source_cells]
            ),  # fmt: skip
            "submissions": {},
            "grades": {},
            "comments": {},
        }
        for sub in a.submissions:
            s = sub.student.id
            out["submissions"][s] = (
                sub.timestamp, sub.score, sub.max_score, sub.needs_manual_grade,
                sub.late_submission_penalty,
            )  # fmt: skip
            for nb in sub.notebooks:
                for g in nb.grades:
                    out["grades"][(s, nb.name, g.name)] = (
                        g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade,
                        g.max_score,
                    )  # fmt: skip
                for c in nb.comments:
                    out["comments"][(s, nb.name, c.name)] = (c.auto_comment, c.manual_comment)
    return out


# --- a real server --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg(pg_server):
    """The test session's PostgreSQL server (``pg_server``, tests/conftest.py)."""
    return pg_server


@pytest.fixture(scope="module")
def two_gradebooks(pg, tmp_path_factory):
    """The same class graded into SQLite, and into PostgreSQL by a run killed half-way and then
    run again (with the result cache of the first, as a course's second run would have)."""
    base = tmp_path_factory.mktemp("postgres")
    env = _env(base / "cache")
    lite = demo.make_course(base / "sqlite", REPO, A, CLASS)
    t0 = time.perf_counter()
    first = subprocess.run(
        _grade_cmd(), cwd=lite, env=env, capture_output=True, text=True, timeout=1200
    )
    assert first.returncode == 0, first.stderr[-3000:]
    sqlite_s = time.perf_counter() - t0

    url = pg.createdb("gradebook")
    course = demo.make_course(base / "pg", REPO, A, CLASS)
    _use_db(course, url)
    t0 = time.perf_counter()
    killed = subprocess.Popen(
        _grade_cmd(),
        cwd=course,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    status = course / coursedir.STATUS_DIR / A
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and killed.poll() is None:
        if status.is_dir() and len(list(status.glob("*.json"))) >= 1:
            break
        time.sleep(0.2)
    os.killpg(killed.pid, signal.SIGKILL)  # the grading server dies mid-class
    killed.wait()
    before = {p.stem: json.loads(p.read_text()) for p in status.glob("*.json")}
    second = subprocess.run(
        _grade_cmd(), cwd=course, env=env, capture_output=True, text=True, timeout=1200
    )
    return {
        "sqlite": lite,
        "pg": course,
        "url": url,
        "before": before,
        "second": second,
        "seconds": (sqlite_s, time.perf_counter() - t0),
    }


@pytest.mark.postgres
@pytest.mark.nbgrader
@pytest.mark.slow
def test_postgres_gradebook_holds_the_same_rows_as_sqlite(two_gradebooks):
    g = two_gradebooks
    lite_s, pg_s = g["seconds"]
    print(
        f"graded in: SQLite {lite_s:.1f} s, PostgreSQL {pg_s:.1f} s (killed once "
        f"{len(g['before'])} of {len(CLASS)} were recorded, then run again)"
    )
    assert g["second"].returncode == 0, g["second"].stderr[-3000:]
    # the configured database (with the timeouts course_db_url adds)
    assert gradebook_db.describe(coursedir.db_url(g["pg"])) == gradebook_db.describe(g["url"])
    assert not (g["pg"] / "gradebook.db").exists(), "nbgrader or autograde fell back to SQLite"
    lite = gradebook_rows(coursedir.db_url(g["sqlite"]), A)
    pg = gradebook_rows(g["url"], A)
    assert set(pg["students"]) == set(CLASS)
    for student in CLASS:  # a row for every hidden cell of every student
        assert HIDDEN <= {gid for s, _, gid in pg["grades"] if s == student}
    assert pg == lite
    # the scores are the pipeline's, not empty rows: alice full marks, dave (untouched) none
    assert pg["submissions"]["alice"][1] == pg["submissions"]["alice"][2] > 0
    assert pg["submissions"]["dave"][1] == 0


@pytest.mark.postgres
@pytest.mark.nbgrader
@pytest.mark.slow
def test_postgres_grades_csv_is_the_sqlite_one(two_gradebooks):
    lite = (two_gradebooks["sqlite"] / "grades.csv").read_text()
    pg = (two_gradebooks["pg"] / "grades.csv").read_text()
    assert len(pg.splitlines()) == 1 + len(CLASS)
    # nbgrader export orders students by (last_name, first_name), empty here: ties come in each
    # database's own order (SQLite's: as results arrived; PostgreSQL's: where rows were updated)
    assert pg.splitlines()[0] == lite.splitlines()[0]
    assert sorted(pg.splitlines()[1:]) == sorted(lite.splitlines()[1:])


@pytest.mark.postgres
@pytest.mark.nbgrader
@pytest.mark.slow
def test_postgres_run_killed_half_way_grades_only_what_is_missing(two_gradebooks):
    g = two_gradebooks
    course, before = g["pg"], g["before"]
    assert 1 <= len(before) < len(CLASS), sorted(before)
    for student, old in before.items():
        new = coursedir.load_status(course, A, student)
        assert new.graded_at == old["graded_at"], f"{student} was graded twice"
    for student in CLASS:
        assert coursedir.load_status(course, A, student).ok
    # the class summary, the report and the feedback pages of the PostgreSQL course
    assert "pass rate per check" in g["second"].stdout
    page = (course / "reports" / A / "summary.html").read_text()
    for student in CLASS:
        assert f">{student}</" in page  # a link to the feedback page where there is one
        assert (course / "feedback" / student / A / f"{A}.html").is_file()


@pytest.mark.postgres
def test_wrong_database_on_a_running_server_is_a_clear_error(pg):
    url = pg.url("no_such_gradebook")
    with pytest.raises(gradebook_db.GradebookUnreachable) as err:
        gradebook_db.check(url)
    msg = str(err.value)
    assert 'database "no_such_gradebook" does not exist' in msg
    assert "createdb NAME" in msg and "nbgrader_config.py" in msg


@pytest.mark.postgres
def test_snapshot_of_a_postgres_gradebook_is_an_sqlite_copy(pg, tmp_path):
    from nbgrader.api import Gradebook

    url = pg.createdb("snap")
    with Gradebook(url) as gb:
        gb.add_assignment(A, duedate="2025-02-01 10:00:00")
        gb.add_student("zoe", first_name="Zoë")
    snap = gradebook_db.snapshot(url, tmp_path / "gradebook.db")
    with Gradebook(f"sqlite:///{snap}") as gb:
        assert gb.find_student("zoe").first_name == "Zoë"
        assert str(gb.find_assignment(A).duedate) == "2025-02-01 10:00:00"
    assert not (tmp_path / "gradebook.db.part").exists()


# --- no server needed -------------------------------------------------------------------------


def _dead_url(folder: Path) -> str:
    """A PostgreSQL URL whose socket folder holds no server."""
    return f"postgresql+psycopg://grader:s3cret@/gradebook?host={folder}"


def test_course_db_url_reads_nbgrader_config(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    assert coursedir.db_url(course) == f"sqlite:///{course / 'gradebook.db'}"
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    assert coursedir.db_url(course) == f"sqlite:///{course / 'gradebook.db'}"
    _use_db(course, "sqlite:///grades/gb.db")  # relative: to the course, where nbgrader runs
    assert coursedir.db_url(course) == f"sqlite:///{course / 'grades' / 'gb.db'}"
    _use_db(course, "postgresql+psycopg://grader:s3cret@dbhost:5433/gb?keepalives_idle=5")
    url = make_url(coursedir.db_url(course))  # timeouts added, so a lost server cannot hang us
    assert (url.host, url.port, url.database, url.password) == ("dbhost", 5433, "gb", "s3cret")
    assert url.query["keepalives_idle"] == "5"  # the course's own value wins
    assert url.query["connect_timeout"] == str(gradebook_db.CONNECT_TIMEOUT)
    assert url.query["tcp_user_timeout"] == "60000" and url.query["keepalives"] == "1"
    assert "s3cret" not in gradebook_db.describe(_dead_url(tmp_path))
    _use_db(course, "postgresql+psycopg://grader:s3cret@dbhost:port/gradebook")
    with pytest.raises(gradebook_db.GradebookUnreachable, match="is not a database URL") as err:
        coursedir.db_url(course)
    assert "s3cret" not in str(err.value)


def test_unreachable_postgres_is_a_clear_error_and_grades_nothing(tmp_path):
    course = demo.make_course(tmp_path / "course", REPO, A, {"alice": ("right", "")})
    _use_db(course, _dead_url(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "autograde", "grade", A, "--jobs", "1", "--no-sandbox"],
        cwd=course,
        env=_env(tmp_path / "cache"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr
    assert err.startswith("error: cannot reach the gradebook database"), err
    assert f'socket "{tmp_path}/.s.PGSQL.5432" failed' in err  # the driver's own words
    assert "Check that the PostgreSQL server runs" in err and "s3cret" not in err
    assert "Traceback" not in err
    assert not (course / coursedir.STATUS_DIR).exists() and not (course / "autograded").exists()


def test_result_that_cannot_be_recorded_is_graded_again(tmp_path):
    """A database lost mid-run: the result in hand raises the clear error and leaves no status
    (so the next run grades that student again); nothing is half-written."""
    course = tmp_path / "course"
    course.mkdir()
    _use_db(course, _dead_url(tmp_path))
    res = SubmissionResult(
        "alice", A, ok=True, score=1.0, max_score=1.0,
        grades={A: {"hidden_jump": {"auto_score": 1.0, "max_score": 1.0}}},
        files={f"{A}.ipynb": b"{}"},
    )  # fmt: skip
    with pytest.raises(gradebook_db.GradebookUnreachable, match="run the same command again"):
        coursedir.record(course, res)
    assert coursedir.load_status(course, A, "alice") is None
    assert not (course / "autograded").exists()
