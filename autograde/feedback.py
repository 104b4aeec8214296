"""The students' feedback pages: each check's message and a plot of their network and the reference.

For every check of an assignment the feedback HTML shows the check's message and one plot of the
student's network next to the reference solution, simulated on the assignment's feedback cases
(:meth:`~graders.assignments.base.Assignment.feedback_cases`: the task's own parameters and an
input like the notebook's, never a hidden case). The plots are made by the grading worker
(:func:`make_plots`, trusted code outside the student's kernel), kept with the instructor's
status files (:func:`autograde.course.plots_path`) and written into nbgrader's feedback HTML by
:func:`inject`, which :func:`generate_feedback` runs after nbgrader's own ``generate_feedback``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

import graders
from graders import settings
from graders.assignments import Assignment, resolve
from graders.feedback import feedback_observables
from graders.harness import SimulationFailed
from graders.results import Status

from .course import (
    answer_notes,
    load_status,
    plots_path,
    run_nbgrader,
    shown_message,
    shows_hidden_numbers,
)

# the banner's parts, also read as feedback.incidents etc. by the page's tests and callers
from .incidents import BANNER_BEGIN, BANNER_END, banner, incidents, insert_banner  # noqa: F401

BEGIN = "<!-- autograde-feedback:begin -->"
END = "<!-- autograde-feedback:end -->"
META = "autograde"  # autograde.preprocessors.common.META, without importing nbgrader here


#: Figures are laid out at this many pixels per inch, the size a page shows them at (a 9.5 in
#: plot is 600 px wide there), and saved at ``SCALE`` times it, so that they stay sharp on a
#: high-density screen: text of 9.5 pt is 10.6 px as displayed.
DISPLAY_DPI = 80
SCALE = 2


def new_figure(width: float = 7.5, height: float = 3.8, ncols: int = 1):
    """A Matplotlib figure and its axes at the size and style of the feedback plots (the class
    report draws on them too)."""
    # matplotlib here and in to_png, not at the top: Agg must be chosen before pyplot loads, and
    # a worker that makes no plots (--no-feedback) skips importing it.
    import matplotlib

    matplotlib.use("Agg")  # no display on a server; must precede pyplot
    import matplotlib.pyplot as plt  # (see above)

    return plt.subplots(1, ncols, figsize=(width, height), dpi=DISPLAY_DPI)


def to_png(fig) -> str:
    """A figure as base64 PNG text at ``SCALE`` times its display size (and closes it)."""
    import matplotlib.pyplot as plt  # see new_figure: only the processes that draw load it

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DISPLAY_DPI * SCALE)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def png_size(png: str) -> tuple[int, int]:
    """Width and height in pixels of a base64 PNG (from its IHDR chunk)."""
    head = base64.b64decode(png[:44])
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def img(png: str, alt: str) -> str:
    """An ``<img>`` of a PNG made by :func:`to_png`: shown at its display size
    (``1/SCALE`` of its pixels) and never wider than the page (``max-width:100%``)."""
    if not png:
        return ""
    w, h = png_size(png)
    return (
        f'<img alt="{html.escape(alt)}" class="autograde-plot" width="{w // SCALE}" '
        f'height="{h // SCALE}" style="max-width:100%;height:auto" '
        f'src="data:image/png;base64,{png}"/>'
    )


def plot_check(
    assignment: Assignment | str, check: str, obs: dict, cases: list[dict], focus=None
) -> str:
    """Base64 PNG of the student's traces against the reference for one check ("" for an
    assignment without plots), drawn at ``focus`` (where the check failed on the feedback
    cases; None: the plot's own choice) with the check's limit.

    The assignment draws on the figure's axes (:meth:`graders.assignments.base.Assignment.draw`);
    the figure and the PNG are made here, so that ``graders`` never makes figures or files.
    """
    a = resolve(assignment)
    if a.plot is None:
        return ""
    fig, ax = new_figure()
    a.draw(check, ax, obs, cases, focus)
    return to_png(fig)


def _spec_of(cells: dict) -> dict | None:
    """The spec the hidden cells handed over (they all hand over the same one)."""
    specs = [rec["spec"] for rec in cells.values() if isinstance(rec.get("spec"), dict)]
    return specs[-1] if specs else None


def make_plots(
    assignment: Assignment | str,
    cells: dict,
    backend: str | None = None,
    *,
    cache_dir=None,
    timeout: float | None = None,
    memory_mb: int | None = None,
    use_cache: bool = True,
) -> dict:
    """One plot per check for a graded notebook.

    Parameters
    ----------
    assignment : graders.assignments.Assignment or str
        The assignment, or its name.
    cells : dict
        ``grade_id -> record`` as :class:`autograde.preprocessors.TrustedVerdicts` writes it
        (``check``, ``points``, ``max_points``, ``message``, ``spec``).
    backend, cache_dir, timeout, memory_mb, use_cache
        As for :func:`graders.feedback.feedback_observables`.

    Returns
    -------
    dict
        ``{"plots": {check: base64 png}, "note": why there are no plots, or "", "feedback":
        {check: {"message", "focus", "passed"}}}``: each check run on the feedback cases, its
        message measured on the plotted case and ``focus`` where the plot is drawn (the first
        failure there; :attr:`graders.assignments.base.Outcome.focus`).
    """
    a = resolve(assignment)
    spec = _spec_of(cells)
    if spec is None:
        return {"plots": {}, "note": "no plots: your notebook handed no answer over"}
    try:
        obs = feedback_observables(
            a,
            spec,
            backend,
            cache_dir=cache_dir,
            timeout=timeout,
            memory_mb=memory_mb,
            use_cache=use_cache,
        )
    except graders.SpecError as err:
        return {"plots": {}, "note": f"no plots: your answer cannot be simulated: {err}"}
    except SimulationFailed as err:
        return {"plots": {}, "note": f"no plots: your network could not be simulated ({err.kind})"}
    cases = a.feedback_cases()
    plots, said = {}, {}
    for rec in cells.values():
        c = rec["check"]
        if c not in a.checks:
            continue
        # the check itself, run on the feedback cases: where it fails there is what to draw
        hidden_passed = float(rec.get("points", 0)) >= float(rec.get("max_points", 0))
        found = a.feedback(c, spec, obs, cases, hidden_passed)
        focus = found.details["focus"]
        plots[c] = plot_check(a, c, obs, cases, focus)
        said[c] = {"message": found.message, "focus": focus, "passed": found.details["passed"]}
    return {"plots": plots, "note": "", "feedback": said}


INTRO = (
    "Each check below first says what it found on the hidden tests, which use other inputs and "
    "parameter values than the task's and are not shown. Below that, the same check is measured "
    "on a case you can see (the task's parameters and an input like the notebook's) and plotted "
    "where your network fails it: your network in blue, the reference solution dashed, the "
    "check's limit or tolerance as an orange band."
)


# Messages wrap at spaces and are never cut: nbconvert's output <pre> scrolls sideways (a long
# message read as "...with an adaptive one it mus"), and its page style breaks words anywhere.
WRAP_CSS = (
    ".jp-OutputArea-output pre, .output_area pre, .autograde-message "
    "{white-space: pre-wrap; word-break: normal; overflow-wrap: break-word; overflow-x: visible}"
    # the messages are prose: the page's font, not a terminal's
    ".autograde-message {font-family: inherit; font-size: 1em; line-height: 1.45;"
    " background: #f7f7f7; padding: 0.6em; border: 1px solid #ddd}"
    # a hidden test's output is its message, prose: the page's font (FeedbackCells tags it)
    ".celltag_autograde-verdict .output_area pre, .celltag_autograde-verdict .jp-OutputArea pre"
    " {font-family: inherit; font-size: 1em; line-height: 1.45}"
    # every image within the page's width, the student's own figures too
    "img {max-width: 100%; height: auto}"
    ".autograde-label {margin: 0.6em 0 0.2em; font-weight: bold; font-size: 0.9em}"
)


def score_text(points: float) -> str:
    """Points as nbgrader's page shows them (two decimals at most): 1.8182 -> 1.82."""
    return f"{round(float(points), 2):g}"


def points_text(points: float, max_points: float) -> str:
    """ "1.82 of 2 points", "0 of 1 point": the plural as the maximum needs it."""
    unit = "point" if float(max_points) == 1 else "points"
    return f"{score_text(points)} of {float(max_points):g} {unit}"


# nbgrader's feedback template lists every graded cell as "Test cell (Score: 1.82 / 2.0)"
_CONTENTS_ENTRY = re.compile(
    r'<li><a href="#(?P<id>[^"]+)">Test cell</a> \(Score: (?P<got>[-\d.]+) / (?P<max>[\d.]+)\)'
)


def name_contents(page: str, cells: dict) -> str:
    """``page`` with the table of contents' entries of the hidden test cells named by their
    check ("decay: 0 of 2 points") instead of nbgrader's "Test cell (Score: 0.0 / 2.0)"."""

    def entry(m: re.Match) -> str:
        rec = cells.get(m.group("id"))
        if not rec or not rec.get("check"):
            return m.group(0)
        text = points_text(float(m.group("got")), float(m.group("max")))
        return f'<li><a href="#{m.group("id")}">{html.escape(rec["check"])}</a>: {text}'

    return _CONTENTS_ENTRY.sub(entry, page)


def section(
    assignment: Assignment | str,
    cells: dict,
    plots: dict,
    banner: bool = False,
    numbers: bool = True,
) -> str:
    """The HTML block for one notebook: per check its score, message and plot.

    Without ``numbers`` (before the due date, :func:`autograde.course.shows_hidden_numbers`)
    the messages say in words what they measured on the hidden cases.

    With ``banner`` (the page opens with the run's incidents) a check that did not run says so
    in a line instead of repeating the incident.
    """
    order = list(resolve(assignment).points)
    recs = sorted(
        cells.values(), key=lambda r: order.index(r["check"]) if r["check"] in order else 99
    )
    out = [BEGIN, f"<style>{WRAP_CSS}</style>"]
    out.append('<div class="autograde-feedback" style="max-width:60em;margin:2em auto;">')
    out.append("<h2>Your network against the reference</h2>")
    out.append(f"<p>{html.escape(INTRO)}</p>")
    if plots.get("note"):
        out.append(f"<p><em>{html.escape(plots['note'])}</em></p>")
    for note in answer_notes(cells):  # about the whole answer: said once, not per check
        out.append(f"<p class='autograde-note'><b>Note on your answer</b>: {html.escape(note)}</p>")
    for rec in recs:
        c = rec["check"]
        out.append(
            f'<div class="autograde-check" id="autograde-{html.escape(c)}">'
            f"<h3>{html.escape(c)}: {points_text(rec['points'], rec['max_points'])}</h3>"
            "<p class='autograde-label'>On the hidden tests</p>"
            f"<div class='autograde-message'>{html.escape(_message(rec, banner, numbers))}</div>"
        )
        plotted = (plots.get("feedback") or {}).get(c, {}).get("message")
        if plotted:
            out.append(
                "<p class='autograde-label'>On the case plotted below</p>"
                "<div class='autograde-message autograde-plotted'>"
                f"{html.escape(plotted)}</div>"
            )
        png = plots.get("plots", {}).get(c)
        if png:
            out.append(img(png, f"{c}: your traces and the reference"))
        out.append("</div>")
    out += ["</div>", END]
    return "\n".join(out)


def _message(rec: dict, banner: bool, numbers: bool = True) -> str:
    if banner and rec.get("status") == Status.NOT_RUN:
        return "This test did not run: see what happened at the top of this page."
    return shown_message(rec, numbers)


def insert(page: str, block: str) -> str:
    """``page`` with ``block`` before ``</body>``, replacing an earlier block."""
    page = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), "", page, flags=re.S)
    at = page.rfind("</body>")
    return page + block if at < 0 else page[:at] + block + "\n" + page[at:]


def page_with_checks(
    page: str, assignment: Assignment | str, cells: dict, plots: dict, said: list, numbers=True
) -> str:
    """nbgrader's feedback ``page`` with the checks' messages and plots (:func:`section`;
    ``numbers``: with the hidden cases' numbers), the incidents' banner (``said``,
    :func:`incidents`) and the contents named by check."""
    block = section(assignment, cells, plots, bool(said), numbers)
    text = insert(name_contents(page, cells), block)
    return insert_banner(text, banner(said))


def inject(course, assignment: str, students: list[str] | None = None) -> list[Path]:
    """Write the plots into nbgrader's feedback HTML of every graded student (or of ``students``).

    Returns
    -------
    list of Path
        The feedback files that now carry plots.
    """
    course = Path(course)
    done = []
    numbers = shows_hidden_numbers(course, assignment)  # the policy and the due date, now
    a = resolve(assignment)  # once for every page
    for page in sorted((course / "feedback").glob(f"*/{assignment}/*.html")):
        student, nb = page.parent.parent.name, page.stem
        if students is not None and student not in students:
            continue
        status = load_status(course, assignment, student)
        cells = status.checks.get(nb) if status and status.ok else None
        if not cells:
            continue
        try:
            plots = json.loads(plots_path(course, assignment, student).read_text()).get(nb, {})
        except (OSError, json.JSONDecodeError):
            plots = {"plots": {}, "note": "no plots were made for this submission"}
        graded = course / "autograded" / student / assignment / f"{nb}.ipynb"
        try:
            notebook = json.loads(graded.read_text())
        except (OSError, json.JSONDecodeError):
            notebook = {}
        said = incidents(notebook, status.incidents.get(nb))
        text = page_with_checks(page.read_text(), a, cells, plots, said, numbers)
        page.write_text(text)
        done.append(page)
    return done


def generate_feedback(course, assignment: str, student: str | None = None) -> Path:
    """Per-student feedback HTML: nbgrader's, plus each check's message and plot.

    The check messages are also the hidden cells' outputs; the plots come from
    :func:`autograde.feedback.inject`. With ``student``, only that student's page is made (the
    grading service, one submission at a time; other students' pages are left alone).
    """
    course = Path(course).resolve()
    # The chain and exporter of graders.settings (whatever the course's configuration says)
    pps = list(settings.FEEDBACK_PREPROCESSORS)
    run_nbgrader(
        course,
        "generate_feedback",
        assignment,
        "--force",
        f"--GenerateFeedback.preprocessors={pps!r}",
        f"--GenerateFeedback.exporter_class={settings.FEEDBACK_EXPORTER}",
        *([f"--student={student}"] if student else []),
        check=False,
    )
    inject(course, assignment, None if student is None else [student])  # messages and plots
    return course / "feedback"
