"""Batches: build the class's distinct answers together before their notebooks are graded.

Grading a submission needs one simulation of its answer; identical answers already share it
through the result cache. This module goes further: before the workers start, it reads each
submitted notebook *without running it*, guesses the answer its hidden cells will hand over
(the fields the source notebook's ``hidden_check(...)`` calls pass, when the student's cells
assign them plain string literals, as the task asks), and builds all distinct guesses in one
network (:func:`graders.harness.simulate_batch`): one GeNN model, one compile, for the class.

A guess is only ever a cache warm-up. The grade always comes from the spec the kernel actually
hands over, looked up by the same cache key; a wrong or missing guess costs a build of its own,
and a guess that breaks its batch's build leaves every answer of that batch to build alone.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from graders import SpecError, settings
from graders.assignments import Assignment, resolve
from graders.gpus import Gpu, assign
from graders.harness import simulate_batch
from graders.normalise import normalise_spec
from graders.notebook import cell_check
from graders.spec import validate

#: Backends where one build of many answers pays: GeNN generates and compiles a whole model at
#: once, so its fixed cost per build dominates. C++ standalone compiles a file per code object
#: and loses ccache hits when batched, so it is faster unbatched (both: README, "Measured here").
BATCH_BACKENDS = ("genn", "genn-cpu")
#: Answers per batch (on the CPU): a failure costs at most this many a build of their own.
BATCH_SIZE = 16
#: On ``genn`` (CUDA) nvcc is the cost: 60-140 s per model with 16 builds at once on an H200
#: machine against ~13 s for a C++ standalone build (issue 11). There a class is built as few
#: large models instead of one per core: at most this many answers each (a failed model costs
#: its answers an nvcc build of their own, so the cap bounds the damage), as few models as that
#: allows. ``./dev gpu-check`` measures builds and wall time with and without it.
GPU_BATCH_SIZE = 32
#: Device memory one answer's groups may need, generously (an exercise network is a few
#: hundred neurons with a few traces; a CUDA context, ~0.5 GB, is per process, not per answer).
GPU_MB_PER_ANSWER = 64
#: Share of the GPU's memory the batches may take: graders run their own models beside.
GPU_MEMORY_SHARE = 0.25

_UNKNOWN = object()


def _code_cells(nb: dict) -> list[str]:
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            src = cell.get("source", "")
            out.append("".join(src) if isinstance(src, list) else src)
    return out


def hidden_fields(source_nb: dict) -> dict[str, str]:
    """Field -> the variable name the source notebook's hidden cells pass for it: those of the
    first cell that stands for a check (:func:`graders.notebook.cell_check`, the reader the
    trusted grading uses too).

    Only fields passed as a plain name (``model=model``) are returned.
    """
    for src in _code_cells(source_nb):
        call = cell_check(src)
        if call is not None:
            return dict(call.fields)
    return {}


def _literal(node: ast.expr):
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _UNKNOWN
    return value if value is None or isinstance(value, str) else _UNKNOWN


def guess_spec(nb: dict, fields: dict[str, str]) -> dict | None:
    """The spec the notebook's hidden cells would hand over, read without running it.

    Top-level ``name = "literal"`` assignments are followed cell by cell; a name bound any
    other way (computed, inside a loop or function, augmented, imported) makes the guess
    unknown. Returns ``None`` when any field is unknown or no field is set.
    """
    names = set(fields.values())
    env: dict[str, object] = {}
    for src in _code_cells(nb):
        try:
            tree = ast.parse(src)
        except SyntaxError:  # IPython magics, or a typo: the kernel will tell
            if any(n in src for n in names):
                return None
            continue
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
                value = _literal(stmt.value)
                for t in stmt.targets:
                    env[t.id] = value
                continue
            for node in ast.walk(stmt):  # anything else that binds a field's name
                bound = (
                    node.id
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
                    else getattr(node, "name", None)
                )
                if bound in names:
                    env[bound] = _UNKNOWN
                if isinstance(node, ast.alias) and (node.asname or node.name) in names:
                    env[node.asname or node.name] = _UNKNOWN
    spec = {}
    for f, name in fields.items():
        value = env.get(name, _UNKNOWN)
        if value is _UNKNOWN:
            return None
        if value is not None:  # hidden_check drops None
            spec[f] = value
    return spec or None


@dataclass
class BatchReport:
    """What the batch builds found and did (the figures ``autograde grade`` reports)."""

    submissions: int = 0
    guessed: int = 0
    distinct: int = 0
    batches: int = 0
    status: dict = field(default_factory=dict)  # simulate_batch status -> count
    seconds: float = 0.0
    error: str = ""


def class_specs(
    course: Path, assignment: Assignment | str, students: list[str]
) -> tuple[list[dict], int]:
    """The validated guesses of ``students``' answers (distinct by cache key) and how many
    submissions gave a guess at all."""
    a = resolve(assignment)
    kinds = {f.name: f.kind for f in a.fields}
    sources = sorted((course / "source" / a.name).glob("*.ipynb"))
    guessed, specs, seen = 0, [], set()
    for src in sources:
        fields = hidden_fields(json.loads(src.read_text()))
        if not fields:
            continue
        for s in students:
            path = course / "submitted" / s / a.name / src.name
            try:
                spec = guess_spec(json.loads(path.read_text()), fields)
            except (OSError, ValueError):
                continue
            if spec is None:
                continue
            guessed += 1
            try:
                spec, _notes = validate(a, spec)
            except SpecError:
                continue  # graded (and explained) without any build
            key = json.dumps(normalise_spec(spec, kinds), sort_keys=True)
            if key not in seen:
                seen.add(key)
                specs.append(spec)
    return specs, guessed


def chunks(
    specs: list,
    parallel: int,
    size: int = BATCH_SIZE,
    *,
    gpu: bool = False,
    gpu_memory_mb: int | None = None,
) -> list[list]:
    """Split ``specs`` into batches.

    On the CPU (``gpu`` false): at least two answers each, at most ``size``, and as many as
    ``parallel`` so that every core builds one (graders blocked on a batch leave their cores
    idle, so one big batch on a multi-core machine would waste them).

    On a CUDA GPU (``gpu`` true): as few batches as :func:`gpu_batch_size` allows, since each
    costs an nvcc build that dwarfs everything else; ``parallel`` plays no part.
    """
    if not specs:
        return []
    if gpu:
        n = -(-len(specs) // gpu_batch_size(gpu_memory_mb))
    else:
        n = max(1, min(parallel, len(specs) // 2))
        n = max(n, -(-len(specs) // size))
    per = -(-len(specs) // n)
    return [specs[i : i + per] for i in range(0, len(specs), per)]


def gpu_batch_size(gpu_memory_mb: int | None = None) -> int:
    """Answers per model on a CUDA GPU: :data:`GPU_BATCH_SIZE`, fewer where the GPU's memory
    (``GPU_MEMORY_SHARE`` of it at ``GPU_MB_PER_ANSWER`` each) holds fewer; unknown memory
    leaves the cap alone."""
    if not gpu_memory_mb:
        return GPU_BATCH_SIZE
    by_memory = int(gpu_memory_mb * GPU_MEMORY_SHARE // GPU_MB_PER_ANSWER)
    return max(1, min(GPU_BATCH_SIZE, by_memory))


def gpu_memory_mb() -> int | None:
    """The smallest total memory of the visible NVIDIA GPUs in MB (``nvidia-smi``), or None."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        sizes = [int(x) for x in out.stdout.split() if x.strip().isdigit()]
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    return min(sizes) if out.returncode == 0 and sizes else None


def start(
    course: Path,
    assignment: str,
    students: list[str],
    backend: str,
    cache_dir: str | None,
    *,
    parallel: int = 1,
    timeout: float = settings.default("simulation_timeout"),
    memory_mb: int = settings.default("memory_mb"),
    gpus: list[Gpu] | None = None,
) -> tuple[threading.Thread, BatchReport]:
    """Start building the class's distinct answers in the background, in batches sized by
    :func:`chunks` for ``backend`` (one per core on the CPU, few large ones on a CUDA GPU).
    On ``genn``, batch ``i`` is built on ``gpus[i % len(gpus)]`` (:func:`graders.gpus.assign`)
    where ``gpus`` are given.

    Returns once every batch holds its answers' cache locks, so that workers started afterwards
    wait for the batch instead of building the same answers alone.
    """
    a = resolve(assignment)  # once for the class, every batch and answer
    report = BatchReport(submissions=len(students))
    ready = threading.Event()
    lock = threading.Lock()

    def one(batch, cases, locked, gpu):
        status = simulate_batch(
            a,
            batch,
            cases,
            backend,
            timeout=timeout,
            memory_mb=memory_mb,
            cache_dir=cache_dir,
            on_locked=locked,
            gpu=gpu,
        )
        with lock:
            for st in status:
                report.status[st] = report.status.get(st, 0) + 1

    def work():
        t0 = time.perf_counter()
        try:
            specs, report.guessed = class_specs(course, a, students)
            report.distinct = len(specs)
            cases = a.simulated_cases()
            gpu = backend == "genn"
            mem = gpu_memory_mb() if gpu else None
            batches = chunks(specs, parallel, gpu=gpu, gpu_memory_mb=mem)
            report.batches = len(batches)
            waiting = [len(batches)]

            def locked():
                with lock:
                    waiting[0] -= 1
                    if waiting[0] <= 0:
                        ready.set()

            if not batches:
                ready.set()
            with ThreadPoolExecutor(max_workers=max(1, len(batches))) as pool:
                on = (gpus or []) if gpu else []
                todo = [(b, assign(on, i)) for i, b in enumerate(batches)]
                for f in [pool.submit(one, b, cases, locked, g) for b, g in todo]:
                    try:
                        f.result()
                    except Exception as err:  # this batch only costs time
                        report.error = f"{type(err).__name__}: {err}"
                        ready.set()
        except Exception as err:  # a failed batch build only costs time
            report.error = f"{type(err).__name__}: {err}"
        finally:
            report.seconds = round(time.perf_counter() - t0, 2)
            ready.set()

    thread = threading.Thread(target=work, name="autograde-batches", daemon=True)
    thread.start()
    ready.wait()
    return thread, report
