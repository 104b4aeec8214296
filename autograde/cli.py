"""``autograde``: a thin command line over :mod:`graders` and the grading pipeline."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from graders import assignments, backends


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
    try:
        chosen = backends.choose(args.backend)
    except backends.BackendUnavailable as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 1
    forced = args.backend or backends.os.environ.get(backends.ENV_VAR)
    how = (
        f"forced by {'--backend' if args.backend else backends.ENV_VAR}"
        if forced
        else "best available"
    )
    print(f"\nwould use: {chosen} ({how})")
    return 0


def _limits(args):
    from .pipeline import Limits

    return Limits(
        cell_timeout=args.timeout,
        submission_timeout=args.submission_timeout,
        memory_mb=args.memory,
        max_output_bytes=args.max_output,
        sandbox=not args.no_sandbox,
    )


def _grade(course: Path, assignment: str, args, students=None) -> tuple[list[dict], Path]:
    """Grade, write feedback and the class summary; returns the statuses and the report path."""
    from . import pipeline, report

    t0 = time.perf_counter()
    statuses = pipeline.grade_assignment(
        course,
        assignment,
        students_=students,
        jobs=args.jobs,
        limits=_limits(args),
        backend=args.backend,
        cache_dir=args.cache,
        force=args.force,
        feedback=not args.no_feedback,
        batch=args.batch,
    )
    if not args.no_feedback:
        pipeline.generate_feedback(course, assignment)
    # The report covers every student of the assignment, graded now or in earlier runs.
    every = [
        pipeline.load_status(course, assignment, s) or {"student": s, "ok": False}
        for s in pipeline.students(course, assignment)
    ]
    path = report.write(course, assignment, every, wall_s=time.perf_counter() - t0)
    return statuses, path


def _sandbox_line(args) -> str:
    """How student code was confined, in one line (the process cap is checked by trying)."""
    if args.no_sandbox:
        return "sandbox: none (--no-sandbox): student code ran as this user"
    from graders import sandbox

    return (
        f"sandbox: kernels and simulations as {sandbox.user()}; processes: {sandbox.cap_method()}"
    )


def cmd_grade(args) -> int:
    """Grade the submissions of one assignment in parallel and print a summary."""
    from . import pipeline

    course = Path(args.course).resolve()
    try:
        backends.choose(args.backend)  # fail before starting a class, not per student
        t0 = time.perf_counter()
        statuses, path = _grade(course, args.assignment, args, args.student or None)
    except (RuntimeError, FileNotFoundError, backends.BackendUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(pipeline.summary(statuses, args.assignment))
    print(f"class summary: {path}")
    print(f"\nwall time: {time.perf_counter() - t0:.1f} s with --jobs {args.jobs}")
    print(_sandbox_line(args))
    return 0 if all(s.get("ok") for s in statuses) else 3


def cmd_release(args) -> int:
    """Generate the student version, refusing one that leaks solutions or hidden tests."""
    from . import pipeline

    try:
        files = pipeline.release(Path(args.course), args.assignment)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for f in files:
        print(f)
    return 0


def cmd_demo(args) -> int:
    """Build a sample class in a scratch course and grade it end to end."""
    import tempfile

    from . import demo, pipeline

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
        except (RuntimeError, FileNotFoundError, backends.BackendUnavailable) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(pipeline.summary(statuses, assignment))
        print()
        where.append((f"class summary ({assignment})", path))
        if not args.no_feedback:
            where.append((f"feedback ({assignment})", course / "feedback" / "*" / assignment))
        rc = rc or (0 if all(s.get("ok") for s in statuses) else 3)
    print(f"wall time: {time.perf_counter() - t0:.1f} s with --jobs {args.jobs}")
    rows = [
        ("course folder", course),
        ("gradebook", course / "gradebook.db"),
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


def _grading_options(p) -> None:
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="parallel workers")
    p.add_argument("--backend", default=None, help="simulation backend (default: best installed)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per cell (default 120)")
    p.add_argument(
        "--submission-timeout",
        type=float,
        default=900.0,
        help="seconds for all cells of a notebook together (default 900)",
    )
    p.add_argument(
        "--memory",
        type=int,
        default=4096,
        help="MB of resident memory each student kernel and each simulation may use, with "
        "everything it starts; 0: no limit (default 4096)",
    )
    p.add_argument(
        "--max-output", type=int, default=1_000_000, help="bytes of output per cell (default 1e6)"
    )
    p.add_argument("--force", action="store_true", help="regrade students already graded")
    p.add_argument(
        "--no-feedback",
        action="store_true",
        help="skip the feedback HTML and its plots (one simulation less per submission)",
    )
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run student kernels without bubblewrap (trusted submissions only); the result "
        "cache and ccache are then neither read nor written, since an unsandboxed kernel could "
        "plant fake results there, so every submission is simulated afresh",
    )
    p.add_argument(
        "--batch",
        choices=("auto", "on", "off"),
        default="auto",
        help="build the class's distinct answers together before grading (one GeNN model for "
        "many students); auto: on for GeNN backends, where it pays (default auto)",
    )
    p.add_argument(
        "--cache",
        default=None,
        help="result cache folder (default: AUTOGRADE_CACHE or ~/.cache; unused with --no-sandbox)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograde", description=__doc__)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)
