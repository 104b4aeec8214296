"""Feedback plots of the E/I-balance assignment: the student's currents, weights and rates
against the reference's (and the network without plasticity) on the feedback case, one plot per
check."""

from __future__ import annotations

import numpy as np

from ..base import MV
from ..plotting import CONTROL, REFERENCE, STUDENT, smooth
from .cases import PAIRINGS_MS, VISIBLE


def draw(check: str, ax, obs: dict, cases: list[dict]) -> None:
    """Draw the feedback plot of ``check`` on ``ax`` (see :data:`graders.assignments.base.Plot`)."""
    t = obs["t"]
    dt = t[1] - t[0]
    win = max(1, int(round(0.05 / dt)))  # 50 ms running mean: the currents are spiky
    if check == "balance":
        for role, style in (("s", STUDENT), ("r", REFERENCE)):
            ie, ii = obs[f"c0_{role}_Ie"], obs[f"c0_{role}_Ii"]
            ax.plot(t, smooth(ie, win) / MV, **dict(style, color="C3", label=f"Ie, {role}"))
            ax.plot(t, smooth(ii, win) / MV, **dict(style, color="C0", label=f"Ii, {role}"))
            ax.plot(t, smooth(ie + ii, win) / MV, **dict(style, color="k", label=f"Ie+Ii, {role}"))
        ax.axhline(0, color="0.7", lw=0.5)
        ax.set(
            xlabel="time (s)", ylabel="mV (50 ms mean)", title="currents (s: yours, r: reference)"
        )
        ax.legend(fontsize=7, ncol=3, loc="best")
        return
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
        eta, tau = VISIBLE["eta"][0], VISIBLE["tau_stdp"][0]
        dts = np.array(PAIRINGS_MS) * 1e-3
        expected = eta * np.exp(-np.abs(dts) / tau)
        got = obs["p0_dw"][: len(dts)]
        x = np.arange(1, len(dts) + 1)
        ax.bar(x - 0.2, got, 0.4, color="C0", label="your change of w")
        ax.bar(x + 0.2, expected, 0.4, color="0.4", label="eta*exp(-|t_pre - t_post|/tau_stdp)")
        ax.set(xlabel="pairing", ylabel="change of w", title="one pre/post pairing each")
        ax.set_xticks(x)
    else:  # untouched and anything else: the excitatory current
        ax.plot(t, smooth(obs["c0_s_Ie"], win) / MV, **STUDENT)
        ax.plot(t, smooth(obs["c0_c_Ie"], win) / MV, **dict(REFERENCE, label="given neuron"))
        ax.set(xlabel="time (s)", ylabel="Ie (mV, 50 ms mean)", title="excitatory current")
    ax.legend(fontsize=8, loc="best")
