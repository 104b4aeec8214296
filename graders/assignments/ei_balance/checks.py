"""Checks for the E/I-balance assignment: pure functions of recorded observables (and, for
``untouched``, of the spec's statements).

Every case runs three neurons on identical input spikes: the student's synapses ("s"), the
reference synapses ("r") and the same synapses without plasticity ("c", the control).
Tolerances for the network-level checks are stated relative to the reference, because a
potentiation-only rule balances asymptotically: how close it gets in a few seconds is a property
of the case, not a constant.

Timing convention (Brian2GeNN's schedule, used on every backend): synapses process the spikes of
the previous step, presynaptic and postsynaptic alike, so a pairing interval is the difference of
the recorded spike times.

Each check returns an :class:`~graders.assignments.base.Outcome` (its first failure in words,
where it is, what to change). With ``visible=True`` (the feedback cases) ``rule`` keeps only the
pairing protocols that use the task's eta and tau_stdp and states each pairing's interval.
"""

from __future__ import annotations

import ast

import numpy as np

from ...wording import changed_by, decimals
from ..base import Outcome
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
# rule: |dw - eta*exp(-|dt|/tau_stdp)| <= RULE_ATOL*eta + RULE_RTOL*expected. Event-driven and
# exactly integrated traces are exact to rounding; clock-driven ones integrated with euler are
# off by at most ~0.3 % of the expected change (at the 25 ms pairings), a quarter of this
# tolerance. 1 % + 0.1 % of eta fails a 2 % error in eta, in a trace's increment or (at the
# 25 ms pairings, where exp(-|dt|/tau_stdp) is most sensitive to it) in tau_stdp; see README,
# "Sensitivity" (benchmarks/sensitivity.py). The lone-spike protocols expect exactly 0.
RULE_ATOL = 0.001
RULE_RTOL = 0.01
POST_TIME_TOL = 1.5e-4  # s; the forced postsynaptic spike is on the dt grid
# untouched: Ie only depends on the excitatory spikes, so the student's and the reference's must
# agree to rounding.
IE_ATOL = 1e-9  # V
ALLOWED_POST = {"Ii_post"}

#: What to change, per check, in the task's terms (the last sentence of a failure message).
ADVICE = {
    "balance": "Let each inhibitory weight w grow by eta times the other side's trace at every "
    "pre- and postsynaptic spike, so that inhibition grows until Ii cancels Ie.",
    "convergence": "Make both traces decay with tau_stdp and the weight changes scale with eta, "
    "so that w grows while the neuron fires and then levels off.",
    "effect": "Let the learned inhibition act on the neuron (on_pre must lower Ii_post by w*mV), "
    "so that its output rate falls.",
    "rule": "At a presynaptic spike raise xpre by 1 and add eta*xpost to w; at a postsynaptic "
    "spike raise xpost by 1 and add eta*xpre to w; both traces decay with tau_stdp.",
    "untouched": "Change only Ii_post, w and the traces in on_pre and on_post; leave Ie and v "
    "to the neuron and the excitatory synapses.",
}
#: What the hidden cases vary that the feedback case keeps (no values).
UNSEEN = (
    "other numbers and rates of inputs, other weights, other values of eta and tau_stdp, and "
    "regular as well as Poisson-like inputs: look for a number written where the task names a "
    "parameter, and for a part of the rule that matters less with the task's inputs (the other "
    "checks may show it)"
)
FEEDBACK_PLACE = "the task's parameters, Poisson-like inputs"


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


def _outcome(name, items, good, what, visible=False):
    """The Outcome of ``(ok, said, focus)`` items: the fraction that passed."""
    bad = [it for it in items if not it[0]]
    frac = 1 - len(bad) / len(items) if items else 0.0
    show = bad[0] if bad else (items[0] if items else (True, good, None))
    place = show[3] if len(show) > 3 else (FEEDBACK_PLACE if visible else "")
    common = {"advice": ADVICE[name], "unseen": UNSEEN, "what": what, "total": len(items)}
    if not bad:
        return Outcome(1.0, good, focus=show[2], place=place, **common)
    return Outcome(frac, show[1], failed=len(bad), focus=show[2], place=place, **common)


def balance(spec, obs, cases, visible=False):
    sel, window = _late(obs)
    items = []
    for k in range(len(cases)):
        rs, rr, rc = (_ratio(obs, k, role, sel) for role in ("s", "r", "c"))
        bound = abs(rr) + BALANCE_MARGIN
        ok = bool(np.isfinite(rs) and abs(rs) <= bound and rc >= CONTROL_MIN_RATIO)
        d = decimals(100 * rs, 100 * bound)
        said = (
            f"between {window[0]:g} s and {window[1]:g} s the mean net input Ie + Ii should be "
            f"close to zero, at most {bound:.{d}%} of the mean Ie in size (the reference reaches "
            f"{rr:+.{d}%}; without plasticity it stays at {rc:+.0%}); yours is {rs:+.{d}%}"
        )
        items.append((ok, said, {"case": k, "bound": float(bound)}))
    return _outcome(
        "balance",
        items,
        "inhibition grows until the late net input Ie + Ii is close to zero relative to Ie, "
        "as in the reference",
        "cases",
        visible,
    )


def convergence(spec, obs, cases, visible=False):
    sel, window = _late(obs)
    t = obs["t"]
    i0 = int(np.argmax(t >= window[0]))
    items = []
    for k, _case in enumerate(cases):
        ws, wr = obs[f"c{k}_s_w"].mean(axis=0), obs[f"c{k}_r_w"].mean(axis=0)
        w_end = obs[f"c{k}_s_w_end"]
        if (
            not (np.all(np.isfinite(ws)) and np.all(np.isfinite(w_end)))
            or np.max(np.abs(w_end)) > W_FINITE
        ):
            items.append((False, "your inhibitory weights grow without bound (or NaN)",
                          {"case": k}))  # fmt: skip
            continue
        tot_s, tot_r = ws[-1] - ws[0], wr[-1] - wr[0]
        drift_s, drift_r = ws[-1] - ws[i0], wr[-1] - wr[i0]
        frac_r = abs(drift_r) / abs(tot_r)
        if abs(tot_s) < MIN_CHANGE_FRAC * abs(tot_r):
            d = decimals(100 * tot_s / tot_r, 100 * MIN_CHANGE_FRAC)
            said = (
                f"the mean inhibitory weight should grow (the reference's grows by "
                f"{tot_r / max(abs(wr[0]), 1e-9):+.0%} of its start) and then level off; yours "
                f"changed by only {tot_s / tot_r:.{d}%} of the reference's change (at least "
                f"{MIN_CHANGE_FRAC:.0%} needed)"
            )
            items.append(
                (False, said, {"case": k, "min_change": float(MIN_CHANGE_FRAC * abs(tot_r))})
            )
            continue
        frac_s = abs(drift_s) / abs(tot_s)
        bound = frac_r + DRIFT_MARGIN
        d = decimals(100 * frac_s, 100 * bound)
        said = (
            f"the weights should settle, moving by at most {bound:.{d}%} of their total change "
            f"during the last {window[1] - window[0]:g} s (the reference: {frac_r:.{d}%}); yours "
            f"moved by {frac_s:.{d}%} of its total change in that window"
        )
        items.append((frac_s <= bound, said, {"case": k, "drift_bound": float(bound)}))
    return _outcome(
        "convergence", items, "the inhibitory weights settle and stay finite", "cases", visible
    )


def effect(spec, obs, cases, visible=False):
    _, window = _late(obs)
    items = []
    for k, _case in enumerate(cases):
        fs, fr, fc = (_rate(obs, k, r, window) for r in ("s", "r", "c"))
        bound = fc - EFFECT_FRACTION * (fc - fr)
        d = decimals(fs, bound)
        said = (
            f"without plasticity the neuron fires at {fc:.0f} Hz between {window[0]:g} s and "
            f"{window[1]:g} s and with the reference rule at {fr:.0f} Hz; yours must fall below "
            f"{bound:.{d}f} Hz and fires at {fs:.{d}f} Hz"
        )
        items.append((fs <= bound, said, {"case": k, "rate_bound": float(bound)}))
    return _outcome(
        "effect",
        items,
        "the output rate falls well below that of the network without plasticity",
        "cases",
        visible,
    )


def _interval(d):
    """A pairing's interval as the student reads it: t_post - t_pre in ms, with its sign."""
    return f"t_post - t_pre = {-d * 1e3:+g} ms"


def rule(spec, obs, cases, visible=False):
    items = []
    for q, probe in enumerate(probes()):
        if visible and probe["set"] != 0:
            continue  # another eta and tau_stdp: a hidden protocol
        eta, tau = probe["eta"], probe["tau_stdp"]
        spikes = obs[f"p{q}_spk_t"]
        dws = obs[f"p{q}_dw"]
        if probe["post"] and (
            len(spikes) != 1 or abs(spikes[0] - PROBE_POST_T - DT) > POST_TIME_TOL
        ):
            items.append(
                (
                    False,
                    f"a test neuron forced to spike once spiked {len(spikes)} times; your "
                    "synapses must only change Ii, w and the traces",
                    {"probe": q},
                    "a test neuron forced to spike once, with the task's eta and tau_stdp",
                )
            )
            continue
        for p, (syn, dw) in enumerate(zip(probe["synapses"], dws, strict=True)):
            d = syn["dt"]
            focus = {"probe": q, "pairing": p}
            place = "a pairing protocol with the task's eta and tau_stdp"
            if d is None:
                exp, what = 0.0, "a postsynaptic spike without any presynaptic spike"
                place = "a lone postsynaptic spike, the task's eta and tau_stdp"
            elif not probe["post"]:
                exp, what = 0.0, "a presynaptic spike without any postsynaptic spike"
                place = "a lone presynaptic spike, the task's eta and tau_stdp"
            else:
                exp = eta * np.exp(-abs(d) / tau)
                focus["dt_ms"] = -d * 1e3  # t_post - t_pre
                order = "after" if d > 0 else "before"
                if visible:
                    what = (
                        f"a presynaptic spike {abs(d) * 1e3:g} ms {order} the postsynaptic one "
                        f"should change w by eta*exp(-|t_pre - t_post|/tau_stdp) "
                        f"= {exp:.4f} (within {RULE_ATOL * eta + RULE_RTOL * exp:.4f})"
                    )
                    place = f"the pairing {_interval(d)}, the task's eta and tau_stdp"
                else:
                    what = (
                        f"a presynaptic spike shortly {order} a postsynaptic one should change w "
                        "by eta*exp(-|t_pre - t_post|/tau_stdp)"
                    )
            ok = bool(np.isfinite(dw) and abs(dw - exp) <= RULE_ATOL * eta + RULE_RTOL * abs(exp))
            if exp == 0.0:
                what += " should leave w unchanged"
                how = "increased" if dw > 0 else "decreased" if dw < 0 else "did not change"
                said = f"{what}; yours {how} it" if np.isfinite(dw) else what
            elif visible:
                said = f"{what}; yours changed it by {dw:+.4f}"
            else:
                # in words, never a ratio to the (hidden) expected change (graders.wording)
                said = f"{what}; " + changed_by(dw, exp, "that", "changed it")
            items.append((ok, said, focus, place))
    return _outcome(
        "rule",
        items,
        "each pre/post pairing changes w by eta*exp(-|dt|/tau_stdp), and a lone spike does not",
        "pairings",
        visible,
    )


def _targets(text):
    out = []
    for node in ast.parse((text or "").replace(";", "\n")).body:
        target = getattr(node, "target", None) or (getattr(node, "targets", None) or [None])[0]
        if isinstance(target, ast.Name):
            out.append(target.id)
    return out


def untouched(spec, obs, cases, visible=False):
    common = {"advice": ADVICE["untouched"], "unseen": UNSEEN, "what": "cases"}
    place = FEEDBACK_PLACE if visible else ""
    for name in ("on_pre", "on_post"):
        for tgt in _targets(spec.get(name)):
            if tgt.endswith("_post") and tgt not in ALLOWED_POST:
                said = (
                    f"your {name} changes {tgt}; the inhibitory synapses may only change Ii_post "
                    "and their own variables (w and the traces). The excitatory current Ie and "
                    "the membrane potential v belong to the neuron and the excitatory synapses"
                )
                return Outcome(0.0, said, focus={"case": 0}, place=place, **common)
    worst, where, n_bad = 0.0, 0, 0
    for k in range(len(cases)):
        dev = float(np.max(np.abs(obs[f"c{k}_s_Ie"] - obs[f"c{k}_r_Ie"])))
        n_bad += dev > IE_ATOL
        if dev > worst:
            worst, where = dev, k
    if worst > IE_ATOL:
        said = (
            f"the excitatory current Ie depends only on the excitatory inputs, but yours differs "
            f"from the reference's by up to {worst * 1e3:.3g} mV; leave Ie alone"
        )
        return Outcome(0.0, said, failed=n_bad, total=len(cases), focus={"case": where},
                       place=place, **common)  # fmt: skip
    return Outcome(
        1.0,
        "the excitatory current Ie and the neuron model are untouched",
        focus={"case": 0},
        place=place,
        **common,
    )


CHECKS = {
    "balance": balance,
    "convergence": convergence,
    "effect": effect,
    "rule": rule,
    "untouched": untouched,
}
