"""Nothing a student's code does to its kernel fails a grading job.

A kernel that stops sending output, sends a message that cannot be read, or runs into the
process cap is graded with its reason, like the memory and time limits; what the cells before
handed over still counts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from banks import gradebook_scores
from nbclient.exceptions import DeadKernelError
from nbgrader.preprocessors import Execute

from autograde import demo
from autograde.course import load_status
from autograde.incidents import incidents
from autograde.preprocessors import SafeExecute
from autograde.preprocessors.common import META
from graders import settings

REPO = Path(__file__).resolve().parent.parent
A = "adaptive_threshold"
HIDDEN = ["hidden_reduction", "hidden_jump", "hidden_decay", "hidden_rest", "hidden_agreement"]


def test_a_message_that_cannot_be_read_ends_the_notebook_with_its_reason(monkeypatch, tmp_path):
    """nbclient's "Invalid Signature" (a message glued to half of another) is an incident."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in ("x = 1", "x = 2", "x = 3")]
    real = Execute.preprocess_cell

    def flaky(self, cell, resources, index):
        if index == 1:
            raise ValueError("Invalid Signature: b'1d01f50f'")
        return real(self, cell, resources, index)

    monkeypatch.setattr(Execute, "preprocess_cell", flaky)
    execute = SafeExecute(timeout=60)
    out, _ = execute.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert out.cells[0].execution_count == 1
    incident = out.metadata[META]["incident"]
    assert "could not be read" in incident
    assert out.cells[1].outputs[-1]["ename"] == "ValueError"
    assert out.cells[2].outputs[0]["ename"] == "NotExecuted"
    assert incident in out.cells[2].outputs[0]["evalue"]


def test_a_kernel_that_dies_before_numbering_its_cell_still_names_it(monkeypatch, tmp_path):
    """``os._exit`` may end the kernel before its IOPub thread sends the cell's number (on a
    loaded machine it often does): the cell still gets the number the kernel gave it, so the
    feedback says "The kernel died while In [2] ran", not "In [ ]"."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in ("x = 1", "import os", "x = 3")]
    real = Execute.preprocess_cell

    def dies_unnumbered(self, cell, resources, index):
        if index == 1:
            cell.outputs = []
            raise DeadKernelError("Kernel died")
        return real(self, cell, resources, index)

    monkeypatch.setattr(Execute, "preprocess_cell", dies_unnumbered)
    out, _ = SafeExecute(timeout=60).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert [c.execution_count for c in out.cells] == [1, 2, None]
    assert out.cells[1].outputs[-1]["ename"] == "DeadKernelError"
    (line,) = incidents(out)
    assert line.startswith("The kernel died while In [2] ran (out of memory"), line


@pytest.mark.nbgrader
@pytest.mark.slow
def test_process_cap_and_a_silent_output_thread_are_graded_not_failed(tmp_path):
    """300 processes: the cap refuses the rest and the hidden cells still hand the answer over
    (before, pyzmq's lazily started thread could not start and the job failed with "Invalid
    Signature"). A blocked output thread: the notebook ends there, graded 0 with the reason."""
    klass = {"paul": ("right", demo.PROCESS_HOG), "quinn": ("right", demo.OUTPUT_BLOCK)}
    course = demo.make_course(tmp_path / "course", REPO, A, klass)
    env = dict(os.environ, **{settings.BACKEND_ENV: "runtime"})
    env[settings.CACHE_ENV] = str(tmp_path / "cache")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = [sys.executable, "-m", "autograde", "grade", A, "--jobs", "2", "--timeout", "30"]
    cmd += ["--no-feedback"] + ([] if shutil.which("bwrap") else ["--no-sandbox"])
    proc = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = gradebook_scores(course, A, HIDDEN)
    assert sum(scores["paul"].values()) == 10, scores
    paul = load_status(course, A, "paul")
    assert paul.ok and any("process" in e for e in paul.events[A]), paul.events
    quinn = load_status(course, A, "quinn")
    assert quinn.ok, quinn.error
    assert "stopped sending" in quinn.incidents[A]
    assert sum(scores["quinn"].values()) == 0
    for cell in quinn.checks[A].values():
        assert cell["status"] == "not_run" and "stopped sending" in cell["message"]
    assert not subprocess.run(["pgrep", "-f", "sleep 600"], capture_output=True).stdout
