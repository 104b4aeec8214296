"""Shared runner for the banks of submissions under tests/bank/<assignment>/.

Each entry is ``{"spec": ..., "expect": {check: passed}}`` or ``{"spec": ..., "invalid":
field}``; it is graded the way an instructor's script would, through ``python -m graders check``.
:func:`gradebook_scores` reads back what a class graded by ``autograde grade`` scored.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent / "bank"


#: A small class for end-to-end runs (demo.make_course): right, partly right (the tutorial's
#: decay bug), wrong, not answered.
SMALL_CLASS = {
    "alice": ("right", ""),
    "bob": ("partly", ""),
    "carol": ("wrong", ""),
    "dave": ("empty", ""),
}


def entries(assignment: str) -> list[Path]:
    return sorted((ROOT / assignment).glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def check_cli(assignment: str, spec: dict, backend: str = "runtime") -> tuple[int, dict]:
    out = subprocess.run(
        [sys.executable, "-m", "graders", "check", assignment, "-", "--backend", backend],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=900,
    )
    return out.returncode, json.loads(out.stdout)


def assert_entry(assignment: str, path: Path, backend: str = "runtime") -> dict:
    """Grade one bank entry and assert its expected outcome; returns the verdict JSON."""
    entry = load(path)
    rc, out = check_cli(assignment, entry["spec"], backend)
    if "invalid" in entry:
        assert rc == 2, out
        assert entry["invalid"] in {p["field"] for p in out["problems"]}, out
        assert all(p["message"] for p in out["problems"])
        return out
    assert rc == 0, out
    assert out["status"] == "graded" and out["backend"] == backend
    # null in "expect": a borderline check that backends may decide either way
    want = {k: v for k, v in entry["expect"].items() if v is not None}
    got = {c["name"]: c["passed"] for c in out["checks"] if c["name"] in want}
    assert got == want, out["checks"]
    assert {c["name"] for c in out["checks"]} == set(entry["expect"])
    if path.stem.startswith("right"):
        assert out["score"] == out["max_score"], out["checks"]
    else:
        assert out["score"] < out["max_score"]
        for c in out["checks"]:
            if not c["passed"]:
                assert c["message"] and c["points"] < c["max_points"]
                assert_credit_adds_up(c)
    return out


_SHARE = re.compile(
    r"(\d+) of (\d+) [^;:]*? fails? this check: (\d+)/(\d+) of ([\d.]+) points? = ([\d.]+);"
)
_PLAIN = re.compile(r"([\d.]+) of ([\d.]+) points?\b")


def assert_credit_adds_up(check: dict) -> None:
    """A failed check's words give its points from the same counts: "1 of 11 firing neurons
    ... fails this check: 10/11 of 2 points = 1.82" (failed, total, passed share, worth, earned)
    or "0 of 2 points"; the numbers agree with each other and with the points it earned."""
    msg, points, worth = check["message"], check["points"], check["max_points"]
    share = _SHARE.search(msg)
    if share:
        failed, total, n, total2, said_worth, earned = share.groups()
        assert int(total) == int(total2) and int(n) == int(total) - int(failed), msg
        assert float(said_worth) == worth and float(earned) == round(points, 2), (msg, points)
        assert abs(int(n) / int(total) * worth - points) < 1e-6, (msg, points)
        return
    plain = _PLAIN.search(msg)
    assert plain, f"no points in the words: {msg}"
    assert float(plain.group(1)) == round(points, 2) and float(plain.group(2)) == worth, msg


def gradebook_scores(course: Path, assignment: str, cells) -> dict[str, dict[str, float]]:
    """Per student, the automatic score of each of ``cells`` (grade ids) in the gradebook."""
    from nbgrader.api import Gradebook

    from autograde.course import db_url

    out = {}
    with Gradebook(db_url(course)) as gb:
        for sub in gb.find_assignment(assignment).submissions:
            for nb in sub.notebooks:
                out[sub.student.id] = {g.name: g.auto_score for g in nb.grades if g.name in cells}
    return out
