"""``autograde new-assignment``: the skeleton it writes is found by the registry, releases and
grades end to end as generated, and bad input gets a clear error.

Nothing is written into this checkout: every test works in a temporary copy of the repository's
files (``git ls-files``, or the tree without build folders where there is no git), which comes
first on ``PYTHONPATH`` for every process started (the nbgrader server, the student kernels in
their sandbox and the simulation workers in theirs all inherit ``PYTHONPATH``: see
``autograde.kernel.KERNEL_INHERITED`` and ``graders.simenv.SIMULATOR_INHERITED``). The generated
assignment exists only in that copy, so a right answer graded to full marks shows that the
simulation workers imported the copy; a student's answer cell that prints ``graders.__file__``
shows which copy the sandboxed kernel imported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from banks import gradebook_scores

from autograde import scaffold
from graders import settings
from graders.assignments import base

REPO = Path(__file__).resolve().parent.parent
NAME = "toy_rate"
SANDBOX = shutil.which("bwrap") is not None
SKIP = {".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", "build", "course"}


def copy_repo(dest: Path, only: tuple[str, ...] = ()) -> Path:
    """Copy the repository's tracked (and untracked, not ignored) files into ``dest``."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout.decode()
        files = [Path(f) for f in out.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):  # an export without git
        files = [
            p.relative_to(REPO)
            for p in REPO.rglob("*")
            if p.is_file() and not SKIP & set(p.relative_to(REPO).parts)
        ]
    for rel in files:
        if only and rel.parts[0] not in only:
            continue
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def env_for(repo: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(repo), *filter(None, [env.get("PYTHONPATH")])])
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def run(repo: Path, *args: str, timeout: float = 300, **extra: str):
    return subprocess.run(
        [sys.executable, *args],
        cwd=repo,
        env=env_for(repo, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_checkout_untouched() -> None:
    for path in (
        REPO / "source" / NAME,
        REPO / "release" / NAME,
        REPO / "graders/assignments" / NAME,
    ):
        assert not path.exists(), f"the test wrote {path} into the checkout"


# --- fast -------------------------------------------------------------------------------------


def test_registry_finds_a_package_dropped_in(tmp_path):
    """A new folder under graders/assignments is an assignment, with no edit anywhere else."""
    repo = copy_repo(tmp_path / "repo", only=("graders", "nbgrader_config.py"))
    files = scaffold.new_assignment(
        NAME, repo, assignments_dir=repo / "graders" / "assignments", title="A toy"
    )
    assert {f.name for f in files} == {
        "__init__.py",
        "answers.py",
        "cases.py",
        "checks.py",
        "faults.py",
        "network.py",
        "plots.py",
        f"{NAME}.ipynb",
    }
    code = (
        "import json, graders.assignments as A\n"
        "from graders.faults import diagnose\n"
        f"a = A.get({NAME!r})\n"
        "faults = {}\n"
        "for kind, src in a.answers.items():\n"
        "    ns = {}\n"
        "    exec(src, {}, ns)\n"
        "    faults[kind] = sorted(diagnose(a, ns))\n"
        "print(json.dumps({'names': A.names(), 'NAMES': list(A.NAMES), 'file': A.__file__,"
        " 'title': a.title, 'points': a.points, 'checks': sorted(a.checks),"
        " 'answers': sorted(a.answers), 'available': A.available(), 'faults': faults}))"
    )
    proc = run(repo, "-c", code, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["file"].startswith(str(repo))
    assert NAME in got["names"] and NAME in got["NAMES"] and NAME in got["available"]
    assert {"adaptive_threshold", "ei_balance"} <= set(got["names"])
    assert got["title"] == "A toy"
    assert got["points"] == {"rate": scaffold.POINTS} and got["checks"] == ["rate"]
    assert got["answers"] == ["partly", "right", "wrong"]
    # the generated faults diagnose the generated answers: each wrong one by its fault
    assert got["faults"] == {"right": [], "partly": ["tau_hard_coded"], "wrong": ["no_leak"]}
    assert_checkout_untouched()


def test_generated_notebook_follows_the_course_conventions(tmp_path):
    nb = scaffold.notebook(NAME, "A toy", scaffold.POINTS)
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells}
    answer = cells["answer"]
    assert answer.metadata["nbgrader"]["solution"] and not answer.metadata["nbgrader"]["locked"]
    assert "### BEGIN SOLUTION" in answer.source and "### END SOLUTION" in answer.source
    hidden = cells["hidden_rate"]
    meta = hidden.metadata["nbgrader"]
    assert meta["grade"] and meta["locked"] and meta["points"] == scaffold.POINTS
    assert f'hidden_check("{NAME}", "rate",' in hidden.source
    assert "### BEGIN HIDDEN TESTS" in hidden.source
    check = cells["selfcheck"].metadata["nbgrader"]
    assert check["grade"] and check["points"] == 0 and check["locked"]
    # visible cells never use the grader (students do not have it)
    for gid, cell in cells.items():
        if cell.cell_type == "code" and gid != "hidden_rate":
            assert "graders" not in cell.source, gid


@pytest.mark.parametrize(
    "name, says",
    [
        ("9lives", "invalid assignment name"),
        ("Bad-Name", "invalid assignment name"),
        ("class", "keyword"),
        ("base", "module of graders.assignments"),
        ("adaptive_threshold", "exists already"),
        ("x" * 41, "at most 40"),
    ],
)
def test_bad_names_are_refused_and_nothing_is_written(tmp_path, name, says):
    repo = copy_repo(tmp_path / "repo", only=("graders", "nbgrader_config.py", "source"))
    before = sorted(p for p in repo.rglob("*"))
    with pytest.raises(scaffold.ScaffoldError, match=says):
        scaffold.new_assignment(name, repo, assignments_dir=repo / "graders" / "assignments")
    assert sorted(p for p in repo.rglob("*")) == before


def test_a_course_folder_is_required(tmp_path):
    with pytest.raises(scaffold.ScaffoldError, match="nbgrader_config.py"):
        scaffold.new_assignment(NAME, tmp_path, assignments_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_installed_graders_is_not_written_to(tmp_path):
    site = tmp_path / "lib" / "site-packages" / "graders" / "assignments"
    site.mkdir(parents=True)
    (tmp_path / "nbgrader_config.py").write_text("")
    with pytest.raises(scaffold.ScaffoldError, match="editable"):
        scaffold.new_assignment(NAME, tmp_path, assignments_dir=site)
    assert list(site.iterdir()) == [] and not (tmp_path / "source").exists()


def test_register_refuses_a_check_without_points():
    a = base.Assignment(
        name="x", title="x", fields=(), required_variables={}, parameters={}, points={"a": 1}
    )
    with pytest.raises(ValueError, match="without a function: \\['a'\\]"):
        base.register(a)
    assert "x" not in base.REGISTRY


# --- end to end -------------------------------------------------------------------------------

# Appended to a right answer: reports, in the answer cell's output, which graders it imported.
WHERE = "\nimport graders\nprint('GRADERS-FROM', graders.__file__)\n"
CLASS = {
    "alice": ("right", ""),
    "bob": ("partly", ""),
    "carol": ("wrong", ""),
    "mallory": ("right", WHERE),
}


@pytest.mark.slow
@pytest.mark.nbgrader
def test_new_assignment_releases_and_grades_as_generated(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    proc = run(repo, "-m", "autograde", "new-assignment", NAME, "--course", str(repo))
    assert proc.returncode == 0, proc.stderr
    assert (repo / "source" / NAME / f"{NAME}.ipynb").is_file()
    assert (repo / "graders" / "assignments" / NAME / "__init__.py").is_file()
    # the generated code is lint-clean (the repository's own ruff settings)
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", f"graders/assignments/{NAME}"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    again = run(repo, "-m", "autograde", "new-assignment", NAME, "--course", str(repo))
    assert again.returncode == 1 and "exists already" in again.stderr

    # release: nbgrader generate_assignment, refusing leaks
    proc = run(repo, "-m", "autograde", "release", NAME, "--course", str(repo))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    released = nbformat.read(repo / "release" / NAME / f"{NAME}.ipynb", as_version=4)
    text = "\n".join(c.source for c in released.cells)
    assert "hidden_check" not in text and "BEGIN SOLUTION" not in text
    assert "dv/dt = (vr - v + I)/tau" not in text and "# YOUR CODE HERE" in text
    # the release checks every assignment of the course is held to (tests/test_release.py)
    proc = run(
        repo, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_release.py", "-k", NAME,
        "--basetemp", str(tmp_path / "release-tests"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout

    # a class made from the package's sample answers, graded by `autograde grade`
    course = tmp_path / "course"
    make = (
        "import json, sys\nfrom autograde import demo\n"
        "demo.make_course(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))"
    )
    proc = run(repo, "-c", make, str(course), str(repo), NAME, json.dumps(CLASS))
    assert proc.returncode == 0, proc.stderr
    cmd = ["-m", "autograde", "grade", NAME, "--course", str(course), "--jobs", "2"]
    cmd += ["--timeout", "120", "--submission-timeout", "600", "--memory", "3000"]
    cmd += [] if SANDBOX else ["--no-sandbox"]
    cache = str(tmp_path / "cache")
    proc = run(
        repo, *cmd, timeout=1500, **{settings.BACKEND_ENV: "runtime", settings.CACHE_ENV: cache}
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    scores = {
        s: sum(v.values()) for s, v in gradebook_scores(course, NAME, ["hidden_rate"]).items()
    }
    # The package exists only in the copy: full marks mean the workers simulated with it.
    assert scores["alice"] == scores["mallory"] == scaffold.POINTS, scores
    assert 0 < scores["bob"] < scaffold.POINTS, scores
    assert scores["carol"] < scaffold.POINTS, scores
    # the (sandboxed, where bwrap is installed) kernel imported graders from the copy
    nb = json.loads((course / "autograded/mallory" / NAME / f"{NAME}.ipynb").read_text())
    outs = json.dumps([c.get("outputs") for c in nb["cells"]])
    assert f"GRADERS-FROM {repo / 'graders' / '__init__.py'}" in outs, outs[-2000:]
    # feedback: the check's message and the package's plot
    page = (course / "feedback/alice" / NAME / f"{NAME}.html").read_text()
    assert "rate: 2 of 2 points" in page and "data:image/png;base64," in page
    # a partly right answer: told how many hidden inputs fail, never which; the page places the
    # failure in the case it plots and says what to change
    bob = (course / "feedback/bob" / NAME / f"{NAME}.html").read_text()
    assert re.search(r"of the hidden cases fails? this check", bob), bob[-3000:]
    assert "the case plotted below" in bob
    assert not re.search(r"hidden case \d", bob), "a message cites a hidden case"
    assert (course / "reports" / NAME / "summary.html").is_file()
    assert_checkout_untouched()
