"""Run untrusted code under bubblewrap as an unprivileged user, with a cap on its processes.

Shared by the student's kernel (:mod:`autograde.kernel`) and the simulation process
(:mod:`graders.harness`, which compiles and runs code derived from a student's strings).

What a sandboxed process gets (:func:`bwrap_argv`):

- a user namespace in which it is uid/gid 65534 with no capabilities (``--unshare-user --uid
  --gid``, ``--cap-drop ALL``, ``--disable-userns``), whatever user the server runs as; on a
  server running as root that uid is still the host's root for ownership checks on files, so
  what matters is what is *mounted*: no network, no host ``/etc`` (a minimal one, see
  :data:`ETC_FILES`; never ``shadow``, ``ssl/private`` or ``jupyter``), no home, a private
  ``/tmp``, the system's programs and the Python installation read-only, and only the folders
  its caller names;
- where user namespaces are disabled, a server that is not root runs it as its own
  (unprivileged) user, and a root server refuses (:data:`USERNS_HELP`) rather than run it as root;
- its own session (``--new-session``: no TIOCSTI into the grader's terminal), process, IPC and
  UTS namespaces, and death with its parent;
- an environment built from nothing (:func:`base_env` and the caller's own allow-list).

The process cap (:func:`enter`) is a pids cgroup where the server may create one (cgroup v1
``pids`` hierarchy or a cgroup v2 ``pids.max``), else ``RLIMIT_NPROC`` where the server is not
root (the kernel does not apply ``RLIMIT_NPROC`` to the host's root, which a sandbox uid maps to
when the server runs as root), else nothing, which :func:`cap_method` reports.

This module imports only the standard library: it also runs as a script in front of ``bwrap``
(``python -I -S graders/sandbox.py --name N --max-procs M -- bwrap ...``) to put the sandbox
into its cgroup before anything inside it can start a process.

Long because: the process cap has to stay in this file (run with ``-I -S``, the script can import
nothing beside it), and both callers apply the bwrap arguments and the cap together.

Imports inside functions: ``subprocess`` and ``resource`` load only on the paths that need
them; this file also runs as a script (``python -I -S``) at every kernel and simulation start.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sys
import sysconfig
import time
from pathlib import Path

#: The sandbox's uid and gid (``nobody``/``nogroup`` on Debian): never 0, owns nothing.
SANDBOX_UID = 65534
SANDBOX_GID = 65534
SANDBOX_USER = "student"

#: Processes *and threads* one sandbox may hold. An IPython kernel runs about ten threads, a
#: C++ standalone build ``make -j`` compilers of three processes each, a CUDA build and run
#: nvcc's helpers and the driver's threads: a few dozen at most. A fork bomb stops here.
MAX_PROCESSES = 256

#: Host files under /etc a sandbox sees (read-only, where they exist): the dynamic linker's
#: cache, name-service and time-zone settings, fontconfig (Matplotlib), and the alternatives
#: symlinks that /usr/bin/c++ and friends point through. Nothing with a secret in it.
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "nsswitch.conf",
    "localtime",
    "fonts",
    "alternatives",
)

#: Configuration folders inside what a sandbox mounts (``/usr``, the Python installation) that
#: may hold secrets: npm or pip tokens in ``/usr/local/etc``, nbgrader's ``db_url`` in a
#: ``etc/jupyter`` of the installation. Each is hidden under an empty folder.
HIDDEN = ("/usr/local/etc",)
HIDDEN_IN_PYTHON = ("etc/jupyter",)

#: Environment variables a sandboxed process may inherit from the server (values copied);
#: everything else is dropped. Locale and time zone only: the rest is set by the caller.
INHERITED_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")

#: Where cgroups are looked for (``/proc/self/mounts`` names the mounts).
CGROUP_PARENT = "autograde-sandbox"
#: An empty cgroup older than this is left over from a sandbox that was killed: removed.
CGROUP_STALE_S = 120.0

HELP = (
    "bubblewrap (bwrap) is needed to sandbox student code: install it with "
    "'apt-get install -y bubblewrap' (Debian/Ubuntu) or 'dnf install bubblewrap', or pass "
    "--no-sandbox to grade without a sandbox (only for trusted submissions: student code can "
    "then read and write everything this user can)."
)


USERNS_HELP = (
    "bubblewrap cannot create a user namespace here, so student code would run as root: allow "
    "user namespaces (sysctl kernel.unprivileged_userns_clone=1, or the AppArmor rule for "
    "bwrap), run the grader as an unprivileged user, or pass --no-sandbox (trusted "
    "submissions only)."
)


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def check() -> None:
    """Raise ``RuntimeError`` saying what to do where no sandbox can be made here."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise RuntimeError(HELP)
    if os.geteuid() == 0 and not _userns_works(bwrap):
        raise RuntimeError(USERNS_HELP)


def user() -> str:
    """Who sandboxed code runs as here, in words (for the closing line of ``autograde grade``)."""
    bwrap = bwrap_path()
    if bwrap is not None and _userns_works(bwrap):
        return f"uid {SANDBOX_UID} without capabilities"
    return f"this server's own uid {os.geteuid()} (no user namespaces here) without capabilities"


def mode() -> str:
    """The worker sandbox setting (:data:`graders.settings.SANDBOX_ENV`): "on", "off" or "auto"."""
    # imported here: this file also runs as a script (`python -I -S`, see script_argv), where
    # neither the package nor traitlets can be imported
    from . import settings

    value = os.environ.get(settings.SANDBOX_ENV, "auto").strip().lower()
    if value in ("1", "on", "yes", "true"):
        return "on"
    if value in ("0", "off", "no", "false"):
        return "off"
    return "auto"


def wanted() -> bool:
    """Whether the worker runs sandboxed (see :data:`graders.settings.SANDBOX_ENV`).

    Raises
    ------
    RuntimeError
        The sandbox is required and bwrap is not installed (the message says what to do).
    """
    m = mode()
    if m == "off":
        return False
    if bwrap_path() is None:
        if m == "on":
            raise RuntimeError(HELP)
        return False
    return True


def python_roots() -> list[str]:
    """Folders the interpreter and its packages live in."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        roots.add(sysconfig.get_path(key))
    roots.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    return sorted(r for r in roots if r and os.path.isdir(r))


def base_env(home: str, tmpdir: str) -> dict[str, str]:
    """The environment every sandboxed process starts from (never the server's)."""
    env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, "/usr/local/bin", "/usr/bin", "/bin"])
    env["HOME"] = home
    env["TMPDIR"] = tmpdir
    env["USER"] = env["LOGNAME"] = SANDBOX_USER
    return env


_SUPPORTED: dict[tuple[str, str], bool] = {}


def _supports(bwrap: str, option: str) -> bool:
    """Whether this bwrap knows ``option`` (older ones reject unknown options)."""
    if (bwrap, option) not in _SUPPORTED:
        import subprocess

        try:
            out = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10)
            _SUPPORTED[bwrap, option] = option in out.stdout + out.stderr
        except (OSError, subprocess.TimeoutExpired):
            _SUPPORTED[bwrap, option] = False
    return _SUPPORTED[bwrap, option]


def _userns_works(bwrap: str) -> bool:
    """Whether bwrap can make a user namespace here (it cannot where they are disabled)."""
    key = (bwrap, "userns")
    if key not in _SUPPORTED:
        import subprocess

        cmd = [bwrap, "--unshare-user", "--uid", str(SANDBOX_UID), "--ro-bind", "/", "/", "true"]
        try:
            _SUPPORTED[key] = subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _SUPPORTED[key] = False
    return _SUPPORTED[key]


def _etc_data(home: str) -> dict[str, str]:
    """Files written for the sandbox: its own user and group, and localhost."""
    u, g = SANDBOX_UID, SANDBOX_GID
    return {
        "/etc/passwd": f"{SANDBOX_USER}:x:{u}:{g}:sandbox:{home}:/usr/sbin/nologin\n",
        "/etc/group": f"{SANDBOX_USER}:x:{g}:\n",
        "/etc/hosts": "127.0.0.1 localhost\n::1 localhost\n",
    }


def _data_fd(text: str) -> int:
    """An inheritable file descriptor holding ``text`` (bwrap copies it into the sandbox)."""
    fd = os.memfd_create("sandbox-etc", 0)
    os.write(fd, text.encode())
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    return fd


def bwrap_argv(
    command: list[str],
    *,
    home: str,
    chdir: str,
    ro: list[str] = (),
    rw: list[str] = (),
    devices: list[str] = (),
    tmpfs: list[str] = (),
) -> tuple[list[str], list[int]]:
    """The ``bwrap`` command line that runs ``command`` sandboxed, and the fds it reads.

    Parameters
    ----------
    command : list of str
        What to run inside.
    home, chdir : str
        ``$HOME`` in the passwd entry, and the working folder (both must be mounted).
    ro, rw : list of str
        Host folders (or files) mounted read-only / read-write at the same path, in this order
        (after the system folders, so that they can reach into ``/tmp``).
    devices : list of str
        Device nodes bound as they are (``/dev/nvidia*`` for CUDA).
    tmpfs : list of str
        Empty writable folders mounted last, hiding what is below (e.g. part of an ro folder).

    Returns
    -------
    argv, fds
        Pass ``fds`` to the process that runs ``argv`` (``pass_fds``, or inherited through
        ``exec``) and close them afterwards.

    Raises
    ------
    RuntimeError
        bwrap is not installed.
    """
    bwrap = bwrap_path()
    if bwrap is None:
        raise RuntimeError(HELP)
    argv = [bwrap, "--unshare-all"]
    if _userns_works(bwrap):
        argv.append("--unshare-user")
        if _supports(bwrap, "--disable-userns"):  # bubblewrap 0.8 and later
            argv.append("--disable-userns")
        argv += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID)]
    elif os.geteuid() == 0:
        raise RuntimeError(USERNS_HELP)
    # else: no user namespaces here, and the server is already an unprivileged user: the
    # sandbox runs as that user (setuid bwrap drops its own privileges)
    argv += ["--cap-drop", "ALL"]
    argv += ["--new-session", "--die-with-parent", "--dev", "/dev", "--proc", "/proc"]
    for d in ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin"):
        if os.path.islink(d):  # /bin and /lib are often symlinks into /usr
            argv += ["--symlink", os.readlink(d), d]
        elif os.path.exists(d):
            argv += ["--ro-bind", d, d]
    for name in ETC_FILES:
        if os.path.exists(f"/etc/{name}"):
            argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    fds = []
    for dest, text in _etc_data(home).items():
        fds.append(_data_fd(text))
        argv += ["--ro-bind-data", str(fds[-1]), dest]
    argv += ["--tmpfs", "/tmp", "--tmpfs", "/root", "--tmpfs", "/home", "--tmpfs", "/run"]
    for root in python_roots():
        argv += ["--ro-bind", root, root]
    for path in ro:
        argv += ["--ro-bind", path, path]
    hidden = [*HIDDEN, *(os.path.join(r, h) for r in python_roots() for h in HIDDEN_IN_PYTHON)]
    for path in dict.fromkeys(hidden):
        if os.path.isdir(path) and not os.path.islink(path):
            argv += ["--tmpfs", path]
    for path in rw:
        argv += ["--bind", path, path]
    for dev in devices:
        argv += ["--dev-bind", dev, dev]
    for path in tmpfs:
        argv += ["--tmpfs", path]
    argv += ["--chdir", chdir, "--", *command]
    return argv, fds


# --- the process cap ---------------------------------------------------------------------------


def _mounts() -> list[tuple[str, str, list[str]]]:
    out = []
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 4:
                    out.append((parts[1], parts[2], parts[3].split(",")))
    except OSError:
        pass
    return out


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per v1 controller (and "" for v2)."""
    out = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for c in controllers.split(",") if controllers else [""]:
                    out[c] = path
    except OSError:
        pass
    return out


def _cgroup_bases() -> list[str]:
    """Folders under which a pids cgroup may be made, best first."""
    own = _own_cgroups()
    bases = []
    for mountpoint, fstype, opts in _mounts():
        if fstype == "cgroup" and "pids" in opts:
            bases.append(os.path.join(mountpoint, own.get("pids", "/").lstrip("/")))
        elif fstype == "cgroup2" and "" in own:
            try:
                with open(os.path.join(mountpoint, "cgroup.controllers")) as f:
                    if "pids" not in f.read().split():
                        continue
            except OSError:
                continue
            bases.append(os.path.join(mountpoint, own[""].lstrip("/")))
    return bases


def _collect_stale(parent: str) -> None:
    """Remove empty sandbox cgroups left by sandboxes that were killed (rmdir fails on a busy
    one, and young ones may be about to be joined)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    now = time.time()
    for name in names:
        path = os.path.join(parent, name)
        try:
            if os.path.isdir(path) and now - os.stat(path).st_mtime > CGROUP_STALE_S:
                os.rmdir(path)
        except OSError:
            pass


def _make_cgroup(name: str, max_procs: int) -> str | None:
    """A fresh pids cgroup limited to ``max_procs``, or ``None`` where none can be made."""
    for base in _cgroup_bases():
        parent = os.path.join(base, CGROUP_PARENT)
        try:
            os.makedirs(parent, exist_ok=True)
            if os.path.exists(os.path.join(base, "cgroup.subtree_control")):
                # cgroup v2: the controller must be enabled for the children
                for d in (base, parent):
                    with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
                        f.write("+pids")
            _collect_stale(parent)
            path = os.path.join(parent, name)
            # reused when it exists: a submission's notebooks run one after another under one name
            os.makedirs(path, exist_ok=True)
        except OSError:
            continue
        try:
            with open(os.path.join(path, "pids.max"), "w") as f:
                f.write(str(max_procs))
            return path
        except OSError:
            try:
                os.rmdir(path)
            except OSError:
                pass
    return None


def cap_method() -> str:
    """How sandboxes' processes are capped on this server, in words (checked by trying)."""
    probe = f"probe-{os.getpid()}-{time.monotonic_ns()}"
    path = _make_cgroup(probe, MAX_PROCESSES)
    if path is not None:
        os.rmdir(path)
        return f"pids cgroup under {os.path.dirname(path)}"
    if os.geteuid() != 0:
        return "RLIMIT_NPROC (on top of this user's processes)"
    return (
        "NOT capped: the server runs as root and may not create a pids cgroup here, and the "
        "kernel does not apply RLIMIT_NPROC to root; run the grader as an unprivileged user "
        "or give it a writable pids cgroup"
    )


def _user_processes(uid: int) -> int:
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


def enter(name: str, max_procs: int = MAX_PROCESSES) -> str:
    """Put this process (and so everything it will start) under the process cap.

    A pids cgroup named ``name`` where one can be made; else ``RLIMIT_NPROC`` for a server
    that is not root (the limit counts every process of the server's user, so it is set to
    those running now plus ``max_procs``). Call :func:`release` with the same name afterwards.

    Returns
    -------
    str
        What was done, in words ("" when nothing could be).
    """
    path = _make_cgroup(name, max_procs)
    if path is not None:
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
        return f"pids cgroup {path}"
    if os.geteuid() != 0:
        import resource

        limit = _user_processes(os.geteuid()) + max_procs
        resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
        return f"RLIMIT_NPROC {limit}"
    return ""


def release(name: str) -> None:
    """Kill what is left in the cgroup ``name`` and remove it (nothing happens where none)."""
    for base in _cgroup_bases():
        path = os.path.join(base, CGROUP_PARENT, name)
        if not os.path.isdir(path):
            continue
        for _ in range(50):
            try:
                with open(os.path.join(path, "cgroup.procs")) as f:
                    pids = [int(p) for p in f.read().split()]
            except OSError:
                pids = []
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                os.rmdir(path)
                break
            except OSError as err:
                if err.errno == errno.ENOENT:
                    break
                time.sleep(0.02)


def script_argv(name: str, command: list[str], max_procs: int = MAX_PROCESSES) -> list[str]:
    """``command`` behind this module run as a script: it enters the cap, then execs."""
    here = os.path.abspath(__file__)
    return [sys.executable, "-I", "-S", here, name, str(max_procs), "--", *command]


def _main(argv: list[str]) -> int:
    name, max_procs, sep, *command = argv
    if sep != "--" or not command:
        sys.stderr.write("usage: sandbox.py NAME MAX_PROCS -- COMMAND...\n")
        return 2
    enter(name, int(max_procs))
    os.execv(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
