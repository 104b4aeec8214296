"""Nothing acknowledged is lost: kill -9 of the grading service with 20 submissions waiting and
again while a grading is in flight; then a burst of 100 submissions from 25 students while it
grades, held to the course's hourly limit.

One service life story, not two tests, because each graded submission costs a worker about 20 s
on a loaded 2-core machine (kernel and feedback page included) and the suite's budget for the
service is about ten minutes: the 20 graded after the kills are also what makes the burst's
refusals exact. The answers are the same three, so the result cache does most of the simulating.

The numbers, with one graded submission an hour (``c.ServicePolicy.submissions_per_hour = 1``):

* 20 students submit once while the service only receives (``--hold``, as when the grading
  machine is down): 20 acknowledged, 20 waiting at the first kill; the second kill lands while
  at least one is being graded; after the restart each of the 20 is graded exactly once.
* the burst: all 25 students send 4 submissions each, one after another, all at once (100).
  The 20 have had their one graded this hour: 80 refusals naming the time of the next allowed
  one (their graded submission's arrival plus an hour). Each of the other 5 has its first
  acknowledged; a later one is acknowledged while their previous one still waits (and replaces
  it) and refused once one of theirs is being graded, so each sends ``a`` acknowledged then
  ``4 - a`` refused, and exactly one of theirs (the last acknowledged) is graded, the ``a - 1``
  others replaced and never graded.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from banks import gradebook_scores
from service_parts import A, Server, answer, env, make_course

from autograde.service.states import SubmissionState
from autograde.service.store import HOUR, Store
from graders import settings

STUDENTS = [f"s{k:02d}" for k in range(25)]
FIRST = STUDENTS[:20]  # one submission each, waiting at the kill
LATE = STUDENTS[20:]  # their first submissions are in the burst
PER_STUDENT = 4  # in the burst: 100 submissions
#: the answer each of FIRST sends: mostly right
KIND = {s: ("wrong" if k % 10 == 3 else "partly" if k % 10 == 6 else "right")
        for k, s in enumerate(FIRST)}  # fmt: skip
#: what each of LATE sends in the burst, in order
LATE_KINDS = ["right", "wrong", "partly", "right"]
HIDDEN = ["hidden_reduction", "hidden_jump", "hidden_decay", "hidden_rest", "hidden_agreement"]
TEXTS = {}


def _text(kind: str) -> str:
    if kind not in TEXTS:
        TEXTS[kind] = answer(kind)
    return TEXTS[kind]


def _post(server: Server, token: str, kind: str) -> tuple[int, dict]:
    return server.call(
        "POST", f"/api/assignments/{A}/submissions", token, {"files": {f"{A}.ipynb": _text(kind)}}
    )


def _all_at_once(work: dict) -> dict:
    """Run ``work[name]()`` for every name in its own thread, released together; the answers."""
    out: dict = {}
    go = threading.Barrier(len(work))

    def run(name):
        go.wait()
        out[name] = work[name]()

    threads = [threading.Thread(target=run, args=(n,)) for n in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _settled(rows: list[dict]) -> bool:
    return all(r["state"] in ("graded", "replaced", "failed") for r in rows)


def _kill_while_grading(server: Server, course: Path) -> dict[str, float]:
    """Start grading, kill -9 once one is graded and another is being graded; the graded ones'
    times. Retried (three times at most) in the instant where no grading is in flight."""
    for _ in range(3):
        server.start()
        server.wait_until(
            lambda rows: (
                Counter(r["state"] for r in rows)["graded"] >= 1
                and any(r["state"] == "grading" for r in rows)
            ),
            900,
            "one graded and one being graded",
        )
        server.kill()
        subs = Store(course).list()
        if any(s.state is SubmissionState.GRADING for s in subs):
            queued = any(s.state is SubmissionState.QUEUED for s in subs)
            assert queued, "the queue ran dry before the kill"
            return {s.id: s.graded_at for s in subs if s.state is SubmissionState.GRADED}
    raise AssertionError("three kills found no grading in flight")


def _gradebook_submissions(course: Path) -> Counter:
    """How many submissions of A each student has in nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    from autograde.course import db_url

    with Gradebook(db_url(course)) as gb:
        return Counter(sub.student.id for sub in gb.find_assignment(A).submissions)


def _check_graded_once(course: Path, rows: list[dict], kinds: dict[str, str]) -> None:
    """Each of ``kinds``' students has one graded submission, graded once, with one feedback
    page, one gradebook submission, and the score of their answer's kind."""
    store = Store(course)
    graded = [r for r in rows if r["state"] == "graded"]
    assert Counter(r["student"] for r in graded) == Counter(list(kinds)), graded
    assert not [r for r in rows if r["state"] in ("queued", "grading", "failed")], rows
    assert all(r["gradings"] == 1 and r["attempts"] == 0 for r in graded), graded
    assert all(r["gradings"] == 0 and not r["feedback"] for r in rows if r["state"] == "replaced")
    for r in graded:
        pages = list(store.feedback_dir(r["id"]).glob("*.html"))
        assert len(pages) == 1 and r["feedback"], r
    # the service's folders: one feedback folder per graded submission, one inbox per row
    assert sorted(p.name for p in store.feedback.iterdir()) == sorted(r["id"] for r in graded)
    assert sorted(p.name for p in store.inbox.iterdir()) == sorted(r["id"] for r in rows)
    assert not (store.root / "problems.jsonl").exists()
    # nbgrader's side: one submission per student, with the score of what they sent
    assert _gradebook_submissions(course) == Counter(list(kinds))
    scores = gradebook_scores(course, A, HIDDEN)
    for r in graded:
        total = sum(scores[r["student"]].values())
        assert (total == 10) == (kinds[r["student"]] == "right"), (r, scores[r["student"]])
        assert r["score"] == pytest.approx(total), r
        pages = list((course / "feedback" / r["student"] / A).glob("*.html"))
        assert len(pages) == 1, pages


@pytest.mark.nbgrader
@pytest.mark.slow
def test_kill_9_with_20_waiting_then_a_burst_of_100_each_graded_once_within_the_limit(tmp_path):
    course, tokens, _ = make_course(
        tmp_path / "course", "c.ServicePolicy.submissions_per_hour = 1", STUDENTS
    )
    environ = env(Path(os.environ[settings.CACHE_ENV]))  # the session's cache (conftest)
    server = Server(course, environ, tmp_path / "serve.log")
    try:
        # --- 20 waiting, kill -9; grading, kill -9 mid-grading; restart -----------------------
        server.start("--hold")
        sent = _all_at_once({s: (lambda s=s: _post(server, tokens[s], KIND[s])) for s in FIRST})
        assert all(status == 202 for status, _ in sent.values()), sent
        acked = {s: body["id"] for s, (_, body) in sent.items()}
        server.kill()
        waiting = {s: 20 if s is SubmissionState.QUEUED else 0 for s in SubmissionState}
        assert Store(course).counts() == waiting  # kill -9 with 20 waiting
        before = _kill_while_grading(server, course)
        server.start()
        rows = server.wait_until(_settled, 1500, "grading the 20")
        by_id = {r["id"]: r for r in rows}
        assert sorted(by_id) == sorted(acked.values())
        for sid, when in before.items():
            assert by_id[sid]["graded_at"] == when, "graded again after the restart"
        _check_graded_once(course, rows, KIND)

        # --- the burst: 25 students x 4, while the service grades ---------------------------
        def student(name: str):
            kinds = LATE_KINDS if name in LATE else [KIND[name]] * PER_STUDENT
            return [_post(server, tokens[name], kind) for kind in kinds]

        burst = _all_at_once({s: (lambda s=s: student(s)) for s in STUDENTS})
        assert sum(len(v) for v in burst.values()) == 100
        for name in FIRST:  # one graded this hour: each refused, with the time of the next
            nxt = time.strftime(
                "%H:%M:%S UTC", time.gmtime(by_id[acked[name]]["received_at"] + HOUR)
            )
            for status, body in burst[name]:
                assert status == 429, body
                assert f"your next submission is allowed at {nxt}" in body["error"], body
        late_acked = {}
        for name in LATE:  # acknowledged ones, then refused ones
            statuses = [status for status, _ in burst[name]]
            a = statuses.count(202)
            assert a >= 1 and statuses == [202] * a + [429] * (PER_STUDENT - a), burst[name]
            late_acked[name] = [body["id"] for _, body in burst[name][:a]]
            for _, body in burst[name][a:]:
                assert "your next submission is allowed at" in body["error"], body
        rows = server.wait_until(_settled, 1500, "grading the burst")
    finally:
        server.stop()
    by_id = {r["id"]: r for r in rows}
    assert len(rows) == 20 + sum(len(v) for v in late_acked.values())
    refused = sum(status == 429 for v in burst.values() for status, _ in v)
    assert refused == 80 + sum(PER_STUDENT - len(v) for v in late_acked.values())
    final = {name: LATE_KINDS[len(ids) - 1] for name, ids in late_acked.items()}
    for ids in late_acked.values():  # the last acknowledged is graded, the others replaced
        assert by_id[ids[-1]]["state"] == "graded", by_id[ids[-1]]
        for older, newer in zip(ids, ids[1:], strict=False):
            assert by_id[older]["state"] == "replaced" and by_id[older]["replaced_by"] == newer
    _check_graded_once(course, rows, KIND | final)
    # the hourly limit held: one graded submission per student
    assert Counter(r["student"] for r in rows if r["state"] == "graded") == Counter(STUDENTS)


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
