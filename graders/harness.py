"""Run a spec's network in a fresh, limited process and cache its observables on disk.

This module is the runner: :func:`simulate` (one answer) and :func:`simulate_batch` (many
answers in one build) hand a :class:`graders.job.Job` to a fresh Python process, sandboxed
(:mod:`graders.simenv`, which also gives it ccache) and limited (:mod:`graders.limits`), and
store what it measured in the result cache (:mod:`graders.cache`, keyed on the spec as
:mod:`graders.normalise` makes it canonical); every build and hit is counted
(:mod:`graders.counters`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import cache, limits, sandbox, settings
from .assignments import Assignment, resolve
from .cache import cache_key, default_cache_dir
from .counters import record_event
from .gpus import Gpu, visible_env
from .job import Job
from .results import Problem, SpecError, Status
from .simenv import compiler_env, simulator_sandbox

DEFAULT_TIMEOUT_S = settings.default("simulation_timeout")
DEFAULT_MEMORY_MB = settings.default("memory_mb")


class SimulationFailed(RuntimeError):
    """The network did not produce observables: ``kind`` is timeout, memory or crashed."""

    def __init__(self, kind: str, message: str, log: str = ""):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.log = log


@dataclass
class Simulation:
    """A simulation's observables, the backend that made them, and whether they came cached."""

    observables: dict[str, np.ndarray]
    backend: str
    cached: bool
    seconds: float
    meta: dict = field(default_factory=dict)


def simulate(
    assignment: Assignment | str,
    spec: dict,
    cases: list[dict] | None = None,
    backend: str = "runtime",
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    memory_mb: int | None = DEFAULT_MEMORY_MB,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    keep_build: str | os.PathLike | None = None,
    dry_run: bool = True,
) -> Simulation:
    """Build and run one network holding every case of ``assignment`` for ``spec``.

    Parameters
    ----------
    assignment, spec, cases
        What to simulate (the assignment, or its name); ``cases`` defaults to the assignment's
        hidden cases.
    backend : str
        A backend name from :mod:`graders.backends` (already checked to be available).
    timeout : float
        Wall-clock seconds for the whole job (Python start, build and run); the process group,
        compiler and simulation binary included, is killed at the limit.
    memory_mb : int or None
        Limit in MB on the resident memory of the simulation process and everything it starts
        (summed over the process tree, see :mod:`graders.limits`); the tree is killed past it
        and the simulation fails with "memory". ``None`` or 0: no limit.
    cache_dir, use_cache
        Where observables are cached by :func:`cache_key`; a hit skips the build.
    keep_build : path or None
        Copy the job folder (generated code, logs) there instead of deleting it.

    Raises
    ------
    SpecError
        Brian rejected the spec in the dry run (units, unknown identifiers).
    SimulationFailed
        Timeout, out of memory, or a crash; the message says which.
    """
    a = resolve(assignment)
    cases = a.cases() if cases is None else cases
    job = Job(a.name, backend, cases, spec=spec, dry_run=dry_run)
    key = cache_key(a, spec, cases, backend)
    cdir = Path(cache_dir) if cache_dir else default_cache_dir()
    entry = cache.entry_dir(cdir, key)
    options = {"timeout": timeout, "memory_mb": memory_mb, "keep_build": keep_build}
    if not use_cache:
        return _build(job, cdir, **options)
    hit = _cached(entry, a.name, backend)
    if hit is not None:
        return hit
    # The same spec may be on its way in another process (identical answers graded side by
    # side): wait for that build instead of repeating it.
    with cache.key_lock(cdir, key):
        hit = _cached(entry, a.name, backend)
        if hit is not None:
            return hit
        return _build(job, cdir, store_as=entry, **options)


def simulate_batch(
    assignment: Assignment | str,
    specs: list[dict],
    cases: list[dict] | None = None,
    backend: str = "runtime",
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    memory_mb: int | None = DEFAULT_MEMORY_MB,
    cache_dir: str | os.PathLike | None = None,
    on_locked=None,
    gpu: Gpu | None = None,
) -> list[str]:
    """Fill the cache for many answers with one build that holds all their networks.

    A class's distinct answers share one compile (one GeNN model, one C++ program) instead of a
    build each. Nothing is returned to grade from: each answer is graded later by
    :func:`simulate`, which finds its entry. Whatever goes wrong here costs only time: an answer
    that is not in the cache afterwards is built alone by :func:`simulate`, where its own
    errors and limits apply.

    While the batch builds it holds the lock of every answer in it, so a grader that needs one
    of them waits for the batch instead of building it a second time.

    Parameters
    ----------
    specs
        Validated answer specs (see :func:`graders.spec.validate`).
    timeout : float
        Limit for one answer; the batch may take ``timeout * (1 + len(batch) / 4)``.
    on_locked : callable, optional
        Called (without arguments) once the locks are held, before the build starts.
    gpu : graders.gpus.Gpu, optional
        The GPU the build is given (the simulation process sees it alone); default: what
        this process sees.

    Returns
    -------
    list of str
        Per spec: "cached" (it was already), "built", "busy" (another process is building it),
        "duplicate" (the same key as an earlier spec), "left" (Brian rejected it or its build
        failed: it builds alone later) or "failed" (the batch as a whole failed).
    """
    a = resolve(assignment)
    cases = a.cases() if cases is None else cases
    cdir = Path(cache_dir) if cache_dir else default_cache_dir()
    status: list[str] = []
    todo: dict[str, int] = {}  # key -> index into specs
    locks: list[int] = []
    try:
        for i, spec in enumerate(specs):
            key = cache_key(a, spec, cases, backend)
            if key in todo:
                status.append("duplicate")
            elif cache.is_stored(cdir, key):
                status.append("cached")
            else:
                fd = cache.try_lock(cdir, key)
                if fd is None:
                    status.append("busy")
                    continue
                locks.append(fd)
                # checked again under the lock: it may have been stored in between
                status.append("cached" if cache.is_stored(cdir, key) else "")
                if not status[-1]:
                    todo[key] = i
        if on_locked is not None:
            on_locked()
        if not todo:
            return status
        keys = list(todo)
        job = Job(a.name, backend, cases, specs=[specs[todo[k]] for k in keys])
        limit = timeout * (1 + len(keys) / 4)
        try:
            outcome = _build_batch(job, cdir, keys, timeout=limit, memory_mb=memory_mb, gpu=gpu)
        except (SimulationFailed, SpecError):
            outcome = ["failed"] * len(keys)
        for key, result in zip(keys, outcome, strict=True):
            status[todo[key]] = result
        return status
    finally:
        for fd in locks:
            os.close(fd)


def _build_batch(
    job: Job, cdir: Path, keys: list[str], *, timeout, memory_mb, gpu=None
) -> list[str]:
    """Build the batch ``job`` and store each answer it built under its key (same order);
    per answer "built" or "left" (see :func:`simulate_batch`)."""
    jobdir = Path(tempfile.mkdtemp(prefix=f"graders-{job.assignment}-batch-"))
    try:
        meta = _run_simulator(
            jobdir, job, cdir, timeout, memory_mb, event="batch_build", env=visible_env(gpu)
        )
        out = []
        for i, key in enumerate(keys):
            if i not in meta["built"]:
                out.append("left")
                continue
            entry_meta = {
                "backend": job.backend,
                "build_and_run_s": meta["build_and_run_s"],
                "seconds": meta["seconds"],
                "batch": len(job.specs),
                "levers": meta.get("levers", {}),
            }
            cache.store(cdir, cache.entry_dir(cdir, key), jobdir / f"obs_{i}.npz", entry_meta)
            out.append("built")
        return out
    finally:
        shutil.rmtree(jobdir, ignore_errors=True)


def _cached(entry: Path, assignment: str, backend: str) -> Simulation | None:
    """The cache entry ``entry`` as a simulation (counted as a hit), or ``None``."""
    found = cache.read(entry)
    if found is None:
        return None
    record_event("hit", assignment, backend)
    return Simulation(found[0], backend, True, 0.0, found[1])


def _build(
    job: Job, cdir: Path, *, timeout, memory_mb, keep_build=None, store_as: Path | None = None
) -> Simulation:
    """Build and run one answer's ``job``; stored in the cache entry ``store_as`` if given."""
    jobdir = Path(tempfile.mkdtemp(prefix=f"graders-{job.assignment}-"))
    try:
        meta = _run_simulator(jobdir, job, cdir, timeout, memory_mb)
        obs = cache.load_observables(jobdir / "obs.npz")
        if store_as is not None:
            cache.store(cdir, store_as, jobdir / "obs.npz", meta)
        return Simulation(obs, job.backend, False, meta["seconds"], meta)
    finally:
        if keep_build:
            shutil.copytree(jobdir, Path(keep_build), dirs_exist_ok=True)
        shutil.rmtree(jobdir, ignore_errors=True)


def _run_simulator(jobdir, job: Job, cdir, timeout, memory_mb, event="build", env=None) -> dict:
    """Run ``python -m graders.simulator`` on ``job`` within limits (:func:`graders.limits.run`),
    sandboxed where wanted (:func:`simulator_sandbox`); its ``meta.json``. ``env`` adds to
    the process's environment (a GPU of its own, :func:`graders.gpus.visible_env`).

    Raises
    ------
    SpecError, SimulationFailed
        As :func:`simulate` documents.
    """
    t0 = time.perf_counter()
    job.write(jobdir)
    extra = env or {}
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    env.update(compiler_env(cdir))
    env.update(extra)
    command = [sys.executable, "-m", "graders.simulator", str(jobdir)]
    fds: list[int] = []
    cap = f"simulator-{Path(jobdir).name}"
    if sandbox.wanted():
        command, fds, env = simulator_sandbox(command, Path(jobdir), env, job.backend)
    command = sandbox.script_argv(cap, command)  # at most sandbox.MAX_PROCESSES, sandbox or not
    record_event(event, job.assignment, job.backend)  # counted when started, failed included
    try:
        with open(jobdir / "simulator.log", "wb") as log:
            # in a session of its own, so that a limit kills the compiler and binary too
            out = limits.run(
                command,
                timeout=timeout,
                memory_mb=memory_mb,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=jobdir,
                env=env,
                pass_fds=fds,
            )
    finally:
        for fd in fds:
            os.close(fd)
        sandbox.release(cap)
    if out.stopped == Status.TIMEOUT:
        raise SimulationFailed(
            Status.TIMEOUT,
            f"the simulation did not finish within the limit of {timeout:g} s and was stopped",
        )
    seconds = time.perf_counter() - t0
    logtext = (jobdir / "simulator.log").read_text(errors="replace")[-4000:]
    if out.stopped == Status.MEMORY:
        # the same message as a MemoryError inside the simulation process; the figures go to the log
        raise SimulationFailed(
            Status.MEMORY, "the simulation ran out of memory", f"{logtext}\n{out.note}"
        )
    if (jobdir / "error.json").is_file():
        err = json.loads((jobdir / "error.json").read_text())
        if err["kind"] == Status.INVALID_SPEC:
            raise SpecError([Problem(**p) for p in err["problems"]])
        raise SimulationFailed(err["kind"], err["message"], logtext)
    if out.returncode != 0 or not (jobdir / "meta.json").is_file():
        rc = out.returncode
        # bwrap (the sandbox) reports a child killed by signal N as exit status 128 + N
        killed = {-signal.SIGKILL, -signal.SIGSEGV, 128 + signal.SIGKILL, 128 + signal.SIGSEGV}
        kind = Status.MEMORY if rc in killed else Status.CRASHED
        why = "was killed (out of memory?)" if kind == Status.MEMORY else f"exited with {rc}"
        raise SimulationFailed(kind, f"the simulation process {why}", logtext)
    meta = json.loads((jobdir / "meta.json").read_text())
    meta["seconds"] = seconds
    return meta
