"""``python -m graders check`` and ``autograde backends`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from graders import settings
from graders.assignments.adaptive_threshold import REFERENCE


def run(*args, env=None, stdin=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=e, input=stdin, timeout=600
    )


def write(tmp_path, obj, name="spec.json"):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(p)


def test_valid_spec_prints_verdict_and_exits_0(tmp_path):
    out = run(
        "-m",
        "graders",
        "check",
        "adaptive_threshold",
        write(tmp_path, REFERENCE),
        "--backend",
        "runtime",
    )
    assert out.returncode == 0, out.stderr
    verdict = json.loads(out.stdout)
    assert verdict["assignment"] == "adaptive_threshold" and verdict["backend"] == "runtime"
    assert verdict["score"] == verdict["max_score"] > 0
    assert {"name", "points", "max_points", "message"} <= set(verdict["checks"][0])


def test_wrong_spec_is_graded_and_exits_0(tmp_path):
    wrong = dict(REFERENCE, reset="v = vr")
    out = run(
        "-m",
        "graders",
        "check",
        "adaptive_threshold",
        "-",
        "--backend",
        "runtime",
        stdin=json.dumps(wrong),
    )
    assert out.returncode == 0, out.stderr
    verdict = json.loads(out.stdout)
    assert verdict["score"] < verdict["max_score"]
    jump = next(c for c in verdict["checks"] if c["name"] == "jump")
    assert jump["points"] == 0 and "yours did not change at all" in jump["message"]


def test_invalid_spec_exits_2_with_json_error(tmp_path):
    out = run(
        "-m",
        "graders",
        "check",
        "adaptive_threshold",
        write(tmp_path, dict(REFERENCE, threshold="v >")),
        "--backend",
        "runtime",
    )
    assert out.returncode == 2
    err = json.loads(out.stdout)
    assert err["error"] == "invalid spec" and err["problems"][0]["field"] == "threshold"


def test_unit_error_found_by_brian_exits_2(tmp_path):
    bad = dict(REFERENCE, reset="v = vr\nvth += 5")
    out = run(
        "-m", "graders", "check", "adaptive_threshold", write(tmp_path, bad), "--backend", "runtime"
    )
    assert out.returncode == 2
    assert json.loads(out.stdout)["problems"][0]["kind"] == "units"


def test_bad_json_exits_2(tmp_path):
    out = run("-m", "graders", "check", "adaptive_threshold", write(tmp_path, "{'model': 1}"))
    assert out.returncode == 2
    assert "not valid JSON" in json.loads(out.stdout)["problems"][0]["message"]


def test_missing_file_exits_2(tmp_path):
    out = run("-m", "graders", "check", "adaptive_threshold", str(tmp_path / "nope.json"))
    (problem,) = json.loads(out.stdout)["problems"]  # the documented shape, as for any bad spec
    assert out.returncode == 2 and "cannot read" in problem["message"]


def test_runaway_is_graded_zero_with_the_reason(tmp_path):
    out = run(
        "-m",
        "graders",
        "check",
        "adaptive_threshold",
        write(tmp_path, REFERENCE),
        "--backend",
        "runtime",
        "--timeout",
        "1",
        "--no-cache",
    )
    assert out.returncode == 0
    verdict = json.loads(out.stdout)
    assert verdict["status"] == "timeout" and verdict["score"] == 0
    assert "did not finish" in verdict["checks"][0]["message"]


def test_forcing_absent_genn_exits_1_and_says_how_to_install(tmp_path):
    env = {"GENN_PATH": str(tmp_path / "no-genn")}
    out = run(
        "-m",
        "graders",
        "check",
        "adaptive_threshold",
        write(tmp_path, REFERENCE),
        "--backend",
        "genn-cpu",
        env=env,
    )
    assert out.returncode == 1
    assert "GENN_PATH" in json.loads(out.stdout)["message"]


def test_autograde_backends_lists_all_and_the_choice():
    out = run("-m", "autograde", "backends", env={settings.BACKEND_ENV: "runtime"})
    assert out.returncode == 0, out.stderr
    for name in ("genn", "genn-cpu", "cpp_standalone", "runtime"):
        assert name in out.stdout
    assert f"would use: runtime (forced by {settings.BACKEND_ENV})" in out.stdout


def test_grade_exits_3_when_a_chosen_submission_has_no_grade(tmp_path, monkeypatch, capsys):
    """``autograde grade``'s exit code comes from the statuses: 0 when every chosen submission
    was graded, 3 when one was not (here: no status file, as after a worker failure)."""
    from pathlib import Path

    from autograde import cli, demo, pipeline
    from autograde.jobs import StudentStatus

    a = "adaptive_threshold"
    repo = Path(__file__).resolve().parents[1]
    course = demo.make_course(tmp_path / "c", repo, a, {"ann": ("right", ""), "bo": ("wrong", "")})
    ann = StudentStatus("ann", a, ok=True, score=10.0, max_score=10.0, backend="runtime")
    statuses = [ann, StudentStatus.missing(a, "bo")]
    monkeypatch.setattr(pipeline, "grade_assignment", lambda *args, **kw: statuses)
    argv = ["grade", a, "--course", str(course), "--no-feedback", "--backend", "runtime"]
    assert cli.main(argv) == 3
    out = capsys.readouterr().out
    assert "bo" in out and "FAILED: no result yet" in out and "10.00/10" in out
    statuses[1] = StudentStatus("bo", a, ok=True, score=2.0, max_score=10.0)
    assert cli.main(argv) == 0
