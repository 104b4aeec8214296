"""The service's own tables: the durable queue, the submissions' history and the tokens.

Never inside nbgrader's schema (nbgrader's migrations own that one): SQLite in
``<course>/autograde_service/service.db``, beside the gradebook, by default; where the course's
gradebook is on PostgreSQL (``c.CourseDirectory.db_url``), the same server and database, in a
schema of the service's own (:mod:`autograde.service.pg`). One SQL text serves both, and every
write transaction holds one lock (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory
lock on PostgreSQL), so writers take turns on both and a claim, a replacement or the hourly
limit never races.

A submission is acknowledged only after its bytes are on disk (written, ``fsync``'d, renamed
into place, the folder ``fsync``'d) and its row is committed (SQLite: WAL with
``synchronous=FULL``; PostgreSQL: ``synchronous_commit=on``; either way a commit is on disk when
it returns), so a kill at any moment loses nothing that was acknowledged; bytes without a row
were never acknowledged and are swept at the next start. The bytes and the feedback pages stay
in ``<course>/autograde_service/`` on either database.

A submission's states are :class:`autograde.service.states.SubmissionState`; the SQL passes
them as parameters (their ``.value``), so the stored strings stay those of the enum's values.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import gradebook_db
from . import pg, schema
from .states import REGRADABLE, SubmissionState, parse

#: The service's folder inside the course.
FOLDER = "autograde_service"

#: Seconds in the window of the resubmission limit.
HOUR = 3600.0


@dataclass
class Submission:
    """One row of the ``submission`` table."""

    id: str
    student: str
    assignment: str
    received_at: float
    timestamp: str
    files: list
    state: SubmissionState
    attempts: int = 0
    gradings: int = 0
    score: float | None = None
    max_score: float | None = None
    error: str = ""
    started_at: float | None = None
    graded_at: float | None = None
    replaced_by: str | None = None

    @classmethod
    def from_row(cls, row) -> Submission:
        d = {f.name: row[f.name] for f in dataclasses.fields(cls)}  # not PostgreSQL's seq
        d["files"] = json.loads(d["files"])
        d["state"] = parse(d["state"], d["id"])
        return cls(**d)


# the states as the SQL's parameters: plain strings (psycopg could dump an Enum by its name)
_QUEUED, _GRADING = SubmissionState.QUEUED.value, SubmissionState.GRADING.value
_GRADED = SubmissionState.GRADED.value


def _ahead(con, sid: str) -> int:
    """How many queued submissions arrived before ``sid`` (on ``con``)."""
    return con.execute(
        "SELECT COUNT(*) FROM submission WHERE state=? AND rowid < "
        "(SELECT rowid FROM submission WHERE id=?)",
        (_QUEUED, sid),
    ).fetchone()[0]


class Refused(Exception):
    """A request the service turns down: an HTTP status and a sentence saying what to do."""

    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """The service's database and its folders under ``<course>/autograde_service``.

    Parameters
    ----------
    course
        The course folder.
    db_url
        Where the gradebook is (a SQLAlchemy URL); default the course's own
        (:func:`autograde.gradebook_db.course_db_url`). A PostgreSQL one puts the service's
        tables on that database, in the schema :data:`autograde.service.schema.PG_SCHEMA`; any
        other, SQLite in ``autograde_service/service.db``.

    Raises
    ------
    autograde.gradebook_db.GradebookUnreachable
        The PostgreSQL server cannot be reached (what to check, in words).
    """

    def __init__(self, course: Path, db_url: str | None = None):
        self.root = Path(course) / FOLDER
        self.inbox = self.root / "inbox"
        self.feedback = self.root / "feedback"
        for d in (self.root, self.inbox, self.feedback):
            d.mkdir(parents=True, exist_ok=True)
        url = gradebook_db.course_db_url(Path(course)) if db_url is None else db_url
        self.url = url if pg.is_postgres(url) else None
        self.path = None if self.url else self.root / "service.db"
        if self.url:
            self._pg_args = pg.connect_args(self.url)
            with self.transaction() as con:  # under the lock: two starts at once both succeed
                con.executescript(schema.POSTGRES)
        else:
            with self._connect() as con:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(schema.SQLITE)

    def describe(self) -> str:
        """Where the tables are, for messages (a URL without its password)."""
        if self.url is None:
            return str(self.path)
        return f"{gradebook_db.describe(self.url)}, schema {schema.PG_SCHEMA}"

    @contextmanager
    def _connect(self):
        if self.url:
            with pg.connect(self.url, self._pg_args) as con:
                yield con
            return
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA synchronous=FULL")
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self):
        """A write transaction, committed on leaving, else rolled back; one at a time
        (``BEGIN IMMEDIATE`` on SQLite, the service's advisory lock on PostgreSQL)."""
        with self._connect() as con:
            if self.url:
                with pg.transaction(con):
                    yield con
                return
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # --- at start -----------------------------------------------------------------------------

    def recover(self) -> int:
        """Put back what a killed service was grading; sweep bytes that were never acknowledged.

        Returns the number of submissions put back in the queue.
        """
        with self.transaction() as con:
            back = con.execute("UPDATE submission SET state=? WHERE state=?", (_QUEUED, _GRADING))
            n = back.rowcount
            known = {r[0] for r in con.execute("SELECT id FROM submission")}
        for entry in self.inbox.iterdir():
            if entry.name not in known:  # a half-received upload: never acknowledged
                shutil.rmtree(entry, ignore_errors=True)
        return n

    # --- receiving ----------------------------------------------------------------------------

    def recent(self, con, student: str, assignment: str, now: float) -> list[float]:
        """Arrival times of the submissions within the last hour that count against the limit.

        Those graded or being graded, or waiting to be graded again (:meth:`regrade`; it was
        counted when it was first graded and counts once); a queued one is about to be
        replaced, a failed one was the grader's fault, a replaced one was never graded.
        """
        rows = con.execute(
            "SELECT received_at FROM submission WHERE student=? AND assignment=? AND "
            "(state IN (?, ?) OR (state=? AND graded_at IS NOT NULL)) "
            "AND received_at > ? ORDER BY received_at",
            (student, assignment, _GRADING, _GRADED, _QUEUED, now - HOUR),
        )
        return [r[0] for r in rows]

    def check_limit(self, con, student: str, assignment: str, limit: int, now: float) -> None:
        """Raise :class:`Refused` (429) where one more submission would pass ``limit``/hour."""
        times = self.recent(con, student, assignment, now)
        if limit > 0 and len(times) >= limit:
            nxt = times[len(times) - limit] + HOUR
            when = time.strftime("%H:%M:%S UTC", time.gmtime(nxt))
            raise Refused(
                429,
                f"you have had {len(times)} submissions of {assignment} graded in the last hour, "
                f"the most this course allows ({limit} an hour); your next submission is allowed "
                f"at {when} (in {int(nxt - now) // 60 + 1} minutes). Until then, use the "
                "notebook's own self-checks",
                retry_after=int(nxt - now) + 1,
            )

    def accept(
        self, student: str, assignment: str, files: dict[str, bytes], timestamp: str, limit: int
    ) -> tuple[Submission, int]:
        """Store a submission durably; return it and how many are waiting before it.

        The bytes go to ``inbox/<id>/`` and reach the disk before the row is committed; the
        row's commit is the acknowledgement. A queued submission of the same student to the same
        assignment is replaced. Raises :class:`Refused` (and keeps nothing) over the limit.
        """
        now = time.time()
        with self._connect() as con:  # refuse early, before writing anything
            self.check_limit(con, student, assignment, limit, now)
        sid = uuid.uuid4().hex
        tmp = self.inbox / f".{sid}.tmp"
        tmp.mkdir()
        try:
            for name, data in files.items():
                with open(tmp / name, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            _fsync_dir(tmp)
            os.replace(tmp, self.inbox / sid)
            _fsync_dir(self.inbox)
            with self.transaction() as con:
                self.check_limit(con, student, assignment, limit, now)  # a racing request
                # not one waiting to be graded again (:meth:`regrade`): it was graded before
                con.execute(
                    "UPDATE submission SET state=?, replaced_by=? WHERE student=? AND "
                    "assignment=? AND state=? AND graded_at IS NULL",
                    (SubmissionState.REPLACED.value, sid, student, assignment, _QUEUED),
                )
                con.execute(
                    "INSERT INTO submission (id, student, assignment, received_at, timestamp, "
                    "files, state) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (sid, student, assignment, now, timestamp, json.dumps(sorted(files)), _QUEUED),
                )
                ahead = _ahead(con, sid)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(self.inbox / sid, ignore_errors=True)
            raise
        return self.get(sid), ahead

    def files_of(self, sub: Submission) -> dict[str, bytes]:
        """The stored files of ``sub``."""
        return {name: (self.inbox / sub.id / name).read_bytes() for name in sub.files}

    # --- grading ------------------------------------------------------------------------------

    def claim(self) -> Submission | None:
        """The oldest queued submission, now ``grading``; none of the same student and
        assignment is graded at the same time (their results would race in the gradebook)."""
        with self.transaction() as con:
            row = con.execute(
                "SELECT * FROM submission s WHERE state=? AND NOT EXISTS (SELECT 1 FROM "
                "submission g WHERE g.state=? AND g.student=s.student AND "
                "g.assignment=s.assignment) ORDER BY rowid LIMIT 1",
                (_QUEUED, _GRADING),
            ).fetchone()
            if row is None:
                return None
            con.execute(
                "UPDATE submission SET state=?, started_at=? WHERE id=?",
                (_GRADING, time.time(), row["id"]),
            )
        return self.get(row["id"])

    def graded(self, sid: str, score: float, max_score: float) -> None:
        with self.transaction() as con:
            con.execute(
                "UPDATE submission SET state=?, score=?, max_score=?, graded_at=?, "
                "gradings=gradings+1, error='' WHERE id=?",
                (_GRADED, score, max_score, time.time(), sid),
            )

    def grader_failed(self, sid: str, error: str, retries: int = 1) -> bool:
        """Record a failure of the grader's side: back in the queue while ``retries`` remain
        (True), else ``failed`` (False)."""
        with self.transaction() as con:
            (attempts,) = con.execute(
                "SELECT attempts FROM submission WHERE id=?", (sid,)
            ).fetchone()
            again = attempts < retries
            con.execute(
                "UPDATE submission SET state=?, attempts=attempts+1, error=? WHERE id=?",
                (_QUEUED if again else SubmissionState.FAILED.value, error, sid),
            )
        return again

    def regrade(self, assignment: str, student: str | None = None) -> list[str]:
        """Queue the latest submission of ``student`` (of every student: None) to
        ``assignment`` to be graded again, by the same graders (after a fix to a check, say).

        Only a latest submission that is ``graded`` or ``failed``: one waiting or being graded
        will be graded anyway, and an older one must not overwrite the newer one's grades. It
        keeps its row and time of arrival, so it is not one more submission of the hour's limit
        (:meth:`recent`). Returns the ids queued.
        """
        sql = "SELECT * FROM submission WHERE assignment=? AND state!=?"
        args = [assignment, SubmissionState.REPLACED.value]
        if student is not None:
            sql, args = sql + " AND student=?", [*args, student]
        with self.transaction() as con:
            latest = {r["student"]: r for r in con.execute(sql + " ORDER BY rowid", args)}
            ids = [r["id"] for r in latest.values() if parse(r["state"], r["id"]) in REGRADABLE]
            for sid in ids:
                con.execute(
                    "UPDATE submission SET state=?, attempts=0, error='' WHERE id=?", (_QUEUED, sid)
                )
        return ids

    def graded_this_hour(self, student: str, assignment: str) -> list[float]:
        """Arrival times of ``student``'s submissions to ``assignment`` that count against the
        hour's limit now (:meth:`recent`)."""
        with self._connect() as con:
            return self.recent(con, student, assignment, time.time())

    # --- reading ------------------------------------------------------------------------------

    def get(self, sid: str) -> Submission | None:
        with self._connect() as con:
            row = con.execute("SELECT * FROM submission WHERE id=?", (sid,)).fetchone()
        return Submission.from_row(row) if row else None

    def list(self, student: str | None = None, assignment: str | None = None) -> list[Submission]:
        """Submissions in order of arrival, of ``student`` and ``assignment`` where given."""
        where, args = [], []
        for col, val in (("student", student), ("assignment", assignment)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        sql = "SELECT * FROM submission" + (" WHERE " + " AND ".join(where) if where else "")
        with self._connect() as con:
            rows = con.execute(sql + " ORDER BY rowid", args).fetchall()
        return [Submission.from_row(r) for r in rows]

    def counts(self) -> dict[SubmissionState, int]:
        """Submissions per state, every state (0 where none)."""
        with self._connect() as con:
            rows = con.execute("SELECT state, COUNT(*) FROM submission GROUP BY state")
            got = dict(rows.fetchall())
        return {s: got.get(s.value, 0) for s in SubmissionState}

    def waiting_before(self, sid: str) -> int:
        """How many queued submissions arrived before ``sid``."""
        with self._connect() as con:
            return _ahead(con, sid)

    def feedback_dir(self, sid: str) -> Path:
        return self.feedback / sid
