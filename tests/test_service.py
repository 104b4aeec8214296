"""The grading service (``autograde serve``) with its real parts, and its pieces on their own.

The end-to-end tests start the service on a free loopback port and play students as separate
folders that run nbgrader's own ``fetch_assignment``, ``submit`` and ``fetch_feedback`` through
:mod:`autograde.exchange`; grading is on the runtime backend with the session's result cache, as
the pipeline tests grade. The kill -9 and burst test is in ``test_service_crash.py``.
"""

from __future__ import annotations

import datetime
import html
import json
import logging
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter

import pytest
from banks import gradebook_scores
from service_parts import (
    REPO,
    SANDBOX,
    A,
    Server,
    answer,
    env,
    make_course,
    nbgrader,
    student_folder,
)

from autograde.course import load_status, shown_message, shows_hidden_numbers
from autograde.service import intake, tokens
from autograde.service.policy import ServicePolicy, default
from autograde.service.states import SubmissionState
from autograde.service.store import Refused, Store

HIDDEN = ["hidden_reduction", "hidden_jump", "hidden_decay", "hidden_rest", "hidden_agreement"]
POINTS = {"hidden_reduction": 2, "hidden_jump": 2, "hidden_decay": 2, "hidden_rest": 1}
POINTS["hidden_agreement"] = 3
CLASS = {"alice": "right", "bob": "partly", "carol": "wrong"}
ROSTER = [*CLASS, "dave", "erin"]
FAILED_LOGINS = 12  # this course's limit; the test of it runs last (it locks loopback out)
# the course of these tests: one submission an hour, ei_balance past its due date and not
# taking late ones, tutorial released but closed, draft not released
POLICY = (
    "c.ServicePolicy.submissions_per_hour = 1\n"
    'c.ServicePolicy.open_assignments = ["adaptive_threshold", "ei_balance"]\n'
    "c.ServicePolicy.accept_late = False\n"
    f"c.ServicePolicy.failed_logins_per_minute = {FAILED_LOGINS}\n"
)


# --- the pieces, without a server -------------------------------------------------------------


def _token_rows(store: Store) -> list:
    with store._connect() as con:
        return [tuple(r) for r in con.execute("SELECT * FROM token").fetchall()]


def test_policy_is_declared_once_with_help_and_read_from_the_course(tmp_path):
    assert default("submissions_per_hour") == 6 and default("max_upload_bytes") == 5_000_000
    for name, trait in ServicePolicy.class_traits(config=True).items():
        assert trait.help, f"ServicePolicy.{name} has no help"
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.ServicePolicy.submissions_per_hour = 2\n"
    )
    from autograde.service.policy import load

    assert load(tmp_path).submissions_per_hour == 2


def test_tokens_are_stored_hashed_compared_and_revoked(tmp_path, db_url):
    store = Store(tmp_path, db_url)
    token = tokens.issue(store, tokens.STUDENT, "alice")
    assert tokens.identify(store, token) == ("s", "alice")
    rows = _token_rows(store)
    assert len(rows) == 1 and token not in repr(rows)  # only its hash
    if store.path is not None:
        assert token not in store.path.read_bytes().decode(errors="replace")
    assert tokens.identify(store, token[:-1] + ("0" if token[-1] != "0" else "1")) is None
    assert tokens.identify(store, "s.bob." + token.rsplit(".", 1)[1]) is None  # not bob's
    assert tokens.identify(store, "") is None and tokens.identify(store, "x.y") is None
    again = tokens.issue(store, tokens.STUDENT, "alice")
    assert tokens.identify(store, token) is None and tokens.identify(store, again)  # renewed
    assert tokens.revoke(store, tokens.STUDENT, "alice")
    assert tokens.identify(store, again) is None
    with pytest.raises(tokens.TokenError):
        tokens.issue(store, tokens.STUDENT, "../eve")


def test_roster_ids_that_would_be_paths_are_refused(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("name,id\nAda,ada\nBo,bo.b-2\n")
    assert tokens.read_roster(good) == ["ada", "bo.b-2"]
    bad = tmp_path / "bad.csv"
    bad.write_text("id\nada\n../eve\n")
    with pytest.raises(tokens.TokenError, match=r"row 3: '\.\./eve' is not a usable student id"):
        tokens.read_roster(bad)


def test_failed_attempts_lock_an_address_out_for_the_minute():
    seen = tokens.FailedAttempts(limit=3, window=60)
    for _ in range(3):
        assert seen.blocked("10.0.0.1") == 0
        seen.failed("10.0.0.1")
    assert 0 < seen.blocked("10.0.0.1") <= 60
    assert seen.blocked("10.0.0.2") == 0  # another address is not affected


def test_queue_oldest_first_replaces_a_waiting_one_and_limits_per_hour(tmp_path, db_url):
    store = Store(tmp_path, db_url)
    nb = {f"{A}.ipynb": b"{}"}
    first, ahead = store.accept("alice", A, nb, "t1", limit=2)
    assert ahead == 0
    bob, ahead = store.accept("bob", A, nb, "t2", limit=2)
    assert ahead == 1
    newer, _ = store.accept("alice", A, nb, "t3", limit=2)
    assert (
        store.get(first.id).state is SubmissionState.REPLACED
        and store.get(first.id).replaced_by == newer.id
    )
    assert store.claim().id == bob.id  # oldest waiting first
    assert store.claim().id == newer.id
    assert store.claim() is None
    store.graded(newer.id, 10, 10)
    assert store.recover() == 1  # bob's was being graded when the "kill" came: queued again
    assert store.get(bob.id).state is SubmissionState.QUEUED
    assert store.claim().id == bob.id
    # alice: one graded this hour; with a limit of 1 the next is refused with its time
    with pytest.raises(Refused) as err:
        store.accept("alice", A, nb, "t4", limit=1)
    assert err.value.status == 429 and "next submission is allowed at" in err.value.message
    assert err.value.extra["retry_after"] > 3000
    assert len(store.list("alice")) == 2  # nothing stored for the refused one
    assert sorted(p.name for p in store.inbox.iterdir()) == sorted(
        s.id for s in store.list()
    )  # fmt: skip


def test_grader_failures_are_retried_once_then_failed(tmp_path, db_url):
    store = Store(tmp_path, db_url)
    sub, _ = store.accept("alice", A, {f"{A}.ipynb": b"{}"}, "t", limit=0)
    assert store.claim().id == sub.id
    assert store.grader_failed(sub.id, "worker failed: boom") is True  # once more
    assert store.claim().id == sub.id
    assert store.grader_failed(sub.id, "worker failed: boom") is False
    assert store.get(sub.id).state is SubmissionState.FAILED and store.claim() is None


def test_an_unacknowledged_upload_is_swept_at_start(tmp_path, db_url):
    store = Store(tmp_path, db_url)
    kept, _ = store.accept("alice", A, {f"{A}.ipynb": b"{}"}, "t", limit=0)
    half = store.inbox / ".deadbeef.tmp"
    half.mkdir()
    (half / f"{A}.ipynb").write_text("{")
    store.recover()
    assert not half.exists() and (store.inbox / kept.id / f"{A}.ipynb").is_file()


def test_concurrent_claimers_take_each_submission_once(tmp_path, db_url):
    store = Store(tmp_path, db_url)
    nb = {f"{A}.ipynb": b"{}"}
    ids = [store.accept(f"s{k:02d}", A, nb, "t", limit=0)[0].id for k in range(12)]
    ids.append(store.accept("s00", "ei_balance", nb, "t", limit=0)[0].id)
    claimed, go = [], threading.Barrier(6)

    def claimer() -> None:
        mine = Store(tmp_path, db_url)  # its own connections, as a grading thread has
        go.wait()
        while (sub := mine.claim()) is not None:
            claimed.append(sub.id)

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)  # every one, none twice
    assert store.counts()[SubmissionState.GRADING] == len(ids)


def test_concurrent_submissions_of_one_student_leave_one_waiting(tmp_path, db_url):
    store = Store(tmp_path, db_url)
    go = threading.Barrier(8)

    def send(k: int) -> None:
        go.wait()
        store.accept("alice", A, {f"{A}.ipynb": b"{}"}, f"t{k}", limit=0)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = store.list("alice")
    assert Counter(s.state for s in rows) == {
        SubmissionState.QUEUED: 1,
        SubmissionState.REPLACED: 7,
    }
    last = rows[-1]  # in order of arrival: the last one waits, the others name it
    assert last.state is SubmissionState.QUEUED
    assert {s.replaced_by for s in rows[:-1]} <= {s.id for s in rows[1:]}


@pytest.mark.postgres
def test_on_postgresql_the_service_tables_are_in_their_own_schema(tmp_path, pg_server):
    from nbgrader.api import Gradebook
    from sqlalchemy import create_engine, inspect

    from autograde.service.pg import PG_SCHEMA

    url = pg_server.createdb(f"t{uuid.uuid4().hex[:16]}")
    (tmp_path / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.db_url = {url!r}\n"
    )
    with Gradebook(url) as gb:  # nbgrader's tables first, as a course has them
        gb.add_student("alice")
    store = Store(tmp_path)  # the course's URL, read from its configuration
    assert store.url is not None and store.path is None
    tokens.issue(store, tokens.STUDENT, "alice")
    store.accept("alice", A, {f"{A}.ipynb": b"{}"}, "t", limit=0)
    engine = create_engine(url)
    try:
        seen = inspect(engine)
        assert set(seen.get_table_names(schema=PG_SCHEMA)) == {"submission", "token"}
        public = set(seen.get_table_names(schema="public"))
        assert "student" in public and not public & {"submission", "token"}
    finally:
        engine.dispose()
    assert not list(tmp_path.rglob("*.db")), "a SQLite file beside a PostgreSQL gradebook"
    assert [s.student for s in Store(tmp_path).list()] == ["alice"]  # a second start reads it


def test_the_intake_passes_an_answer_and_names_what_is_wrong_otherwise(tmp_path):
    for a in (A, "ei_balance"):
        shutil.copytree(REPO / "release" / a, tmp_path / "release" / a)
    text = answer("right")
    got = intake.check_files(tmp_path, A, {f"{A}.ipynb": text}, ["ei_balance"])
    assert got == {f"{A}.ipynb": text.encode()}
    other = (tmp_path / "release" / "ei_balance" / "ei_balance.ipynb").read_text()
    with pytest.raises(Refused, match="it looks like ei_balance's") as err:
        intake.check_files(tmp_path, A, {f"{A}.ipynb": other}, ["ei_balance"])
    assert err.value.status == 422
    nb = json.loads(text)
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "hidden_decay":
            cell["metadata"]["nbgrader"]["points"] = 20  # a locked cell's metadata counts too
    with pytest.raises(Refused, match="'hidden_decay' is locked and was changed"):
        intake.check_files(tmp_path, A, {f"{A}.ipynb": json.dumps(nb)}, ["ei_balance"])
    for name in ("../x.ipynb", "a/b.ipynb", ".hidden.ipynb", "notes.txt"):
        with pytest.raises(Refused) as err:
            intake.check_name(name)
        assert err.value.status == 400


# --- the service, started by the test ----------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The course served on loopback, and a class of three that fetched, submitted and
    fetched feedback with nbgrader's own CLI."""
    base = tmp_path_factory.mktemp("service")
    course, toks, files = make_course(
        base / "course", POLICY, ROSTER, released=(A, "ei_balance", "tutorial"), sources=("draft",)
    )
    from nbgrader.api import Gradebook

    from autograde.course import db_url

    with Gradebook(db_url(course)) as gb:  # nbgrader's own due date, long past
        gb.update_or_create_assignment("ei_balance", duedate=datetime.datetime(2020, 1, 1))
    environ = env(base / "cache")
    server = Server(course, environ, base / "serve.log").start()
    out = {"course": course, "tokens": toks, "files": files, "server": server, "base": base}
    out["env"], out["runs"] = environ, {}

    def student(name: str, kind: str) -> None:
        folder = student_folder(base / "students", name, server, files[name])
        runs = out["runs"][name] = {"folder": folder}
        runs["fetch"] = nbgrader(folder, "fetch_assignment", A, environ=environ)
        path = folder / A / f"{A}.ipynb"
        if path.is_file():
            path.write_text(answer(kind, released=path))
            runs["submit"] = nbgrader(folder, "submit", A, environ=environ)

    threads = [threading.Thread(target=student, args=kv) for kv in CLASS.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        server.wait_until(
            lambda rows: len(rows) == len(CLASS) and all(r["state"] == "graded" for r in rows),
            900,
            "grading the class",
        )
        for name in CLASS:
            folder = out["runs"][name]["folder"]
            out["runs"][name]["feedback"] = nbgrader(folder, "fetch_feedback", A, environ=environ)
        yield out
    finally:
        server.stop()


@pytest.mark.nbgrader
@pytest.mark.slow
def test_students_fetch_submit_and_get_their_feedback_with_nbgraders_cli(served):
    course, server = served["course"], served["server"]
    for name in CLASS:
        runs = served["runs"][name]
        for step in ("fetch", "submit", "feedback"):
            assert runs[step].returncode == 0, f"{name} {step}: {runs[step].stderr[-2000:]}"
        assert "waiting before it" in runs["submit"].stderr  # the service's receipt
    scores = gradebook_scores(course, A, HIDDEN)
    assert scores["alice"] == {k: float(v) for k, v in POINTS.items()}
    # the tutorial's bug (vth decays with tau) costs the decay check only
    assert scores["bob"]["hidden_decay"] == 0 and scores["bob"]["hidden_jump"] == 2
    assert scores["carol"]["hidden_jump"] == 0 and sum(scores["carol"].values()) < 3
    rows = {r["student"]: r for r in server.submissions()}
    for name in CLASS:
        assert rows[name]["score"] == pytest.approx(sum(scores[name].values()))
        assert rows[name]["gradings"] == 1
        pages = list((served["runs"][name]["folder"] / A / "feedback").glob(f"*/{A}.html"))
        assert len(pages) == 1, pages
        assert pages[0].parent.name == rows[name]["timestamp"]  # the service's time of arrival
        page = pages[0].read_text()
        shown = re.search(r"Score: ([0-9.]+) / ([0-9.]+)", page)  # nbgrader's first: the total
        assert float(shown[1]) == pytest.approx(rows[name]["score"], abs=0.01)
        assert float(shown[2]) == sum(POINTS.values())
        # every check's message (what was measured, in physics terms) reaches the student, as
        # the course's policy shows it (no due date: the hidden cases' numbers in words)
        status = load_status(course, A, name)
        numbers = shows_hidden_numbers(course, A)
        for rec in status.checks[A].values():
            said = shown_message(rec, numbers)
            assert said and html.escape(said) in page, said
    # the class's exports as `autograde grade` writes them
    assert (course / "grades.csv").read_text().count("\n") == len(CLASS) + 1
    listing = nbgrader(served["runs"]["bob"]["folder"], "list", "--inbound", environ=served["env"])
    assert "bob adaptive_threshold" in listing.stderr and "graded: " in listing.stderr


@pytest.mark.nbgrader
@pytest.mark.slow
def test_a_second_submission_within_the_hour_is_refused_with_the_time(served):
    runs = served["runs"]["alice"]
    before = len(served["server"].submissions())
    again = nbgrader(runs["folder"], "submit", A, environ=served["env"])
    assert again.returncode != 0
    assert re.search(
        r"next submission is allowed at \d\d:\d\d:\d\d UTC .*\(HTTP 429\)", again.stderr
    )
    assert len(served["server"].submissions()) == before  # nothing stored


@pytest.mark.slow
def test_a_student_reaches_only_their_own_submissions(served):
    server, toks = served["server"], served["tokens"]
    rows = {r["student"]: r for r in server.submissions()}
    alice = rows["alice"]["id"]
    for path in (f"/api/submissions/{alice}", f"/api/submissions/{alice}/feedback"):
        status, answer_ = server.call("GET", path, toks["bob"])
        assert status == 404 and "no submission of yours" in answer_["error"]
    status, own = server.call("GET", "/api/submissions", toks["bob"])
    assert status == 200 and {s["student"] for s in own["submissions"]} == {"bob"}
    status, page = server.call("GET", f"/api/submissions/{alice}/feedback", toks["alice"])
    assert status == 200 and "Score: 10.0 / 10.0" in page["files"][f"{A}.html"]
    status, answer_ = server.call("GET", "/api/instructor/submissions", toks["bob"])
    assert status == 403 and "instructor" in answer_["error"]


def _bad_inputs(served) -> list[tuple[str, str, str, object, object, int, str]]:
    """(case, assignment, token, body, raw body, status, words of the message)."""
    toks, course = served["tokens"], served["course"]
    erin = toks["erin"]
    mine = answer("right")
    other = (course / "release" / "ei_balance" / "ei_balance.ipynb").read_text()
    locked = json.loads(mine)
    cell = next(c for c in locked["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id")
                == "hidden_jump")  # fmt: skip
    cell["source"] = "pass  # full marks please"
    nb = f"{A}.ipynb"
    return [
        ("not json", A, erin, None, b"this is not json{", 400, "is not JSON"),
        ("no files", A, erin, {"notebook": mine}, None, 400, 'has no "files"'),
        ("not a notebook", A, erin, {"files": {nb: "hello"}}, None, 422, "not a Jupyter notebook"),
        ("another assignment's", A, erin, {"files": {nb: other}}, None, 422,
         "it looks like ei_balance's"),
        ("not this assignment's file", A, erin, {"files": {"ei_balance.ipynb": other}}, None, 422,
         "is not a notebook of adaptive_threshold"),
        ("locked cell altered", A, erin, {"files": {nb: json.dumps(locked)}}, None, 422,
         "'hidden_jump' is locked and was changed"),
        ("too large", A, erin, {"files": {nb: "x" * 5_100_000}}, None, 413, "larger than"),
        ("path in the file name", A, erin, {"files": {f"../{nb}": mine}}, None, 400,
         "has a path in it"),
        ("unknown token", A, "s.erin." + "0" * 64, {"files": {nb: mine}}, None, 401,
         "unknown or revoked token"),
        ("revoked token", A, toks["dave"], {"files": {nb: mine}}, None, 401,
         "unknown or revoked token"),
        ("not released", "draft", erin, {"files": {nb: mine}}, None, 403, "not been released"),
        ("closed", "tutorial", erin, {"files": {nb: mine}}, None, 403, "is closed"),
        ("past the due date", "ei_balance", erin, {"files": {"ei_balance.ipynb": other}}, None,
         403, "takes no late submissions"),
        ("unknown assignment", "nope", erin, {"files": {nb: mine}}, None, 404,
         "has no assignment 'nope'"),
    ]  # fmt: skip


@pytest.mark.slow
def test_bad_input_gets_a_status_and_a_sentence_and_nothing_is_stored(served):
    server, course = served["server"], served["course"]
    revoked = subprocess.run(
        [sys.executable, "-m", "autograde", "students", "--course", str(course), "revoke", "dave"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    inbox = course / "autograde_service" / "inbox"
    before, files_before = len(server.submissions()), sorted(inbox.iterdir())
    for case, a, token, body, raw, status, words in _bad_inputs(served):
        got, answer_ = server.call("POST", f"/api/assignments/{a}/submissions", token, body, raw)
        assert got == status, f"{case}: {got} {answer_}"
        assert words in answer_["error"], f"{case}: {answer_['error']}"
    assert len(server.submissions()) == before
    assert sorted(inbox.iterdir()) == files_before  # not a byte kept


@pytest.mark.nbgrader
@pytest.mark.slow
def test_nbgrader_submit_shows_the_services_sentence(served):
    folder = student_folder(served["base"] / "students", "erin", served["server"],
                            served["files"]["erin"])  # fmt: skip
    got = nbgrader(folder, "fetch_assignment", A, environ=served["env"])
    assert got.returncode == 0, got.stderr
    path = folder / A / f"{A}.ipynb"
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "parameters":
            cell["source"] = "vth_inc = 0  # easier"
    path.write_text(json.dumps(nb))
    got = nbgrader(folder, "submit", A, environ=served["env"])
    assert got.returncode != 0
    assert "the cell 'parameters' is locked and was changed. Fetch a fresh copy" in got.stderr


@pytest.mark.nbgrader
@pytest.mark.slow
def test_the_instructor_releases_and_collects_with_nbgraders_cli(served):
    server, course, environ = served["server"], served["course"], served["env"]
    folder = served["base"] / "instructor"
    (folder / "release" / "tutorial").mkdir(parents=True)
    nb = json.loads((REPO / "release" / "tutorial" / "tutorial.ipynb").read_text())
    nb["metadata"]["released_by"] = "the instructor's nbgrader"
    (folder / "release" / "tutorial" / "tutorial.ipynb").write_text(json.dumps(nb))
    token = course / "autograde_service" / "instructor.token"
    (folder / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        'c.CourseDirectory.course_id = "brian2genn-course"\n'
        'c.ExchangeFactory.release_assignment = "autograde.exchange.ExchangeReleaseAssignment"\n'
        'c.ExchangeFactory.collect = "autograde.exchange.ExchangeCollect"\n'
        'c.ExchangeFactory.release_feedback = "autograde.exchange.ExchangeReleaseFeedback"\n'
        f"c.AutogradeExchange.url = {server.url!r}\n"
        f"c.AutogradeExchange.token_file = {str(token)!r}\n"
    )
    got = nbgrader(folder, "release_assignment", "tutorial", environ=environ)
    assert got.returncode != 0 and "already released: release it again with --force" in got.stderr
    got = nbgrader(folder, "release_assignment", "tutorial", "--force", environ=environ)
    assert got.returncode == 0, got.stderr
    served_nb = json.loads((course / "release" / "tutorial" / "tutorial.ipynb").read_text())
    assert served_nb["metadata"]["released_by"] == "the instructor's nbgrader"
    # a student's token cannot release
    status, answer_ = server.call(
        "POST", "/api/instructor/assignments/tutorial/release", served["tokens"]["bob"],
        {"files": {"x.ipynb": ""}, "force": True},
    )  # fmt: skip
    assert status == 403

    got = nbgrader(folder, "collect", A, environ=environ)
    assert got.returncode == 0, got.stderr
    rows = {r["student"]: r for r in server.submissions() if r["state"] == "graded"}
    for name in CLASS:
        here = folder / "submitted" / name / A
        assert (here / "timestamp.txt").read_text() == rows[name]["timestamp"]
        kept = course / "autograde_service" / "inbox" / rows[name]["id"] / f"{A}.ipynb"
        assert (here / f"{A}.ipynb").read_bytes() == kept.read_bytes()
    got = nbgrader(folder, "release_feedback", A, environ=environ)
    assert got.returncode == 0 and "nothing to release" in got.stderr


@pytest.mark.slow
def test_status_page_needs_no_token_and_names_nobody(served):
    with urllib.request.urlopen(f"{served['server'].url}/status") as r:
        text = r.read().decode()
    assert "waiting " in text and "graded " in text
    assert not any(name in text for name in ROSTER)


@pytest.mark.slow
def test_failed_token_checks_lock_the_address_out(served):
    """Last in this file: it locks loopback out of this course's service for a minute."""
    server, good = served["server"], served["tokens"]["bob"]
    # (the bad-input test's two bad tokens may still count: the minute is not over)
    got = [
        server.call("GET", "/api/submissions", "s.bob." + "1" * 64)[0] for _ in range(FAILED_LOGINS)
    ]
    assert got[0] == 401 and set(got) <= {401, 429}, got
    status, answer_ = server.call("GET", "/api/submissions", good)
    assert status == 429 and "too many failed token checks" in answer_["error"]


def test_service_listens_on_loopback_by_default():
    from autograde.cli import build_parser

    args = build_parser().parse_args(["serve", "--course", "."])
    assert args.host == "127.0.0.1" and args.port == 8800


def test_timestamps_are_nbgraders_format():
    from autograde.service.app import TIMESTAMP

    stamp = datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=datetime.UTC).strftime(TIMESTAMP)
    assert stamp == "2026-01-02 03:04:05.000006 UTC"


@pytest.mark.slow
def test_a_failure_on_the_graders_side_is_retried_once_then_not_graded_never_0(tmp_path):
    # A course setting that cannot be sent to a grading worker (a set is not JSON): every
    # grading fails on the grader's side, before any student code runs.
    course, toks, _ = make_course(tmp_path / "course", "c.Autograde.broken = {1, 2}", ["alice"])
    server = Server(course, env(tmp_path / "cache"), tmp_path / "serve.log").start()
    try:
        status, sub = server.call(
            "POST", f"/api/assignments/{A}/submissions", toks["alice"],
            {"files": {f"{A}.ipynb": answer("right")}},
        )  # fmt: skip
        assert status == 202, sub
        rows = server.wait_until(lambda rows: rows[0]["state"] == "failed", 600, "failing")
        assert rows[0]["attempts"] == 2 and "not plain data" in rows[0]["error"]  # retried once
        status, mine = server.call("GET", f"/api/submissions/{sub['id']}", toks["alice"])
        assert mine["message"] == "not graded yet, the instructor was told"
        assert mine["score"] is None and "not plain data" not in json.dumps(mine)
        status, page = server.call("GET", f"/api/submissions/{sub['id']}/feedback", toks["alice"])
        assert status == 409 and "not graded yet, the instructor was told" in page["error"]
        told = (course / "autograde_service" / "problems.jsonl").read_text().splitlines()
        assert [json.loads(line)["submission"] for line in told] == [sub["id"]]
        assert "NOT GRADED" in server.log.read_text()
    finally:
        server.stop()
    assert "alice" not in gradebook_scores(course, A, HIDDEN)  # no 0 recorded either


@pytest.mark.slow
def test_the_grader_tells_its_reporter_of_each_submission_it_records(tmp_path, monkeypatch):
    """The service's grader, in-process with a reporter of the test's own: each submission it
    records is heard once, as its result, with the score the store keeps."""
    from autograde.options import GradeOptions
    from autograde.service.grading import Grader
    from graders import settings

    class Heard:
        def __init__(self):
            self.notes, self.results = [], []

        def note(self, line):
            self.notes.append(line)

        def started(self, total):
            raise AssertionError("the service's queue has no total")

        def graded(self, result):
            self.results.append(result)

        def summary(self, line):
            self.notes.append(line)

    monkeypatch.setenv(settings.BACKEND_ENV, "runtime")
    course, _, _ = make_course(tmp_path / "course", "", ["alice", "bob"])
    store = Store(course)
    stamp = "2026-01-01 00:00:00.000000 UTC"
    ids = {
        s: store.accept(s, A, {f"{A}.ipynb": answer(kind).encode()}, stamp, 0)[0].id
        for s, kind in CLASS.items()
        if s != "carol"
    }
    options = GradeOptions.from_settings(jobs=1, feedback=False, sandbox=SANDBOX)
    heard = Heard()
    grader = Grader(course, store, options, reporter=heard)
    grader.start()
    try:
        deadline = time.monotonic() + 900
        while not all(store.get(i).state is SubmissionState.GRADED for i in ids.values()):
            failed = [s for s in store.list() if s.state is SubmissionState.FAILED]
            assert not failed and time.monotonic() < deadline, (failed, store.list())
            time.sleep(1)
    finally:
        grader.stop()
    assert sorted(r.student for r in heard.results) == sorted(ids)  # each once
    for r in heard.results:
        assert r.ok and r.assignment == A and r.score == store.get(ids[r.student]).score
    assert {r.student: r.score == r.max_score for r in heard.results} == {
        "alice": True,
        "bob": False,
    }


def test_the_services_default_reporter_logs_each_result(caplog):
    from autograde.jobs import SubmissionResult
    from autograde.progress import LogReporter

    reporter = LogReporter(logging.getLogger("autograde.service"))
    with caplog.at_level(logging.INFO, logger="autograde.service"):
        reporter.note("grading on the cluster at tcp://x:8786")
        reporter.graded(SubmissionResult("ann", A, ok=True, score=7, max_score=10, seconds=3.25))
        reporter.graded(SubmissionResult("ben", A, ok=False, error="worker failed: boom"))
    got = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert got == [
        (logging.INFO, "grading on the cluster at tcp://x:8786"),
        (logging.INFO, f"graded ann's {A}: 7.0/10.0 in 3.2 s"),
        (logging.WARNING, f"not graded: ben's {A}: worker failed: boom"),
    ]
