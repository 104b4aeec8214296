"""Messages a user reads when something is wrong: units in volts, empty or unreadable spec
files, a course folder that is not one, ``--help`` in plain text, and ``autograde`` called by
its full path from a bare environment (as cron or systemd would)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from graders import assignments
from graders.spec import dry_run, readable_units, validate

REPO = Path(__file__).resolve().parent.parent
RIGHT = {
    "model": "dv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
    "dvth/dt = (vth0 - vth)/tau_th : volt\nI : volt\n",
    "threshold": "v > vth",
    "reset": "v = vr\nvth += vth_inc\n",
}


def _problem(**change):
    a = assignments.get("adaptive_threshold")
    spec, _ = validate(a, dict(RIGHT, **change))
    (p,) = dry_run(a, spec)
    return p


@pytest.mark.parametrize(
    "brian, ours",
    [
        ("metre ** 2 * kilogram * second ** -4 * amp ** -1", "volt / second"),
        ("(m^2 kg s^-3 A^-1)", "(volt)"),
        ("m^4 kg^2 s^-6 A^-2", "volt ** 2"),
        ("metre ** -2 * kilogram ** -1 * second ** 3 * amp ** 2", "amp / volt"),
        ("has unit s^-1 here", "has unit 1 / second here"),
    ],
)
def test_base_units_are_written_in_volts(brian, ours):
    assert readable_units(brian) == ours


@pytest.mark.parametrize("prose", ["a s A test", "kg m^3 s^-7", "second ** -1 * metre"])
def test_prose_and_unnamed_units_are_left_alone(prose):
    assert readable_units(prose) == prose


def test_unit_error_in_model_speaks_of_volt_per_second():
    p = _problem(model=RIGHT["model"].replace("(vr - v + I)/tau", "(vr - v + I)"))
    assert p.field == "model" and p.kind == "units"
    assert "volt / second" in p.message and "kilogram" not in p.message
    assert "divide by a time constant" in p.message


def test_unit_error_in_reset_gets_no_derivative_hint():
    p = _problem(reset="v = vr\nvth += 5\n")
    assert p.field == "reset" and p.kind == "units"
    assert "derivative" not in p.message and "time constant" not in p.message
    assert "vth_inc" in p.message and "volt" in p.message and "parameter's name" in p.message
    assert ".." not in p.message


def test_unit_error_in_reset_with_a_rate_names_it_in_volts():
    p = _problem(reset="v = vr\nvth += vth_inc/tau\n")
    assert "volt / second" in p.message and "kg" not in p.message


def _graders_check(tmp_path, path):
    return subprocess.run(
        [sys.executable, "-m", "graders", "check", "adaptive_threshold", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_empty_spec_file_says_it_is_empty_and_what_to_write(tmp_path):
    (tmp_path / "spec.json").write_text("\n")
    out = _graders_check(tmp_path, tmp_path / "spec.json")
    assert out.returncode == 2
    (p,) = json.loads(out.stdout)["problems"]
    assert "is empty" in p["message"] and '"threshold"' in p["message"]
    assert "Expecting value" not in p["message"]


def test_unreadable_spec_reports_a_problems_list(tmp_path):
    out = _graders_check(tmp_path, tmp_path / "missing.json")
    assert out.returncode == 2
    verdict = json.loads(out.stdout)
    assert verdict["error"] == "invalid spec" and "message" not in verdict
    (p,) = verdict["problems"]
    assert p["kind"] == "unreadable" and "No such file" in p["message"]


def _autograde(*args, env=None, cwd=None):
    exe = Path(sys.executable).parent / "autograde"
    if not exe.exists():
        pytest.skip(f"no console script {exe}: install the project (./dev setup)")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


def test_help_is_plain_text():
    out = _autograde("--help")
    assert out.returncode == 0
    assert "``" not in out.stdout and ":mod:" not in out.stdout


def test_missing_course_folder_is_named(tmp_path):
    out = _autograde("grade", "adaptive_threshold", "--course", str(tmp_path / "nope"))
    assert out.returncode == 2
    assert "does not exist" in out.stderr and "--course" in out.stderr


def test_unknown_assignment_lists_the_courses(tmp_path):
    shutil.copy(REPO / "nbgrader_config.py", tmp_path)
    (tmp_path / "source" / "ei_balance").mkdir(parents=True)
    out = _autograde("release", "adaptive_treshold", "--course", str(tmp_path))
    assert out.returncode == 2
    assert "no assignment 'adaptive_treshold'" in out.stderr and "ei_balance" in out.stderr


@pytest.mark.nbgrader
def test_full_path_from_a_bare_environment(tmp_path):
    """nbgrader runs `alembic` by name; only ./dev put .venv/bin on PATH before."""
    course = tmp_path / "course"
    (course / "submitted").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(
        REPO / "source" / "adaptive_threshold", course / "source" / "adaptive_threshold"
    )
    bare = {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/bin:/bin"}
    out = _autograde(
        "grade", "adaptive_threshold", "--course", str(course), "--backend", "runtime",
        env=bare, cwd="/",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "alembic" not in out.stderr
    assert (course / "gradebook.db").is_file()


def test_numbers_written_for_parameters_get_a_note_naming_the_parameter():
    a = assignments.get("adaptive_threshold")
    hard = {
        "model": RIGHT["model"].replace("/tau :", "/(20*ms) :"),
        "threshold": "v > -50*mV",
        "reset": "v = -70*mV\nvth += 5*mV\n",
    }
    _, notes = validate(a, hard)
    text = "\n".join(notes)
    for source, param in (("20 * ms", "tau"), ("-50 * mV", "vth0"), ("5 * mV", "vth_inc")):
        assert f"you wrote {source} where the task names the parameter '{param}'" in text
    assert len(notes) == 4  # vr too
    assert validate(a, RIGHT)[1] == []  # by name: no note


def test_a_bare_number_for_a_dimensionless_parameter_gets_a_note():
    e = assignments.get("ei_balance")
    spec = {
        "model": "w : 1\ndxpre/dt = -xpre/tau_stdp : 1 (event-driven)\n"
        "dxpost/dt = -xpost/tau_stdp : 1 (event-driven)\n",
        "on_pre": "Ii_post += -w*mV\nxpre += 1\nw += 0.2*xpost\n",
        "on_post": "xpost += 1\nw += eta*xpre\n",
    }
    _, notes = validate(e, spec)
    assert len(notes) == 1 and "'eta'" in notes[0] and "0.2" in notes[0]
