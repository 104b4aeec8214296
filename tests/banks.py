"""Shared runner for the banks of submissions under tests/bank/<assignment>/.

Each entry is ``{"spec": ..., "expect": {check: passed}}`` or ``{"spec": ..., "invalid":
field}``; it is graded the way an instructor's script would, through ``python -m graders check``.
:func:`gradebook_scores` reads back what a class graded by ``autograde grade`` scored.
"""

from __future__ import annotations

import json
import os
import re
import shutil
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


#: Whether student kernels can be sandboxed here (else grading runs use --no-sandbox).
SANDBOX = shutil.which("bwrap") is not None


def grade_env(cache: Path, backend: str = "runtime") -> dict:
    """The environment of an ``autograde grade`` run: a backend, a private result cache, and
    this Python's ``bin`` first on ``PATH`` (nbgrader shells out to ``alembic``)."""
    from graders import settings

    env = dict(os.environ, **{settings.BACKEND_ENV: backend, settings.CACHE_ENV: str(cache)})
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def grade_cmd(assignment: str, *extra: str) -> list[str]:
    """``autograde grade`` with the end-to-end tests' short limits (and no sandbox without
    bubblewrap)."""
    cmd = [sys.executable, "-m", "autograde", "grade", assignment, "--timeout", "20"]
    cmd += ["--submission-timeout", "120", "--memory", "3000", *extra]
    return cmd if SANDBOX else cmd + ["--no-sandbox"]


def hidden_cells(assignment: str) -> list[str]:
    """The grade ids of ``assignment``'s hidden test cells (``hidden_<check>``), in order."""
    from graders.assignments import get

    return [f"hidden_{name}" for name in get(assignment).points]


def feedback_images(page: str) -> list[str]:
    """The checks whose plot a feedback page shows, in order."""
    return re.findall(r'<img alt="(\w+): your traces', page)


#: Keys of a hidden case that are plain words of any task, not leaks.
GENERIC_KEYS = {"params", "name", "kind", "type"}


def _numbers(value: float, unit: str) -> set[str]:
    """Ways a value may be written: SI and, for volt/second, in mV/ms."""
    out = {f"{value:g}"}
    if unit in ("volt", "second"):
        out.add(f"{value * 1e3:g}")
    return out


def hidden_patterns(module) -> list[tuple[str, re.Pattern]]:
    """Regexes for the hidden cases of an assignment's ``module``: overridden parameter values,
    input lists, case keys (the release's and the feedback's leak detectors)."""
    visible = getattr(module, "VISIBLE", {})
    pats = [("CASES", re.compile(r"\bCASES\b"))]
    sep = r"\s*(?:\*\s*)?(?:[mk]?(?:V|s|Hz|volt|second))?\s*[,;]\s*"

    def walk(obj, key=None):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k == "params" and isinstance(v, dict):
                    for p, pv in v.items():
                        value, unit = pv if isinstance(pv, list | tuple) else (pv, "1")
                        if p in visible and visible[p][0] == value:
                            continue
                        for num in _numbers(float(value), unit):
                            pats.append(
                                (f"{p}={num}", re.compile(rf"\b{p}\s*=\s*{re.escape(num)}(?!\d)"))
                            )
                    continue
                if isinstance(k, str) and len(k) >= 4 and k not in GENERIC_KEYS:
                    # identifiers like drives_mV anywhere; plain words ("inputs") only quoted
                    word = rf"\b{re.escape(k)}\b" if "_" in k else rf"[\"']{re.escape(k)}[\"']"
                    pats.append((f"key {k}", re.compile(word)))
                walk(v, k)
        elif isinstance(obj, list | tuple):
            nums = [x for x in obj if isinstance(x, int | float) and not isinstance(x, bool)]
            if len(nums) == len(obj) and len(nums) >= 2:
                body = sep.join(rf"(?<![\d.]){re.escape(f'{x:g}')}(?![\d.])" for x in nums)
                pats.append((f"{key}={list(nums)}", re.compile(body)))
            else:
                for v in obj:
                    walk(v, key)

    for case in getattr(module, "CASES", []):
        walk(case)
    unique = {what: pat for what, pat in pats}
    return list(unique.items())


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
