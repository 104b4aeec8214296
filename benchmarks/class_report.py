"""The class report of a generated class: its size and the time to write it.

    python benchmarks/class_report.py [-n 300] [--seed 1] [--out DIR]

Generates ``n`` status records as ``autograde grade`` leaves them (:func:`generated_class`: most
students graded with a mix of full, partial and zero marks and the checks' real kinds of
messages, a few with each kind of trouble: a grading failure, a kernel that died, a cell or the
whole notebook past its time limit, a MemoryError, a simulation out of memory, tampering, an
unanswered notebook), writes ``reports/<assignment>/summary.html`` (and its JSON and CSV) into a
scratch course folder and prints the sizes and the wall time of :func:`autograde.report.write`.
No gradebook, no grading: the report alone.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from autograde.jobs import StudentStatus

ASSIGNMENT = "ei_balance"
CHECKS = {"balance": 3.0, "convergence": 2.0, "effect": 2.0, "rule": 2.0, "untouched": 1.0}
# Messages of the kinds the checks write (partial credit in words), by check.
WRONG = {
    "balance": "{f} of 4 hidden cases fail this check: {p}/4 of 3 points = {pts}; in one of "
    "them, between 2 s and 3 s the mean net input Ie + Ii should be close to zero, at most "
    "{b}% of the mean Ie in size; yours is +{y}%. Let each inhibitory weight w grow by eta "
    "times the other side's trace at every pre- and postsynaptic spike, so that inhibition "
    "grows until Ii cancels Ie.",
    "convergence": "{f} of 4 hidden cases fail this check: {p}/4 of 2 points = {pts}; in one "
    "of them, the weights should settle, moving by at most {b}% of their total change during "
    "the last 1 s; yours moved by {y}% of its total change in that window. Make both traces "
    "decay with tau_stdp and the weight changes scale with eta.",
    "effect": "{f} of 4 hidden cases fail this check: {p}/4 of 2 points = {pts}; in one of "
    "them, the output rate must fall below the bound; yours fires at {y} Hz. Let the learned "
    "inhibition act on the neuron.",
    "rule": "{f} of 15 pairings of the hidden cases fail this check: {p}/15 of 2 points = "
    "{pts}; in one of them, a presynaptic spike shortly before a postsynaptic one should "
    "change w by eta*exp(-|t_pre - t_post|/tau_stdp); yours changed it by far less than that.",
    "untouched": "the excitatory current Ie depends only on the excitatory inputs, but yours "
    "differs from the reference's by up to {y} mV; leave Ie alone (0 of 1 point).",
}
TROUBLE = (
    "grading failure",
    "kernel died",
    "cell time limit",
    "submission time limit",
    "MemoryError",
    "simulation memory",
    "tampering",
    "not answered",
)


def _record(check: str, points: float, status: str = "graded", message: str = "") -> dict:
    return {
        "check": check,
        "points": points,
        "max_points": CHECKS[check],
        "status": status,
        "message": message,
    }


def _all(recs: dict, status: str, message: str) -> dict:
    """Every check of a student scored 0 with one status (not run, tampered, not answered)."""
    return {k: _record(r["check"], 0.0, status, message) for k, r in recs.items()}


def _graded(rng: random.Random, check: str) -> dict:
    worth = CHECKS[check]
    roll = rng.random()
    if roll < 0.55:
        return _record(check, worth, message="passed")
    total = 15 if check == "rule" else 4
    failed = total if roll > 0.85 or check == "untouched" else rng.randint(1, total - 1)
    passed = total - failed
    points = round(worth * passed / total, 6)
    text = WRONG[check].format(
        f=failed, p=passed, pts=f"{points:.2f}", b=rng.randint(15, 25), y=rng.randint(20, 90)
    )
    return _record(check, points, message=text)


def generated_class(
    n: int = 300, seed: int = 1
) -> tuple[list[StudentStatus], dict[str, list[str]]]:
    """``n`` status records of ``ASSIGNMENT`` and, per kind of trouble (:data:`TROUBLE`), the
    students given it (one in 40 each, at least one)."""
    rng = random.Random(seed)
    names = [f"s{i:03d}" for i in range(n)]
    every = max(1, n // 40)
    trouble = {kind: names[i * every : (i + 1) * every] for i, kind in enumerate(TROUBLE)}
    which = {name: kind for kind, group in trouble.items() for name in group}
    statuses = []
    for name in names:
        kind = which.get(name)
        if kind == "grading failure":
            statuses.append(
                StudentStatus(name, ASSIGNMENT, ok=False, error="nbgrader autograde failed:\nboom")
            )
            continue
        recs = {f"hidden_{c}": _graded(rng, c) for c in CHECKS}
        extra: dict = {}
        if kind == "kernel died":
            why = "the kernel died while running this notebook (out of memory, os._exit, ...)"
            extra["incidents"] = {ASSIGNMENT: why}
            recs = _all(recs, "not_run", f"No answer: {why}.")
        elif kind == "cell time limit":
            event = "code cell 7 hit the cell time limit (120 s) and was interrupted"
            extra["events"] = {ASSIGNMENT: [event]}
        elif kind == "submission time limit":
            why = "the notebook ran past the limit of 900 s for a whole submission"
            extra["incidents"] = {ASSIGNMENT: why}
        elif kind == "MemoryError":
            event = "code cell 5 raised MemoryError (the kernel's memory limit)"
            extra["events"] = {ASSIGNMENT: [event]}
        elif kind == "simulation memory":
            recs["hidden_balance"] = _record("balance", 0.0, "memory", "ran out of memory")
        elif kind == "tampering":
            recs = _all(recs, "tampered", "No answer was handed over")
        elif kind == "not answered":
            recs = _all(recs, "not_answered", "Your answer cell still raises")
        statuses.append(
            StudentStatus(
                name,
                ASSIGNMENT,
                ok=True,
                score=round(sum(r["points"] for r in recs.values()), 6),
                max_score=sum(CHECKS.values()),
                backend="cpp_standalone",
                seconds=round(rng.uniform(8, 60), 1),
                checks={ASSIGNMENT: recs},
                **extra,
            )
        )
    return statuses, trouble


def main(argv: list[str] | None = None) -> int:
    from autograde import report  # after argparse: --help answers without importing Brian

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="students (default 300)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, help="course folder (default: a temporary one)")
    args = parser.parse_args(argv)
    statuses, _ = generated_class(args.n, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(args.out or tmp)
        t0 = time.perf_counter()
        page = report.write(course, ASSIGNMENT, statuses)
        wall = time.perf_counter() - t0
        sizes = {p.name: p.stat().st_size for p in sorted(page.parent.iterdir())}
    print(f"class report of {args.n} students ({ASSIGNMENT}): written in {wall:.2f} s")
    for name, size in sizes.items():
        print(f"  {name}: {size / 1024:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
