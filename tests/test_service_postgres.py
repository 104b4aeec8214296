"""``autograde serve`` on a course whose gradebook is on PostgreSQL: the service's own tables go
to the same server (schema ``autograde_service``), none to SQLite.

The server is the session's own (``pg_server`` in conftest.py, tests/postgres_server.py); the
test is skipped, with a summary line, where PostgreSQL's binaries are missing. Grading is on the
runtime backend with the session's result cache, as the other service tests grade.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pytest
from banks import gradebook_scores
from postgres_server import USER
from service_parts import A, Server, answer, env, make_course

from autograde.service.pg import PG_SCHEMA
from graders import settings

HIDDEN = ["hidden_reduction", "hidden_jump", "hidden_decay", "hidden_rest", "hidden_agreement"]


@pytest.mark.postgres
@pytest.mark.nbgrader
@pytest.mark.slow
def test_serve_keeps_its_queue_on_the_courses_postgresql_server(tmp_path, pg_server):
    db = f"course_{uuid.uuid4().hex[:12]}"
    url = pg_server.createdb(db)
    course, toks, _ = make_course(
        tmp_path / "course", f"c.CourseDirectory.db_url = {url!r}", ["alice", "bob"]
    )
    server = Server(course, env(Path(os.environ[settings.CACHE_ENV])), tmp_path / "serve.log")
    try:
        server.start()
        assert f"schema {PG_SCHEMA}" in server.log.read_text()  # it says where its queue is
        status, sub = server.call(
            "POST", f"/api/assignments/{A}/submissions", toks["alice"],
            {"files": {f"{A}.ipynb": answer("right")}},
        )  # fmt: skip
        assert status == 202, sub
        rows = server.wait_until(
            lambda rows: rows and rows[0]["state"] in ("graded", "failed"), 600, "grading"
        )
        assert rows[0]["state"] == "graded" and rows[0]["score"] == 10, rows
    finally:
        server.stop()
    # the service's rows, read straight from the server: the submission and both tokens
    with psycopg.connect(host=str(pg_server.base), user=USER, dbname=db) as con:
        got = con.execute(
            f"SELECT id, student, state, score, gradings FROM {PG_SCHEMA}.submission"
        ).fetchall()
        assert got == [(sub["id"], "alice", "graded", 10.0, 1)]
        names = con.execute(f"SELECT role, name FROM {PG_SCHEMA}.token ORDER BY name").fetchall()
        assert ("s", "alice") in names and ("s", "bob") in names and ("i", "instructor") in names
        public = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
            )
        }
        assert "submitted_assignment" in public and not public & {"submission", "token"}
    # nbgrader's grades on the same server; no SQLite database anywhere in the course
    assert sum(gradebook_scores(course, A, HIDDEN)["alice"].values()) == 10
    assert not list(course.rglob("*.db")), list(course.rglob("*.db"))
    assert (course / "autograde_service" / "inbox" / sub["id"] / f"{A}.ipynb").is_file()
