"""The result cache: its key, its entries on disk, and the locks that keep builds single.

An entry is a folder ``<cache>/<key[:2]>/<key>/`` holding the observables (``obs.npz``, read
without pickle) and what the build reported (``meta.json``); it is put in place whole with one
``os.replace``, so a reader never sees half of one. The key hashes everything the observables
depend on (:func:`cache_key`). A lock file per key (``<cache>/locks/<key>.lock``, ``flock``)
lets a process wait for a build another one is doing instead of repeating it; the kernel drops
the lock when its holder exits, however it exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from . import settings
from .assignments import Assignment, resolve
from .backends import genn_path, genn_version
from .normalise import normalise_spec


def default_cache_dir() -> Path:
    """The folder :data:`graders.settings.CACHE_ENV` names, else the user's cache folder."""
    env = os.environ.get(settings.CACHE_ENV)
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


def cache_key(assignment: Assignment | str, spec: dict, cases: list, backend: str) -> str:
    """Hash of everything that determines the observables, including the grader's own code.

    The spec is hashed after :func:`normalise_spec`, so answers that differ only in layout
    (the same right answer typed by many students) share one build.
    """
    a = resolve(assignment)
    code = a.code_digest()  # every module of the assignment's package
    blob = json.dumps(
        {
            "assignment": a.name,
            "spec": normalise_spec(spec, {f.name: f.kind for f in a.fields}),
            "cases": cases,
            "backend": backend,
            "versions": _versions(backend),
            "code": code,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def load_observables(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (never unpickled)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def entry_dir(cdir: Path, key: str) -> Path:
    """The cache folder of ``key`` (``obs.npz`` and ``meta.json``)."""
    return cdir / key[:2] / key


def try_lock(cdir: Path, key: str) -> int | None:
    """The key's lock if nobody holds it (never waits), else ``None``."""
    try:
        fd = os.open(ensure_dir(cdir / "locks") / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def key_lock(cdir: Path, key: str):
    """An exclusive lock per cache key, across processes; released when its holder exits."""
    try:
        lockdir = ensure_dir(cdir / "locks")
        fd = os.open(lockdir / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # a read-only cache: build without the lock
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def is_stored(cdir: Path, key: str) -> bool:
    """Whether ``key`` has an entry (entries appear whole, see :func:`store`)."""
    return (entry_dir(cdir, key) / "obs.npz").is_file()


def read(entry: Path) -> tuple[dict[str, np.ndarray], dict] | None:
    """An entry's observables and meta, or ``None`` where it is missing or unreadable."""
    if not (entry / "obs.npz").is_file():
        return None
    try:
        meta = json.loads((entry / "meta.json").read_text())
        obs = load_observables(entry / "obs.npz")
    except (OSError, ValueError):
        return None
    return obs, meta


def store(cdir: Path, entry: Path, obs: Path, meta: dict) -> None:
    """Put one cache entry in place atomically: parallel workers never see half an entry."""
    tmp = Path(tempfile.mkdtemp(dir=ensure_dir(cdir)))
    shutil.copy(obs, tmp / "obs.npz")
    (tmp / "meta.json").write_text(json.dumps(meta))
    entry.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, entry)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_dir(path: Path) -> Path:
    """``path``, created with its parents where missing."""
    path.mkdir(parents=True, exist_ok=True)
    return path
