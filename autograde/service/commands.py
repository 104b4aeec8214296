"""``autograde serve`` and ``autograde students``: the service's commands.

Imports inside functions: each command loads only what it runs (Starlette, uvicorn and the
grading pipeline for ``serve``), so that ``autograde --help`` answers at once.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from .. import options

#: ``autograde serve``'s port unless told otherwise.
DEFAULT_PORT = 8800

#: Where ``autograde students`` writes the token files to hand out, inside the course.
HANDOUT = "handout"

#: The grading settings ``serve`` takes (batch builds and GPUs are for a whole class at once).
SERVE_SETTINGS = (
    "jobs",
    "scheduler",
    "backend",
    "cell_timeout",
    "submission_timeout",
    "memory_mb",
    "max_output_bytes",
    "check_timeout",
    "sandbox",
    "cache_dir",
)


def add_parsers(sub) -> None:
    """Add ``serve`` and ``students`` to the ``autograde`` command's subparsers ``sub``."""
    p = sub.add_parser(
        "serve", help="run the grading service: students submit, it grades, they fetch feedback"
    )
    p.add_argument(
        "--course",
        default=None,
        help="the course folder the service owns (with --demo: where the demo course is made, "
        "or reused; default a new temporary folder)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="serve a demo course: both assignments released, eight students with links (printed), "
        "a few sample answers already submitted and graded by the service; --backend runtime "
        "grades fastest",
    )
    # loopback by default: put a TLS reverse proxy in front to reach it from elsewhere
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})"
    )
    # one flag a setting, named after it (type, default, help: graders.settings)
    options.add_arguments(p, SERVE_SETTINGS, sandbox=options.SANDBOX_HELP)
    p.add_argument(
        "--hold",
        action="store_true",
        help="receive and keep submissions but grade none (the grading machine is down, say); "
        "a later start without --hold grades them, oldest first",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("students", help="give students (and the instructor) their tokens")
    p.add_argument("--course", default=".", help="course folder (default: current folder)")
    p.add_argument(
        "--out",
        default=None,
        help=f"folder for the token files to hand out (default: autograde_service/{HANDOUT}/ "
        "in the course)",
    )
    p.add_argument(
        "--url",
        default=f"http://127.0.0.1:{DEFAULT_PORT}",
        help="the service's address as students reach it, for their personal links to its pages "
        f"(default http://127.0.0.1:{DEFAULT_PORT}, `autograde serve`'s own; behind a proxy, "
        "its public https:// address)",
    )
    ss = p.add_subparsers(dest="action", required=True)
    q = ss.add_parser("import", help="a token for each student of a roster CSV")
    q.add_argument("roster", help="CSV with an 'id' (or 'student_id') column, else ids first")
    q = ss.add_parser("add", help="a token for one student (a new one revokes the old)")
    q.add_argument("id", help="the student's id")
    q = ss.add_parser("revoke", help="revoke a student's token")
    q.add_argument("id", help="the student's id")
    ss.add_parser("instructor", help="a new instructor token (the old one stops working)")
    p.set_defaults(func=cmd_students)


def _say(line: str) -> None:
    print(line, flush=True)


def cmd_students(args) -> int:
    """Make, print once and write the tokens of students (or the instructor's)."""
    from .store import Store
    from .tokens import (
        INSTRUCTOR,
        STUDENT,
        TokenError,
        check_id,
        issue,
        personal_link,
        read_roster,
        revoke,
        write_token_file,
    )

    course = Path(args.course).resolve()
    if not (course / "nbgrader_config.py").is_file():
        print(f"error: {course} is not a course folder (no nbgrader_config.py)", file=sys.stderr)
        return 2
    from ..gradebook_db import GradebookUnreachable

    try:
        store = Store(course)
    except GradebookUnreachable as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else store.root / HANDOUT
    try:
        if args.action == "revoke":
            if not revoke(store, STUDENT, check_id(args.id)):
                print(f"error: {args.id} has no token to revoke", file=sys.stderr)
                return 1
            _say(f"revoked the token of {args.id}")
            return 0
        if args.action == "instructor":
            token = issue(store, INSTRUCTOR, "instructor")
            _say(f"instructor {token}")
            _say(f"  page: {personal_link(args.url, token)}")
            _say(f"written to {write_token_file(store.root, 'instructor', token)}")
            return 0
        ids = read_roster(Path(args.roster)) if args.action == "import" else [check_id(args.id)]
    except (TokenError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for student in ids:
        token = issue(store, STUDENT, student)
        _say(f"{student} {token}  ({write_token_file(out, student, token)})")
        _say(f"  page: {personal_link(args.url, token)}")
    _say(
        f"\n{len(ids)} token{'s' if len(ids) != 1 else ''} (shown once, stored hashed); hand each "
        f"student their file from {out} (for nbgrader) and their page's link (for a browser)"
    )
    return 0


def cmd_serve(args) -> int:
    """Run the service until it is stopped (Ctrl-C, SIGTERM)."""
    import uvicorn  # the server, only for this command

    from . import policy as policy_
    from . import tokens
    from .app import Service, create_app
    from .demo import link_base
    from .grading import Grader
    from .states import SubmissionState
    from .store import Store

    demo_lines: list[str] = []
    if args.demo:
        from . import demo

        try:
            course, demo_lines = demo.prepare(args.course, args.host, args.port)
        except demo.DemoError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        args.course = str(course)
    if args.course is None:
        print("error: pass --course COURSE (or --demo for a demo course)", file=sys.stderr)
        return 2
    course = Path(args.course).resolve()
    if not (course / "nbgrader_config.py").is_file() or not (course / "source").is_dir():
        print(
            f"error: {course} is not a course folder (nbgrader_config.py and source/); pass "
            "--course with the folder that holds them",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from .. import gradebook_db
    from ..course import db_url

    try:
        # nbgrader's Gradebook() adds the course's row on first use: once here, before
        # requests and graders open it side by side
        with gradebook_db.open_gradebook(db_url(course)):
            pass
        store = Store(course)  # on the gradebook's PostgreSQL server where it is on one
    except gradebook_db.GradebookUnreachable as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    back = store.recover()
    policy = policy_.load(course)
    token_file = store.root / "instructor.token"
    if not token_file.is_file():
        token = tokens.issue(store, tokens.INSTRUCTOR, "instructor")
        tokens.write_token_file(store.root, "instructor", token)
    grader = Grader(course, store, options.GradeOptions.from_args(args), hold=args.hold)
    service = Service(course, store, policy, grader)
    waiting = store.counts()[SubmissionState.QUEUED]
    _say(
        f"autograde serve: {course} on http://{args.host}:{args.port}; {waiting} waiting "
        f"({back} put back from an interrupted run); the queue in {store.describe()}"
    )
    if not demo_lines:  # (the demo prints every link) the token itself stays out of the log
        base = link_base(args.host, args.port)
        _say(f"instructor's page: {base}/login?token=<the token in {token_file}>")
    for line in demo_lines:
        _say(line)
    if not (args.hold or args.scheduler):
        # a backend that cannot run here would fail every submission twice: refuse at start
        from graders import backends

        try:  # what the graders will use, as `autograde grade` chooses it
            _say(f"grading on {backends.choose(args.backend or None)}")
        except backends.BackendUnavailable as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    uvicorn.run(create_app(service), host=args.host, port=args.port, log_level="info")
    return 0
