"""The simulation process: one simulation in a fresh Python, ``python -m graders.simulator JOBDIR``.

Brian2GeNN and C++ standalone build and run once per process, so every job gets its own
interpreter. The job is read from ``JOBDIR/job.json`` (:class:`graders.job.Job`); observables
go to ``JOBDIR/obs.npz`` and ``JOBDIR/meta.json``, or a failure to ``JOBDIR/error.json``.
Nothing is pickled.

A job with ``specs`` (a list) instead of ``spec`` puts every answer's network into one build,
each under its own name prefix: observables go to ``JOBDIR/obs_<i>.npz``, and ``meta.json``
lists which answers were built (``built``) and which were left out before the build because
Brian rejected them (``left``: index -> reason); those are graded by a build of their own.

The simulation process sets no limits on itself: the harness runs it under a wall-clock limit and
a watchdog on the resident memory of its process tree (:mod:`graders.limits`). ("Worker" names
something else: a pipeline worker grading one submission, :mod:`autograde.worker`.)

Imports inside functions: Brian2 loads only after the job is read and the process is set up
(limits, environment), so that a failure there costs no Brian import.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from .job import Job
from .results import Status


def _fail(jobdir: Path, kind: str, message: str, **extra) -> int:
    (jobdir / "error.json").write_text(json.dumps({"kind": kind, "message": message, **extra}))
    return {Status.INVALID_SPEC: 3, Status.MEMORY: 4}.get(kind, 5)


def main(argv: list[str]) -> int:
    jobdir = Path(argv[0])
    job = Job.read(jobdir)
    try:
        import brian2

        from . import backends
        from .assignments import get
        from .spec import dry_run

        brian2.prefs.codegen.target = "numpy"
        brian2.prefs.logging.console_log_level = "WARNING"
        a = get(job.assignment)
        if job.batch:
            return _batch(jobdir, job, a, brian2, backends, dry_run)
        spec, cases = job.spec, job.cases
        if job.dry_run:
            problems = dry_run(a, spec)
            if problems:
                return _fail(
                    jobdir,
                    Status.INVALID_SPEC,
                    "; ".join(str(p) for p in problems),
                    problems=[p.to_json() for p in problems],
                )
        t0 = time.perf_counter()
        levers = backends.activate(job.backend, jobdir / "build")
        built = a.build(spec, cases)
        net = brian2.Network(built.objects)
        net.run(built.duration, namespace={})
        t1 = time.perf_counter()
        obs = {k: np.asarray(v, dtype=float) for k, v in built.collect().items()}
        np.savez(jobdir / "obs.npz", **obs)
        (jobdir / "meta.json").write_text(
            json.dumps({"build_and_run_s": t1 - t0, "backend": job.backend, "levers": levers})
        )
        return 0
    except MemoryError:
        return _fail(jobdir, Status.MEMORY, "the simulation ran out of memory")
    except Exception as err:
        tb = traceback.format_exc(limit=20)
        msg = " ".join(str(err).split())[:2000]
        # MemoryError itself is caught above; these are allocation failures reported by Brian's
        # compiled code or re-raised inside another exception
        if "std::bad_alloc" in msg or "MemoryError" in tb:
            return _fail(jobdir, Status.MEMORY, "the simulation ran out of memory", traceback=tb)
        return _fail(jobdir, Status.CRASHED, f"{type(err).__name__}: {msg}", traceback=tb)


def _batch(jobdir: Path, job: Job, a, brian2, backends, dry_run) -> int:
    """Several answers in one network (see the module docstring); failures raise."""
    left: dict[int, str] = {}
    for i, spec in enumerate(job.specs):
        problems = dry_run(a, spec) if job.dry_run else []
        if problems:
            left[i] = "; ".join(str(p) for p in problems)
    t0 = time.perf_counter()
    levers = backends.activate(job.backend, jobdir / "build")
    objects, built = [], {}
    for i, spec in enumerate(job.specs):
        if i in left:
            continue
        try:
            b = a.build(spec, job.cases, prefix=f"b{i}_")
        except Exception as err:  # this answer alone; it is graded (and explained) on its own
            left[i] = f"{type(err).__name__}: {err}"
            continue
        built[i] = b
        objects += b.objects
    if not built:
        return _fail(jobdir, Status.CRASHED, "no answer of the batch could be built")
    net = brian2.Network(objects)
    net.run(next(iter(built.values())).duration, namespace={})
    t1 = time.perf_counter()
    for i, b in built.items():
        obs = {k: np.asarray(v, dtype=float) for k, v in b.collect().items()}
        np.savez(jobdir / f"obs_{i}.npz", **obs)
    (jobdir / "meta.json").write_text(
        json.dumps(
            {
                "build_and_run_s": t1 - t0,
                "backend": job.backend,
                "levers": levers,
                "built": sorted(built),
                "left": {str(i): why for i, why in left.items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main(sys.argv[1:]))
