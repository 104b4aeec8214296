"""Feedback plots of the adaptive-threshold assignment: the student's threshold against the
reference's on the feedback cases (``cases.FEEDBACK_CASES``), one plot per check, drawn on the
case and neuron where the check failed (``focus``, from the check run on the feedback cases)
with the check's tolerance or limit."""

from __future__ import annotations

import numpy as np

from ..base import MS, MV
from ..plotting import CONTROL, LIMIT, REFERENCE, STUDENT, legend, mark
from .cases import DT
from .checks import DECAY_RTOL, JUMP_RTOL, SPIKE_TIME_TOL_STEPS, relaxation_start


def _times(obs, case, role, row):
    i, ts = obs[f"c{case}_{role}_spk_i"], obs[f"c{case}_{role}_spk_t"]
    return np.sort(ts[i == row])


def _vth(ax, obs, case, row, start=0.0, stop=None, spikes=False):
    t = obs["t"]
    stop = t[-1] if stop is None else stop
    sel = (t >= start) & (t <= stop)
    ax.plot(t[sel] / MS, obs[f"c{case}_s_vth"][row][sel] / MV, **STUDENT)
    ax.plot(t[sel] / MS, obs[f"c{case}_r_vth"][row][sel] / MV, **REFERENCE)
    if spikes:
        for role, style, y, name in (
            ("s", STUDENT, 1.0, "your spikes"),
            ("r", REFERENCE, 0.94, "reference's spikes"),
        ):
            ts = _times(obs, case, role, row)
            ts = ts[(ts >= start) & (ts <= stop)]
            ax.plot(
                ts / MS,
                np.full(ts.size, y),
                "|",
                color=style["color"],
                ms=8,
                transform=ax.get_xaxis_transform(),
                label=f"{name} (ticks)" if ts.size else None,
            )
    ax.set(xlabel="time (ms)", ylabel="threshold vth (mV)", xlim=(start / MS, stop / MS))


def _at(focus, cases, check):
    """Case and neuron to draw: the focus, else the plot's own choice for ``check``."""
    if focus and "case" in focus:
        return int(focus["case"]), int(focus.get("neuron", 0))
    if check == "decay":
        k = next((k for k, c in enumerate(cases) if "pulse_ms" in c), 0)
        return k, 0
    drives = cases[0]["drives_mV"]
    if check == "rest":
        return 0, 0
    return 0, len(drives) - 1


def draw(check: str, ax, obs: dict, cases: list[dict], focus: dict | None = None) -> None:
    """Draw the feedback plot of ``check`` on ``ax`` (see :data:`graders.assignments.base.Plot`)."""
    k, row = _at(focus, cases, check)
    case = cases[k]
    drive = case["drives_mV"][row]
    t = obs["t"]
    if check == "reduction":
        drives = case["drives_mV"]
        counts = {
            role: np.bincount(obs[f"c{k}_{role}_spk_i"].astype(int), minlength=len(drives))
            for role in ("s", "r", "c")
        }
        ax.plot(drives, counts["c"], marker="o", **dict(CONTROL, label="fixed threshold"))
        # the limit: strictly fewer spikes than the fixed threshold (none below threshold)
        ax.fill_between(
            drives,
            np.maximum(counts["c"] - 0.5, 0),
            np.max([*counts.values()], axis=0).max() * 1.1 + 1,
            **dict(LIMIT, label="not allowed: as many spikes as the fixed threshold, or more"),
        )
        ax.plot(drives, counts["r"], marker="o", **REFERENCE)
        ax.plot(drives, counts["s"], marker="o", **STUDENT)
        mark(ax, drive, counts["s"][row], "this drive")
        ax.set(
            xlabel="drive I (mV)",
            ylabel="spikes in the run",
            title="spike count: must stay below the fixed-threshold neuron's",
        )
    elif check == "jump":
        spikes = _times(obs, k, "s", row)
        ts = float(focus["t"]) if focus and "t" in focus else (spikes[0] if spikes.size else 0.05)
        start, stop = max(0.0, ts - 0.02), min(t[-1], ts + 0.04)
        _vth(ax, obs, k, row, start, stop, spikes=True)
        step = int(round(ts / DT))
        if 1 <= step < t.size - 1:
            vth = obs[f"c{k}_s_vth"][row]
            inc = case["params"]["vth_inc"][0]
            # the expected value just after the reset: before it, plus the drift, plus vth_inc
            want = vth[step] + (vth[step] - vth[step - 1]) + inc
            ax.errorbar(
                (ts + DT) / MS,
                want / MV,
                yerr=JUMP_RTOL * inc / MV,
                fmt="_",
                ms=14,
                capsize=5,
                **dict(color=LIMIT["color"], label=f"vth + vth_inc (+/- {JUMP_RTOL:.0%})"),
            )
            mark(ax, (ts + DT) / MS, vth[step + 1] / MV, "this spike")
        ax.set_title(f"vth must rise by vth_inc at each spike (I = {drive:g} mV)")
    elif check == "decay":
        on, off = case.get("pulse_ms", (0, 0))
        spikes = _times(obs, k, "s", row)
        start = relaxation_start(case, spikes) if "pulse_ms" in case else 0.0
        if focus and "start" in focus:
            start = float(focus["start"])
        _vth(ax, obs, k, row, max(0.0, on * 1e-3 - 0.05))
        ax.axvspan(on, off, color="0.92", zorder=0, label="drive on")
        sel = t >= start
        if sel.sum() > 1:
            vth0, tau_th = case["params"]["vth0"][0], case["params"]["tau_th"][0]
            y0 = obs[f"c{k}_s_vth"][row][sel][0]
            pred = vth0 + (y0 - vth0) * np.exp(-(t[sel] - t[sel][0]) / tau_th)
            band = DECAY_RTOL * abs(y0 - vth0)
            ax.fill_between(
                t[sel] / MS,
                (pred - band) / MV,
                (pred + band) / MV,
                **dict(LIMIT, label=f"relaxing with tau_th (+/- {DECAY_RTOL:.0%} of the height)"),
            )
        ax.set_title(
            f"after the drive (I = {drive:g} mV) stops, vth must relax to vth0 with tau_th"
        )
    elif check == "rest":
        _vth(ax, obs, k, row)
        vth0 = case["params"]["vth0"][0]
        ax.axhline(vth0 / MV, **dict(LIMIT, lw=3, label="vth0 (vth must stay there)"))
        ax.set_title(f"without spikes (I = {drive:g} mV, below threshold) vth must stay at vth0")
    else:  # agreement and anything else: spikes against the reference's, +/- the tolerance
        start, stop = 0.0, None
        if focus and "t" in focus:
            start, stop = max(0.0, focus["t"] - 0.03), min(t[-1], focus["t"] + 0.03)
        _vth(ax, obs, k, row, start, stop, spikes=True)
        tol = SPIKE_TIME_TOL_STEPS * DT
        lo, hi = start, t[-1] if stop is None else stop
        first = True
        for tr in _times(obs, k, "r", row):
            if lo <= tr <= hi:
                ax.axvspan(
                    (tr - tol) / MS,
                    (tr + tol) / MS,
                    **dict(
                        LIMIT,
                        label=f"reference spike +/- {tol / MS:g} ms" if first else None,
                    ),
                )
                first = False
        if focus and "t" in focus:
            mark(ax, focus["t"] / MS, None, "first spike that differs")
        ax.set_title(f"spikes must match the reference's within {tol / MS:g} ms (I = {drive:g} mV)")
    legend(ax)
