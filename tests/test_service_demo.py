"""``autograde serve --demo``: a real process on a free loopback port; its printed links, the
assignments a student's token lists, and the seeded submissions graded by the service with the
scores ``autograde grade`` gives the same notebooks (both on the runtime backend, with the
session's result cache).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from service_parts import REPO, SANDBOX, Server, env

from autograde import demo as class_demo
from autograde.service import demo, tokens
from autograde.service.states import SubmissionState
from autograde.service.store import Store
from graders import settings

LINK = re.compile(r"^\s+(\S+)\s+(http://127\.0\.0\.1:(\d+)/login\?token=(\S+))$", re.MULTILINE)


def _grade_the_same_notebooks(folder: Path, course: Path, rows: list[dict], environ) -> dict:
    """``autograde grade`` on the notebooks the service kept: {(student, assignment): score}."""
    from nbgrader.api import Gradebook

    from autograde.course import db_url

    ref = folder  # the course's configuration and sources, no class
    ref.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", ref / "nbgrader_config.py")
    for a in demo.ASSIGNMENTS:
        shutil.copytree(REPO / "source" / a, ref / "source" / a)
    for row in rows:
        here = ref / "submitted" / row["student"] / row["assignment"]
        here.mkdir(parents=True)
        kept = course / "autograde_service" / "inbox" / row["id"] / f"{row['assignment']}.ipynb"
        shutil.copy(kept, here / kept.name)
        (here / "timestamp.txt").write_text(row["timestamp"])
    for a in demo.ASSIGNMENTS:
        cmd = [sys.executable, "-m", "autograde", "grade", a, "--course", str(ref), "--backend",
               "runtime", "--jobs", "2", "--timeout", "20", "--submission-timeout", "120",
               "--memory", "3000", "--no-feedback"]  # fmt: skip
        got = subprocess.run(cmd + ([] if SANDBOX else ["--no-sandbox"]), env=environ,
                             capture_output=True, text=True, timeout=900)  # fmt: skip
        assert got.returncode == 0, got.stdout[-2000:] + got.stderr[-2000:]
    with Gradebook(db_url(ref)) as gb:
        return {(r["student"], r["assignment"]): gb.find_submission(r["assignment"],
                r["student"]).score for r in rows}  # fmt: skip


@pytest.mark.nbgrader
@pytest.mark.slow
def test_serve_demo_prints_links_and_grades_its_seeded_submissions(tmp_path):
    environ = env(Path(os.environ[settings.CACHE_ENV]))
    environ.pop(settings.BACKEND_ENV)  # the flag forces it, not the environment
    course = tmp_path / "demo"
    server = Server(course, environ, tmp_path / "serve.log")
    try:
        server.start("--demo", "--backend", "runtime")
        printed = server.log.read_text()
        assert f"demo course: {course}" in printed and "grading on runtime" in printed
        links = {m[1]: m for m in LINK.finditer(printed)}
        assert list(links) == ["instructor", *class_demo.CLASS]  # eight students
        assert len(class_demo.CLASS) == 8
        for m in links.values():
            assert int(m[3]) == server.port
            assert m[2] == tokens.personal_link(server.url, m[4])
        assert links["instructor"][4] == server.instructor  # the token file's
        for name in class_demo.CLASS:
            status, got = server.call("GET", "/api/assignments", links[name][4])
            assert status == 200, got
            assert [a["name"] for a in got["assignments"]] == list(demo.ASSIGNMENTS)
            status, mine = server.call("GET", "/api/submissions", links[name][4])
            seeded = [(s, a) for s, a, _ in demo.SEEDED if s == name]
            assert [(r["student"], r["assignment"]) for r in mine["submissions"]] == seeded
        rows = server.wait_until(
            lambda rows: (
                len(rows) == len(demo.SEEDED)
                and all(r["state"] in ("graded", "failed") for r in rows)
            ),
            900,
            "grading the demo's submissions",
        )
    finally:
        server.stop()
    assert all(r["state"] == "graded" and r["gradings"] == 1 for r in rows), rows
    assert all(r["feedback"] for r in rows)
    expected = _grade_the_same_notebooks(tmp_path / "ref", course, rows, environ)
    scores = {(r["student"], r["assignment"]): r["score"] for r in rows}
    assert scores == pytest.approx(expected)
    kinds = {(s, a): k for s, a, k in demo.SEEDED}
    for a in demo.ASSIGNMENTS:  # right > partly right > wrong, as the demo says
        got = {kinds[key]: score for key, score in scores.items() if key[1] == a}
        order = [got[k] for k in ("right", "partly", "wrong") if k in got]
        assert order == sorted(order, reverse=True) and len(set(order)) == len(order), got


def test_a_demo_course_is_reused_with_new_links_and_nothing_submitted_again(tmp_path):
    course, first = demo.prepare(str(tmp_path / "demo"), "127.0.0.1", 8800)
    store = Store(course)
    assert len(store.list()) == len(demo.SEEDED)
    assert all(s.state is SubmissionState.QUEUED for s in store.list())
    old = {m[1]: m[4] for m in LINK.finditer("\n".join(first))}
    assert set(old) == {"instructor", *class_demo.CLASS}
    again, second = demo.prepare(str(course), "0.0.0.0", 8800)
    assert again == course and len(store.list()) == len(demo.SEEDED)
    new = {m[1]: m[4] for m in LINK.finditer("\n".join(second))}
    assert set(new) == set(old)
    for name, token in new.items():  # the new ones work, the old ones no longer
        assert tokens.identify(store, token) is not None
        assert tokens.identify(store, old[name]) is None


def test_serve_demo_refuses_a_folder_that_holds_something_else(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(demo.DemoError, match="is not empty and holds no demo course"):
        demo.prepare(str(tmp_path), "127.0.0.1", 8800)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    from autograde.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert args.course is None and not args.demo
    assert args.func(args) == 2  # neither --course nor --demo: told to pass one
