"""The instructor's pages: per assignment the class's progress live, the class report and the
grades export to download, each student's submissions and feedback, and "grade again".

===============================================  =================================================
``GET /`` (the instructor's session)              every assignment's progress and students
``GET /instructor/live/{a}``                      JSON: the live part of ``a``
``POST /instructor/assignments/{a}/regrade``      grade again: one student's latest submission
                                                  (``student`` field) or everyone's (none)
``GET /instructor/reports/{a}/summary.html``      the class report the graders write
``GET /instructor/feedback/{s}/{a}/{page}``       a student's latest feedback page in the course
                                                  folder (the report's links lead there)
``GET /instructor/exports/{format}``              the grades file ``autograde export`` writes
===============================================  =================================================

"Grade again" puts the latest submission back in the queue (:meth:`autograde.service.store.
Store.regrade`): the same graders grade it once more, as any submission, and it does not count
against the student's hourly limit. Scripts do the same with ``POST /api/instructor/assignments/
{a}/regrade`` (:mod:`autograde.service.instructor`).
"""

from __future__ import annotations

from collections import Counter

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import exports
from ..course import db_url
from ..report import REPORTS_DIR
from . import tokens, web
from .states import PENDING, SubmissionState
from .store import Refused

BINS = 5


def histogram(scores: list[float], top: float) -> list[dict]:
    """Counts of ``scores`` in :data:`BINS` equal bins of 0..``top`` (the last one closed)."""
    if not scores or top <= 0:
        return []
    width = top / BINS
    counts = [0] * BINS
    for x in scores:
        counts[min(BINS - 1, max(0, int(x / width)))] += 1
    most = max(counts)
    return [
        {
            "label": f"{web.points(k * width)}-{web.points((k + 1) * width)}",
            "count": n,
            "percent": round(100 * n / most),
        }
        for k, n in enumerate(counts)
    ]


def progress(svc, a: str) -> dict:
    """The class's state on ``a``: counts by state, the latest submission of each student, the
    mean and distribution of their scores, grading failures with their reasons."""
    subs = svc.store.list(None, a)
    counts = Counter(s.state for s in subs)
    latest: dict = {}
    history: dict = {}
    for s in subs:
        history.setdefault(s.student, []).append(s)
        if s.state is not SubmissionState.REPLACED:
            latest[s.student] = s
    graded = [s for s in latest.values() if s.state is SubmissionState.GRADED]
    scores = [s.score for s in graded]
    top = max((s.max_score for s in graded), default=0.0)
    rows = []
    for student in sorted(history):
        last = latest.get(student) or history[student][-1]
        v = svc.view(last)
        rows.append(
            dict(
                v,
                when=web.when(last.timestamp),
                count=len(history[student]),
                error=last.error if last.state is SubmissionState.FAILED else "",
                pages=sorted(p.name for p in svc.store.feedback_dir(last.id).glob("*.html"))
                if v["feedback"]
                else [],
            )
        )
    return {
        "a": a,
        "students": len(history),
        "submissions": len(subs),
        "counts": {s.value: counts[s] for s in SubmissionState},
        "mean": web.points(sum(scores) / len(scores)) if scores else None,
        "top": web.points(top),
        "histogram": histogram(scores, top),
        "failures": [r for r in rows if r["state"] == SubmissionState.FAILED],
        "rows": rows,
        "report": (svc.course / REPORTS_DIR / a / "summary.html").is_file(),
        "pending": any(counts[s] for s in PENDING),
    }


def state_of(svc, a: str) -> str:
    """Whether ``a`` takes submissions now, in words, with its due date."""
    due = web.due_text(svc.duedate(a))
    if not svc.released(a):
        return "not released (students cannot see it)"
    if not svc.is_open(a):
        return "released, closed (takes no submissions)"
    if due and web.past(svc.duedate(a)):
        took = "takes late ones" if svc.policy.accept_late else "refuses late ones"
        return f"open, due {due}: past its due date ({took})"
    return f"open, due {due}" if due else "open, no due date"


def overview(svc, a: str) -> dict:
    return dict(progress(svc, a), state=state_of(svc, a), roster=len(tokens.students(svc.store)))


async def home(request: Request, sess) -> Response:
    svc = sess.svc
    parts = [await run_in_threadpool(overview, svc, a) for a in svc.assignments()]
    done = None
    if request.query_params.get("regraded") is not None:
        done = {"n": request.query_params.get("regraded"), "a": request.query_params.get("a")}
    return web.render(
        "instructor.html",
        sess=sess,
        parts=parts,
        formats=exports.FORMATS,
        files=exports.FORMAT_FILES,
        done=done,
        pending=any(p["pending"] for p in parts),
        hold=svc.grader.hold,
    )


async def live(request: Request) -> Response:
    sess = web.session(request)
    if sess is None or sess.role != tokens.INSTRUCTOR:
        return JSONResponse({"error": "the instructor's session is needed"}, status_code=401)
    a = request.path_params["assignment"]
    if a not in sess.svc.assignments():
        return JSONResponse({"error": f"no assignment {a!r}"}, status_code=404)
    data = await run_in_threadpool(overview, sess.svc, a)
    html = web.fragment("class_live.html", p=data, sess=sess)
    return JSONResponse({"pending": data["pending"], "html": html},
                        headers={"Cache-Control": "no-store"})  # fmt: skip


def student_id(student: str) -> str:
    """``student`` if it is a valid id, else :class:`Refused` (400) saying why."""
    try:
        return tokens.check_id(student)
    except tokens.TokenError as err:
        raise Refused(400, str(err)) from None


def regrade(svc, a: str, student: str | None) -> list[str]:
    """Queue ``a``'s latest submission of ``student`` (everyone's: None) to be graded again."""
    svc.known(a)
    if student is not None:
        student_id(student)
    ids = svc.store.regrade(a, student)
    svc.grader.wake()
    return ids


@web.guarded
async def regrade_form(request: Request) -> Response:
    sess = web.need(request, tokens.INSTRUCTOR)
    form = await web.read_form(request, await request.body(), 4096)
    web.check_post(request, sess, form)
    a = request.path_params["assignment"]
    student = form.get("student") or None
    ids = await run_in_threadpool(regrade, sess.svc, a, student)
    return RedirectResponse(f"/?regraded={len(ids)}&a={a}#{a}", status_code=303)


@web.guarded
async def report(request: Request) -> Response:
    sess = web.need(request, tokens.INSTRUCTOR)
    a = sess.svc.known(request.path_params["assignment"])
    path = sess.svc.course / REPORTS_DIR / a / "summary.html"
    if not path.is_file():
        raise Refused(409, f"no class report of {a} yet: it is written when the queue runs dry")
    text = await run_in_threadpool(path.read_text)
    return web.sandboxed(text, f"/#{a}")


@web.guarded
async def course_feedback(request: Request) -> Response:
    sess = web.need(request, tokens.INSTRUCTOR)
    svc = sess.svc
    a = svc.known(request.path_params["assignment"])
    student, name = request.path_params["student"], request.path_params["page"]
    folder = svc.course / "feedback" / student_id(student) / a
    pages = {p.name: p for p in folder.glob("*.html")} if folder.is_dir() else {}
    if name not in pages:
        raise Refused(404, f"{student} has no feedback page {name!r} of {a}")
    text = await run_in_threadpool(pages[name].read_text)
    return web.sandboxed(text, f"/#{a}")


@web.guarded
async def export(request: Request) -> Response:
    sess = web.need(request, tokens.INSTRUCTOR)
    svc = sess.svc
    fmt = request.path_params["format"]
    if fmt not in exports.FORMATS:
        raise Refused(404, f"no export {fmt!r}: choose one of {', '.join(exports.FORMATS)}")

    def write():
        with svc.grader.lock:  # the graders write the course's files under it
            return exports.write_format(svc.course, db_url(svc.course), fmt)

    try:
        path = await run_in_threadpool(write)
    except exports.ExportError as err:
        raise Refused(500, str(err)) from None
    return FileResponse(path, filename=path.name, media_type="text/csv", headers=dict(web.HEADERS))


ROUTES = [
    Route("/instructor/live/{assignment}", live),
    Route("/instructor/assignments/{assignment}/regrade", regrade_form, methods=["POST"]),
    Route("/instructor/reports/{assignment}/summary.html", report),
    Route("/instructor/feedback/{student}/{assignment}/{page}", course_feedback),
    Route("/instructor/exports/{format}", export),
]
