"""Feedback plots of the adaptive-threshold assignment: the student's threshold against the
reference's on the feedback cases (``cases.FEEDBACK_CASES``), one plot per check."""

from __future__ import annotations

import numpy as np

from ..base import MS, MV
from ..plotting import CONTROL, REFERENCE, STUDENT


def _vth(ax, obs, case, row, start=0.0, stop=None, spikes=False):
    t = obs["t"]
    sel = (t >= start) & (t <= (stop if stop is not None else t[-1]))
    ax.plot(t[sel] / MS, obs[f"c{case}_s_vth"][row][sel] / MV, **STUDENT)
    ax.plot(t[sel] / MS, obs[f"c{case}_r_vth"][row][sel] / MV, **REFERENCE)
    if spikes:
        for role, style, y in (("s", STUDENT, 1.0), ("r", REFERENCE, 0.94)):
            i, ts = obs[f"c{case}_{role}_spk_i"], obs[f"c{case}_{role}_spk_t"]
            end = stop if stop is not None else np.inf
            ts = ts[(i == row) & (ts >= start) & (ts <= end)]
            ax.plot(
                ts / MS,
                np.full(ts.size, y),
                "|",
                color=style["color"],
                ms=8,
                transform=ax.get_xaxis_transform(),
            )
    ax.set(xlabel="time (ms)", ylabel="vth (mV)")


def draw(check: str, ax, obs: dict, cases: list[dict]) -> None:
    """Draw the feedback plot of ``check`` on ``ax`` (see :data:`graders.assignments.base.Plot`)."""
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
