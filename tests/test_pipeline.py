"""The grading pipeline: trusted verdicts, limits, sandbox, parallel and resumable grading.

The end-to-end tests grade a small class through ``autograde grade`` on the runtime backend with
a private result cache; they take a few minutes on two cores.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import time
from concurrent.futures import Executor, Future
from dataclasses import replace
from pathlib import Path

import pytest
from banks import SANDBOX, feedback_images, grade_cmd, grade_env, gradebook_scores, hidden_patterns
from nbformat.notebooknode import NotebookNode, from_dict

from autograde import demo, feedback, pipeline, release, report, worker
from autograde.course import STATUS_DIR, load_status
from autograde.jobs import StudentStatus, SubmissionResult
from autograde.options import GradeOptions
from autograde.preprocessors import TrustedVerdicts
from autograde.progress import ConsoleReporter
from autograde.release import find_leaks
from graders import settings
from graders.notebook import hidden_calls

REPO = Path(__file__).resolve().parent.parent
A = "adaptive_threshold"
HIDDEN = ["hidden_reduction", "hidden_jump", "hidden_decay", "hidden_rest", "hidden_agreement"]
POINTS = {"hidden_reduction": 2, "hidden_jump": 2, "hidden_decay": 2, "hidden_rest": 1}
POINTS["hidden_agreement"] = 3

# Reads what the sandbox must hide and reports it in the answer cell's output.
PROBE = (
    "\nimport os, graders\n"
    "_secret = [os.path.join(os.path.dirname(graders.__file__), 'assignments', "
    "'adaptive_threshold'), '../../../gradebook.db', '../../../source', "
    "'../../../submitted/alice']\n"
    "_seen = [p for p in _secret if os.path.exists(p)]\n"
    "print('SECRET-VISIBLE' if _seen else 'SANDBOX-OK', _seen)\n"
)

CLASS = {
    "alice": ("right", ""),
    "bob": ("partly", ""),
    "carol": ("wrong", ""),
    "erin": ("crashing", ""),
    "frank": ("right", demo.ENDLESS),
    "grace": ("wrong", demo.HOSTILE),
    "heidi": ("right", demo.MEMORY_BOMB),
    "mallory": ("right", PROBE),
}


def _env(cache: Path) -> dict:
    return grade_env(cache)


def _grade_cmd(*extra: str) -> list[str]:
    return grade_cmd(A, *extra)


def _scores(course: Path) -> dict[str, dict[str, float]]:
    return gradebook_scores(course, A, HIDDEN)


# --- fast: the pieces ------------------------------------------------------------------------


def test_hidden_calls_reads_only_literal_checks():
    src = 'from graders.notebook import hidden_check\nhidden_check("adaptive_threshold", "jump",'
    src += " model=model)\nhidden_check(name, 'x')\n"
    assert [(c.assignment, c.check) for c in hidden_calls(src)] == [("adaptive_threshold", "jump")]
    assert hidden_calls("this is not python (") == []


def _cell(gid: str, outputs: list) -> NotebookNode:
    return from_dict(
        {
            "cell_type": "code",
            "source": "",
            "execution_count": 3,
            "metadata": {
                "nbgrader": {
                    "grade": True,
                    "solution": False,
                    "grade_id": gid,
                    "points": 2,
                    "locked": True,
                }
            },
            "outputs": outputs,
        }
    )


def _stdout(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _error_out(ename: str, evalue: str) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": []}


@pytest.mark.parametrize(
    "answer, hidden, status, words",
    [
        # the released stub, untouched: the hidden cell then fails on a missing name
        (
            [_error_out("NotImplementedError", "")],
            [_error_out("NameError", "name 'model' is not defined")],
            "not_answered",
            "still raises NotImplementedError",
        ),
        # answered, but the hidden cell stopped on an error of its own
        ([], [_error_out("NameError", "name 'reset' is not defined")], "no_spec", "NameError"),
        # the hidden cell ran cleanly and printed no spec: hidden_check was replaced
        ([], [], "tampered", "replaced or bypassed"),
    ],
)
def test_why_a_hidden_cell_handed_nothing_over(answer, hidden, status, words):
    solution = _cell("answer", answer)
    solution.metadata.nbgrader.update(grade=False, solution=True)
    nb = from_dict(
        {
            "cells": [solution, _cell("hidden_jump", hidden)],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )
    pp = TrustedVerdicts(checks={"hidden_jump": f"{A}:jump"})
    nb, _ = pp.preprocess(nb, {"nbgrader": {}})
    cell = nb.metadata["autograde"]["cells"]["hidden_jump"]
    assert cell["status"] == status and words in cell["message"], cell
    assert (
        cell["points"] == 0
        and "No answer was handed over" in cell["message"]
        or (status == "not_answered")
    )


@pytest.mark.slow
def test_trusted_verdict_ignores_forged_outputs(tmp_path, monkeypatch):
    """The kernel's own result (a forged 2.0) is replaced by the verdict on the handed-over spec."""
    from graders.notebook import spec_line

    monkeypatch.setenv(settings.BACKEND_ENV, "runtime")
    monkeypatch.setenv(settings.CACHE_ENV, str(tmp_path))
    wrong = {
        "model": "dv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
        "dvth/dt = (vth0 - vth)/tau_th : volt\nI : volt",
        "threshold": "v > vth0",
        "reset": "v = vr",
        "method": "euler",
    }
    forged = [
        _stdout(spec_line(A, "jump", wrong) + "\n"),
        # a spec for another check, printed by the student after the real one: ignored
        _stdout(spec_line(A, "rest", {"model": "x"}) + "\nvth rises by vth_inc\n"),
        {
            "output_type": "execute_result",
            "execution_count": 3,
            "metadata": {},
            "data": {"text/plain": "2.0"},
        },
    ]
    nb = from_dict(
        {
            "cells": [_cell("hidden_jump", forged), _cell("hidden_rest", [])],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )
    pp = TrustedVerdicts(checks={"hidden_jump": f"{A}:jump", "hidden_rest": f"{A}:rest"})
    nb, _ = pp.preprocess(nb, {"nbgrader": {}})
    jump, rest = nb.cells
    assert [o.output_type for o in jump.outputs] == ["error"]
    assert "vth" in jump.outputs[0].evalue
    assert rest.outputs[0].output_type == "error"
    assert "No answer was handed over" in rest.outputs[0].evalue
    assert nb.metadata["autograde"]["cells"]["hidden_jump"]["points"] == 0


# --- end to end ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """A class graded with --jobs 2 by a run that is killed half-way and then resumed."""
    base = tmp_path_factory.mktemp("pipeline")
    course = demo.make_course(base / "course", REPO, A, CLASS)
    env = _env(base / "cache")
    first = subprocess.Popen(
        _grade_cmd("--jobs", "2"),
        cwd=course,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    status = course / STATUS_DIR / A
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.poll() is None:
        if status.is_dir() and len(list(status.glob("*.json"))) >= 2:
            break
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)  # a crash of the server mid-class
    first.wait()
    before = {p.stem: json.loads(p.read_text()) for p in status.glob("*.json")}
    second = subprocess.run(
        _grade_cmd("--jobs", "2"),
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    return {"course": course, "env": env, "before": before, "second": second, "base": base}


@pytest.mark.nbgrader
@pytest.mark.slow
def test_resume_after_kill_loses_nothing(graded_class):
    course, before = graded_class["course"], graded_class["before"]
    assert 2 <= len(before) < len(CLASS)
    assert graded_class["second"].returncode == 0, graded_class["second"].stderr[-3000:]
    for student, old in before.items():
        new = load_status(course, A, student)
        assert new.graded_at == old["graded_at"], f"{student} was graded twice"
    assert set(_scores(course)) == set(CLASS)
    rows = list(csv.DictReader((course / "grades.csv").open()))
    assert [r["student_id"] for r in rows] == sorted(CLASS)  # one row each, sorted
    for r in rows:  # rounded as the course configures (2 decimals by default)
        assert r[A] == "" or len(r[A].partition(".")[2]) <= 2
    results = course / "exports" / "gradescope" / A / "alice" / "results.json"
    assert json.loads(results.read_text())["score"] == sum(POINTS.values())
    assert "pass rate per check" in graded_class["second"].stdout


@pytest.mark.nbgrader
@pytest.mark.slow
def test_scores_per_cell(graded_class):
    scores = _scores(graded_class["course"])
    assert scores["alice"] == {k: float(v) for k, v in POINTS.items()}
    # the tutorial's bug (vth decays with tau) costs the decay check
    assert scores["bob"]["hidden_decay"] == 0 and scores["bob"]["hidden_jump"] == 2
    assert scores["carol"]["hidden_jump"] == 0 and scores["carol"]["hidden_decay"] == 0
    assert sum(scores["carol"].values()) < 3


@pytest.mark.nbgrader
@pytest.mark.slow
def test_hostile_notebook_gains_nothing(graded_class):
    scores = _scores(graded_class["course"])
    honest = scores["carol"]  # the same wrong answer without tricks
    for gid, points in scores["grace"].items():
        assert points <= honest[gid]
    status = load_status(graded_class["course"], A, "grace")
    assert all(c["status"] == "tampered" for c in status.checks[A].values())


@pytest.mark.nbgrader
@pytest.mark.slow
def test_endless_loop_memory_bomb_and_crash_are_scored_with_reason(graded_class):
    course = graded_class["course"]
    scores = _scores(course)
    # interrupted answer cells: the hidden cells still hand the (correct) spec over
    assert scores["frank"] == {k: float(v) for k, v in POINTS.items()}
    assert scores["heidi"] == {k: float(v) for k, v in POINTS.items()}
    # a kernel that dies gets zero on every hidden cell, with the reason
    assert all(v == 0 for v in scores["erin"].values())
    erin = load_status(course, A, "erin")
    assert "kernel died" in erin.incidents[A]
    for cell in erin.checks[A].values():
        assert cell["status"] == "not_run" and "kernel died" in cell["message"]
    frank = json.loads((course / "autograded/frank" / A / f"{A}.ipynb").read_text())
    outs = json.dumps([c.get("outputs") for c in frank["cells"]])
    assert "KeyboardInterrupt" in outs or "CellTimeoutError" in outs
    heidi = json.loads((course / "autograded/heidi" / A / f"{A}.ipynb").read_text())
    assert "MemoryError" in json.dumps([c.get("outputs") for c in heidi["cells"]])
    # the report's notes name what happened, though both earned full marks
    events = load_status(course, A, "frank").events[A]
    assert any("cell time limit" in e for e in events), events
    events = load_status(course, A, "heidi").events[A]
    assert any("MemoryError" in e for e in events), events


@pytest.mark.nbgrader
@pytest.mark.slow
def test_autograded_and_feedback_hold_the_notebooks_and_pages_only(graded_class):
    """The kernel's home (IPython's history of every cell run, hidden cells included, and
    fontconfig's cache) lives outside the submission's folder, which becomes the feedback."""
    course = graded_class["course"]
    for top in ("autograded", "feedback"):
        files = [p.relative_to(course / top) for p in (course / top).rglob("*") if p.is_file()]
        assert files, top
        kept = (".ipynb", ".html", ".png")
        odd = [str(f) for f in files if f.name != "timestamp.txt" and f.suffix not in kept]
        assert not odd, f"{top}/ holds {odd[:5]}"


@pytest.mark.nbgrader
@pytest.mark.slow
@pytest.mark.skipif(not SANDBOX, reason="bubblewrap not installed")
def test_sandbox_hides_secrets(graded_class):
    course = graded_class["course"]
    nb = json.loads((course / "autograded/mallory" / A / f"{A}.ipynb").read_text())
    outs = json.dumps([c.get("outputs") for c in nb["cells"]])
    assert "SANDBOX-OK" in outs and "SECRET-VISIBLE" not in outs
    assert sum(_scores(course)["mallory"].values()) == 10


@pytest.mark.nbgrader
@pytest.mark.slow
def test_jobs_1_gives_the_same_scores(graded_class):
    base, env = graded_class["base"], graded_class["env"]
    some = {s: CLASS[s] for s in ("alice", "bob", "grace")}
    course = demo.make_course(base / "serial", REPO, A, some)
    proc = subprocess.run(
        _grade_cmd("--jobs", "1"),
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    parallel = _scores(graded_class["course"])
    assert _scores(course) == {s: parallel[s] for s in some}


def test_refuses_without_bubblewrap(tmp_path, monkeypatch):
    from graders import sandbox

    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    course = demo.make_course(tmp_path / "c", REPO, A, {"alice": ("right", "")})
    with pytest.raises(RuntimeError, match="--no-sandbox"):
        pipeline.grade_assignment(course, A, export=False)


class _Recording:
    """A reporter that keeps what it was told."""

    def __init__(self):
        self.calls = []

    def note(self, line):
        self.calls.append(("note", line))

    def started(self, total):
        self.calls.append(("started", total))

    def graded(self, result):
        self.calls.append(("graded", result.student, result.ok))

    def summary(self, line):
        self.calls.append(("summary", line))


class _DeadWorkers(Executor):
    """An executor whose every job fails as a dead worker's would."""

    def submit(self, fn, /, *args, **kwargs):
        future = Future()
        future.set_exception(RuntimeError("no worker here"))
        return future


def test_progress_goes_to_the_reporter_the_caller_passes(tmp_path, monkeypatch, capsys):
    from graders import sandbox

    monkeypatch.setattr(sandbox, "check", lambda: None)
    course = demo.make_course(tmp_path / "c", REPO, A, {"ann": ("right", ""), "bo": ("wrong", "")})
    rec = _Recording()
    got = pipeline.grade_assignment(course, A, executor=_DeadWorkers(), export=False, reporter=rec)
    assert rec.calls[0] == ("started", 2)
    assert sorted(rec.calls[1:]) == [("graded", "ann", False), ("graded", "bo", False)]
    assert [s.error for s in got] == ["worker failed: no worker here"] * 2
    assert capsys.readouterr() == ("", "")  # nothing straight to the console
    # a failed submission is graded again on the next run
    rec.calls.clear()
    pipeline.grade_assignment(course, A, executor=_DeadWorkers(), export=False, reporter=rec)
    assert [c[0] for c in rec.calls] == ["started", "graded", "graded"]  # failed ones again


def test_the_console_reporter_prints_the_bar_and_the_lines():
    stream = io.StringIO()
    con = ConsoleReporter(stream)
    con.note("GPUs: 0 (H100)")
    con.started(2)
    con.graded(SubmissionResult("ann", A, ok=True))
    con.graded(SubmissionResult("bo", A, ok=False))
    con.summary("batch builds: none")
    text = stream.getvalue()
    assert text.startswith("GPUs: 0 (H100)\n\r[###############---------------] 1/2 ")
    assert "ann: ok" in text and "\r[##############################] 2/2 " in text
    assert "bo: FAILED" in text and text.endswith("\nbatch builds: none\n")


def test_leaks_finds_solution_lines_in_a_release(tmp_path):
    import nbformat

    src = REPO / "source" / A / f"{A}.ipynb"
    nb = nbformat.read(REPO / "release" / A / f"{A}.ipynb", as_version=4)
    assert release.leaks(src, REPO / "release" / A / f"{A}.ipynb") == []
    nb.cells[-1].source += "\nthreshold = 'v > vth'\nhidden_check('x', 'y')"
    nbformat.write(nb, tmp_path / "leaky.ipynb")
    found = release.leaks(src, tmp_path / "leaky.ipynb")
    assert "threshold = 'v > vth'" in found and "hidden_check(" in found


# --- course configuration ----------------------------------------------------------------------


def _load_config(path: Path):
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


def test_course_config_uses_the_trusted_chain():
    """A plain ``nbgrader autograde`` in the course runs SafeExecute and TrustedVerdicts."""
    cfg = _load_config(REPO / "nbgrader_config.py")
    assert list(cfg.Autograde.autograde_preprocessors) == list(settings.PREPROCESSORS)
    # a plain `nbgrader generate_feedback` makes the offline page too
    assert list(cfg.GenerateFeedback.preprocessors) == list(settings.FEEDBACK_PREPROCESSORS)
    assert cfg.GenerateFeedback.exporter_class == settings.FEEDBACK_EXPORTER
    assert cfg.OverwriteCells.add_missing_cells is True
    verdicts = TrustedVerdicts(config=cfg)
    assert verdicts.backend == ""  # auto: the backend variable or the best installed
    assert verdicts.use_cache is False  # no sandbox in a plain run


def test_worker_config_repeats_the_course_chain(tmp_path):
    for sandbox in (True, False):
        opts = GradeOptions.from_settings(backend="runtime", cache_dir=str(tmp_path))
        opts = replace(opts, sandbox=sandbox)
        cfg = worker.worker_config(opts, tmp_path / "root", tmp_path / "rt")
        assert cfg["Autograde.autograde_preprocessors"] == list(settings.PREPROCESSORS)
        assert cfg["OverwriteCells.add_missing_cells"] is True
        assert cfg["TrustedVerdicts.backend"] == "runtime"
        # an unsandboxed kernel could have planted results in the cache: it is not used
        assert cfg["TrustedVerdicts.use_cache"] is sandbox


def test_backend_is_forced_by_nbgrader_config(tmp_path, monkeypatch):
    """``c.TrustedVerdicts.backend`` reaches graders.check (issue 2: CLI, env and config)."""
    import graders
    from graders.notebook import spec_line
    from graders.results import CheckResult, Verdict

    text = (REPO / "nbgrader_config.py").read_text()
    (tmp_path / "nbgrader_config.py").write_text(text + '\nc.TrustedVerdicts.backend = "genn"\n')
    seen = {}

    def fake_check(assignment, spec, backend=None, **kw):
        seen.update(kw, backend=backend)
        return Verdict(assignment, backend, [CheckResult("jump", 2, 1.0, "fine")])

    monkeypatch.setattr(graders, "check", fake_check)
    spec = {"model": "x", "threshold": "y", "reset": "z"}
    nb = from_dict(
        {
            "cells": [_cell("hidden_jump", [_stdout(spec_line(A, "jump", spec) + "\n")])],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )
    cfg = _load_config(tmp_path / "nbgrader_config.py")
    pp = TrustedVerdicts(config=cfg, checks={"hidden_jump": f"{A}:jump"})
    nb, _ = pp.preprocess(nb, {"nbgrader": {}})
    assert seen["backend"] == "genn" and seen["use_cache"] is False
    assert nb.metadata["autograde"]["backend"] == "genn"
    assert nb.metadata["autograde"]["cells"]["hidden_jump"]["points"] == 2


# --- feedback and class summary ----------------------------------------------------------------


def _text_only(page: str) -> str:
    """A page without its embedded images (base64 can spell anything)."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,", page)


def _assert_nothing_hidden(page: str, assignment: str) -> None:
    import importlib

    module = importlib.import_module(f"graders.assignments.{assignment}")
    text = _text_only(page)
    assert [what for what, pat in hidden_patterns(module) if pat.search(text)] == []
    # (not "GRADERS-SPEC": a student may print that marker in their own cells)
    for bad in ("hidden_check(", "BEGIN HIDDEN TESTS", "BEGIN SOLUTION"):
        assert bad not in text
    # the plots' block quotes no reference code (the student's own answer may, elsewhere)
    block = text[text.find(feedback.BEGIN) : text.find(feedback.END)]
    for code in module.REFERENCE.values():
        assert find_leaks(code.splitlines(), [("block", block.splitlines())]) == []


_images = feedback_images


@pytest.mark.nbgrader
@pytest.mark.slow
def test_feedback_has_a_plot_per_check_and_no_hidden_cases(graded_class):
    course = graded_class["course"]
    page = (course / "feedback" / "alice" / A / f"{A}.html").read_text()
    assert _images(page) == ["reduction", "jump", "decay", "rest", "agreement"]
    _assert_nothing_hidden(page, A)
    # a notebook that handed nothing over gets its messages, and says why there is no plot
    page = (course / "feedback" / "grace" / A / f"{A}.html").read_text()
    assert _images(page) == [] and "handed no answer over" in page
    _assert_nothing_hidden(page, A)
    # a kernel that died: the reason is in the feedback, once, on top, naming the cell as the
    # page numbers it ("In [n]"), never by its index
    page = (course / "feedback" / "erin" / A / f"{A}.html").read_text()
    assert "kernel died" in page
    top = page[: page.index("While your notebook was graded")]
    assert "<body" in top and "autograde-feedback:begin" not in top
    assert re.search(r"The kernel died while In \[\d+\]", page) and "code cell" not in page
    # frank's endless loop and heidi's MemoryError: a banner each, with the cell's number
    page = (course / "feedback" / "frank" / A / f"{A}.html").read_text()
    assert re.search(r"In \[\d+\][^<]* ran past the cell time limit", page)
    page = (course / "feedback" / "heidi" / A / f"{A}.html").read_text()
    assert re.search(r"In \[\d+\][^<]* raised MemoryError", page)
    # and the class report lists the three under what needs attention
    data = json.loads((course / "reports" / A / "summary.json").read_text())
    needs = {(n["student"], n["kind"]) for n in data["needs_attention"]}
    assert {("erin", "kernel died"), ("frank", "time limit"), ("heidi", "memory limit")} <= needs


@pytest.mark.slow
def test_ei_balance_feedback_plots(tmp_path):
    """Every check of ei_balance gets a plot on its feedback case (runtime backend)."""
    from graders.assignments import ei_balance

    spec = dict(ei_balance.REFERENCE, method="exact")
    cells = {
        f"hidden_{c}": {"check": c, "points": p, "max_points": p, "message": "ok", "spec": spec}
        for c, p in ei_balance.ASSIGNMENT.points.items()
    }
    plots = feedback.make_plots("ei_balance", cells, "runtime", cache_dir=tmp_path)
    assert plots["note"] == "" and set(plots["plots"]) == set(ei_balance.ASSIGNMENT.points)
    page = feedback.insert(
        "<html><body>x</body></html>", feedback.section("ei_balance", cells, plots)
    )
    assert _images(page) == list(ei_balance.ASSIGNMENT.points)
    _assert_nothing_hidden(page, "ei_balance")
    # the feedback case is none of the hidden cases
    assert not set(map(json.dumps, ei_balance.ASSIGNMENT.feedback_cases())) & set(
        map(json.dumps, ei_balance.ASSIGNMENT.cases())
    )


def test_feedback_cases_are_not_hidden_cases():
    from graders.assignments import get, names

    for name in names():
        a = get(name)
        hidden = [json.dumps(c, sort_keys=True) for c in a.cases()]
        for case in a.feedback_cases():
            assert json.dumps(case, sort_keys=True) not in hidden
            assert {k: v[0] for k, v in case["params"].items()} == {
                k: v[0] for k, v in a.parameters.items()
            }, "a feedback case uses the task's parameters only"


def test_class_report(tmp_path):
    rec = {"check": "jump", "points": 2, "max_points": 2, "status": "graded", "message": ""}
    statuses = [
        StudentStatus("a", A, ok=True, score=10, max_score=10, backend="runtime",
                      seconds=3.0, checks={A: {"hidden_jump": rec}}),
        StudentStatus("b", A, ok=True, score=4, max_score=10, backend="runtime",
                      seconds=5.0, checks={A: {"hidden_jump": dict(rec, points=0)}}),
        StudentStatus("c", A, ok=False, error="nbgrader autograde failed:\nboom"),
    ]  # fmt: skip
    assert report.pass_rates(statuses) == {"jump": (1, 2)}
    path = report.write(tmp_path, A, statuses, wall_s=12.0)
    assert path == tmp_path / "reports" / A / "summary.html"
    page = path.read_text()
    assert page.count("<img") == 1 and "data:image/png;base64," in page
    for text in ("1/2 (50%)", "nbgrader autograde failed", "runtime", "mean 4.0 s"):
        assert text in page


@pytest.mark.nbgrader
@pytest.mark.slow
def test_grade_writes_the_class_summary(graded_class):
    course = graded_class["course"]
    page = (course / "reports" / A / "summary.html").read_text()
    assert "<img" in page and "pass rate per check" in page.lower()
    for student in CLASS:
        assert f">{student}</" in page
    assert (
        f"class summary: {course / 'reports' / A / 'summary.html'}" in graded_class["second"].stdout
    )


@pytest.mark.nbgrader
@pytest.mark.slow
def test_shared_build_gives_the_same_scores_with_one_build(graded_class, tmp_path):
    """--batch on: the class's answers, read from the notebooks, build together before grading;
    every grader then finds its answer in the cache (no build of its own), scores unchanged."""
    base = graded_class["base"]
    some = {s: CLASS[s] for s in ("alice", "bob", "carol", "grace")}
    course = demo.make_course(base / "shared", REPO, A, some)
    stats = tmp_path / "stats.jsonl"
    env = dict(_env(tmp_path / "fresh-cache"), **{settings.STATS_ENV: str(stats)})
    proc = subprocess.run(
        _grade_cmd("--jobs", "2", "--batch", "on"),
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(line)["event"] for line in stats.read_text().splitlines()]
    if SANDBOX:  # without a sandbox nothing is cached, so there is nothing to share
        assert (
            "4 of 4 answers read from the notebooks, 3 distinct in 1 batch: 3 built" in proc.stderr
        )
        assert events.count("batch_build") == 1 and events.count("build") == 0, events
    parallel = _scores(graded_class["course"])
    assert _scores(course) == {s: parallel[s] for s in some}
