"""Who is who: a token per student and one for the instructor, stored hashed.

A token is ``<role>.<name>.<secret>``: role ``s`` (a student, ``name`` their id) or ``i`` (the
instructor), and 32 random bytes as hex. The service keeps only the SHA-256 of the whole token
(a random secret of 256 bits needs no slow hash) and compares it in constant time
(:func:`hmac.compare_digest`). The plain token is shown once, when it is made, and written to a
file (mode 0600) the instructor hands out; making a new one for the same name revokes the old.
Failed attempts are counted per client address (:class:`FailedAttempts`).
"""

from __future__ import annotations

import collections
import csv
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from pathlib import Path

from .store import Store

#: A student id: it becomes a folder name (submitted/<id>/), so letters, digits, ``_ - .``,
#: not starting with a dot; nbgrader forbids ``+`` and ``*`` in it too.
STUDENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")

STUDENT, INSTRUCTOR = "s", "i"


class TokenError(ValueError):
    """A roster or id that cannot be given a token, with what to do."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


#: The page a personal link opens: the token is exchanged there for a cookie (HttpOnly,
#: SameSite) and the browser is sent on, so it stays in neither the address bar nor the logs.
LOGIN_PATH = "/login"


def personal_link(base_url: str, token: str) -> str:
    """The link a student (or the instructor) opens in a browser to reach their pages.

    Examples
    --------
    >>> personal_link("http://127.0.0.1:8800/", "s.ann.ab12")
    'http://127.0.0.1:8800/login?token=s.ann.ab12'
    """
    return f"{base_url.rstrip('/')}{LOGIN_PATH}?token={token}"


def check_id(student: str) -> str:
    """``student`` if it is a valid id, else :class:`TokenError` saying why."""
    if not STUDENT_ID.match(student or ""):
        raise TokenError(
            f"{student!r} is not a usable student id: use letters, digits, '_', '-' and '.' "
            "(at most 64, not starting with '.'), as nbgrader's submitted/<id>/ folders need"
        )
    return student


def issue(store: Store, role: str, name: str) -> str:
    """A new token for ``(role, name)``; any earlier one stops working. Returns it (plain)."""
    if role == STUDENT:
        check_id(name)  # it becomes a folder name
    token = f"{role}.{name}.{secrets.token_hex(32)}"
    with store.transaction() as con:
        con.execute(
            # an upsert both SQLite and PostgreSQL speak (the service's tables are on either)
            "INSERT INTO token (role, name, hash, created, revoked) VALUES (?, ?, ?, ?, NULL) "
            "ON CONFLICT (role, name) DO UPDATE SET hash=excluded.hash, "
            "created=excluded.created, revoked=NULL",
            (role, name, _hash(token), time.time()),
        )
    return token


def revoke(store: Store, role: str, name: str) -> bool:
    """Revoke the token of ``(role, name)``; False where there was none."""
    with store.transaction() as con:
        n = con.execute(
            "UPDATE token SET revoked=? WHERE role=? AND name=? AND revoked IS NULL",
            (time.time(), role, name),
        ).rowcount
    return n > 0


def identify(store: Store, token: str) -> tuple[str, str] | None:
    """``(role, name)`` of a valid, unrevoked ``token``, else None."""
    role, _, rest = (token or "").partition(".")
    name, _, secret = rest.rpartition(".")
    if role not in (STUDENT, INSTRUCTOR) or not name or not secret:
        return None
    with store._connect() as con:
        row = con.execute(
            "SELECT hash, revoked FROM token WHERE role=? AND name=?", (role, name)
        ).fetchone()
    # compared even where no row exists, so that the time taken does not tell ids apart
    stored = row["hash"] if row else "0" * 64
    same = hmac.compare_digest(stored, _hash(token))
    return (role, name) if same and row and row["revoked"] is None else None


def current_hash(store: Store, role: str, name: str) -> str | None:
    """The stored hash of ``(role, name)``'s token, None where it has none or it is revoked: a
    browser session (:mod:`autograde.service.sessions`) is bound to it, so that revoking or
    renewing the token ends the sessions opened with the old one."""
    with store._connect() as con:
        row = con.execute(
            "SELECT hash, revoked FROM token WHERE role=? AND name=?", (role, name)
        ).fetchone()
    return row["hash"] if row and row["revoked"] is None else None


def students(store: Store) -> list[str]:
    """The students whose token stands (not revoked)."""
    with store._connect() as con:
        rows = con.execute(
            "SELECT name FROM token WHERE role=? AND revoked IS NULL ORDER BY name", (STUDENT,)
        )
        return [r[0] for r in rows]


def write_token_file(folder: Path, name: str, token: str) -> Path:
    """Write ``token`` to ``folder/<name>.token`` (0600, atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.token"
    tmp = folder / f".{name}.token.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.replace(tmp, path)
    return path


def read_roster(path: Path) -> list[str]:
    """Student ids of a roster CSV: its ``id`` (or ``student_id``) column, else its first.

    Raises
    ------
    TokenError
        The file has no rows, or an id is not usable (named, with the rule).
    """
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if not rows:
        raise TokenError(f"{path} has no rows: one student id a line (or an 'id' column)")
    header = [c.strip().lower() for c in rows[0]]
    col = next((header.index(k) for k in ("id", "student_id") if k in header), None)
    body = rows[1:] if col is not None else rows
    ids = [r[col or 0].strip() for r in body]
    for k, student in enumerate(ids):
        try:
            check_id(student)
        except TokenError as err:
            raise TokenError(f"{path}, row {k + 1 + (col is not None)}: {err}") from None
    return ids


class FailedAttempts:
    """Failed token checks per client address; past ``limit`` a minute, the address waits."""

    def __init__(self, limit: int, window: float = 60.0):
        self.limit, self.window = limit, window
        self._seen: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def _trim(self, q: collections.deque, now: float) -> None:
        while q and q[0] < now - self.window:
            q.popleft()

    def blocked(self, client: str) -> float:
        """Seconds ``client`` must wait before trying again (0: it may try)."""
        now = time.monotonic()
        with self._lock:
            q = self._seen.get(client)
            if not q:
                return 0.0
            self._trim(q, now)
            return q[0] + self.window - now if len(q) >= self.limit > 0 else 0.0

    def failed(self, client: str) -> None:
        with self._lock:
            q = self._seen[client]
            q.append(time.monotonic())
            self._trim(q, time.monotonic())
