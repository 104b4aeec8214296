"""The server's NVIDIA GPUs: which there are, which the grading uses, and who gets which.

A server with several GPUs grades on all of them: every pipeline worker and every batch build
is given one GPU, round-robin (:func:`assign`), and its simulation processes see only that one
through ``CUDA_VISIBLE_DEVICES`` (:func:`visible_env`), so that GeNN's manual device choice
(device 0 of what is visible, :mod:`graders.genn_cuda`) is the GPU it was given.

GPUs are found (:func:`found`) from ``CUDA_VISIBLE_DEVICES`` where it is set (a server started
with some GPUs only) and otherwise from ``nvidia-smi -L``; both sources can be passed in, so the
discovery is tested without a GPU. They are named by nvidia-smi's index (``autograde grade
--gpus 0,2``, the ``Grading.gpus`` setting); a child is handed the GPU's UUID where it is known,
which means the same device whatever order CUDA counts in, else the index with
``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (CUDA's own default order, fastest first, may differ from
nvidia-smi's).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: ``GPU 0: NVIDIA H200 (UUID: GPU-1b2c...)``, one line per GPU (MIG lines are indented).
_SMI_LINE = re.compile(r"^GPU (\d+): (.*?)(?: \(UUID: ([^)]+)\))?\s*$")


class GpuError(ValueError):
    """A GPU was asked for that is not here; the message names the GPUs there are."""


@dataclass(frozen=True)
class Gpu:
    """One GPU: nvidia-smi's index (or the entry of ``CUDA_VISIBLE_DEVICES``), its name and
    UUID where known."""

    index: str
    name: str = ""
    uuid: str = ""

    @property
    def visible(self) -> str:
        """The value of ``CUDA_VISIBLE_DEVICES`` that shows this GPU alone."""
        return self.uuid or self.index

    def describe(self) -> str:
        return f"GPU {self.index}" + (f": {self.name}" if self.name else "")


def parse_smi(text: str) -> list[Gpu]:
    """The GPUs of ``nvidia-smi -L``'s output (MIG slices are not listed separately)."""
    out = []
    for line in text.splitlines():
        m = _SMI_LINE.match(line)
        if m:
            out.append(Gpu(m.group(1), m.group(2), m.group(3) or ""))
    return out


def smi_list() -> str | None:
    """``nvidia-smi -L``'s output, or ``None`` where there is no nvidia-smi or it fails."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def found(
    environ: Mapping[str, str] | None = None, smi: Callable[[], str | None] = smi_list
) -> list[Gpu]:
    """The GPUs this server may grade on.

    ``CUDA_VISIBLE_DEVICES`` where it is set: its entries (indices or UUIDs), matched to
    nvidia-smi's list where one is there for names and UUIDs; empty or ``-1`` means none.
    Otherwise every GPU of ``nvidia-smi -L``. ``environ`` (default ``os.environ``) and ``smi``
    (what runs ``nvidia-smi -L``) let tests stand in for a GPU server.
    """
    env = os.environ if environ is None else environ
    listed = parse_smi(smi() or "")
    if "CUDA_VISIBLE_DEVICES" not in env:
        return listed
    out = []
    for entry in (e.strip() for e in env["CUDA_VISIBLE_DEVICES"].split(",")):
        # CUDA stops at the first entry it cannot use; -1 is the usual way to hide every GPU
        if not entry or entry.startswith("-"):
            break
        match = next((g for g in listed if entry in (g.index, g.uuid)), None)
        out.append(match or Gpu(entry))
    return out


def choose(requested: str, available: list[Gpu]) -> list[Gpu]:
    """The GPUs ``requested`` names (``"0,2"``, by index or UUID) among ``available``; all of
    them for an empty request.

    Raises
    ------
    GpuError
        A name that is not among ``available``, or a request where no GPU was found.
    """
    names = [n.strip() for n in (requested or "").split(",") if n.strip()]
    if not names:
        return list(available)
    have = ", ".join(g.index for g in available) or "none"
    if not available:
        raise GpuError(
            f"--gpus {requested} was asked for, but no GPU was found (nvidia-smi -L lists none, "
            "or CUDA_VISIBLE_DEVICES hides them): leave --gpus out, or grade on a GPU server"
        )
    out = []
    for n in names:
        gpu = next((g for g in available if n in (g.index, g.uuid)), None)
        if gpu is None:
            raise GpuError(f"no GPU {n!r} here (the GPUs found: {have}); choose among those")
        if gpu not in out:
            out.append(gpu)
    return out


def assign(gpus: list[Gpu], i: int) -> Gpu | None:
    """The GPU of the ``i``-th worker or batch: round-robin over ``gpus``; ``None`` without."""
    return gpus[i % len(gpus)] if gpus else None


def visible_env(gpu: Gpu | None) -> dict[str, str]:
    """The environment that shows a process ``gpu`` alone (nothing for ``None``)."""
    if gpu is None:
        return {}
    # by index, CUDA must count as nvidia-smi does; a UUID is the same device either way
    return {"CUDA_VISIBLE_DEVICES": gpu.visible, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def take(visible: list[str], counter) -> None:
    """A process pool's initializer: show this worker process the next GPU of ``visible``
    (values of :attr:`Gpu.visible`), round-robin by ``counter`` (a ``multiprocessing.Value``
    the pool's workers share), so that the simulations it starts, and its student kernels,
    see that GPU alone. Nothing for an empty ``visible``."""
    with counter.get_lock():
        i = counter.value
        counter.value += 1
    os.environ.update(visible_env(assign([Gpu(v) for v in visible], i)))
