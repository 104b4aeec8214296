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


def test_the_default_run_leaves_the_rest_to_the_full_run(tmp_path):
    out = tmp_path / "record.json"
    proc = subprocess.run(
        [*SCRIPT, "--rehearse", "--budget", "1", "--out", str(out), "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    rec = json.loads(out.read_text())
    assert not rec["full"] and proc.returncode == 1
    backend = rec["backend"]
    assert rec["steps"] == [
        "cold",
        "cold-ref",
        "banks",
        f"class {backend} on",
        "class cpp_standalone off",
    ]
    later = [r for r in rec["rows"] if "full run only" in r["result"]]
    assert [r["step"] for r in later] == [f"class {backend} off", "class cpp_standalone on"]
    assert all(r["ok"] for r in later)  # not meant to run: no failure; the budget's cuts are
    assert all(not r["ok"] for r in rec["rows"] if "raise --budget" in r["result"])


def test_the_default_run_fits_8_minutes_when_a_model_builds_in_54_s():
    """The README's figure: the plan of the default run on 16 cores against its budget."""
    bank_n = sum(map(len, gpu_check.bank_entries(None).values()))
    default = ("cold", "cold-ref", "banks", "class genn on", "class cpp_standalone off")

    def total(genn_s):
        build = dict(gpu_check.BUILD_S, genn=genn_s)
        est = gpu_check.estimates("genn", 16, 10, 16, bank_n, build)
        return sum(est[k] for k in default)

    assert total(54.0) <= 480 < total(60.0)
    assert total(gpu_check.BUILD_S["genn"]) > 480  # at the 100 s before the levers: cut
    full = gpu_check.estimates("genn", 16, 10, 16, bank_n, full=True)
    # the full run times the cold build with 3 levers off (manual off compiles twice) and
    # twice through ccache, besides its own
    assert full["cold"] == pytest.approx((gpu_check.BUILD_S["genn"] + 5) * 7)


def test_unknown_steps_are_refused(tmp_path):
    proc = subprocess.run(
        [*SCRIPT, "--rehearse", "--steps", "cold,warp", "--out", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "unknown steps warp" in proc.stderr


@pytest.mark.genn
@pytest.mark.slow
def test_rehearsal_of_the_levers_step(tmp_path):
    """The full run's cold step on genn-cpu: the build with every lever on, with parallel make
    off, and twice through a fresh ccache; every one grades the right answer 10/10."""
    out = tmp_path / "record.json"
    cmd = [*SCRIPT, "--rehearse", "--steps", "cold", "--budget", "0", "--out", str(out)]
    proc = subprocess.run(
        [*cmd, "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=1200
    )
    rec = json.loads(out.read_text())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ran = [r for r in rec["rows"] if not r.get("skipped")]
    assert [r["step"].split(", ", 1)[1] for r in ran] == [
        "every lever on",
        "make_jobs off",
        "through a fresh ccache (filling it)",
        "through it again, warm",
    ]
    assert all(r["ok"] and r["result"].startswith("10/10") for r in ran)
