"""Grade the demo class several times under different conditions and report every difference.

A grade is each check's points and status, per student and assignment. The same notebook must
get the same grade whatever the run's conditions: ``--jobs 1`` or ``--jobs 2``, an idle machine
or one with every core kept busy, and every installed backend. Each run grades a fresh copy of
the class with ``--force`` and an empty result cache, so nothing is reused between runs::

    python benchmarks/determinism.py                        # demo class, 3 runs, best backend
    python benchmarks/determinism.py --runs 4 --backend cpp_standalone --backend genn-cpu
    python benchmarks/determinism.py --students alice,heidi --assignments ei_balance

Runs cycle through the conditions in :data:`CONDITIONS` (for each backend). The script prints one
line per run and then every student whose grade differed from the first run's, with both grades;
it exits 1 on any difference (2 when a run itself failed), else 0. ``--out`` writes the record.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograde import demo
from autograde.course import load_status
from graders import assignments, backends, settings

REPO = Path(__file__).resolve().parent.parent

#: (jobs, busy) of the runs, in this order, repeated: the first run is the reference.
CONDITIONS = ((2, False), (1, True), (2, True))

#: A burner per core: keeps the machine as busy as a shared grading server.
BURN = "while True:\n    pass\n"


def grades(course: Path, assignment: str, students) -> dict[str, dict]:
    """Per student: ``{check: [points, status]}``, or ``{"error": ...}`` for a failed job."""
    out = {}
    for student in students:
        status = load_status(course, assignment, student)
        if status is None or not status.ok:
            out[student] = {"error": (status and status.error) or "no status written"}
            continue
        cells = status.checks.get(assignment, {})
        out[student] = {
            c["check"]: [round(float(c.get("points") or 0.0), 6), c.get("status")]
            for c in cells.values()
        }
    return out


def grade_once(work: Path, klass: dict, names, backend: str, jobs: int, busy: bool) -> dict:
    """Grade a fresh copy of ``klass`` for each assignment; the grades and the run's facts."""
    course = work / "course"
    cache = work / "cache"
    env = dict(os.environ, **{settings.BACKEND_ENV: backend, settings.CACHE_ENV: str(cache)})
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    burners = []
    if busy:
        burners = [
            subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(os.cpu_count() or 1)
        ]
    t0 = time.perf_counter()
    result = {"backend": backend, "jobs": jobs, "busy": busy, "grades": {}, "failed": []}
    try:
        for name in names:
            demo.make_course(course, REPO, name, klass)
            cmd = [sys.executable, "-m", "autograde", "grade", name, "--jobs", str(jobs)]
            cmd += ["--backend", backend, "--force", "--no-feedback"]
            proc = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                result["failed"].append(f"{name}: exit {proc.returncode}: {proc.stderr[-800:]}")
            result["grades"][name] = grades(course, name, klass)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["load"] = os.getloadavg()[0]
    return result


def differences(runs: list[dict]) -> list[str]:
    """One line per student, assignment and run whose grade differs from the first run's."""
    lines = []
    first = runs[0]
    for i, run in enumerate(runs[1:], start=2):
        for name, by_student in first["grades"].items():
            for student, want in by_student.items():
                got = run["grades"].get(name, {}).get(student)
                if got != want:
                    lines.append(
                        f"{student} {name}: run 1 ({_cond(first)}) {_fmt(want)}; "
                        f"run {i} ({_cond(run)}) {_fmt(got)}"
                    )
    return lines


def _cond(run: dict) -> str:
    return f"{run['backend']}, --jobs {run['jobs']}, {'busy' if run['busy'] else 'idle'}"


def _fmt(grade: dict | None) -> str:
    if grade is None:
        return "not graded"
    if "error" in grade:
        return f"grading failed ({grade['error'][:120]})"
    return ", ".join(f"{c} {p:g} {s}" for c, (p, s) in sorted(grade.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per backend (default 3)")
    parser.add_argument(
        "--backend",
        action="append",
        help="backend to grade on (repeat for several); default: the best installed",
    )
    parser.add_argument("--assignments", default=",".join(assignments.names()))
    parser.add_argument(
        "--students", default="", help="comma-separated students of the demo class (default all)"
    )
    parser.add_argument("--workdir", default=None, help="where the runs' courses go (kept)")
    parser.add_argument("--out", default=None, help="write the record (JSON) here")
    args = parser.parse_args(argv)

    names = [a for a in args.assignments.split(",") if a]
    unknown = [a for a in names if a not in assignments.names()]
    if unknown:
        parser.error(f"unknown assignment {unknown[0]!r}; known: {', '.join(assignments.names())}")
    wanted = [s for s in args.students.split(",") if s]
    missing = [s for s in wanted if s not in demo.CLASS]
    if missing:
        parser.error(f"{missing[0]!r} is not in the demo class ({', '.join(demo.CLASS)})")
    klass = {s: demo.CLASS[s] for s in (wanted or demo.CLASS)}
    chosen = args.backend or [backends.choose(None)]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="determinism-"))

    runs = []
    for backend in chosen:
        for i in range(args.runs):
            jobs, busy = CONDITIONS[i % len(CONDITIONS)]
            folder = work / f"{backend}-{i + 1}"
            shutil.rmtree(folder, ignore_errors=True)
            run = grade_once(folder, klass, names, backend, jobs, busy)
            runs.append(run)
            print(
                f"run {len(runs)}: {_cond(run)}: {run['seconds']} s, load {run['load']:.1f}"
                + (f", FAILED: {run['failed']}" if run["failed"] else ""),
                flush=True,
            )
    diff = differences(runs)
    for line in diff:
        print("DIFFERS:", line)
    print(
        f"{len(diff)} difference(s) over {len(runs)} runs of {len(klass)} students x "
        f"{len(names)} assignment(s)"
    )
    if args.out:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        record = {
            "commit": commit or "unknown",
            "runs": runs,
            "differences": diff,
            "python": platform.python_version(),
            "cores": os.cpu_count(),
        }
        Path(args.out).write_text(json.dumps(record, indent=1))
    if any(run["failed"] for run in runs):
        return 2
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
