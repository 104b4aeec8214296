"""Launch a student's IPython kernel under limits, optionally inside a bubblewrap sandbox.

Used as the ``argv`` of the kernelspec the pipeline writes for each submission::

    python -m autograde.kernel --memory-mb 4096 [--sandbox --workdir DIR --runtime DIR] \\
        [--cap-name NAME] -- -f {connection_file}

The memory limit bounds what the kernel uses, never its address space (see :func:`supervise`). In
the sandbox the kernel sees the Python installation read-only, the ``graders`` package
without its ``assignments`` (hidden cases, references), its own submission folder, a private
``/tmp`` and the runtime folder holding its connection file and ipc sockets; nothing else of the
host (no network, no other students, no source notebooks, no gradebook, no result cache), as
an unprivileged user without capabilities and with a minimal ``/etc`` (:mod:`graders.sandbox`).
Sandboxed or not, the kernel's environment is built from an allow-list (:func:`kernel_env`),
never the server's, and its processes (threads included) are capped
(:data:`graders.sandbox.MAX_PROCESSES`).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import psutil

import graders
from graders import sandbox, settings
from graders.limits import Watchdog, kill_tree

#: Set in the kernel's environment, whatever the server's says: hidden cells only hand the spec
#: over (the verdict is computed outside the kernel), and Matplotlib draws no window but
#: ``plt.show()`` sends each figure as an image/png output (IPython's inline backend, as in
#: Jupyter), so the student's own "Try it out" figure reaches the graded notebook and the
#: feedback page. Plain Agg would draw nowhere: ``plt.show()`` is a no-op there.
KERNEL_SETTINGS = {
    settings.TRUSTED_ENV: "1",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
}
#: Taken from the server's environment where set, else these defaults (one BLAS thread is
#: plenty for a notebook, and threads count against the process cap).
KERNEL_DEFAULTS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
#: Also taken from the server's environment where set: where Python finds ``graders`` when it
#: is not installed, and jupyter's runtime folder (a path of this job). Nothing else of the
#: server's environment reaches the kernel: not its tokens, passwords or cache locations.
KERNEL_INHERITED = ("PYTHONPATH", "JUPYTER_RUNTIME_DIR")


def _graders_dir() -> Path:
    return Path(graders.__file__).resolve().parent


def kernel_env(workdir: str, runtime: str, sandboxed: bool) -> dict[str, str]:
    """The kernel's whole environment: :func:`graders.sandbox.base_env` and the allow-lists above.

    ``HOME`` is :func:`kernel_home` (IPython's history and fontconfig's cache go there, never
    into the submission's folder, which becomes the student's feedback), ``TMPDIR`` and
    ``MPLCONFIGDIR`` the runtime folder.
    """
    env = sandbox.base_env(home=kernel_home(runtime), tmpdir=runtime)
    env["MPLCONFIGDIR"] = runtime
    for key, value in KERNEL_DEFAULTS.items():
        env[key] = os.environ.get(key, value)
    env.update({k: os.environ[k] for k in KERNEL_INHERITED if k in os.environ})
    if not sandboxed and "JPY_PARENT_PID" in os.environ:
        # ipykernel exits when its parent does; in the sandbox (--unshare-pid) the parent's
        # pid means nothing, so it is left out there.
        env["JPY_PARENT_PID"] = os.environ["JPY_PARENT_PID"]
    env.update(KERNEL_SETTINGS)
    return env


def kernel_home(runtime: str) -> str:
    """The kernel's ``HOME``: a folder of the runtime folder (the job's, in the pipeline)."""
    return os.path.join(runtime, "home")


def sandbox_argv(workdir: str, runtime: str, command: list[str]) -> tuple[list[str], list[int]]:
    """The ``bwrap`` command line that runs ``command`` inside the sandbox, and the fds it reads.

    The kernel sees the system and the Python installation read-only, ``graders`` without its
    ``assignments`` (hidden cases, references), its submission folder and the runtime folder
    (connection file, ipc sockets) read-write, and nothing else (see :mod:`graders.sandbox`).
    """
    g = str(_graders_dir())
    return sandbox.bwrap_argv(
        command,
        home=kernel_home(runtime),
        chdir=workdir,
        ro=[g],
        rw=[runtime, workdir],
        # graders itself is needed (hidden_check), its hidden cases and references are not.
        tmpfs=[os.path.join(g, "assignments")],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograde.kernel")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--sandbox", action="store_true")
    parser.add_argument("--workdir", default=os.getcwd())
    parser.add_argument("--runtime", default=None)
    parser.add_argument("--cap-name", default=None, help="name of the process cap (a cgroup)")
    parser.add_argument("kernel_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    kargs = [a for a in args.kernel_args if a != "--"]
    workdir = os.path.realpath(args.workdir)
    runtime = args.runtime or os.path.dirname(kargs[kargs.index("-f") + 1])
    env = kernel_env(workdir, runtime, args.sandbox)
    os.makedirs(kernel_home(runtime), exist_ok=True)
    command = [sys.executable, "-m", "ipykernel_launcher", *kargs]
    fds: list[int] = []
    if args.sandbox:
        command, fds = sandbox_argv(workdir, runtime, command)
    # A fork bomb stops at sandbox.MAX_PROCESSES; the pipeline releases the cap by this name.
    sandbox.enter(args.cap_name or f"kernel-{os.getpid()}")
    return supervise(command, args.memory_mb, env, fds)


# --- the memory limit ------------------------------------------------------------------------

#: Share of the memory limit one process of the kernel may hold as heap (``RLIMIT_DATA``'s hard
#: limit): a Python loop that fills the heap gets a ``MemoryError`` (and the kernel lives on)
#: before the whole tree, libraries and bwrap included, reaches the limit and is killed.
HEAP_SHARE = 7 / 8

#: Share of the memory limit held back from the kernel until its first ``MemoryError``
#: (``RLIMIT_DATA``'s soft limit is the heap share less this), then given back once (see
#: :func:`memory_guard`). Without it a cell that fills the heap leaves 0-50 MB, a matter of
#: where its last allocation fell, and the next allocation of a C library that aborts on
#: failure (ZeroMQ) killed the kernel with SIGABRT, in the provided cell or in a hidden one:
#: the same notebook got 10 or 0. A whole right notebook holds about 190 MB resident (300 MB
#: of data, thread stacks included), so an eighth of the default 4096 MB runs it with room.
RESERVE_SHARE = 1 / 8

#: Kernel option (IPython's ``exec_lines``) that makes OpenBLAS allocate its work buffer before
#: student code runs: OpenBLAS retries a failed buffer allocation forever, so the first matrix
#: operation after a cell filled the heap (matplotlib inverts a matrix for every plot) would
#: spin until the submission's time is up.
WARM_BLAS = "--IPKernelApp.exec_lines=import numpy as _np; _np.linalg.inv(_np.eye(2)); del _np"

#: Kernel option that starts pyzmq's garbage-collector thread before student code runs. pyzmq
#: starts it on the first large zero-copy send; when that is the first send after the student
#: filled the process cap, the thread cannot start and ``send_multipart`` stops half-way, so
#: the next message arrives glued to the first frames and fails its signature ("Invalid
#: Signature" in nbclient: the whole job failed for a notebook that started 300 processes).
WARM_ZMQ = "--IPKernelApp.exec_lines=import zmq.utils.garbage as _g; _g.gc.start(); del _g"


def heap_limits(memory_mb: int) -> tuple[int, int]:
    """``RLIMIT_DATA``'s (soft, hard) limits in bytes for a kernel under ``memory_mb``."""
    hard = int(memory_mb * HEAP_SHARE) * 1024 * 1024
    soft = hard - int(memory_mb * RESERVE_SHARE) * 1024 * 1024
    return soft, hard


def memory_guard(hard: int) -> str:
    """Kernel option (``exec_lines``) that gives the held-back reserve on a ``MemoryError``.

    IPython calls the handler for a ``MemoryError`` that ends a cell; it raises the soft heap
    limit to ``hard`` before anything else allocates (the tuple is built beforehand), then shows
    the traceback as usual. A student may undo it, which only costs their own notebook.
    """
    code = (
        "def _autograde_memory_guard():\n"
        "    import resource\n"
        "    which, limits = resource.RLIMIT_DATA, (HARD, HARD)\n"
        "    def on_memory_error(shell, etype, value, tb, tb_offset=None):\n"
        "        resource.setrlimit(which, limits)\n"
        "        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)\n"
        "    get_ipython().set_custom_exc((MemoryError,), on_memory_error)\n"
        "_autograde_memory_guard()\n"
        "del _autograde_memory_guard\n"
    ).replace("HARD", str(hard))
    return f"--IPKernelApp.exec_lines={code}"


def supervise(command: list[str], memory_mb: int, env: dict, fds: list[int] = ()) -> int:
    """Run the kernel ``command`` under the memory limit; its exit status.

    Without a limit (``memory_mb`` <= 0) the kernel replaces this process. With one,
    this process stays as a small supervisor: the kernel runs as its child, in the same process
    group (jupyter_client signals the group, so interrupts and kills reach the kernel directly),
    under a :class:`graders.limits.Watchdog` that kills the kernel and everything it started
    once their resident memory together passes ``memory_mb``; then this process exits and
    jupyter sees a dead kernel. SIGTERM, SIGINT and SIGHUP sent to this process alone are
    forwarded. Each process of the kernel also gets ``RLIMIT_DATA`` (:func:`heap_limits`: a hard
    limit of :data:`HEAP_SHARE` of the limit, a soft one :data:`RESERVE_SHARE` below it), which
    counts private writable mappings only, so reserved address space (``mmap`` with
    ``PROT_NONE``, as the CUDA driver does) costs nothing; ``command`` (an IPython kernel,
    possibly inside bwrap) gets :data:`WARM_BLAS`, :data:`WARM_ZMQ` and :func:`memory_guard`
    appended.
    """
    command = [*command, WARM_ZMQ]  # the process cap applies with or without a memory limit
    if memory_mb <= 0:
        os.execve(command[0], command, env)  # the fds (bwrap's data) are inheritable
    soft, hard = heap_limits(memory_mb)
    resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
    parent = os.getppid()
    proc = subprocess.Popen([*command, WARM_BLAS, memory_guard(hard)], env=env, pass_fds=tuple(fds))

    def forward(signum, frame):
        try:
            proc.send_signal(signum)
        except OSError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    with Watchdog(proc.pid, memory_mb) as dog:
        while True:
            try:
                rc = proc.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if os.getppid() != parent:  # jupyter is gone: so is its kernel
                    kill_tree(psutil.Process(proc.pid))
    if dog.fired:
        print(f"autograde.kernel: the kernel's {dog.message()}", file=sys.stderr, flush=True)
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main())
