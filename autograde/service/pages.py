"""The service's pages for a student (and what the instructor's share): sign-in from a personal
link, the assignments with their downloads and upload forms, each submission's state live, its
score, checks and feedback page.

=============================================  ===================================================
``GET /login?token=...``                        the personal link: a session cookie, then ``/``
``GET /``                                       the student's page (the instructor's: its own)
``GET /assignments/{a}/files/{name}``           a released file (the notebook to fill in)
``POST /assignments/{a}/upload``                the filled notebook (a form; CSRF field)
``GET /live/{a}``                               JSON: the live part of ``a`` on the page
``GET /submissions/{id}``                       one submission: state, score, checks, feedback
``GET /submissions/{id}/live``                  JSON: its live part
``GET /submissions/{id}/feedback/{page}``       its feedback page (the one ``autograde grade``
                                                writes), sanitised and sandboxed
``POST /logout``                                ends the session
=============================================  ===================================================

An upload goes through :meth:`autograde.service.app.Service.receive`, the JSON API's own path
(intake's checks, then the store), and a refusal shows the API's sentence on a page. What a
submission shows is :meth:`autograde.service.app.Service.view`, which the exchange classes show
in JupyterLab too. Without JavaScript every page is right when reloaded (and reloads itself
while something is being graded); with it, ``live.js`` replaces the live parts as they change.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import class_pages, results, sessions, tokens, web
from .states import PENDING, SubmissionState
from .store import HOUR, Refused

#: The files under ``web/`` served as they are.
STATIC = {"pages.css": "text/css", "live.js": "text/javascript"}


def card(svc, sub) -> dict:
    """What a page shows of one submission: :meth:`Service.view` plus its checks and pages."""
    v = svc.view(sub)
    v["when"] = web.when(sub.timestamp)
    folder = svc.store.feedback_dir(sub.id)
    v["results"] = results.read(folder) if v["feedback"] else None
    v["pages"] = sorted(p.name for p in folder.glob("*.html")) if v["feedback"] else []
    v["error"] = sub.error
    return v


def released_files(svc, a: str) -> list[str]:
    """The released files of ``a`` a student downloads (as ``nbgrader fetch_assignment``)."""
    folder = svc.course / "release" / a
    return [
        p.relative_to(folder).as_posix()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".ipynb_checkpoints" not in p.parts
    ]


def student_live(svc, student: str, a: str) -> dict:
    """The live part of assignment ``a`` on ``student``'s page (the hour's count only where
    ``a`` takes submissions)."""
    cards = [card(svc, s) for s in reversed(svc.store.list(student, a))]  # newest first
    limit = svc.policy.submissions_per_hour
    times = svc.store.graded_this_hour(student, a)
    left = max(0, limit - len(times)) if limit > 0 else None
    try:
        svc.check_open(a)
        is_open = True
    except Refused:
        is_open = False
    next_at = web.clock(times[len(times) - limit] + HOUR) if left == 0 else None
    return {
        "a": a,
        "cards": cards,
        "latest": next((c for c in cards if c["state"] != SubmissionState.REPLACED), None),
        "left": left,
        "limit": limit,
        "next_at": next_at,
        "pending": any(c["state"] in PENDING for c in cards),
        "open": is_open,
    }


def student_home(svc, student: str) -> list[dict]:
    """Each assignment a student can submit to or has submitted to."""
    out = []
    mine = {s.assignment for s in svc.store.list(student)}
    for a in svc.assignments():
        if not svc.is_open(a) and a not in mine:
            continue
        due = svc.duedate(a)
        try:
            svc.check_open(a)
            closed = None
        except Refused as err:  # the sentence an upload would get
            closed = err.message
        out.append(
            {
                "name": a,
                "due": web.due_text(due),
                "past_due": web.past(due),
                "files": released_files(svc, a) if svc.released(a) else [],
                "notebooks": len(list((svc.course / "release" / a).glob("*.ipynb"))),
                "closed": closed,
                "live": student_live(svc, student, a),
            }
        )
    return out


@web.guarded
async def login(request: Request) -> Response:
    svc = request.app.state.service
    client = svc.unblocked_client(
        request, "sign-ins", "open the link your instructor gave you again"
    )
    token = request.query_params.get("token", "")
    ident = await run_in_threadpool(tokens.identify, svc.store, token)
    if ident is None:
        svc.attempts.failed(client)
        raise Refused(
            401,
            "this link is unknown, expired or revoked: ask your instructor for a new personal "
            "link (they make one with the command autograde students add and your id)",
        )
    role, name = ident
    stored = await run_in_threadpool(tokens.current_hash, svc.store, role, name)
    response = RedirectResponse("/", status_code=303, headers=dict(web.HEADERS))
    cookie = sessions.make_cookie(svc.session_key, role, name, stored)
    sessions.set_cookie(response, request, cookie)
    return response


@web.guarded
async def logout(request: Request) -> Response:
    sess = web.need(request)
    web.check_post(request, sess, await web.read_form(request, await request.body(), 4096))
    page = web.message(200, "You are signed out. Open your personal link to sign in again.",
                       back=None, title="Signed out")  # fmt: skip
    page.delete_cookie(sessions.COOKIE, path="/")
    return page


@web.guarded
async def home(request: Request) -> Response:
    sess = web.need(request)
    if sess.role == tokens.INSTRUCTOR:
        return await class_pages.home(request, sess)
    svc = sess.svc
    rows = await run_in_threadpool(student_home, svc, sess.name)
    received = None
    rid = request.query_params.get("received")
    if rid:
        sub = await run_in_threadpool(svc.store.get, rid)
        if sub is not None and sub.student == sess.name:
            received = {"a": sub.assignment, "when": web.when(sub.timestamp),
                        "late": svc.late(sub)}  # fmt: skip
    return web.render(
        "student.html",
        sess=sess,
        rows=rows,
        received=received,
        pending=any(r["live"]["pending"] for r in rows),
        cap_mb=f"{svc.policy.max_upload_bytes / 1e6:g}",
    )


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return Response("not found", status_code=404)
    return FileResponse(web.FOLDER / name, media_type=STATIC[name],
                        headers={"X-Content-Type-Options": "nosniff"})  # fmt: skip


@web.guarded
async def download(request: Request) -> Response:
    sess = web.need(request)
    svc = sess.svc
    a = svc.known(request.path_params["assignment"])
    if not svc.is_open(a) and sess.role != tokens.INSTRUCTOR:
        raise Refused(403, f"{a} is not open (not released, or closed): ask your instructor")
    name = request.path_params["name"]
    if name not in released_files(svc, a):  # the listing decides; no path is built from input
        raise Refused(404, f"{a} has no released file {name!r}: download it from your page")
    return FileResponse(
        svc.course / "release" / a / name,
        filename=PurePosixPath(name).name,
        media_type="application/x-ipynb+json" if name.endswith(".ipynb") else None,
        headers=dict(web.HEADERS),
    )


def uploaded(svc, a: str, form) -> tuple[dict[str, str], dict[str, str]]:
    """The form's notebooks as ``{name: text}`` for intake, and ``{name: the file's own name}``
    where they differ. With one released notebook, the file is taken as it whatever its name (a
    browser saves a second download as "x (1).ipynb"); intake still tells a wrong file or
    another assignment's notebook by its contents."""
    got = [f for f in form.getlist("notebook") if hasattr(f, "filename") and f.filename]
    if not got:
        raise Refused(400, "no file was chosen: choose your filled notebook (.ipynb), then upload")
    mine = [n for n in released_files(svc, a) if n.endswith(".ipynb") and "/" not in n]
    out, own = {}, {}
    for f in got:
        data = f.file.read()
        given = PurePosixPath(f.filename).name
        name = mine[0] if len(mine) == 1 and len(got) == 1 else given
        if name != given:
            own[name] = given
        # not UTF-8: intake's notebook check names the problem
        out[name] = data.decode("utf-8", errors="replace")
    return out, own


@web.guarded
async def upload(request: Request) -> Response:
    sess = web.need(request, tokens.STUDENT)
    svc = sess.svc
    if not sessions.same_origin(request):
        web.check_post(request, sess, None)  # refuses, with its sentence
    a = request.path_params["assignment"]
    body = await svc.read_capped(request)
    form = await web.read_form(request, body, svc.policy.max_upload_bytes)
    web.check_post(request, sess, form)
    await run_in_threadpool(svc.check_open, a)
    files, own = uploaded(svc, a, form)
    try:
        sub, _, _ = await run_in_threadpool(svc.receive, sess.name, a, files)
    except Refused as err:  # about the file the student chose, by the name they know it by
        for name, given in own.items():
            if err.message.startswith(name):
                err.message = f"the file you uploaded ({given}){err.message[len(name) :]}"
        raise
    return RedirectResponse(f"/?received={sub.id}#{a}", status_code=303)


async def _own(request: Request):
    sess = web.need(request)
    sub = await run_in_threadpool(sess.svc.store.get, request.path_params["id"])
    if sub is None or (sess.role == tokens.STUDENT and sub.student != sess.name):
        raise Refused(404, "you have no submission with this address: open your page to see yours")
    return sess, sub


def _json(data: dict, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers={"Cache-Control": "no-store"})


async def live(request: Request) -> Response:
    sess = web.session(request)
    if sess is None or sess.role != tokens.STUDENT:
        return _json({"error": sessions.NO_SESSION}, 401)
    a = request.path_params["assignment"]
    if a not in sess.svc.assignments():
        return _json({"error": f"no assignment {a!r}"}, 404)
    data = await run_in_threadpool(student_live, sess.svc, sess.name, a)
    return _json({"pending": data["pending"], "html": web.fragment("student_live.html", **data)})


@web.guarded
async def submission(request: Request) -> Response:
    sess, sub = await _own(request)
    c = await run_in_threadpool(card, sess.svc, sub)
    # and every submission of the same student to the same assignment, newest first
    others = await run_in_threadpool(sess.svc.store.list, sub.student, sub.assignment)
    cards = [await run_in_threadpool(card, sess.svc, s) for s in reversed(others)]
    return web.render("submission.html", sess=sess, c=c, cards=cards, pending=c["state"] in PENDING)


async def submission_live(request: Request) -> Response:
    try:
        sess, sub = await _own(request)
    except Refused as err:
        return _json({"error": err.message}, err.status)
    c = await run_in_threadpool(card, sess.svc, sub)
    html = web.fragment("card.html", c=c, sess=sess)
    return _json({"pending": c["state"] in PENDING, "html": html})


@web.guarded
async def feedback(request: Request) -> Response:
    sess, sub = await _own(request)
    name = request.path_params["page"]
    folder = sess.svc.store.feedback_dir(sub.id)
    pages = {p.name: p for p in folder.glob("*.html")} if folder.is_dir() else {}
    if name not in pages:
        raise Refused(404, "this submission has no such feedback page (yet): see its state first")
    text = await run_in_threadpool(pages[name].read_text)
    return web.sandboxed(
        text, f"/#{sub.assignment}" if sess.role == tokens.STUDENT else f"/submissions/{sub.id}"
    )


async def favicon(request: Request) -> Response:
    return Response(status_code=204)  # none: the browser's request is not an error


ROUTES = [
    Route("/favicon.ico", favicon),
    Route(tokens.LOGIN_PATH, login),
    Route("/logout", logout, methods=["POST"]),
    Route("/", home),
    Route("/static/{name}", static),
    Route("/assignments/{assignment}/files/{name:path}", download),
    Route("/assignments/{assignment}/upload", upload, methods=["POST"]),
    Route("/live/{assignment}", live),
    Route("/submissions/{id}", submission),
    Route("/submissions/{id}/live", submission_live),
    Route("/submissions/{id}/feedback/{page}", feedback),
    *class_pages.ROUTES,
]
