"""The service's tables, in SQLite's words and in PostgreSQL's, side by side.

:class:`autograde.service.store.Store` makes them at start (``CREATE ... IF NOT EXISTS``): in
``<course>/autograde_service/service.db`` (:data:`SQLITE`), or, where the course's gradebook is
on PostgreSQL, in the schema :data:`PG_SCHEMA` of the same database (:data:`POSTGRES`). The
same columns in both: a change to one is a change to the other. The ``state`` column holds the
values of :class:`autograde.service.states.SubmissionState`.
"""

from __future__ import annotations

#: The service's tables on SQLite.
SQLITE = """
CREATE TABLE IF NOT EXISTS submission (
    id TEXT PRIMARY KEY,
    student TEXT NOT NULL,
    assignment TEXT NOT NULL,
    received_at REAL NOT NULL,
    timestamp TEXT NOT NULL,
    files TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    gradings INTEGER NOT NULL DEFAULT 0,
    score REAL,
    max_score REAL,
    error TEXT NOT NULL DEFAULT '',
    started_at REAL,
    graded_at REAL,
    replaced_by TEXT
);
CREATE INDEX IF NOT EXISTS submission_state ON submission (state);
CREATE INDEX IF NOT EXISTS submission_owner ON submission (student, assignment);
CREATE TABLE IF NOT EXISTS token (
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    created REAL NOT NULL,
    revoked REAL,
    PRIMARY KEY (role, name)
);
"""

#: The PostgreSQL schema of the service's tables (nbgrader's are in ``public``).
PG_SCHEMA = "autograde_service"

#: The same tables on PostgreSQL, in its types: REAL is 4 bytes there (a Unix time would lose
#: minutes), and arrival order is a sequence (``seq``), where SQLite has ``rowid``.
POSTGRES = f"""
CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA};
CREATE TABLE IF NOT EXISTS {PG_SCHEMA}.submission (
    seq BIGSERIAL UNIQUE,
    id TEXT PRIMARY KEY,
    student TEXT NOT NULL,
    assignment TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    timestamp TEXT NOT NULL,
    files TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    gradings INTEGER NOT NULL DEFAULT 0,
    score DOUBLE PRECISION,
    max_score DOUBLE PRECISION,
    error TEXT NOT NULL DEFAULT '',
    started_at DOUBLE PRECISION,
    graded_at DOUBLE PRECISION,
    replaced_by TEXT
);
CREATE INDEX IF NOT EXISTS submission_state ON {PG_SCHEMA}.submission (state);
CREATE INDEX IF NOT EXISTS submission_owner ON {PG_SCHEMA}.submission (student, assignment);
CREATE TABLE IF NOT EXISTS {PG_SCHEMA}.token (
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    revoked DOUBLE PRECISION,
    PRIMARY KEY (role, name)
);
"""
