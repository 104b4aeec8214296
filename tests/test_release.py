"""The committed student version (``release/``) is what nbgrader makes, and it leaks nothing.

Every assignment under ``source/`` is regenerated with ``nbgrader generate_assignment`` in a
temporary copy of the course and compared with ``release/``. Then every file under ``release/`` is
searched for what students must not see: solution lines, hidden-test bodies, the grader's
reference strings and the hidden cases' parameter values and structure.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from banks import hidden_patterns

from autograde import release
from autograde.release import find_leaks, region_lines, squash  # the release's leak checker

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source"
RELEASE = ROOT / "release"
ASSIGNMENTS = sorted(p.name for p in SOURCE.iterdir() if (p / f"{p.name}.ipynb").is_file())
# Assignments the grader knows; other source notebooks (e.g. an ungraded tutorial) need not
# have solutions or hidden tests, but what they have must not leak either.
GRADED = set(importlib.import_module("graders.assignments").NAMES)
# Notebooks with a grader (the tutorial has none: its checks are all visible).
GRADED_ASSIGNMENTS = [a for a in ASSIGNMENTS if a in GRADED]

pytestmark = pytest.mark.nbgrader


def nbgrader_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def release_texts(name: str) -> list[tuple[str, list[str]]]:
    """Each release file of ``name`` as (label, lines); notebooks cell by cell, raw text too."""
    return release.release_texts(RELEASE / name, ROOT)


def source_notebook(name: str):
    return nbformat.read(SOURCE / name / f"{name}.ipynb", as_version=4)


def grader_module(name: str):
    try:
        return importlib.import_module(f"graders.assignments.{name}")
    except ImportError:
        return None


# --- the release is what nbgrader generates --------------------------------------------------


def test_every_source_has_a_release():
    assert ASSIGNMENTS, "no source notebooks found"
    released = sorted(p.name for p in RELEASE.iterdir() if p.is_dir())
    assert released == ASSIGNMENTS


def _normalise(nb: dict) -> dict:
    """Notebook JSON without metadata that may vary between nbgrader runs (none so far)."""
    nb = json.loads(json.dumps(nb))
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("execution", None)
    return nb


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_is_regenerated_identically(name, tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(SOURCE / name, course / "source" / name)
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force"],
        cwd=course,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    made, committed = course / "release" / name, RELEASE / name
    made_files = sorted(p.relative_to(made) for p in made.rglob("*") if p.is_file())
    committed_files = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    assert made_files == committed_files
    regenerate = f"run `nbgrader generate_assignment {name} --force` and commit release/{name}"
    for rel in made_files:
        a, b = made / rel, committed / rel
        if rel.suffix == ".ipynb":
            ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
            assert _normalise(ja) == _normalise(jb), f"release/{name}/{rel} is stale: {regenerate}"
        else:
            assert a.read_bytes() == b.read_bytes(), f"release/{name}/{rel} is stale: {regenerate}"


# --- the source notebook is consistent with its grader ----------------------------------------


@pytest.mark.parametrize("name", GRADED_ASSIGNMENTS)
def test_hidden_cells_match_the_graders_checks(name):
    module = grader_module(name)
    assert module is not None and hasattr(module, "ASSIGNMENT"), f"no grader for {name}"
    points = module.ASSIGNMENT.points
    hidden = {}
    for cell in source_notebook(name).cells:
        meta = cell.metadata.get("nbgrader", {})
        if "BEGIN HIDDEN TESTS" not in cell.source:
            continue
        assert meta.get("grade") and meta.get("locked"), f"{meta.get('grade_id')} not graded+locked"
        body = region_lines(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
        call = re.search(r'hidden_check\(\s*"(\w+)",\s*"(\w+)"', "\n".join(body))
        assert call, f"{meta['grade_id']}: no hidden_check call"
        assert call.group(1) == name
        hidden[call.group(2)] = meta["points"]
        # the call is the cell's last expression, so nbgrader reads its value as the score
        code = "\n".join(line for line in body if not line.strip().startswith("#"))
        assert code.rstrip().endswith(")"), f"{meta['grade_id']}: hidden_check must come last"
    assert hidden == dict(points)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_visible_cells_do_not_use_the_grader(name):
    for cell in source_notebook(name).cells:
        if cell.cell_type != "code" or "BEGIN HIDDEN TESTS" in cell.source:
            continue
        assert "graders" not in cell.source, cell.metadata["nbgrader"]["grade_id"]


# --- nothing secret in release/ ----------------------------------------------------------------


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_has_no_outputs_and_no_grader_calls(name):
    for label, lines in release_texts(name):
        text = "\n".join(lines)
        for bad in ("hidden_check", "import graders", "from graders", "GRADERS-SPEC"):
            assert bad not in text, f"{bad!r} in {label}"
    for path in (RELEASE / name).rglob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            assert not cell.get("outputs"), f"{path}: a cell has outputs"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_has_no_solution_lines(name):
    secrets = []
    for cell in source_notebook(name).cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            secrets += region_lines(cell.source, "BEGIN SOLUTION", "END SOLUTION")
    if name in GRADED:
        assert secrets, "the source notebook has no solution region"
    assert find_leaks(secrets, release_texts(name)) == []


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_has_no_hidden_test_bodies(name):
    secrets = []
    for cell in source_notebook(name).cells:
        secrets += region_lines(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    if name in GRADED:
        assert secrets, "the source notebook has no hidden tests"
    assert find_leaks(secrets, release_texts(name)) == []


@pytest.mark.parametrize("name", GRADED_ASSIGNMENTS)
def test_release_has_no_reference_code(name):
    module = grader_module(name)
    reference = getattr(module, "REFERENCE", None)
    assert reference, f"graders.assignments.{name} has no REFERENCE"
    texts = release_texts(name)
    whole = squash("\n".join(line for _, lines in texts for line in lines))
    for field, code in reference.items():
        assert squash(code) not in whole, f"REFERENCE[{field!r}] appears in release/{name}"
        assert find_leaks(code.splitlines(), texts) == [], f"REFERENCE[{field!r}]"


@pytest.mark.parametrize("name", GRADED_ASSIGNMENTS)
def test_release_has_no_hidden_cases(name):
    module = grader_module(name)
    assert module is not None and getattr(module, "CASES", None), f"no CASES for {name}"
    patterns = hidden_patterns(module)
    assert len(patterns) > 1
    found = []
    for label, lines in release_texts(name):
        text = "\n".join(lines)
        found += [f"{what} in {label}" for what, pat in patterns if pat.search(text)]
    assert found == []


def test_leak_detector_finds_leaks():
    """The helpers above flag planted leaks (so a passing test means something)."""
    texts = [("x", ["model = '''", "dvth/dt = (vth0-vth)/tau_th : volt", "'''", "I : volt"])]
    assert find_leaks(["dvth/dt = (vth0 - vth)/tau_th : volt"], texts)
    assert find_leaks(["I : volt"], texts)
    assert not find_leaks(["I : volt"], [("x", ["keep `I : volt` as the input"])])
    assert not find_leaks(["'''", "# comment"], texts)
    module = grader_module("adaptive_threshold")
    patterns = hidden_patterns(module)
    leaked = "vth_inc = 2*mV\ndrives = [10, 19, 25, 40, 60]*mV\ncase['drives_mV']"
    hits = {what for what, pat in patterns if pat.search(leaked)}
    assert "vth_inc=2" in hits and any(h.startswith("drives_mV=") for h in hits)
    assert "key drives_mV" in hits
    harmless = (
        "tau = 20*ms\ntau_th = 200*ms\ndrives = np.array([15, 25, 40, 60])*mV\n"
        "the hidden tests use other inputs; params"
    )
    assert not [what for what, pat in patterns if pat.search(harmless)]
