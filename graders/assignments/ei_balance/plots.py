"""Feedback plots of the E/I-balance assignment: the student's currents, weights and rates
against the reference's (and the network without plasticity) on the feedback case, one plot per
check, with the check's window and limit drawn; the rule plot shows each pairing at its interval
t_post - t_pre, focused on the pairing where the rule failed."""

from __future__ import annotations

import numpy as np

from ..base import MV
from ..plotting import CONTROL, LIMIT, REFERENCE, STUDENT, legend, mark, smooth
from .cases import PAIRINGS_MS, VISIBLE
from .checks import (
    BALANCE_MARGIN,
    EFFECT_FRACTION,
    LATE,
    RULE_ATOL,
    RULE_RTOL,
)


def _late_window(ax):
    ax.axvspan(*LATE, color="0.93", zorder=0, label="window the check judges")


def _late_mean(t, x):
    sel = (t >= LATE[0]) & (t < LATE[1])
    return float(np.mean(x[sel]))


def draw(check: str, ax, obs: dict, cases: list[dict], focus: dict | None = None) -> None:
    """Draw the feedback plot of ``check`` on ``ax`` (see :data:`graders.assignments.base.Plot`)."""
    k = int(focus.get("case", 0)) if focus else 0
    t = obs["t"]
    dt = t[1] - t[0]
    win = max(1, int(round(0.05 / dt)))  # 50 ms running mean: the currents are spiky
    if check == "balance":
        _late_window(ax)
        ie, ii = obs[f"c{k}_s_Ie"], obs[f"c{k}_s_Ii"]
        net_r = obs[f"c{k}_r_Ie"] + obs[f"c{k}_r_Ii"]
        ax.plot(t, smooth(ie, win) / MV, **dict(STUDENT, color="C3", label="excitatory Ie, yours"))
        ax.plot(t, smooth(ii, win) / MV, **dict(STUDENT, color="C0", label="inhibitory Ii, yours"))
        ax.plot(
            t, smooth(ie + ii, win) / MV, **dict(STUDENT, color="k", label="net Ie + Ii, yours")
        )
        ax.plot(
            t, smooth(net_r, win) / MV, **dict(REFERENCE, label="net Ie + Ii, reference (dashed)")
        )
        # the limit: the late mean net input within +/- bound of the late mean Ie
        rr = _late_mean(t, net_r) / _late_mean(t, obs[f"c{k}_r_Ie"])
        bound = (focus or {}).get("bound", abs(rr) + BALANCE_MARGIN)
        lim = bound * _late_mean(t, ie) / MV
        ax.fill_between(LATE, -lim, lim, **dict(LIMIT, label="allowed late mean of the net input"))
        mark(ax, np.mean(LATE), _late_mean(t, ie + ii) / MV, "your late mean net input")
        ax.axhline(0, color="0.7", lw=0.5)
        ax.set(
            xlabel="time (s)",
            ylabel="current (mV, 50 ms mean)",
            title="late net input Ie + Ii must be close to zero",
        )
        legend(ax)
        return
    if check == "convergence":
        _late_window(ax)
        ws, wr = obs[f"c{k}_s_w"].mean(axis=0), obs[f"c{k}_r_w"].mean(axis=0)
        ax.plot(t, ws, **STUDENT)
        ax.plot(t, wr, **REFERENCE)
        i0 = int(np.argmax(t >= LATE[0]))
        if focus and "drift_bound" in focus and np.all(np.isfinite(ws)):
            # the limit: from the window's start, move by at most this much of the total change
            lim = focus["drift_bound"] * abs(ws[-1] - ws[0])
            ax.fill_between(
                [t[i0], t[-1]],
                ws[i0] - lim,
                ws[i0] + lim,
                **dict(LIMIT, label="allowed drift in the window"),
            )
        elif focus and "min_change" in focus:
            ax.fill_between(
                t,
                ws[0] - focus["min_change"],
                ws[0] + focus["min_change"],
                **dict(LIMIT, label="too little change: weights must grow past this band"),
            )
        ax.set(
            xlabel="time (s)",
            ylabel="mean inhibitory weight w",
            title="the weights must grow and then settle",
        )
    elif check == "effect":
        _late_window(ax)
        edges = np.arange(0, t[-1] + dt + 1e-9, 0.1)
        rates = {}
        for role, style in (("s", STUDENT), ("r", REFERENCE), ("c", CONTROL)):
            counts, _ = np.histogram(obs[f"c{k}_{role}_spk_t"], edges)
            ax.step(edges[1:], counts / 0.1, where="pre", **style)
            spk = obs[f"c{k}_{role}_spk_t"]
            rates[role] = np.sum((spk >= LATE[0]) & (spk < LATE[1])) / (LATE[1] - LATE[0])
        bound = (focus or {}).get(
            "rate_bound", rates["c"] - EFFECT_FRACTION * (rates["c"] - rates["r"])
        )
        ax.hlines(bound, *LATE, colors=LIMIT["color"], lw=2.5, label="late rate must fall below")
        ax.set(
            xlabel="time (s)",
            ylabel="output rate (Hz, 100 ms bins)",
            title="plasticity must lower the output rate",
        )
    elif check == "rule":
        # Probe set 0 uses the task's eta and tau_stdp; each pairing sits at t_post - t_pre.
        eta, tau = VISIBLE["eta"][0], VISIBLE["tau_stdp"][0]
        dts = np.array(PAIRINGS_MS) * 1e-3  # t_pre - t_post
        x = -np.array(PAIRINGS_MS)  # t_post - t_pre, ms
        expected = eta * np.exp(-np.abs(dts) / tau)
        got = obs["p0_dw"][: len(dts)]
        fine = np.linspace(x.min() * 1.15, x.max() * 1.15, 200)
        curve = eta * np.exp(-np.abs(fine) * 1e-3 / tau)
        tol = RULE_ATOL * eta + RULE_RTOL * curve
        ax.fill_between(
            fine,
            curve - tol,
            curve + tol,
            **dict(LIMIT, label="eta*exp(-|t_post - t_pre|/tau_stdp), allowed band"),
        )
        ax.plot(x, expected, "s", mfc="none", color="k", label="expected change")
        ax.plot(x, got, "o", color=STUDENT["color"], label="your change of w")
        if focus and "dt_ms" in focus and focus.get("probe") == 0:
            p = int(focus["pairing"])
            mark(ax, x[p], got[p], "the pairing in the message")
        ax.axhline(0, color="0.7", lw=0.5)
        ax.set_xticks(x)
        ax.set_xticklabels([f"{v:+g}" for v in x])
        ax.set(
            xlabel="t_post - t_pre (ms): < 0 pre after post, > 0 pre before post",
            ylabel="change of w after one pairing",
            title="each pairing must change w by eta*exp(-|t_post - t_pre|/tau_stdp)",
        )
    else:  # untouched and anything else: the excitatory current
        ax.plot(t, smooth(obs[f"c{k}_s_Ie"], win) / MV, **STUDENT)
        ax.plot(
            t,
            smooth(obs[f"c{k}_r_Ie"], win) / MV,
            **dict(REFERENCE, label="the given neuron's (dashed)"),
        )
        ax.set(
            xlabel="time (s)",
            ylabel="excitatory current Ie (mV, 50 ms mean)",
            title="your synapses must leave Ie as the given neuron has it",
        )
    legend(ax)
