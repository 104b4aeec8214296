"""The simulation process's environment: its compilers (ccache) and its sandbox.

:func:`compiler_env` adds ccache to what the harness (:mod:`graders.harness`) starts the
simulation process with; :func:`simulator_sandbox` wraps that process in bubblewrap
(:mod:`graders.sandbox`) with only what it needs: the ``graders`` package, its job folder,
ccache's store, GeNN and CUDA read-only, the GPU's device nodes on ``genn``, and the variables
of :data:`SIMULATOR_INHERITED` (the GPU it is given among them, :mod:`graders.gpus`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from . import cache, sandbox, settings
from .backends import compiler, cuda_path, genn_path


def compiler_env(cache_dir: Path) -> dict:
    """Compile through ccache where it is installed: the reference groups, monitors and main
    loop generate the same C++ for every submission, so most of a build is a cache hit.

    ccache's store and path settings are set whenever ccache is installed (nvcc goes through
    it too, :mod:`graders.genn_cuda`); ``CXX``/``CC`` only where the server set no ``CXX``.
    """
    if not shutil.which("ccache"):
        return {}
    env = {} if os.environ.get("CXX") else {"CXX": "ccache g++", "CC": "ccache gcc"}
    if not os.environ.get("CCACHE_DIR"):
        env["CCACHE_DIR"] = str(cache_dir / "ccache")
    # build folders differ per job; hash paths relative to it so identical code still hits
    env["CCACHE_BASEDIR"] = tempfile.gettempdir()
    env["CCACHE_NOHASHDIR"] = "1"
    return env


#: The simulation process's environment in the sandbox, beyond :func:`graders.sandbox.base_env`: the
#: toolchain's settings, where set (never the server's other variables).
SIMULATOR_INHERITED = (
    "PYTHONUNBUFFERED",
    "OMP_NUM_THREADS",
    "PYTHONPATH",
    settings.MAKE_JOBS_ENV,
    "CC",
    "CXX",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
    "CPATH",
    "LIBRARY_PATH",
    "LD_LIBRARY_PATH",
    "CCACHE_DIR",
    "CCACHE_BASEDIR",
    "CCACHE_NOHASHDIR",
    "CCACHE_DISABLE",
    "CCACHE_MAXSIZE",
    # the GPU this simulation is given (graders.gpus) and the GeNN levers left off
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    settings.GENN_LEVERS_OFF_ENV,
)


def simulator_sandbox(
    command: list[str], jobdir: Path, env: dict, backend: str
) -> tuple[list[str], list[int], dict]:
    """``command`` inside the sandbox (:mod:`graders.sandbox`), its fds and its environment.

    The simulation process builds and runs code derived from a student's strings, so it gets
    no network, no home, nothing of the course but the ``graders`` package, and writes only in
    its job folder (and ccache's store, when ccache is used); GeNN and CUDA are read-only, and
    the GPU's device nodes are there only for the CUDA backend.
    """
    new = sandbox.base_env(home=str(jobdir), tmpdir=str(jobdir))
    new.update({k: env[k] for k in SIMULATOR_INHERITED if k in env})
    ro = [str(Path(__file__).resolve().parent)]  # graders: the simulation process's own code
    rw, devices, path = [str(jobdir)], [], []
    if env.get("CCACHE_DIR") and not env.get("CCACHE_DISABLE"):
        rw.append(str(cache.ensure_dir(Path(env["CCACHE_DIR"]))))
    cxx = compiler()
    if cxx and not cxx.startswith(("/usr/", "/bin/")):  # a compiler installed elsewhere
        ro.append(str(Path(cxx).resolve().parent.parent))
        path.append(str(Path(cxx).parent))
    if backend.startswith("genn"):
        # genn-buildmodel.sh counts the cores with lscpu, which reads them there
        ro.append("/sys/devices/system/cpu")
        gp = genn_path()
        if gp is not None:
            ro.append(str(gp.resolve()))
            new["GENN_PATH"] = str(gp.resolve())
            path.append(str(gp.resolve() / "bin"))
    if backend == "genn":
        cp = cuda_path()
        if cp is not None:
            ro.append(str(cp.resolve()))
            new["CUDA_PATH"] = str(cp.resolve())
            path.append(str(cp.resolve() / "bin"))
        devices = sorted(str(p) for p in Path("/dev").glob("nvidia*"))
        ro += ["/sys"] if os.path.isdir("/sys") else []  # the CUDA driver reads it
    new["PATH"] = os.pathsep.join([*path, new["PATH"]])
    ro = [p for p in dict.fromkeys(ro) if os.path.exists(p)]
    argv, fds = sandbox.bwrap_argv(
        command, home=str(jobdir), chdir=str(jobdir), ro=ro, rw=rw, devices=devices
    )
    return argv, fds, new
