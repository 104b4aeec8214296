"""Simulation backends: detection, choice and device set-up.

In order of preference: ``genn`` (GeNN on a CUDA GPU), ``genn-cpu`` (GeNN's single-threaded
CPU backend), ``cpp_standalone`` and ``runtime`` (numpy). GeNN is an external install found the
way Brian2GeNN finds it: ``GENN_PATH`` or ``genn-buildmodel.sh`` on ``PATH``.

Imports inside functions: Brian2, Brian2GeNN and ``subprocess`` load only when a backend is
probed, so that reading settings and names costs nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from . import genn_cuda, settings

BACKENDS = ("genn", "genn-cpu", "cpp_standalone", "runtime")

# Brian2GeNN's fixed schedule; every backend uses it so traces agree across backends.
GENN_SCHEDULE = ["start", "synapses", "groups", "thresholds", "resets", "end"]

GENN_INSTALL_HELP = (
    "GeNN 4.9 was not found. Install it outside this repository and point GENN_PATH at it:\n"
    "  ./dev genn            # GeNN 4.9.0 from GitHub, with the CUDA backend where CUDA is found\n"
    "  ./dev genn --from genn-4.9.0.tar.gz   # on a server without internet\n"
    "  export GENN_PATH=...  # the line ./dev genn prints\n"
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


CUDA_DEFAULT = Path("/usr/local/cuda")
# An absolute path ending in /nvcc in a wrapper script (`exec /usr/local/cuda-13.0/bin/nvcc`)
_NVCC_IN_SCRIPT = re.compile(r"""(/[^\s'"`;|&()<>$]*/nvcc)(?![\w.-])""")


def real_nvcc(nvcc: str | os.PathLike, _depth: int = 0) -> Path:
    """The nvcc binary behind ``nvcc``: symlinks followed, and for a wrapper script (a file that
    starts with ``#!``) the absolute nvcc path it runs, followed in turn."""
    path = Path(nvcc).resolve()
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return path
    if not head.startswith(b"#!") or _depth >= 5:
        return path
    for match in _NVCC_IN_SCRIPT.finditer(head.decode("utf-8", "replace")):
        target = Path(match.group(1))
        if target.resolve() != path and os.access(target, os.X_OK) and target.is_file():
            return real_nvcc(target, _depth + 1)
    return path


def cuda_candidates(
    environ: dict[str, str] | None = None, default: Path | None = None
) -> list[tuple[str, Path]]:
    """Where CUDA may be, in order, each with where the guess came from: ``CUDA_PATH``, then
    ``default`` (:data:`CUDA_DEFAULT`), then the folder above the real ``nvcc`` on ``PATH``.

    ``environ`` (default ``os.environ``) and ``default`` let tests point at fake trees.
    """
    env = os.environ if environ is None else environ
    default = CUDA_DEFAULT if default is None else default
    found: list[tuple[str, Path]] = []
    if env.get("CUDA_PATH"):
        found.append(("CUDA_PATH", Path(env["CUDA_PATH"]).expanduser()))
    found.append((str(default), default))
    nvcc = shutil.which("nvcc", path=env.get("PATH", os.defpath))
    if nvcc:
        found.append((f"nvcc on PATH ({nvcc})", real_nvcc(nvcc).parent.parent))
    return found


def cuda_path(candidates: list[tuple[str, Path]] | None = None) -> Path | None:
    """CUDA's root: the first of :func:`cuda_candidates` that holds ``include/cuda.h``.

    ``nvcc`` may be a wrapper script in a folder of its own (``/usr/local/bin/nvcc`` running
    ``/usr/local/cuda-13.0/bin/nvcc``): the folder above the *real* nvcc is the root, never
    ``/usr/local``.
    """
    for _, root in cuda_candidates() if candidates is None else candidates:
        if (root / "include" / "cuda.h").is_file():
            return root
    return None


def cuda_nvcc(root: Path) -> Path | None:
    """``root/bin/nvcc`` when it is there and executable (GeNN's CUDA builds call it)."""
    nvcc = root / "bin" / "nvcc"
    return nvcc if nvcc.is_file() and os.access(nvcc, os.X_OK) else None


def genn_cuda_library(gp: Path) -> Path:
    """The library ``make cuda`` builds in a GeNN tree (needed for ``use_GPU=True``)."""
    return gp / "lib" / "libgenn_cuda_backend.a"


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


def cuda_missing(gp: Path, cp: Path | None, gpu: bool) -> list[str]:
    """What the ``genn`` backend lacks besides GeNN itself, one phrase per piece, each saying
    how to get it: GeNN's CUDA backend library, the CUDA toolkit (nvcc), a visible GPU."""
    missing = []
    if not genn_cuda_library(gp).is_file():
        make = f"make -C {gp} cuda CUDA_PATH={cp or '/path/to/cuda'}"
        missing.append(
            f"GeNN's CUDA backend is not built ({genn_cuda_library(gp)} missing): run "
            f"'./dev genn' (it applies the CUDA >= 13 fix), or '{make}' with CUDA < 13"
        )
    if cp is None:
        missing.append(
            "no CUDA toolkit (no include/cuda.h under CUDA_PATH, /usr/local/cuda or the folder "
            "above nvcc): install it and set CUDA_PATH"
        )
    elif cuda_nvcc(cp) is None:
        missing.append(f"no nvcc in {cp / 'bin'} (CUDA at {cp}): install CUDA's compiler")
    if not gpu:
        missing.append("no NVIDIA GPU visible (no device in /proc/driver/nvidia, nvidia-smi -L)")
    return missing


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
    cuda_reason = genn_reason if not genn_ok else "; ".join(cuda_missing(gp, cp, gpu))
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
    requested = requested or os.environ.get(settings.BACKEND_ENV) or None
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


def activate(backend: str, directory: str | os.PathLike) -> dict:
    """Select ``backend`` for the Brian2 session in *this* process (a fresh simulation process).

    Every backend gets Brian2GeNN's schedule so that traces agree across backends. Returns the
    GeNN levers applied (:func:`graders.genn_cuda.apply`; empty for the other backends).
    """
    import brian2

    brian2.prefs.core.network.default_schedule = list(GENN_SCHEDULE)
    if backend == "runtime":
        brian2.prefs.codegen.target = "numpy"
        return {}
    if backend == "cpp_standalone":
        # Brian's default is an unbounded `make -j`: with parallel graders that is dozens of
        # compilers at once. Bound it by AUTOGRADE_MAKE_JOBS (default: the cores there are).
        jobs = os.environ.get(settings.MAKE_JOBS_ENV) or str(os.cpu_count() or 1)
        brian2.prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{jobs}"]
        brian2.set_device("cpp_standalone", directory=str(directory))
        return {}
    if backend in ("genn", "genn-cpu"):
        import brian2genn  # noqa: F401  (registers the 'genn' device)

        gp = genn_path()
        if gp is None:
            raise BackendUnavailable(GENN_INSTALL_HELP)
        brian2.prefs.devices.genn.path = str(gp)
        gpu = backend == "genn"
        cp = cuda_path() if gpu else None
        nvcc = cuda_nvcc(cp) if cp is not None else None
        brian2.set_device("genn", directory=str(directory), use_GPU=gpu)
        # one nvcc build per model: manual device and block sizes, simple error handling,
        # parallel make, ccache in front of nvcc (graders.genn_cuda)
        return genn_cuda.apply(
            brian2.prefs,
            brian2.get_device(),
            gpu=gpu,
            build_dir=Path(directory),
            cuda_root=cp,
            nvcc=real_nvcc(nvcc) if nvcc is not None else None,
        )
    raise BackendUnavailable(f"unknown backend {backend!r}")
