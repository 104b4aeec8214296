"""``autograde serve``: the grading service, an ASGI application (Starlette on uvicorn).

It owns one course folder and its gradebook. Students (through nbgrader's exchange,
:mod:`autograde.exchange`, or any HTTP client) fetch the released assignments, submit
notebooks and fetch their feedback as soon as it is graded; the instructor's token reads every
submission. The JSON API (every answer is JSON; an error is ``{"error": "<what to do>"}``
with its HTTP status):

=========================================  =========================================================
``GET /status``                            plain text: the queue, no names (no token needed)
``GET /api/assignments``                   the assignments open for submission, with due dates
``GET /api/assignments/{a}``               the released files of ``a`` (base64)
``POST /api/assignments/{a}/submissions``  ``{"files": {"a.ipynb": "<text>"}}``: 202 once stored
``GET /api/submissions[?assignment=a]``    the caller's own submissions, oldest first
``GET /api/submissions/{id}``              one of them (404 for anyone else's)
``GET /api/submissions/{id}/feedback``     its feedback pages, once graded (409 before)
=========================================  =========================================================

and for the instructor's token (:mod:`autograde.service.instructor`): every submission, releasing
an assignment, collecting the latest submissions and grading them again. A submission's
``state`` is ``queued``, ``grading``, ``graded``, ``failed`` (the grader's side failed twice) or
``replaced`` (:class:`autograde.service.states.SubmissionState`). The pages a person opens in a
browser (a personal link, a session cookie, the same submission path) are
:mod:`autograde.service.pages` and :mod:`autograde.service.class_pages`.

Tokens (:mod:`autograde.service.tokens`) come as ``Authorization: Bearer <token>``. Blocking
work (SQLite, fsync, notebook checks) runs in Starlette's thread pool; grading runs in
:class:`autograde.service.grading.Grader`'s threads and workers, never in a request.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import logging
import threading
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from graders import settings

from .. import gradebook_db
from ..course import db_url
from . import hub, instructor, intake, pages, sessions, tokens
from .grading import NOT_GRADED, Grader
from .policy import ServicePolicy
from .states import SubmissionState
from .store import Refused, Store, Submission

log = logging.getLogger("autograde.service")

#: An upload up to this many times the cap is read (and dropped) before it is refused, so that
#: the client gets the 413 and its sentence rather than a connection closed mid-upload.
DRAIN = 4

#: nbgrader's timestamp format (``Exchange.timestamp_format``), in UTC.
TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f %Z"


class Service:
    """The state behind the routes: the course, its store, policy and graders."""

    def __init__(self, course: Path, store: Store, policy: ServicePolicy, grader: Grader):
        self.course, self.store, self.policy, self.grader = Path(course), store, policy, grader
        self.attempts = tokens.FailedAttempts(policy.failed_logins_per_minute)
        self.session_key = sessions.load_key(store.root)  # the pages' cookies (sessions.py)
        self._due: dict[str, tuple[float, datetime.datetime | None]] = {}
        self._due_lock = threading.Lock()
        self.hub = hub.from_environ()  # JupyterHub's identities too, where run as its service

    # --- assignments ----------------------------------------------------------------------

    def assignments(self) -> list[str]:
        """Every assignment of the course (``source/<name>/``)."""
        return sorted(p.name for p in (self.course / "source").iterdir() if p.is_dir())

    def released(self, a: str) -> bool:
        return any((self.course / "release" / a).glob("*.ipynb"))

    def is_open(self, a: str) -> bool:
        listed = self.policy.open_assignments
        return self.released(a) and (not listed or a in listed)

    def known(self, a: str) -> str:
        """``a`` if the course has it, else :class:`Refused` (404) naming those it has."""
        have = self.assignments()
        if a not in have:
            raise Refused(
                404,
                f"this course has no assignment {a!r}; its assignments: {', '.join(have)}. "
                "Check the name you fetched or submitted",
            )
        return a

    def duedate(self, a: str) -> datetime.datetime | None:
        """nbgrader's due date of ``a`` (UTC, naive, as the gradebook keeps it), cached 30 s."""
        from nbgrader.api import MissingEntry  # loaded with the gradebook, already imported

        # one reader at a time: nbgrader's Gradebook() adds the course's row where it is
        # missing, and two doing so at once collide (IntegrityError)
        with self._due_lock:
            now = time.monotonic()
            cached = self._due.get(a)
            if cached and now - cached[0] < 30:
                return cached[1]
            due = None
            with gradebook_db.open_gradebook(db_url(self.course)) as gb:
                with contextlib.suppress(MissingEntry):
                    due = gb.find_assignment(a).duedate
            self._due[a] = (now, due)
            return due

    def check_open(self, a: str) -> None:
        self.known(a)
        if not self.released(a):
            raise Refused(
                403,
                f"{a} has not been released yet, so it takes no submissions: wait for your "
                "instructor to release it",
            )
        if not self.is_open(a):
            raise Refused(
                403,
                f"{a} is closed: it takes no more submissions. Ask your instructor if you "
                "think it should be open",
            )
        due = self.duedate(a)
        if due is not None and not self.policy.accept_late:
            if datetime.datetime.now(datetime.UTC).replace(tzinfo=None) > due:
                raise Refused(
                    403,
                    f"the due date of {a} was {due:%Y-%m-%d %H:%M} UTC and this course takes no "
                    "late submissions: ask your instructor",
                )

    # --- receiving ------------------------------------------------------------------------

    async def read_capped(self, request: Request) -> bytes:
        """The request's body, or :class:`Refused` (413) past the course's upload cap."""
        cap = self.policy.max_upload_bytes
        too_big = Refused(
            413,
            f"the submission is larger than this course's {cap / 1e6:g} MB: clear the "
            "notebook's large outputs (Kernel > Restart & Clear Output), save, and submit again",
        )
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > DRAIN * cap:
            raise too_big  # not worth reading: the client may see the connection closed instead
        body, size = bytearray(), 0
        async for chunk in request.stream():
            size += len(chunk)
            if size <= cap:
                body += chunk
            elif size > DRAIN * cap:
                raise too_big
        if size > cap:  # read to the end (and dropped), so that the client reads the answer
            raise too_big
        return bytes(body)

    def receive(self, student: str, a: str, files: dict[str, str]) -> tuple[Submission, int, str]:
        """The one path of a submission, from the JSON API and the upload form alike: intake's
        checks, then :meth:`Store.accept`. Returns the submission, how many wait before it and
        a sentence where it is late (else "")."""
        others = [x for x in self.assignments() if x != a]
        data = intake.check_files(self.course, a, files, others)
        stamp = datetime.datetime.now(datetime.UTC).strftime(TIMESTAMP)
        sub, ahead = self.store.accept(student, a, data, stamp, self.policy.submissions_per_hour)
        self.grader.wake()
        late = ""
        if self.late(sub):
            due = self.duedate(a)
            late = f" It is late (due {due:%Y-%m-%d %H:%M} UTC): the course's late penalty applies."
        return sub, ahead, late

    def late(self, sub: Submission) -> bool:
        """Whether ``sub`` arrived after its assignment's due date."""
        due = self.duedate(sub.assignment)
        arrived = datetime.datetime.fromtimestamp(sub.received_at, datetime.UTC)
        return due is not None and arrived.replace(tzinfo=None) > due

    # --- who ------------------------------------------------------------------------------

    def unblocked_client(self, request: Request, what: str, then: str) -> str:
        """The client's address, or a 429 :class:`Refused` while it is locked out after too many
        failed ``what`` ("token checks", "sign-ins"), saying how long to wait and ``then``."""
        client = request.client.host if request.client else "?"
        wait = self.attempts.blocked(client)
        if wait:
            raise Refused(
                429,
                f"too many failed {what} from your address; wait {int(wait) + 1} s, then {then}",
                retry_after=int(wait) + 1,
            )
        return client

    async def who(self, request: Request, role: str | None = None) -> tuple[str, str]:
        client = self.unblocked_client(
            request, "token checks", "check the token your instructor gave you"
        )
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip() if scheme.lower() in ("bearer", "token") else ""
        ident = await run_in_threadpool(self.identify, token)
        if ident is None:
            self.attempts.failed(client)
            raise Refused(
                401,
                "unknown or revoked token: use the token file your instructor gave you "
                f"(c.AutogradeExchange.token_file, or the {settings.TOKEN_ENV} variable); ask them "
                "for a new one if it was revoked",
            )
        if role is not None and ident[0] != role:
            raise Refused(403, "this needs the instructor's token")
        return ident

    def identify(self, token: str) -> tuple[str, str] | None:
        """``(role, name)`` of a course token, else of a JupyterHub token (a student)."""
        ident = tokens.identify(self.store, token)
        if ident is None and self.hub is not None:
            student = self.hub.student(self.store, token)
            ident = (tokens.STUDENT, student) if student else None
        return ident

    # --- views ----------------------------------------------------------------------------

    def view(self, sub: Submission) -> dict:
        """What a student may read of a submission: no error text of the grader's side."""
        state = sub.state
        graded = state is SubmissionState.GRADED
        if state is SubmissionState.QUEUED:
            message = f"waiting to be graded ({self.store.waiting_before(sub.id)} before it)"
        elif state is SubmissionState.GRADING:
            message = "being graded"
        elif graded:
            message = f"graded: {sub.score:g} of {sub.max_score:g} points"
        elif state is SubmissionState.FAILED:
            message = NOT_GRADED
        else:
            message = "replaced by your later submission before it was graded"
        return {
            "id": sub.id,
            "assignment": sub.assignment,
            "student": sub.student,
            "timestamp": sub.timestamp,
            "state": state.value,  # the API's string
            "score": sub.score if graded else None,
            "max_score": sub.max_score if graded else None,
            "message": message,
            "feedback": graded and self.store.feedback_dir(sub.id).is_dir(),
            "late": self.late(sub),
        }


# --- routes -------------------------------------------------------------------------------


def _svc(request: Request) -> Service:
    return request.app.state.service


async def status(request: Request):
    svc = _svc(request)
    n = await run_in_threadpool(svc.store.counts)
    hold = " (--hold: receiving only, not grading)" if svc.grader.hold else ""
    text = (
        f"autograde service: {svc.course.name}{hold}\n"
        f"waiting {n[SubmissionState.QUEUED]}, grading {n[SubmissionState.GRADING]}, "
        f"graded {n[SubmissionState.GRADED]}, not graded (the instructor was told) "
        f"{n[SubmissionState.FAILED]}, replaced {n[SubmissionState.REPLACED]}\n"
        f"graders: {svc.grader.jobs}\n"
    )
    return PlainTextResponse(text)


async def list_assignments(request: Request):
    svc = _svc(request)
    await svc.who(request)

    def rows():
        out = []
        for a in svc.assignments():
            if svc.is_open(a):
                due = svc.duedate(a)
                out.append({"name": a, "duedate": f"{due:%Y-%m-%d %H:%M:%S} UTC" if due else None})
        return out

    return JSONResponse({"assignments": await run_in_threadpool(rows)})


async def fetch_assignment(request: Request):
    svc = _svc(request)
    await svc.who(request)
    a = svc.known(request.path_params["assignment"])
    if not svc.is_open(a):
        raise Refused(403, f"{a} is not open (not released, or closed): ask your instructor")
    folder = svc.course / "release" / a
    files = {
        str(p.relative_to(folder)): base64.b64encode(p.read_bytes()).decode()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".ipynb_checkpoints" not in p.parts
    }
    return JSONResponse({"assignment": a, "files": files})


async def submit(request: Request):
    svc = _svc(request)
    role, student = await svc.who(request, tokens.STUDENT)
    a = request.path_params["assignment"]
    await run_in_threadpool(svc.check_open, a)
    files = intake.parse_body(await svc.read_capped(request))
    sub, ahead, late = await run_in_threadpool(svc.receive, student, a, files)
    message = (
        f"received {a} at {sub.timestamp}; {ahead} submission{'s' if ahead != 1 else ''} waiting "
        f"before it. Fetch your feedback (nbgrader fetch_feedback {a}) in a few minutes.{late}"
    )
    view = svc.view(sub)
    view.update(waiting_before=ahead, message=message)
    return JSONResponse(view, status_code=202)


async def my_submissions(request: Request):
    svc = _svc(request)
    role, name = await svc.who(request)
    a = request.query_params.get("assignment")
    subs = await run_in_threadpool(
        svc.store.list, None if role == tokens.INSTRUCTOR else name, a or None
    )
    return JSONResponse({"submissions": [svc.view(s) for s in subs]})


async def _own(request: Request) -> tuple[Service, Submission]:
    svc = _svc(request)
    role, name = await svc.who(request)
    sub = await run_in_threadpool(svc.store.get, request.path_params["id"])
    if sub is None or (role == tokens.STUDENT and sub.student != name):
        # the same answer for another student's submission: ids are not confirmed
        raise Refused(
            404, "no submission of yours has this id: list yours with GET /api/submissions"
        )
    return svc, sub


async def one_submission(request: Request):
    svc, sub = await _own(request)
    return JSONResponse(svc.view(sub))


async def submission_feedback(request: Request):
    svc, sub = await _own(request)
    view = svc.view(sub)
    if not view["feedback"]:
        raise Refused(409, f"no feedback yet: this submission is {view['message']}")
    folder = svc.store.feedback_dir(sub.id)
    pages = {p.name: p.read_text() for p in sorted(folder.glob("*.html"))}
    return JSONResponse(dict(view, files=pages))


async def refused(request: Request, err: Refused):
    headers = {"Retry-After": str(err.extra["retry_after"])} if "retry_after" in err.extra else {}
    return JSONResponse({"error": err.message}, status_code=err.status, headers=headers)


ROUTES = [
    Route("/status", status),
    Route("/api/assignments", list_assignments),
    Route("/api/assignments/{assignment}", fetch_assignment),
    Route("/api/assignments/{assignment}/submissions", submit, methods=["POST"]),
    Route("/api/submissions", my_submissions),
    Route("/api/submissions/{id}", one_submission),
    Route("/api/submissions/{id}/feedback", submission_feedback),
    *instructor.ROUTES,
    *pages.ROUTES,
]


def create_app(service: Service) -> Starlette:
    """The ASGI application of ``service``; its graders start and stop with it."""

    sessions.redact_access_log()  # no token of a personal link in uvicorn's access log

    @contextlib.asynccontextmanager
    async def lifespan(app):
        sessions.redact_access_log()  # again, should uvicorn have configured logging since
        # in a thread: connecting to a dask scheduler runs an event loop of its own
        await run_in_threadpool(service.grader.start)
        try:
            yield
        finally:
            await run_in_threadpool(service.grader.stop)

    app = Starlette(routes=ROUTES, exception_handlers={Refused: refused}, lifespan=lifespan)
    app.state.service = service
    return app
