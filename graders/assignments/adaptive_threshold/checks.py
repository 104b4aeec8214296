"""Checks for the adaptive-threshold assignment: pure functions of recorded observables.

Timing convention (Brian2GeNN's schedule, used on every backend): a StateMonitor sample at step
``n`` is taken before step ``n``'s update; a spike detected at step ``n`` is reset in the same
step, so its jump shows up between samples ``n`` and ``n + 1``.

Each check returns an :class:`~graders.assignments.base.Outcome`: its first failure in words,
where it is (``focus``: case, neuron and, for spike-by-spike checks, the spike) and what to
change. On hidden cases (``visible=False``) the words name parameters (``vth_inc``, ``tau_th``)
and sizes relative to them, never a hidden value or a ratio to one; on the feedback cases
(``visible=True``, the task's own parameters) they also give the measured numbers.
"""

from __future__ import annotations

import numpy as np

from ...wording import changed_by, decimals, rate_words
from ..base import MS, MV, Outcome
from .cases import DT

# jump: the step-change estimate below is exact to O((dt/tau_th)^2), so right answers (any
# method, any layout) are off by ~1e-5 of vth_inc; 1 % (the notebook's self-check: 0.05 mV of
# 5 mV) fails a vth_inc off by 2 % with room to spare on both sides. Figures: README,
# "Sensitivity" (benchmarks/sensitivity.py).
JUMP_RTOL = 0.01
# decay: right answers fit tau_th within ~0.05 % and follow the predicted curve within ~0.02 % of
# its height; at 1 % the fit fails a tau_th off by 2 % (its fit is off by 2 %), not a right one.
DECAY_RTOL = 0.01
REST_ATOL = 1e-6  # V; a threshold without spikes must not move
SPIKE_TIME_TOL_STEPS = 2  # same method as the reference: only rounding differs

#: What to change, per check, in the task's terms (the last sentence of a failure message).
ADVICE = {
    "reduction": "Make vth rise at each spike (in reset) so that the neuron fires less than with "
    "a fixed threshold.",
    "jump": "In reset, raise vth by exactly vth_inc (written by its name) at each spike.",
    "decay": "Let vth relax toward vth0 with time constant tau_th (not tau) in its equation.",
    "rest": "Let vth move only at spikes and back toward vth0, so it stays at vth0 while the "
    "neuron is silent.",
    "agreement": "Use the task's equations with every parameter by its name; once the other "
    "checks pass, the spike times follow.",
}
#: What the hidden cases vary that the feedback cases keep (no values).
UNSEEN = (
    "other drives and other values of vth_inc, tau_th, tau, vr and vth0: look for a number "
    "written where the task names a parameter, or one parameter used in another's place"
)


def _spikes(obs, k, role, n):
    i, t = obs[f"c{k}_{role}_spk_i"].astype(int), obs[f"c{k}_{role}_spk_t"]
    return [np.sort(t[i == j]) for j in range(n)]


def _p(case, name):
    return case["params"][name][0]


def _place(case, j):
    """Neuron ``j`` of a feedback case in the task's terms (never used for hidden cases)."""
    text = f"the task's parameters, drive I = {case['drives_mV'][j]:g} mV"
    if "pulse_ms" in case:
        on, off = case["pulse_ms"]
        text += f" switched on at {on:g} ms and off at {off:g} ms"
    return text


def _outcome(name, items, what, good, default=None):
    """The Outcome of ``(ok, counts, said, focus, place)`` items.

    Items with ``counts=False`` are requirements that earn nothing when met (a silent neuron
    staying silent) but count as a failure when broken, so a model that does nothing cannot
    collect credit from them. Without a failure the focus is ``default`` (the most telling
    item: an index into ``items``) or the first item.
    """
    bad = [it for it in items if not it[0]]
    earned = sum(1 for ok, counts, *_ in items if ok and counts)
    total = sum(1 for ok, counts, *_ in items if counts or not ok)
    frac = earned / total if total else 0.0
    show = bad[0] if bad else (items[default or 0] if items else None)
    # the count the words give is the one the fraction is made of (graders.assignments.base)
    common = {"advice": ADVICE[name], "unseen": UNSEEN, "what": what, "total": total}
    if not bad:
        focus, place = (show[3], show[4]) if show else (None, "")
        return Outcome(1.0, good, failed=0, focus=focus, place=place, **common)
    return Outcome(frac, show[2], failed=len(bad), focus=show[3], place=show[4], **common)


def reduction(spec, obs, cases, visible=False) -> Outcome:
    items, margins = [], []  # margins: spikes to spare below the fixed threshold's count
    for k, case in enumerate(cases):
        n = len(case["drives_mV"])
        s, c = _spikes(obs, k, "s", n), _spikes(obs, k, "c", n)
        for j in range(n):
            ns, nc = len(s[j]), len(c[j])
            focus = {"case": k, "neuron": j}
            if nc == 0:
                said = (
                    f"the drive stays below threshold, so the neuron must not fire; yours fired "
                    f"{ns} spikes"
                )
                items.append((ns == 0, False, said, focus, _place(case, j)))
                margins.append(np.inf)
            else:
                said = (
                    f"with a fixed threshold the neuron fires {nc} spikes and with an adaptive "
                    f"one it must fire fewer; yours fired {ns}"
                )
                items.append((ns < nc, True, said, focus, _place(case, j)))
                margins.append(nc - ns)
    # with no failure, show the drive that comes closest to the fixed threshold's count, on
    # the first case (a sweep of drives) where it has one
    telling = min(
        (i for i, it in enumerate(items) if it[1]),
        key=lambda i: (items[i][3]["case"] != 0, margins[i]),
        default=0,
    )
    return _outcome(
        "reduction", items, "firing neurons",
        "fewer spikes than with a fixed threshold for every drive above threshold, and none "
        "below it", telling,
    )  # fmt: skip


def jump(spec, obs, cases, visible=False) -> Outcome:
    dt = DT  # the task's time step
    items, errors = [], []  # errors: |jump - vth_inc| / vth_inc
    for k, case in enumerate(cases):
        n = len(case["drives_mV"])
        inc = _p(case, "vth_inc")
        vth = obs[f"c{k}_s_vth"]
        for j, times in enumerate(_spikes(obs, k, "s", n)):
            for m, ts in enumerate(times):
                step = int(round(ts / dt))
                if step < 1 or step + 1 >= vth.shape[1]:
                    continue
                # the change across the reset minus the ongoing per-step change before it
                size = (vth[j, step + 1] - vth[j, step]) - (vth[j, step] - vth[j, step - 1])
                ok = abs(size - inc) <= JUMP_RTOL * abs(inc)
                errors.append(abs(size - inc) / abs(inc))
                if visible:
                    said = (
                        f"at spike {m + 1} (t = {ts / MS:.1f} ms) vth should rise by vth_inc = "
                        f"{inc / MV:g} mV (within {JUMP_RTOL:.0%}); yours rose by "
                        f"{size / MV:+.2f} mV"
                    )
                else:
                    # in words, never a ratio: 2.50 x vth_inc told to a hard-coded 5 mV would
                    # reveal the hidden vth_inc (graders.wording)
                    said = "at each spike vth should rise by vth_inc; " + changed_by(
                        size, inc, "vth_inc", "rose"
                    )
                focus = {"case": k, "neuron": j, "spike": m, "t": float(ts)}
                items.append((ok, True, said, focus, _place(case, j)))
    if not items:
        return Outcome(
            0.0,
            "your neurons never spiked, so no threshold jump could be measured",
            advice=ADVICE["jump"],
            unseen=UNSEEN,
            focus={"case": 0, "neuron": len(cases[0]["drives_mV"]) - 1} if cases else None,
            place=_place(cases[0], len(cases[0]["drives_mV"]) - 1) if cases else "",
        )
    # with no failure, show the spike whose jump comes closest to the tolerance
    first = int(np.argmax(errors))
    return _outcome("jump", items, "spikes", "vth rises by vth_inc at every spike", first)


def _fit_tau(t, dev):
    """Time constant of ``dev`` (threshold minus vth0) decaying toward zero, or None."""
    if dev[0] <= 0:
        return None
    keep = dev > 0.02 * dev[0]
    if keep.sum() < 10:
        return None
    slope = np.polyfit(t[keep] - t[0], np.log(dev[keep]), 1)[0]
    return -1.0 / slope if slope < 0 else np.inf


def relaxation_start(case, times):
    """When the free relaxation of neuron ``j`` starts: after the pulse and its last spike."""
    return max([case["pulse_ms"][1] * 1e-3, *(times + 2 * DT)])


def decay(spec, obs, cases, visible=False) -> Outcome:
    items = []
    t = obs["t"]
    target = "after the input stops, vth should relax toward vth0 with time constant tau_th"
    for k, case in enumerate(cases):
        if "pulse_ms" not in case:
            continue
        n = len(case["drives_mV"])
        vth0, tau_th = _p(case, "vth0"), _p(case, "tau_th")
        vth = obs[f"c{k}_s_vth"]
        for j, times in enumerate(_spikes(obs, k, "s", n)):
            focus, place = {"case": k, "neuron": j}, _place(case, j)
            start = relaxation_start(case, times)
            focus["start"] = float(start)
            sel = t >= start
            if sel.sum() < 50:
                said = "the neuron kept spiking after its input was switched off, so vth could " \
                       "not relax"  # fmt: skip
                items.append((False, True, said, focus, place))
                continue
            tt, y = t[sel], vth[j, sel]
            rise = y[0] - vth0
            if rise <= 1e-4:
                said = f"{target}; yours is {rise / MV:+.1f} mV from vth0 after the spikes"
                items.append((False, True, said, focus, place))
                continue
            predicted = vth0 + rise * np.exp(-(tt - tt[0]) / tau_th)
            err = np.max(np.abs(y - predicted)) / rise
            tau_fit = _fit_tau(tt, y - vth0)
            if tau_fit is None:
                said = f"{target}; yours ends {(y[-1] - vth0) / MV:+.1f} mV from vth0"
                items.append((False, True, said, focus, place))
            elif abs(tau_fit / tau_th - 1) > DECAY_RTOL:
                said = f"{target}; yours relaxes {rate_words(tau_fit, tau_th)} that"
                if visible:
                    said += (
                        f" (its time constant is {tau_fit / MS:.0f} ms; tau_th = "
                        f"{tau_th / MS:g} ms, within {DECAY_RTOL:.0%})"
                    )
                items.append((False, True, said, focus, place))
            elif err > DECAY_RTOL:
                d = decimals(100 * err, 100 * DECAY_RTOL)
                said = (
                    f"{target}; yours strays from that curve by {err:.{d}%} of its height "
                    f"(allowed: {DECAY_RTOL:.0%}) and ends {(y[-1] - vth0) / MV:+.1f} mV from vth0"
                )
                items.append((False, True, said, focus, place))
            else:
                items.append((True, True, target, focus, place))
    if not items:
        return Outcome(0.0, "no relaxation of vth could be measured", advice=ADVICE["decay"])
    return _outcome("decay", items, "neurons", "vth relaxes toward vth0 with time constant tau_th")


def rest(spec, obs, cases, visible=False) -> Outcome:
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
            # how far it moved is a number only on the task's parameters: on a hidden case it
            # can be the distance of vth0 to another (hidden) parameter
            size = f"by up to {dev / MV:.3g} mV" if visible else "away from it"
            said = f"the neuron never spikes, so vth should stay at vth0; yours moved {size}"
            items.append((dev <= REST_ATOL, True, said, {"case": k, "neuron": j}, _place(case, j)))
    return _outcome(
        "rest", items, "silent neurons", "vth stays at vth0 while the neuron does not spike"
    )


def agreement(spec, obs, cases, visible=False) -> Outcome:
    dt = DT  # the task's time step
    items, diffs = [], []  # diffs: the largest spike-time difference (s) per neuron
    tol = SPIKE_TIME_TOL_STEPS * dt
    for k, case in enumerate(cases):
        n = len(case["drives_mV"])
        s, r = _spikes(obs, k, "s", n), _spikes(obs, k, "r", n)
        for j in range(n):
            counts = len(r[j]) > 0  # agreeing on silence earns nothing, breaking it fails
            focus, place = {"case": k, "neuron": j}, _place(case, j)
            m = min(len(s[j]), len(r[j]))
            off = np.nonzero(np.abs(s[j][:m] - r[j][:m]) > tol)[0]
            first = int(off[0]) if off.size else m  # the first spike that does not match
            if first < max(len(s[j]), len(r[j])):
                at = r[j][first] if first < len(r[j]) else s[j][first]
                focus.update(spike=first, t=float(at))
            if len(s[j]) != len(r[j]):
                said = f"the reference fires {len(r[j])} spikes, yours {len(s[j])}"
                if visible and first < max(len(s[j]), len(r[j])):
                    said += f"; they part at spike {first + 1} (t = {focus['t'] / MS:.1f} ms)"
                items.append((False, counts, said, focus, place))
                diffs.append(np.inf)
                continue
            diff = float(np.max(np.abs(s[j] - r[j]))) if len(s[j]) else 0.0
            d = decimals(diff * 1e3, tol * 1e3, 1)
            said = (
                f"spike times differ from the reference by up to {diff * 1e3:.{d}f} ms (allowed: "
                f"{tol * 1e3:.1f} ms)"
            )
            items.append((diff <= tol, counts, said, focus, place))
            diffs.append(diff if counts else -1.0)
    # with no failure, show the neuron whose spikes come closest to the tolerance
    closest = int(np.argmax(diffs)) if diffs else 0
    return _outcome(
        "agreement", items, "firing neurons",
        "spike counts and times match the reference on every case", closest,
    )  # fmt: skip


CHECKS = {
    "reduction": reduction,
    "jump": jump,
    "decay": decay,
    "rest": rest,
    "agreement": agreement,
}
