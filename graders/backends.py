"""Simulation backends: detection, choice and device set-up.

In order of preference: ``genn`` (GeNN on a CUDA GPU), ``genn-cpu`` (GeNN's single-threaded
CPU backend), ``cpp_standalone`` and ``runtime`` (numpy). GeNN is an external install found the
way Brian2GeNN finds it: ``GENN_PATH`` or ``genn-buildmodel.sh`` on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("genn", "genn-cpu", "cpp_standalone", "runtime")
ENV_VAR = "AUTOGRADE_BACKEND"

# Brian2GeNN's fixed schedule; every backend uses it so traces agree across backends.
GENN_SCHEDULE = ["start", "synapses", "groups", "thresholds", "resets", "end"]

GENN_INSTALL_HELP = (
    "GeNN 4.9 was not found. Install it outside this repository and point GENN_PATH at it, "
    "e.g.:\n"
    "  git clone --branch 4.9.0 https://github.com/genn-team/genn.git ~/genn\n"
    "  make -C ~/genn libgenn single_threaded_cpu   # add 'cuda' for the GPU backend\n"
    "  export GENN_PATH=~/genn\n"
    "(Brian2GeNN also finds GeNN when genn-buildmodel.sh is on PATH.) "
    "Or choose another backend: --backend cpp_standalone."
)


class BackendUnavailable(RuntimeError):
    """The requested backend is not installed here; the message says how to get it."""


@dataclass
class Backend:
    name: str
    available: bool
    where: str
    reason: str = ""


def genn_path() -> Path | None:
    """GeNN's root directory, by Brian2GeNN's rules, or ``None``."""
    env = os.environ.get("GENN_PATH")
    if env:
        return Path(env).expanduser()
    exe = shutil.which("genn-buildmodel.sh")
    if exe:
        return Path(exe).resolve().parent.parent
    return None


def genn_version(path: Path) -> str | None:
    try:
        return (path / "version.txt").read_text().strip()
    except OSError:
        return None


def cuda_path() -> Path | None:
    """CUDA's root: ``CUDA_PATH`` first, then the directory above ``nvcc``."""
    env = os.environ.get("CUDA_PATH")
    if env:
        return Path(env)
    nvcc = shutil.which("nvcc")
    if nvcc:
        return Path(nvcc).resolve().parent.parent
    return None


def has_cuda_gpu() -> bool:
    """True when an NVIDIA driver reports a device (nvcc alone is not a GPU)."""
    if Path("/proc/driver/nvidia/gpus").is_dir():
        return any(Path("/proc/driver/nvidia/gpus").iterdir())
    smi = shutil.which("nvidia-smi")
    if smi:
        import subprocess

        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return out.returncode == 0 and "GPU" in out.stdout
    return False


def compiler() -> str | None:
    cxx = os.environ.get("CXX") or sysconfig.get_config_var("CXX") or "g++"
    return shutil.which(cxx.split()[0]) or shutil.which("g++") or shutil.which("c++")


def detect() -> list[Backend]:
    """Every backend with whether it is usable here and where it was found."""
    found: list[Backend] = []
    gp = genn_path()
    gver = genn_version(gp) if gp else None
    if gp is None:
        genn_ok, genn_where, genn_reason = (
            False,
            "",
            "GENN_PATH unset, genn-buildmodel.sh not on PATH",
        )
    elif gver is None:
        genn_ok, genn_where, genn_reason = False, str(gp), f"no GeNN at {gp} (version.txt missing)"
    elif not gver.startswith("4."):
        genn_ok, genn_where = False, str(gp)
        genn_reason = f"GeNN {gver} at {gp}; Brian2GeNN 1.7 needs GeNN 4.x"
    else:
        genn_ok, genn_where, genn_reason = True, f"GeNN {gver} at {gp}", ""
    cxx = compiler()
    cp = cuda_path()
    gpu = has_cuda_gpu()
    if not genn_ok:
        cuda_reason = genn_reason
    elif cp is None:
        cuda_reason = "no CUDA (set CUDA_PATH or put nvcc on PATH)"
    elif not gpu:
        cuda_reason = f"CUDA at {cp} but no NVIDIA GPU visible"
    else:
        cuda_reason = ""
    found.append(
        Backend("genn", genn_ok and not cuda_reason, f"{genn_where}; CUDA at {cp}", cuda_reason)
    )
    cpu_reason = genn_reason or ("" if cxx else "no C++ compiler")
    found.append(Backend("genn-cpu", not cpu_reason, f"{genn_where}; compiler {cxx}", cpu_reason))
    found.append(
        Backend(
            "cpp_standalone", cxx is not None, f"compiler {cxx}", "" if cxx else "no C++ compiler"
        )
    )
    found.append(Backend("runtime", True, "numpy (in-process code generation)"))
    return found


def choose(requested: str | None = None) -> str:
    """The backend to use: the requested one (argument, then ``AUTOGRADE_BACKEND``) or the best.

    Raises
    ------
    BackendUnavailable
        When a backend was asked for by name and is not usable here; never falls back silently.
    """
    requested = requested or os.environ.get(ENV_VAR) or None
    table = {b.name: b for b in detect()}
    if requested in (None, "", "auto"):
        for name in BACKENDS:
            if table[name].available:
                return name
        raise BackendUnavailable("no backend available")  # runtime is always available
    if requested not in table:
        raise BackendUnavailable(
            f"unknown backend {requested!r}; choose one of {', '.join(BACKENDS)} or 'auto'"
        )
    b = table[requested]
    if not b.available:
        if requested.startswith("genn"):
            msg = f"backend {requested!r} is not available: {b.reason}.\n"
            raise BackendUnavailable(msg + GENN_INSTALL_HELP)
        raise BackendUnavailable(f"backend {requested!r} is not available: {b.reason}")
    return requested


def activate(backend: str, directory: str | os.PathLike) -> None:
    """Select ``backend`` for the Brian2 session in *this* process (a fresh worker).

    Every backend gets Brian2GeNN's schedule so that traces agree across backends.
    """
    import brian2

    brian2.prefs.core.network.default_schedule = list(GENN_SCHEDULE)
    if backend == "runtime":
        brian2.prefs.codegen.target = "numpy"
        return
    if backend == "cpp_standalone":
        # Brian's default is an unbounded `make -j`: with parallel graders that is dozens of
        # compilers at once. Bound it by AUTOGRADE_MAKE_JOBS (default: the cores there are).
        jobs = os.environ.get("AUTOGRADE_MAKE_JOBS") or str(os.cpu_count() or 1)
        brian2.prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{jobs}"]
        brian2.set_device("cpp_standalone", directory=str(directory))
        return
    if backend in ("genn", "genn-cpu"):
        import brian2genn  # noqa: F401  (registers the 'genn' device)

        gp = genn_path()
        if gp is None:
            raise BackendUnavailable(GENN_INSTALL_HELP)
        brian2.prefs.devices.genn.path = str(gp)
        if backend == "genn":
            cp = cuda_path()
            if cp is not None:
                brian2.prefs.devices.genn.cuda_backend.cuda_path = str(cp)
        brian2.set_device("genn", directory=str(directory), use_GPU=(backend == "genn"))
        return
    raise BackendUnavailable(f"unknown backend {backend!r}")
