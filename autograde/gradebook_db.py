"""Where a course's gradebook lives (SQLite or PostgreSQL), and a snapshot of it for the workers.

The gradebook is nbgrader's: ``c.CourseDirectory.db_url`` in the course's ``nbgrader_config.py``,
else ``sqlite:///<course>/gradebook.db``, nbgrader's default. A PostgreSQL URL such as
``postgresql+psycopg://grader@dbhost/course`` (psycopg 3, in the lock) is read the same way, so
the coordinator, ``nbgrader generate_assignment``, ``nbgrader export`` and ``nbgrader
generate_feedback`` all use one database.

Workers never connect to it. Each grades in a private temporary course holding a *SQLite*
snapshot of the gradebook (:func:`snapshot`): SQLite's backup API for a SQLite gradebook, a copy of
nbgrader's tables read in one repeatable-read transaction for any other. Only the coordinating
process writes the course's database, through :func:`open_gradebook`, which turns a lost
connection into :class:`GradebookUnreachable`: what was wrong and how to fix it.

Imports inside functions: SQLAlchemy and nbgrader's api load only where a database is opened
(2-4 s that ``autograde release`` and the feedback pages need not pay).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

#: Seconds to wait for a database server before calling it unreachable (libpq waits forever by
#: default on a host that drops packets).
CONNECT_TIMEOUT = 10

#: libpq settings added to a PostgreSQL URL that does not set them: a server that stops
#: answering (a dropped network, a host gone) is noticed within about a minute, on connecting
#: (connect_timeout), while idle (TCP keepalives) and while sending (tcp_user_timeout, ms),
#: instead of hanging the coordinator forever on a half-open connection. A socket folder
#: (?host=/run/postgresql) ignores the TCP ones.
LIBPQ_TIMEOUTS = {
    "connect_timeout": str(CONNECT_TIMEOUT),
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "60000",
}


class GradebookUnreachable(RuntimeError):
    """The course's gradebook database cannot be opened or written (the message says why)."""


def course_db_url(course: Path) -> str:
    """The gradebook URL of ``course``: its ``nbgrader_config.py``'s, else nbgrader's default.

    A relative SQLite path is taken relative to the course folder, where ``autograde`` runs
    nbgrader.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    course = Path(course)
    url = _configured_url(course)
    if not url:
        return f"sqlite:///{course / 'gradebook.db'}"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as err:  # the URL stays out: it may hold a password
        raise GradebookUnreachable(
            f"c.CourseDirectory.db_url in {course / 'nbgrader_config.py'} is not a database URL "
            f"({err}); write it as postgresql+psycopg://USER:PASSWORD@HOST/DB or "
            "sqlite:///gradebook.db"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database or ""
        if db and db != ":memory:" and not db.startswith("file:") and not os.path.isabs(db):
            return parsed.set(database=str(course / db)).render_as_string(hide_password=False)
    if parsed.get_backend_name() == "postgresql":
        missing = {k: v for k, v in LIBPQ_TIMEOUTS.items() if k not in parsed.query}
        if missing:  # the course's own values win
            return parsed.update_query_dict(missing).render_as_string(hide_password=False)
    return url


def _configured_url(course: Path) -> str:
    cfg = course / "nbgrader_config.py"
    if not cfg.is_file():
        return ""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(cfg.name, path=str(course)).load_config()
    section = config.get("CourseDirectory") or {}
    return str(section.get("db_url") or "")


def describe(url: str) -> str:
    """``url`` with its password masked, for messages and logs (without the timeouts that
    :func:`course_db_url` adds, which the course did not write)."""
    from urllib.parse import unquote

    from sqlalchemy.engine import make_url

    try:  # unquoted: a socket folder (?host=/run/postgresql) reads as a path
        parsed = make_url(url)
        ours = [k for k, v in LIBPQ_TIMEOUTS.items() if parsed.query.get(k) == v]
        return unquote(parsed.difference_update_query(ours).render_as_string(hide_password=True))
    except Exception:
        return "<unparsable URL>"


def is_sqlite(url: str) -> bool:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).get_backend_name() == "sqlite"
    except Exception:  # not a URL at all: the caller's connection attempt says so
        return False


def _engine(url: str):
    from sqlalchemy import create_engine

    kw = {}
    if not is_sqlite(url):
        kw["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    return create_engine(url, future=True, **kw)


def _help(url: str, err: BaseException) -> str:
    """What was wrong with ``url`` (the driver's own words) and how to fix it."""
    reason = str(getattr(err, "orig", None) or err).strip().splitlines()
    reason = reason[0] if reason else type(err).__name__
    where = describe(url)
    if isinstance(err, ModuleNotFoundError) or "NoSuchModuleError" in type(err).__name__:
        return (
            f"cannot open the gradebook {where}: no database driver for it ({reason}). "
            "PostgreSQL needs psycopg 3 (in the project's lock: run ./dev setup) and a URL "
            "that names it: postgresql+psycopg://USER@HOST/DB"
        )
    if is_sqlite(url):
        return (
            f"cannot open the gradebook {where}: {reason}. "
            "Check that the file's folder exists and is writable."
        )
    server = "PostgreSQL server" if where.startswith("postgresql") else "database server"
    return (
        f"cannot reach the gradebook database {where}: {reason}. Check that the {server} "
        "runs and accepts connections at that host and port (or socket folder, ?host=/path), "
        "that the database exists (createdb NAME) and that the user may log in; or point "
        "c.CourseDirectory.db_url in the course's nbgrader_config.py at the right database. "
        "What was graded before stays recorded; run the same command again once it is reachable."
    )


def check(url: str) -> None:
    """Open a connection to ``url`` once; raise :class:`GradebookUnreachable` if it fails."""
    try:
        engine = _engine(url)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except Exception as err:
        raise GradebookUnreachable(_help(url, err)) from err


@contextlib.contextmanager
def open_gradebook(url: str) -> Iterator:
    """nbgrader's ``Gradebook(url)``; a database that cannot be reached raises
    :class:`GradebookUnreachable` (a connection lost inside the ``with`` block too)."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        gb = Gradebook(url)
    except (OperationalError, DBAPIError) as err:
        raise GradebookUnreachable(_help(url, err)) from err
    try:
        yield gb
    except OperationalError as err:
        raise GradebookUnreachable(_help(url, err)) from err
    finally:
        with contextlib.suppress(Exception):
            gb.close()


def snapshot(url: str, dest: Path) -> Path:
    """A consistent SQLite copy of the gradebook at ``url``, written to ``dest`` atomically.

    SQLite: the backup API (a consistent copy while others write). Other databases: nbgrader's
    tables in dependency order, read in one repeatable-read transaction, plus the alembic
    version, so that nbgrader in a worker opens it as it would the course's own file.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    if is_sqlite(url):
        from sqlalchemy.engine import make_url

        src = sqlite3.connect(make_url(url).database)
        dst = sqlite3.connect(part)
        try:
            with dst:
                src.backup(dst)
        finally:
            src.close()
            dst.close()
    else:
        try:
            _copy_tables(url, part)
        except Exception as err:
            part.unlink(missing_ok=True)
            if isinstance(err, GradebookUnreachable):
                raise
            from sqlalchemy.exc import DBAPIError

            if isinstance(err, DBAPIError):
                raise GradebookUnreachable(_help(url, err)) from err
            raise
    os.replace(part, dest)
    return dest


def _copy_tables(url: str, dest: Path) -> None:
    from nbgrader.api import Base, get_alembic_version
    from sqlalchemy import create_engine, inspect, select, text

    src = _engine(url)
    dst = create_engine(f"sqlite:///{dest}", future=True)
    try:
        Base.metadata.create_all(dst)
        reader = src.connect().execution_options(isolation_level="REPEATABLE READ")
        with reader, reader.begin(), dst.begin() as writer:
            for table in Base.metadata.sorted_tables:
                rows = [dict(r._mapping) for r in reader.execute(select(table))]
                if rows:
                    writer.execute(table.insert(), rows)
            # as nbgrader stamps a new file (asking alembic only where the source has no stamp)
            if inspect(reader).has_table("alembic_version"):
                q = text("SELECT version_num FROM alembic_version")
                version = reader.execute(q).scalar()
            else:
                version = get_alembic_version()
            writer.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            writer.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": version})
    finally:
        src.dispose()
        dst.dispose()
