"""Where a grading run says how it goes: a :class:`Reporter` the caller passes to
:func:`autograde.pipeline.grade_assignment` or to the service's
:class:`autograde.service.grading.Grader`, and the console's (:class:`ConsoleReporter`, a
one-line progress bar and notes on stderr).

Neither writes to the console itself: the command line passes the console reporter, the
service logs (:class:`LogReporter`), a test passes a reporter of its own, and :class:`Silent`
says nothing.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Protocol


class Reporter(Protocol):
    """What a grading run reports, in order: :meth:`note` lines about where it grades (GPUs,
    a cluster) before and while it starts, :meth:`started` once the submissions to grade are
    known, :meth:`graded` as each result is recorded, and :meth:`summary` lines at the end (the
    batch builds)."""

    def note(self, line: str) -> None: ...

    def started(self, total: int) -> None: ...

    def graded(self, result) -> None:
        """``result``: the recorded :class:`autograde.jobs.SubmissionResult`."""

    def summary(self, line: str) -> None: ...


class Silent:
    """A :class:`Reporter` that says nothing."""

    def note(self, line: str) -> None:
        pass

    def started(self, total: int) -> None:
        pass

    def graded(self, result) -> None:
        pass

    def summary(self, line: str) -> None:
        pass


class LogReporter:
    """A :class:`Reporter` that writes through :mod:`logging` (the service's): notes, the start
    and summaries at INFO, each graded submission as one line (at WARNING where not ``ok``)."""

    def __init__(self, logger: logging.Logger | None = None):
        self.log = logger if logger is not None else logging.getLogger("autograde")

    def note(self, line: str) -> None:
        self.log.info("%s", line)

    def started(self, total: int) -> None:
        self.log.info("%d submission%s to grade", total, "" if total == 1 else "s")

    def graded(self, result) -> None:
        if result.ok:
            self.log.info(
                "graded %s's %s: %.1f/%.1f in %.1f s",
                result.student, result.assignment, result.score, result.max_score, result.seconds,
            )  # fmt: skip
        else:
            self.log.warning(
                "not graded: %s's %s: %s", result.student, result.assignment, result.error
            )

    def summary(self, line: str) -> None:
        self.log.info("%s", line)


class ConsoleReporter:
    """The command line's :class:`Reporter`: notes and summaries as lines, and a progress bar
    that counts the graded submissions, on ``stream`` (default stderr)."""

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.bar: Progress | None = None

    def note(self, line: str) -> None:
        self.stream.write(line + "\n")

    def started(self, total: int) -> None:
        self.bar = Progress(total, self.stream)

    def graded(self, result) -> None:
        self.bar.step(f"{result.student}: {'ok' if result.ok else 'FAILED'}")

    def summary(self, line: str) -> None:
        self.stream.write(line + "\n")


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
