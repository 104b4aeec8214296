"""Checks for the adaptive-threshold assignment: pure functions of recorded observables.

Timing convention (Brian2GeNN's schedule, used on every backend): a StateMonitor sample at step
``n`` is taken before step ``n``'s update; a spike detected at step ``n`` is reset in the same
step, so its jump shows up between samples ``n`` and ``n + 1``.
"""

from __future__ import annotations

import numpy as np

from ..results import CheckResult

MV = 1e-3
JUMP_RTOL = 0.02  # the step-change estimate below is exact to O((dt/tau_th)^2)
DECAY_RTOL = 0.03  # fitted tau_th within 3 %
REST_ATOL = 1e-6  # V; a threshold without spikes must not move
SPIKE_TIME_TOL_STEPS = 2


def _spikes(obs, k, role, n):
    i, t = obs[f"c{k}_{role}_spk_i"].astype(int), obs[f"c{k}_{role}_spk_t"]
    return [np.sort(t[i == j]) for j in range(n)]


def _p(case, name):
    return case["params"][name][0]


def _mv(x):
    return f"{x / MV:.1f} mV"


def _ms(x):
    return f"{x * 1e3:.0f} ms"


def _worst(items):
    """The first failing message, with how many of how many failed."""
    bad = [m for ok, m in items if not ok]
    frac = 1 - len(bad) / len(items) if items else 0.0
    return frac, bad


def reduction(obs, cases, dt) -> tuple[float, str]:
    items = []
    for k, case in enumerate(cases):
        n = len(case["drives_mV"])
        s, c = _spikes(obs, k, "s", n), _spikes(obs, k, "c", n)
        for j, drive in enumerate(case["drives_mV"]):
            ns, nc = len(s[j]), len(c[j])
            what = f"with I = {drive} mV for {_ms(obs['t'][-1] + dt)}"
            if nc == 0:
                ok = ns == 0
                msg = f"{what} (below threshold) a fixed threshold gives no spike; yours fired {ns}"
            else:
                ok = ns < nc
                msg = (
                    f"{what} a fixed threshold fires {nc} spikes and an adaptive one must fire "
                    f"fewer; yours fired {ns}"
                )
            items.append((ok, msg))
    frac, bad = _worst(items)
    if not bad:
        return 1.0, "fewer spikes than with a fixed threshold for every drive above threshold"
    return frac, f"{len(bad)} of {len(items)} neurons wrong, e.g. {bad[0]}"


def jump(obs, cases, dt) -> tuple[float, str]:
    items, sizes = [], []
    for k, case in enumerate(cases):
        n = len(case["drives_mV"])
        inc = _p(case, "vth_inc")
        vth = obs[f"c{k}_s_vth"]
        for j, times in enumerate(_spikes(obs, k, "s", n)):
            for ts in times:
                step = int(round(ts / dt))
                if step < 1 or step + 1 >= vth.shape[1]:
                    continue
                # jump = change across the reset minus the ongoing per-step change before it
                size = (vth[j, step + 1] - vth[j, step]) - (vth[j, step] - vth[j, step - 1])
                sizes.append(size)
                ok = abs(size - inc) <= JUMP_RTOL * abs(inc)
                items.append(
                    (
                        ok,
                        f"after each spike vth should rise by {_mv(inc)}; "
                        f"yours rose by {_mv(size)}",
                    )
                )
    if not items:
        return 0.0, "your neurons never spiked, so no threshold jump could be measured"
    frac, bad = _worst(items)
    if not bad:
        return 1.0, "vth rises by vth_inc at every spike"
    return frac, f"{len(bad)} of {len(items)} spikes wrong: {bad[0]}"


def _fit_decay(t, y, vth0):
    """Time constant and asymptote check of y(t) relaxing toward vth0."""
    dev = y - vth0
    if dev[0] <= 0:
        return None, "starts at or below vth0"
    keep = dev > 0.02 * dev[0]
    if keep.sum() < 10:
        return None, "falls to vth0 almost at once"
    slope = np.polyfit(t[keep] - t[0], np.log(dev[keep]), 1)[0]
    return (-1.0 / slope if slope < 0 else np.inf), ""


def decay(obs, cases, dt) -> tuple[float, str]:
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
            start = max([off, *(times + 2 * dt)])
            sel = t >= start
            if sel.sum() < 50:
                items.append((False, "the neuron kept spiking after its input was switched off"))
                continue
            tt, y = t[sel], vth[j, sel]
            predicted = vth0 + (y[0] - vth0) * np.exp(-(tt - tt[0]) / tau_th)
            scale = max(abs(y[0] - vth0), 1e-4)
            err = np.max(np.abs(y - predicted)) / scale
            tau_fit, why = _fit_decay(tt, y, vth0)
            target = (
                f"after the input stops, vth should relax from {_mv(y[0])} toward vth0 = "
                f"{_mv(vth0)} with tau_th = {_ms(tau_th)}"
            )
            if tau_fit is None:
                end = y[-1]
                items.append((False, f"{target}; yours {why} and ends at {_mv(end)}"))
            elif abs(tau_fit / tau_th - 1) > DECAY_RTOL:
                items.append(
                    (False, f"{target}; yours relaxes with a time constant of {_ms(tau_fit)}")
                )
            elif err > DECAY_RTOL:
                items.append(
                    (False, f"{target}; yours heads toward {_mv(y[-1])} instead (off by {err:.0%})")
                )
            else:
                items.append((True, target))
    if not items:
        return 0.0, "no decay could be measured"
    frac, bad = _worst(items)
    if not bad:
        return 1.0, "vth relaxes toward vth0 with time constant tau_th"
    return frac, f"{len(bad)} of {len(items)} neurons wrong: {bad[0]}"


def rest(obs, cases, dt) -> tuple[float, str]:
    items = []
    for k, case in enumerate(cases):
        n = len(case["drives_mV"])
        vth0 = _p(case, "vth0")
        vth = obs[f"c{k}_s_vth"]
        ctrl = _spikes(obs, k, "c", n)
        for j, drive in enumerate(case["drives_mV"]):
            if len(ctrl[j]) or "pulse_ms" in case:
                continue
            dev = np.max(np.abs(vth[j] - vth0))
            items.append(
                (
                    dev <= REST_ATOL,
                    f"with I = {drive} mV the neuron never spikes, so vth should stay at vth0 = "
                    f"{_mv(vth0)}; yours moved by up to {_mv(dev)}",
                )
            )
    frac, bad = _worst(items)
    if not bad:
        return 1.0, "vth stays at vth0 while the neuron does not spike"
    return frac, bad[0]


def agreement(obs, cases, dt) -> tuple[float, str]:
    items = []
    tol = SPIKE_TIME_TOL_STEPS * dt
    for k, case in enumerate(cases):
        n = len(case["drives_mV"])
        s, r = _spikes(obs, k, "s", n), _spikes(obs, k, "r", n)
        for j, drive in enumerate(case["drives_mV"]):
            if len(s[j]) != len(r[j]):
                items.append(
                    (
                        False,
                        f"hidden case {k + 1}, I = {drive} mV: the reference fires {len(r[j])} "
                        f"spikes, yours {len(s[j])}",
                    )
                )
                continue
            diff = float(np.max(np.abs(s[j] - r[j]))) if len(s[j]) else 0.0
            items.append(
                (
                    diff <= tol,
                    f"hidden case {k + 1}, I = {drive} mV: spike times differ from the reference "
                    f"by up to {diff * 1e3:.1f} ms (allowed {tol * 1e3:.1f} ms)",
                )
            )
    frac, bad = _worst(items)
    if not bad:
        return 1.0, "spike counts and times match the reference on every hidden case"
    return frac, f"{len(bad)} of {len(items)} neurons differ: {bad[0]}"


CHECKS = {
    "reduction": reduction,
    "jump": jump,
    "decay": decay,
    "rest": rest,
    "agreement": agreement,
}


def grade(assignment, obs, cases) -> list[CheckResult]:
    from .adaptive_threshold import DT

    out = []
    for name, points in assignment.points.items():
        frac, msg = CHECKS[name](obs, cases, DT)
        out.append(CheckResult(name, points, frac, msg))
    return out
