"""Many submissions through one nbgrader process: ``python -m autograde.nbserver``.

Starting ``python -m nbgrader autograde`` for every submission would pay, each time, Python's
start-up and imports (nbgrader, nbformat's schema checkers, then graders and Brian for the
trusted step: seconds, README "Measured here") before the student's notebook even starts. This
server pays them once per worker: it reads
one job per line on stdin and answers one line on stdout, each a JSON object:

- job: ``{"root": course folder, "assignment": ..., "student": ..., "env": {...}}``; ``env`` is
  the job's whole environment (``JUPYTER_PATH``, ``TMPDIR``, ...), restored afterwards;
- answer: ``{"success": bool, "log": str, "error": str}``, as
  ``nbgrader.apps.NbGraderAPI.autograde`` reports it.

The course folder's ``nbgrader_config.py`` is loaded for every job, so each job sees exactly the
configuration a ``nbgrader autograde`` started in that folder would. :class:`Server` is the
client side: it starts the server, enforces a time limit per job (killing a hung server, which
then starts afresh for the next job) and reports a dead server as a failed job.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import zmq
from nbgrader.apps import NbGraderAPI
from traitlets.config.loader import PyFileConfigLoader

#: What the instructor can do about a failure of the server itself (not of the student's code).
RETRY = "this submission is not graded; run autograde grade again to retry it"


def run_job(job: dict) -> dict:
    """Autograde one submission in this process (the server side)."""
    saved_env, saved_cwd, saved_tmp = dict(os.environ), os.getcwd(), tempfile.tempdir
    try:
        if job.get("env") is not None:
            os.environ.clear()
            os.environ.update(job["env"])
        # jupyter_client writes connection files through tempfile, which caches its folder
        tempfile.tempdir = os.environ.get("TMPDIR") or None
        os.chdir(job["root"])
        config = PyFileConfigLoader("nbgrader_config.py", path=job["root"]).load_config()
        api = NbGraderAPI(config=config)
        result = api.autograde(job["assignment"], job["student"], force=True, create=True)
    except Exception:
        result = {"success": False, "error": traceback.format_exc()}
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        tempfile.tempdir = saved_tmp
    return {
        "success": bool(result.get("success")),
        "log": str(result.get("log") or ""),
        "error": str(result.get("error") or ""),
    }


_GARBAGE_CONTEXTS: list = []  # ZeroMQ contexts the garbage collector found, ended after the job


def _keep_for_later(ctx) -> None:
    """``zmq.Context.__del__`` in this server: keep the context, never wait on it.

    pyzmq's own ``__del__`` destroys the context, which waits for its sockets to close. A kernel
    client left in a reference cycle (a kernel that died, an interrupted cell) takes its context
    and sockets into the garbage together; the collector has then already cleared the weak
    references through which ``destroy`` finds the sockets, so it waits forever for sockets
    that would have been finalized next, and the server hangs mid-job wherever the collector
    happened to run (seen: inside nbgrader's database queries, until the job's time limit).
    """
    if not getattr(ctx, "_shadow", False) and not ctx.closed:
        _GARBAGE_CONTEXTS.append(ctx)


def _never_block_in_gc() -> None:
    zmq.Context.__del__ = _keep_for_later


def _reap_contexts() -> None:
    """End the contexts the collector found, their sockets now finalized, off the main thread."""
    gc.collect()  # finalizes the sockets of those cycles, which closes them
    while _GARBAGE_CONTEXTS:
        ctx = _GARBAGE_CONTEXTS.pop()
        # term() returns once its sockets are closed; a daemon thread, so it never holds us up
        threading.Thread(target=ctx.term, daemon=True).start()


def _die_with(parent: int) -> None:
    """End this server, and the simulations it started, once ``parent`` is gone.

    A worker killed mid-job (``kill -9``, a lost dask worker) cannot stop its server, which
    would grade on for nobody until the job's time limit (between jobs, the end of its input
    ends it). Its process group (the server started a session of its own) is killed as soon as
    the server's parent changes; the sandboxed kernel dies with its parent (bubblewrap's
    ``--die-with-parent``), and the next worker releases its process cap
    (:func:`autograde.scratch.sweep_stale`).
    """
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os.killpg(os.getpgrp(), signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # the parent as Server names it: one that died during this server's imports is noticed too
    parent = int(argv[argv.index("--parent") + 1]) if "--parent" in argv else os.getppid()
    threading.Thread(target=_die_with, args=(parent,), daemon=True).start()
    _never_block_in_gc()
    # The protocol owns the real stdout; anything a library prints goes to stderr instead.
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
        except json.JSONDecodeError as err:
            answer = {"success": False, "log": "", "error": f"bad job line: {err}"}
        else:
            answer = run_job(job)
        out.write(json.dumps(answer) + "\n")
        out.flush()
        _reap_contexts()  # between jobs, where nobody waits
    return 0


def _failure(why: str) -> dict:
    return {"success": False, "log": "", "error": f"{why}; {RETRY}"}


class Server:
    """The client side: one server process, restarted whenever it died or hung.

    Parameters
    ----------
    env : dict
        The environment the server starts with (jobs add their own on top).
    """

    def __init__(self, env: dict | None = None):
        self.env = dict(env if env is not None else os.environ)
        self.proc: subprocess.Popen | None = None
        self.jobs = 0

    def _start(self) -> subprocess.Popen:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autograde.nbserver", "--parent", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=self.env,
            start_new_session=True,  # a timeout kills the server and its kernels together
        )
        return self.proc

    def autograde(self, root, assignment: str, student: str, env: dict, timeout: float) -> dict:
        """Grade one submission; never raises: a failure is ``{"success": False, ...}``."""
        proc = self.proc if self.proc and self.proc.poll() is None else self._start()
        job = {"root": str(root), "assignment": assignment, "student": student, "env": env}
        try:
            proc.stdin.write(json.dumps(job) + "\n")
            proc.stdin.flush()
        except OSError as err:
            self.close()
            return _failure(f"the nbgrader server died ({err})")
        self.jobs += 1
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.close()
                    return _failure(f"grading did not finish within {timeout:g} s and was stopped")
                if sel.select(timeout=min(left, 5.0)):
                    line = proc.stdout.readline()
                    if not line:  # the server exited
                        self.close()
                        return _failure("the nbgrader server died")
                    return json.loads(line)

    def close(self) -> None:
        """Stop the server (and everything it started)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(main())
