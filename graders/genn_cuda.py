"""GeNN's CUDA backend set up for one nvcc build per model, in the simulation process.

With Brian2GeNN's defaults (``devices.genn.cuda_backend.device_select = 'OPTIMAL'``,
``blocksize_select_method = 'OCCUPANCY'``) GeNN 4.9 generates a dry-run copy of the model and
compiles every module with a throwaway ``nvcc -cubin`` per visible GPU to read its register use
(``chooseOptimalDevice`` in GeNN's ``src/genn/backends/cuda/optimiser.cc``) before the real
build: every model is compiled at least twice. The levers here, each applied by
:func:`apply` when :func:`graders.backends.activate` selects a GeNN backend:

``manual``
    ``device_select = 'MANUAL'`` on ``manual_device = 0``, the first GPU this process sees: the
    pipeline shows each simulation process only the GPU its worker or batch was given
    (:mod:`graders.gpus`), so device 0 is that GPU. ``blocksize_select_method = 'MANUAL'`` with
    :data:`BLOCK_SIZE` for every kernel. GeNN then goes straight to the real build.
``simple_errors``
    GeNN's CUDA preference ``generateSimpleErrorHandling`` (GeNN 4.8.1: "can speed up
    compilation by up to 10x" for models with many populations, which batch models are): a
    failing CUDA call aborts instead of throwing an exception with its line, which nvcc would
    otherwise expand at every call site. Brian2GeNN 1.7 has no preference for it, so the line
    is added to the model definition Brian2GeNN writes (``magicnetwork_model.cpp``), right
    after the preferences its template sets, before ``genn-buildmodel`` reads it
    (:func:`add_simple_error_handling`); no installed file is changed.
``make_jobs``
    Brian2GeNN runs ``make`` without ``-j``, so GeNN's modules (neuron update, synapse update,
    init, runner, custom update) go through nvcc one after another; ``MAKEFLAGS=-jN``
    (:func:`make_jobs`) compiles them side by side. It helps the CPU backend's g++ builds too,
    so ``genn-cpu`` takes this lever alone.
``nvcc_ccache``
    nvcc through ccache where ccache is installed: GeNN's generated Makefile calls
    ``$(CUDA_PATH)/bin/nvcc``, so Brian2GeNN is pointed at a CUDA folder of symbolic links
    whose ``bin/nvcc`` runs ``ccache <real nvcc>`` (:func:`ccache_cuda_root`).

``AUTOGRADE_GENN_LEVERS_OFF`` (a comma-separated list of the names above) leaves a lever at
Brian2GeNN's default, so that ``./dev gpu-check`` can measure each one on and off.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import settings

LEVERS = ("manual", "simple_errors", "make_jobs", "nvcc_ccache")

#: One block size for every kernel. An exercise network is small (adaptive threshold: a neuron
#: per hidden case; E/I: a few neurons and a few hundred input synapses; a batch model up to 32
#: of those side by side), so a kernel launches a few thousand threads at most and the GPU is
#: nowhere near full: occupancy tuning (GeNN's OCCUPANCY, which costs the extra nvcc pass) has
#: nothing to gain. GeNN pads every population's threads to a multiple of the block size, and
#: 32 is one warp, the least a GPU schedules: a one-neuron group costs one warp, not a block of
#: 128-1024 threads. The same value for all nine: Brian2GeNN 1.7 fills GeNN 4.9's array of
#: block sizes by position in an older kernel order (its ``learning_blocksize`` lands on the
#: synapse-dynamics kernel, its ``synapse_dynamics_blocksize`` on the init kernel, ...), so only
#: equal values mean what they say. (Its nine values leave GeNN's two custom-update kernels at
#: 0; Brian2GeNN makes no custom updates, so those kernels are never generated.)
BLOCK_SIZE = 32
BLOCK_SIZE_PREFS = (
    "neuron_blocksize",
    "synapse_blocksize",
    "learning_blocksize",
    "synapse_dynamics_blocksize",
    "init_blocksize",
    "init_sparse_blocksize",
    "pre_neuron_reset_blocksize",
    "pre_synapse_reset_blocksize",
)

#: The model definition Brian2GeNN writes into the project folder.
MODEL_FILE = "magicnetwork_model.cpp"
#: The last preference Brian2GeNN 1.7's model template sets for the CUDA backend.
_ANCHOR = "GENN_PREFERENCES.userNvccFlags"
SIMPLE_ERRORS_LINE = "GENN_PREFERENCES.generateSimpleErrorHandling = true;"


class GennSetupError(RuntimeError):
    """The generated model definition is not the one this module knows how to extend."""


def levers_off(environ=None) -> set[str]:
    """The levers ``AUTOGRADE_GENN_LEVERS_OFF`` turns off (unknown names are an error)."""
    env = os.environ if environ is None else environ
    names = {n.strip() for n in env.get(settings.GENN_LEVERS_OFF_ENV, "").split(",") if n.strip()}
    unknown = names - set(LEVERS)
    if unknown:
        raise ValueError(
            f"{settings.GENN_LEVERS_OFF_ENV} names {', '.join(sorted(unknown))}; "
            f"the levers are {', '.join(LEVERS)}"
        )
    return names


def set_manual_prefs(prefs) -> None:
    """Brian2GeNN's CUDA preferences for one compile per model (see the module docstring)."""
    cuda = prefs.devices.genn.cuda_backend
    cuda.device_select = "MANUAL"
    cuda.manual_device = 0  # the one GPU this process is shown (graders.gpus.visible_env)
    cuda.blocksize_select_method = "MANUAL"
    for name in BLOCK_SIZE_PREFS:
        setattr(cuda, name, BLOCK_SIZE)


def add_simple_error_handling(text: str) -> str:
    """``text`` (a CUDA model definition of Brian2GeNN 1.7) with ``generateSimpleErrorHandling``
    turned on, after the preferences the template sets; unchanged where it already is.

    Raises
    ------
    GennSetupError
        When the template's last preference line is not there exactly once (another
        Brian2GeNN, or a model generated for the CPU).
    """
    if SIMPLE_ERRORS_LINE in text:
        return text
    lines = text.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.strip().startswith(_ANCHOR)]
    if len(hits) != 1:
        raise GennSetupError(
            f"the model definition has {len(hits)} lines setting {_ANCHOR}, expected 1 (is this "
            "Brian2GeNN 1.7's CUDA model?); set "
            f"{settings.GENN_LEVERS_OFF_ENV}=simple_errors to build without the lever"
        )
    line = lines[hits[0]]
    indent = line[: len(line) - len(line.lstrip())]
    lines.insert(hits[0] + 1, f"{indent}{SIMPLE_ERRORS_LINE}\n")
    return "".join(lines)


def _hook_model_source(device) -> None:
    """Make ``device`` (Brian2GeNN's) add :data:`SIMPLE_ERRORS_LINE` to each CUDA model
    definition it writes, before it compiles; once per device."""
    if getattr(device.generate_model_source, "_simple_errors", False):
        return
    original = device.generate_model_source

    def generate_model_source(writer, main_lines, use_GPU):
        original(writer, main_lines, use_GPU)
        if use_GPU:
            path = Path(writer.project_dir) / MODEL_FILE
            text = path.read_text()
            new = add_simple_error_handling(text)
            if new != text:
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_text(new)
                os.replace(tmp, path)

    generate_model_source._simple_errors = True
    device.generate_model_source = generate_model_source


NVCC_WRAPPER = """#!/bin/sh
# nvcc through ccache (graders.genn_cuda): GeNN's Makefile runs $(CUDA_PATH)/bin/nvcc
exec {ccache} {nvcc} "$@"
"""


def ccache_cuda_root(real_root: Path, into: Path, ccache: str, nvcc: Path) -> Path:
    """A CUDA folder at ``into`` that is ``real_root`` but for ``bin/nvcc``, which runs
    ``ccache nvcc``: every other entry of ``real_root`` (``include``, ``lib64``, ...) is a
    symbolic link, so GeNN's include and library paths under ``$(CUDA_PATH)`` still resolve.

    nvcc is called by its real path (it finds its own tools and ``nvcc.profile`` beside it),
    so ccache sees, and hashes, the real compiler.
    """
    into.mkdir(parents=True, exist_ok=True)
    for entry in real_root.iterdir():
        if entry.name != "bin" and not (into / entry.name).exists():
            (into / entry.name).symlink_to(entry)
    (into / "bin").mkdir(exist_ok=True)
    wrapper = into / "bin" / "nvcc"
    tmp = wrapper.with_name(".nvcc.tmp")
    tmp.write_text(NVCC_WRAPPER.format(ccache=_sh_quote(ccache), nvcc=_sh_quote(str(nvcc))))
    tmp.chmod(0o755)
    os.replace(tmp, wrapper)
    return into


def _sh_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def cuda_root_for_build(real_root: Path, nvcc: Path | None, build_dir: Path, off: set[str]) -> Path:
    """The CUDA folder to give Brian2GeNN: a ccache one beside ``build_dir`` where ccache is
    installed and wanted (not ``CCACHE_DISABLE``, not turned off) and ``nvcc`` (the real one,
    :func:`graders.backends.real_nvcc`) is there, else ``real_root``."""
    ccache = shutil.which("ccache")
    if "nvcc_ccache" in off or not ccache or os.environ.get("CCACHE_DISABLE") or nvcc is None:
        return real_root
    into = build_dir.parent / (build_dir.name + "-cuda-ccache")
    return ccache_cuda_root(real_root, into, ccache, nvcc)


#: Modules GeNN 4.9's CUDA backend compiles for a model (neuron update, synapse update, custom
#: update, init, runner): more make jobs than these find nothing to do.
GENN_MODULES = 5


def make_jobs() -> int:
    """``make -j`` for a GeNN build: ``AUTOGRADE_MAKE_JOBS`` (default: the cores), at most
    :data:`GENN_MODULES`, since each job is an nvcc of its own, with its memory, under the
    simulation's memory limit."""
    jobs = os.environ.get(settings.MAKE_JOBS_ENV) or str(os.cpu_count() or 1)
    return max(1, min(int(jobs), GENN_MODULES))


def apply(
    prefs,
    device,
    *,
    gpu: bool,
    build_dir: Path,
    cuda_root: Path | None = None,
    nvcc: Path | None = None,
) -> dict:
    """Apply every lever not turned off to a GeNN build in ``build_dir`` (``gpu``: on the CUDA
    backend; the CPU backend takes ``make_jobs`` only); what was done, lever -> value, for the
    simulation's ``meta.json``.

    ``cuda_root`` is CUDA's folder and ``nvcc`` the real nvcc binary in it (for the ccache
    wrapper), as :mod:`graders.backends` found them.
    """
    off = levers_off()
    done: dict = {}
    if "make_jobs" not in off:
        # Brian2GeNN's `make` passes its environment on, and GeNN's generated Makefiles read it
        os.environ["MAKEFLAGS"] = f"-j{make_jobs()}"
        done["make_jobs"] = make_jobs()
    if not gpu:
        return done
    if "manual" not in off:
        set_manual_prefs(prefs)
        done["manual"] = {"device": 0, "block_size": BLOCK_SIZE}
    if "simple_errors" not in off:
        _hook_model_source(device)
        done["simple_errors"] = True
    if cuda_root is not None:
        root = cuda_root_for_build(cuda_root, nvcc, Path(build_dir), off)
        prefs.devices.genn.cuda_backend.cuda_path = str(root)
        if root != cuda_root:
            done["nvcc_ccache"] = str(root / "bin" / "nvcc")
    return done
