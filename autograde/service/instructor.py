"""The instructor's side of the service: every submission, releasing an assignment, collecting.

``GET /api/instructor/submissions`` lists every submission with what students are not shown
(the grader's error, retries, times); ``POST /api/instructor/assignments/{a}/release`` with
``{"files": {path: base64}, "force": bool}`` makes the files ``release/<a>/`` (what students
fetch; the assignment's ``source/<a>/`` must be in the service's course, the gradebook is made
from it); ``GET /api/instructor/assignments/{a}/collect`` hands back each student's latest
submission; ``POST /api/instructor/assignments/{a}/regrade`` with ``{"student": id}`` (or
nothing: everyone) grades the latest submissions again. The instructor's nbgrader reaches them
through :mod:`autograde.exchange`.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path, PurePosixPath

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import class_pages, tokens
from .states import SubmissionState
from .store import Refused


async def instructor_submissions(request: Request):
    svc = request.app.state.service
    await svc.who(request, tokens.INSTRUCTOR)
    subs = await run_in_threadpool(svc.store.list)
    # and what students are not shown: the grader's errors, retries, times
    extra = ("error", "attempts", "gradings", "received_at", "graded_at", "replaced_by")
    rows = [dict(svc.view(s), **{k: getattr(s, k) for k in extra}) for s in subs]
    return JSONResponse({"submissions": rows})


def _release_files(files) -> dict[str, bytes]:
    """``{relative path: base64}`` as bytes; :class:`Refused` for a path that leaves the folder."""
    if not isinstance(files, dict) or not files:
        raise Refused(400, 'send {"files": {"NAME.ipynb": "<base64>"}} with the released files')
    out = {}
    for rel, b64 in files.items():
        parts = PurePosixPath(rel).parts if isinstance(rel, str) else ()
        if (
            not parts
            or PurePosixPath(rel).is_absolute()
            or any(p in ("..", ".") or p.startswith(".") or "\\" in p for p in parts)
        ):
            raise Refused(400, f"{rel!r} is not a plain relative path inside the assignment")
        try:
            out["/".join(parts)] = base64.b64decode(b64, validate=True)
        except (TypeError, ValueError):
            raise Refused(400, f"{rel}: send the file's bytes as base64") from None
    return out


async def release_assignment(request: Request):
    """The instructor's ``nbgrader release_assignment``: the files become ``release/<a>/``."""
    svc = request.app.state.service
    await svc.who(request, tokens.INSTRUCTOR)
    a = svc.known(request.path_params["assignment"])
    try:
        data = json.loads(await request.body())
    except ValueError:
        raise Refused(400, "the request is not JSON") from None
    files = _release_files(data.get("files") if isinstance(data, dict) else None)
    if svc.released(a) and not (isinstance(data, dict) and data.get("force")):
        raise Refused(409, f"{a} is already released: release it again with --force to replace it")
    await run_in_threadpool(_publish, svc.course / "release" / a, files)
    return JSONResponse({"assignment": a, "files": sorted(files), "message": f"released {a}"})


def _publish(folder: Path, files: dict[str, bytes]) -> None:
    """Replace ``folder`` by ``files`` in one rename (students never fetch half a release)."""
    tmp = folder.with_name(f".{folder.name}.new")
    old = folder.with_name(f".{folder.name}.old")
    for d in (tmp, old):
        shutil.rmtree(d, ignore_errors=True)
    for rel, data in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_bytes(data)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


async def collect(request: Request):
    """The instructor's ``nbgrader collect``: each student's latest submission, with its time."""
    svc = request.app.state.service
    await svc.who(request, tokens.INSTRUCTOR)
    a = svc.known(request.path_params["assignment"])
    subs = await run_in_threadpool(svc.store.list, None, a)
    # in order: the last wins
    latest = {s.student: s for s in subs if s.state is not SubmissionState.REPLACED}
    out = [
        dict(
            svc.view(s),
            files={k: base64.b64encode(v).decode() for k, v in svc.store.files_of(s).items()},
        )
        for s in latest.values()
    ]
    return JSONResponse({"assignment": a, "submissions": out})


async def regrade(request: Request):
    """Grade again the latest submission of ``{"student": id}`` to ``a`` (of everyone: no body,
    or no ``student``), after a fix to a check: the same graders, once, not counted against the
    students' hourly limit."""
    svc = request.app.state.service
    await svc.who(request, tokens.INSTRUCTOR)
    a = request.path_params["assignment"]
    body = await request.body()
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        raise Refused(400, 'the request is not JSON: send {"student": "ID"} or nothing') from None
    student = data.get("student") if isinstance(data, dict) else None
    if student is not None and not isinstance(student, str):
        raise Refused(400, 'the student is a string: send {"student": "ID"} or nothing')
    ids = await run_in_threadpool(class_pages.regrade, svc, a, student)
    n = len(ids)
    return JSONResponse(
        {
            "assignment": a,
            "requeued": ids,
            "message": f"{n} submission{'s' if n != 1 else ''} of {a} queued to be graded again",
        }
    )


ROUTES = [
    Route("/api/instructor/submissions", instructor_submissions),
    Route("/api/instructor/assignments/{assignment}/release", release_assignment, methods=["POST"]),
    Route("/api/instructor/assignments/{assignment}/collect", collect),
    Route("/api/instructor/assignments/{assignment}/regrade", regrade, methods=["POST"]),
]
