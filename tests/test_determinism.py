"""One notebook, one grade: ``benchmarks/determinism.py`` on a small class finds no difference.

bob (partly right: partial credit on several checks) and heidi (right, then a loop that fills
the kernel's memory and keeps it) are graded on both assignments twice with ``--force`` and an
empty result cache: once with ``--jobs 2`` on an idle machine, once with ``--jobs 1`` while a
burner per core keeps every core busy. heidi's grade used to depend on where her last
allocation fell (10 or 0 on ei_balance).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graders import assignments

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.nbgrader
@pytest.mark.slow
def test_the_same_class_gets_the_same_grades_idle_and_busy(tmp_path):
    out = tmp_path / "record.json"
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = [sys.executable, str(REPO / "benchmarks" / "determinism.py"), "--runs", "2"]
    cmd += ["--students", "bob,heidi", "--backend", "runtime"]
    cmd += ["--workdir", str(tmp_path / "runs"), "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["differences"] == []
    first, second = record["runs"]
    assert (first["jobs"], first["busy"], second["jobs"], second["busy"]) == (2, False, 1, True)
    for name in assignments.names():
        heidi = first["grades"][name]["heidi"]
        full = dict(assignments.get(name).points)
        assert {c: p for c, (p, _s) in heidi.items()} == full, (name, heidi)
        bob = first["grades"][name]["bob"]
        assert 0 < sum(p for p, _s in bob.values()) < sum(full.values()), (name, bob)


def test_a_difference_is_reported_with_both_grades():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import determinism

    run = {"backend": "runtime", "jobs": 2, "busy": False}
    one = {**run, "grades": {"ei_balance": {"heidi": {"balance": [3.0, "graded"]}}}}
    two = {**run, "busy": True, "grades": {"ei_balance": {"heidi": {"balance": [0.0, "not_run"]}}}}
    (line,) = determinism.differences([one, two])
    assert line.startswith("heidi ei_balance: run 1 (runtime, --jobs 2, idle) balance 3 graded")
    assert line.endswith("run 2 (runtime, --jobs 2, busy) balance 0 not_run")
    assert determinism.differences([one, one]) == []
