"""Grade every submission of an assignment: parallel workers, one gradebook writer, resumable.

Workers (any :class:`concurrent.futures.Executor`: a local process pool, a ``dask.distributed``
client) each grade one submission in a private temporary course folder holding a snapshot of the
gradebook: ``nbgrader autograde`` runs there with :mod:`autograde.preprocessors` and a limited
(optionally sandboxed) kernel, and the worker returns the per-cell scores as plain data. Only the
coordinating process writes to the course: the gradebook, ``autograded/``, and one status file per
student, each as soon as its result arrives, so an interrupted run loses nothing already graded.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from graders import sandbox
from graders.harness import record_event as stats_event

from . import submission_cache
from .preprocessors import AUTOGRADE_PREPROCESSORS, META

STATUS_DIR = "autograde_status"
KERNEL_NAME = "autograde-python3"


@dataclass
class Limits:
    """Limits of one submission.

    Parameters
    ----------
    cell_timeout : float
        Seconds one cell may run (nbgrader's ``Execute.timeout``); the kernel is interrupted.
    submission_timeout : float
        Seconds all cells of a notebook may run together; later cells are not run.
    memory_mb : int
        MB of resident memory that the student's kernel (with what it starts) and each
        simulation (the verdicts', the batch builds' and the feedback plots') may use; past it
        the process tree is killed (see :mod:`graders.limits`). 0: no limit.
    max_output_bytes : int
        Output one cell may produce.
    sandbox : bool
        Run the kernel under bubblewrap (see :mod:`autograde.kernel`).
    """

    cell_timeout: float = 120.0
    submission_timeout: float = 900.0
    memory_mb: int = 4096
    max_output_bytes: int = 1_000_000
    sandbox: bool = True


@dataclass
class Result:
    """What a worker hands back for one student (plain data, picklable)."""

    student: str
    assignment: str
    ok: bool
    score: float = 0.0
    max_score: float = 0.0
    grades: dict = field(default_factory=dict)  # notebook -> grade_id -> {auto_score, ...}
    comments: dict = field(default_factory=dict)  # notebook -> grade_id -> auto_comment
    checks: dict = field(default_factory=dict)  # notebook -> grade_id -> TrustedVerdicts record
    incidents: dict = field(default_factory=dict)  # notebook -> reason the run was cut short
    timestamp: str | None = None
    backend: str | None = None
    seconds: float = 0.0
    error: str = ""
    files: dict = field(default_factory=dict)  # relative path -> bytes (the autograded folder)
    plots: dict = field(default_factory=dict)  # notebook -> autograde.feedback.make_plots(...)
    fingerprint: str = ""


def _course_config_text(course: Path) -> str:
    cfg = course / "nbgrader_config.py"
    return cfg.read_text() if cfg.is_file() else "c = get_config()  # noqa: F821\n"


def fingerprint(folder: Path) -> str:
    """A hash of a submission folder, to regrade only what changed."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _kernelspec(folder: Path, limits: Limits, workdir: Path, runtime: Path) -> None:
    argv = [sys.executable, "-m", "autograde.kernel", "--memory-mb", str(limits.memory_mb)]
    if limits.sandbox:
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


def worker_config(job: dict, limits: Limits, root: Path, runtime: Path) -> dict:
    """nbgrader settings a worker appends to the course's ``nbgrader_config.py``.

    The preprocessor chain and ``add_missing_cells`` repeat the course configuration (so that a
    course without them is graded the same way); the rest is per worker.
    """
    overrides = {
        "CourseDirectory.root": str(root),
        "CourseDirectory.db_url": f"sqlite:///{root / 'gradebook.db'}",
        "Autograde.autograde_preprocessors": AUTOGRADE_PREPROCESSORS,
        "OverwriteCells.add_missing_cells": True,
        "Execute.kernel_name": KERNEL_NAME,
        "Execute.timeout": int(limits.cell_timeout),
        "SafeExecute.timeout": int(limits.cell_timeout),
        "SafeExecute.kernel_name": KERNEL_NAME,
        "SafeExecute.submission_timeout": float(limits.submission_timeout),
        "SafeExecute.max_output_bytes": int(limits.max_output_bytes),
        "TrustedVerdicts.backend": job.get("backend") or "",
        "TrustedVerdicts.cache_dir": job.get("cache_dir") or "",
        "TrustedVerdicts.check_memory_mb": int(limits.memory_mb),
        # Without a sandbox the kernel could have forged cache entries: simulate afresh.
        "TrustedVerdicts.use_cache": bool(limits.sandbox),
    }
    if limits.sandbox:
        # TCP cannot cross --unshare-net; absolute ipc paths, distinct per worker.
        overrides["KernelManager.transport"] = "ipc"
        overrides["KernelManager.ip"] = str(runtime / "kernel")
    return overrides


def grade_one(job: dict) -> Result:
    """Grade one student's submission in a private temporary course (runs in a worker).

    ``job`` holds ``course``, ``assignment``, ``student``, ``snapshot`` (a copy of the gradebook),
    ``limits`` (a :class:`Limits` as dict), ``backend``, ``cache_dir`` and ``fingerprint``.
    """
    t0 = time.perf_counter()
    course, a, s = Path(job["course"]), job["assignment"], job["student"]
    limits = Limits(**job["limits"])
    res = Result(s, a, ok=False, fingerprint=job.get("fingerprint", ""))
    ckey = submission_cache.key(job, _course_config_text(course))
    hit = submission_cache.load(job, ckey)
    if hit is not None:  # nothing that decides the grades changed since it was graded
        hit.seconds = round(time.perf_counter() - t0, 2)
        stats_event("submission_hit", a, hit.backend or "")
        return hit
    tmp = Path(tempfile.mkdtemp(prefix=f"autograde-{s}-"))
    try:
        root = tmp / "course"
        (root / "submitted" / s).mkdir(parents=True)
        shutil.copytree(course / "submitted" / s / a, root / "submitted" / s / a)
        src = course / "source" / a
        # Data files the source ships (nbgrader copies them next to the notebook); no notebooks.
        shutil.copytree(src, root / "source" / a, ignore=shutil.ignore_patterns("*.ipynb"))
        shutil.copy(job["snapshot"], root / "gradebook.db")
        runtime = tmp / "rt"
        runtime.mkdir()
        workdir = root / "autograded" / s / a
        _kernelspec(tmp / "jupyter", limits, workdir, runtime)
        (tmp / "jupyter-config").mkdir()
        overrides = worker_config(job, limits, root, runtime)
        lines = [_course_config_text(course), "\n# --- autograde pipeline overrides ---"]
        for key, value in overrides.items():
            lines.append(f"c.{key} = {value!r}")
        (root / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
        env = dict(
            os.environ,
            JUPYTER_PATH=str(tmp / "jupyter"),
            JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
            JUPYTER_RUNTIME_DIR=str(runtime),
            # jupyter_client writes the connection file to a tempfile; the sandbox sees runtime/.
            TMPDIR=str(runtime),
            PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        )
        if job.get("cache_dir"):
            env["AUTOGRADE_CACHE"] = job["cache_dir"]
        # The simulation worker is sandboxed exactly when the kernel is (--no-sandbox: neither).
        env[sandbox.MODE_ENV] = "1" if limits.sandbox else "0"
        if not limits.sandbox:
            # ccache's store is as writable to an unsandboxed kernel as the result cache.
            env["CCACHE_DISABLE"] = "1"
        # Backstop: the per-notebook limit is enforced inside; this catches a hung nbgrader.
        outer = limits.submission_timeout * 2 + 600
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
            last = (answer.get("error") or log or "no output").strip().splitlines()[-1]
            res.error = res.error or f"nbgrader autograde failed: {last[:200]}\n" + log[-3000:]
        else:
            res.ok = True
            if job.get("feedback", True):
                _plots(res, job, limits)
            submission_cache.store(job, ckey, res)
        return res
    except Exception as err:  # a worker must always answer
        res.error = f"{type(err).__name__}: {err}"
        return res
    finally:
        sandbox.release(tmp.name)  # whatever the kernel left running
        res.seconds = round(time.perf_counter() - t0, 2)
        if not os.environ.get("AUTOGRADE_KEEP_TMP"):
            shutil.rmtree(tmp, ignore_errors=True)


_SERVER = None  # this worker process's nbgrader server (autograde.nbserver)
SERVER_MAX_JOBS = 50  # then a fresh one, so that nothing a long run accumulates grows forever


def _server():
    """The nbgrader server of this worker process, started on first use."""
    from .nbserver import Server

    global _SERVER
    if _SERVER is None or _SERVER.jobs >= SERVER_MAX_JOBS:
        if _SERVER is not None:
            _SERVER.close()
        env = dict(os.environ)
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        _SERVER = Server(env)
    return _SERVER


def _plots(res: Result, job: dict, limits: Limits) -> None:
    """Feedback plots of every graded notebook; a failure costs the plots, never the grade."""
    from .feedback import make_plots

    os.environ[sandbox.MODE_ENV] = "1" if limits.sandbox else "0"  # as for the verdicts
    if not limits.sandbox:
        os.environ["CCACHE_DISABLE"] = "1"  # as for the verdicts, see grade_one
    for nb, cells in res.checks.items():
        try:
            res.plots[nb] = make_plots(
                res.assignment,
                cells,
                job.get("backend") or res.backend,
                cache_dir=job.get("cache_dir"),
                timeout=limits.cell_timeout,
                memory_mb=limits.memory_mb,
                use_cache=limits.sandbox,
            )
        except Exception as err:
            res.plots[nb] = {"plots": {}, "note": f"no plots: {type(err).__name__}"}


def _collect(res: Result, root: Path, a: str, s: str) -> None:
    """Read the temporary gradebook and autograded notebooks into ``res``."""
    from nbgrader.api import Gradebook

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
                res.backend = res.backend or meta.get("backend")


# --- coordinator ----------------------------------------------------------------------------


def _nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


def db_url(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


def ensure_assignment(course: Path, assignment: str) -> None:
    """Record the assignment's notebooks and cells in the gradebook if they are missing.

    Generates into a temporary release folder, leaving the committed ``release/`` untouched.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url(course)) as gb:
        try:
            if gb.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            pass
    with tempfile.TemporaryDirectory() as tmp:
        _nbgrader(
            course,
            "generate_assignment",
            assignment,
            "--force",
            f"--CourseDirectory.release_directory={tmp}",
        )


def snapshot(course: Path, dest: Path) -> Path:
    """A consistent copy of the gradebook (SQLite's backup API)."""
    src = sqlite3.connect(course / "gradebook.db")
    dst = sqlite3.connect(dest)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return dest


def students(course: Path, assignment: str) -> list[str]:
    base = course / "submitted"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())


def status_path(course: Path, assignment: str, student: str) -> Path:
    return course / STATUS_DIR / assignment / f"{student}.json"


def load_status(course: Path, assignment: str, student: str) -> dict | None:
    p = status_path(course, assignment, student)
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def record(course: Path, res: Result) -> None:
    """Write one result into the course: gradebook, autograded files, status (in that order)."""
    from nbgrader.api import Gradebook

    a, s = res.assignment, res.student
    if res.ok:
        with warnings.catch_warnings(), Gradebook(db_url(course)) as gb:
            warnings.simplefilter("ignore")  # SQLAlchemy autoflush noise from nbgrader's api
            gb.update_or_create_student(s)
            kw = {"timestamp": res.timestamp} if res.timestamp else {}
            gb.update_or_create_submission(a, s, **kw)
            for nb, grades in res.grades.items():
                for gid, g in grades.items():
                    grade = gb.find_grade(gid, nb, a, s)
                    grade.auto_score = g["auto_score"]
                    # As SaveAutoGrades: a manual score or no automatic one needs a human.
                    grade.needs_manual_grade = (
                        grade.manual_score is not None or grade.auto_score is None
                    )
                for gid, text in res.comments.get(nb, {}).items():
                    gb.find_comment(gid, nb, a, s).auto_comment = text
            gb.db.commit()
        out = course / "autograded" / s / a
        if out.exists():
            shutil.rmtree(out)
        for rel, data in res.files.items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(data)
    status = asdict(res)
    status.pop("files")
    plots = status.pop("plots")
    if res.ok:
        from .feedback import plots_path

        pp = plots_path(course, a, s)
        pp.parent.mkdir(parents=True, exist_ok=True)
        pp.write_text(json.dumps(plots))
    status["graded_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    p = status_path(course, a, s)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, indent=1, default=str))
    os.replace(tmp, p)  # atomic: a crash never leaves half a status


class Progress:
    """A one-line text progress bar on stderr."""

    def __init__(self, total: int, stream=None):
        self.total, self.done, self.t0 = total, 0, time.perf_counter()
        self.stream = stream if stream is not None else sys.stderr

    def step(self, label: str) -> None:
        self.done += 1
        width = 30
        filled = int(width * self.done / max(1, self.total))
        elapsed = time.perf_counter() - self.t0
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {elapsed:6.1f}s  {label[:30]:<30}")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def grade_assignment(
    course,
    assignment: str,
    executor: Executor | None = None,
    *,
    students_: list[str] | None = None,
    jobs: int = 1,
    limits: Limits | None = None,
    backend: str | None = None,
    cache_dir: str | None = None,
    force: bool = False,
    export: bool = True,
    progress: bool = True,
    feedback: bool = True,
    batch: str = "auto",
) -> list[dict]:
    """Grade every (or the named) submission of ``assignment`` in ``course``.

    Parameters
    ----------
    course : path
        The nbgrader course folder (``source/``, ``submitted/``, ``gradebook.db``).
    executor : concurrent.futures.Executor, optional
        Where :func:`grade_one` runs; default a ``ProcessPoolExecutor(max_workers=jobs)``. A
        ``dask.distributed.Client`` works too (its workers must see ``course``).
    students_ : list of str, optional
        Only these students.
    limits : Limits
        Per-submission limits and the sandbox switch.
    force : bool
        Regrade students already graded (by default a student is regraded only when the
        submission changed since).
    feedback : bool
        Make the feedback plots (one more simulation per submission, on the feedback cases).
    batch : {"auto", "on", "off"}
        Build the distinct answers of the submissions to grade together first (see
        :mod:`autograde.batches`); "auto" does so on the backends in
        ``batches.BATCH_BACKENDS``. Needs the result cache, so never without a sandbox.
    cache_dir : str, optional
        Result cache; default ``AUTOGRADE_CACHE`` or ``~/.cache``. Without a sandbox
        (``limits.sandbox`` false) no cache is read or written: an unsandboxed student kernel
        runs as the grader's user and could have planted fake results there.

    Returns
    -------
    list of dict
        The status record of every selected student (graded now or before).
    """
    course = Path(course).resolve()
    limits = limits or Limits()
    if limits.sandbox:
        sandbox.check()  # no bwrap, or a root server where no user namespace can be made
    if not (course / "source" / assignment).is_dir():
        raise FileNotFoundError(f"no source/{assignment} in {course}")
    ensure_assignment(course, assignment)
    everyone = students(course, assignment)
    chosen = [s for s in everyone if students_ is None or s in students_]
    missing = sorted(set(students_ or []) - set(everyone))
    if missing:
        raise FileNotFoundError(f"no submission of {assignment} by: {', '.join(missing)}")
    todo = []
    for s in chosen:
        fp = fingerprint(course / "submitted" / s / assignment)
        old = load_status(course, assignment, s)
        if not force and old and old.get("ok") and old.get("fingerprint") == fp:
            continue
        todo.append((s, fp))
    if todo:
        tmpdir = Path(tempfile.mkdtemp(prefix="autograde-snap-"))
        snap = snapshot(course, tmpdir / "gradebook.db")
        own = executor is None
        # Not forked from this process: the batch thread holds cache locks that a forked
        # worker would inherit (and then wait on forever).
        ctx = multiprocessing.get_context("spawn")
        pool = executor or ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx)
        bar = Progress(len(todo)) if progress else None
        jobs_ = [
            {
                "course": str(course),
                "assignment": assignment,
                "student": s,
                "snapshot": str(snap),
                "limits": asdict(limits),
                "backend": backend,
                "cache_dir": cache_dir,
                "fingerprint": fp,
                "feedback": feedback,
            }
            for s, fp in todo
        ]
        fetch = _start_batches(course, assignment, jobs_, backend, cache_dir, batch, limits, jobs)
        try:
            futures = {pool.submit(grade_one, job): job["student"] for job in jobs_}
            for fut in as_completed(futures):
                s = futures[fut]
                try:
                    res = fut.result()
                except Exception as err:  # the worker itself died
                    res = Result(s, assignment, ok=False, error=f"worker failed: {err}")
                record(course, res)  # each result is saved as it arrives
                if bar:
                    bar.step(f"{s}: {'ok' if res.ok else 'FAILED'}")
        finally:
            if own:
                pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(tmpdir, ignore_errors=True)
        if fetch is not None and progress:
            fetch[0].join()
            r = fetch[1]
            sys.stderr.write(
                f"batch builds: {r.guessed} of {r.submissions} answers read from the notebooks, "
                f"{r.distinct} distinct in {r.batches} batch{'es' if r.batches != 1 else ''}: "
                + (", ".join(f"{v} {k}" for k, v in sorted(r.status.items())) or "none built")
                + f" ({r.seconds:.0f} s){'; ' + r.error if r.error else ''}\n"
            )
    if export:
        _nbgrader(course, "export", check=False)
    return [load_status(course, assignment, s) or {"student": s, "ok": False} for s in chosen]


def _start_batches(course, assignment, jobs_, backend, cache_dir, batch, limits, jobs):
    """Start :mod:`autograde.batches` where it is wanted; ``(thread, report)`` or ``None``."""
    from graders import backends

    from . import batches

    if batch not in ("auto", "on", "off"):
        raise ValueError(f"batch must be 'auto', 'on' or 'off', not {batch!r}")
    if batch == "off" or not limits.sandbox or len(jobs_) < 2:
        return None
    try:
        name = backends.choose(backend)
    except backends.BackendUnavailable:
        return None  # the graders report it, per submission
    if batch == "auto" and name not in batches.BATCH_BACKENDS:
        return None
    config = _course_config_text(course)
    # only the submissions whose whole result is not stored from an earlier run
    fresh = [
        j["student"] for j in jobs_ if not submission_cache.has(j, submission_cache.key(j, config))
    ]
    if len(fresh) < 2:
        return None
    return batches.start(
        course, assignment, fresh, name, cache_dir, parallel=jobs, memory_mb=limits.memory_mb
    )


def summary(statuses: list[dict], assignment: str) -> str:
    """One screen: graded, failed and why, backend, time per submission, pass rate per check."""
    graded = [s for s in statuses if s.get("ok")]
    failed = [s for s in statuses if not s.get("ok")]
    lines = [f"{assignment}: {len(graded)} graded, {len(failed)} failed"]
    backends = sorted({s["backend"] for s in graded if s.get("backend")})
    lines.append(f"backend: {', '.join(backends) or '-'}")
    if graded:
        secs = [s.get("seconds", 0) for s in graded]
        lines.append(
            f"time per submission: mean {sum(secs) / len(secs):.1f} s, max {max(secs):.1f} s"
        )
    lines.append("")
    lines.append(f"{'student':<20} {'score':>12}  notes")
    for s in sorted(statuses, key=lambda r: r.get("student", "")):
        if s.get("ok"):
            note = "; ".join(f"{k}: {v}" for k, v in (s.get("incidents") or {}).items())
            score = f"{s.get('score', 0):g}/{s.get('max_score', 0):g}"
        else:
            note = "FAILED: " + (s.get("error") or "?").splitlines()[0][:70]
            score = "-"
        lines.append(f"{s.get('student', '?'):<20} {score:>12}  {note[:90]}")
    rates: dict[str, list[int]] = {}
    for s in graded:
        for cells in (s.get("checks") or {}).values():
            for rec in cells.values():
                ok = rec["points"] >= rec["max_points"] - 1e-9
                rates.setdefault(rec["check"], []).append(int(ok))
    if rates:
        lines.append("")
        lines.append(
            "pass rate per check: "
            + ", ".join(f"{k} {100 * sum(v) / len(v):.0f}%" for k, v in rates.items())
        )
    return "\n".join(lines)


def generate_feedback(course, assignment: str) -> Path:
    """Per-student feedback HTML: nbgrader's, plus each check's message and plot.

    The check messages are also the hidden cells' outputs; the plots come from
    :func:`autograde.feedback.inject`.
    """
    course = Path(course).resolve()
    # Hidden-test code stays out of student-facing files; the messages are outputs and remain.
    # InertOutputs again: notebooks graded by an older chain get their scripts cleaned too.
    pps = [
        "nbgrader.preprocessors.GetGrades",
        "nbgrader.preprocessors.ClearHiddenTests",
        "autograde.preprocessors.InertOutputs",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ]
    _nbgrader(
        course,
        "generate_feedback",
        assignment,
        "--force",
        f"--GenerateFeedback.preprocessors={pps!r}",
        check=False,
    )
    from .feedback import inject

    inject(course, assignment)  # the per-check messages and plots
    return course / "feedback"


def _regions(text: str, begin: str, end: str) -> list[str]:
    out, inside = [], False
    for line in text.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            out.append(line.strip())
    return out


def leaks(source_nb: Path, released_nb: Path) -> list[str]:
    """Lines of solutions or hidden tests in ``source_nb`` that reappear in ``released_nb``."""
    import nbformat

    src = nbformat.read(source_nb, as_version=4)
    rel = nbformat.read(released_nb, as_version=4)
    released = "\n".join(c.source for c in rel.cells)
    secret = []
    for cell in src.cells:
        secret += _regions(cell.source, "BEGIN SOLUTION", "END SOLUTION")
        secret += _regions(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    found = [s for s in secret if len(s) > 12 and not s.startswith("#") and s in released]
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "hidden_check("):
        if marker in released:
            found.append(marker)
    return sorted(set(found))


def release(course, assignment: str) -> list[Path]:
    """Generate the student version into a scratch folder, refuse it if it leaks, then publish.

    Raises
    ------
    RuntimeError
        A solution or hidden-test line would reach students; nothing is written to ``release/``.
    """
    course = Path(course).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        _nbgrader(
            course,
            "generate_assignment",
            assignment,
            "--force",
            f"--CourseDirectory.release_directory={tmp}",
        )
        out = Path(tmp) / assignment
        problems = []
        for nb in sorted(out.glob("*.ipynb")):
            for line in leaks(course / "source" / assignment / nb.name, nb):
                problems.append(f"{nb.name}: {line}")
        if problems:
            raise RuntimeError("the release would leak:\n  " + "\n  ".join(problems))
        dest = course / "release" / assignment
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(out, dest)
    return sorted(dest.rglob("*"))
