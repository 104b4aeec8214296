"""Run a spec's network in a fresh, limited process and cache its observables on disk."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tokenize
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from . import limits, sandbox
from .assignments import get
from .backends import compiler, cuda_path, genn_path, genn_version
from .results import Problem, SpecError

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MEMORY_MB = 4096
CACHE_ENV = "AUTOGRADE_CACHE"

#: Where every process appends one JSON line per build or cache hit (for the benchmark, which
#: counts across worker processes); unset: nothing is written.
STATS_ENV = "AUTOGRADE_STATS_FILE"

# Counts for this process; tests and the benchmark read them.
STATS = {"builds": 0, "cache_hits": 0}

_LAYOUT_TOKENS = {
    tokenize.NEWLINE,
    tokenize.NL,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
    tokenize.COMMENT,
}
_WORD = "A-Za-z0-9_."
# For lines Python cannot tokenize: whitespace with a name or number on one side and an
# operator on the other, or next to a bracket or comma (removing it never joins two tokens)
_SPACE_AT_OPERATOR = re.compile(
    rf"(?<=[{_WORD}])[ \t]+(?=[^{_WORD}\s])|(?<=[^{_WORD}\s])[ \t]+(?=[{_WORD}])"
    r"|[ \t]+(?=[()\[\],])|(?<=[()\[\],])[ \t]+"
)


class SimulationFailed(RuntimeError):
    """The network did not produce observables: ``kind`` is timeout, memory or crashed."""

    def __init__(self, kind: str, message: str, log: str = ""):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.log = log


@dataclass
class Simulation:
    observables: dict[str, np.ndarray]
    backend: str
    cached: bool
    seconds: float
    meta: dict = field(default_factory=dict)


def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "brian2genn-autograder"


def _versions(backend: str) -> dict:
    out = {}
    for pkg in ("brian2", "brian2genn", "numpy", "brian2genn-autograder"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    if backend.startswith("genn"):
        gp = genn_path()
        out["genn"] = genn_version(gp) if gp else None
    return out


def _tokens(code: str) -> list[tuple[int, str, int, int]] | None:
    """Python's tokens of one line as (type, string, start, end) (an open bracket at its end is
    fine), or ``None``."""
    out = []
    try:
        for t in tokenize.generate_tokens(io.StringIO(code).readline):
            if t.type == tokenize.ERRORTOKEN:
                return None
            if t.type not in _LAYOUT_TOKENS:
                out.append((t.type, t.string, t.start[1], t.end[1]))
    except tokenize.TokenError:
        pass  # end of input inside brackets: the tokens so far are complete
    except (SyntaxError, IndentationError):
        return None
    return out


def _same(a, b) -> bool:
    return a is not None and b is not None and [t[:2] for t in a] == [t[:2] for t in b]


def _compact(code: str) -> str:
    """``code`` (one line) without the spaces its tokens do not need."""
    toks = _tokens(code)
    if not toks:
        return _SPACE_AT_OPERATOR.sub("", code)
    out = toks[0][1]
    for prev, tok in zip(toks, toks[1:], strict=False):
        glued = _tokens(prev[1] + tok[1])
        # a needed space is kept as it was typed: Brian reads 'unless  refractory' differently
        out += tok[1] if _same(glued, [prev, tok]) else code[prev[3] : tok[2]] + tok[1]
    return out if _same(_tokens(out), toks) else _SPACE_AT_OPERATOR.sub("", code)


def normalise_code(text: str) -> str:
    """``text`` with only its layout made canonical, for the cache key.

    Comments, blank lines and indentation are dropped, and within a line every space that
    separates nothing (``v>vth`` and ``v > vth``, ``dv/dt=-v/tau`` and ``dv/dt = -v/tau``): a
    space is removed only where the line still splits into the same Python tokens without it.
    Spaces that separate two tokens are kept exactly as typed (Brian's equation flags are
    sensitive to them). Statements keep their order and nothing else is rewritten, so two
    fields normalise alike only when they are the same code.
    """
    lines = []
    for raw in text.splitlines():
        code = raw.partition("#")[0].strip()
        if code:
            lines.append(_compact(code))
    return "\n".join(lines)


def normalise_expression(text: str) -> str:
    """An expression field (a threshold) with only the spaces inside it made canonical.

    Brian parses the string as it is: a leading space is an "unexpected indent", and a comment
    or a second line is not checked here, so those keep the text as typed.
    """
    body = text.strip()
    if not body or "#" in text or "\n" in body:
        return text
    head, tail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
    return head + _compact(body) + tail


def normalise_spec(spec: dict, kinds: dict[str, str] | None = None) -> dict:
    """Every string field of ``spec`` with its layout made canonical, for the cache key.

    ``kinds`` maps field names to the assignment's field kinds: equations and statements go
    through :func:`normalise_code` (Brian ignores their indentation, blank lines and comments),
    expressions through :func:`normalise_expression`, anything else stays as it is.
    """
    kinds = kinds or {}
    out = {}
    for k, v in spec.items():
        kind = kinds.get(k, "equations")
        if not isinstance(v, str) or kind not in ("equations", "statements", "expression"):
            out[k] = v
        elif kind == "expression":
            out[k] = normalise_expression(v)
        else:
            out[k] = normalise_code(v)
    return out


def cache_key(assignment: str, spec: dict, cases: list, backend: str) -> str:
    """Hash of everything that determines the observables, including the grader's own code.

    The spec is hashed after :func:`normalise_spec`, so answers that differ only in layout
    (the same right answer typed by many students) share one build.
    """
    code = get(assignment).code_digest()  # every module of the assignment's package
    blob = json.dumps(
        {
            "assignment": assignment,
            "spec": normalise_spec(spec, {f.name: f.kind for f in get(assignment).fields}),
            "cases": cases,
            "backend": backend,
            "versions": _versions(backend),
            "code": code,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def compiler_env(cache_dir: Path) -> dict:
    """Compile through ccache where it is installed: the reference groups, monitors and main
    loop generate the same C++ for every submission, so most of a build is a cache hit."""
    if os.environ.get("CXX") or not shutil.which("ccache"):
        return {}
    env = {"CXX": "ccache g++", "CC": "ccache gcc"}
    if not os.environ.get("CCACHE_DIR"):
        env["CCACHE_DIR"] = str(cache_dir / "ccache")
    # build folders differ per job; hash paths relative to it so identical code still hits
    env["CCACHE_BASEDIR"] = tempfile.gettempdir()
    env["CCACHE_NOHASHDIR"] = "1"
    return env


def record_event(event: str, assignment: str, backend: str) -> None:
    """Count ``event`` ("build", "hit" or another) here and in the ``STATS_ENV`` file."""
    name = {"build": "builds", "hit": "cache_hits"}.get(event, event)
    STATS[name] = STATS.get(name, 0) + 1
    path = os.environ.get(STATS_ENV)
    if not path:
        return
    line = json.dumps({"event": event, "assignment": assignment, "backend": backend})
    try:  # one short O_APPEND write per line: safe from parallel processes
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def simulate(
    assignment: str,
    spec: dict,
    cases: list[dict] | None = None,
    backend: str = "runtime",
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    memory_mb: int | None = DEFAULT_MEMORY_MB,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    keep_build: str | os.PathLike | None = None,
    dry_run: bool = True,
) -> Simulation:
    """Build and run one network holding every case of ``assignment`` for ``spec``.

    Parameters
    ----------
    assignment, spec, cases
        What to simulate; ``cases`` defaults to the assignment's hidden cases.
    backend : str
        A backend name from :mod:`graders.backends` (already checked to be available).
    timeout : float
        Wall-clock seconds for the whole job (Python start, build and run); the process group,
        compiler and simulation binary included, is killed at the limit.
    memory_mb : int or None
        Limit in MB on the resident memory of the worker and everything it starts (summed over
        the process tree, see :mod:`graders.limits`); the tree is killed past it and the
        simulation fails with "memory". ``None`` or 0: no limit.
    cache_dir, use_cache
        Where observables are cached by :func:`cache_key`; a hit skips the build.
    keep_build : path or None
        Copy the job folder (generated code, logs) there instead of deleting it.

    Raises
    ------
    SpecError
        Brian rejected the spec in the dry run (units, unknown identifiers).
    SimulationFailed
        Timeout, out of memory, or a crash; the message says which.
    """
    a = get(assignment)
    cases = a.cases() if cases is None else cases
    key = cache_key(assignment, spec, cases, backend)
    cdir = Path(cache_dir) if cache_dir else default_cache_dir()
    entry = _entry(cdir, key)
    args = (assignment, spec, cases, backend, timeout, memory_mb, cdir, entry, keep_build, dry_run)
    if not use_cache:
        return _build(*args, store=False)
    hit = _cached(entry, assignment, backend)
    if hit is not None:
        return hit
    # The same spec may be on its way in another worker (identical answers graded side by
    # side): wait for that build instead of repeating it.
    with _key_lock(cdir, key):
        hit = _cached(entry, assignment, backend)
        if hit is not None:
            return hit
        return _build(*args, store=True)


def simulate_batch(
    assignment: str,
    specs: list[dict],
    cases: list[dict] | None = None,
    backend: str = "runtime",
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    memory_mb: int | None = DEFAULT_MEMORY_MB,
    cache_dir: str | os.PathLike | None = None,
    on_locked=None,
) -> list[str]:
    """Fill the cache for many answers with one build that holds all their networks.

    A class's distinct answers share one compile (one GeNN model, one C++ program) instead of a
    build each. Nothing is returned to grade from: each answer is graded later by
    :func:`simulate`, which finds its entry. Whatever goes wrong here costs only time: an answer
    that is not in the cache afterwards is built alone by :func:`simulate`, where its own
    errors and limits apply.

    While the batch builds it holds the lock of every answer in it, so a grader that needs one
    of them waits for the batch instead of building it a second time.

    Parameters
    ----------
    specs
        Validated answer specs (see :func:`graders.spec.validate`).
    timeout : float
        Limit for one answer; the batch may take ``timeout * (1 + len(batch) / 4)``.
    on_locked : callable, optional
        Called (without arguments) once the locks are held, before the build starts.

    Returns
    -------
    list of str
        Per spec: "cached" (it was already), "built", "busy" (another process is building it),
        "duplicate" (the same key as an earlier spec), "left" (Brian rejected it or its build
        failed: it builds alone later) or "failed" (the batch as a whole failed).
    """
    a = get(assignment)
    cases = a.cases() if cases is None else cases
    cdir = Path(cache_dir) if cache_dir else default_cache_dir()
    status: list[str] = []
    todo: dict[str, int] = {}  # key -> index into specs
    locks: list[int] = []
    try:
        for i, spec in enumerate(specs):
            key = cache_key(assignment, spec, cases, backend)
            if key in todo:
                status.append("duplicate")
            elif (_entry(cdir, key) / "obs.npz").is_file():
                status.append("cached")
            else:
                fd = _try_lock(cdir, key)
                if fd is None:
                    status.append("busy")
                    continue
                locks.append(fd)
                # checked again under the lock: it may have been stored in between
                status.append("cached" if (_entry(cdir, key) / "obs.npz").is_file() else "")
                if not status[-1]:
                    todo[key] = i
        if on_locked is not None:
            on_locked()
        if not todo:
            return status
        keys = list(todo)
        batch = [specs[todo[k]] for k in keys]
        limit = timeout * (1 + len(batch) / 4)
        try:
            outcome = _build_batch(assignment, batch, cases, backend, limit, memory_mb, cdir, keys)
        except (SimulationFailed, SpecError):
            outcome = ["failed"] * len(batch)
        for key, result in zip(keys, outcome, strict=True):
            status[todo[key]] = result
        return status
    finally:
        for fd in locks:
            os.close(fd)


def _entry(cdir: Path, key: str) -> Path:
    """The cache folder of ``key`` (``obs.npz`` and ``meta.json``)."""
    return cdir / key[:2] / key


def _try_lock(cdir: Path, key: str) -> int | None:
    """The key's lock if nobody holds it (never waits), else ``None``."""
    try:
        fd = os.open(_ensure(cdir / "locks") / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _build_batch(assignment, specs, cases, backend, timeout, memory_mb, cdir, keys) -> list[str]:
    jobdir = Path(tempfile.mkdtemp(prefix=f"graders-{assignment}-batch-"))
    try:
        job = {
            "assignment": assignment,
            "specs": specs,
            "cases": cases,
            "backend": backend,
            "dry_run": True,
        }
        meta = _run_worker(
            jobdir, job, cdir, timeout, memory_mb, assignment, backend, event="batch_build"
        )
        out = []
        for i, key in enumerate(keys):
            if i not in meta["built"]:
                out.append("left")
                continue
            entry_meta = {
                "backend": backend,
                "build_and_run_s": meta["build_and_run_s"],
                "seconds": meta["seconds"],
                "batch": len(specs),
            }
            _store(cdir, _entry(cdir, key), jobdir / f"obs_{i}.npz", entry_meta)
            out.append("built")
        return out
    finally:
        shutil.rmtree(jobdir, ignore_errors=True)


def _cached(entry: Path, assignment: str, backend: str) -> Simulation | None:
    if not (entry / "obs.npz").is_file():
        return None
    try:
        meta = json.loads((entry / "meta.json").read_text())
        obs = _load(entry / "obs.npz")
    except (OSError, ValueError):
        return None
    record_event("hit", assignment, backend)
    return Simulation(obs, backend, True, 0.0, meta)


@contextlib.contextmanager
def _key_lock(cdir: Path, key: str):
    """An exclusive lock per cache key, across processes; released when its holder exits."""
    try:
        lockdir = _ensure(cdir / "locks")
        fd = os.open(lockdir / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # a read-only cache: build without the lock
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _build(
    assignment, spec, cases, backend, timeout, memory_mb, cdir, entry, keep_build, dry_run, store
) -> Simulation:
    jobdir = Path(tempfile.mkdtemp(prefix=f"graders-{assignment}-"))
    try:
        job = {
            "assignment": assignment,
            "spec": spec,
            "cases": cases,
            "backend": backend,
            "dry_run": dry_run,
        }
        meta = _run_worker(jobdir, job, cdir, timeout, memory_mb, assignment, backend)
        obs = _load(jobdir / "obs.npz")
        if store:
            _store(cdir, entry, jobdir / "obs.npz", meta)
        return Simulation(obs, backend, False, meta["seconds"], meta)
    finally:
        if keep_build:
            shutil.copytree(jobdir, Path(keep_build), dirs_exist_ok=True)
        shutil.rmtree(jobdir, ignore_errors=True)


#: The worker's environment in the sandbox, beyond :func:`graders.sandbox.base_env`: the
#: toolchain's settings, where set (never the server's other variables).
WORKER_INHERITED = (
    "PYTHONUNBUFFERED",
    "OMP_NUM_THREADS",
    "PYTHONPATH",
    "AUTOGRADE_MAKE_JOBS",
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
    "CUDA_VISIBLE_DEVICES",
)


def worker_sandbox(
    command: list[str], jobdir: Path, env: dict, backend: str
) -> tuple[list[str], list[int], dict]:
    """``command`` inside the sandbox (:mod:`graders.sandbox`), its fds and its environment.

    The worker builds and runs code derived from a student's strings, so it gets no network, no
    home, nothing of the course but the ``graders`` package, and writes only in its job folder
    (and ccache's store, when ccache is used); GeNN and CUDA are read-only, and the GPU's device
    nodes are there only for the CUDA backend.
    """
    new = sandbox.base_env(home=str(jobdir), tmpdir=str(jobdir))
    new.update({k: env[k] for k in WORKER_INHERITED if k in env})
    ro = [str(Path(__file__).resolve().parent)]  # graders: the worker's own code
    rw, devices, path = [str(jobdir)], [], []
    if env.get("CCACHE_DIR") and not env.get("CCACHE_DISABLE"):
        rw.append(str(_ensure(Path(env["CCACHE_DIR"]))))
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


def _run_worker(jobdir, job, cdir, timeout, memory_mb, assignment, backend, event="build") -> dict:
    """Run ``python -m graders.worker`` on ``job`` within the limits (:func:`graders.limits.run`),
    sandboxed where wanted (:func:`worker_sandbox`); its ``meta.json``.

    Raises
    ------
    SpecError, SimulationFailed
        As :func:`simulate` documents.
    """
    t0 = time.perf_counter()
    (jobdir / "job.json").write_text(json.dumps(job))
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    env.update(compiler_env(cdir))
    command = [sys.executable, "-m", "graders.worker", str(jobdir)]
    fds: list[int] = []
    cap = f"worker-{Path(jobdir).name}"
    if sandbox.wanted():
        command, fds, env = worker_sandbox(command, Path(jobdir), env, backend)
    command = sandbox.script_argv(cap, command)  # at most sandbox.MAX_PROCESSES, sandbox or not
    record_event(event, assignment, backend)  # counted when started, failed ones included
    try:
        with open(jobdir / "worker.log", "wb") as log:
            # in a session of its own, so that a limit kills the compiler and binary too
            out = limits.run(
                command,
                timeout=timeout,
                memory_mb=memory_mb,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=jobdir,
                env=env,
                pass_fds=fds,
            )
    finally:
        for fd in fds:
            os.close(fd)
        sandbox.release(cap)
    if out.stopped == "timeout":
        raise SimulationFailed(
            "timeout",
            f"the simulation did not finish within the limit of {timeout:g} s and was stopped",
        )
    seconds = time.perf_counter() - t0
    logtext = (jobdir / "worker.log").read_text(errors="replace")[-4000:]
    if out.stopped == "memory":
        # the same message as a MemoryError inside the worker; the figures go to the log
        raise SimulationFailed(
            "memory", "the simulation ran out of memory", f"{logtext}\n{out.note}"
        )
    if (jobdir / "error.json").is_file():
        err = json.loads((jobdir / "error.json").read_text())
        if err["kind"] == "invalid_spec":
            raise SpecError([Problem(**p) for p in err["problems"]])
        raise SimulationFailed(err["kind"], err["message"], logtext)
    if out.returncode != 0 or not (jobdir / "meta.json").is_file():
        rc = out.returncode
        # bwrap (the sandbox) reports a child killed by signal N as exit status 128 + N
        killed = {-signal.SIGKILL, -signal.SIGSEGV, 128 + signal.SIGKILL, 128 + signal.SIGSEGV}
        kind = "memory" if rc in killed else "crashed"
        why = "was killed (out of memory?)" if kind == "memory" else f"exited with {rc}"
        raise SimulationFailed(kind, f"the simulation process {why}", logtext)
    meta = json.loads((jobdir / "meta.json").read_text())
    meta["seconds"] = seconds
    return meta


def _store(cdir: Path, entry: Path, obs: Path, meta: dict) -> None:
    """Put one cache entry in place atomically: parallel workers never see half an entry."""
    tmp = Path(tempfile.mkdtemp(dir=_ensure(cdir)))
    shutil.copy(obs, tmp / "obs.npz")
    (tmp / "meta.json").write_text(json.dumps(meta))
    entry.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, entry)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
