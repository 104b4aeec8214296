"""Launch a student's IPython kernel under limits, optionally inside a bubblewrap sandbox.

Used as the ``argv`` of the kernelspec the pipeline writes for each submission::

    python -m autograde.kernel --memory-mb 4096 [--sandbox --workdir DIR --runtime DIR] \\
        -- -f {connection_file}

The memory limit is an address-space limit (``RLIMIT_AS``) inherited by everything the kernel
starts. In the sandbox the kernel sees the Python installation read-only, the ``graders`` package
without its ``assignments`` (hidden cases, references), its own submission folder, a private
``/tmp`` and the runtime folder holding its connection file and ipc sockets; nothing else of the
host (no network, no other students, no source notebooks, no gradebook, no result cache).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
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
    if args.memory_mb > 0:
        limit = args.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
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
    os.execv(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
