"""The result cache: its key, its entries on disk, and the locks that keep builds single."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import json
import os
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from .assignments import get
from .backends import genn_path, genn_version
from .defaults import CACHE_ENV
from .normalise import normalise_spec


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


def cache_key(assignment: str, spec: dict, cases: list, backend: str) -> str:
    """Hash of everything that determines the observables, including the grader's own code.

    The spec is hashed after :func:`normalise_spec`, so answers that differ only in layout
    (the same right answer typed by many students) share one build.
    """
    mod = sys.modules[type(get(assignment)).__module__]
    code = hashlib.sha256(inspect.getsource(mod).encode()).hexdigest()
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


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


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
