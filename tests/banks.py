"""Shared runner for the banks of submissions under tests/bank/<assignment>/.

Each entry is ``{"spec": ..., "expect": {check: passed}}`` or ``{"spec": ..., "invalid":
field}``; it is graded the way an instructor's script would, through ``python -m graders check``.
:func:`gradebook_scores` reads back what a class graded by ``autograde grade`` scored.
"""

from __future__ import annotations

import json
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
    return out


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
