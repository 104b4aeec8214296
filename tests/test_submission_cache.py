"""A settled result is reused when nothing that decides it changed, and only then."""

from __future__ import annotations

import shutil
from dataclasses import replace

from nbgrader.api import Gradebook

from autograde import pipeline
from autograde import submission_cache as sc
from autograde.jobs import SubmissionResult as Result
from autograde.options import GradeOptions
from graders import settings


def _course(tmp_path):
    course = tmp_path / "course"
    (course / "submitted" / "ann" / "a1").mkdir(parents=True)
    (course / "submitted" / "ann" / "a1" / "a1.ipynb").write_text("{}")
    (course / "source" / "a1").mkdir(parents=True)
    (course / "source" / "a1" / "a1.ipynb").write_text('{"v": 1}')
    (course / "source" / "a1" / "data.txt").write_text("1")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.add_assignment("a1")
    return course


def _job(course, student="ann", **options):
    """The job the pipeline sends for ``student`` of ``course`` (plain data)."""
    options = {"backend": "runtime", "cache_dir": str(course.parent / "cache"), **options}
    opts = GradeOptions.from_settings(**options)
    return pipeline.make_jobs(course, "a1", [(student, "f")], opts)[0]


def _result(**kw):
    checks = {"a1": {"hidden_x": {"check": "x", "points": 1.0, "status": "graded"}}}
    base = dict(ok=True, score=1.0, max_score=2.0, checks=checks, files={"a1.ipynb": b"\x00nb"})
    return Result("ann", "a1", **{**base, **kw})


def test_roundtrip_and_invalidation(tmp_path):
    course = _course(tmp_path)
    job = _job(course)
    k = sc.key(job)
    assert sc.load(job, k) is None
    sc.store(job, k, _result(plots={"a1": {"png": b"\x89PNG"}}))
    got = sc.load(job, k)
    assert got.score == 1.0 and got.files == {"a1.ipynb": b"\x00nb"}
    assert got.plots == {"a1": {"png": b"\x89PNG"}}
    assert sc.key(_job(course)) == k  # the same data gives the same key
    # a limit decides grades; how the run is spread out and where the cache lives do not
    assert sc.key(_job(course, cell_timeout=7)) != k
    assert sc.key(_job(course, jobs=7, batch="off", gpus="1", scheduler="tcp://x:1")) == k
    assert sc.key(_job(course, cache_dir=str(tmp_path / "elsewhere"))) == k
    (course / "nbgrader_config.py").write_text("c.Execute.timeout = 7\n")
    assert sc.key(_job(course)) != k
    (course / "nbgrader_config.py").unlink()
    (course / "source" / "a1" / "data.txt").write_text("2")  # a data file the notebook reads
    assert sc.key(_job(course)) != k
    (course / "source" / "a1" / "data.txt").write_text("1")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.update_or_create_assignment("a1", duedate="2026-12-01 12:00:00")
    assert sc.key(_job(course)) != k  # the due date decides late penalties
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.update_or_create_assignment("a1", duedate=None)
    assert sc.key(_job(course)) == k
    assert sc.key(replace(job, student="bob")) != k
    (course / "submitted" / "ann" / "a1" / "a1.ipynb").write_text('{"x": 1}')
    assert sc.key(_job(course)) != k
    # a copy of the course is graded afresh
    copy = tmp_path / "copy"
    shutil.copytree(course, copy)
    assert sc.key(_job(copy)) != sc.key(_job(course))


def test_unsettled_results_are_not_stored(tmp_path):
    job = _job(_course(tmp_path))
    k = sc.key(job)
    sc.store(job, k, _result(incidents={"a1": "the kernel died"}))
    sc.store(job, k, _result(ok=False))
    timeout = {"a1": {"hidden_x": {"check": "x", "points": 0.0, "status": "timeout"}}}
    sc.store(job, k, _result(checks=timeout))
    assert sc.load(job, k) is None


def test_off_without_sandbox_or_when_disabled(tmp_path, monkeypatch):
    job = _job(_course(tmp_path))
    assert sc.key(_job(_course(tmp_path / "b"), sandbox=False)) is None
    monkeypatch.setenv(settings.NO_SUBMISSION_CACHE_ENV, "1")
    assert sc.key(job) is None
