"""GeNN grades like C++ standalone: every bank entry, and a small class end to end.

Each test runs on GeNN's CPU backend (marked ``genn``) and on its CUDA backend (marked ``cuda``)
with the same code: only the backend's name differs. Where GeNN or a GPU is absent they are
skipped, loudly (see ``conftest.py``).

The GeNN side of the banks is built the way ``autograde grade --batch auto`` builds a class on
GeNN: every valid answer of a bank in one model (:func:`graders.harness.simulate_batch`), then
each is graded through :func:`graders.check`, which finds its answer in the cache (or builds it
alone if the batch left it out). With CUDA, where nvcc costs a minute a model, that is two
builds instead of thirty. C++ standalone builds each answer on its own, as it does in a class.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from banks import entries, gradebook_scores, load

import graders
from autograde import demo
from autograde.course import load_status
from graders import assignments, harness, settings
from graders.assignments import get
from graders.spec import validate

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = tuple(assignments.names())
GENN_BACKENDS = [
    pytest.param("genn-cpu", marks=pytest.mark.genn, id="genn-cpu"),
    pytest.param("genn", marks=pytest.mark.cuda, id="genn"),
]

# Bank entries that reach a simulation (invalid specs are refused before any backend runs).
VALID = [
    (a, p) for a in ASSIGNMENTS for p in entries(a) if "invalid" not in load(p)
]  # fmt: skip


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One result cache for the module: C++ standalone's verdicts serve both GeNN backends."""
    return tmp_path_factory.mktemp("parity-cache")


_BATCHES: dict[tuple[str, str], list[str]] = {}


def _batch_once(assignment: str, backend: str, cache: Path) -> list[str]:
    """Build a bank's valid answers on ``backend`` in one model, once per module."""
    if (assignment, backend) not in _BATCHES:
        a = get(assignment)
        specs = [validate(a, load(p)["spec"])[0] for b, p in VALID if b == assignment]
        _BATCHES[assignment, backend] = harness.simulate_batch(
            assignment, specs, a.simulated_cases(), backend, cache_dir=cache
        )
    return _BATCHES[assignment, backend]


def assert_same_verdict(entry: dict, ours: graders.Verdict, cpp: graders.Verdict) -> None:
    """Same status, same checks passed and the same points (to 1e-6), except on the checks
    the bank marks borderline (``null``: backends may decide them either way)."""
    assert cpp.backend == "cpp_standalone"
    assert ours.status == cpp.status == "graded", (ours.to_json(), cpp.to_json())
    borderline = {k for k, v in entry["expect"].items() if v is None}
    assert [c.name for c in ours.checks] == [c.name for c in cpp.checks]
    for mine, theirs in zip(ours.checks, cpp.checks, strict=True):
        if mine.name in borderline:
            continue
        assert mine.passed == theirs.passed, (mine.to_json(), theirs.to_json())
        assert mine.points == pytest.approx(theirs.points, rel=1e-6, abs=1e-9), (
            mine.to_json(),
            theirs.to_json(),
        )
    if not borderline:
        assert ours.score == pytest.approx(cpp.score, rel=1e-6, abs=1e-9)
    assert ours.max_score == cpp.max_score


@pytest.mark.slow
@pytest.mark.standalone
@pytest.mark.parametrize("backend", GENN_BACKENDS)
@pytest.mark.parametrize(("assignment", "path"), VALID, ids=[f"{a}-{p.stem}" for a, p in VALID])
def test_bank_verdict_equals_cpp_standalone(backend, assignment, path, shared_cache):
    batch = _batch_once(assignment, backend, shared_cache)
    entry = load(path)
    ours = graders.check(assignment, entry["spec"], backend, cache_dir=shared_cache)
    cpp = graders.check(assignment, entry["spec"], "cpp_standalone", cache_dir=shared_cache)
    assert ours.backend == backend, f"batch: {batch}"
    assert_same_verdict(entry, ours, cpp)


# --- a class, end to end ---------------------------------------------------------------------

A = "adaptive_threshold"
CLASS = {"alice": ("right", ""), "bob": ("partly", ""), "carol": ("wrong", "")}
HIDDEN = {"hidden_reduction", "hidden_jump", "hidden_decay", "hidden_rest", "hidden_agreement"}


def _grade_class(course: Path, backend: str, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, **{settings.CACHE_ENV: str(cache)})
    env.pop(settings.BACKEND_ENV, None)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = [sys.executable, "-m", "autograde", "grade", A, "--backend", backend, "--jobs", "2"]
    cmd += ["--timeout", "120", "--submission-timeout", "900"]
    if not _sandbox():
        cmd.append("--no-sandbox")
    return subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True, timeout=1800)


def _sandbox() -> bool:
    import shutil

    return shutil.which("bwrap") is not None


def _scores(course: Path) -> dict[str, dict[str, float]]:
    return gradebook_scores(course, A, HIDDEN)


@pytest.fixture(scope="module")
def cpp_class(tmp_path_factory):
    """The class graded on C++ standalone: the scores the GeNN backends must give."""
    base = tmp_path_factory.mktemp("cpp-class")
    course = demo.make_course(base / "course", REPO, A, CLASS)
    proc = _grade_class(course, "cpp_standalone", base / "cache")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return _scores(course)


@pytest.mark.slow
@pytest.mark.nbgrader
@pytest.mark.standalone
@pytest.mark.parametrize("backend", GENN_BACKENDS)
def test_class_graded_on_genn_scores_like_cpp_standalone(backend, cpp_class, tmp_path):
    course = demo.make_course(tmp_path / "course", REPO, A, CLASS)
    proc = _grade_class(course, backend, tmp_path / "cache")
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    assert f"backend: {backend}" in proc.stdout
    for student in CLASS:
        status = load_status(course, A, student)
        assert status.backend == backend, json.dumps(status.to_dict())[:2000]
    scores = _scores(course)
    assert scores == cpp_class
    assert sum(scores["alice"].values()) == 10
    assert sum(scores["carol"].values()) < 10
