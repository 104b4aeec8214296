"""What a grading job carries: what a worker needs, as data; none of the course's paths or secrets.

A job may travel to another machine (issue 14), so :func:`autograde.pipeline.make_jobs` sends the
submission, the assignment's data files, the gradebook facts and the course settings as data.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from nbgrader.api import Gradebook

from autograde import course as course_
from autograde import pipeline, scratch, worker
from autograde.jobs import SubmissionJob, SubmissionResult
from autograde.options import GradeOptions
from graders.results import Status

pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader autoflush
SECRET = "SECRET-PW-4711"
CONFIG = """c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "neuro-101"
c.CourseDirectory.root = "ROOT"
c.CourseDirectory.db_url = "postgresql+psycopg://grader:SECRET@db.example/gradebook"
c.CourseDirectory.submitted_directory = "handed_in"
c.Exchange.root = "/srv/exchange"
c.Execute.timeout = 77
c.TrustedVerdicts.backend = "runtime"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE"}
c.GradesExport.decimals = 1
"""


def _course(tmp_path):
    course = tmp_path / "my-course"
    for s in ("ann", "bob"):
        (course / "submitted" / s / "a1").mkdir(parents=True)
        (course / "submitted" / s / "a1" / "a1.ipynb").write_text(json.dumps({"by": s}))
        (course / "submitted" / s / "a1" / "timestamp.txt").write_text("2026-11-27 10:00:00")
    (course / "source" / "a1" / "data").mkdir(parents=True)
    (course / "source" / "a1" / "a1.ipynb").write_text('{"solution": "SOLUTION-CODE"}')
    (course / "source" / "a1" / "data" / "input.csv").write_text("1,2\n")
    config = CONFIG.replace("ROOT", str(course)).replace("SECRET", SECRET)
    (course / "nbgrader_config.py").write_text(config)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.add_assignment("a1", duedate="2026-12-01 12:00:00")
        gb.add_student("carl", first_name="Carl", email="carl@example.org")
        gb.add_submission("a1", "carl")  # someone else's graded work
    return course


def _walk(x):
    """Every str and bytes inside ``x``."""
    if isinstance(x, dict):
        for k, v in x.items():
            yield k
            yield from _walk(v)
    elif isinstance(x, list | tuple):
        for v in x:
            yield from _walk(v)
    elif isinstance(x, str | bytes):
        yield x


def test_a_job_carries_data_and_no_course_path_or_password(tmp_path, monkeypatch):
    course = _course(tmp_path)
    # The coordinator reads this SQLite file; the configured PostgreSQL URL only has to stay home.
    sqlite = f"sqlite:///{course / 'gradebook.db'}"
    monkeypatch.setattr(course_, "db_url", lambda c: sqlite)
    opts = GradeOptions.from_settings()
    jobs = pipeline.make_jobs(course, "a1", [("ann", "fp-a"), ("bob", "fp-b")], opts)
    assert [j.student for j in jobs] == ["ann", "bob"]
    for job in jobs:
        data = job.to_dict()
        for value in _walk(data):
            text = value if isinstance(value, str) else value.decode("latin-1")
            assert str(course) not in text and "my-course" not in text
            assert SECRET not in text and "/srv/exchange" not in text
        # a plain-data payload, as dask moves it (no object of this package)
        json.dumps(data, default=lambda b: b.decode("latin-1"))
        assert SubmissionJob.from_dict(data) == job == SubmissionJob.from_json(job.to_json())
    ann = jobs[0]
    assert ann.submission["a1.ipynb"] == b'{"by": "ann"}'
    assert set(ann.submission) == {"a1.ipynb", "timestamp.txt"}
    # the data files the notebook reads travel; the source notebook (the solution) does not
    assert ann.source_files == {"data/input.csv": b"1,2\n"}
    cfg = ann.config
    assert cfg["Execute"]["timeout"] == 77 and cfg["TrustedVerdicts"]["backend"] == "runtime"
    assert cfg["CourseDirectory"] == {"course_id": "neuro-101"}
    assert cfg["GradesExport"]["decimals"] == 1 and "Exchange" not in cfg
    # the gradebook facts: the assignment and its due date, nobody's grades
    db = tmp_path / "facts.db"
    db.write_bytes(ann.gradebook)
    con = sqlite3.connect(db)
    assert con.execute("SELECT name, duedate FROM assignment").fetchall() == [
        ("a1", "2026-12-01 12:00:00.000000")
    ]
    for table in ("student", "submitted_assignment", "submitted_notebook", "grade", "comment"):
        assert con.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (0,), table
    con.close()
    # the course's own gradebook is untouched
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_submission("a1", "carl")


def test_the_worker_config_holds_the_course_settings_and_its_own(tmp_path):
    course = _course(tmp_path)
    cfg = course_.config_data(course)
    text = worker.config_file(cfg, {"CourseDirectory.root": "/tmp/w/course"})
    loaded = {}
    exec(text, {"get_config": lambda: _Config(loaded)})  # noqa: S102 -- our own output
    assert loaded["Execute.timeout"] == 77
    assert loaded["ClearSolutions.code_stub"] == {"python": "# YOUR CODE HERE"}
    assert loaded["CourseDirectory.root"] == "/tmp/w/course"  # the worker's, written last
    assert SECRET not in text and str(course) not in text


class _Config:
    """Records ``c.Section.key = value`` assignments as ``{"Section.key": value}``."""

    def __init__(self, into):
        self.__dict__["_into"] = into

    def __getattr__(self, section):
        into = self._into

        class _Section:
            def __setattr__(self, key, value):
                into[f"{section}.{key}"] = value

        return _Section()


def test_a_setting_that_is_not_data_is_refused_with_its_name(tmp_path):
    course = _course(tmp_path)
    with (course / "nbgrader_config.py").open("a") as f:
        f.write("import pathlib\nc.Execute.extra_arguments = [pathlib.Path('x')]\n")
    with pytest.raises(ValueError, match=r"c\.Execute\.extra_arguments .* not plain data"):
        course_.config_data(course)


def test_a_job_file_cannot_leave_its_folder(tmp_path):
    with pytest.raises(ValueError, match="outside its folder"):
        scratch.unpack(tmp_path / "sub", {"../../etc/evil": b"x"})
    assert not (tmp_path.parent / "etc").exists()


def test_a_result_crosses_as_plain_data_and_as_json():
    checks = {"a1": {"hidden_x": {"check": "x", "points": 0.0, "status": Status.TIMEOUT}}}
    res = SubmissionResult("ann", "a1", ok=True, score=1.5, checks=checks, files={"a": b"\x00"})
    data = res.to_dict()
    assert SubmissionResult.from_dict(data) == res
    back = SubmissionResult.from_json(res.to_json())
    assert back == res and back.files == {"a": b"\x00"}
    # a status is its string in JSON and reads back equal to the enum member
    assert '"status": "timeout"' in res.to_json()
    assert back.checks["a1"]["hidden_x"]["status"] == Status.TIMEOUT
    with pytest.raises(TypeError):  # a result of another version of the class
        SubmissionResult.from_dict({**data, "colour": "red"})


def test_every_status_a_record_holds_is_a_status():
    """The statuses the verdicts, the report and the exports name are members of one enum,
    each its own string."""
    from autograde import report

    assert {str(s) for s in Status} >= {"graded", "timeout", "memory", "crashed", "not_run"}
    assert all(s == s.value and isinstance(s, str) for s in Status)
    for table in (report._STATUS_WORDS, report._STATUS_ATTENTION):
        assert all(isinstance(k, Status) for k in table)
