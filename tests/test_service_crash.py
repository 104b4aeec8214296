"""Nothing acknowledged is lost: kill -9 of the grading service with 10 submissions waiting, and
again mid-grading; a burst of 100 submissions from 10 students; the hourly limit.

The burst arrives while the service only receives (``--hold``, as when the grading machine is
down), so what is waiting at the kill does not depend on how fast this machine grades: each
student's later submissions replace their earlier ones (90 replaced, 10 waiting). The answers
are the same three, so the result cache does most of the simulating. Ten, not the issue's 20
waiting from 25 students: each waiting submission is one grading (about 25 s of a worker on a
loaded 2-core machine, kernel and feedback page included), and the suite's budget for the
service is about ten minutes.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

import pytest
from banks import gradebook_scores
from service_parts import A, Server, answer, env, make_course

from autograde.service.store import Store
from graders import settings

STUDENTS = [f"s{k:02d}" for k in range(10)]
PER_STUDENT = 10  # 100 submissions in all
# what each student's last submission is (the one graded): mostly right
FINAL = {s: ("wrong" if k == 3 else "partly" if k in (1, 6) else "right")
         for k, s in enumerate(STUDENTS)}  # fmt: skip
HIDDEN = ["hidden_reduction", "hidden_jump", "hidden_decay", "hidden_rest", "hidden_agreement"]


def _burst(server: Server, tokens: dict[str, str]) -> dict[str, list[tuple[int, dict]]]:
    """Every student sends PER_STUDENT submissions, one after another, all students at once."""
    texts = {kind: answer(kind) for kind in ("right", "partly", "wrong")}
    out: dict[str, list] = {}

    def student(name: str) -> None:
        kinds = ["wrong", "partly", "right"] * 3 + [FINAL[name]]
        out[name] = [
            server.call("POST", f"/api/assignments/{A}/submissions", tokens[name],
                        {"files": {f"{A}.ipynb": texts[kind]}})
            for kind in kinds
        ]  # fmt: skip

    threads = [threading.Thread(target=student, args=(s,)) for s in STUDENTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@pytest.mark.nbgrader
@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_submission_and_grades_each_once(tmp_path):
    course, tokens, _ = make_course(
        tmp_path / "course", "c.ServicePolicy.submissions_per_hour = 1", STUDENTS
    )
    environ = env(Path(os.environ[settings.CACHE_ENV]))  # the session's cache (conftest)
    server = Server(course, environ, tmp_path / "serve.log")
    try:
        server.start("--hold")
        sent = _burst(server, tokens)
        assert sum(len(v) for v in sent.values()) == len(STUDENTS) * PER_STUDENT
        acked = {}
        for name, answers in sent.items():
            for status, body in answers:
                assert status == 202, body
            acked[name] = answers[-1][1]["id"]  # the last one: the others are replaced
        server.kill()  # kill -9 with 10 submissions waiting
        counts = Store(course).counts()
        assert counts["queued"] == len(STUDENTS) and counts["replaced"] == 90, counts

        server.start()  # grades what waits, oldest first
        early = server.wait_until(
            lambda rows: sum(r["state"] == "graded" for r in rows) >= 3, 900, "three graded"
        )
        server.kill()  # again, mid-grading
        before = {r["id"]: r["graded_at"] for r in early if r["state"] == "graded"}

        server.start()
        rows = server.wait_until(
            lambda rows: all(r["state"] in ("graded", "replaced", "failed") for r in rows),
            1500,
            "grading all 10",
        )
    finally:
        server.stop()
    by_id = {r["id"]: r for r in rows}
    assert len(rows) == len(STUDENTS) * PER_STUDENT
    assert Counter(r["state"] for r in rows) == {"graded": 10, "replaced": 90}
    for name, sid in acked.items():
        assert by_id[sid]["state"] == "graded" and by_id[sid]["gradings"] == 1, by_id[sid]
        assert by_id[sid]["feedback"], f"no feedback page for {name}"
    for sid, when in before.items():
        assert by_id[sid]["graded_at"] == when, "graded again after the restart"
    assert all(r["gradings"] == 0 for r in rows if r["state"] == "replaced")
    # the gradebook: one submission per student, scored by their last answer
    scores = gradebook_scores(course, A, HIDDEN)
    assert set(scores) == set(STUDENTS)
    for name, kind in FINAL.items():
        total = sum(scores[name].values())
        assert (total == 10) == (kind == "right"), (name, kind, scores[name])
        assert by_id[acked[name]]["score"] == pytest.approx(total)

    # the hourly limit: everyone has had one graded this hour, the course allows one
    server.start("--hold")
    try:
        text = answer("right")
        for name in STUDENTS:
            status, body = server.call(
                "POST", f"/api/assignments/{A}/submissions", tokens[name],
                {"files": {f"{A}.ipynb": text}},
            )  # fmt: skip
            assert status == 429 and "next submission is allowed at" in body["error"], body
        assert len(server.submissions()) == len(rows)
    finally:
        server.stop()


@pytest.mark.distributed
@pytest.mark.nbgrader
@pytest.mark.slow
def test_the_service_grades_on_a_dask_cluster_with_scheduler(tmp_path):
    from autograde import cluster

    course, tokens, _ = make_course(tmp_path / "course", "", ["ada", "bo"])
    environ = env(Path(os.environ[settings.CACHE_ENV]))
    workers = {k: environ[k] for k in (settings.BACKEND_ENV, settings.CACHE_ENV, "PATH")}
    with cluster.local_cluster(2, workers) as dask_cluster:
        server = Server(course, environ, tmp_path / "serve.log")
        try:
            server.start("--scheduler", dask_cluster.scheduler_address)
            for name, kind in (("ada", "right"), ("bo", "wrong")):
                status, body = server.call(
                    "POST", f"/api/assignments/{A}/submissions", tokens[name],
                    {"files": {f"{A}.ipynb": answer(kind)}},
                )  # fmt: skip
                assert status == 202, body
            rows = server.wait_until(
                lambda rows: all(r["state"] in ("graded", "failed") for r in rows), 900, "grading"
            )
        finally:
            server.stop()
    scores = {r["student"]: r["score"] for r in rows}
    assert scores["ada"] == 10 and scores["bo"] < 3, rows
    assert all(r["feedback"] for r in rows)
