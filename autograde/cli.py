"""``autograde``: a thin command line over :mod:`graders` and the grading pipeline.

Imports inside functions: each command loads only the part of the pipeline it runs (nbgrader,
Brian, matplotlib), so that ``autograde --help`` and ``autograde backends`` answer at once.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from pathlib import Path

from graders import assignments, backends, gpus, settings

from . import options
from .jobs import StudentStatus
from .service import commands as service_commands


def cmd_backends(args) -> int:
    """Print every backend, where it was found, and the one that would be picked."""
    rows = backends.detect()
    width = max(len(b.name) for b in rows)
    for b in rows:
        state = "available" if b.available else "missing  "
        detail = b.where if b.available else b.reason
        print(f"{b.name:<{width}}  {state}  {detail}")
    gp = backends.genn_path()
    cp = backends.cuda_path()
    print(f"\nGENN_PATH: {gp or '(not set; genn-buildmodel.sh not on PATH)'}")
    tried = ", ".join(f"{where}: {root}" for where, root in backends.cuda_candidates())
    print(f"CUDA:      {cp or f'(none of these holds include/cuda.h: {tried})'}")
    print(f"compiler:  {backends.compiler() or '(none found)'}")
    found = gpus.found()
    where = "CUDA_VISIBLE_DEVICES" if "CUDA_VISIBLE_DEVICES" in os.environ else "nvidia-smi -L"
    if where == "nvidia-smi -L" and not shutil.which("nvidia-smi"):
        where = "no nvidia-smi here"
    print(f"GPUs:      {len(found)} found ({where})")
    for g in found:
        print(f"  {g.describe()}" + (f" ({g.uuid})" if g.uuid else ""))
    try:
        chosen = backends.choose(args.backend)
    except backends.BackendUnavailable as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 1
    forced = args.backend or os.environ.get(settings.BACKEND_ENV)
    how = (
        f"forced by {'--backend' if args.backend else settings.BACKEND_ENV}"
        if forced
        else "best available"
    )
    print(f"\nwould use: {chosen} ({how})")
    return 0


def _grade(course: Path, assignment: str, args, students=None) -> tuple[list[StudentStatus], Path]:
    """Grade, write feedback and the class summary; returns the statuses and the report path."""
    # Imported when a command runs, not at the top: `autograde backends` need not wait for
    # nbgrader's 2-4 s import.
    from . import feedback, pipeline, progress, report
    from .course import load_status
    from .course import students as submitters  # `students` is this function's argument

    t0 = time.perf_counter()
    statuses = pipeline.grade_assignment(
        course,
        assignment,
        options.GradeOptions.from_args(args),
        students_=students,
        force=args.force,
        reporter=progress.ConsoleReporter(),
    )
    if not args.no_feedback:
        feedback.generate_feedback(course, assignment)
    # The report covers every student of the assignment, graded now or in earlier runs.
    every = [
        load_status(course, assignment, s) or StudentStatus.missing(assignment, s)
        for s in submitters(course, assignment)
    ]
    path = report.write(course, assignment, every, wall_s=time.perf_counter() - t0)
    return statuses, path


def _where(args) -> str:
    """Where the submissions were graded, for the wall-time line."""
    return f"with --scheduler {args.scheduler}" if args.scheduler else f"with --jobs {args.jobs}"


def _sandbox_line(args) -> str:
    """How student code was confined, in one line (the process cap is checked by trying)."""
    if not args.sandbox:
        return "sandbox: none (--no-sandbox): student code ran as this user"
    if args.scheduler:  # this machine ran no student code; each worker was checked for bwrap
        return "sandbox: bubblewrap on the dask workers (each checked before the first job)"
    from graders import sandbox

    return (
        f"sandbox: kernels and simulations as {sandbox.user()}; processes: {sandbox.cap_method()}"
    )


def course_problem(course: Path, assignment: str) -> str | None:
    """What is wrong with ``course`` for ``assignment``, in words, or None."""
    if not course.is_dir():
        return (
            f"the course folder {course} does not exist; pass --course with the folder that "
            "holds nbgrader_config.py"
        )
    if not (course / "nbgrader_config.py").is_file():
        return (
            f"{course} is not a course folder (no nbgrader_config.py in it); pass --course with "
            "the folder that holds nbgrader_config.py and source/"
        )
    src = course / "source" / assignment
    if not src.is_dir():
        have = sorted(p.name for p in (course / "source").glob("*") if p.is_dir())
        return (
            f"the course has no assignment {assignment!r} (no folder source/{assignment} in "
            f"{course}); its assignments: {', '.join(have) or 'none'}"
        )
    return None


def cmd_grade(args) -> int:
    """Grade the submissions of one assignment in parallel and print a summary."""
    from . import report

    course = Path(args.course).resolve()
    problem = course_problem(course, args.assignment)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        if not args.scheduler:  # (with one, connecting checks the workers)
            backends.choose(args.backend)  # fail before starting a class, not per student
        t0 = time.perf_counter()
        statuses, path = _grade(course, args.assignment, args, args.student or None)
    except (RuntimeError, FileNotFoundError, backends.BackendUnavailable, gpus.GpuError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(report.summary(statuses, args.assignment))
    print(f"class summary: {path}")
    print(f"\nwall time: {time.perf_counter() - t0:.1f} s {_where(args)}")
    print(_sandbox_line(args))
    return 0 if all(s.ok for s in statuses) else 3


def cmd_release(args) -> int:
    """Generate the student version, refusing one that leaks solutions or hidden tests."""
    from .release import release

    problem = course_problem(Path(args.course).resolve(), args.assignment)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        files = release(Path(args.course), args.assignment)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for f in files:
        print(f)
    return 0


def cmd_export(args) -> int:
    """Write the course's grades in one LMS's import format."""
    from . import exports
    from .course import db_url

    course = Path(args.course).resolve()
    try:
        path = exports.write_format(course, db_url(course), args.format)
    except exports.ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0


def cmd_roster_import(args) -> int:
    """Fill nbgrader's student table from a class list."""
    from .course import db_url
    from .roster import RosterError, import_roster

    course = Path(args.course).resolve()
    try:
        added, updated = import_roster(db_url(course), args.roster)
    except RosterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{added} students added, {updated} updated in {db_url(course)}")
    return 0


def cmd_demo(args) -> int:
    """Build a sample class in a scratch course and grade it end to end."""
    import tempfile

    from . import demo, gradebook_db, report

    repo = Path(__file__).resolve().parent.parent
    course = Path(args.course or tempfile.mkdtemp(prefix="autograde-demo-")).resolve()
    t0 = time.perf_counter()
    rc = 0
    where = []
    for assignment in args.assignments:
        if not (repo / "release" / assignment / f"{assignment}.ipynb").is_file():
            print(f"skipping {assignment}: not released yet", file=sys.stderr)
            continue
        if "right" not in demo.sample_answers(assignment):
            print(
                f"skipping {assignment}: no sample answers in graders/assignments/{assignment}/"
                "answers.py",
                file=sys.stderr,
            )
            continue
        demo.make_course(course, repo, assignment)
        print(
            f"{assignment}: demo class of {len(demo.CLASS)} students in {course}", file=sys.stderr
        )
        try:
            statuses, path = _grade(course, assignment, args)
        except (RuntimeError, FileNotFoundError, backends.BackendUnavailable, gpus.GpuError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(report.summary(statuses, assignment))
        print()
        where.append((f"class summary ({assignment})", path))
        if not args.no_feedback:
            where.append((f"feedback ({assignment})", course / "feedback" / "*" / assignment))
        rc = rc or (0 if all(s.ok for s in statuses) else 3)
    print(f"wall time: {time.perf_counter() - t0:.1f} s {_where(args)}")
    rows = [
        ("course folder", course),
        ("gradebook", gradebook_db.describe(gradebook_db.course_db_url(course))),
        ("CSV export", course / "grades.csv"),
        *where,
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return rc


def cmd_new_assignment(args) -> int:
    """Write the skeleton of a new assignment: its source notebook and its grader package."""
    from . import scaffold

    try:
        files = scaffold.new_assignment(args.name, args.course, title=args.title)
    except scaffold.ScaffoldError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for f in files:
        print(f)
    print(
        f"\nnext: edit them (README: Writing an assignment), then\n"
        f"  autograde release {args.name} --course {args.course}\n"
        f"  autograde demo --assignments {args.name}",
        file=sys.stderr,
    )
    return 0


#: The grading settings ``grade`` and ``demo`` take, in the order ``--help`` shows them.
GRADE_SETTINGS = (
    "jobs",
    "scheduler",
    "backend",
    "gpus",
    "cell_timeout",
    "submission_timeout",
    "memory_mb",
    "max_output_bytes",
    "simulation_timeout",
    "check_timeout",
    "sandbox",
    "batch",
    "cache_dir",
)


def _grading_options(p) -> None:
    # one flag a setting, named after it (type, default, help: graders.settings)
    options.add_arguments(
        p,
        GRADE_SETTINGS,
        sandbox=options.SANDBOX_HELP,
        # here it limits the batch builds only; a student's checks have --check-timeout
        simulation_timeout=f"{settings.help_text('simulation_timeout')}, here in the class's "
        "batch builds (--batch) only; the checks that grade a student have --check-timeout",
    )
    p.add_argument("--force", action="store_true", help="regrade students already graded")
    p.add_argument(
        "--no-feedback",
        action="store_true",
        help="skip the feedback HTML and its plots (one simulation less per submission)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograde", description=_plain(__doc__))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("backends", help="list simulation backends and the one that would be used")
    p.add_argument("--backend", default=None, help="check that this backend can be used")
    p.set_defaults(func=cmd_backends)

    p = sub.add_parser("grade", help="grade every submission of an assignment")
    p.add_argument("assignment", choices=assignments.names(), help="the assignment to grade")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--course", default=".", help="course folder (default: current folder)")
    _grading_options(p)
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("release", help="generate the student version (refuses leaks)")
    p.add_argument("assignment", help="the folder under source/ to release")
    p.add_argument("--course", default=".", help="course folder (default: current folder)")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser(
        "export",
        help="write the grades for an LMS: canvas (grades-canvas.csv), moodle "
        "(grades-moodle.csv) or plain (grades.csv)",
    )
    p.add_argument("--format", required=True, choices=("canvas", "moodle", "plain"))
    p.add_argument("--course", default=".", help="course folder (default: current folder)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("roster", help="the class list in nbgrader's student table")
    roster = p.add_subparsers(dest="roster_command", required=True)
    p = roster.add_parser(
        "import",
        help="create or update the students of a CSV class list (columns id, first_name, "
        "last_name, email, lms_user_id; only id is required)",
    )
    p.add_argument("roster", help="the CSV file")
    p.add_argument("--course", default=".", help="course folder (default: current folder)")
    p.set_defaults(func=cmd_roster_import)

    p = sub.add_parser(
        "new-assignment",
        help="write a working skeleton of a new assignment (source notebook and grader package)",
    )
    p.add_argument("name", help="lower-case Python identifier, e.g. stdp_traces")
    p.add_argument("--course", default=".", help="course folder (default: current folder)")
    p.add_argument("--title", default=None, help="the task's title (default: from the name)")
    p.set_defaults(func=cmd_new_assignment)

    p = sub.add_parser("demo", help="grade a sample class of 8 students end to end")
    p.add_argument("--course", default=None, help="scratch course folder (default: a new one)")
    p.add_argument(
        "--assignments",
        nargs="+",
        choices=assignments.names(),
        default=assignments.names(),
        metavar="A",
        help=f"assignments to grade (default: all: {', '.join(assignments.names())})",
    )
    _grading_options(p)
    p.set_defaults(func=cmd_demo)

    service_commands.add_parsers(sub)  # serve, students
    return parser


def _plain(text: str) -> str:
    """A docstring without its reST markup (``x``, :mod:`x`), for ``--help``."""
    return re.sub(r":\w+:`([^`]*)`", r"\1", text).replace("``", "")


def _own_bin_on_path() -> None:
    """Put this interpreter's ``bin`` first on ``PATH``: nbgrader runs ``alembic`` by name,
    and a cron job or systemd unit calls ``.venv/bin/autograde`` without an activated venv."""
    own = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if own not in path.split(os.pathsep):
        os.environ["PATH"] = own + (os.pathsep + path if path else "")


def main(argv: list[str] | None = None) -> int:
    _own_bin_on_path()
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)
