"""Real ``nbgrader autograde`` runs on submitted notebooks, scored from the gradebook.

For each assignment a temporary course is made from ``nbgrader_config.py`` and ``source/``; the
released notebook is filled in a few ways (the solution, nothing, wrong answers) and submitted
as one student each; one ``nbgrader autograde`` call grades them all. The hidden cells grade in
the kernel through :mod:`graders` (the first hidden cell builds and runs the network; the other
cells of the same submission hit the result cache).

The backend is ``runtime`` unless ``NBGRADER_TEST_BACKEND`` names another (e.g. ``genn``).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from graders import settings

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]

BACKEND = os.environ.get("NBGRADER_TEST_BACKEND", "runtime")

# Answers for the answer cell (grade_id "answer"); None leaves the released stub in place.
ADAPTIVE = {
    "solution": "SOLUTION",
    "empty": None,
    # no adaptation: the threshold never rises
    "no_adaptation": (
        "method = 'euler'\n"
        "model = '''\n"
        "dv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
        "dvth/dt = (vth0 - vth)/tau_th : volt\n"
        "I : volt\n"
        "'''\n"
        "threshold = 'v > vth'\n"
        "reset = 'v = vr'\n"
    ),
    # the tutorial's bug: the threshold relaxes with the membrane's tau instead of tau_th
    "decays_with_tau": (
        "method = 'euler'\n"
        "model = '''\n"
        "dv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
        "dvth/dt = (vth0 - vth)/tau : volt\n"
        "I : volt\n"
        "'''\n"
        "threshold = 'v > vth'\n"
        "reset = '''\n"
        "v = vr\n"
        "vth += vth_inc\n"
        "'''\n"
    ),
    # numbers instead of parameter names: right for the visible values only
    "hard_coded": (
        "method = 'euler'\n"
        "model = '''\n"
        "dv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
        "dvth/dt = (-50*mV - vth)/(200*ms) : volt\n"
        "I : volt\n"
        "'''\n"
        "threshold = 'v > vth'\n"
        "reset = '''\n"
        "v = vr\n"
        "vth += 5*mV\n"
        "'''\n"
    ),
}


EI = {
    "solution": "SOLUTION",
    "empty": None,
    # the weights never learn: a frozen inhibitory synapse
    "no_learning": (
        "method = 'exact'\n"
        "model = '''\n"
        "w : 1\n"
        "dxpre/dt = -xpre/tau_stdp : 1 (event-driven)\n"
        "dxpost/dt = -xpost/tau_stdp : 1 (event-driven)\n"
        "'''\n"
        "on_pre = '''\n"
        "Ii_post -= w*mV\n"
        "xpre += 1\n"
        "'''\n"
        "on_post = 'xpost += 1'\n"
    ),
}


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    # nbgrader shells out to alembic, and the kernel must be this interpreter
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env[settings.BACKEND_ENV] = BACKEND
    env[settings.CACHE_ENV] = str(cache)
    env.pop(settings.TRUSTED_ENV, None)
    return env


def _nbgrader(args: list[str], course: Path, env: dict, timeout: float) -> tuple[str, float]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{log[-5000:]}"
    return log, seconds


def _source_answer(name: str) -> str:
    nb = nbformat.read(ROOT / "source" / name / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "answer":
            return cell.source
    raise AssertionError("the source notebook has no cell with grade_id 'answer'")


class Graded:
    """What one autograde run left behind: scores per student and cell, and the notebooks."""

    def __init__(self, course: Path, name: str, students, seconds: float, log: str):
        self.course, self.name, self.seconds, self.log = course, name, seconds, log
        self.cells: dict[str, dict[str, tuple[float, float]]] = {}
        self.total: dict[str, tuple[float, float]] = {}
        db = f"sqlite:///{course / 'gradebook.db'}"
        with Gradebook(db) as gb:
            for student in students:
                sub = gb.find_submission_notebook(name, name, student)
                self.total[student] = (sub.score, sub.max_score)
                self.cells[student] = {
                    g.name: (g.score, g.max_score) for g in sub.grades if g.cell_type == "code"
                }

    def notebook(self, student: str):
        path = self.course / "autograded" / student / self.name / f"{self.name}.ipynb"
        return nbformat.read(path, as_version=4)

    def outputs(self, student: str, grade_id: str) -> str:
        for cell in self.notebook(student).cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
                texts = []
                for out in cell.get("outputs", []):
                    if out.output_type == "stream":
                        texts.append(out.text)
                    elif out.output_type == "error":
                        texts.append(f"{out.ename}: {out.evalue}")
                    elif out.output_type == "execute_result":
                        texts.append(out.data.get("text/plain", ""))
                return "\n".join(texts)
        raise KeyError(grade_id)


def autograde(name: str, answers: dict[str, str | None], tmp: Path) -> Graded:
    """Generate ``name`` in a fresh course, submit ``answers`` and autograde them all."""
    course = tmp / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "source" / name, course / "source" / name)
    env = _env(tmp / "cache")
    _nbgrader(["generate_assignment", name, "--force"], course, env, 300)
    released = course / "release" / name / f"{name}.ipynb"
    solution = _source_answer(name)
    for student, answer in answers.items():
        nb = nbformat.read(released, as_version=4)
        if answer is not None:
            answer = solution if answer == "SOLUTION" else answer
            (cell,) = [c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] == "answer"]
            cell.source = answer
        folder = course / "submitted" / student / name
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{name}.ipynb")
    log, seconds = _nbgrader(["autograde", name, "--create", "--force"], course, env, 1800)
    return Graded(course, name, list(answers), seconds, log)


def _points(name: str) -> dict[str, float]:
    module = importlib.import_module(f"graders.assignments.{name}")
    return dict(module.ASSIGNMENT.points)


def _assert_full_marks(graded: Graded, student: str, points: dict[str, float]) -> None:
    score, max_score = graded.total[student]
    assert max_score == sum(points.values())
    for grade_id, (got, most) in graded.cells[student].items():
        assert got == most, f"{grade_id}: {got} of {most}\n{graded.outputs(student, grade_id)}"
    for cell in graded.notebook(student).cells:
        for out in cell.get("outputs", []):
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            assert out.output_type != "error", f"{gid}: {out.ename}: {out.evalue}"
            if out.output_type == "stream" and out.name == "stderr":
                # nbgrader scores a graded cell with any stderr output as zero
                assert not cell.metadata["nbgrader"].get("grade"), f"{gid}: {out.text}"
    assert score == max_score


def _assert_zero(graded: Graded, student: str) -> None:
    score, max_score = graded.total[student]
    assert max_score > 0
    assert score == 0, graded.cells[student]


# --- assignment 1 -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adaptive(tmp_path_factory):
    graded = autograde("adaptive_threshold", ADAPTIVE, tmp_path_factory.mktemp("adaptive"))
    print(f"\nnbgrader autograde: {len(ADAPTIVE)} notebooks, {BACKEND}, {graded.seconds:.1f} s")
    return graded


def test_adaptive_solution_gets_full_marks(adaptive):
    points = _points("adaptive_threshold")
    _assert_full_marks(adaptive, "solution", points)
    for check, most in points.items():
        assert adaptive.cells["solution"][f"hidden_{check}"] == (most, most)


def test_adaptive_empty_notebook_scores_zero(adaptive):
    _assert_zero(adaptive, "empty")
    assert "NotImplementedError" in adaptive.outputs("empty", "selfcheck_strings") or (
        "NameError" in adaptive.outputs("empty", "selfcheck_strings")
    )


def test_adaptive_without_adaptation_loses_points(adaptive):
    cells = adaptive.cells["no_adaptation"]
    # silent (below-threshold) neurons still count as right, hence some partial credit
    assert cells["hidden_reduction"][0] < cells["hidden_reduction"][1] / 2
    assert cells["hidden_jump"][0] == 0
    assert cells["hidden_decay"][0] == 0
    assert cells["hidden_agreement"][0] < cells["hidden_agreement"][1] / 2
    assert "vth" in adaptive.outputs("no_adaptation", "hidden_jump")
    assert adaptive.total["no_adaptation"][0] <= 3


def test_adaptive_tutorial_bug_loses_decay_and_agreement(adaptive):
    cells = adaptive.cells["decays_with_tau"]
    assert cells["hidden_decay"][0] == 0
    assert cells["hidden_agreement"][0] < cells["hidden_agreement"][1]
    assert cells["hidden_jump"] == (2, 2)  # the jump itself is right
    assert adaptive.total["decays_with_tau"][0] < adaptive.total["solution"][0]


def test_adaptive_hard_coded_values_lose_points_on_hidden_parameters(adaptive):
    cells = adaptive.cells["hard_coded"]
    assert cells["hidden_jump"][0] < cells["hidden_jump"][1]
    assert adaptive.total["hard_coded"][0] < adaptive.total["hard_coded"][1]


# --- assignment 2 -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ei(tmp_path_factory):
    graded = autograde("ei_balance", EI, tmp_path_factory.mktemp("ei"))
    print(f"\nnbgrader autograde: {len(EI)} notebooks, {BACKEND}, {graded.seconds:.1f} s")
    return graded


def test_ei_solution_gets_full_marks(ei):
    points = _points("ei_balance")
    _assert_full_marks(ei, "solution", points)
    for check, most in points.items():
        assert ei.cells["solution"][f"hidden_{check}"] == (most, most)


def test_ei_empty_notebook_scores_zero(ei):
    _assert_zero(ei, "empty")


def test_ei_without_learning_loses_points(ei):
    cells = ei.cells["no_learning"]
    for check in ("balance", "effect"):
        assert cells[f"hidden_{check}"][0] == 0, ei.outputs("no_learning", f"hidden_{check}")
    # lone spikes rightly leave w alone, hence some partial credit on the pairing protocols
    assert cells["hidden_rule"][0] < cells["hidden_rule"][1] / 2
    assert cells["hidden_untouched"] == (1, 1)
    assert ei.total["no_learning"][0] < ei.total["no_learning"][1] / 2
