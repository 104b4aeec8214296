"""The service's tables on PostgreSQL: the course's gradebook server, a schema of its own.

Where the course's gradebook is on PostgreSQL, :class:`autograde.service.store.Store` keeps the
queue, the submissions' history and the tokens on the same server and database, in the schema
:data:`PG_SCHEMA` (nbgrader's tables are in ``public``; the search path of the service's
connections names only its own schema, so the store's unqualified names are its own tables;
one database per course, as nbgrader's gradebook has it). The store's SQL is
written once, in SQLite's words; :class:`PgConnection` turns ``?`` parameters into psycopg's and
``rowid`` into the ``seq`` column, and returns rows read by index or by name, as
:class:`sqlite3.Row`. Write transactions hold one transaction-scoped advisory lock
(:data:`PG_LOCK`), as SQLite's ``BEGIN IMMEDIATE`` makes writers take turns: a claim reads the
oldest waiting submission that has none of the same student and assignment being graded, and
marks it, with no other writer in between (``FOR UPDATE SKIP LOCKED`` alone would let two
claimers each take one of a student's two submissions); the submissions of a course are a few a
second at most, so the lock costs nothing that shows.

Imports inside functions: psycopg and SQLAlchemy load only where a course's gradebook is on
PostgreSQL (or a URL is read), as in :mod:`autograde.gradebook_db`.
"""

from __future__ import annotations

import contextlib
import functools
import re

from .. import gradebook_db
from .schema import PG_SCHEMA

#: The key of the advisory lock every PostgreSQL write transaction of the service holds: the
#: writers of one course take turns, as SQLite's ``BEGIN IMMEDIATE`` makes them (a constant of
#: the service's own, ``b"autograd"`` as a number).
PG_LOCK = int.from_bytes(b"autograd", "big") >> 1


def is_postgres(url: str | None) -> bool:
    from sqlalchemy.engine import make_url

    try:
        return bool(url) and make_url(url).get_backend_name() == "postgresql"
    except Exception:  # not a URL: the gradebook's own check says so
        return False


def connect_args(url: str) -> dict:
    """psycopg's (libpq's) keyword arguments for a SQLAlchemy URL of the gradebook: the same
    server, database and user; the search path set to the service's schema only."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    args = {k: v for k, v in u.query.items() if isinstance(v, str)}  # host=/socket, timeouts
    for key, val in (("host", u.host), ("port", u.port), ("user", u.username),
                     ("password", u.password), ("dbname", u.database)):  # fmt: skip
        if val is not None:
            args[key] = str(val)
    # synchronous_commit=on: a commit is on the server's disk when it returns, whatever the
    # server's default (the acknowledgement of a submission depends on it)
    ours = f"-c search_path={PG_SCHEMA} -c synchronous_commit=on"
    args["options"] = f"{args.get('options', '')} {ours}".strip()
    return args


class _Row(tuple):
    """A row readable by position and by column name, as :class:`sqlite3.Row`."""

    def __new__(cls, values, names):
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key):
        if isinstance(key, str):
            key = self._names.index(key)
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor):
    names = [c.name for c in cursor.description or ()]
    return lambda values: _Row(values, names)


@functools.lru_cache(maxsize=256)
def _pg_sql(sql: str, with_params: bool) -> str:
    """The service's SQLite text in PostgreSQL's words: ``?`` -> ``%s``, ``rowid`` -> ``seq``.

    (No statement of the service has a ``?`` or ``%`` inside a string literal.)
    """
    sql = re.sub(r"\browid\b", "seq", sql)
    return sql.replace("%", "%%").replace("?", "%s") if with_params else sql


class PgConnection:
    """A psycopg connection that speaks the service's SQLite dialect (``execute``,
    ``executescript``; rows by index and name; ``rowcount`` on what ``execute`` returns)."""

    def __init__(self, raw):
        self.raw = raw

    def execute(self, sql: str, params=None):
        if params is None:
            return self.raw.execute(_pg_sql(sql, False))
        return self.raw.execute(_pg_sql(sql, True), tuple(params))

    def executescript(self, script: str) -> None:
        self.raw.execute(script)


@contextlib.contextmanager
def connect(url: str, args: dict):
    """A :class:`PgConnection` (autocommit: a transaction only where asked for) to the server
    of ``url`` with ``args`` (:func:`connect_args`); an unreachable server raises
    :class:`autograde.gradebook_db.GradebookUnreachable` with what to check."""
    import psycopg

    try:
        raw = psycopg.connect(autocommit=True, row_factory=_row_factory, **args)
    except psycopg.Error as err:
        raise gradebook_db.GradebookUnreachable(gradebook_db._help(url, err)) from err
    try:
        yield PgConnection(raw)
    finally:
        raw.close()


@contextlib.contextmanager
def transaction(con: PgConnection):
    """A transaction on ``con`` holding the service's lock; committed on leaving, else rolled
    back."""
    with con.raw.transaction():
        con.execute("SELECT pg_advisory_xact_lock(?)", (PG_LOCK,))
        yield con
