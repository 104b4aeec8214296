"""A student's own machine: the released notebooks on the newest Brian2 the package index offers.

Students do not all use the course's pinned stack: on a laptop or Colab, ``pip install brian2``
gives the newest Brian2 with the newest numpy. This module plays such a student. It builds fresh
virtual environments from the package index, one per combination, and reuses each for the whole
module:

* ``newest``: ``pip install brian2 matplotlib ipykernel nbclient``, what a student gets without
  reading the instructions;
* ``requirements``: ``pip install -r requirements-student.txt ipykernel nbclient``, what the
  README tells students to install.

Inside each environment (never this one: the course's ``graders`` package is not there) it
executes every released notebook the way "Run All" does, stopping at the first error:

* filled in with the source's solution: every cell runs and every self-check passes;
* with one wrong answer: a self-check stops it with a message in words;
* as released (unfilled): nothing fails before the first answer cell.

Where a combination cannot run Brian2 at all (``requirements`` must), each of the three stops
instead at the first code cell with one message naming the fix, and nothing after it runs.

The first code cell of every notebook is the environment check; the fast tests at the top run it
on this interpreter (the course stack) and with faked versions. The slow tests are marked
``student_env``; they are skipped, with the reason, where the package index cannot be reached.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source"
RELEASE = ROOT / "release"
REQUIREMENTS = ROOT / "requirements-student.txt"
NOTEBOOKS = sorted(p.name for p in RELEASE.iterdir() if (p / f"{p.name}.ipynb").is_file())
STUDENT_PACKAGES = ["brian2", "matplotlib", "ipykernel", "nbclient"]
COMBINATIONS = {
    "newest": STUDENT_PACKAGES,
    "requirements": ["-r", str(REQUIREMENTS), "ipykernel", "nbclient"],
}
# Seconds: one notebook in the student's kernel (the tutorial takes 30-60 s on a busy machine).
NOTEBOOK_TIMEOUT = 900
INSTALL_TIMEOUT = 1200

# One wrong answer per notebook: (cell, solution line, wrong line, the self-check that must stop
# it, words its message must contain).
WRONG = {
    # the tutorial's bug: the threshold relaxes with the membrane's tau
    "adaptive_threshold": (
        "answer",
        "dvth/dt = (vth0 - vth)/tau_th : volt",
        "dvth/dt = (vth0 - vth)/tau : volt",
        "selfcheck_decay",
        ["vth should relax toward vth0 with time constant tau_th = 200 ms", "yours is 20 ms"],
    ),
    # a flipped sign: a post spike after a pre spike lowers w
    "ei_balance": (
        "answer",
        "w += eta*xpre",
        "w -= eta*xpre",
        "selfcheck_rule",
        [
            "pre 10 ms before post: w should rise by 0.1213 (within ",
            "yours fell by 0.1213  <- wrong",
            "pre 10 ms after post: w should rise by 0.1213 (within ",
            "yours rose by 0.1213\n",
        ],
    ),
    # exercise 1 with the default refractory period instead of 5 ms
    "tutorial": (
        "ex_neurons",
        "refractory=5*ms",
        "refractory=1*ms",
        "check_neurons",
        ["neuron 2 (I = 60 mV) fired", "Check the refractory period"],
    ),
}

# Executes one notebook in the student's environment like "Run All": it stops at the first
# error. Runs with that environment's Python; writes the executed notebook even after an error.
RUNNER = """\
import os, sys, time
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

src, dst = sys.argv[1], sys.argv[2]
nb = nbformat.read(src, as_version=4)
start = time.monotonic()
try:
    NotebookClient(nb, kernel_name='python3', timeout=int(sys.argv[3]),
                   resources={'metadata': {'path': os.path.dirname(dst)}}).execute()
except CellExecutionError:
    pass
nbformat.write(nb, dst)
print(f'{time.monotonic() - start:.1f}')
"""

# Appended to filled notebooks: shows which Python and which versions the kernel used.
PROBE = (
    "import json, sys, brian2, numpy\n"
    "print('STUDENT-STACK ' + json.dumps({'prefix': sys.prefix, 'brian2': brian2.__version__, "
    "'numpy': numpy.__version__}))"
)


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _notebook(folder: Path, name: str):
    return nbformat.read(folder / name / f"{name}.ipynb", as_version=4)


def _environment_cell(nb):
    return next(cell for cell in nb.cells if cell.cell_type == "code")


# --- the environment check, on this interpreter ----------------------------------------------


@pytest.mark.parametrize("folder", [SOURCE, RELEASE], ids=["source", "release"])
def test_every_notebook_starts_with_the_same_environment_check(folder):
    cells = {name: _environment_cell(_notebook(folder, name)) for name in NOTEBOOKS}
    assert len(cells) == 3
    for name, cell in cells.items():
        assert _meta(cell)["grade_id"] == "environment", name
        assert _meta(cell)["locked"] and not _meta(cell)["grade"], name
        assert "graders" not in cell.source
    assert len({cell.source for cell in cells.values()}) == 1, "the checks differ"


def _check_source() -> str:
    return _environment_cell(_notebook(SOURCE, NOTEBOOKS[0])).source


def test_environment_check_is_silent_on_the_course_stack():
    proc = subprocess.run(
        [sys.executable, "-c", _check_source()], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""


def _run_check(monkeypatch, versions: dict[str, str | None]) -> str | None:
    """Run the check with faked installed versions (None: missing); return its message."""
    real = importlib.metadata.version

    def fake(package):
        if package not in versions:
            return real(package)
        if versions[package] is None:
            raise importlib.metadata.PackageNotFoundError(package)
        return versions[package]

    monkeypatch.setattr(importlib.metadata, "version", fake)
    if versions.get("brian2", "") is None:
        monkeypatch.setitem(sys.modules, "brian2", None)  # import brian2 raises ImportError
    try:
        exec(_check_source(), {})
    except RuntimeError as error:
        return str(error)
    return None


def test_environment_check_names_the_fix_for_numpy_2_4_with_brian2_2_9(monkeypatch):
    message = _run_check(monkeypatch, {"numpy": "2.4.6", "brian2": "2.9.0"})
    assert message is not None
    first, fix = message.splitlines()
    assert first == "numpy 2.4.6 is too new for brian2 2.9.0."
    assert fix.startswith('Fix: run  %pip install "numpy<2.4"  in a cell, restart the kernel')
    assert _run_check(monkeypatch, {"numpy": "2.4.0rc1", "brian2": "2.8.0"}) == message.replace(
        "2.4.6", "2.4.0rc1"
    ).replace("2.9.0", "2.8.0")


def test_environment_check_lets_good_combinations_pass(monkeypatch):
    # a Brian2 release after 2.9.0 carries the fix (brian-team/brian2 PR #1705)
    assert _run_check(monkeypatch, {"numpy": "2.4.6", "brian2": "2.9.1"}) is None
    assert _run_check(monkeypatch, {"numpy": "2.3.5", "brian2": "2.9.0"}) is None
    assert _run_check(monkeypatch, {"numpy": "1.26.4", "brian2": "2.5.4"}) is None


def test_environment_check_says_what_to_install_without_brian2(monkeypatch):
    message = _run_check(monkeypatch, {"brian2": None})
    assert message is not None
    assert message.startswith("Brian2 cannot run here (ModuleNotFoundError")
    assert '%pip install --upgrade brian2 matplotlib "numpy<2.4"' in message


def test_student_requirements_cap_numpy_like_the_check():
    lines = [line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    reqs = [line for line in lines if line]
    assert "numpy<2.4" in reqs and "matplotlib" in reqs
    assert any(line.startswith("brian2") for line in reqs)
    assert not any(line.startswith("brian2genn") for line in reqs)  # pins brian2 < 2.6
    assert '"numpy<2.4"' in _check_source()


# --- the student's machine --------------------------------------------------------------------


def _index_reason() -> str | None:
    """None if pip can read the package index within a bounded time, else why not."""
    cmd = [sys.executable, "-m", "pip", "index", "versions", "brian2", "--timeout", "10"]
    cmd += ["--retries", "1", "--disable-pip-version-check"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        return "`pip index versions brian2` did not answer within 90 s"
    if proc.returncode != 0 or "brian2" not in proc.stdout:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"`pip index versions brian2` failed: {last[0]}"
    return None


@pytest.fixture(scope="module")
def package_index():
    reason = _index_reason()
    if reason:
        pytest.skip(
            f"STUDENT ENVIRONMENT NOT TESTED: the package index cannot be reached ({reason})"
        )


@dataclass
class Venv:
    """A student's virtual environment and what is installed in it."""

    name: str
    path: Path
    versions: dict
    brian2_imports: bool
    import_error: str

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def env(self, home: Path) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
        }
        env["PATH"] = str(self.path / "bin") + os.pathsep + env.get("PATH", "")
        env["MPLBACKEND"] = "Agg"
        # no kernelspec of the user's may replace this environment's own python3 kernel
        env["JUPYTER_DATA_DIR"] = str(home / "jupyter-data")
        env["JUPYTER_PATH"] = ""
        return env


@pytest.fixture(scope="module", params=list(COMBINATIONS))
def venv(request, package_index, tmp_path_factory):
    name = request.param
    path = tmp_path_factory.mktemp(f"student-{name}") / "venv"
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    pip = [str(path / "bin" / "python"), "-m", "pip", "install", "-q"]
    proc = subprocess.run(
        pip + ["--disable-pip-version-check", *COMBINATIONS[name]],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert proc.returncode == 0, f"pip install for {name} failed:\n{proc.stderr[-3000:]}"
    query = (
        "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
        "['brian2', 'numpy', 'matplotlib', 'ipykernel', 'nbclient', 'setuptools']}))"
    )
    versions = json.loads(
        subprocess.run(
            [str(path / "bin" / "python"), "-c", query], capture_output=True, text=True
        ).stdout
    )
    imports = subprocess.run(
        [str(path / "bin" / "python"), "-c", "import brian2"], capture_output=True, text=True
    )
    err = imports.stderr.strip().splitlines()[-1] if imports.returncode else ""
    print(f"\nstudent venv {name!r}: {versions}, built in {time.monotonic() - start:.0f} s")
    if err:
        print(f"  import brian2 fails there: {err}")
    return Venv(name, path, versions, imports.returncode == 0, err)


def _fill(name: str, replace: tuple[str, str, str] | None = None, probe: bool = True):
    """The release notebook with every answer cell taken from the source's solution."""
    release, source = _notebook(RELEASE, name), _notebook(SOURCE, name)
    solutions = {_meta(c)["grade_id"]: c.source for c in source.cells if _meta(c).get("solution")}
    for cell in release.cells:
        gid = _meta(cell).get("grade_id")
        if _meta(cell).get("solution"):
            lines = solutions[gid].splitlines()
            text = "\n".join(
                line for line in lines if "### BEGIN" not in line and "### END" not in line
            )
            if replace and replace[0] == gid:
                assert replace[1] in text, f"{name}: the solution no longer has {replace[1]!r}"
                text = text.replace(replace[1], replace[2])
            cell.source = text
    if probe:
        release.cells.append(nbformat.v4.new_code_cell(PROBE))
    return release


@dataclass
class Executed:
    nb: object
    seconds: float

    def first_error(self):
        """(grade_id, ename, evalue) of the first failing cell, or None."""
        for cell in self.nb.cells:
            for out in cell.get("outputs", []):
                if out.output_type == "error":
                    return _meta(cell).get("grade_id"), out.ename, out.evalue
        return None

    def text(self, grade_id: str | None = None) -> str:
        parts = []
        for cell in self.nb.cells:
            if cell.cell_type != "code" or (grade_id and _meta(cell).get("grade_id") != grade_id):
                continue
            for out in cell.get("outputs", []):
                if out.output_type == "stream":
                    parts.append(out.text)
                elif out.output_type == "error":
                    parts.append(f"{out.ename}: {out.evalue}\n")
        return "".join(parts)

    def unrun(self) -> list:
        return [
            _meta(c).get("grade_id")
            for c in self.nb.cells
            if c.cell_type == "code" and c.get("execution_count") is None
        ]


def _execute(venv: Venv, nb, tmp_path: Path, label: str) -> Executed:
    """Execute ``nb`` in a kernel of ``venv``'s Python, in a folder of its own, like Run All."""
    work = tmp_path / label
    work.mkdir()
    src, dst = work / "student.ipynb", work / "executed.ipynb"
    nbformat.write(nb, src)
    runner = work / "run_notebook.py"
    runner.write_text(RUNNER)
    proc = subprocess.run(
        [str(venv.python), str(runner), str(src), str(dst), str(NOTEBOOK_TIMEOUT)],
        cwd=work,
        env=venv.env(work),
        capture_output=True,
        text=True,
        timeout=NOTEBOOK_TIMEOUT + 120,
    )
    assert proc.returncode == 0, f"the runner failed:\n{proc.stderr[-3000:]}"
    seconds = float(proc.stdout.strip().splitlines()[-1])
    print(f"\n{venv.name}: {label} in {seconds:.1f} s")
    return Executed(nbformat.read(dst, as_version=4), seconds)


def _assert_stops_at_the_environment_check(venv: Venv, run: Executed):
    gid, ename, evalue = run.first_error() or (None, None, None)
    assert (gid, ename) == ("environment", "RuntimeError"), run.first_error()
    assert "Fix: run  %pip install" in evalue and "restart the kernel" in evalue
    numpy_v = tuple(int(p) for p in venv.versions["numpy"].split(".")[:2])
    brian2_v = tuple(int(p) for p in venv.versions["brian2"].split(".")[:3])
    if numpy_v >= (2, 4) and brian2_v <= (2, 9, 0):
        assert evalue.startswith(f"numpy {venv.versions['numpy']} is too new for brian2 ")
        assert '%pip install "numpy<2.4"' in evalue
    # "Run All" stops there: nothing after the check ran, so no chain of NameErrors
    executed = [c for c in run.nb.cells if c.cell_type == "code" and c.get("execution_count")]
    assert len(executed) == 1


@pytest.mark.slow
@pytest.mark.student_env
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_filled_notebook_runs_or_stops_with_the_fix(venv, name, tmp_path):
    run = _execute(venv, _fill(name), tmp_path, f"{name}-filled")
    if not venv.brian2_imports:
        assert venv.name != "requirements", f"the student requirements break Brian2: {venv}"
        _assert_stops_at_the_environment_check(venv, run)
        return
    assert run.first_error() is None, run.first_error()
    assert run.unrun() == []
    assert run.text("environment") == "", "the environment check must be silent on a good stack"
    stack = json.loads(run.text().split("STUDENT-STACK ")[1].splitlines()[0])
    assert Path(stack["prefix"]).resolve() == venv.path.resolve(), "the kernel ran elsewhere"
    assert (stack["brian2"], stack["numpy"]) == (venv.versions["brian2"], venv.versions["numpy"])
    if name == "tutorial":
        for cell in run.nb.cells:
            if _meta(cell).get("grade"):
                assert "Self-check passed" in run.text(_meta(cell)["grade_id"]), _meta(cell)
        text = run.text()
        if "brian2genn" not in venv.versions:
            assert "brian2genn is not installed, so every cell below runs" in text
            assert text.count("On GeNN it stops with:\n    NotImplementedError: ") == 6
            assert "Function drive is not available for use with GeNN." in text


@pytest.mark.slow
@pytest.mark.student_env
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_wrong_answer_is_stopped_by_a_self_check(venv, name, tmp_path):
    cell, right, wrong, check, words = WRONG[name]
    run = _execute(venv, _fill(name, (cell, right, wrong), probe=False), tmp_path, f"{name}-wrong")
    if not venv.brian2_imports:
        _assert_stops_at_the_environment_check(venv, run)
        return
    gid, ename, evalue = run.first_error() or (None, None, None)
    assert (gid, ename) == (check, "AssertionError"), run.first_error()
    for phrase in words:  # a phrase ending in a newline ends a line of the message
        assert phrase in evalue + "\n", f"{phrase!r} not in {evalue!r}"


@pytest.mark.slow
@pytest.mark.student_env
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_unfilled_notebook_runs_up_to_the_first_answer(venv, name, tmp_path):
    nb = _notebook(RELEASE, name)
    run = _execute(venv, nb, tmp_path, f"{name}-unfilled")
    if not venv.brian2_imports:
        _assert_stops_at_the_environment_check(venv, run)
        return
    first_answer = next(_meta(c)["grade_id"] for c in nb.cells if _meta(c).get("solution"))
    assert run.first_error() is not None
    gid, ename, _ = run.first_error()
    assert (gid, ename) == (first_answer, "NotImplementedError")
