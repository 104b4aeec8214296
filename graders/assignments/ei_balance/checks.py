"""Checks for the E/I-balance assignment: pure functions of recorded observables (and, for
``untouched``, of the spec's statements).

Every hidden case runs three neurons on identical input spikes: the student's synapses ("s"),
the reference synapses ("r") and the same synapses without plasticity ("c", the control).
Tolerances for the network-level checks are stated relative to the reference, because a
potentiation-only rule balances asymptotically: how close it gets in a few seconds is a property
of the case, not a constant.

Timing convention (Brian2GeNN's schedule, used on every backend): synapses process the spikes of
the previous step, presynaptic and postsynaptic alike, so a pairing interval is the difference of
the recorded spike times.
"""

from __future__ import annotations

import ast

import numpy as np

from ...wording import changed_by
from .cases import DT, PROBE_POST_T, probes

LATE = (2.0, 3.0)  # s; the window in which balance and convergence are judged
# balance: |<Ie+Ii>/<Ie>| over the late window may exceed the reference's by this much. The
# reference reaches 0.06-0.15 in the hidden cases; a network that has not learned stays near
# 0.85-0.95 (the control), so 0.10 separates "balanced like the reference" from "not yet".
BALANCE_MARGIN = 0.10
# the control must stay excitation-dominated for the comparison to mean anything
CONTROL_MIN_RATIO = 0.5
# convergence: the late-window drift of the mean weight, as a fraction of its total change, may
# exceed the reference's (0.08-0.15) by this much; and the total change must be at least this
# fraction of the reference's (weights that never move have not "settled").
DRIFT_MARGIN = 0.10
MIN_CHANGE_FRAC = 0.25
W_FINITE = 1e6
# effect: the late output rate must have fallen at least 75 % of the way from the control's to
# the reference's.
EFFECT_FRACTION = 0.75
# rule: |dw - eta*exp(-|dt|/tau_stdp)| <= RULE_ATOL*eta + RULE_RTOL*expected. Event-driven traces
# are exact; clock-driven ones integrated with euler are off by <= 0.4 % at 25 ms.
RULE_ATOL = 0.01
RULE_RTOL = 0.02
POST_TIME_TOL = 1.5e-4  # s; the forced postsynaptic spike is on the dt grid
# untouched: Ie only depends on the excitatory spikes, so the student's and the reference's must
# agree to rounding.
IE_ATOL = 1e-9  # V
ALLOWED_POST = {"Ii_post"}


def _late(obs):
    t = obs["t"]
    return (t >= LATE[0]) & (t < LATE[1]), LATE


def _ratio(obs, k, role, sel):
    ie = float(np.mean(obs[f"c{k}_{role}_Ie"][sel]))
    ii = float(np.mean(obs[f"c{k}_{role}_Ii"][sel]))
    return (ie + ii) / ie if ie else np.nan


def _rate(obs, k, role, window):
    t = obs[f"c{k}_{role}_spk_t"]
    return float(np.sum((t >= window[0]) & (t < window[1])) / (window[1] - window[0]))


def _summary(items, good, what):
    bad = [m for ok, m in items if not ok]
    frac = 1 - len(bad) / len(items) if items else 0.0
    if not bad:
        return 1.0, good
    return frac, f"{len(bad)} of {len(items)} {what} wrong, e.g. {bad[0]}"


def _case_name(k, case):
    # No parameter values: feedback is student-facing and the hidden cases stay hidden.
    kind = "Poisson-like" if case["inputs"] == "poisson" else "regular"
    return f"hidden case {k + 1} ({kind} inputs)"


def balance(spec, obs, cases):
    sel, window = _late(obs)
    items = []
    for k, case in enumerate(cases):
        rs, rr, rc = (_ratio(obs, k, role, sel) for role in ("s", "r", "c"))
        bound = abs(rr) + BALANCE_MARGIN
        ok = bool(np.isfinite(rs) and abs(rs) <= bound and rc >= CONTROL_MIN_RATIO)
        items.append(
            (
                ok,
                f"{_case_name(k, case)}: between {window[0]:g} s and {window[1]:g} s the mean "
                f"net input Ie + Ii should be close to zero, at most {bound:.0%} of the mean Ie "
                f"in size (the reference reaches {rr:+.0%}; without plasticity it stays at "
                f"{rc:+.0%}); yours is {rs:+.0%}",
            )
        )
    return _summary(
        items,
        "inhibition grows until the late net input Ie + Ii is close to zero relative to Ie, "
        "as in the reference, on every hidden case",
        "cases",
    )


def convergence(spec, obs, cases):
    sel, window = _late(obs)
    t = obs["t"]
    i0 = int(np.argmax(t >= window[0]))
    items = []
    for k, case in enumerate(cases):
        ws, wr = obs[f"c{k}_s_w"].mean(axis=0), obs[f"c{k}_r_w"].mean(axis=0)
        name = _case_name(k, case)
        w_end = obs[f"c{k}_s_w_end"]
        if (
            not (np.all(np.isfinite(ws)) and np.all(np.isfinite(w_end)))
            or np.max(np.abs(w_end)) > W_FINITE
        ):
            items.append((False, f"{name}: your inhibitory weights grow without bound (or NaN)"))
            continue
        tot_s, tot_r = ws[-1] - ws[0], wr[-1] - wr[0]
        drift_s, drift_r = ws[-1] - ws[i0], wr[-1] - wr[i0]
        frac_r = abs(drift_r) / abs(tot_r)
        if abs(tot_s) < MIN_CHANGE_FRAC * abs(tot_r):
            items.append(
                (
                    False,
                    f"{name}: the mean inhibitory weight should grow (the reference's grows by "
                    f"{tot_r / max(abs(wr[0]), 1e-9):+.0%} of its start) and then level off; "
                    f"yours changed by only {tot_s / tot_r:.0%} of the reference's change",
                )
            )
            continue
        frac_s = abs(drift_s) / abs(tot_s)
        bound = frac_r + DRIFT_MARGIN
        items.append(
            (
                frac_s <= bound,
                f"{name}: the weights should settle, moving by at most {bound:.0%} of their "
                f"total change during the last {window[1] - window[0]:g} s (the reference: "
                f"{frac_r:.0%}); yours moved by {frac_s:.0%} of its total change in that window",
            )
        )
    return _summary(items, "the inhibitory weights settle and stay finite", "cases")


def effect(spec, obs, cases):
    _, window = _late(obs)
    items = []
    for k, case in enumerate(cases):
        fs, fr, fc = (_rate(obs, k, r, window) for r in ("s", "r", "c"))
        bound = fc - EFFECT_FRACTION * (fc - fr)
        items.append(
            (
                fs <= bound,
                f"{_case_name(k, case)}: without plasticity the neuron fires at {fc:.0f} Hz "
                f"between {window[0]:g} s and {window[1]:g} s and with the reference rule at "
                f"{fr:.0f} Hz; yours must fall below {bound:.0f} Hz and fires at {fs:.0f} Hz",
            )
        )
    return _summary(
        items, "the output rate falls well below that of the network without plasticity", "cases"
    )


def rule(spec, obs, cases):
    items = []
    for q, probe in enumerate(probes()):
        eta, tau = probe["eta"], probe["tau_stdp"]
        spikes = obs[f"p{q}_spk_t"]
        dws = obs[f"p{q}_dw"]
        where = f"(pairing protocol {q + 1})"
        if probe["post"] and (
            len(spikes) != 1 or abs(spikes[0] - PROBE_POST_T - DT) > POST_TIME_TOL
        ):
            items.append(
                (
                    False,
                    f"a test neuron forced to spike once spiked {len(spikes)} times {where}; "
                    "your synapses must only change Ii, w and the traces",
                )
            )
            continue
        for syn, dw in zip(probe["synapses"], dws, strict=True):
            d = syn["dt"]
            if d is None:
                exp, what = 0.0, "a postsynaptic spike without any presynaptic spike"
            elif not probe["post"]:
                exp, what = 0.0, "a presynaptic spike without any postsynaptic spike"
            else:
                exp = eta * np.exp(-abs(d) / tau)
                order = "after" if d > 0 else "before"
                what = (
                    f"a presynaptic spike shortly {order} a postsynaptic one should change w by "
                    f"eta*exp(-|t_pre - t_post|/tau_stdp) {where}"
                )
            ok = bool(np.isfinite(dw) and abs(dw - exp) <= RULE_ATOL * eta + RULE_RTOL * abs(exp))
            if exp == 0.0:
                what += f" should leave w unchanged {where}"
                how = "increased" if dw > 0 else "decreased" if dw < 0 else "did not change"
                items.append((ok, f"{what}; yours {how} it" if np.isfinite(dw) else what))
            else:
                # in words, never a ratio to the (hidden) expected change (graders.wording)
                items.append((ok, f"{what}; " + changed_by(dw, exp, "that", "changed it")))
    return _summary(
        items,
        "each pre/post pairing changes w by eta*exp(-|dt|/tau_stdp), and a lone spike does not",
        "pairing protocols",
    )


def _targets(text):
    out = []
    for node in ast.parse((text or "").replace(";", "\n")).body:
        target = getattr(node, "target", None) or (getattr(node, "targets", None) or [None])[0]
        if isinstance(target, ast.Name):
            out.append(target.id)
    return out


def untouched(spec, obs, cases):
    for name in ("on_pre", "on_post"):
        for tgt in _targets(spec.get(name)):
            if tgt.endswith("_post") and tgt not in ALLOWED_POST:
                return 0.0, (
                    f"your {name} changes {tgt}; the inhibitory synapses may only change Ii_post "
                    "and their own variables (w and the traces). The excitatory current Ie and "
                    "the membrane potential v belong to the neuron and the excitatory synapses"
                )
    worst, where = 0.0, ""
    for k in range(len(cases)):
        dev = float(np.max(np.abs(obs[f"c{k}_s_Ie"] - obs[f"c{k}_r_Ie"])))
        if dev > worst:
            worst, where = dev, _case_name(k, cases[k])
    if worst > IE_ATOL:
        return 0.0, (
            f"{where}: the excitatory current Ie depends only on the excitatory inputs, but "
            f"yours differs from the reference's by up to {worst * 1e3:.3g} mV; leave Ie alone"
        )
    return 1.0, "the excitatory current Ie and the neuron model are untouched"


CHECKS = {
    "balance": balance,
    "convergence": convergence,
    "effect": effect,
    "rule": rule,
    "untouched": untouched,
}
