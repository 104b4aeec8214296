"""A settled result is reused when nothing that decides it changed, and only then."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import asdict

from autograde import submission_cache as sc
from autograde.worker import Limits, Result
from graders import settings


def _course(tmp_path):
    course = tmp_path / "course"
    (course / "submitted" / "ann" / "a1").mkdir(parents=True)
    (course / "submitted" / "ann" / "a1" / "a1.ipynb").write_text("{}")
    (course / "source" / "a1").mkdir(parents=True)
    (course / "source" / "a1" / "a1.ipynb").write_text('{"v": 1}')
    snap = tmp_path / "gradebook.db"
    con = sqlite3.connect(snap)
    con.execute("CREATE TABLE assignment (name TEXT, duedate TEXT)")
    con.execute("INSERT INTO assignment VALUES ('a1', NULL)")
    con.commit()
    con.close()
    return {
        "course": str(course),
        "assignment": "a1",
        "student": "ann",
        "snapshot": str(snap),
        "limits": asdict(Limits()),
        "backend": "runtime",
        "cache_dir": str(tmp_path / "cache"),
        "fingerprint": "f",
    }


def _result(**kw):
    checks = {"a1": {"hidden_x": {"check": "x", "points": 1.0, "status": "graded"}}}
    base = dict(ok=True, score=1.0, max_score=2.0, checks=checks, files={"a1.ipynb": b"\x00nb"})
    return Result("ann", "a1", **{**base, **kw})


def test_roundtrip_and_invalidation(tmp_path):
    job = _course(tmp_path)
    k = sc.key(job, "config")
    assert sc.load(job, k) is None
    sc.store(job, k, _result(plots={"a1": {"png": b"\x89PNG"}}))
    got = Result(**sc.load(job, k))
    assert got.score == 1.0 and got.files == {"a1.ipynb": b"\x00nb"}
    assert got.plots == {"a1": {"png": b"\x89PNG"}}
    assert sc.key(job, "other config") != k
    src = tmp_path / "course" / "source" / "a1" / "a1.ipynb"
    src.write_text(json.dumps({"v": 2}))
    assert sc.key(job, "config") != k
    assert sc.key(dict(job, student="bob"), "config") != sc.key(job, "config")
    # a copy of the course is graded afresh
    copy = tmp_path / "copy"
    shutil.copytree(job["course"], copy)
    assert sc.key(dict(job, course=str(copy)), "config") != sc.key(job, "config")


def test_unsettled_results_are_not_stored(tmp_path):
    job = _course(tmp_path)
    k = sc.key(job, "config")
    sc.store(job, k, _result(incidents={"a1": "the kernel died"}))
    sc.store(job, k, _result(ok=False))
    timeout = {"a1": {"hidden_x": {"check": "x", "points": 0.0, "status": "timeout"}}}
    sc.store(job, k, _result(checks=timeout))
    assert sc.load(job, k) is None


def test_off_without_sandbox_or_when_disabled(tmp_path, monkeypatch):
    job = _course(tmp_path)
    assert sc.key(dict(job, limits=asdict(Limits(sandbox=False))), "c") is None
    monkeypatch.setenv(settings.NO_SUBMISSION_CACHE_ENV, "1")
    assert sc.key(job, "c") is None
