"""Memory limits that bound what a process tree uses, never its address space.

An address-space rlimit cannot be used: the CUDA driver reserves tens of GB of virtual address
space (``mmap`` with ``PROT_NONE``) when it creates a context, so under a 4 GB one a GeNN
CUDA build fails with "cuda runtime error 2: out of memory" before it uses any. Instead a
:class:`Watchdog` thread samples the resident memory of a whole process tree (a root process and
all its descendants: the simulation process, the compiler it starts, the compiled binary) every
:data:`INTERVAL_S` seconds and kills the tree once the sum passes the limit.

What it measures, honestly:

- the sum of each process's RSS (``/proc/PID/statm``). Pages shared between processes of the tree
  (libraries, a forked parent's untouched pages) are counted once per process, so the sum
  over-counts and a tree is stopped early rather than late; address space that is reserved but
  never touched is not counted at all, which is the point.
- a sample every :data:`INTERVAL_S` seconds: a spike shorter than that can pass, and a tree that
  grows fast overshoots the limit by what it touches in one interval before it is killed, the
  more the faster it touches pages (``tests/test_limits.py`` stops a process touching 2 GB
  under a 1000 MB limit and asserts only that it is stopped as "memory").
- processes that leave the tree (a daemon that double-forks and is re-parented to init) are no
  longer seen; the simulation process's own process group is killed as well.

A cgroup v2 ``memory.max`` would be exact, but needs a writable cgroup the grader may not have
(this project's CI machines have cgroup v1 only), so the watchdog is the one path, and tested.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

import psutil

from .results import Status

#: Seconds between two samples. One sample costs 1-4 ms of CPU on a machine with about a
#: hundred processes (psutil reads every ``/proc/PID/stat`` to find the descendants), so five
#: samples a second cost 0.5-2 % of a core per watched tree.
INTERVAL_S = 0.2

_MB = 1024 * 1024


def _tree(root: psutil.Process) -> list[psutil.Process]:
    """``root`` and every process descended from it (``root`` first); [] once it is gone."""
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss(root: psutil.Process) -> int:
    """Bytes resident in ``root`` and its descendants (the sum of their RSS)."""
    total = 0
    for p in _tree(root):
        try:
            total += p.memory_info().rss
        except psutil.Error:  # exited between listing and reading
            pass
    return total


def kill_tree(root: psutil.Process) -> None:
    """SIGKILL ``root``, its process group if it leads one, and every descendant.

    The tree is stopped (SIGSTOP) first and listed again, so a process that forks while it is
    being killed leaves no child behind.
    """
    procs = _tree(root)
    for p in procs:
        try:
            p.suspend()
        except psutil.Error:
            pass
    seen = {p.pid for p in procs}
    procs += [p for p in _tree(root) if p.pid not in seen]
    try:
        if os.getpgid(root.pid) == root.pid:
            os.killpg(root.pid, signal.SIGKILL)
    except OSError:
        pass
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass


class Watchdog:
    """Kill a process tree whose resident memory passes ``limit_mb`` (see the module docstring).

    Parameters
    ----------
    pid : int
        The root of the tree (it and all its descendants are measured and killed).
    limit_mb : int or None
        The limit in MB (2**20 bytes); ``None`` or 0: no limit (the watchdog does nothing).
    interval : float
        Seconds between samples.

    Attributes
    ----------
    fired : bool
        The tree was killed for passing the limit.
    used_mb : float
        The tree's resident memory at the sample that fired, else the largest one seen.
    """

    def __init__(self, pid: int, limit_mb: int | None, *, interval: float = INTERVAL_S):
        self.limit_mb = int(limit_mb or 0)
        self.interval = interval
        self.fired = False
        self.used_mb = 0.0
        self._stop = threading.Event()
        self._thread = None
        try:
            self._root = psutil.Process(pid)
        except psutil.NoSuchProcess:
            self._root = None

    def start(self) -> Watchdog:
        if self.limit_mb > 0 and self._root is not None:
            self._thread = threading.Thread(target=self._watch, name="memory-watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Watchdog:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def message(self) -> str:
        """What happened, for a log."""
        return (
            f"the processes used {self.used_mb:.0f} MB of memory, more than the limit of "
            f"{self.limit_mb} MB, and were stopped"
        )

    def _watch(self) -> None:
        limit = self.limit_mb * _MB
        while not self._stop.is_set():
            used = tree_rss(self._root)
            self.used_mb = max(self.used_mb, used / _MB)
            if used > limit:
                self.used_mb = used / _MB
                self.fired = True
                kill_tree(self._root)
                return
            self._stop.wait(self.interval)


@dataclass
class WatchdogOutcome:
    """How a command run by :func:`run` ended (not a check's outcome, which is
    :class:`graders.assignments.outcome.Outcome`).

    ``stopped`` is :attr:`Status.TIMEOUT <graders.results.Status>` or ``MEMORY`` when a limit
    stopped it, else ``None``; ``returncode`` is the process's exit status (negative: killed by
    that signal).
    """

    returncode: int
    stopped: Status | None
    seconds: float
    note: str = ""


def run(
    argv: list[str],
    *,
    timeout: float | None,
    memory_mb: int | None,
    interval: float = INTERVAL_S,
    **popen,
) -> WatchdogOutcome:
    """Run ``argv`` in a new session under a wall-clock and a memory limit.

    The process and everything it starts (its session's process group and all descendants) are
    killed when it runs past ``timeout`` seconds or its tree's resident memory passes
    ``memory_mb`` (``None`` or 0: no memory limit). ``popen`` goes to :class:`subprocess.Popen`
    (``stdout``, ``cwd``, ``env``, ...).
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, start_new_session=True, **popen)
    with Watchdog(proc.pid, memory_mb, interval=interval) as dog:
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(psutil.Process(proc.pid))
            proc.wait()
            return WatchdogOutcome(proc.returncode, Status.TIMEOUT, time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    if dog.fired:
        return WatchdogOutcome(rc, Status.MEMORY, seconds, dog.message())
    return WatchdogOutcome(rc, None, seconds)
