"""Browser sessions of the service's pages: a personal link's token becomes a cookie.

``GET /login?token=...`` (:func:`autograde.service.tokens.personal_link`) checks the token as the
JSON API does (constant time, failed attempts rate-limited per address) and answers with a 303 to
``/`` that sets the session cookie, so that the token leaves the address bar and the history.

The cookie is an HMAC-signed value, ``<role>.<expiry>.<mac>.<name>``, with a key kept in the
service's folder (``session.key``, mode 0600, made once): nothing to store per session, it
survives a restart, and the MAC covers the stored hash of the token it was opened with
(:func:`autograde.service.tokens.current_hash`), so revoking or renewing a token ends every
session opened with it at once. It is ``HttpOnly`` (no script reads it), ``Path=/``, ``Secure``
where the request came over HTTPS, and ``SameSite=Lax``: a personal link is opened from another
site (an e-mail, the course's LMS), and Chromium and Firefox do not send a ``Strict`` cookie on a
redirect chain that another site started, so the 303 to ``/`` would arrive without it; ``Lax``
still keeps it off other sites' POSTs.

CSRF: every form carries :func:`csrf_token` (an HMAC of the session) in a hidden field, and every
POST must carry it and, where the browser sends an ``Origin`` (or else a ``Referer``), come from
this service's own origin (:func:`check_post`).

uvicorn's access log writes each request's path with its query: :class:`RedactTokens` replaces
the token there (installed on ``uvicorn.access`` by :func:`redact_access_log`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request

from . import tokens
from .store import Refused, Store

COOKIE = "autograde_session"
#: Seconds a session lasts; the personal link opens a new one after that.
MAX_AGE = 14 * 24 * 3600
KEY_FILE = "session.key"
CSRF_FIELD = "csrf"

#: What a page says where there is no session (or it ended).
NO_SESSION = (
    "you are not signed in here (or your session ended): open the personal link your "
    "instructor gave you again; ask them for a new one if it no longer works"
)


def load_key(root: Path) -> bytes:
    """The service's session key (``root/session.key``), made on first use; a copy made by a
    racing process is dropped in favour of the first one written."""
    path = Path(root) / KEY_FILE
    if not path.is_file():
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # never replaces a key another process wrote first
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return bytes.fromhex(path.read_text().strip())


def _mac(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\0".join(parts).encode(), hashlib.sha256).hexdigest()


def make_cookie(key: bytes, role: str, name: str, token_hash: str, now: float | None = None) -> str:
    """The cookie's value for ``(role, name)``, bound to their token's stored hash."""
    expiry = str(int((now or time.time()) + MAX_AGE))
    # the name last: a student id may hold dots
    return f"{role}.{expiry}.{_mac(key, 'session', role, name, expiry, token_hash)}.{name}"


def read_cookie(key: bytes, store: Store, value: str | None) -> tuple[str, str] | None:
    """``(role, name)`` of a valid, unexpired cookie whose token still stands, else None."""
    parts = (value or "").split(".", 3)
    if len(parts) != 4:
        return None
    role, expiry, mac, name = parts
    if role not in (tokens.STUDENT, tokens.INSTRUCTOR) or not expiry.isdigit() or not name:
        return None
    if int(expiry) < time.time():
        return None
    stored = tokens.current_hash(store, role, name)
    want = _mac(key, "session", role, name, expiry, stored or "")
    if not hmac.compare_digest(want, mac) or stored is None:
        return None
    return role, name


def csrf_token(key: bytes, cookie: str) -> str:
    """The hidden field every form of this session carries."""
    return _mac(key, "csrf", cookie)


def set_cookie(response, request: Request, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def same_origin(request: Request) -> bool:
    """Whether a POST came from a page of this service (its ``Origin``, else its ``Referer``;
    a client that sends neither is left to the CSRF field)."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent:
        return True
    if sent == "null":
        return False
    got = urlsplit(sent)
    return (got.scheme, got.netloc) == (request.url.scheme, request.headers.get("host", ""))


def check_post(key: bytes, request: Request, form) -> None:
    """:class:`Refused` (403) unless the POST carries this session's CSRF field and comes from
    this service's own pages."""
    cookie = request.cookies.get(COOKIE, "")
    sent = form.get(CSRF_FIELD) if form is not None else None
    if not same_origin(request):
        raise Refused(
            403,
            "this form was sent from another site, so it was refused: use the forms on this "
            "service's own pages",
        )
    if (
        not cookie
        or not isinstance(sent, str)
        or not hmac.compare_digest(sent, csrf_token(key, cookie))
    ):
        raise Refused(
            403,
            "this form is out of date or was not sent from your page (its security field is "
            "missing or wrong), so nothing was done: reload the page and try again",
        )


_TOKEN_IN_URL = re.compile(r"(token=)[^&\s\"']+")


def redact(text: str) -> str:
    """``text`` with the value of every ``token=`` parameter replaced."""
    return _TOKEN_IN_URL.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    """Removes tokens from the request lines uvicorn's access log writes (its arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def redact_access_log() -> None:
    """Install :class:`RedactTokens` on ``uvicorn.access`` (once)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
