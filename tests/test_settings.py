"""Every setting is declared once (``graders.settings``) and everything reads it from there.

The command lines' defaults and help, the course's ``nbgrader_config.py``, the preprocessors'
traits, the pipeline's limits and the simulation defaults all agree with the module; a course's
override reaches the preprocessor that uses it; and the ``AUTOGRADE_*`` environment variables
are named only in the module, each constant being what the code reads.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from nbformat.notebooknode import from_dict
from nbgrader.preprocessors import Execute
from traitlets import TraitError
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from autograde import batches, cli, scratch, submission_cache, worker
from autograde.jobs import SubmissionJob
from autograde.kernel import kernel_env
from autograde.options import GradeOptions
from autograde.preprocessors import SafeExecute, TrustedVerdicts
from graders import __main__ as graders_main
from graders import assignments, backends, harness, notebook, sandbox, settings, simenv

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = assignments.names()[0]  # any: the options are the same for each

#: The older spellings of the flags, each with a value and the setting it reaches.
ALIASES = {
    "--timeout": ("7", "cell_timeout", 7.0),
    "--memory": ("1234", "memory_mb", 1234),
    "--max-output": ("999", "max_output_bytes", 999),
    "--cache": ("/tmp/c", "cache_dir", "/tmp/c"),
    "-j": ("3", "jobs", 3),
}


def _load_config(path: Path):
    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


def _subparser(name: str):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[name]


# --- the command lines ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["grade", "demo"])
def test_every_setting_has_one_flag_of_its_name(command):
    """``--cell-timeout`` for ``cell_timeout``: one option a setting, with its default and help."""
    actions = [a for a in _subparser(command)._actions if a.option_strings]
    for name in settings.names():
        mine = [a for a in actions if a.dest == name]
        assert len(mine) == 1, name
        (action,) = mine
        assert settings.flag(name) in action.option_strings, name
        assert action.default == settings.default(name), name
        if name != "sandbox":  # its help says what --no-sandbox gives up
            assert settings.help_text(name) in action.help, name
    flags = [f for a in actions for f in a.option_strings]
    assert len(flags) == len(set(flags))
    by_flag = {f: a for a in actions for f in a.option_strings}
    assert by_flag["--batch"].choices == ("auto", "on", "off")
    assert by_flag["--cell-timeout"].type is float and by_flag["--memory-mb"].type is int
    assert "--no-sandbox" in by_flag["--sandbox"].option_strings


@pytest.mark.parametrize("command", ["grade", "serve"])
def test_the_old_flags_still_work_and_help_names_them(command):
    parser = _subparser(command)
    argv = ["--course", "c"] if command == "serve" else [ASSIGNMENT]
    for alias, (value, name, expected) in ALIASES.items():
        args = parser.parse_args([*argv, alias, value])
        assert getattr(GradeOptions.from_args(args), name) == expected, alias
        (action,) = [a for a in parser._actions if alias in a.option_strings]
        assert alias.startswith("-j") or f"(also {alias})" in action.help, alias
    assert GradeOptions.from_args(parser.parse_args([*argv, "--no-sandbox"])).sandbox is False
    assert GradeOptions.from_args(parser.parse_args(argv)) == GradeOptions.from_settings()


def test_grade_options_are_the_settings_and_nothing_else():
    """One field a setting (and the feedback switch), no default of its own."""
    names = [f.name for f in dataclasses.fields(GradeOptions)]
    assert sorted(set(names) - {"feedback"}) == list(settings.names())
    for f in dataclasses.fields(GradeOptions):
        if f.name != "feedback":
            assert f.default is dataclasses.MISSING, f.name
    opts = GradeOptions.from_settings()
    assert all(getattr(opts, n) == settings.default(n) for n in settings.names())
    assert GradeOptions.from_dict(json.loads(json.dumps(opts.to_dict()))) == opts
    # a course's configuration makes them in the same way
    course = settings.Grading(config=Config({"Grading": {"cell_timeout": 5.0}}))
    assert GradeOptions.from_settings(course).cell_timeout == 5.0
    with pytest.raises(TraitError):  # checked as the settings check a course's values
        GradeOptions.from_args(argparse.Namespace(batch="sometimes"))


def test_a_value_on_the_command_line_reaches_the_kernels_config(tmp_path):
    """``autograde grade --cell-timeout 7 ...``: the nbgrader settings the worker writes (read
    back as nbgrader reads them) and the kernel's own memory limit."""
    argv = [ASSIGNMENT, "--cell-timeout", "7", "--submission-timeout", "55", "--memory-mb"]
    argv += ["1234", "--max-output-bytes", "999", "--check-timeout", "33", "--backend", "runtime"]
    opts = GradeOptions.from_args(_subparser("grade").parse_args(argv))
    over = worker.worker_config(opts, tmp_path / "root", tmp_path / "rt")
    (tmp_path / "nbgrader_config.py").write_text(worker.config_file({}, over))
    cfg = _load_config(tmp_path / "nbgrader_config.py")
    execute = SafeExecute(config=cfg)
    assert execute.timeout == 7 == Execute(config=cfg).timeout
    assert execute.submission_timeout == 55 and execute.max_output_bytes == 999
    verdicts = TrustedVerdicts(config=cfg)
    assert verdicts.check_memory_mb == 1234 and verdicts.check_timeout == 33
    assert verdicts.backend == "runtime"
    worker._kernelspec(tmp_path / "jp", opts, tmp_path / "wd", tmp_path / "rt")
    spec = tmp_path / "jp" / "kernels" / worker.KERNEL_NAME / "kernel.json"
    argv = json.loads(spec.read_text())["argv"]
    assert argv[argv.index("--memory-mb") + 1] == "1234"


def test_every_row_of_the_trait_table_reaches_nbgraders_config(tmp_path):
    """Each setting of ``worker.NBGRADER_TRAITS``, given a value unlike its default, is that
    value in every nbgrader trait of its row, as the preprocessors read their config."""
    classes = {"Execute": Execute, "SafeExecute": SafeExecute, "TrustedVerdicts": TrustedVerdicts}
    odd = {bool: lambda v: not v, str: lambda v: "odd-value", int: lambda v: v + 3}
    odd[float] = lambda v: v + 0.5
    rows = worker.NBGRADER_TRAITS
    assert len({name for name, _, _ in rows}) == len(rows)  # one row a setting
    for name, traits, kind in rows:
        value = odd[kind](kind(settings.default(name)))
        opts = GradeOptions.from_settings(**{name: value})
        over = worker.worker_config(opts, tmp_path / "root", tmp_path / "rt")
        folder = tmp_path / name
        folder.mkdir()
        (folder / "nbgrader_config.py").write_text(worker.config_file({}, over))
        cfg = _load_config(folder / "nbgrader_config.py")
        for trait in traits:
            section, _, attr = trait.partition(".")
            assert getattr(classes[section](config=cfg), attr) == value, (name, trait)


def test_autograde_grade_help_shows_the_settings(capsys):
    with pytest.raises(SystemExit):
        cli.main(["grade", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for name in ("cell_timeout", "submission_timeout", "memory_mb", "batch"):
        assert " ".join(settings.help_text(name).split()) in shown, name
    assert "(default 120)" in shown and "(default 900)" in shown and "(default 4096)" in shown


def test_graders_check_passes_the_settings(tmp_path, monkeypatch):
    """``python -m graders check`` without options grades with the settings' limits."""
    seen = {}

    def fake_check(assignment, spec, backend=None, **kw):
        seen.update(kw)
        raise graders_main.BackendUnavailable("stop here")

    monkeypatch.setattr(graders_main, "check", fake_check)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"model": "x"}))
    assert graders_main.main(["check", "adaptive_threshold", str(spec)]) == 1
    assert seen["timeout"] == settings.default("simulation_timeout")
    assert seen["memory_mb"] == settings.default("memory_mb")


# --- the defaults of everything else -----------------------------------------------------------


def test_pipeline_and_simulation_defaults_are_the_settings():
    opts = GradeOptions.from_settings()
    assert opts.cell_timeout == settings.default("cell_timeout") == 120
    assert opts.submission_timeout == settings.default("submission_timeout") == 900
    assert opts.memory_mb == settings.default("memory_mb")
    assert opts.max_output_bytes == settings.default("max_output_bytes")
    assert opts.sandbox is settings.default("sandbox") is True
    assert opts.jobs == settings.default("jobs") == (os.cpu_count() or 1)
    assert opts.batch == settings.default("batch")
    start = inspect.signature(batches.start).parameters
    assert start["timeout"].default == settings.default("simulation_timeout")
    assert start["memory_mb"].default == settings.default("memory_mb")
    for fn in (harness.simulate, harness.simulate_batch):
        params = inspect.signature(fn).parameters
        assert params["timeout"].default == settings.default("simulation_timeout")
        assert params["memory_mb"].default == settings.default("memory_mb")


def test_preprocessor_defaults_are_the_settings():
    execute = SafeExecute()
    assert execute.timeout == settings.default("cell_timeout")
    assert execute.submission_timeout == settings.default("submission_timeout")
    assert execute.max_output_bytes == settings.default("max_output_bytes")
    assert SafeExecute.class_traits()["timeout"].help == settings.help_text("cell_timeout")
    verdicts = TrustedVerdicts()
    assert verdicts.backend == settings.default("backend")
    assert verdicts.check_timeout == settings.default("check_timeout")
    assert verdicts.check_memory_mb == settings.default("memory_mb")
    assert verdicts.cache_dir == settings.default("cache_dir")
    assert verdicts.use_cache is False  # a plain nbgrader run has no sandbox


def test_course_config_and_worker_config_agree_with_the_settings(tmp_path):
    cfg = _load_config(REPO / "nbgrader_config.py")
    assert list(cfg.Autograde.autograde_preprocessors) == list(settings.PREPROCESSORS)
    execute = SafeExecute(config=cfg)
    assert execute.timeout == settings.default("cell_timeout")
    assert execute.submission_timeout == settings.default("submission_timeout")
    assert Execute(config=cfg).timeout == settings.default("cell_timeout")  # nbgrader validate
    verdicts = TrustedVerdicts(config=cfg)
    assert verdicts.check_memory_mb == settings.default("memory_mb")
    assert verdicts.backend == "" and verdicts.use_cache is False
    # every worker of `autograde grade` writes the same chain and, by default, the same limits
    over = worker.worker_config(GradeOptions.from_settings(), tmp_path / "root", tmp_path / "rt")
    assert over["Autograde.autograde_preprocessors"] == list(settings.PREPROCESSORS)
    assert over["SafeExecute.timeout"] == over["Execute.timeout"] == execute.timeout
    assert over["SafeExecute.submission_timeout"] == execute.submission_timeout
    assert over["SafeExecute.max_output_bytes"] == execute.max_output_bytes
    assert over["TrustedVerdicts.check_memory_mb"] == verdicts.check_memory_mb


def _sleepy_notebook():
    cell = {"cell_type": "code", "source": "import time\ntime.sleep(60)", "metadata": {}}
    cell.update(outputs=[], execution_count=None)
    return from_dict({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.mark.nbgrader
def test_a_course_override_reaches_safe_execute(tmp_path):
    """``c.SafeExecute.timeout`` in a course's file interrupts a cell at that limit.

    (``autograde grade`` writes its own ``--cell-timeout`` over it, see ``worker_config``.)
    """
    text = (REPO / "nbgrader_config.py").read_text()
    (tmp_path / "nbgrader_config.py").write_text(text + "\nc.SafeExecute.timeout = 3\n")
    cfg = _load_config(tmp_path / "nbgrader_config.py")
    execute = SafeExecute(config=cfg, kernel_name="python3")
    assert execute.timeout == 3 != settings.default("cell_timeout")
    nb, _ = execute.preprocess(_sleepy_notebook(), {"metadata": {"path": str(tmp_path)}})
    outputs = nb.cells[0].outputs
    assert outputs and outputs[-1].output_type == "error", outputs
    assert "Timeout" in outputs[-1].ename or "timeout" in json.dumps(outputs[-1]).lower()


# --- environment variables ---------------------------------------------------------------------


def test_the_constants_are_what_the_code_reads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(settings.BACKEND_ENV, "runtime")
    assert backends.choose(None) == "runtime"
    monkeypatch.setenv(settings.CACHE_ENV, str(tmp_path / "c"))
    assert harness.default_cache_dir() == tmp_path / "c"
    monkeypatch.setenv(settings.SANDBOX_ENV, "0")
    assert sandbox.mode() == "off"
    monkeypatch.setenv(settings.STATS_ENV, str(tmp_path / "stats"))
    harness.record_event("probe", "a", "runtime")
    assert json.loads((tmp_path / "stats").read_text())["event"] == "probe"
    monkeypatch.setenv(settings.TRUSTED_ENV, "1")
    assert notebook.hidden_check("adaptive_threshold", "jump", model="x") is None
    assert capsys.readouterr().out.startswith(notebook.MARKER)
    assert kernel_env(str(tmp_path), str(tmp_path), True)[settings.TRUSTED_ENV] == "1"
    job = SubmissionJob("a", "s", {}, {}, b"", {}, GradeOptions.from_settings())
    monkeypatch.setenv(settings.NO_SUBMISSION_CACHE_ENV, "1")
    assert submission_cache.key(job) is None
    assert settings.MAKE_JOBS_ENV in simenv.SIMULATOR_INHERITED  # reaches the sandboxed simulation


def test_keep_tmp_keeps_a_workers_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(settings.NO_SUBMISSION_CACHE_ENV, "1")
    # no gradebook bytes in the job: grading fails after the folder is made
    options = GradeOptions.from_settings()
    job = SubmissionJob("a", "s", {"a.ipynb": b"{}"}, {}, None, {}, options)
    monkeypatch.setenv(settings.KEEP_TMP_ENV, "1")
    assert "TypeError" in worker.grade_one(job).error
    assert list(tmp_path.glob("autograde-s-*"))
    assert not list(tmp_path.glob(f"autograde-s-*/{scratch.OWNER}"))  # never swept
    for kept in tmp_path.glob("autograde-s-*"):
        kept.rename(tmp_path / ("old-" + kept.name))
    monkeypatch.delenv(settings.KEEP_TMP_ENV)
    worker.grade_one(job)
    assert not list(tmp_path.glob("autograde-s-*"))


@pytest.mark.standalone
def test_make_jobs_variable_bounds_the_cpp_build(tmp_path):
    code = (
        "import brian2\nfrom graders import backends\n"
        f"backends.activate('cpp_standalone', {str(tmp_path)!r})\n"
        "print(brian2.prefs.devices.cpp_standalone.extra_make_args_unix)"
    )
    env = dict(os.environ, **{settings.MAKE_JOBS_ENV: "3"})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "'-j3'" in out.stdout, out.stderr[-2000:]


VARIABLE = re.compile(r"\bAUTOGRADE_[A-Z0-9_]+")


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        if isinstance(node, kinds) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def bare_variables(source: str) -> list[str]:
    """Variable names written out in code (strings, keyword arguments), not in docstrings."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            found += VARIABLE.findall(node.value)
        elif isinstance(node, ast.keyword) and node.arg and VARIABLE.match(node.arg):
            found.append(node.arg)
    return found


def _python_files():
    for folder in ("graders", "autograde", "benchmarks", "tests"):
        yield from sorted((REPO / folder).rglob("*.py"))
    yield REPO / "nbgrader_config.py"


def test_the_scanner_finds_a_bare_variable():
    p = "AUTOGRADE" + "_"  # spelled in two parts, so that this file holds no variable name
    code = f'"""doc: {p}DOC"""\nimport os\nos.environ.get("{p}X")\nf({p}Y=1)\n'
    code += f'def g():\n    """{p}DOC2"""\n    return f"{{x}} {p}Z"\n'
    assert bare_variables(code) == [p + "X", p + "Y", p + "Z"]


def test_no_variable_is_named_outside_the_settings():
    own = REPO / "graders" / "settings.py"
    bare = {
        str(path.relative_to(REPO)): names
        for path in _python_files()
        if path != own and (names := bare_variables(path.read_text()))
    }
    assert not bare, f"use the constants of graders/settings.py instead: {bare}"


def test_every_variable_mentioned_is_declared():
    """Docs, comments and scripts name only variables the code reads (no stale or made-up one)."""
    texts = [*_python_files(), REPO / "README.md", REPO / "dev", REPO / ".ci" / "run"]
    mentioned = {v for path in texts if path.is_file() for v in VARIABLE.findall(path.read_text())}
    assert mentioned - set(settings.ENV) == set()


def test_a_killed_workers_folder_is_swept_and_a_live_ones_kept(tmp_path):
    """A worker killed mid-job leaves its temporary course (a copy of a submission) behind;
    the next worker removes it, and never a folder of a live process or without an owner."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = tmp_path / f"{scratch.TMP_PREFIX}ann-x1"
    (gone / "course").mkdir(parents=True)
    (gone / scratch.OWNER).write_text(f"{socket.gethostname()} {dead.pid} 1")
    live = tmp_path / f"{scratch.TMP_PREFIX}bob-x2"
    live.mkdir()
    (live / scratch.OWNER).write_text(scratch.owner(os.getpid()))
    reused = tmp_path / f"{scratch.TMP_PREFIX}cid-x3"  # our pid, but an earlier process's start
    reused.mkdir()
    (reused / scratch.OWNER).write_text(f"{socket.gethostname()} {os.getpid()} 1")
    other_host = tmp_path / f"{scratch.TMP_PREFIX}dan-x4"
    other_host.mkdir()
    (other_host / scratch.OWNER).write_text(f"elsewhere {dead.pid} 1")
    kept = tmp_path / f"{scratch.TMP_PREFIX}eve-x5"  # AUTOGRADE_KEEP_TMP: no owner file
    kept.mkdir()
    assert sorted(scratch.sweep_stale(str(tmp_path))) == sorted([gone, reused])
    assert not gone.exists() and not reused.exists()
    assert live.is_dir() and other_host.is_dir() and kept.is_dir()


def test_a_deep_temporary_folder_gets_a_short_kernel_runtime(tmp_path):
    """A kernel's ipc socket path must fit a unix socket (107 bytes): a deep TMPDIR failed every
    notebook with 'ZMQError: File name too long' (seen with pytest's basetemp)."""
    shallow = tmp_path / "w"
    shallow.mkdir()
    assert scratch.runtime_dir(shallow) == shallow / "rt"
    assert scratch.outside_runtime(shallow) is None
    deep = tmp_path / ("d" * 60) / ("e" * 40)
    deep.mkdir(parents=True)
    runtime = scratch.runtime_dir(deep)
    try:
        assert len(str(runtime / "kernel-99")) <= scratch.SOCKET_PATH_MAX
        assert (deep / "rt").resolve() == runtime.resolve() == scratch.outside_runtime(deep)
        assert runtime.name.startswith(scratch.TMP_PREFIX)  # swept after a kill, as its owner
        assert (runtime / scratch.OWNER).read_text() == scratch.owner(os.getpid())
    finally:
        shutil.rmtree(runtime)


def test_a_failed_autograde_names_its_cause():
    log = (
        "Traceback (most recent call last):\n"
        '  File "connect.py", line 710, in _create_connected_socket\n'
        "zmq.error.ZMQError: File name too long (addr='ipc:///tmp/x/rt/kernel-4')\n"
        "[ERROR] There was an error processing assignment\n"
        "nbgrader.converters.base.NbGraderException: Please see the the above traceback\n"
    )
    assert worker._reason(log).startswith("zmq.error.ZMQError: File name too long")
    assert worker._reason("just this") == "just this"
