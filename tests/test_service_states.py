"""The submission states of the grading service (:mod:`autograde.service.states`): the enum in
Python, and the strings in the service's tables, its JSON API and its pages.

The strings are written out here on purpose: they are what databases written before hold and
what clients read, so a member renamed in Python but not in the stored rows (or the API) fails
here.
"""

from __future__ import annotations

import time

import pytest
from service_parts import REPO, A, make_course

from autograde.service import tokens, web
from autograde.service.states import PENDING, SubmissionState
from autograde.service.store import Store

#: What the tables hold and the API sends for each state.
WIRE = {
    SubmissionState.QUEUED: "queued",
    SubmissionState.GRADING: "grading",
    SubmissionState.GRADED: "graded",
    SubmissionState.FAILED: "failed",
    SubmissionState.REPLACED: "replaced",
}
NB = {f"{A}.ipynb": b"{}"}


def _column(store: Store, sid: str):
    with store._connect() as con:
        return con.execute("SELECT state FROM submission WHERE id=?", (sid,)).fetchone()[0]


def _insert(store: Store, sid: str, state: str) -> None:
    """A row as an older service (or another process) wrote it: the state a plain string."""
    with store.transaction() as con:
        con.execute(
            "INSERT INTO submission (id, student, assignment, received_at, timestamp, files, "
            "state) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sid, f"student-{sid}", A, time.time(), "t", "[]", state),
        )


def every_state(store: Store) -> dict[SubmissionState, str]:
    """One submission in each state, made through the store's public API: state -> id."""
    old, _ = store.accept("ann", A, NB, "t1", limit=0)
    new, _ = store.accept("ann", A, NB, "t2", limit=0)  # replaces the waiting one
    assert store.claim().id == new.id
    store.graded(new.id, 7, 10)
    bad, _ = store.accept("ben", A, NB, "t3", limit=0)
    assert store.claim().id == bad.id
    assert store.grader_failed(bad.id, "worker failed: boom", retries=0) is False
    busy, _ = store.accept("cy", A, NB, "t4", limit=0)
    assert store.claim().id == busy.id
    waiting, _ = store.accept("cy", A, NB, "t5", limit=0)  # cy's first is being graded
    return {
        SubmissionState.QUEUED: waiting.id,
        SubmissionState.GRADING: busy.id,
        SubmissionState.GRADED: new.id,
        SubmissionState.FAILED: bad.id,
        SubmissionState.REPLACED: old.id,
    }


def test_the_enum_has_exactly_the_stored_strings():
    assert list(SubmissionState) == list(WIRE)
    assert all(s.value == WIRE[s] and type(s.value) is str for s in SubmissionState)
    assert PENDING == {"queued", "grading"}


def test_each_state_is_stored_as_its_string_and_read_back_as_the_enum(tmp_path, db_url):
    store = Store(tmp_path, db_url)
    ids = every_state(store)
    for state, sid in ids.items():
        sub = store.get(sid)
        assert sub.state is state, (sub.state, state)
        raw = _column(store, sid)
        assert raw == WIRE[state] and type(raw) is str, raw
    assert {s.id: s.state for s in store.list()} == {sid: s for s, sid in ids.items()}
    counts = store.counts()
    assert counts == {"queued": 1, "grading": 1, "graded": 1, "failed": 1, "replaced": 1}
    assert all(type(k) is SubmissionState for k in counts)


def test_rows_holding_the_strings_read_as_the_states_and_queue(tmp_path, db_url):
    """A database written before the enum holds plain strings: each reads as its member, and
    the queue's SQL (recover, claim, regrade, counts) finds them."""
    store = Store(tmp_path, db_url)
    for k, state in enumerate(["graded", "failed", "replaced", "grading", "queued"]):
        _insert(store, f"s{k}", state)
    assert [s.state for s in store.list()] == [
        SubmissionState.GRADED, SubmissionState.FAILED, SubmissionState.REPLACED,
        SubmissionState.GRADING, SubmissionState.QUEUED,
    ]  # fmt: skip
    assert store.counts()[SubmissionState.GRADING] == 1
    assert store.recover() == 1 and _column(store, "s3") == "queued"
    assert store.claim().id == "s3" and _column(store, "s3") == "grading"
    assert sorted(store.regrade(A)) == ["s0", "s1"]  # graded and failed; not the replaced one
    assert _column(store, "s0") == "queued" and _column(store, "s2") == "replaced"


def test_a_state_this_version_does_not_know_is_named_with_the_fix(tmp_path):
    store = Store(tmp_path)
    _insert(store, "s0", "paused")
    with pytest.raises(ValueError) as err:
        store.get("s0")
    message = str(err.value)
    assert "submission s0 has the state 'paused'" in message
    assert "queued, grading, graded, failed, replaced" in message and "newer autograde" in message


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    """The service in-process (Starlette's TestClient), graders held, one submission in each
    state."""
    from starlette.testclient import TestClient

    from autograde.service.app import Service, create_app
    from autograde.service.grading import Grader
    from autograde.service.policy import load

    course, _, _ = make_course(tmp_path_factory.mktemp("states") / "course", "", ["ann"])
    store = Store(course)
    instructor = tokens.issue(store, tokens.INSTRUCTOR, "instructor")
    ids = every_state(store)
    app = create_app(Service(course, store, load(course), Grader(course, store, hold=True)))
    with TestClient(app) as client:
        yield {"client": client, "ids": ids, "instructor": instructor}


def test_the_api_sends_each_state_as_its_string_with_its_own_message(held):
    got = held["client"].get(
        "/api/instructor/submissions",
        headers={"Authorization": f"Bearer {held['instructor']}"},
    )
    assert got.status_code == 200, got.text
    rows = {r["id"]: r for r in got.json()["submissions"]}
    for state, sid in held["ids"].items():
        assert rows[sid]["state"] == WIRE[state], rows[sid]
    messages = {rows[sid]["message"] for sid in held["ids"].values()}
    assert len(messages) == len(SubmissionState)  # each state says something of its own
    graded = rows[held["ids"][SubmissionState.GRADED]]
    assert graded["score"] == 7 and graded["message"] == "graded: 7 of 10 points"
    assert rows[held["ids"][SubmissionState.FAILED]]["score"] is None  # never a 0


def test_the_api_reference_and_the_readme_name_every_state():
    import autograde.service.app as app

    readme = (REPO / "README.md").read_text()
    readme = readme[readme.index("A submission's `state` is") :][:300]
    doc = app.__doc__[app.__doc__.index("A submission's\n``state`` is") :][:300]
    for state in SubmissionState:
        assert f"``{WIRE[state]}``" in doc and f"`{WIRE[state]}`" in readme, state


def test_the_status_page_counts_every_state(held):
    text = held["client"].get("/status").text
    assert "waiting 1, grading 1, graded 1, not graded (the instructor was told) 1, " in text
    assert "replaced 1\n" in text


def test_every_state_has_its_badge_on_a_card():
    template = web.ENV.get_template("card.html")
    seen = set()
    for state in SubmissionState:
        c = {"id": "x", "state": state.value, "message": "m", "when": "now", "pages": []}
        html = template.render(c=dict(c, score=7.0, max_score=10.0, results=None), sess=None)
        assert f'class="card state-{WIRE[state]}"' in html  # the stylesheet's classes
        seen.add(web.badge(state.value))
        assert f'<span class="badge">{web.badge(state)}</span>' in html
        assert ("updates by itself" in html) == (state in PENDING)
        assert ("not a score of 0" in html) == (state is SubmissionState.FAILED)
    assert len(seen) == len(SubmissionState)
