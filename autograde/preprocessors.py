"""nbgrader preprocessors of the grading pipeline.

``SafeExecute`` replaces nbgrader's ``Execute``: it survives a dead kernel, enforces a wall-clock
limit for the whole submission as well as per cell, and caps the output a cell may produce.
``TrustedVerdicts`` sits between it and ``SaveAutoGrades``: for every hidden-test cell it takes the
spec the kernel handed over (a ``GRADERS-SPEC {...}`` line), re-grades it with :func:`graders.check`
outside the kernel and rewrites the cell's outputs, so that nothing the student's code did inside
the kernel (monkeypatching ``graders``, numpy or ``showtraceback``) can change the score.
``InertOutputs`` then cleans the HTML and JavaScript the student's cells displayed, so that
neither the graded notebook nor the feedback page made from it runs a student's script.

The course's ``nbgrader_config.py`` enables them with ``c.Autograde.autograde_preprocessors``
(:data:`graders.settings.PREPROCESSORS`); their traits' defaults and help come from
:class:`graders.settings.Grading`.
"""

from __future__ import annotations

import json
import time

from nbclient.exceptions import DeadKernelError
from nbconvert.preprocessors.sanitize import SanitizeHTML
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Any, Bool, Dict, Float, Integer, List, Set, Unicode

from graders import settings
from graders.notebook import cell_check

#: Key in the notebook metadata where the pipeline records what happened (not student-facing).
META = "autograde"


def _meta(nb: NotebookNode) -> dict:
    if META not in nb.metadata:
        nb.metadata[META] = {}
    return nb.metadata[META]


def _stream(text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name="stdout", text=text)


def _error_names(cell) -> set[str]:
    return {o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"}


def _error(ename: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=message, traceback=[message])


class SafeExecute(Execute):
    """nbgrader's ``Execute`` that grades what ran when a submission misbehaves.

    A kernel that dies (``os._exit``, a segfault, the memory limit) or a submission that runs past
    ``submission_timeout`` no longer aborts the notebook (nbgrader #427, #1033): the remaining cells
    are left unexecuted, marked with the reason, and the reason is recorded in the notebook's
    metadata for :class:`TrustedVerdicts` and the report.
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

    def preprocess(self, nb, resources=None, km=None):
        self._incident = None
        self._events: list[str] = []
        self._deadline = (
            time.monotonic() + self.submission_timeout if self.submission_timeout > 0 else None
        )
        self._cell_bytes = {}
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
            _meta(nb)["incident"] = self._incident
        if self._events:
            _meta(nb)["events"] = self._events
        return nb, resources

    async def _async_handle_timeout(self, timeout, cell=None):
        # nbclient interrupts the kernel and goes on; the instructor's report should say so.
        if cell is not None:
            cell.metadata.setdefault(META, {})["timed_out"] = timeout
        return await super()._async_handle_timeout(timeout, cell)

    def _note_cell(self, cell, index: int) -> None:
        """Events of one executed cell that an instructor should see in the class report."""
        number = f"code cell {index + 1}"
        if cell.metadata.get(META, {}).get("timed_out") is not None:
            limit = cell.metadata[META]["timed_out"]
            self._events.append(f"{number} hit the cell time limit ({limit} s) and was interrupted")
        if "MemoryError" in _error_names(cell):
            self._events.append(f"{number} raised MemoryError (the kernel's memory limit)")

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
            cell.outputs = [_error("NotExecuted", f"This cell did not run: {self._incident}.")]
            cell.metadata.setdefault(META, {})["skipped"] = self._incident
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
            self._note_cell(cell, index)
            return cell, resources
        except DeadKernelError:
            self._incident = (
                "the kernel died while running this notebook (out of memory, os._exit, "
                "sys.exit in a thread or a crash in compiled code)"
            )
            cell.outputs.append(_error("DeadKernelError", f"{self._incident}."))
            cell.metadata.setdefault(META, {})["skipped"] = self._incident
            return cell, resources

    def output(self, outs, msg, display_id, cell_index):
        if self.max_output_bytes > 0:
            size = len(json.dumps(msg.get("content", {}), default=str))
            total = self._cell_bytes.get(cell_index, 0) + size
            self._cell_bytes[cell_index] = total
            if total > self.max_output_bytes:
                if total - size <= self.max_output_bytes:
                    outs.append(_stream(f"... output cut at {self.max_output_bytes} bytes ...\n"))
                return None
        return super().output(outs, msg, display_id, cell_index)


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
        self._expected = self._trusted_checks(resources)
        self._incident = nb.metadata.get(META, {}).get("incident")
        self._not_answered = any(
            cell.cell_type == "code"
            and utils.is_solution(cell)
            and "NotImplementedError" in _error_names(cell)
            for cell in nb.cells
        )
        self._cells = {}
        self._backend = None
        nb, resources = super().preprocess(nb, resources)
        meta = _meta(nb)
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
        except (KeyError, MissingEntry) as err:
            self.log.warning("no trusted source cells: %s", err)
        for gid, spec in self.checks.items():
            a, _, c = spec.partition(":")
            out[gid] = (a, c)
        return out

    def _verdict(self, assignment: str, spec: dict):
        import graders
        from graders.backends import BackendUnavailable

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
                cell.outputs = [_error("NotExecuted", f"This cell did not run: {reason}.")]
            return cell, resources
        assignment, check = self._expected[gid]
        spec = self._handed_over(cell, assignment, check)
        points, message, status = 0.0, "", "graded"
        if spec is None:
            reason = skipped or self._incident
            if reason:
                message = f"No answer was handed over by this cell: {reason}."
                status = "not_run"
            else:
                status, message = self._why_no_spec(cell)
        else:
            verdict = self._verdict(assignment, spec)
            if isinstance(verdict, str):
                message, status = verdict, "invalid_spec"
            else:
                result = verdict.check(check)
                fraction = max(0.0, min(1.0, float(result.fraction)))
                points = round(fraction * max_points, 4)
                message, status = result.message, verdict.status
                if verdict.notes and fraction < 1:  # e.g. a number where a parameter belongs
                    message += "\nNote: " + "\nNote: ".join(verdict.notes)
        if points > 0:
            cell.outputs = [
                _stream(message.rstrip() + "\n"),
                NotebookNode(
                    output_type="execute_result",
                    execution_count=cell.get("execution_count"),
                    metadata={},
                    data={"text/plain": repr(points)},
                ),
            ]
        else:
            cell.outputs = [_error("AssertionError", message)]
        self._cells[gid] = {
            "check": check,
            "points": points,
            "max_points": max_points,
            "status": status,
            "message": message,
            # the student's own answer (instructor side); the feedback plots simulate it
            "spec": spec,
        }
        return cell, resources

    def _why_no_spec(self, cell) -> tuple[str, str]:
        """Status and message for a hidden cell that ran but handed no spec over."""
        if self._not_answered:
            return "not_answered", (
                "Your answer cell still raises NotImplementedError, so there was no answer to "
                "grade: replace 'raise NotImplementedError()' by your answer and run the "
                "notebook from the top."
            )
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            err = errors[-1]
            what = f"{err.get('ename', 'an error')}: {err.get('evalue', '')}".strip().rstrip(":")
            return "no_spec", (
                f"No answer was handed over by this cell: it stopped with {what}. Define every "
                "name the test uses in your answer cell and leave the test cell unchanged."
            )
        if cell.get("execution_count") is not None:
            # The cell calls hidden_check, which always prints the spec; silence means it was
            # replaced or bypassed from the student's code.
            return "tampered", (
                "No answer was handed over by this cell, although it ran without error: "
                "something in your notebook replaced or bypassed the grader's hidden_check. "
                "Leave graders and the test cells unchanged; no points can be given for this "
                "check."
            )
        return "no_spec", (
            "No answer was handed over by this cell (did your notebook define every name the "
            "test uses, and leave the test cell unchanged?)."
        )

    @staticmethod
    def _handed_over(cell, assignment: str, check: str) -> dict | None:
        from graders.notebook import parse_spec_line

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


#: Tags a student's HTML output keeps (others are escaped into visible text): text, tables
#: (pandas), lists, headings. No script, style, iframe, object, form, svg or event handler, and
#: no img (it would fetch any URL when the page is opened; images come as PNG outputs).
INERT_TAGS = frozenset(
    "a abbr acronym b blockquote br caption code dd del div dl dt em h1 h2 h3 h4 h5 h6 hr i "
    "ins kbd li ol p pre q s samp small span strong sub sup table tbody td tfoot th thead tr tt u "
    "ul var".split()
)
#: Attributes kept on those tags; ``on*`` handlers and ``style`` never are.
INERT_ATTRIBUTES = {
    "*": ["class", "title"],
    "a": ["href", "title"],
    "td": ["colspan", "rowspan", "align"],
    "th": ["colspan", "rowspan", "align"],
    "table": ["border"],
}
#: Output types shown as they are: text and raster images (the grader's own plots are PNG).
#: Anything else (JavaScript, SVG, widgets, other mimetypes) is removed; HTML and Markdown are
#: cleaned (:data:`INERT_TAGS`).
INERT_SAFE_OUTPUTS = frozenset(
    {"metadata", "text/plain", "text/latex", "application/json", "image/png", "image/jpeg"}
)


class InertOutputs(SanitizeHTML):
    """Make what the student's code displayed inert before anyone else opens it.

    The graded notebook is what nbgrader's formgrader renders for the instructor and what
    ``generate_feedback`` turns into the feedback page; a ``display(HTML('<script>...'))`` in a
    student's cell would otherwise run there with the viewer's session. Every code cell's rich
    outputs are cleaned (nbconvert's :class:`~nbconvert.preprocessors.SanitizeHTML`, with the
    allow-lists above): text, PNG and JPEG images stay, HTML keeps its text and harmless
    markup, scripts and handlers become visible text or go. Markdown and raw cells the student
    could write (not locked by nbgrader) are cleaned the same way; the course's locked cells
    are left as written. Stream and error outputs are text, escaped by every exporter.
    """

    # nbconvert's preprocessors are off unless enabled; this one is meant to run wherever listed
    enabled = Bool(True).tag(config=True)
    tags = List(Unicode(), default_value=sorted(INERT_TAGS), help="HTML tags kept").tag(config=True)
    attributes = Any(default_value=INERT_ATTRIBUTES, help="Attributes kept").tag(config=True)
    safe_output_keys = Set(default_value=INERT_SAFE_OUTPUTS, help="Outputs kept as they are").tag(
        config=True
    )

    def preprocess_cell(self, cell, resources, index):
        locked = (cell.get("metadata", {}).get("nbgrader") or {}).get("locked")
        if cell.cell_type in ("markdown", "raw") and locked:
            return cell, resources
        if cell.cell_type == "markdown":
            cell.source = self.markdown_to_inert_html(cell.source)
            return cell, resources
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                data = out.get("data")
                if data and "text/markdown" in data:
                    md = data.pop("text/markdown")
                    data.setdefault("text/html", self.markdown_to_inert_html(md))
        return super().preprocess_cell(cell, resources, index)

    def markdown_to_inert_html(self, text: str) -> str:
        """Markdown rendered to HTML, then cleaned.

        Cleaning the Markdown text alone misses its own syntax: ``[x](javascript:...)`` and
        ``![](http://...)`` become a live link and an image fetched from anywhere only when the
        page is rendered. Rendered first, the link loses its ``javascript:`` target (bleach keeps
        http, https and mailto) and the image becomes visible text.
        """
        from nbconvert.filters.markdown_mistune import markdown2html_mistune

        if isinstance(text, list):  # nbformat may keep multi-line strings as lists
            text = "".join(text)
        return self.sanitize_html_tags(markdown2html_mistune(text))
