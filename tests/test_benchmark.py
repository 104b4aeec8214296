"""The class benchmark runs end to end and writes its figures (small class, runtime backend)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import grade_class  # noqa: E402


def test_class_mix_has_every_kind():
    kinds = [kind for _s, kind, _b in grade_class.class_of("adaptive_threshold", 10)]
    assert kinds.count("right") >= 3 and "right_layout" in kinds and "right_variant" in kinds
    assert "wrong" in kinds and any(k in grade_class.BROKEN for k in kinds)


def test_baseline_source_builds_in_every_hidden_cell():
    nb = json.loads((REPO / "source/ei_balance/ei_balance.ipynb").read_text())
    base = grade_class.baseline_source(nb, "cpp_standalone")
    cells = ["".join(c["source"]) for c in base["cells"]]
    hidden = [c for c in cells if "BEGIN HIDDEN TESTS" in c]
    assert hidden and all("use_cache=False" in c for c in hidden)
    assert not any("hidden_check(" in c for c in cells)


@pytest.mark.slow
@pytest.mark.nbgrader
def test_benchmark_record(tmp_path):
    out = tmp_path / "bench.json"
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "grade_class.py"),
            "--backend",
            "runtime",
            "-n",
            "2",
            "--skip-baseline",
            "--assignments",
            "adaptive_threshold",
            "--jobs",
            "2",
            "--no-feedback",
            "--workdir",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rec = json.loads(out.read_text())
    assert rec["backend"] == "runtime" and rec["n"] == 2
    for phase in ("pipeline", "regrade"):
        for key in (
            "wall_s",
            "s_per_submission",
            "peak_rss_mb",
            "builds",
            "cache_hits",
            "submission_cache_hits",
        ):
            assert key in rec[phase], (phase, key)
    # a right and a wrong answer: two builds; the regrade builds nothing
    assert rec["pipeline"]["builds"] == 2
    regrade = rec["regrade"]
    assert regrade["builds"] == 0
    assert regrade["cache_hits"] + regrade["submission_cache_hits"] >= 2
    assert "baseline" not in rec
