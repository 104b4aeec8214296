"""The service's graders: threads that take the oldest waiting submission and grade it.

One grading path: a submission is laid out as nbgrader's ``submitted/<student>/<assignment>/``
(its notebooks and the service's timestamp), made into a job by the pipeline's own
:func:`autograde.pipeline.make_jobs`, graded by :func:`autograde.worker.grade_job` in the
local process pool (or on the dask cluster, :mod:`autograde.cluster`), and recorded by
:func:`autograde.course.record`; the student's feedback page is
:func:`autograde.feedback.generate_feedback`'s and the exports :mod:`autograde.exports`'. That is
what ``autograde grade`` does for one student, one submission at a time, as soon as a worker is
free; the class report is rewritten when the queue runs dry.

Only this process writes to the course, under one lock; the lock is not held while a worker
grades. Two submissions of the same student to the same assignment are never graded at once
(:meth:`autograde.service.store.Store.claim`), so results reach the gradebook in order.

A result that is not ``ok`` is a failure of the grader's side (a student's crashing or endless
notebook is graded, with its reason): the submission is graded once more, then marked
``failed``, written to ``problems.jsonl`` and logged, and the student reads "not graded yet,
the instructor was told", never a score of 0.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from graders import sandbox

from .. import cluster, exports, feedback, pipeline, report
from ..course import db_url, ensure_assignment, fingerprint, load_status, record, students
from ..jobs import StudentStatus, SubmissionJob, SubmissionResult
from ..options import GradeOptions
from ..progress import LogReporter, Reporter
from ..worker import grade_job
from . import results
from .store import Store, Submission

log = logging.getLogger("autograde.service")

#: What a student reads where the grader's side failed twice.
NOT_GRADED = "not graded yet, the instructor was told"


class Grader:
    """``jobs`` grading threads over a process pool (or a dask scheduler's workers).

    Where it grades (a cluster) goes to ``reporter``'s :meth:`~autograde.progress.Reporter.note`
    and each recorded result to its :meth:`~autograde.progress.Reporter.graded` (default: the
    service's log, :class:`autograde.progress.LogReporter`); a failure of the grader's side is
    a problem, not progress, and goes to the log and ``problems.jsonl``.
    """

    def __init__(
        self,
        course: Path,
        store: Store,
        options: GradeOptions | None = None,
        *,
        hold: bool = False,
        reporter: Reporter | None = None,
    ):
        self.course, self.store = Path(course), store
        self.reporter = reporter if reporter is not None else LogReporter(log)
        self.options = options or GradeOptions.from_settings(jobs=1)
        self.jobs, self.hold = max(1, self.options.jobs), hold
        self.scheduler = self.options.scheduler
        self.make_feedback = self.options.feedback
        self.lock = threading.Lock()  # the course folder and the gradebook: one writer
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool = self._remote = None
        self._pool_lock = threading.Lock()
        self._dirty: set[str] = set()
        self._ready: set[str] = set()  # assignments whose cells the gradebook has

    # --- life -----------------------------------------------------------------------------

    def start(self) -> None:
        if self.hold:
            log.warning("--hold: submissions are received and kept, none is graded")
            return
        if self.scheduler:
            self._remote = cluster.connect(
                self.scheduler, backend=self.options.backend or None, sandboxed=self.options.sandbox
            )
            self.reporter.note(self._remote.describe())
        elif self.options.sandbox:
            sandbox.check()  # no bwrap: refuse to start rather than fail every submission
        # the released assignments' cells into the gradebook now, not in the first submission's
        # time (nbgrader generate_assignment: seconds)
        released = sorted({p.parent.name for p in (self.course / "release").glob("*/*.ipynb")})
        threading.Thread(target=self._warm, args=(released,), name="prepare", daemon=True).start()
        for k in range(self.jobs):
            t = threading.Thread(target=self._loop, name=f"grader-{k}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        for t in self._threads:
            t.join(timeout=5)
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
        if self._remote is not None:
            self._remote.close()

    def wake(self) -> None:
        """A submission arrived: a free grading thread takes it now."""
        with self._cond:
            self._cond.notify_all()

    # --- the loop -------------------------------------------------------------------------

    def _prepare(self, assignment: str) -> None:
        """Record ``assignment``'s cells in the gradebook once (nbgrader's generate_assignment,
        as ``autograde grade`` does); an assignment released while the service runs too."""
        if assignment not in self._ready:
            ensure_assignment(self.course, assignment)
            self._ready.add(assignment)

    def _warm(self, assignments: list[str]) -> None:
        for a in assignments:
            if (self.course / "source" / a).is_dir():
                try:
                    with self.lock:
                        self._prepare(a)
                except Exception:  # noqa: BLE001 -- the first submission tries again, and says
                    log.exception("could not record %s in the gradebook", a)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sub = self.store.claim()
            except Exception:  # noqa: BLE001 -- a locked database: try again shortly
                log.exception("could not read the queue")
                sub = None
            if sub is None:
                self._idle()
                with self._cond:
                    self._cond.wait(timeout=2.0)
                continue
            self.grade(sub)

    def _idle(self) -> None:
        """Nothing waiting: rewrite the class report of the assignments graded since."""
        with self.lock:
            dirty, self._dirty = self._dirty, set()
            for a in sorted(dirty):
                try:
                    every = [
                        load_status(self.course, a, s) or StudentStatus.missing(a, s)
                        for s in students(self.course, a)
                    ]
                    report.write(self.course, a, every)
                except Exception:  # noqa: BLE001 -- a report is not worth stopping for
                    log.exception("could not write the class report of %s", a)

    # --- one submission -------------------------------------------------------------------

    def grade(self, sub: Submission) -> None:
        """Grade ``sub`` and record it, or count a failure of the grader's side."""
        try:
            res = self._run(sub)
            if res.ok:
                self._record(sub, res)
        except Exception as err:  # noqa: BLE001 -- any failure here is the grader's side
            log.exception("grading %s failed", sub.id)
            res = SubmissionResult(
                sub.student, sub.assignment, ok=False, error=f"{type(err).__name__}: {err}"
            )
        if not res.ok:
            again = self.store.grader_failed(sub.id, res.error or "no reason given")
            if again:
                log.warning(
                    "%s of %s failed (%s); grading it once more", sub.id, sub.student, res.error
                )
            else:
                self._tell_instructor(sub, res.error)
            self.wake()
            return
        self.store.graded(sub.id, res.score, res.max_score)
        self.reporter.graded(res)
        self.wake()  # a submission of the same student may be waiting for this one

    def _run(self, sub: Submission) -> SubmissionResult:
        a, s = sub.assignment, sub.student
        with self.lock:
            self._prepare(a)
            folder = self.course / "submitted" / s / a
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            for name, data in self.store.files_of(sub).items():
                (folder / name).write_bytes(data)
            (folder / "timestamp.txt").write_text(sub.timestamp)
            job = pipeline.make_jobs(self.course, a, [(s, fingerprint(folder))], self.options)[0]
        try:
            return SubmissionResult.from_dict(self._submit(job).result())
        except Exception as err:  # the worker itself died (or the dask scheduler)
            if isinstance(err, BrokenProcessPool):
                self._drop_pool()
            why = self._remote.why(err) if self._remote else err
            return SubmissionResult(s, a, ok=False, error=f"worker failed: {why}")

    def _submit(self, job: SubmissionJob):
        if self._remote is not None:
            return self._remote.submit(job)
        with self._pool_lock:
            if self._pool is None:
                # spawned, as the pipeline's: nothing of this threaded process is inherited
                ctx = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx)
            return self._pool.submit(grade_job, job.to_dict())

    def _drop_pool(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def _record(self, sub: Submission, res: SubmissionResult) -> None:
        """Write the result into the course, the feedback page, and keep the page with ``sub``."""
        a, s = sub.assignment, sub.student
        with self.lock:
            record(self.course, res)
            status = load_status(self.course, a, s) or StudentStatus.missing(a, s)
            exports.write(self.course, db_url(self.course), a, [status])
            self._dirty.add(a)
        if not self.make_feedback:
            return
        feedback.generate_feedback(self.course, a, s)  # only this student's pages
        pages = sorted((self.course / "feedback" / s / a).glob("*.html"))
        if not pages:
            raise RuntimeError(f"nbgrader generate_feedback made no page for {s}'s {a}")
        dest = self.store.feedback_dir(sub.id)
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for page in pages:
            shutil.copy(page, tmp / page.name)
        results.write(self.course, a, s, tmp)  # each check's points and message, for the page
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)

    def _tell_instructor(self, sub: Submission, error: str) -> None:
        log.error(
            "NOT GRADED: submission %s of %s to %s failed twice on the grader's side: %s",
            sub.id, sub.student, sub.assignment, error,
        )  # fmt: skip
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "submission": sub.id,
            "student": sub.student,
            "assignment": sub.assignment,
            "error": error,
        }
        with open(self.store.root / "problems.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")
