"""``SafeExecute``: nbgrader's ``Execute`` that survives a dead or misbehaving kernel, enforces a
limit per submission as well as per cell, caps a cell's output, and records cell timeouts,
``MemoryError``s and the process cap for the class report."""

from __future__ import annotations

import json
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Float, Integer

from graders import sandbox, settings

from .common import META, error_names, error_output, notebook_meta, stream_output


class SafeExecute(Execute):
    """nbgrader's ``Execute`` that grades what ran when a submission misbehaves.

    A kernel that dies (``os._exit``, a segfault, the memory limit), stops answering (its output
    channel silent, an interrupt ignored after the cell time limit), sends a message that cannot
    be read, or a submission that runs past ``submission_timeout`` no longer aborts the notebook
    (nbgrader #427, #1033): the remaining cells are left unexecuted, marked with the reason, and
    the reason is recorded in the notebook's metadata for :class:`TrustedVerdicts` and the
    report. What the cells before handed over still counts. Whatever a student's code does to
    its kernel is graded with its reason, never a failed job.
    """

    # nbgrader's Execute.timeout (30 s) replaced by the course's per-cell limit
    timeout = Integer(
        int(settings.default("cell_timeout")),
        allow_none=True,
        help=settings.help_text("cell_timeout"),
    ).tag(config=True)

    submission_timeout = Float(
        settings.default("submission_timeout"), help=settings.help_text("submission_timeout")
    ).tag(config=True)

    max_output_bytes = Integer(
        settings.default("max_output_bytes"), help=settings.help_text("max_output_bytes")
    ).tag(config=True)

    # nbclient's 4 s: how long, after a cell's reply, its last output may take. A kernel under a
    # loaded grading server can take seconds, and running out of it now ends the notebook
    # (a kernel whose output thread is blocked), so it must not depend on the load.
    iopub_timeout = Integer(
        30,
        help="seconds a cell's outputs may arrive after its reply before the kernel counts as "
        "no longer answering (the rest of the notebook is then not run)",
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._incident = None
        self._events: list[str] = []
        self._deadline = (
            time.monotonic() + self.submission_timeout if self.submission_timeout > 0 else None
        )
        self._cell_bytes = {}
        self._last_count = 0
        self.timeout_func = self._cell_timeout
        try:
            nb, resources = super().preprocess(nb, resources, km=km)
        except DeadKernelError:
            # Raised when the dead kernel is cleaned up; every cell has been handled already.
            self._incident = self._incident or "the kernel died"
        except RuntimeError as err:
            # The kernel never started (e.g. it died at once under the memory limit).
            if self._incident is None:
                self._incident = f"the notebook could not be run: {err}"
        if self._incident:
            notebook_meta(nb)["incident"] = self._incident
        if self._events:
            notebook_meta(nb)["events"] = self._events
        return nb, resources

    async def _async_handle_timeout(self, timeout, cell=None):
        # nbclient interrupts the kernel and goes on; the instructor's report should say so.
        if cell is not None:
            cell.metadata.setdefault(META, {})["timed_out"] = timeout
        return await super()._async_handle_timeout(timeout, cell)

    def _note_cell(self, cell, index: int) -> None:
        """Events of one executed cell that an instructor should see in the class report."""
        # named as the student's notebook and the feedback page show it, not by its index
        count = cell.get("execution_count")
        number = f"In [{count}]" if count is not None else f"cell {index + 1}"
        if cell.metadata.get(META, {}).get("timed_out") is not None:
            limit = cell.metadata[META]["timed_out"]
            self._events.append(f"{number} hit the cell time limit ({limit} s) and was interrupted")
        names = error_names(cell)
        if "MemoryError" in names:
            self._events.append(f"{number} raised MemoryError (the kernel's memory limit)")
        if "BlockingIOError" in names or _cannot_start_thread(cell):
            self._events.append(
                f"{number} could not start a process or thread (the kernel's cap of "
                f"{sandbox.MAX_PROCESSES})"
            )

    def _cell_timeout(self, cell) -> int | None:
        limit = self.timeout if self.timeout and self.timeout > 0 else None
        if self._deadline is not None:
            left = max(1, int(self._deadline - time.monotonic()))
            limit = left if limit is None else min(limit, left)
        return limit

    def preprocess_cell(self, cell, resources, index):
        # nbclient's sync execute_cell is bound to the base class's coroutine, so the guard
        # lives here rather than in an async_execute_cell override.
        self.timeout_func = self._cell_timeout
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._incident is None and self._deadline and time.monotonic() >= self._deadline:
            self._incident = (
                f"the notebook ran past the limit of {self.submission_timeout:g} s for a "
                "whole submission"
            )
        if self._incident is not None:
            cell.outputs = [
                error_output("NotExecuted", f"This cell did not run: {self._incident}.")
            ]
            cell.metadata.setdefault(META, {})["skipped"] = self._incident
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
            self._note_cell(cell, index)
            self._last_count = cell.get("execution_count") or self._last_count
            return cell, resources
        except DeadKernelError:
            self._incident = (
                "the kernel died while running this notebook (out of memory, os._exit, "
                "sys.exit in a thread or a crash in compiled code)"
            )
            ename = "DeadKernelError"
        except Exception as err:  # noqa: BLE001 - any fault of the kernel's channels
            self._incident = kernel_fault(err)
            ename = type(err).__name__
        if cell.get("execution_count") is None:
            # The kernel numbers a cell on an IOPub thread that a process dying at once
            # (os._exit) may never let run; the number is then the next one, as the kernel
            # counted it, so the page and the messages can name the cell.
            cell.execution_count = self._last_count + 1
        cell.outputs.append(error_output(ename, f"{self._incident}."))
        cell.metadata.setdefault(META, {})["skipped"] = self._incident
        return cell, resources

    def output(self, outs, msg, display_id, cell_index):
        if self.max_output_bytes > 0:
            size = len(json.dumps(msg.get("content", {}), default=str))
            total = self._cell_bytes.get(cell_index, 0) + size
            self._cell_bytes[cell_index] = total
            if total > self.max_output_bytes:
                if total - size <= self.max_output_bytes:
                    outs.append(
                        stream_output(f"... output cut at {self.max_output_bytes} bytes ...\n")
                    )
                return None
        return super().output(outs, msg, display_id, cell_index)


def _cannot_start_thread(cell) -> bool:
    return any(
        o.get("ename") == "RuntimeError" and "can't start new thread" in o.get("evalue", "")
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    )


def kernel_fault(err: Exception) -> str:
    """The incident, in words, for a kernel that stopped answering as nbclient expects."""
    if isinstance(err, CellTimeoutError) and "IOPub" in str(err):
        return (
            "the kernel stopped sending this cell's output (nothing came for the time its "
            "output may take after the cell ended)"
        )
    if isinstance(err, CellTimeoutError):
        return "the kernel did not answer after the cell time limit, also not after an interrupt"
    if isinstance(err, ValueError) and "Signature" in str(err):
        return "the kernel sent a message that could not be read (a broken signature)"
    return f"the kernel stopped answering as expected ({type(err).__name__}: {str(err)[:200]})"
