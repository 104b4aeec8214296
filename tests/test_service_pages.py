"""The grading service's web pages in a real browser (issue 25), and their pieces without one.

One course is served by a real ``autograde serve`` on a loopback port for the whole module
(tests/service_parts.py; grading on the runtime backend, as test_service.py grades), and
headless Chromium (the ``browser`` fixture, tests/browser.py; skipped loudly without it) plays
the students and the instructor: a personal link, the download, the upload, the state changing
to graded without a reload, the score, a check's message and the feedback page with its plot;
another student's cookie; the instructor's progress and "grade again"; every bad input; the
pages with JavaScript off; CSRF. A screenshot of each page lands in the test's tmp folder.

The tests without a browser (cookie flags, CSRF, the access log, a late upload's flag, the
regrade's bookkeeping) run the application in-process (Starlette's TestClient, graders held).
"""

from __future__ import annotations

import datetime
import logging
import re
import subprocess
import sys
import time

import pytest
from service_parts import A, Server, answer, env, make_course

from autograde.service import sessions, tokens
from autograde.service.states import SubmissionState
from autograde.service.store import Store

# one graded submission an hour (so the second is refused at once), ei_balance past its due
# date and refused late, tutorial released but closed
POLICY = (
    "c.ServicePolicy.submissions_per_hour = 1\n"
    'c.ServicePolicy.open_assignments = ["adaptive_threshold", "ei_balance"]\n'
    "c.ServicePolicy.accept_late = False\n"
    "c.ServicePolicy.max_upload_bytes = 2_000_000\n"
)
ROSTER = ["alice", "bob", "carol", "dave", "erin"]
GRADING_S = 900  # a generous bound for one grading on a loaded 2-core machine


def _due(course, assignment: str, when: datetime.datetime) -> None:
    from nbgrader.api import Gradebook

    from autograde.course import db_url

    with Gradebook(db_url(course)) as gb:
        gb.update_or_create_assignment(assignment, duedate=when)


# --- without a browser: the application in-process, graders held ----------------------------


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    """The application of a course that takes late submissions (ei_balance is past its due
    date), with its graders held: nothing is graded, everything else is real."""
    from autograde.service.app import Service, create_app
    from autograde.service.grading import Grader
    from autograde.service.policy import load

    base = tmp_path_factory.mktemp("held")
    course, toks, _ = make_course(
        base / "course", "c.ServicePolicy.submissions_per_hour = 1", ["ann", "ben"],
        released=(A, "ei_balance"),
    )  # fmt: skip
    _due(course, "ei_balance", datetime.datetime(2020, 1, 1))
    store = Store(course)
    toks["instructor"] = tokens.issue(store, tokens.INSTRUCTOR, "instructor")
    service = Service(course, store, load(course), Grader(course, store, hold=True))
    return {"app": create_app(service), "course": course, "tokens": toks, "store": store}


def _client(held, base_url="http://testserver"):
    from starlette.testclient import TestClient

    return TestClient(held["app"], base_url=base_url, follow_redirects=False)


def test_the_link_sets_an_httponly_lax_cookie_and_sends_the_token_away(held):
    with _client(held) as c:
        got = c.get(tokens.personal_link("http://testserver", held["tokens"]["ann"]))
        assert got.status_code == 303 and got.headers["location"] == "/"
        cookie = got.headers["set-cookie"]
        for part in ("autograde_session=", "HttpOnly", "Path=/", "SameSite=lax", "Max-Age="):
            assert part in cookie, cookie
        assert "Secure" not in cookie and held["tokens"]["ann"] not in cookie
        page = c.get("/")
        assert page.status_code == 200 and "Your assignments" in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        bad = c.get("/login?token=s.ann." + "0" * 64)
        assert bad.status_code == 401 and "unknown, expired or revoked" in bad.text
    with _client(held, "https://testserver") as c:
        got = c.get(tokens.personal_link("https://testserver", held["tokens"]["ann"]))
        assert "Secure" in got.headers["set-cookie"]


def test_a_session_ends_with_its_token_and_a_forged_cookie_is_nobody(held):
    store = held["store"]
    token = tokens.issue(store, tokens.STUDENT, "ben")
    with _client(held) as c:
        c.get(tokens.personal_link("http://testserver", token))
        assert c.get("/").status_code == 200
        value = c.cookies[sessions.COOKIE]
        role, expiry, mac, name = value.split(".", 3)
        c.cookies.set(sessions.COOKIE, ".".join([role, expiry, mac, "ann"]))  # another's name
        assert c.get("/").status_code == 401
        c.cookies.set(sessions.COOKIE, ".".join(["i", expiry, mac, name]))  # another role
        assert c.get("/").status_code == 401
        c.cookies.set(sessions.COOKIE, value)
        tokens.issue(store, tokens.STUDENT, "ben")  # a new token: the old sessions end
        page = c.get("/")
        assert page.status_code == 401 and "open the personal link" in page.text


def test_a_post_needs_the_csrf_field_and_this_sites_origin(held):
    a = f"/instructor/assignments/{A}/regrade"
    with _client(held) as c:
        c.get(tokens.personal_link("http://testserver", held["tokens"]["instructor"]))
        field = re.search(r'name="csrf" value="([0-9a-f]+)"', c.get("/").text)[1]
        got = c.post(a, data={}, headers={"Origin": "http://testserver"})
        assert got.status_code == 403 and "security field is missing or wrong" in got.text
        got = c.post(a, data={"csrf": field + "0"}, headers={"Origin": "http://testserver"})
        assert got.status_code == 403
        got = c.post(a, data={"csrf": field}, headers={"Origin": "http://evil.example"})
        assert got.status_code == 403 and "sent from another site" in got.text
        got = c.post(a, data={"csrf": field}, headers={"Origin": "http://testserver"})
        assert got.status_code == 303 and "regraded=0" in got.headers["location"]


def test_a_late_upload_is_kept_with_its_late_flag_where_the_course_takes_it(held):
    store = held["store"]
    before = len(store.list())
    with _client(held) as c:
        c.get(tokens.personal_link("http://testserver", held["tokens"]["ann"]))
        home = c.get("/").text
        assert "the due date has passed" in home and "a submission now is late" in home
        field = re.search(r'name="csrf" value="([0-9a-f]+)"', home)[1]
        nb = (held["course"] / "release" / "ei_balance" / "ei_balance.ipynb").read_bytes()
        got = c.post(
            "/assignments/ei_balance/upload",
            data={"csrf": field},
            files={"notebook": ("ei_balance (2).ipynb", nb, "application/json")},
            headers={"Origin": "http://testserver"},
        )
        assert got.status_code == 303, got.text
        page = c.get(got.headers["location"]).text
        assert "It is <strong>late</strong>" in page and "late</strong> (after the due date" in page
    subs = store.list("ann", "ei_balance")
    assert len(store.list()) == before + 1 and subs[-1].files == ["ei_balance.ipynb"]


def test_a_refused_upload_is_named_as_the_student_named_it(held):
    store = held["store"]
    before = len(store.list())
    with _client(held) as c:
        c.get(tokens.personal_link("http://testserver", held["tokens"]["ann"]))
        field = re.search(r'name="csrf" value="([0-9a-f]+)"', c.get("/").text)[1]
        got = c.post(
            f"/assignments/{A}/upload",
            data={"csrf": field},
            files={"notebook": ("mine (3).ipynb", b"not json", "application/json")},
            headers={"Origin": "http://testserver"},
        )
    assert got.status_code == 422, got.text
    assert "The file you uploaded (mine (3).ipynb) is not a Jupyter notebook" in got.text
    assert len(store.list()) == before  # nothing stored


def test_regrade_requeues_the_latest_once_without_counting_against_the_hour(tmp_path, db_url):
    store = Store(tmp_path, db_url)
    nb = {f"{A}.ipynb": b"{}"}
    old, _ = store.accept("reg", A, nb, "t1", limit=0)
    new, _ = store.accept("reg", A, nb, "t2", limit=0)  # replaces the waiting one
    assert store.claim().id == new.id
    store.graded(new.id, 5, 10)
    assert store.regrade(A, "reg") == [new.id]
    assert store.get(new.id).state is SubmissionState.QUEUED
    assert store.regrade(A, "reg") == []  # waiting already: not twice
    assert store.graded_this_hour("reg", A) == [store.get(new.id).received_at]  # once
    with pytest.raises(Exception, match="next submission is allowed"):
        store.accept("reg", A, nb, "t3", limit=1)
    third, _ = store.accept("reg", A, nb, "t3", limit=0)
    assert store.get(new.id).state is SubmissionState.QUEUED  # not replaced: graded before
    assert store.claim().id == new.id and store.get(old.id).state is SubmissionState.REPLACED
    store.graded(new.id, 6, 10)
    assert store.get(new.id).gradings == 2 and store.claim().id == third.id
    assert store.regrade(A) == []  # the latest (third) is being graded: graded anyway
    store.graded(third.id, 7, 10)
    assert store.regrade(A) == [third.id]  # the latest only, never the older one


def test_the_instructors_json_route_grades_again(held):
    store = held["store"]
    sub, _ = store.accept("rex", A, {f"{A}.ipynb": b"{}"}, "t1", limit=0)
    store.graded(sub.id, 5, 10)  # (the graders are held: as if graded)
    with _client(held) as c:
        bearer = {"Authorization": f"Bearer {held['tokens']['instructor']}"}
        url = f"/api/instructor/assignments/{A}/regrade"
        got = c.post(url, json={"student": "rex"}, headers=bearer)
        assert got.status_code == 200 and got.json()["requeued"] == [sub.id], got.json()
        assert "1 submission of adaptive_threshold queued" in got.json()["message"]
        assert c.post(url, headers=bearer).json()["requeued"] == []  # waiting already
        got = c.post(url, json={"student": "../x"}, headers=bearer)
        assert got.status_code == 400 and "not a usable student id" in got.json()["error"]
        got = c.post(url, json={"student": 5}, headers=bearer)
        assert got.status_code == 400 and '{"student": "ID"}' in got.json()["error"]
        student = {"Authorization": f"Bearer {held['tokens']['ann']}"}
        assert c.post(url, headers=student).status_code == 403


def test_students_prints_each_personal_link(held):
    got = subprocess.run(
        [sys.executable, "-m", "autograde", "students", "--course", str(held["course"]),
         "--url", "https://grading.example.edu/", "add", "zed"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    link = re.search(r"page: https://grading\.example\.edu/login\?token=(\S+)", got.stdout)
    assert link, got.stdout
    assert tokens.identify(held["store"], link[1]) == ("s", "zed")  # the link's token is zed's


def test_a_grading_failure_shows_at_once_with_its_reason_and_never_as_a_0(held):
    store = held["store"]
    nb = (held["course"] / "release" / A / f"{A}.ipynb").read_bytes()
    sub, _ = store.accept("ann", A, {f"{A}.ipynb": nb}, "2026-01-01 00:00:00.000000 UTC", 0)
    while (claimed := store.claim()) is not None:  # (the graders are held: as if they failed)
        assert (
            store.grader_failed(claimed.id, "worker failed: the GPU fell off the bus", 0) is False
        )
    assert store.get(sub.id).state is SubmissionState.FAILED
    with _client(held) as c:
        c.get(tokens.personal_link("http://testserver", held["tokens"]["instructor"]))
        page = c.get("/").text
        failures = page[page.index('class="failures"') :]
        assert "ann" in failures and "the GPU fell off the bus" in failures
        table = page[page.index('class="students"') :]  # the instructor's words, not ann's
        assert "grading failed" in table and "the instructor was told" not in table
        c.cookies.clear()
        c.get(tokens.personal_link("http://testserver", held["tokens"]["ann"]))
        mine = c.get("/").text
        assert (
            "not graded yet, the instructor was told" in mine and "This is not a score of 0" in mine
        )
        assert "GPU fell off" not in mine and "Score:" not in mine


def test_failed_sign_ins_lock_the_address_out_with_a_page_that_says_so(held):
    """Last of those that sign in to ``held``: it locks the test client out for a minute."""
    with _client(held) as c:
        got = [c.get("/login?token=s.ann." + "1" * 64).status_code for _ in range(12)]
        assert got[0] == 401 and got[-1] == 429, got
        page = c.get(tokens.personal_link("http://testserver", held["tokens"]["ann"]))
        assert page.status_code == 429 and "Too many failed sign-ins" in page.text
        assert int(page.headers["retry-after"]) > 0


def test_the_access_log_filter_redacts_tokens():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/login?token=s.ann.abc123&x=1", "1.1", 303), None,
    )  # fmt: skip
    sessions.redact_access_log()
    logger = logging.getLogger("uvicorn.access")
    assert all(f.filter(record) for f in logger.filters)
    line = record.getMessage()
    assert "abc123" not in line and "/login?token=[redacted]&x=1" in line


# --- in a browser, against a real `autograde serve` ---------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory, browser):
    """The course served on loopback, and bob's upload made at once with JavaScript off (so
    that it is graded while alice's test runs)."""
    base = tmp_path_factory.mktemp("pages")
    course, toks, _ = make_course(
        base / "course", POLICY, ROSTER, released=(A, "ei_balance", "tutorial")
    )
    _due(course, "ei_balance", datetime.datetime(2020, 1, 1))
    server = Server(course, env(base / "cache"), base / "serve.log").start()
    out = {"course": course, "tokens": toks, "server": server, "base": base}
    try:
        (base / "bob.ipynb").write_text(answer("partly"))
        ctx, page = _open(browser, server, toks["bob"], js=False)
        page.get_by_label("Your filled notebook for adaptive_threshold").set_input_files(
            base / "bob.ipynb"
        )
        page.get_by_role("button", name="Upload and grade").click()
        page.wait_for_load_state()
        out["bob_after_upload"] = page.inner_text("main")
        ctx.close()
        yield out
    finally:
        server.stop()


def _open(browser, server, token: str, js: bool = True, width: int = 1280):
    """A new browser context signed in with ``token``'s personal link; its page."""
    ctx = browser.new_context(
        viewport={"width": width, "height": 900}, java_script_enabled=js, accept_downloads=True
    )
    page = ctx.new_page()
    page.goto(tokens.personal_link(server.url, token))
    return ctx, page


def _kept(course) -> tuple[int, list[str]]:
    """Rows of the service's submissions and the folders of its inbox."""
    store = Store(course)
    return len(store.list()), sorted(p.name for p in store.inbox.iterdir())


def _card(page, state: str, timeout_s: float = GRADING_S):
    page.wait_for_selector(f"#adaptive_threshold .card.state-{state}", timeout=timeout_s * 1000)


@pytest.mark.slow
def test_a_student_downloads_uploads_and_watches_it_graded(site, browser, tmp_path):
    server, course = site["server"], site["course"]
    ctx, page = _open(browser, server, site["tokens"]["alice"])
    try:
        assert page.url == server.url + "/"  # the token left the address bar
        page.screenshot(path=str(tmp_path / "student-start.png"), full_page=True)
        with page.expect_download() as got:
            page.get_by_role("link", name=f"Download {A}.ipynb").click()
        released = (course / "release" / A / f"{A}.ipynb").read_bytes()
        assert got.value.suggested_filename == f"{A}.ipynb"
        assert open(got.value.path(), "rb").read() == released
        nb = tmp_path / f"{A} (1).ipynb"  # a browser's name for a second download
        nb.write_text(answer("right"))
        page.get_by_label("Your filled notebook for adaptive_threshold").set_input_files(nb)
        page.get_by_role("button", name="Upload and grade").click()
        page.wait_for_load_state()
        loads = []
        page.on("load", lambda _: loads.append(1))
        first = page.inner_text("#adaptive_threshold .card .badge")
        assert first in ("WAITING", "GRADING"), first  # text-transform: the badge's words
        assert "was received at" in page.inner_text(".notice")
        page.screenshot(path=str(tmp_path / "student-waiting.png"), full_page=True)
        _card(page, "graded")
        assert not loads, "the page reloaded: the state should change in place"
        text = page.inner_text("#adaptive_threshold .card")
        assert "Score: 10 of 10 points" in text
        assert "vth rises by vth_inc at every spike" in text  # the jump check's message
        assert "jump" in text and "2 of 2 points" in text
        assert "Submissions left this hour: " not in page.inner_text("#adaptive_threshold")
        assert "No submissions left this hour" in page.inner_text("#adaptive_threshold")
        page.screenshot(path=str(tmp_path / "student-graded.png"), full_page=True)
        page.set_viewport_size({"width": 375, "height": 800})
        width = page.evaluate("() => document.scrollingElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways at 375 px ({width} px)"
        page.screenshot(path=str(tmp_path / "student-phone.png"), full_page=True)
        page.get_by_role("link", name="Open the feedback page").click()
        page.wait_for_load_state("load")
        assert re.search(r"/submissions/[0-9a-f]{32}/feedback/adaptive_threshold\.html$", page.url)
        site["alice_id"] = page.url.split("/")[-3]
        plots = page.evaluate(
            "() => Array.from(document.images).map(i => i.naturalWidth).filter(w => w > 0)"
        )
        assert plots, "the feedback page shows no plot"
        assert "Score: 10.0 / 10.0" in page.content()
        page.screenshot(path=str(tmp_path / "feedback.png"))
        headers = page.request.get(page.url).headers
        assert "sandbox" in headers["content-security-policy"]
        assert "script-src" not in headers["content-security-policy"]  # default-src 'none'
    finally:
        ctx.close()
    # what the exchange classes (nbgrader list / fetch_feedback) read: the same submission
    status, mine = server.call("GET", "/api/submissions", site["tokens"]["alice"])
    assert [s["score"] for s in mine["submissions"]] == [10.0]
    assert mine["submissions"][0]["message"] == "graded: 10 of 10 points"


@pytest.mark.slow
def test_another_students_cookie_cannot_open_those_pages(site, browser, tmp_path):
    sid = site.get("alice_id")
    if sid is None:
        pytest.skip("needs alice's graded submission (the test before)")
    ctx, page = _open(browser, site["server"], site["tokens"]["carol"])
    try:
        for path in (f"/submissions/{sid}", f"/submissions/{sid}/feedback/{A}.html"):
            got = page.goto(site["server"].url + path)
            assert got.status == 404, path
            assert "You have no submission with this address" in page.inner_text("main")
        page.screenshot(path=str(tmp_path / "not-yours.png"), full_page=True)
        got = page.request.get(site["server"].url + f"/submissions/{sid}/live")
        assert got.status == 404 and "score" not in got.text()
    finally:
        ctx.close()


@pytest.mark.slow
def test_without_javascript_the_state_is_right_on_reload(site, browser, tmp_path):
    said = site["bob_after_upload"]
    assert "was received at" in said and ("WAITING" in said or "GRADING" in said), said
    assert "waiting to be graded (" in said or "being graded" in said  # Service.view's words
    ctx, page = _open(browser, site["server"], site["tokens"]["bob"], js=False)
    try:
        deadline = time.monotonic() + GRADING_S
        while "Score:" not in page.inner_text("#adaptive_threshold"):
            assert time.monotonic() < deadline, "bob's submission was not graded"
            time.sleep(2)
            page.reload()
        text = page.inner_text("#adaptive_threshold")
        assert "Score: 4.82 of 10 points" in text
        # what nbgrader list / fetch_feedback show bob (the exchange classes): the same score
        status, mine = site["server"].call("GET", "/api/submissions", site["tokens"]["bob"])
        assert [round(s["score"], 2) for s in mine["submissions"]] == [4.82]
        assert "0 of 2 points" in text and "divide by tau_th instead" in text  # decay's message
        page.screenshot(path=str(tmp_path / "student-no-js.png"), full_page=True)
    finally:
        ctx.close()


@pytest.mark.slow
def test_the_instructor_sees_progress_and_grades_one_again_once(site, browser, tmp_path):
    server = site["server"]
    server.wait_until(lambda rows: all(r["state"] == "graded" for r in rows) and
                      len(rows) >= 2, GRADING_S, "grading alice and bob")  # fmt: skip
    before = {r["student"]: r for r in server.submissions()}
    ctx, page = _open(browser, server, server.instructor)
    try:
        assert page.url == server.url + "/"
        part = page.locator("#adaptive_threshold")
        assert re.search(r"Graded\s*2", part.inner_text()), part.inner_text()
        page.screenshot(path=str(tmp_path / "instructor.png"), full_page=True)
        with page.expect_download() as got:
            page.get_by_role("link", name=re.compile("Download the grades, plain")).click()
        assert open(got.value.path()).read().startswith("student_id")
        page.get_by_role("button", name=f"Grade alice's latest submission of {A} again").click()
        page.wait_for_load_state()
        assert "1 submission of adaptive_threshold queued to be graded again" in page.inner_text(
            ".notice"
        )
        row = page.locator("#adaptive_threshold tr", has_text="alice")
        assert re.search(r"waiting|being graded|graded", row.inner_text())
        page.wait_for_function(  # the live part moves back to graded, no reload
            "() => { const t = document.querySelector('#adaptive_threshold').innerText;"
            " return /Waiting\\s*0/.test(t) && /Grading\\s*0/.test(t) && /Graded\\s*2/.test(t); }",
            timeout=GRADING_S * 1000,
        )
        page.screenshot(path=str(tmp_path / "instructor-after-regrade.png"), full_page=True)
        rows = {r["student"]: r for r in server.submissions()}
        assert rows["alice"]["gradings"] == before["alice"]["gradings"] + 1  # graded once more
        assert rows["alice"]["id"] == before["alice"]["id"] and len(rows) == len(before)
        assert rows["bob"]["gradings"] == before["bob"]["gradings"]
        # not one more submission of the hour for alice: still one used, none more
        assert Store(site["course"]).graded_this_hour("alice", A) == [
            before["alice"]["received_at"]
        ]
        # the class report the graders write, with its own links to the feedback pages
        page.goto(server.url + f"/instructor/reports/{A}/summary.html")
        assert "alice" in page.content()
        page.screenshot(path=str(tmp_path / "class-report.png"))
    finally:
        ctx.close()


def _upload(page, assignment: str, path):
    page.get_by_label(f"Your filled notebook for {assignment}").set_input_files(path)
    page.get_by_role("button", name="Upload and grade").first.click()
    page.wait_for_load_state()


@pytest.mark.slow
def test_every_bad_input_shows_what_to_do_and_stores_nothing(site, browser, tmp_path):
    server, course, toks = site["server"], site["course"], site["tokens"]
    other = (course / "release" / "ei_balance" / "ei_balance.ipynb").read_text()
    cases = {  # file, words of the sentence, status
        "wrong-file": ("hello, this is not a notebook", "is not a Jupyter notebook", 422),
        "other-assignment": (other, "it looks like ei_balance's", 422),
        "too-large": ("x" * 2_100_000, "larger than this course's 2 MB", 413),
    }
    kept = _kept(course)
    ctx, page = _open(browser, server, toks["erin"], width=375)
    try:
        for case, (text, words, status) in cases.items():
            page.goto(server.url + "/")
            path = tmp_path / f"{case}.ipynb"
            path.write_text(text)
            with page.expect_response(lambda r: r.request.method == "POST") as got:
                _upload(page, A, path)
            assert got.value.status == status, case
            said = page.inner_text("main")
            assert words in said and "Nothing was stored" in said, f"{case}: {said}"
            page.screenshot(path=str(tmp_path / f"{case}.png"), full_page=True)
        # late, and this course refuses late submissions: the form gives way to the sentence
        page.goto(server.url + "/")
        late = page.inner_text("#ei_balance")
        assert "this course takes no late submissions" in late
        assert page.locator("#ei_balance form.upload").count() == 0
        csrf = page.locator("input[name=csrf]").first.get_attribute("value")
        got = page.request.post(
            server.url + "/assignments/ei_balance/upload",
            multipart={"csrf": csrf, "notebook": {"name": "ei_balance.ipynb",
                       "mimeType": "application/json", "buffer": other.encode()}},
            headers={"Origin": server.url},
        )  # fmt: skip
        assert got.status == 403 and "takes no late submissions" in got.text()
        page.screenshot(path=str(tmp_path / "late-refused.png"), full_page=True)
    finally:
        ctx.close()
    # over the hour's limit: alice's one graded submission this hour
    ctx, page = _open(browser, server, toks["alice"])
    try:
        path = tmp_path / "again.ipynb"
        path.write_text(answer("right"))
        _upload(page, A, path)
        said = page.inner_text("main")
        assert re.search(r"next submission is allowed at \d\d:\d\d:\d\d UTC", said), said
        page.screenshot(path=str(tmp_path / "over-the-limit.png"), full_page=True)
    finally:
        ctx.close()
    assert _kept(course) == kept  # nothing stored, of any of them
    # an expired (revoked) link
    tokens.revoke(Store(course), tokens.STUDENT, "dave")
    ctx, page = _open(browser, server, toks["dave"])
    try:
        assert "This link is unknown, expired or revoked" in page.inner_text("main")
        page.screenshot(path=str(tmp_path / "expired-link.png"), full_page=True)
    finally:
        ctx.close()


@pytest.mark.slow
def test_a_post_without_the_csrf_field_or_from_elsewhere_is_refused(site, browser, tmp_path):
    server, course = site["server"], site["course"]
    kept = _kept(course)
    ctx, page = _open(browser, server, site["tokens"]["erin"])
    try:
        nb = {
            "name": f"{A}.ipynb",
            "mimeType": "application/json",
            "buffer": answer("right").encode(),
        }
        url = server.url + f"/assignments/{A}/upload"
        got = page.request.post(url, multipart={"notebook": nb}, headers={"Origin": server.url})
        assert got.status == 403 and "security field is missing or wrong" in got.text()
        csrf = page.locator("input[name=csrf]").first.get_attribute("value")
        got = page.request.post(url, multipart={"csrf": csrf, "notebook": nb},
                                headers={"Origin": "http://evil.example"})  # fmt: skip
        assert got.status == 403 and "sent from another site" in got.text()
        page.set_content(got.text())
        page.screenshot(path=str(tmp_path / "csrf.png"), full_page=True)
    finally:
        ctx.close()
    assert _kept(course) == kept


@pytest.mark.slow
def test_the_access_log_holds_no_token(site):
    log = site["server"].log.read_text()
    assert "GET /login?token=[redacted]" in log
    for token in [*site["tokens"].values(), site["server"].instructor]:
        assert token.rsplit(".", 1)[1] not in log


def test_a_pages_sentence_sets_commands_as_code_and_escapes_the_rest():
    """The API's sentences mark commands in backticks; a page shows them as code, never the
    backticks, and escapes what a student wrote (a file name)."""
    from autograde.service.web import sentence

    got = str(sentence("could not export <x.csv>: run `autograde grade` again"))
    assert got == "Could not export &lt;x.csv&gt;: run <code>autograde grade</code> again."
    assert str(sentence("a file named `odd.ipynb")) == "A file named `odd.ipynb."
