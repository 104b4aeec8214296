"""Memory limits bound what a process tree uses, never its address space (graders.limits).

The CUDA driver reserves tens of GB of address space (``mmap`` with ``PROT_NONE``) when it creates
a context; under the old address-space rlimit of 4 GB every GeNN CUDA build failed. These tests
make the same reservation without a GPU: in the simulation worker through the harness's real path
(the reservation is made at interpreter start by a ``sitecustomize`` module on ``PYTHONPATH``, which
the worker inherits like any environment variable), and in a student kernel started through
``autograde.kernel``. Hogs touch a bounded 2 GB, so a broken limit fails the test instead of
filling the machine.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

import graders
from graders import harness, limits, settings
from graders.assignments.adaptive_threshold import REFERENCE

A = "adaptive_threshold"

# Reserves 64 GB of address space as the CUDA driver does, then touches 10 MB; writes VmSize
# (the process's address space) to MEMTEST_MARKER so a test can see the reservation was made.
RESERVE = """
import ctypes, mmap, os
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_MAP_NORESERVE = 0x4000
_addr = _libc.mmap(None, 64 << 30, 0, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE,
                   -1, 0)  # prot 0: PROT_NONE
if _addr in (None, ctypes.c_void_p(-1).value):
    raise OSError(ctypes.get_errno(), "cannot reserve 64 GB of address space")
_used = bytearray(10 << 20)
_vm = [l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1]
if os.environ.get("MEMTEST_MARKER"):
    with open(os.environ["MEMTEST_MARKER"], "a") as _f:
        _f.write(_vm + "\\n")
"""

# Touches 2 GB and keeps it (the process goes on with its job if nothing stops it).
HOG = "_hog = bytearray(2 << 30)\n"

# Starts three processes that each touch 600 MB and wait: each is under the kernel's per-process
# heap cap, but the tree together is past a 1000 MB limit.
# TOKEN marks their command lines, to find any that survive.
TREE_HOG = """
import subprocess, sys, time
_kids = [subprocess.Popen([sys.executable, "-c",
         "import time; b = bytearray(600 << 20); time.sleep(120)  # TOKEN"]) for _ in range(3)]
time.sleep(120)
"""


def _tree_hog() -> tuple[str, str]:
    token = f"memtest-{os.getpid()}-{time.monotonic_ns()}"
    return TREE_HOG.replace("TOKEN", token), token


def _survivors(token: str, wait: float = 30.0) -> list[int]:
    """The processes marked ``token`` still alive after up to ``wait`` s (killed ones may take a
    moment to go on a loaded machine; the marked ones live 120 s unless they are killed)."""
    deadline = time.monotonic() + wait
    while True:
        alive = [
            p.pid
            for p in psutil.process_iter(["cmdline", "status"])
            if token in " ".join(p.info["cmdline"] or []) and p.info["status"] != "zombie"
        ]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def _startup(tmp_path, monkeypatch, code: str) -> Path:
    """Make every Python started from now on run ``code`` first; the marker file's path."""
    d = tmp_path / "startup"
    d.mkdir()
    (d / "sitecustomize.py").write_text(code)
    old = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(d) + (os.pathsep + old if old else ""))
    marker = tmp_path / "marker"
    monkeypatch.setenv("MEMTEST_MARKER", str(marker))
    # The worker's sandbox shows nothing of tmp_path (neither this module nor the marker); the
    # watchdog inside the sandbox is covered by test_harness.test_memory_limit_is_enforced.
    monkeypatch.setenv(settings.SANDBOX_ENV, "0")
    return marker


def _reserved_gb(marker: Path) -> list[float]:
    return [int(v) / 2**20 for v in marker.read_text().split()]


# --- the simulation worker -----------------------------------------------------------------------


def test_a_worker_that_reserves_64_gb_of_address_space_is_graded(tmp_path, monkeypatch):
    marker = _startup(tmp_path, monkeypatch, RESERVE)
    v = graders.check(A, REFERENCE, "runtime", memory_mb=1000, use_cache=False)
    assert v.status == "graded", v.checks
    assert v.score == v.max_score
    assert _reserved_gb(marker) and min(_reserved_gb(marker)) > 64  # the worker really reserved


def test_a_worker_that_touches_2_gb_past_a_1_gb_limit_is_stopped_as_memory(tmp_path, monkeypatch):
    _startup(tmp_path, monkeypatch, HOG)
    t0 = time.perf_counter()
    v = graders.check(A, REFERENCE, "runtime", memory_mb=1000, use_cache=False)
    assert v.status == "memory"
    assert v.score == 0
    message = v.checks[0].message
    assert "your network ran out of memory: the simulation ran out of memory" in message
    assert time.perf_counter() - t0 < 60


def test_the_harness_logs_what_the_watchdog_saw(tmp_path, monkeypatch):
    _startup(tmp_path, monkeypatch, HOG)
    with pytest.raises(harness.SimulationFailed) as info:
        harness.simulate(A, REFERENCE, backend="runtime", memory_mb=1000, use_cache=False)
    assert info.value.kind == "memory"
    assert info.value.message == "the simulation ran out of memory"
    assert "more than the limit of 1000 MB" in info.value.log


def test_memory_0_lifts_the_limit():
    hog = [sys.executable, "-c", HOG]
    out = limits.run(hog, timeout=60, memory_mb=0)
    assert out.stopped is None and out.returncode == 0
    out = limits.run(hog, timeout=60, memory_mb=1000)
    assert out.stopped == "memory" and out.returncode < 0
    assert "more than the limit of 1000 MB" in out.note


def test_the_whole_tree_is_measured_and_killed():
    """Three children under the limit each, past it together: all of them are killed."""
    code, token = _tree_hog()
    out = limits.run([sys.executable, "-c", code], timeout=90, memory_mb=1000)
    assert out.stopped == "memory", out
    assert not _survivors(token)


# --- the student kernel ---------------------------------------------------------------------------


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A kernel started as the pipeline starts it (``autograde.kernel``, no sandbox), 1000 MB."""
    from jupyter_client import KernelManager

    spec = tmp_path / "jupyter" / "kernels" / "memtest"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "autograde.kernel", "--memory-mb", "1000"]
    argv += ["--", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    km = KernelManager(kernel_name="memtest")
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    yield km, kc
    kc.stop_channels()
    if km.is_alive():
        km.shutdown_kernel(now=True)


def _run(kc, code: str, timeout: float = 120) -> tuple[str, str]:
    out = []

    def hook(msg):
        c = msg["content"]
        if msg["msg_type"] == "stream":
            out.append(c["text"])
        elif msg["msg_type"] == "error":
            out.append(c["ename"])

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    return reply["content"]["status"], "".join(out)


def test_a_kernel_that_reserves_64_gb_of_address_space_runs(kernel):
    km, kc = kernel
    status, out = _run(kc, RESERVE + "print('VmSize', _vm)")
    assert status == "ok", out
    assert int(out.split("VmSize")[1].split()[0]) / 2**20 > 64
    assert _run(kc, "print(6 * 7)") == ("ok", "42\n")


def test_a_kernel_heap_hog_gets_a_memory_error_and_the_kernel_lives_on(kernel):
    """As under the old address-space limit: the per-process heap cap raises MemoryError."""
    from autograde.demo import MEMORY_BOMB  # the pipeline tests' memory-bomb student

    km, kc = kernel
    status, out = _run(kc, HOG)
    assert status == "error" and "MemoryError" in out
    status, out = _run(kc, MEMORY_BOMB)
    assert status == "error" and "MemoryError" in out
    assert _run(kc, "print(len(hog) > 10, 6 * 7)") == ("ok", "True 42\n")  # hog is kept
    # with the heap full to the last MB, BLAS still works (OpenBLAS would spin for a buffer)
    fill = "try:\n    while True:\n        hog.append(bytearray(1 << 20))\n"
    fill += "except MemoryError:\n    pass\n"
    assert _run(kc, fill)[0] == "ok"
    blas = "import numpy\nprint(numpy.linalg.inv(2 * numpy.eye(3))[0, 0])"
    assert _run(kc, blas, timeout=60) == ("ok", "0.5\n")


def test_a_heap_hog_leaves_the_reserve_for_the_cells_after_it(kernel):
    """The held-back reserve (an eighth of 1000 MB) is given back when a cell ends in
    MemoryError, so the next cells (the provided simulation, the hidden hand-over) have room
    whatever the hog left; without it, 0-50 MB remained and ZeroMQ's next allocation aborted
    the kernel."""
    from autograde import kernel as kmod
    from autograde.demo import MEMORY_BOMB

    km, kc = kernel
    soft, hard = kmod.heap_limits(1000)
    assert hard - soft == 125 * 2**20
    status, out = _run(kc, MEMORY_BOMB)
    assert status == "error" and "MemoryError" in out
    limits = "import resource\nprint(resource.getrlimit(resource.RLIMIT_DATA))"
    assert _run(kc, limits) == ("ok", f"({hard}, {hard})\n")
    status, out = _run(kc, "room = bytearray(100 * 2**20)\nprint(len(hog) > 10, len(room))")
    assert (status, out) == ("ok", f"True {100 * 2**20}\n"), out
    assert km.is_alive()


def test_a_kernel_whose_tree_passes_the_limit_is_killed(kernel):
    km, kc = kernel
    code, token = _tree_hog()
    kc.execute(code)
    deadline = time.monotonic() + 60
    while km.is_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not km.is_alive()
    assert not _survivors(token)


# --- one setting everywhere -----------------------------------------------------------------------


@pytest.mark.parametrize("mb", [1234, 0])
def test_grade_memory_reaches_the_kernel_verdicts_shared_builds_and_plots(
    tmp_path, monkeypatch, mb
):
    """``autograde grade --memory-mb MB`` is the limit of every process the pipeline starts."""
    from nbformat.notebooknode import from_dict
    from traitlets.config import Config

    from autograde import batches, cli, pipeline, submission_cache, worker
    from autograde import feedback as plots
    from autograde.jobs import SubmissionJob, SubmissionResult
    from autograde.options import GradeOptions
    from autograde.preprocessors import TrustedVerdicts
    from graders.notebook import spec_line
    from graders.results import CheckResult, Verdict

    args = cli.build_parser().parse_args(["grade", A, "--memory-mb", str(mb), "--batch", "on"])
    opts = GradeOptions.from_args(args)
    seen = {}
    # the student's kernel
    worker._kernelspec(tmp_path / "jp", opts, tmp_path / "wd", tmp_path / "rt")
    kernel_json = tmp_path / "jp" / "kernels" / worker.KERNEL_NAME / "kernel.json"
    argv = json.loads(kernel_json.read_text())["argv"]
    seen["kernel"] = int(argv[argv.index("--memory-mb") + 1])

    # the verdicts' simulations, through the nbgrader settings a worker writes
    def fake_check(assignment, spec, backend=None, **kw):
        seen["verdicts"] = kw["memory_mb"]
        return Verdict(assignment, "runtime", [CheckResult("jump", 2, 1.0, "fine")])

    monkeypatch.setattr(graders, "check", fake_check)
    cfg = Config()
    overrides = worker.worker_config(opts, tmp_path / "root", tmp_path / "rt")
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        cfg[section][name] = value
    cell = {"cell_type": "code", "source": "", "execution_count": 1}
    cell["metadata"] = {"nbgrader": {"grade": True, "solution": False, "grade_id": "h"}}
    cell["metadata"]["nbgrader"]["points"] = 2
    line = spec_line(A, "jump", {"model": "x"})
    cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": line + "\n"}]
    nb = from_dict({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    TrustedVerdicts(config=cfg, checks={"h": f"{A}:jump"}).preprocess(nb, {"nbgrader": {}})

    # the shared builds
    monkeypatch.setattr(batches, "start", lambda *a, **kw: seen.update(shared=kw["memory_mb"]))
    monkeypatch.setattr(submission_cache, "key", lambda job: None)  # nothing stored
    jobs_ = [SubmissionJob(A, s, {}, {}, b"", {}, opts) for s in ("a", "b")]
    pipeline._start_batches(tmp_path, A, jobs_, replace(opts, backend="runtime"))

    # the feedback plots
    monkeypatch.setattr(plots, "make_plots", lambda *a, **kw: seen.update(plots=kw["memory_mb"]))
    res = SubmissionResult("a", A, ok=True, checks={A: {}})
    # _plots sets the (worker) process's sandbox mode: undone after this test, so later tests
    # on a machine without bwrap are not made to require it
    monkeypatch.setenv(settings.SANDBOX_ENV, os.environ.get(settings.SANDBOX_ENV, "auto"))
    worker._plots(res, replace(opts, backend="runtime"))
    assert seen == {"kernel": mb, "verdicts": mb, "shared": mb, "plots": mb}
