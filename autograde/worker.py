"""The worker: grade one submission, in a process of its own (:func:`grade_one`).

A worker grades one student's submission in a private temporary course folder that it lays out
from the job's data (the submission, the assignment's gradebook facts, the course's settings:
nothing of the course folder is read, so a worker may run on another machine, see
:mod:`autograde.pipeline`): ``nbgrader autograde`` runs there (through this process's nbgrader
server, :mod:`autograde.nbserver`) with :mod:`autograde.preprocessors` and a limited (optionally
sandboxed) kernel, and the worker returns the per-cell scores, the graded files and the feedback
plots (:class:`autograde.jobs.SubmissionResult`). It never writes to the course: the
coordinator (:mod:`autograde.pipeline`) does, through :mod:`autograde.course`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from nbgrader.api import Gradebook

from graders import sandbox, settings
from graders.counters import record_event as stats_event

from . import feedback, nbserver, scratch, submission_cache
from .jobs import SubmissionJob, SubmissionResult
from .options import GradeOptions
from .preprocessors import META

KERNEL_NAME = "autograde-python3"


def _kernelspec(folder: Path, options: GradeOptions, workdir: Path, runtime: Path) -> None:
    argv = [sys.executable, "-m", "autograde.kernel", "--memory-mb", str(options.memory_mb)]
    if options.sandbox:
        argv += ["--sandbox", "--workdir", str(workdir), "--runtime", str(runtime)]
    # the process cap of this submission's kernel, released by grade_one when it is done
    argv += ["--cap-name", folder.parent.name]
    argv += ["--", "-f", "{connection_file}"]
    spec = {
        "argv": argv,
        "display_name": "Python 3 (autograde)",
        "language": "python",
        # A message, not SIGINT: signals do not cross into the sandbox's process group.
        "interrupt_mode": "message",
    }
    (folder / "kernels" / KERNEL_NAME).mkdir(parents=True)
    (folder / "kernels" / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec, indent=1))


#: The grading settings a worker writes over the course's configuration, each with the
#: nbgrader traits that read it and the type they take: the one place a setting meets nbgrader.
NBGRADER_TRAITS = (
    ("cell_timeout", ("Execute.timeout", "SafeExecute.timeout"), int),
    ("submission_timeout", ("SafeExecute.submission_timeout",), float),
    ("max_output_bytes", ("SafeExecute.max_output_bytes",), int),
    ("backend", ("TrustedVerdicts.backend",), str),
    ("cache_dir", ("TrustedVerdicts.cache_dir",), str),
    ("memory_mb", ("TrustedVerdicts.check_memory_mb",), int),
    ("check_timeout", ("TrustedVerdicts.check_timeout",), float),
    # Without a sandbox the kernel could have forged cache entries: simulate afresh.
    ("sandbox", ("TrustedVerdicts.use_cache",), bool),
)


def worker_config(options: GradeOptions, root: Path, runtime: Path) -> dict:
    """nbgrader settings a worker appends to the course's ``nbgrader_config.py``.

    The preprocessor chain (:data:`graders.settings.PREPROCESSORS`) and ``add_missing_cells`` are
    the course configuration's (so that a course without them is graded the same way); the
    run's ``options`` reach nbgrader through :data:`NBGRADER_TRAITS`; the rest is per worker.
    """
    overrides = {
        "CourseDirectory.root": str(root),
        "CourseDirectory.db_url": f"sqlite:///{root / 'gradebook.db'}",
        "Autograde.autograde_preprocessors": list(settings.PREPROCESSORS),
        "OverwriteCells.add_missing_cells": True,
        "Execute.kernel_name": KERNEL_NAME,
        "SafeExecute.kernel_name": KERNEL_NAME,
    }
    for name, traits, kind in NBGRADER_TRAITS:
        value = kind(getattr(options, name) or kind())
        overrides.update(dict.fromkeys(traits, value))
    if options.sandbox:
        # TCP cannot cross --unshare-net; absolute ipc paths, distinct per worker.
        overrides["KernelManager.transport"] = "ipc"
        overrides["KernelManager.ip"] = str(runtime / "kernel")
    return overrides


def grade_one(job: SubmissionJob) -> SubmissionResult:
    """Grade one student's submission in a private temporary course (runs in a worker).

    The job (:func:`autograde.pipeline.make_jobs`) holds no path of the course folder: nothing
    here reads or writes it, so that it can travel to another machine.
    """
    t0 = time.perf_counter()
    a, s, options = job.assignment, job.student, job.options
    res = SubmissionResult(s, a, ok=False, fingerprint=job.fingerprint)
    ckey = submission_cache.key(job)
    hit = submission_cache.load(job, ckey)
    if hit is not None:  # nothing that decides the grades changed since it was graded
        hit.seconds = round(time.perf_counter() - t0, 2)
        stats_event("submission_hit", a, hit.backend or "")
        return hit
    tmp = scratch.new(s)
    try:
        root = tmp / "course"
        scratch.unpack(root / "submitted" / s / a, job.submission)
        # Data files the source ships (nbgrader copies them next to the notebook); no notebooks.
        scratch.unpack(root / "source" / a, job.source_files)
        (root / "gradebook.db").write_bytes(job.gradebook)
        runtime = scratch.runtime_dir(tmp)
        workdir = root / "autograded" / s / a
        _kernelspec(tmp / "jupyter", options, workdir, runtime)
        (tmp / "jupyter-config").mkdir()
        overrides = worker_config(options, root, runtime)
        (root / "nbgrader_config.py").write_text(config_file(job.config, overrides))
        env = dict(
            os.environ,
            JUPYTER_PATH=str(tmp / "jupyter"),
            JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
            JUPYTER_RUNTIME_DIR=str(runtime),
            # jupyter_client writes the connection file to a tempfile; the sandbox sees runtime/.
            TMPDIR=str(runtime),
            PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        )
        if options.cache_dir:
            env[settings.CACHE_ENV] = options.cache_dir
        # The simulation process is sandboxed exactly when the kernel is (--no-sandbox: neither).
        env[settings.SANDBOX_ENV] = "1" if options.sandbox else "0"
        if not options.sandbox:
            # ccache's store is as writable to an unsandboxed kernel as the result cache.
            env["CCACHE_DISABLE"] = "1"
        # Backstop: the per-notebook limit is enforced inside; this catches a hung nbgrader.
        outer = options.submission_timeout * 2 + 600
        answer = _server().autograde(root, a, s, env, timeout=outer)
        log = answer.get("log", "") + answer.get("error", "")
        (tmp / "nbgrader.log").write_text(log)
        if answer.get("error", "").startswith("grading did not finish"):
            res.error = answer["error"]
            return res
        _collect(res, root, a, s)
        if not answer.get("success") or not res.grades:
            res.ok = False
            # the summary shows the first line: make it the reason, the log tail follows
            last = _reason(answer.get("error") or log or "no output")
            res.error = res.error or f"nbgrader autograde failed: {last[:200]}\n" + log[-3000:]
        else:
            res.ok = True
            if options.feedback:
                _plots(res, options)
            submission_cache.store(job, ckey, res)
        return res
    except Exception as err:  # a worker must always answer
        res.error = f"{type(err).__name__}: {err}"
        return res
    finally:
        sandbox.release(tmp.name)  # whatever the kernel left running
        if runtime_outside := scratch.outside_runtime(tmp):
            shutil.rmtree(runtime_outside, ignore_errors=True)
        res.seconds = round(time.perf_counter() - t0, 2)
        if os.environ.get(settings.KEEP_TMP_ENV):
            (tmp / scratch.OWNER).unlink(missing_ok=True)  # kept for a person to read: never swept
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _reason(text: str) -> str:
    """The line of nbgrader's output that says what went wrong: its last exception other than
    nbgrader's own summary ("NbGraderException: Please see the above traceback"), else the last
    line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        name = line.split(":", 1)[0]
        if (name.endswith(("Error", "Exception")) and " " not in name
                and "NbGraderException" not in name):  # fmt: skip
            return line
    return lines[-1] if lines else "no output"


def config_file(config: dict, overrides: dict) -> str:
    """The worker's ``nbgrader_config.py``: the course's settings, then the worker's own."""
    lines = ["c = get_config()  # noqa: F821", "# --- the course's settings ---"]
    for section, values in config.items():
        for key, value in values.items():
            lines.append(f"c.{section}.{key} = {value!r}")
    lines.append("# --- autograde pipeline overrides ---")
    for key, value in overrides.items():
        lines.append(f"c.{key} = {value!r}")
    return "\n".join(lines) + "\n"


def grade_job(job: dict) -> dict:
    """:func:`grade_one` of a job as plain data (:meth:`SubmissionJob.to_dict`), its result as
    plain data too (what an executor carries back).

    Every executor (the local process pool, a ``dask.distributed`` cluster) runs this, so that
    what crosses between processes or machines is a dict of JSON-like values and bytes, never
    a pickled object of this package; the coordinator rebuilds the
    :class:`~autograde.jobs.SubmissionResult`.
    """
    return grade_one(SubmissionJob.from_dict(job)).to_dict()


_SERVER = None  # this worker process's nbgrader server (autograde.nbserver)
SERVER_MAX_JOBS = 50  # then a fresh one, so that nothing a long run accumulates grows forever


def _server():
    """The nbgrader server of this worker process, started on first use."""
    global _SERVER
    if _SERVER is None or _SERVER.jobs >= SERVER_MAX_JOBS:
        if _SERVER is not None:
            _SERVER.close()
        env = dict(os.environ)
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        _SERVER = nbserver.Server(env)
    return _SERVER


def _plots(res: SubmissionResult, options: GradeOptions) -> None:
    """Feedback plots of every graded notebook; a failure costs the plots, never the grade."""
    os.environ[settings.SANDBOX_ENV] = "1" if options.sandbox else "0"  # as for the verdicts
    if not options.sandbox:
        os.environ["CCACHE_DISABLE"] = "1"  # as for the verdicts, see grade_one
    for nb, cells in res.checks.items():
        try:
            res.plots[nb] = feedback.make_plots(
                res.assignment,
                cells,
                options.backend or res.backend,
                cache_dir=options.cache_dir or None,
                timeout=options.cell_timeout,
                memory_mb=options.memory_mb,
                use_cache=options.sandbox,
            )
        except Exception as err:
            res.plots[nb] = {"plots": {}, "note": f"no plots: {type(err).__name__}"}


def _collect(res: SubmissionResult, root: Path, a: str, s: str) -> None:
    """Read the temporary gradebook and autograded notebooks into ``res``."""
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        try:
            sub = gb.find_submission(a, s)
        except Exception as err:
            res.error = f"no submission recorded: {err}"
            return
        res.timestamp = sub.timestamp.isoformat() if sub.timestamp else None
        for nb in sub.notebooks:
            res.grades[nb.name] = {
                g.name: {
                    "auto_score": g.auto_score,
                    "max_score": g.max_score,
                    "needs_manual_grade": bool(g.needs_manual_grade),
                }
                for g in nb.grades
            }
            res.comments[nb.name] = {c.name: c.auto_comment for c in nb.comments}
        res.score = float(sub.score)
        res.max_score = float(sub.max_score)
    out = root / "autograded" / s / a
    if out.is_dir():
        for p in sorted(out.rglob("*")):
            if p.is_file() and p.stat().st_size < 20_000_000:
                res.files[str(p.relative_to(out))] = p.read_bytes()
            if p.suffix == ".ipynb":
                meta = json.loads(p.read_text()).get("metadata", {}).get(META, {})
                res.checks[p.stem] = meta.get("cells", {})
                if meta.get("incident"):
                    res.incidents[p.stem] = meta["incident"]
                if meta.get("events"):
                    res.events[p.stem] = list(meta["events"])
                res.backend = res.backend or meta.get("backend")
