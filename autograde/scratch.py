"""A worker's temporary course folder: made, owned, laid out, and swept after a kill.

Each submission is graded in ``<tempdir>/autograde-<student>-XXXX`` (:func:`new`), removed when
its job ends (:func:`autograde.worker.grade_one`). A folder names its owner (host, pid, process
start time), so that the next worker can remove the folders of workers that were killed
(:func:`sweep_stale`). The kernel's runtime folder stays short enough for unix sockets
(:func:`runtime_dir`), and a job's files are written without leaving their folder
(:func:`unpack`).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

from graders import sandbox

TMP_PREFIX = "autograde-"  # a worker's temporary course: <tempdir>/autograde-<student>-XXXX
OWNER = ".owner"  # in it: host, pid and start time of the worker process that made it


def owner(pid: int) -> str:
    """``host pid start`` of process ``pid`` (start: its start time in clock ticks since boot)."""
    try:
        # the 22nd field of /proc/PID/stat, counted after the command name (which may hold spaces)
        start = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        start = "?"
    return f"{socket.gethostname()} {pid} {start}"


def sweep_stale(tempdir: str | None = None) -> list[Path]:
    """Remove the temporary courses of worker processes of this machine that are gone.

    A worker killed mid-job (``kill -9``, a crashed or interrupted coordinator, an out-of-memory
    kill) cannot remove its folder, which holds a copy of a submission, nor release its
    kernel's process cap (named after the folder), which is done here too. Only folders whose
    ``.owner`` names this host and a process that no longer runs (or whose pid now belongs to a
    process started later) are removed; a folder of a live worker, another host or without an
    owner file is left alone. Returns what was removed.
    """
    removed = []
    host = socket.gethostname()
    # by default also /tmp, where a kernel's runtime folder goes when TMPDIR is deep
    bases = [tempdir] if tempdir else sorted({tempfile.gettempdir(), "/tmp"})
    for folder in (f for base in bases for f in Path(base).glob(f"{TMP_PREFIX}*")):
        try:
            who = (folder / OWNER).read_text().split()
        except OSError:
            continue
        if len(who) != 3 or who[0] != host or not who[1].isdigit():
            continue
        if owner(int(who[1])) == " ".join(who):
            continue  # still running
        sandbox.release(folder.name)  # the dead worker's kernel, if it outlived it
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


#: Longest path of a unix socket (sun_path, less its final NUL); the kernel's ipc sockets are
#: ``<runtime>/kernel-N``.
SOCKET_PATH_MAX = 107


def runtime_dir(tmp: Path) -> Path:
    """The kernel's runtime folder (connection file, ipc sockets): ``tmp/rt``, or a short folder
    in /tmp where that path is too long for a unix socket.

    A long ``TMPDIR`` (a test's temporary folder, a deep scratch path) would otherwise fail
    every notebook with "ZMQError: File name too long". The short folder names its owner like
    ``tmp`` (so :func:`sweep_stale` removes it after a kill) and ``tmp`` links to it.
    """
    runtime = tmp / "rt"
    if len(str(runtime / "kernel-99")) <= SOCKET_PATH_MAX:
        runtime.mkdir()
        return runtime
    short = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}rt-", dir="/tmp"))
    (short / OWNER).write_text(owner(os.getpid()))
    runtime.symlink_to(short)
    return short


def outside_runtime(tmp: Path) -> Path | None:
    """The short runtime folder of :func:`_runtime_dir`, if ``tmp`` used one."""
    link = tmp / "rt"
    return Path(os.readlink(link)) if link.is_symlink() else None


def unpack(folder: Path, data: dict[str, bytes]) -> None:
    """Write ``relative path -> bytes`` under ``folder``, refusing paths that leave it."""
    folder.mkdir(parents=True, exist_ok=True)
    top = folder.resolve()
    for rel, content in data.items():
        path = (folder / rel).resolve()
        if not path.is_relative_to(top):
            raise ValueError(f"a job's file {rel!r} lies outside its folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def new(student: str) -> Path:
    """A fresh temporary course folder for ``student``'s job, owned by this process."""
    sweep_stale()
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{student}-"))
    (tmp / OWNER).write_text(owner(os.getpid()))
    return tmp
