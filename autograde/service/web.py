"""What the service's pages share: templates, the session of a request, forms, message pages.

Server-rendered HTML (Jinja2, autoescaped) from the templates in ``autograde/service/web/``, with
one stylesheet and one small script of the service's own (no CDN, no external font). Every page
is sent with a strict Content-Security-Policy (:data:`PAGE_CSP`: the service's own script and
style only); pages made from a student's notebook (feedback) or the class report get
:data:`FEEDBACK_CSP`, which runs no script at all and sandboxes the page.

A refusal (:class:`autograde.service.store.Refused`) in a page's handler becomes a page with the
same sentence the JSON API sends and a way back (:func:`guarded`).
"""

from __future__ import annotations

import datetime
import functools
import html
import re
import time
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from python_multipart.exceptions import ParseError
from starlette.datastructures import FormData, Headers
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from . import sessions, tokens
from .states import PENDING, SubmissionState
from .store import Refused

FOLDER = Path(__file__).resolve().parent / "web"

#: The service's own pages: its script and stylesheet, images inline, forms to itself only.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: Feedback pages and the class report: their own inline styles and images, no script at all,
#: in a sandbox (an origin of their own: nothing in them can act as the signed-in person).
FEEDBACK_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # no page's address to another site ("no-referrer" would make Chromium send "Origin: null"
    # with the pages' own forms, which check_post refuses)
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # personal pages: not kept by a shared cache or the browser
}

ENV = Environment(
    loader=FileSystemLoader(str(FOLDER)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(stamp: str) -> str:
    """nbgrader's timestamp, to the second: "2026-12-05 10:35:49 UTC"."""
    return stamp.split(".")[0] + " UTC" if "." in stamp else stamp


def points(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}".rstrip("0").rstrip(".")


def sentence(text: str) -> Markup:
    """A refusal's sentence as a page shows it: a capital first letter where the first word is
    a plain word (never a file or assignment name), a full stop, and a command the message
    marks as `this` (for the command line and the API) set as code rather than in backticks."""
    first = text.split(" ", 1)[0].rstrip(",;:")
    if first.isalpha():
        text = text[:1].upper() + text[1:]
    text = text if text.endswith((".", "!", "?")) else text + "."
    parts = str(escape(text)).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: leave the text as it is
        return Markup(escape(text))
    return Markup("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)))


ENV.filters["sentence"] = sentence
#: What a submission's badge on a page says of each state.
BADGES = {
    SubmissionState.QUEUED: "Waiting",
    SubmissionState.GRADING: "Grading",
    SubmissionState.GRADED: "Graded",
    SubmissionState.FAILED: "Not graded yet",
    SubmissionState.REPLACED: "Replaced",
}


def badge(state: str) -> str:
    """The badge of a submission in ``state`` (the enum or its string, as the API sends it)."""
    return BADGES[SubmissionState(state)]


ENV.filters["when"] = when
ENV.filters["points"] = points
ENV.filters["badge"] = badge
# the templates compare a submission's state with these, never with a string of their own
ENV.globals.update(State=SubmissionState, PENDING=PENDING)


def render(name: str, status: int = 200, csp: str = PAGE_CSP, **context) -> HTMLResponse:
    """Template ``name`` as a response with the security headers."""
    text = ENV.get_template(name).render(**context)
    headers = {**HEADERS, "Content-Security-Policy": csp}
    return HTMLResponse(text, status_code=status, headers=headers)


_BODY = re.compile(r"<body[^>]*>", re.I)


def sandboxed(text: str, back: str) -> HTMLResponse:
    """A page made from a student's notebook (feedback) or the class report, under
    :data:`FEEDBACK_CSP`, with a link back to the service's page ``back`` at its top."""
    nav = (
        '<nav style="padding:.6rem 1rem;font:16px system-ui,sans-serif;background:#1d2330">'
        f'<a style="color:#fff" href="{html.escape(back)}">&larr; Back to your page</a></nav>'
    )
    found = _BODY.search(text)
    if found:
        text = text[: found.end()] + nav + text[found.end() :]
    headers = {**HEADERS, "Content-Security-Policy": FEEDBACK_CSP}
    return HTMLResponse(text, headers=headers)


def fragment(name: str, **context) -> str:
    """Template ``name`` as text (the live parts the script replaces)."""
    return ENV.get_template(name).render(**context)


def message(
    status: int, text: str, *, back: str | None = "/", title: str | None = None, sent=False
):
    """A page that says what went wrong and what to do, with a way back (``sent``: a form's
    refusal, which stored nothing, and says so)."""
    heading = title or {
        400: "That file cannot be used",
        401: "Your link does not work",
        403: "Not possible",
        404: "Not found",
        409: "Not ready yet",
        413: "The file is too large",
        422: "That file cannot be used",
        429: "Please wait",
    }.get(status, "Something went wrong")
    return render("message.html", status, heading=heading, text=text, back=back, sent=sent)


class Session:
    """Who a request comes from (a valid cookie), with the service and the form field."""

    def __init__(self, svc, role: str, name: str, cookie: str):
        self.svc, self.role, self.name, self.cookie = svc, role, name, cookie
        self.csrf = sessions.csrf_token(svc.session_key, cookie)


def session(request: Request) -> Session | None:
    svc = request.app.state.service
    cookie = request.cookies.get(sessions.COOKIE, "")
    ident = sessions.read_cookie(svc.session_key, svc.store, cookie) if cookie else None
    return Session(svc, *ident, cookie) if ident else None


def need(request: Request, role: str | None = None) -> Session:
    """The request's session, else :class:`Refused` (401, or 403 for the wrong role)."""
    got = session(request)
    if got is None:
        raise Refused(401, sessions.NO_SESSION)
    if role is not None and got.role != role:
        if role == tokens.INSTRUCTOR:
            raise Refused(403, "this page is the instructor's: open the instructor's link")
        raise Refused(403, "only a student submits: open a student's personal link to do so")
    return got


def guarded(handler):
    """A page handler whose :class:`Refused` becomes a message page (with Retry-After)."""

    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except Refused as err:
            # no way back from a failed sign-in: there is no page to go back to
            back = None if err.status == 401 or request.url.path == tokens.LOGIN_PATH else "/"
            page = message(err.status, err.message, back=back, sent=request.method == "POST")
            if "retry_after" in err.extra:
                page.headers["Retry-After"] = str(err.extra["retry_after"])
            return page

    return run


async def read_form(request: Request, body: bytes, max_part: int) -> FormData:
    """The form of a POST whose ``body`` was read (with the upload cap); :class:`Refused` (400)
    where it cannot be parsed."""

    async def stream():
        yield body
        yield b""

    kind = request.headers.get("content-type", "")
    try:
        if kind.startswith("multipart/form-data"):
            parser = MultiPartParser(
                Headers(raw=request.headers.raw), stream(), max_files=20, max_part_size=max_part
            )
            return await parser.parse()
        if kind.startswith("application/x-www-form-urlencoded"):
            return await FormParser(Headers(raw=request.headers.raw), stream()).parse()
    except (MultiPartException, ParseError):
        raise Refused(
            400, "the form could not be read: reload the page and send it again"
        ) from None
    return FormData()


def check_post(request: Request, sess: Session, form: FormData) -> None:
    sessions.check_post(sess.svc.session_key, request, form)


def due_text(due: datetime.datetime | None) -> str | None:
    return f"{due:%Y-%m-%d %H:%M} UTC" if due else None


def past(due: datetime.datetime | None) -> bool:
    return due is not None and datetime.datetime.now(datetime.UTC).replace(tzinfo=None) > due


def clock(t: float) -> str:
    """An epoch time as "HH:MM UTC"."""
    return time.strftime("%H:%M UTC", time.gmtime(t))
