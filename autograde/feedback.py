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

import numpy as np

import graders
from graders.assignments import get
from graders.feedback import feedback_observables
from graders.harness import SimulationFailed

from .course import load_status, plots_path, run_nbgrader

BEGIN = "<!-- autograde-feedback:begin -->"
END = "<!-- autograde-feedback:end -->"
MV, MS = 1e3, 1e3  # volt -> mV, second -> ms

STUDENT = {"color": "C0", "lw": 1.4, "label": "your network"}
REFERENCE = {"color": "k", "lw": 1.0, "ls": "--", "label": "reference"}
CONTROL = {"color": "0.6", "lw": 1.0, "label": "without plasticity"}


def _figure(width: float = 7.0, height: float = 2.8, ncols: int = 1):
    # matplotlib here and in to_png, not at the top: Agg must be chosen before pyplot loads, and
    # a worker that makes no plots (--no-feedback) skips its 0.5-0.8 s import.
    import matplotlib

    matplotlib.use("Agg")  # no display on a server; must precede pyplot
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(width, height), dpi=80)


def to_png(fig) -> str:
    """A figure as base64 PNG text (and closes it)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    return np.convolve(x, np.ones(n) / n, mode="same") if n > 1 else x


# --- adaptive_threshold ------------------------------------------------------------------------


def _vth(ax, obs, case, row, start=0.0, stop=None, spikes=False):
    t = obs["t"]
    sel = (t >= start) & (t <= (stop if stop is not None else t[-1]))
    ax.plot(t[sel] * MS, obs[f"c{case}_s_vth"][row][sel] * MV, **STUDENT)
    ax.plot(t[sel] * MS, obs[f"c{case}_r_vth"][row][sel] * MV, **REFERENCE)
    if spikes:
        for role, style, y in (("s", STUDENT, 1.0), ("r", REFERENCE, 0.94)):
            i, ts = obs[f"c{case}_{role}_spk_i"], obs[f"c{case}_{role}_spk_t"]
            end = stop if stop is not None else np.inf
            ts = ts[(i == row) & (ts >= start) & (ts <= end)]
            ax.plot(
                ts * MS,
                np.full(ts.size, y),
                "|",
                color=style["color"],
                ms=8,
                transform=ax.get_xaxis_transform(),
            )
    ax.set(xlabel="time (ms)", ylabel="vth (mV)")


def _adaptive(check: str, obs: dict, cases: list[dict]):
    fig, ax = _figure()
    drives = cases[0]["drives_mV"]
    if check == "reduction":
        duration = obs["t"][-1] + (obs["t"][1] - obs["t"][0])
        for role, style in (("s", STUDENT), ("r", REFERENCE), ("c", CONTROL)):
            counts = np.bincount(obs[f"c0_{role}_spk_i"].astype(int), minlength=len(drives))
            label = "fixed threshold" if role == "c" else style["label"]
            ax.plot(drives, counts / duration, marker="o", **dict(style, label=label))
        ax.set(xlabel="drive I (mV)", ylabel="firing rate (Hz)", title="rate against drive")
    elif check == "jump":
        row = drives.index(40) if 40 in drives else len(drives) - 1
        _vth(ax, obs, 0, row, stop=0.2, spikes=True)
        ax.set_title(f"threshold after each spike (I = {drives[row]:g} mV, first 200 ms)")
    elif check == "decay":
        on, off = cases[1]["pulse_ms"]
        _vth(ax, obs, 1, 0)
        ax.axvspan(on, off, color="0.9", zorder=0, label="drive on")
        ax.set_title(f"threshold during and after a pulse of I = {cases[1]['drives_mV'][0]:g} mV")
    elif check == "rest":
        _vth(ax, obs, 0, 0)
        ax.set_title(f"threshold without spikes (I = {drives[0]:g} mV, below threshold)")
    else:  # agreement and anything else: the strongest drive, with spikes
        _vth(ax, obs, 0, len(drives) - 1, spikes=True)
        ax.set_title(f"threshold and spikes (ticks), I = {drives[-1]:g} mV")
    ax.legend(fontsize=8, loc="best")
    return fig


# --- ei_balance --------------------------------------------------------------------------------


def _ei(check: str, obs: dict, cases: list[dict]):
    from graders.assignments import ei_balance as eb

    fig, ax = _figure()
    t = obs["t"]
    dt = t[1] - t[0]
    win = max(1, int(round(0.05 / dt)))  # 50 ms running mean: the currents are spiky
    if check == "balance":
        for role, style in (("s", STUDENT), ("r", REFERENCE)):
            ie, ii = obs[f"c0_{role}_Ie"], obs[f"c0_{role}_Ii"]
            ax.plot(t, _smooth(ie, win) * MV, **dict(style, color="C3", label=f"Ie, {role}"))
            ax.plot(t, _smooth(ii, win) * MV, **dict(style, color="C0", label=f"Ii, {role}"))
            ax.plot(t, _smooth(ie + ii, win) * MV, **dict(style, color="k", label=f"Ie+Ii, {role}"))
        ax.axhline(0, color="0.7", lw=0.5)
        ax.set(
            xlabel="time (s)", ylabel="mV (50 ms mean)", title="currents (s: yours, r: reference)"
        )
        ax.legend(fontsize=7, ncol=3, loc="best")
        return fig
    if check == "convergence":
        ax.plot(t, obs["c0_s_w"].mean(axis=0), **STUDENT)
        ax.plot(t, obs["c0_r_w"].mean(axis=0), **REFERENCE)
        ax.set(xlabel="time (s)", ylabel="mean weight w", title="inhibitory weights")
    elif check == "effect":
        edges = np.arange(0, t[-1] + dt + 1e-9, 0.1)
        for role, style in (("s", STUDENT), ("r", REFERENCE), ("c", CONTROL)):
            counts, _ = np.histogram(obs[f"c0_{role}_spk_t"], edges)
            ax.step(edges[1:], counts / 0.1, where="pre", **style)
        ax.set(xlabel="time (s)", ylabel="output rate (Hz)", title="output rate (100 ms bins)")
    elif check == "rule":
        # Probe set 0 uses the task's eta and tau_stdp; the pairings are numbered, not timed.
        eta, tau = eb.VISIBLE["eta"][0], eb.VISIBLE["tau_stdp"][0]
        dts = np.array(eb.PAIRINGS_MS) * 1e-3
        expected = eta * np.exp(-np.abs(dts) / tau)
        got = obs["p0_dw"][: len(dts)]
        x = np.arange(1, len(dts) + 1)
        ax.bar(x - 0.2, got, 0.4, color="C0", label="your change of w")
        ax.bar(x + 0.2, expected, 0.4, color="0.4", label="eta*exp(-|t_pre - t_post|/tau_stdp)")
        ax.set(xlabel="pairing", ylabel="change of w", title="one pre/post pairing each")
        ax.set_xticks(x)
    else:  # untouched and anything else: the excitatory current
        ax.plot(t, _smooth(obs["c0_s_Ie"], win) * MV, **STUDENT)
        ax.plot(t, _smooth(obs["c0_c_Ie"], win) * MV, **dict(REFERENCE, label="given neuron"))
        ax.set(xlabel="time (s)", ylabel="Ie (mV, 50 ms mean)", title="excitatory current")
    ax.legend(fontsize=8, loc="best")
    return fig


PLOTTERS = {"adaptive_threshold": _adaptive, "ei_balance": _ei}


def plot_check(assignment: str, check: str, obs: dict, cases: list[dict]) -> str:
    """Base64 PNG of the student's traces against the reference for one check."""
    return to_png(PLOTTERS[assignment](check, obs, cases))


def _spec_of(cells: dict) -> dict | None:
    """The spec the hidden cells handed over (they all hand over the same one)."""
    specs = [rec["spec"] for rec in cells.values() if isinstance(rec.get("spec"), dict)]
    return specs[-1] if specs else None


def make_plots(
    assignment: str,
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
    assignment : str
        Name of the assignment.
    cells : dict
        ``grade_id -> record`` as :class:`autograde.preprocessors.TrustedVerdicts` writes it
        (``check``, ``points``, ``max_points``, ``message``, ``spec``).
    backend, cache_dir, timeout, memory_mb, use_cache
        As for :func:`graders.feedback.feedback_observables`.

    Returns
    -------
    dict
        ``{"plots": {check: base64 png}, "note": why there are no plots, or ""}``.
    """
    spec = _spec_of(cells)
    if spec is None:
        return {"plots": {}, "note": "no plots: your notebook handed no answer over"}
    try:
        obs = feedback_observables(
            assignment,
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
    cases = get(assignment).feedback_cases()
    checks = [rec["check"] for rec in cells.values()]
    return {"plots": {c: plot_check(assignment, c, obs, cases) for c in checks}, "note": ""}


INTRO = (
    "Each check below shows its message and a plot of your network (blue) next to the reference "
    "solution (dashed), simulated on a feedback case: the task's parameters and an input like "
    "the notebook's. The hidden tests use other inputs and parameter values."
)


def section(assignment: str, cells: dict, plots: dict) -> str:
    """The HTML block for one notebook: per check its score, message and plot."""
    order = list(get(assignment).points)
    recs = sorted(
        cells.values(), key=lambda r: order.index(r["check"]) if r["check"] in order else 99
    )
    out = [BEGIN, '<div class="autograde-feedback" style="max-width:60em;margin:2em auto;">']
    out.append("<h2>Your network against the reference</h2>")
    out.append(f"<p>{html.escape(INTRO)}</p>")
    if plots.get("note"):
        out.append(f"<p><em>{html.escape(plots['note'])}</em></p>")
    for rec in recs:
        c = rec["check"]
        out.append(
            f'<div class="autograde-check" id="autograde-{html.escape(c)}">'
            f"<h3>{html.escape(c)}: {rec['points']:g} of {rec['max_points']:g} points</h3>"
            f"<pre style='white-space:pre-wrap'>{html.escape(rec.get('message') or '')}</pre>"
        )
        png = plots.get("plots", {}).get(c)
        if png:
            out.append(
                f'<img alt="{html.escape(c)}: your traces and the reference" '
                f'src="data:image/png;base64,{png}"/>'
            )
        out.append("</div>")
    out += ["</div>", END]
    return "\n".join(out)


def insert(page: str, block: str) -> str:
    """``page`` with ``block`` before ``</body>``, replacing an earlier block."""
    page = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), "", page, flags=re.S)
    at = page.rfind("</body>")
    return page + block if at < 0 else page[:at] + block + "\n" + page[at:]


def inject(course, assignment: str) -> list[Path]:
    """Write the plots into nbgrader's feedback HTML of every graded student.

    Returns
    -------
    list of Path
        The feedback files that now carry plots.
    """
    course = Path(course)
    done = []
    for page in sorted((course / "feedback").glob(f"*/{assignment}/*.html")):
        student, nb = page.parent.parent.name, page.stem
        status = load_status(course, assignment, student) or {}
        cells = (status.get("checks") or {}).get(nb)
        if not status.get("ok") or not cells:
            continue
        try:
            plots = json.loads(plots_path(course, assignment, student).read_text()).get(nb, {})
        except (OSError, json.JSONDecodeError):
            plots = {"plots": {}, "note": "no plots were made for this submission"}
        page.write_text(insert(page.read_text(), section(assignment, cells, plots)))
        done.append(page)
    return done


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
    run_nbgrader(
        course,
        "generate_feedback",
        assignment,
        "--force",
        f"--GenerateFeedback.preprocessors={pps!r}",
        check=False,
    )
    inject(course, assignment)  # the per-check messages and plots
    return course / "feedback"
