"""Launch a student's IPython kernel under limits, optionally inside a bubblewrap sandbox.

Used as the ``argv`` of the kernelspec the pipeline writes for each submission::

    python -m autograde.kernel --memory-mb 4096 [--sandbox --workdir DIR --runtime DIR] \\
        -- -f {connection_file}

The memory limit bounds what the kernel uses, never its address space (see :func:`supervise`). In
the sandbox the kernel sees the Python installation read-only, the ``graders`` package
without its ``assignments`` (hidden cases, references), its own submission folder, a private
``/tmp`` and the runtime folder holding its connection file and ipc sockets; nothing else of the
host (no network, no other students, no source notebooks, no gradebook, no result cache).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

SANDBOX_HELP = (
    "bubblewrap (bwrap) is needed to sandbox student kernels: install it with "
    "'apt-get install -y bubblewrap' (Debian/Ubuntu) or 'dnf install bubblewrap', or pass "
    "--no-sandbox to grade without a sandbox (only for trusted submissions: student code can "
    "then read and write everything this user can)."
)


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _python_roots() -> list[str]:
    """Folders the kernel's interpreter and packages live in."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        roots.add(sysconfig.get_path(key))
    roots.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    return sorted(r for r in roots if r and os.path.isdir(r))


def _graders_dir() -> Path:
    import graders

    return Path(graders.__file__).resolve().parent


def sandbox_argv(workdir: str, runtime: str, command: list[str]) -> list[str]:
    """The ``bwrap`` command line that runs ``command`` inside the sandbox."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise RuntimeError(SANDBOX_HELP)
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--dev", "/dev", "--proc", "/proc"]
    for d in ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/etc", "/sbin"):
        if os.path.exists(d):
            # /bin and /lib are often symlinks into /usr on modern distributions.
            argv += (
                ["--ro-bind", d, d] if not os.path.islink(d) else ["--symlink", os.readlink(d), d]
            )
    argv += ["--tmpfs", "/tmp", "--tmpfs", "/root", "--tmpfs", "/home"]
    for root in _python_roots():
        argv += ["--ro-bind", root, root]
    g = _graders_dir()
    # graders itself is needed (hidden_check), its hidden cases and references are not.
    argv += ["--ro-bind", str(g), str(g), "--tmpfs", str(g / "assignments")]
    argv += ["--bind", runtime, runtime, "--bind", workdir, workdir, "--chdir", workdir]
    # ipykernel exits when JPY_PARENT_PID is not its parent, which --unshare-pid guarantees.
    argv += ["--unsetenv", "JPY_PARENT_PID", "--setenv", "HOME", workdir]
    argv += ["--setenv", "TMPDIR", runtime, "--setenv", "MPLCONFIGDIR", runtime]
    return argv + ["--", *command]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograde.kernel")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--sandbox", action="store_true")
    parser.add_argument("--workdir", default=os.getcwd())
    parser.add_argument("--runtime", default=None)
    parser.add_argument("kernel_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    kargs = [a for a in args.kernel_args if a != "--"]
    # The verdict is computed outside the kernel; hidden cells only hand the spec over.
    os.environ["AUTOGRADE_TRUSTED_GRADING"] = "1"
    for var in ("AUTOGRADE_CACHE", "AUTOGRADE_BACKEND"):
        os.environ.pop(var, None)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # threads reserve address space
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    command = [sys.executable, "-m", "ipykernel_launcher", *kargs]
    if args.sandbox:
        runtime = args.runtime or os.path.dirname(kargs[kargs.index("-f") + 1])
        command = sandbox_argv(os.path.realpath(args.workdir), runtime, command)
    return supervise(command, args.memory_mb)


# --- the memory limit ------------------------------------------------------------------------

#: Share of the memory limit one process of the kernel may hold as heap (``RLIMIT_DATA``): a
#: Python loop that fills the heap gets a ``MemoryError`` (and the kernel lives on, as under the
#: old address-space limit) before the whole tree, libraries and bwrap included, reaches the
#: limit and is killed.
HEAP_SHARE = 7 / 8

#: Kernel option (IPython's ``exec_lines``) that makes OpenBLAS allocate its work buffer before
#: student code runs: OpenBLAS retries a failed buffer allocation forever, so the first matrix
#: operation after a cell filled the heap (matplotlib inverts a matrix for every plot) would
#: spin until the submission's time is up.
WARM_BLAS = "--IPKernelApp.exec_lines=import numpy as _np; _np.linalg.inv(_np.eye(2)); del _np"


def supervise(command: list[str], memory_mb: int) -> int:
    """Run the kernel ``command`` under the memory limit; its exit status.

    Without a limit (``memory_mb`` <= 0) the kernel replaces this process, as before. With one,
    this process stays as a small supervisor: the kernel runs as its child, in the same process
    group (jupyter_client signals the group, so interrupts and kills reach the kernel directly),
    under a :class:`graders.limits.Watchdog` that kills the kernel and everything it started
    once their resident memory together passes ``memory_mb``; then this process exits and
    jupyter sees a dead kernel. SIGTERM, SIGINT and SIGHUP sent to this process alone are
    forwarded. Each process of the kernel also gets ``RLIMIT_DATA`` of :data:`HEAP_SHARE` of the
    limit, which counts written (private, writable) memory only, so reserved address space
    (``mmap`` with ``PROT_NONE``, as the CUDA driver does) costs nothing; ``command`` (an
    IPython kernel, possibly inside bwrap) gets :data:`WARM_BLAS` appended.
    """
    if memory_mb <= 0:
        os.execv(command[0], command)
    import psutil

    from graders.limits import Watchdog, kill_tree

    heap = int(memory_mb * HEAP_SHARE) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (heap, heap))
    parent = os.getppid()
    proc = subprocess.Popen([*command, WARM_BLAS])

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
