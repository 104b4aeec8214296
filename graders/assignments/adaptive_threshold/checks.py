"""Checks for the adaptive-threshold assignment: pure functions of recorded observables.

Timing convention (Brian2GeNN's schedule, used on every backend): a StateMonitor sample at step
``n`` is taken before step ``n``'s update; a spike detected at step ``n`` is reset in the same
step, so its jump shows up between samples ``n`` and ``n + 1``.

Messages name parameters (``vth_inc``, ``tau_th``) and give the student's values relative to
them; they never print a hidden case's parameter values or inputs, since feedback is
student-facing.
"""

from __future__ import annotations

import numpy as np

from ...wording import changed_by, rate_words
from ..base import MV
from .cases import DT

JUMP_RTOL = 0.02  # the step-change estimate below is exact to O((dt/tau_th)^2)
DECAY_RTOL = 0.03  # fitted tau_th within 3 %, trajectory within 3 % of the prediction
REST_ATOL = 1e-6  # V; a threshold without spikes must not move
SPIKE_TIME_TOL_STEPS = 2  # same method as the reference: only rounding differs


def _spikes(obs, k, role, n):
    i, t = obs[f"c{k}_{role}_spk_i"].astype(int), obs[f"c{k}_{role}_spk_t"]
    return [np.sort(t[i == j]) for j in range(n)]


def _p(case, name):
    return case["params"][name][0]


def _where(k, j):
    return f"hidden case {k + 1}, neuron {j + 1}"


def _score(items):
    """Pass fraction and failure messages of ``(ok, counts, message)`` items.

    Items with ``counts=False`` are requirements that earn nothing when met (a silent neuron
    staying silent) but count as a failure when broken, so a model that does nothing cannot
    collect credit from them.
    """
    bad = [m for ok, _, m in items if not ok]
    earned = sum(1 for ok, counts, _ in items if ok and counts)
    total = sum(1 for ok, counts, _ in items if counts or not ok)
    return (earned / total if total else 0.0), bad


def _summary(frac, bad, n, what, good):
    if not bad:
        return 1.0, good
    return frac, f"{len(bad)} of {n} {what} wrong; e.g. {bad[0]}"


def reduction(spec, obs, cases) -> tuple[float, str]:
    items = []
    for k, case in enumerate(cases):
        n = len(case["drives_mV"])
        s, c = _spikes(obs, k, "s", n), _spikes(obs, k, "c", n)
        for j in range(n):
            ns, nc = len(s[j]), len(c[j])
            if nc == 0:
                msg = (
                    f"{_where(k, j)}: the drive stays below threshold, so the neuron must not "
                    f"fire; yours fired {ns} spikes"
                )
                items.append((ns == 0, False, msg))
            else:
                msg = (
                    f"{_where(k, j)}: with a fixed threshold the neuron fires {nc} spikes and "
                    f"with an adaptive one it must fire fewer; yours fired {ns}"
                )
                items.append((ns < nc, True, msg))
    frac, bad = _score(items)
    return _summary(
        frac, bad, len(items), "neurons",
        "fewer spikes than with a fixed threshold for every drive above threshold, and none "
        "below it",
    )  # fmt: skip


def jump(spec, obs, cases) -> tuple[float, str]:
    dt = DT  # the task's time step
    items = []
    for k, case in enumerate(cases):
        n = len(case["drives_mV"])
        inc = _p(case, "vth_inc")
        vth = obs[f"c{k}_s_vth"]
        for j, times in enumerate(_spikes(obs, k, "s", n)):
            for ts in times:
                step = int(round(ts / dt))
                if step < 1 or step + 1 >= vth.shape[1]:
                    continue
                # the change across the reset minus the ongoing per-step change before it
                size = (vth[j, step + 1] - vth[j, step]) - (vth[j, step] - vth[j, step - 1])
                ok = abs(size - inc) <= JUMP_RTOL * abs(inc)
                # in words, never a ratio: 2.50 x vth_inc told to a hard-coded 5 mV would reveal
                # the hidden vth_inc (graders.wording)
                msg = f"{_where(k, j)}: at each spike vth should rise by vth_inc; " + changed_by(
                    size, inc, "vth_inc", "rose"
                )
                items.append((ok, True, msg))
    if not items:
        return 0.0, "your neurons never spiked, so no threshold jump could be measured"
    frac, bad = _score(items)
    return _summary(frac, bad, len(items), "spikes", "vth rises by vth_inc at every spike")


def _fit_tau(t, dev):
    """Time constant of ``dev`` (threshold minus vth0) decaying toward zero, or None."""
    if dev[0] <= 0:
        return None
    keep = dev > 0.02 * dev[0]
    if keep.sum() < 10:
        return None
    slope = np.polyfit(t[keep] - t[0], np.log(dev[keep]), 1)[0]
    return -1.0 / slope if slope < 0 else np.inf


def decay(spec, obs, cases) -> tuple[float, str]:
    dt = DT  # the task's time step
    items = []
    t = obs["t"]
    for k, case in enumerate(cases):
        if "pulse_ms" not in case:
            continue
        n = len(case["drives_mV"])
        vth0, tau_th = _p(case, "vth0"), _p(case, "tau_th")
        vth = obs[f"c{k}_s_vth"]
        off = case["pulse_ms"][1] * 1e-3
        for j, times in enumerate(_spikes(obs, k, "s", n)):
            where = _where(k, j)
            start = max([off, *(times + 2 * dt)])
            sel = t >= start
            if sel.sum() < 50:
                items.append((False, True, f"{where}: the neuron kept spiking after its input "
                              "was switched off, so vth could not relax"))  # fmt: skip
                continue
            tt, y = t[sel], vth[j, sel]
            rise = y[0] - vth0
            target = "after the input stops, vth should relax toward vth0 with time constant tau_th"
            if rise <= 1e-4:
                msg = f"{where}: {target}; yours is {rise / MV:+.1f} mV from vth0 after the spikes"
                items.append((False, True, msg))
                continue
            predicted = vth0 + rise * np.exp(-(tt - tt[0]) / tau_th)
            err = np.max(np.abs(y - predicted)) / rise
            tau_fit = _fit_tau(tt, y - vth0)
            if tau_fit is None:
                msg = f"{where}: {target}; yours ends {(y[-1] - vth0) / MV:+.1f} mV from vth0"
                items.append((False, True, msg))
            elif abs(tau_fit / tau_th - 1) > DECAY_RTOL:
                msg = f"{where}: {target}; yours relaxes {rate_words(tau_fit, tau_th)} that"
                items.append((False, True, msg))
            elif err > DECAY_RTOL:
                msg = (
                    f"{where}: {target}; yours strays from that curve by {err:.0%} of its "
                    f"height and ends {(y[-1] - vth0) / MV:+.1f} mV from vth0"
                )
                items.append((False, True, msg))
            else:
                items.append((True, True, target))
    if not items:
        return 0.0, "no relaxation of vth could be measured"
    frac, bad = _score(items)
    return _summary(
        frac, bad, len(items), "neurons", "vth relaxes toward vth0 with time constant tau_th"
    )


def rest(spec, obs, cases) -> tuple[float, str]:
    items = []
    for k, case in enumerate(cases):
        n = len(case["drives_mV"])
        vth0 = _p(case, "vth0")
        vth = obs[f"c{k}_s_vth"]
        ctrl = _spikes(obs, k, "c", n)
        for j in range(n):
            if len(ctrl[j]) or "pulse_ms" in case:
                continue
            dev = np.max(np.abs(vth[j] - vth0))
            msg = (
                f"{_where(k, j)}: the neuron never spikes, so vth should stay at vth0; yours "
                f"moved by up to {dev / MV:.1f} mV"
            )
            items.append((dev <= REST_ATOL, True, msg))
    frac, bad = _score(items)
    return _summary(frac, bad, len(items), "silent neurons",
                    "vth stays at vth0 while the neuron does not spike")  # fmt: skip


def agreement(spec, obs, cases) -> tuple[float, str]:
    dt = DT  # the task's time step
    items = []
    tol = SPIKE_TIME_TOL_STEPS * dt
    for k, case in enumerate(cases):
        n = len(case["drives_mV"])
        s, r = _spikes(obs, k, "s", n), _spikes(obs, k, "r", n)
        for j in range(n):
            counts = len(r[j]) > 0  # agreeing on silence earns nothing, breaking it fails
            if len(s[j]) != len(r[j]):
                msg = f"{_where(k, j)}: the reference fires {len(r[j])} spikes, yours {len(s[j])}"
                items.append((False, counts, msg))
                continue
            diff = float(np.max(np.abs(s[j] - r[j]))) if len(s[j]) else 0.0
            msg = (
                f"{_where(k, j)}: spike times differ from the reference by up to "
                f"{diff * 1e3:.1f} ms (allowed: {tol * 1e3:.1f} ms)"
            )
            items.append((diff <= tol, counts, msg))
    frac, bad = _score(items)
    return _summary(frac, bad, len(items), "neurons",
                    "spike counts and times match the reference on every hidden case")  # fmt: skip


CHECKS = {
    "reduction": reduction,
    "jump": jump,
    "decay": decay,
    "rest": rest,
    "agreement": agreement,
}
