"""Grade every submission of an assignment: parallel workers, one gradebook writer, resumable.

This is the coordinator (:func:`grade_assignment`). Workers (any
:class:`concurrent.futures.Executor`: a local process pool, or a ``dask.distributed`` cluster
through :mod:`autograde.cluster`) each
grade one submission (:func:`autograde.worker.grade_job`) in a private temporary course folder.
A job is plain data (:func:`make_jobs`: the submitted files, the gradebook facts of the
assignment, the course settings without paths or passwords) and so is its result, so workers
need no shared filesystem. Only the coordinating process writes to the course
(:func:`autograde.course.record`): the gradebook, ``autograded/``, and one status file per
student, each as soon as its result arrives, so an interrupted run loses nothing already graded.

The other rooms of the pipeline: :mod:`autograde.worker` (one submission),
:mod:`autograde.course` (gradebook and status files), :mod:`autograde.batches` (batch builds
before the workers start), :mod:`autograde.feedback` (the students' feedback pages),
:mod:`autograde.report` (the class summary, HTML and console), :mod:`autograde.release` (the
student version, refused if it leaks).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import tempfile
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from graders import backends, sandbox, settings
from graders import gpus as gpu_list  # (`gpus` is grade_assignment's argument)

from . import batches, cluster, exports, gradebook_db, submission_cache
from .course import (
    config_data,
    db_url,
    ensure_assignment,
    files,
    fingerprint,
    gradebook_facts,
    load_status,
    record,
    students,
)
from .jobs import StudentStatus, SubmissionJob, SubmissionResult
from .options import GradeOptions
from .progress import Reporter, Silent
from .worker import grade_job


def grade_assignment(
    course,
    assignment: str,
    options: GradeOptions | None = None,
    executor: Executor | None = None,
    *,
    students_: list[str] | None = None,
    force: bool = False,
    export: bool = True,
    reporter: Reporter | None = None,
) -> list[StudentStatus]:
    """Grade every (or the named) submission of ``assignment`` in ``course``, in three parts:
    :func:`choose` what to grade, :func:`dispatch` it to the workers, and record each result
    as it arrives, then :func:`summarise`.

    Parameters
    ----------
    course : path
        The nbgrader course folder (``source/``, ``submitted/``, ``gradebook.db``).
    options : GradeOptions, optional
        The run's settings (default: the settings' defaults). What they change here:
        ``jobs``, the workers of the default executor; ``scheduler``, the address of a
        ``dask.distributed`` scheduler whose workers grade instead (:mod:`autograde.cluster`);
        ``batch``, whether the distinct answers are built together first
        (:mod:`autograde.batches`: never without a sandbox, whose result cache it fills, nor
        with a scheduler, whose workers do not see this machine's cache); ``gpus``, on the
        ``genn`` backend, the GPUs each local worker and batch build takes round-robin (unused
        with a scheduler or an ``executor`` of the caller's); ``cache_dir``, without a sandbox
        neither read nor written (an unsandboxed kernel runs as the grader's user and could
        have planted fake results there); the rest travels to the workers with each job.
    executor : concurrent.futures.Executor, optional
        Where :func:`autograde.worker.grade_job` runs; default a
        ``ProcessPoolExecutor(max_workers=options.jobs)``. Jobs are plain data
        (:func:`make_jobs`), so the workers need not see ``course``.
    students_ : list of str, optional
        Only these students.
    force : bool
        Regrade students already graded (by default a student is regraded only when the
        submission changed since).
    export : bool
        Write the grade exports (:mod:`autograde.exports`) at the end.
    reporter : autograde.progress.Reporter, optional
        Told how the run goes (the command line's prints a progress bar); default silent.

    Returns
    -------
    list of dict
        The status record of every selected student (graded now or before).

    Raises
    ------
    graders.gpus.GpuError
        ``options.gpus`` names a GPU that is not here (before anything is graded).
    """
    course = Path(course).resolve()
    reporter = reporter or Silent()
    options = _ready(options or GradeOptions.from_settings(), executor)
    chosen, todo = choose(course, assignment, students_, force=force)
    with closing(dispatch(course, assignment, todo, options, executor, reporter)) as results:
        for res in results:
            record(course, res)  # each result is saved as it arrives
            reporter.graded(res)
    return summarise(course, assignment, chosen, export=export)


def _ready(options: GradeOptions, executor: Executor | None) -> GradeOptions:
    """``options`` as the workers need them, once this machine can grade with them."""
    if options.scheduler and executor is not None:
        raise ValueError("pass an executor or a scheduler address, not both")
    if options.scheduler:
        # The workers do not see this machine's environment: a backend forced here goes along.
        return replace(options, backend=options.backend or os.environ.get(settings.BACKEND_ENV, ""))
    if options.sandbox:
        sandbox.check()  # no bwrap, or a root server where no user namespace can be made
    return options


def choose(
    course: Path, assignment: str, students_: list[str] | None = None, *, force: bool = False
) -> tuple[list[str], list[tuple[str, str]]]:
    """The students selected (``students_``, default everyone who submitted), and of them
    ``(student, fingerprint)`` of those to grade: every one with ``force``, else those not
    graded yet or whose submission changed since.

    Raises
    ------
    FileNotFoundError
        The course has no such assignment, or a named student did not submit it.
    """
    if not (course / "source" / assignment).is_dir():
        raise FileNotFoundError(f"no source/{assignment} in {course}")
    gradebook_db.check(db_url(course))  # a clear error before any work, not one per student
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
        if not force and old and old.ok and old.fingerprint == fp:
            continue
        todo.append((s, fp))
    return chosen, todo


def dispatch(course, assignment, todo, options, executor=None, reporter=None):
    """Grade ``todo`` (:func:`choose`) on the workers and yield each
    :class:`~autograde.jobs.SubmissionResult` as it arrives (a worker that died gives a failed
    one with the reason).

    The workers are ``executor``, else a dask cluster (``options.scheduler``), else a local
    process pool of ``options.jobs`` (with the GPUs and batch builds of ``options``); a pool
    or cluster made here is closed when the generator ends or is closed.
    """
    reporter = reporter or Silent()
    if not todo:
        return
    scheduler, backend = options.scheduler, options.backend or None
    own = executor is None and not scheduler
    on = _gpus(backend, options.gpus, reporter) if own else []
    pool = worker_pool(options.jobs, on) if own else executor  # (a scheduler's: below)
    reporter.started(len(todo))
    jobs_ = make_jobs(course, assignment, todo, options)
    remote = fetch = None
    if not scheduler:
        fetch = _start_batches(course, assignment, jobs_, options, on)
    try:
        if scheduler:
            # checks the workers (threads, backend, sandbox) before a job is sent
            remote = cluster.connect(scheduler, backend=backend, sandboxed=options.sandbox)
            _say_remote(remote, options.batch, reporter)
            futures = {remote.submit(job): job.student for job in jobs_}
        else:
            futures = {pool.submit(grade_job, job.to_dict()): job.student for job in jobs_}
        for fut in as_completed(futures):
            try:
                res = SubmissionResult.from_dict(fut.result())
            except Exception as err:  # the worker itself died (or the dask scheduler)
                why = remote.why(err) if remote else err
                res = SubmissionResult(
                    futures[fut], assignment, ok=False, error=f"worker failed: {why}"
                )
            yield res
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
        if remote:
            remote.close()  # cancels what is left (Ctrl-C); the cluster stays up
    if fetch is not None:
        fetch[0].join()
        reporter.summary(batch_line(fetch[1]))


def summarise(
    course: Path, assignment: str, chosen: list[str], *, export: bool = True
) -> list[StudentStatus]:
    """The status of each of ``chosen`` (graded now or before, else
    :meth:`~autograde.jobs.StudentStatus.missing`); with ``export``, the grade exports written
    from them."""
    statuses = [
        load_status(course, assignment, s) or StudentStatus.missing(assignment, s) for s in chosen
    ]
    if export:
        # Raises ExportError with its reason; everything graded is already recorded.
        exports.write(course, db_url(course), assignment, statuses)
    return statuses


def batch_line(r: batches.BatchReport) -> str:
    """What the batch builds did, in one line."""
    return (
        f"batch builds: {r.guessed} of {r.submissions} answers read from the notebooks, "
        f"{r.distinct} distinct in {r.batches} batch{'es' if r.batches != 1 else ''}: "
        + (", ".join(f"{v} {k}" for k, v in sorted(r.status.items())) or "none built")
        + f" ({r.seconds:.0f} s){'; ' + r.error if r.error else ''}"
    )


def make_jobs(
    course: Path, assignment: str, todo: list[tuple[str, str]], options: GradeOptions
) -> list[SubmissionJob]:
    """One job per ``(student, fingerprint)`` of ``todo``, with no path of the course.

    Every job carries what :func:`autograde.worker.grade_one` needs: the student's submitted
    files, the assignment's data files, the gradebook facts of the assignment (no student's
    grades), the course settings without its paths and gradebook URL (so no database
    password), and the run's ``options``.
    """
    with tempfile.TemporaryDirectory(prefix="autograde-snap-") as tmp:
        facts = gradebook_facts(course, assignment, Path(tmp) / "gradebook.db")
    shared = {
        "assignment": assignment,
        "source_files": files(course / "source" / assignment, notebooks=False),
        "gradebook": facts,
        "config": config_data(course),
        # copies of a course are graded afresh (a benchmark's copies, say): a hash, not a path
        "course_key": hashlib.sha256(str(course).encode()).hexdigest()[:16],
        "options": options,
    }
    folder = course / "submitted"
    return [
        SubmissionJob(
            **shared, student=s, fingerprint=fp, submission=files(folder / s / assignment)
        )
        for s, fp in todo
    ]


def _say_remote(remote, batch: str, reporter: Reporter) -> None:
    """Where the jobs go, and what a dask cluster changes, to ``reporter``."""
    lines = [remote.describe()]
    used = {f["backend"] for f in remote.workers.values()}
    if batch == "on" or (batch == "auto" and used & set(batches.BATCH_BACKENDS)):
        lines.append(
            "batch builds: off with --scheduler (they fill this machine's result cache, which "
            "the workers do not see)"
        )
    lines += remote.notes
    for line in lines:
        reporter.note(line)


def worker_pool(jobs: int, gpus: list[gpu_list.Gpu]) -> ProcessPoolExecutor:
    """The local pool of ``jobs`` worker processes; where ``gpus`` are given, each worker
    takes the next as it starts (:func:`graders.gpus.take`), round-robin."""
    # Not forked from this process: the batch thread holds cache locks that a forked worker
    # would inherit (and then wait on forever).
    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        max_workers=max(1, jobs),
        mp_context=ctx,
        initializer=gpu_list.take,
        initargs=([g.visible for g in gpus], ctx.Value("i", 0)),
    )


def _gpus(
    backend: str | None, requested: str, reporter: Reporter | None = None
) -> list[gpu_list.Gpu]:
    """The GPUs the local workers share on ``genn`` (none on the other backends).

    Raises
    ------
    graders.gpus.GpuError
        ``requested`` names a GPU that is not here.
    """
    try:
        name = backends.choose(backend)
    except backends.BackendUnavailable:
        return []  # the graders report it, per submission
    if name != "genn":
        return []
    chosen = gpu_list.choose(requested, gpu_list.found())
    if chosen and reporter is not None:
        names = ", ".join(g.describe() for g in chosen)
        reporter.note(f"GPUs: {names} (workers and batch builds take them round-robin)")
    return chosen


def _start_batches(course, assignment, jobs_, options: GradeOptions, gpus=()):
    """Start :mod:`autograde.batches` where it is wanted; ``(thread, report)`` or ``None``."""
    batch = options.batch
    if batch not in ("auto", "on", "off"):
        raise ValueError(f"batch must be 'auto', 'on' or 'off', not {batch!r}")
    if batch == "off" or not options.sandbox or len(jobs_) < 2:
        return None
    try:
        name = backends.choose(options.backend or None)
    except backends.BackendUnavailable:
        return None  # the graders report it, per submission
    if batch == "auto" and name not in batches.BATCH_BACKENDS:
        return None
    # only the submissions whose whole result is not stored from an earlier run
    fresh = [j.student for j in jobs_ if not submission_cache.has(j, submission_cache.key(j))]
    if len(fresh) < 2:
        return None
    return batches.start(
        course,
        assignment,
        fresh,
        name,
        options.cache_dir or None,
        parallel=options.jobs,
        timeout=options.simulation_timeout,
        memory_mb=options.memory_mb,
        gpus=list(gpus),
    )
