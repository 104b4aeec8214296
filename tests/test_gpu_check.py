"""``./dev gpu-check``: what it does without a GPU, its budget, and how it compares verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from graders import backends

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import gpu_check  # noqa: E402

SCRIPT = [sys.executable, str(REPO / "benchmarks" / "gpu_check.py")]


def test_without_a_gpu_it_says_so_and_runs_nothing(tmp_path):
    if {b.name: b for b in backends.detect()}["genn"].available:
        pytest.skip("a GPU backend is here: gpu-check would run for real")
    out = tmp_path / "record.json"
    proc = subprocess.run([*SCRIPT, "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == gpu_check.EXIT_NO_GPU == 3
    assert "nothing was run" in proc.stderr and "--rehearse" in proc.stderr
    assert not out.exists()


def test_steps_that_do_not_fit_the_budget_are_skipped_and_named(tmp_path):
    out = tmp_path / "record.json"
    proc = subprocess.run(
        [*SCRIPT, "--rehearse", "--budget", "1", "--out", str(out), "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # not everything ran
    rec = json.loads(out.read_text())
    assert rec["rehearsal"] and not rec["ok"]
    assert len(rec["rows"]) == 7 and all(r.get("skipped") for r in rec["rows"])
    assert "raise --budget" in rec["table"] and "SKIPPED" in proc.stdout


def test_bank_sample_takes_a_right_a_wrong_and_an_invalid_entry_first():
    sample = gpu_check.bank_entries(3)
    for paths in sample.values():
        assert [p.stem.split("_")[0] for p in paths] == ["right", "wrong", "invalid"]
    everything = gpu_check.bank_entries(None)
    assert sum(map(len, everything.values())) == len(list((REPO / "tests/bank").glob("*/*.json")))


def _v(status="graded", **checks):
    return {"status": status, "checks": {k: list(v) for k, v in checks.items()}}


def test_verdicts_are_the_same_only_when_every_check_agrees():
    a = _v(jump=(True, 2.0), decay=(False, 0.5))
    assert gpu_check._same(a, _v(jump=(True, 2.0), decay=(False, 0.5004)))
    assert not gpu_check._same(a, _v(jump=(True, 2.0), decay=(True, 0.5)))
    assert not gpu_check._same(a, _v(jump=(True, 2.0), decay=(False, 0.6)))
    assert not gpu_check._same(a, _v("crashed", jump=(True, 2.0), decay=(False, 0.5)))
    assert gpu_check._same({"invalid": ["model"]}, {"invalid": ["model"]})
    assert not gpu_check._same({"invalid": ["model"]}, a)


def test_class_scores_are_compared_with_cpp_standalone_without_shared_builds():
    ref = {"step": "class --batch off", "backend": "cpp_standalone", "wall_s": 1.0}
    ref["scores"] = {"a": {"s1": 10.0, "s2": 4.5, "s3": None}}
    same = {"step": "class --batch on", "backend": "genn", "wall_s": 1.0}
    same["scores"] = {"a": {"s1": 10.0, "s2": 4.5002, "s3": None}}
    other = {"step": "class --batch off", "backend": "genn", "wall_s": 1.0}
    other["scores"] = {"a": {"s1": 10.0, "s2": 5.2, "s3": None}}
    rows = [same, ref, other]
    gpu_check.compare_scores(rows)
    gpu_check.compare_scores(rows)  # idempotent: the record is rewritten after every step
    assert same["scores_equal"]["different"] == 0
    assert other["scores_equal"] == {"same": 2, "different": 1, "which": ["a/s2"]}
    text = gpu_check.table(rows)
    assert text.count("scores equal") == 2 and "(differ: a/s2)" in text


def test_the_plan_counts_nvcc_once_per_shared_model():
    est = gpu_check.estimates("genn", cores=16, n=20, jobs=16, bank_n=34)
    b = gpu_check.BUILD_S["genn"]
    # 10 distinct answers per assignment fit one model: one (larger) nvcc build each
    assert est["class genn on"] == pytest.approx(2 * (1.5 * b + 2 * 7.0 + 20.0))
    slow = gpu_check.estimates("genn", 16, 20, 16, 34, {"genn": 2 * b, "cpp_standalone": 13.0})
    assert slow["class genn off"] > est["class genn off"]
