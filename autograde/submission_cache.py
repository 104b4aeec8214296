"""Reuse a submission's graded result when nothing that decides it has changed.

A regrade (``autograde grade --force``) of a submission whose course folder, files, assignment
(its data files and its cells in the gradebook), course configuration, limits, backend, due date
and trusted code (``graders``, ``autograde`` and the pinned packages) are all unchanged gives
the same grades: the hidden checks are deterministic functions of the spec, and the spec of the
notebook. Such a result is
stored under a hash of all of that in ``<cache>/submissions/`` and handed back instead of
running the notebook again. Results cut short (a timeout, a dead kernel, a failed simulation)
are never stored, since the next run may go differently. Runs without the sandbox neither read
nor store them. Delete the folder (or set ``AUTOGRADE_NO_SUBMISSION_CACHE=1``,
:data:`graders.settings.NO_SUBMISSION_CACHE_ENV`) to run every notebook again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from importlib import metadata
from pathlib import Path

import autograde
import graders
from graders import backends, settings
from graders.cache import default_cache_dir
from graders.results import CUT_SHORT

from .jobs import SubmissionJob, SubmissionResult

FOLDER = "submissions"


def _tree_hash(folder: Path, pattern: str = "*") -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob(pattern)):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _files_hash(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0")
        h.update(hashlib.sha256(files[rel]).digest())
    return h.hexdigest()


def _gradebook_hash(data: bytes) -> str:
    """A hash of the gradebook facts' rows (not of the file: its pages may be laid out anew)."""
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(data)
        return hashlib.sha256("\n".join(con.iterdump()).encode()).hexdigest()
    except sqlite3.Error:
        return hashlib.sha256(data).hexdigest()
    finally:
        con.close()


def _code_hash() -> str:
    parts = [_tree_hash(Path(m.__file__).parent, "*.py") for m in (graders, autograde)]
    for pkg in ("nbgrader", "nbclient", "brian2", "brian2genn", "numpy"):
        try:
            parts.append(f"{pkg}={metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{pkg}=-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def cache_folder(job: SubmissionJob) -> Path:
    return Path(job.options.cache_dir or default_cache_dir()) / FOLDER


def key(job: SubmissionJob) -> str | None:
    """Hash of everything that decides the grades of ``job`` (see the module docstring).

    Computed from the job's data alone (:func:`autograde.worker.grade_one`), so that a worker on
    another machine finds its own stored results. ``None`` for an unsandboxed run (its kernel
    could plant results, so nothing is reused or stored, as for the simulation cache) or where
    ``NO_SUBMISSION_CACHE_ENV`` is set.
    """
    off = os.environ.get(settings.NO_SUBMISSION_CACHE_ENV) == "1"
    if not job.options.sandbox or off:
        return None
    try:
        backend = backends.choose(job.options.backend or None)
    except backends.BackendUnavailable:
        backend = "unavailable"
    blob = {
        # course key, student, assignment, fingerprint, config
        "job": {
            "assignment": job.assignment,
            "student": job.student,
            "fingerprint": job.fingerprint,
            "course_key": job.course_key,
            "config": job.config,
        },
        # limits, backend, feedback switch
        "options": job.options.grading_key(),
        "submission": _files_hash(job.submission),
        "source": _files_hash(job.source_files),
        # the assignment's cells, points and due date, as nbgrader grades with them
        "gradebook": _gradebook_hash(job.gradebook),
        "backend": backend,
        "code": _code_hash(),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


def has(job: SubmissionJob, k: str | None) -> bool:
    """Whether a result is stored under ``k`` (without reading it)."""
    return k is not None and (cache_folder(job) / k[:2] / f"{k}.json").is_file()


def load(job: SubmissionJob, k: str | None) -> SubmissionResult | None:
    """The result stored under key ``k``, or ``None`` (none, damaged, or stored by another
    version of :class:`SubmissionResult`: graded afresh)."""
    if k is None:
        return None
    path = cache_folder(job) / k[:2] / f"{k}.json"
    try:
        return SubmissionResult.from_json(path.read_text())
    except (OSError, ValueError, TypeError):  # missing, damaged, or another version's
        return None


def settled(res) -> bool:
    """Whether ``res`` may be reused: graded fully, nothing cut short."""
    if not res.ok or res.incidents:
        return False
    return not any(
        rec.get("status") in CUT_SHORT for cells in res.checks.values() for rec in cells.values()
    )


def store(job: SubmissionJob, k: str | None, res: SubmissionResult) -> None:
    """Keep ``res`` under ``k`` if it is :func:`settled`; a failure to store is ignored."""
    if k is None or not settled(res):
        return
    folder = cache_folder(job) / k[:2]
    try:
        text = res.to_json()
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, folder / f"{k}.json")  # atomic: parallel workers never see half
    except (OSError, TypeError, ValueError):
        pass
