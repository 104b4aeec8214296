"""The grading pipeline: trusted verdicts, limits, sandbox, parallel and resumable grading.

The end-to-end tests grade a small class through ``autograde grade`` on the runtime backend with
a private result cache; they take a few minutes on two cores.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nbformat.notebooknode import NotebookNode, from_dict

from autograde import demo, pipeline
from autograde.preprocessors import TrustedVerdicts, hidden_calls

REPO = Path(__file__).resolve().parent.parent
A = "adaptive_threshold"
HIDDEN = ["hidden_reduction", "hidden_jump", "hidden_decay", "hidden_rest", "hidden_agreement"]
POINTS = {"hidden_reduction": 2, "hidden_jump": 2, "hidden_decay": 2, "hidden_rest": 1}
POINTS["hidden_agreement"] = 3
SANDBOX = shutil.which("bwrap") is not None

# Reads what the sandbox must hide and reports it in the answer cell's output.
PROBE = (
    "\nimport os, graders\n"
    "_secret = [os.path.join(os.path.dirname(graders.__file__), 'assignments', "
    "'adaptive_threshold.py'), '../../../gradebook.db', '../../../source', "
    "'../../../submitted/alice']\n"
    "_seen = [p for p in _secret if os.path.exists(p)]\n"
    "print('SECRET-VISIBLE' if _seen else 'SANDBOX-OK', _seen)\n"
)

CLASS = {
    "alice": ("right", ""),
    "bob": ("partly", ""),
    "carol": ("wrong", ""),
    "erin": ("crashing", ""),
    "frank": ("right", demo.ENDLESS),
    "grace": ("wrong", demo.HOSTILE),
    "heidi": ("right", demo.MEMORY_BOMB),
    "mallory": ("right", PROBE),
}


def _env(cache: Path) -> dict:
    env = dict(os.environ, AUTOGRADE_BACKEND="runtime", AUTOGRADE_CACHE=str(cache))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _grade_cmd(*extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "autograde", "grade", A, "--timeout", "20"]
    cmd += ["--submission-timeout", "120", "--memory", "3000", *extra]
    return cmd if SANDBOX else cmd + ["--no-sandbox"]


def _scores(course: Path) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(pipeline.db_url(course)) as gb:
        for sub in gb.find_assignment(A).submissions:
            for nb in sub.notebooks:
                out[sub.student.id] = {g.name: g.auto_score for g in nb.grades if g.name in HIDDEN}
    return out


# --- fast: the pieces ------------------------------------------------------------------------


def test_hidden_calls_reads_only_literal_checks():
    src = 'from graders.notebook import hidden_check\nhidden_check("adaptive_threshold", "jump",'
    src += " model=model)\nhidden_check(name, 'x')\n"
    assert hidden_calls(src) == [("adaptive_threshold", "jump")]
    assert hidden_calls("this is not python (") == []


def _cell(gid: str, outputs: list) -> NotebookNode:
    return from_dict(
        {
            "cell_type": "code",
            "source": "",
            "execution_count": 3,
            "metadata": {
                "nbgrader": {
                    "grade": True,
                    "solution": False,
                    "grade_id": gid,
                    "points": 2,
                    "locked": True,
                }
            },
            "outputs": outputs,
        }
    )


def _stdout(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


@pytest.mark.slow
def test_trusted_verdict_ignores_forged_outputs(tmp_path, monkeypatch):
    """The kernel's own result (a forged 2.0) is replaced by the verdict on the handed-over spec."""
    from graders.notebook import spec_line

    monkeypatch.setenv("AUTOGRADE_BACKEND", "runtime")
    monkeypatch.setenv("AUTOGRADE_CACHE", str(tmp_path))
    wrong = {
        "model": "dv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
        "dvth/dt = (vth0 - vth)/tau_th : volt\nI : volt",
        "threshold": "v > vth0",
        "reset": "v = vr",
        "method": "euler",
    }
    forged = [
        _stdout(spec_line(A, "jump", wrong) + "\n"),
        # a spec for another check, printed by the student after the real one: ignored
        _stdout(spec_line(A, "rest", {"model": "x"}) + "\nvth rises by vth_inc\n"),
        {
            "output_type": "execute_result",
            "execution_count": 3,
            "metadata": {},
            "data": {"text/plain": "2.0"},
        },
    ]
    nb = from_dict(
        {
            "cells": [_cell("hidden_jump", forged), _cell("hidden_rest", [])],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )
    pp = TrustedVerdicts(checks={"hidden_jump": f"{A}:jump", "hidden_rest": f"{A}:rest"})
    nb, _ = pp.preprocess(nb, {"nbgrader": {}})
    jump, rest = nb.cells
    assert [o.output_type for o in jump.outputs] == ["error"]
    assert "vth" in jump.outputs[0].evalue
    assert rest.outputs[0].output_type == "error"
    assert "No answer was handed over" in rest.outputs[0].evalue
    assert nb.metadata["autograde"]["cells"]["hidden_jump"]["points"] == 0


# --- end to end ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """A class graded with --jobs 2 by a run that is killed half-way and then resumed."""
    base = tmp_path_factory.mktemp("pipeline")
    course = demo.make_course(base / "course", REPO, A, CLASS)
    env = _env(base / "cache")
    first = subprocess.Popen(
        _grade_cmd("--jobs", "2"),
        cwd=course,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    status = course / pipeline.STATUS_DIR / A
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.poll() is None:
        if status.is_dir() and len(list(status.glob("*.json"))) >= 2:
            break
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)  # a crash of the server mid-class
    first.wait()
    before = {p.stem: json.loads(p.read_text()) for p in status.glob("*.json")}
    second = subprocess.run(
        _grade_cmd("--jobs", "2"),
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    return {"course": course, "env": env, "before": before, "second": second, "base": base}


@pytest.mark.nbgrader
@pytest.mark.slow
def test_resume_after_kill_loses_nothing(graded_class):
    course, before = graded_class["course"], graded_class["before"]
    assert 2 <= len(before) < len(CLASS)
    assert graded_class["second"].returncode == 0, graded_class["second"].stderr[-3000:]
    for student, old in before.items():
        new = pipeline.load_status(course, A, student)
        assert new["graded_at"] == old["graded_at"], f"{student} was graded twice"
    assert set(_scores(course)) == set(CLASS)
    assert (course / "grades.csv").is_file()
    assert "pass rate per check" in graded_class["second"].stdout


@pytest.mark.nbgrader
@pytest.mark.slow
def test_scores_per_cell(graded_class):
    scores = _scores(graded_class["course"])
    assert scores["alice"] == {k: float(v) for k, v in POINTS.items()}
    # the tutorial's bug (vth decays with tau) costs the decay check
    assert scores["bob"]["hidden_decay"] == 0 and scores["bob"]["hidden_jump"] == 2
    assert scores["carol"]["hidden_jump"] == 0 and scores["carol"]["hidden_decay"] == 0
    assert sum(scores["carol"].values()) < 3


@pytest.mark.nbgrader
@pytest.mark.slow
def test_hostile_notebook_gains_nothing(graded_class):
    scores = _scores(graded_class["course"])
    honest = scores["carol"]  # the same wrong answer without tricks
    for gid, points in scores["grace"].items():
        assert points <= honest[gid]
    status = pipeline.load_status(graded_class["course"], A, "grace")
    assert all(c["status"] == "no_spec" for c in status["checks"][A].values())


@pytest.mark.nbgrader
@pytest.mark.slow
def test_endless_loop_memory_bomb_and_crash_are_scored_with_reason(graded_class):
    course = graded_class["course"]
    scores = _scores(course)
    # interrupted answer cells: the hidden cells still hand the (correct) spec over
    assert scores["frank"] == {k: float(v) for k, v in POINTS.items()}
    assert scores["heidi"] == {k: float(v) for k, v in POINTS.items()}
    # a kernel that dies gets zero on every hidden cell, with the reason
    assert all(v == 0 for v in scores["erin"].values())
    erin = pipeline.load_status(course, A, "erin")
    assert "kernel died" in erin["incidents"][A]
    for cell in erin["checks"][A].values():
        assert cell["status"] == "not_run" and "kernel died" in cell["message"]
    frank = json.loads((course / "autograded/frank" / A / f"{A}.ipynb").read_text())
    outs = json.dumps([c.get("outputs") for c in frank["cells"]])
    assert "KeyboardInterrupt" in outs or "CellTimeoutError" in outs
    heidi = json.loads((course / "autograded/heidi" / A / f"{A}.ipynb").read_text())
    assert "MemoryError" in json.dumps([c.get("outputs") for c in heidi["cells"]])


@pytest.mark.nbgrader
@pytest.mark.slow
@pytest.mark.skipif(not SANDBOX, reason="bubblewrap not installed")
def test_sandbox_hides_secrets(graded_class):
    course = graded_class["course"]
    nb = json.loads((course / "autograded/mallory" / A / f"{A}.ipynb").read_text())
    outs = json.dumps([c.get("outputs") for c in nb["cells"]])
    assert "SANDBOX-OK" in outs and "SECRET-VISIBLE" not in outs
    assert sum(_scores(course)["mallory"].values()) == 10


@pytest.mark.nbgrader
@pytest.mark.slow
def test_jobs_1_gives_the_same_scores(graded_class):
    base, env = graded_class["base"], graded_class["env"]
    some = {s: CLASS[s] for s in ("alice", "bob", "grace")}
    course = demo.make_course(base / "serial", REPO, A, some)
    proc = subprocess.run(
        _grade_cmd("--jobs", "1"),
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    parallel = _scores(graded_class["course"])
    assert _scores(course) == {s: parallel[s] for s in some}


def test_refuses_without_bubblewrap(tmp_path, monkeypatch):
    from autograde import kernel

    monkeypatch.setattr(kernel, "bwrap_path", lambda: None)
    course = demo.make_course(tmp_path / "c", REPO, A, {"alice": ("right", "")})
    with pytest.raises(RuntimeError, match="--no-sandbox"):
        pipeline.grade_assignment(course, A, export=False, progress=False)


def test_leaks_finds_solution_lines_in_a_release(tmp_path):
    import nbformat

    src = REPO / "source" / A / f"{A}.ipynb"
    nb = nbformat.read(REPO / "release" / A / f"{A}.ipynb", as_version=4)
    assert pipeline.leaks(src, REPO / "release" / A / f"{A}.ipynb") == []
    nb.cells[-1].source += "\nthreshold = 'v > vth'\nhidden_check('x', 'y')"
    nbformat.write(nb, tmp_path / "leaky.ipynb")
    found = pipeline.leaks(src, tmp_path / "leaky.ipynb")
    assert "threshold = 'v > vth'" in found and "hidden_check(" in found
