"""Grading on several machines: the pipeline's jobs on a ``dask.distributed`` cluster.

``autograde grade ... --scheduler tcp://HOST:8786`` (:func:`autograde.pipeline.grade_assignment`
with ``scheduler=``) connects here (:func:`connect`) to a scheduler started with dask's own
``dask scheduler``, whose workers were started with ``dask worker tcp://HOST:8786 --nthreads 1``
on machines where the project is installed. Each job is :func:`autograde.worker.grade_job`: plain
data in, plain data out; only the coordinator writes the course.

Faults: when a worker process dies while it runs a job, dask's scheduler gives the job to another
worker, up to its ``distributed.scheduler.allowed-failures`` times (3 by default; the README
starts the scheduler with 1); a job that raised is run once more (:data:`RETRIES`). One job at a
time per worker process: a worker keeps one nbgrader server per process (``autograde.worker``),
which serves one submission at a time, so :func:`connect` refuses workers of several threads and
:func:`grade_job` holds a lock for one that joins later.

Imports inside functions: ``distributed`` (0.3-0.5 s to import) loads only where a scheduler
is used, never for the local process pool.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from concurrent.futures import CancelledError
from dataclasses import dataclass, field

from graders import backends, sandbox

from . import submission_cache, worker
from .jobs import SubmissionJob

#: Seconds to reach the scheduler before giving up with a message (never hang on a wrong address).
CONNECT_TIMEOUT_S = 10.0
#: Seconds to wait for a first worker where the scheduler has none yet (workers may be starting).
WORKERS_TIMEOUT_S = 60.0
#: Reruns of a job that raised on its worker (grade_job answers a student's failures as data,
#: so an exception is the machine's: a full disk, a broken install); a dead worker is dask's
#: allowed-failures, see the module docstring.
RETRIES = 1

_ONE_AT_A_TIME = threading.Lock()  # per worker process, see the module docstring


def how_to_start(address: str) -> str:
    """The commands that start a scheduler and its workers, for error messages."""
    return (
        "start a scheduler with `dask scheduler` (it listens on tcp://HOST:8786) and workers "
        f"with `dask worker {address} --nthreads 1` on machines where ./dev setup was run, or "
        "leave out --scheduler to grade with the local process pool"
    )


async def _identity(address: str, timeout: float) -> dict:
    from distributed.core import rpc  # see the module docstring
    from distributed.security import Security

    # dask's own TLS settings (its configuration), as a Client would use them for tls://
    r = rpc(address, timeout=timeout, connection_args=Security().get_connection_args("client"))
    try:
        return await asyncio.wait_for(r.identity(), timeout)
    finally:
        await r.close_rpc()


def identity(address: str, timeout: float = CONNECT_TIMEOUT_S) -> dict:
    """What answers at ``address`` (a scheduler: ``{"type": "Scheduler", "workers": ...}``).

    A plain request rather than a ``Client``: a client that fails to connect waits twice its
    timeout more when it is collected and prints a traceback.

    Raises
    ------
    RuntimeError
        Nothing answers within ``timeout`` seconds, or what answers is no dask scheduler; the
        message names the address and how to start a scheduler.
    """
    try:
        info = asyncio.run(_identity(address, timeout))
    except Exception as err:  # refused, timed out, a bad address, another protocol
        why = f"{type(err).__name__}: {err}".strip().rstrip(":") or type(err).__name__
        raise RuntimeError(
            f"cannot reach a dask scheduler at {address} within {timeout:g} s ({why}); "
            + how_to_start(address)
        ) from None
    if not isinstance(info, dict) or info.get("type") != "Scheduler":
        what = info.get("type") if isinstance(info, dict) else type(info).__name__
        raise RuntimeError(
            f"{address} answers but is no dask scheduler (it is a {what}); " + how_to_start(address)
        )
    return info


def _facts(backend: str | None, sandboxed: bool) -> dict:
    """What grading needs, checked on a worker (run there by :func:`connect`)."""
    # the grader's code and packages, as the submission cache keys them
    out = {"backend": None, "problem": "", "code": submission_cache._code_hash()}
    try:
        out["backend"] = backends.choose(backend)
        if sandboxed:
            sandbox.check()
    except (backends.BackendUnavailable, RuntimeError) as err:
        out["problem"] = str(err)
    return out


@dataclass
class Connection:
    """A client of the scheduler at ``address`` and an executor that submits jobs through it."""

    address: str
    client: object
    executor: object
    workers: dict = field(default_factory=dict)  # worker address -> _facts there
    notes: list = field(default_factory=list)  # what the coordinator should say

    def describe(self) -> str:
        """One line: where the jobs go."""
        names = sorted({f["backend"] for f in self.workers.values()})
        return (
            f"grading on the dask scheduler at {self.address}: {len(self.workers)} worker"
            f"{'s' if len(self.workers) != 1 else ''}, backend {', '.join(names)}"
        )

    def submit(self, job: SubmissionJob):
        """Submit one job (as plain data); a ``concurrent.futures.Future`` of its result (a
        dict, :meth:`SubmissionResult.to_dict <autograde.jobs.SubmissionResult.to_dict>`).

        Its dask key names the student (``grade-ASSIGNMENT-STUDENT-…``), as dask's dashboard
        and logs show it.
        """
        key = f"grade-{job.assignment}-{job.student}-{uuid.uuid4().hex[:8]}"
        return self.executor.submit(grade_job, job.to_dict(), key=key)

    def why(self, err: BaseException) -> str:
        """A job's failure in words (a job the scheduler dropped fails without a message)."""
        if isinstance(err, CancelledError):
            return (
                f"the dask scheduler at {self.address} was lost or cancelled the job; run "
                "autograde grade again once the scheduler and its workers run (dask workers end "
                "with their scheduler)"
            )
        return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__

    def close(self) -> None:
        """Cancel what was not collected and close the client (the cluster stays up)."""
        try:
            self.executor.shutdown(wait=False)
        finally:
            self.client.close()


def connect(
    address: str,
    *,
    backend: str | None = None,
    sandboxed: bool = True,
    timeout: float = CONNECT_TIMEOUT_S,
    workers_timeout: float = WORKERS_TIMEOUT_S,
) -> Connection:
    """Connect to the scheduler at ``address`` and check its workers can grade.

    Raises
    ------
    RuntimeError
        The scheduler cannot be reached, has no worker after ``workers_timeout`` seconds, or a
        worker runs several threads, lacks the backend or the sandbox; the message says which
        worker and what to do.
    """
    identity(address, timeout)  # a clear, quick error first
    from distributed import Client  # see the module docstring

    client = Client(address, timeout=timeout, set_as_default=False)
    try:
        try:
            client.wait_for_workers(1, timeout=workers_timeout)
        except Exception:
            raise RuntimeError(
                f"the dask scheduler at {address} has no worker (waited {workers_timeout:g} s); "
                f"start workers with `dask worker {address} --nthreads 1` on machines where "
                "./dev setup was run"
            ) from None
        threads = {w: n for w, n in client.nthreads().items() if n != 1}
        if threads:
            raise RuntimeError(
                "grading needs one thread per dask worker process (each grades one submission "
                "at a time); these run more: "
                + ", ".join(f"{w} ({n} threads)" for w, n in sorted(threads.items()))
                + f"; restart them as `dask worker {address} --nthreads 1 --nworkers N`"
            )
        facts = client.run(_facts, backend, sandboxed)
        bad = {w: f["problem"] for w, f in facts.items() if f["problem"]}
        if bad:
            raise RuntimeError(
                "these dask workers cannot grade: "
                + "; ".join(f"{w}: {why}" for w, why in sorted(bad.items()))
            )
        conn = Connection(address, client, client.get_executor(pure=False, retries=RETRIES))
        conn.workers = facts
        if len({f["backend"] for f in facts.values()}) > 1:
            conn.notes.append(
                "the workers would use different backends ("
                + ", ".join(f"{w}: {f['backend']}" for w, f in sorted(facts.items()))
                + "); force one with --backend for verdicts that compare"
            )
        mine = submission_cache._code_hash()
        other = sorted(w for w, f in facts.items() if f["code"] != mine)
        if other:
            conn.notes.append(
                f"these workers run other grader code or packages than this machine: "
                f"{', '.join(other)}; update them (git pull, ./dev setup) and restart them"
            )
        return conn
    except BaseException:
        client.close()
        raise


#: The scheduler settings the README starts ``dask scheduler`` with (as DASK_... variables): one
#: rerun of a job whose worker died, and a job handed to a worker only when it is free.
SCHEDULER_CONFIG = {
    "distributed.scheduler.allowed-failures": 1,
    "distributed.scheduler.worker-saturation": 1.0,
}


def local_cluster(n_workers: int = 2, env: dict | None = None):
    """A ``distributed.LocalCluster`` of ``n_workers`` one-thread worker processes on this
    machine, its scheduler set up as the README's (:data:`SCHEDULER_CONFIG`), quiet and without
    a dashboard: for tests and benchmarks (``env``: the workers' environment)."""
    import dask  # see the module docstring
    import distributed

    with dask.config.set(SCHEDULER_CONFIG):
        return distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
            env={k: str(v) for k, v in (env or {}).items()},
        )


def grade_job(job: dict) -> dict:
    """:func:`autograde.worker.grade_job`, one at a time in this process (what a worker runs)."""
    with _ONE_AT_A_TIME:
        return worker.grade_job(job)
