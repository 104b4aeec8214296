"""What a grading job carries: what a worker needs, as data; none of the course's paths or secrets.

A job may travel to another machine (issue 14), so :func:`autograde.pipeline.make_jobs` sends the
submission, the assignment's data files, the gradebook facts and the course settings as data.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from nbgrader.api import Gradebook

from autograde import course as course_
from autograde import pipeline, scratch, worker
from autograde.jobs import StudentStatus, SubmissionJob, SubmissionResult
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


#: The keys of a status file, in their order: a result's fields without its files and plots,
#: then when it was recorded. Courses graded before keep files of exactly this shape.
STATUS_KEYS = [
    "student", "assignment", "ok", "score", "max_score", "grades", "comments", "checks",
    "incidents", "events", "timestamp", "backend", "seconds", "error", "fingerprint", "graded_at",
]  # fmt: skip


def _result(**kw) -> SubmissionResult:
    """A graded result with every field of the status file set (none at its default)."""
    rec = {"check": "x", "points": 1.5, "max_points": 3.0, "status": Status.TIMEOUT}
    return SubmissionResult(
        "ann", "a1", ok=True, score=1.5, max_score=3.0,
        comments={"a1": {"hidden_x": "ran past its time"}},
        checks={"a1": {"hidden_x": rec}},
        incidents={"a1": "the kernel died while running this notebook"},
        events={"a1": ["code cell 4 hit the cell time limit (120 s) and was interrupted"]},
        timestamp="2026-11-27 10:00:00", backend="runtime", seconds=12.5, error="a note",
        files={"a1.ipynb": b'{"cells": []}'}, plots={"a1": {"plots": {}}}, fingerprint="f00d",
        **kw,
    )  # fmt: skip


def test_record_then_load_status_gives_back_the_results_fields(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.add_assignment("a1")
    res = _result()  # no grades: this gradebook has no cells to put them in
    course_.record(course, res)
    text = course_.status_path(course, "a1", "ann").read_text()
    data = json.loads(text)
    assert list(data) == STATUS_KEYS  # no files, no plots: those have their own places
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", data["graded_at"])
    st = course_.load_status(course, "a1", "ann")
    assert isinstance(st, StudentStatus) and st.graded_at == data["graded_at"]
    for key in STATUS_KEYS[:-1]:
        assert data[key] == getattr(res, key) == getattr(st, key), key
    assert st.checks["a1"]["hidden_x"]["status"] == Status.TIMEOUT
    # the file a status gives back is the file it was read from, byte for byte
    assert json.dumps(st.to_dict(), indent=1) == text
    assert (course / "autograded/ann/a1/a1.ipynb").read_bytes() == res.files["a1.ipynb"]
    assert json.loads(course_.plots_path(course, "a1", "ann").read_text()) == res.plots
    assert course_.load_status(course, "a1", "bob") is None  # graded by nobody yet


def test_a_status_file_round_trips_with_every_key_and_value():
    res = _result(grades={"a1": {"hidden_x": {"auto_score": 1.5, "max_score": 3.0}}})
    st = StudentStatus.from_result(res, graded_at="2026-11-27T10:05:00")
    text = json.dumps(st.to_dict(), indent=1)
    assert list(json.loads(text)) == STATUS_KEYS
    back = StudentStatus.from_dict(json.loads(text))
    assert back == st and json.dumps(back.to_dict(), indent=1) == text
    assert back.grades == res.grades and back.fingerprint == "f00d"


def test_an_older_status_file_loads_with_defaults_and_a_broken_one_does_not(tmp_path):
    old = {"student": "ann", "assignment": "a1", "ok": True, "score": 2.0, "checks": {"a1": {}}}
    st = StudentStatus.from_dict({**old, "colour": "red"})  # a key of another version: left out
    assert st.ok and st.score == 2.0 and st.checks == {"a1": {}}
    assert st.events == {} and st.incidents == {} and st.fingerprint == "" and st.seconds == 0.0
    assert st.backend is None and st.graded_at == "" and not hasattr(st, "colour")
    for broken in ({"student": "ann", "assignment": "a1"}, ["ann"]):
        with pytest.raises(ValueError, match="ok|not list"):
            StudentStatus.from_dict(broken)
    path = course_.status_path(tmp_path, "a1", "ann")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"student": "ann", "assignment": "a1"}))
    assert course_.load_status(tmp_path, "a1", "ann") is None  # regraded, not half-read


def test_no_status_file_is_not_ok_and_says_why(tmp_path):
    from autograde import report

    st = StudentStatus.missing("a1", "ann")
    assert (st.student, st.assignment, st.ok) == ("ann", "a1", False)
    assert "no result yet" in st.error and "autograde grade" in st.error
    assert report.attention(st) == [("grading failure", " ".join(st.error.split()))]
    # the pipeline's summary of a student it has no file of
    assert pipeline.summarise(tmp_path, "a1", ["ann"], export=False) == [st]
