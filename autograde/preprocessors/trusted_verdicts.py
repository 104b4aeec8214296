"""``TrustedVerdicts``: every hidden-test cell re-graded outside the kernel from the spec it
handed over, its outputs rewritten; a cell that handed nothing over says why (not answered,
its own error, tampering)."""

from __future__ import annotations

import json

from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Dict, Float, Integer, Unicode

import graders
from graders import settings
from graders.assignments.outcome import when_numbers_shown
from graders.backends import BackendUnavailable
from graders.notebook import cell_check, parse_spec_line
from graders.results import Status

from .common import META, error_names, error_output, notebook_meta, stream_output


class TrustedVerdicts(NbGraderPreprocessor):
    """Re-grade every hidden-test cell outside the kernel and rewrite its outputs.

    The check a cell stands for comes from trusted data only: ``checks`` if it names the cell's
    ``grade_id``, else the ``hidden_check("assignment", "check", ...)`` call in the cell's source
    as stored in the gradebook when the assignment was generated. The student's notebook supplies
    nothing but the spec, which :func:`graders.check` validates like any other input.
    """

    checks = Dict(
        {},
        help="grade_id -> 'assignment:check' for hidden cells; overrides the gradebook's source.",
    ).tag(config=True)

    backend = Unicode(settings.default("backend"), help=settings.help_text("backend")).tag(
        config=True
    )

    check_timeout = Float(
        settings.default("check_timeout"), help=settings.help_text("check_timeout")
    ).tag(config=True)

    check_memory_mb = Integer(
        settings.default("memory_mb"),
        help=settings.help_text("memory_mb") + ". The pipeline sets it from its --memory.",
    ).tag(config=True)

    cache_dir = Unicode(settings.default("cache_dir"), help=settings.help_text("cache_dir")).tag(
        config=True
    )

    # Off unless the kernel was sandboxed: a plain `nbgrader autograde` has no sandbox, so its
    # kernel, running as the grader's user, could have planted fake results in the cache.
    use_cache = Bool(
        False,
        help="Read and write the result cache. The pipeline turns it on for sandboxed kernels.",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        self._verdicts = {}
        self._duedate = None  # the assignment's, from the gradebook (_trusted_checks)
        self._expected = self._trusted_checks(resources)
        self._incident = nb.metadata.get(META, {}).get("incident")
        self._not_answered = any(
            cell.cell_type == "code"
            and utils.is_solution(cell)
            and "NotImplementedError" in error_names(cell)
            for cell in nb.cells
        )
        self._cells = {}
        self._backend = None
        # c.Feedback.hidden_numbers of the course's configuration, and the due date: whether
        # the cell's output may give the hidden cases' numbers (graders.settings)
        self._policy = settings.Feedback(config=self.config).hidden_numbers
        self._numbers = settings.shows_hidden_numbers(self._policy, self._duedate)
        nb, resources = super().preprocess(nb, resources)
        meta = notebook_meta(nb)
        meta["cells"] = self._cells
        if self._backend:
            meta["backend"] = self._backend
        return nb, resources

    def _trusted_checks(self, resources) -> dict[str, tuple[str, str]]:
        out = {}
        info = resources.get("nbgrader", {})
        try:
            with Gradebook(info["db_url"]) as gb:
                nb = gb.find_notebook(info["notebook"], info["assignment"])
                for cell in nb.source_cells:
                    call = cell_check(cell.source or "")
                    if call is not None:
                        out[cell.name] = (call.assignment, call.check)
                self._duedate = gb.find_assignment(info["assignment"]).duedate
        except (KeyError, MissingEntry) as err:
            self.log.warning("no trusted source cells: %s", err)
        for gid, spec in self.checks.items():
            a, _, c = spec.partition(":")
            out[gid] = (a, c)
        return out

    #: Whether cell outputs may give the hidden cases' numbers (set per notebook by preprocess
    #: from c.Feedback.hidden_numbers and the due date; without it, they may not).
    _numbers = False
    _policy, _duedate = "after_due_date", None

    def _verdict(self, assignment: str, spec: dict):
        key = json.dumps([assignment, spec], sort_keys=True, default=str)
        if key not in self._verdicts:
            try:
                v = graders.check(
                    assignment,
                    spec,
                    backend=self.backend or None,
                    timeout=self.check_timeout,
                    memory_mb=self.check_memory_mb,
                    cache_dir=self.cache_dir or None,
                    use_cache=self.use_cache,
                )
                self._backend = v.backend
            except graders.SpecError as err:
                v = "your answer cannot be graded: " + str(err)
            except BackendUnavailable as err:
                # A server problem, not the student's: fail loudly instead of scoring zero.
                raise RuntimeError(f"grading backend unavailable: {err}") from err
            self._verdicts[key] = v
        return self._verdicts[key]

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not utils.is_grade(cell) or utils.is_solution(cell):
            return cell, resources
        gid = cell.metadata["nbgrader"]["grade_id"]
        max_points = float(cell.metadata["nbgrader"]["points"])
        skipped = cell.metadata.get(META, {}).get("skipped")
        if gid not in self._expected:
            # A visible test cell: nbgrader grades it, but a cell that never ran earns nothing
            # (nbgrader would give an empty cell full marks, #427).
            if skipped or cell.get("execution_count") is None:
                reason = skipped or self._incident or "the cell was not executed"
                cell.outputs = [error_output("NotExecuted", f"This cell did not run: {reason}.")]
            return cell, resources
        assignment, check = self._expected[gid]
        spec = self._handed_over(cell, assignment, check)
        points, message, status, notes, words = 0.0, "", Status.GRADED, [], None
        if spec is None:
            reason = skipped or self._incident
            if reason:
                message = f"No answer was handed over by this cell: {reason}."
                status = Status.NOT_RUN
            else:
                status, message = self._why_no_spec(cell)
        else:
            verdict = self._verdict(assignment, spec)
            if isinstance(verdict, str):
                message, status = verdict, Status.INVALID_SPEC
            else:
                result = verdict.check(check)
                fraction = max(0.0, min(1.0, float(result.fraction)))
                points = round(fraction * max_points, 4)
                message, status = result.message, verdict.status
                words = result.details.get("words")
                if words:  # it may not promise numbers this course never shows
                    words = when_numbers_shown(words, self._policy, self._duedate)
                # notes concern the whole answer (a number where a parameter belongs, a rewrite
                # for Brian2GeNN): kept beside each check, said once by the page, the report
                # and the exports (autograde.feedback.answer_notes), never in each message
                notes = list(verdict.notes)
        # the status keeps both; the student's cell shows what the policy allows now
        shown = message if self._numbers or not words else words
        if points > 0:
            cell.outputs = [
                stream_output(shown.rstrip() + "\n"),
                NotebookNode(
                    output_type="execute_result",
                    execution_count=cell.get("execution_count"),
                    metadata={},
                    data={"text/plain": repr(points)},
                ),
            ]
        else:
            cell.outputs = [error_output("AssertionError", shown)]
        self._cells[gid] = {
            "check": check,
            "points": points,
            "max_points": max_points,
            "status": status,
            "message": message,
            # the student's own answer (instructor side); the feedback plots simulate it
            "spec": spec,
        }
        if words:  # the message without the hidden cases' numbers (graders.settings.Feedback)
            self._cells[gid]["words"] = words
        if notes:
            self._cells[gid]["notes"] = notes
        return cell, resources

    def _why_no_spec(self, cell) -> tuple[str, str]:
        """Status and message for a hidden cell that ran but handed no spec over."""
        if self._not_answered:
            return Status.NOT_ANSWERED, (
                "Your answer cell still raises NotImplementedError, so there was no answer to "
                "grade: replace 'raise NotImplementedError()' by your answer and run the "
                "notebook from the top."
            )
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            err = errors[-1]
            what = f"{err.get('ename', 'an error')}: {err.get('evalue', '')}".strip().rstrip(":")
            return Status.NO_SPEC, (
                f"No answer was handed over by this cell: it stopped with {what}. Define every "
                "name the test uses in your answer cell and leave the test cell unchanged."
            )
        if cell.get("execution_count") is not None:
            # The cell calls hidden_check, which always prints the spec; silence means it was
            # replaced or bypassed from the student's code.
            return Status.TAMPERED, (
                "No answer was handed over by this cell, although it ran without error: "
                "something in your notebook replaced or bypassed the grader's hidden_check. "
                "Leave graders and the test cells unchanged; no points can be given for this "
                "check."
            )
        return Status.NO_SPEC, (
            "No answer was handed over by this cell (did your notebook define every name the "
            "test uses, and leave the test cell unchanged?)."
        )

    @staticmethod
    def _handed_over(cell, assignment: str, check: str) -> dict | None:
        text = "".join(
            o.get("text", "")
            for o in cell.get("outputs", [])
            if o.get("output_type") == "stream" and o.get("name") == "stdout"
        )
        # The last spec for this very check wins; lines for other checks are ignored.
        found = None
        for line in text.splitlines():
            got = parse_spec_line(line)
            if (
                isinstance(got, dict)
                and got.get("assignment") == assignment
                and got.get("check") == check
                and isinstance(got.get("spec"), dict)
            ):
                found = got
        if found is None:
            return None
        spec = found["spec"]
        return spec if isinstance(spec, dict) else None
