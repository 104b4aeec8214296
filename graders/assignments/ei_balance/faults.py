"""What an E/I-balance answer can get wrong, read from its strings, with the advice for each
fault (:mod:`graders.faults`).

Traces may have any names (``apre``/``apost`` is right): the presynaptic trace is the model
variable other than ``w`` that on_pre raises, the postsynaptic one what on_post raises. The
strings are the validated ones, so ``Ii_post -= w*mV`` reads ``Ii_post += -(w*mV)`` here (the
rewrite for Brian2GeNN); :attr:`graders.faults.Statement.change` reads both as ``-w*mV``.
"""

from __future__ import annotations

from ...faults import Answer, Fault, numbers_in

_NET = ("balance", "convergence", "effect", "rule")


def _model_vars(a: Answer) -> set[str]:
    return set(a.equations) - {"w"}


def _trace(a: Answer, fld: str) -> list[str]:
    """The traces field ``fld`` raises (model variables other than w it increments)."""
    return [
        s.target
        for s in a.statements.get(fld, [])
        if s.target in _model_vars(a) and s.change.startswith("+")
    ]


def _other(fld: str) -> str:
    return "on_post" if fld == "on_pre" else "on_pre"


def _w_changes(a: Answer, fld: str) -> list:
    return [s for s in a.statements.get(fld, []) if s.target == "w"]


def inhibition_target(a: Answer) -> str | None:
    if a.assigned("on_pre", "Ii_post"):
        return None
    posts = sorted({s.target for s in a.statements.get("on_pre", []) if s.target.endswith("_post")})
    did = f" (it changes {', '.join(posts)})" if posts else ""
    return (
        f"Your on_pre does not change Ii_post{did}, so the inhibitory synapses do not reach "
        "the neuron's inhibitory input: lower Ii_post by w*mV there (Ii_post -= w*mV)"
    )


def writes_other(a: Answer) -> str | None:
    bad = [
        (fld, s.target)
        for fld in ("on_pre", "on_post")
        for s in a.statements.get(fld, [])
        if s.target.endswith("_post") and s.target != "Ii_post"
    ]
    if not bad:
        return None
    fld, target = bad[0]
    return (
        f"Your {fld} changes {target}, which belongs to the neuron and the excitatory synapses: "
        "change only Ii_post, w and the traces"
    )


def inhibition_sign(a: Answer) -> str | None:
    ups = [s for s in a.assigned("on_pre", "Ii_post") if s.change.startswith("+")]
    if not ups:
        return None
    return (
        f"Your on_pre raises Ii_post (by {ups[0].change[1:]}), so the 'inhibitory' synapses "
        "excite the neuron: lower it instead (Ii_post -= w*mV)"
    )


def _update_missing(fld: str):
    def found(a: Answer) -> str | None:
        if _w_changes(a, fld):
            return None
        other = _trace(a, _other(fld))
        trace = other[0] if other else f"the {'post' if fld == 'on_pre' else 'pre'}synaptic trace"
        when = "presynaptic" if fld == "on_pre" else "postsynaptic"
        return (
            f"Your {fld} leaves w unchanged, so a {when} spike does not potentiate: add "
            f"w += eta*{trace} to {fld}"
        )

    found.__name__ = f"{fld}_update_missing"
    return found


def weight_sign(a: Answer) -> str | None:
    for fld in ("on_pre", "on_post"):
        down = [s for s in _w_changes(a, fld) if s.change.startswith("-")]
        if down:
            return (
                f"Your {fld} lowers w (by {down[0].change[1:]}), so inhibition weakens where "
                "it should grow: raise w (w += eta*...)"
            )
    return None


def eta_missing(a: Answer) -> str | None:
    for fld in ("on_pre", "on_post"):
        for s in _w_changes(a, fld):
            if "eta" in s.names or not s.change:
                continue
            numbers = numbers_in(s.expr)
            if numbers:
                return (
                    f"Your {fld} changes w by {s.change.lstrip('+')}: {numbers[0]} is a number "
                    "where the task names eta, which the hidden cases set to other values; "
                    "write eta by its name"
                )
            return f"Your {fld} changes w by {s.change.lstrip('+')}, without eta: scale it by eta"
    return None


def _trace_not_raised(fld: str):
    def found(a: Answer) -> str | None:
        if _trace(a, fld):
            return None
        side = "pre" if fld == "on_pre" else "post"
        named = sorted(v for v in _model_vars(a) if v.endswith(side))
        example = f" ({named[0]} += 1)" if named else ""
        return (
            f"Your {fld} raises no trace, so the {side}synaptic trace stays at zero and the "
            f"weight change that reads it is zero too: add a line to {fld} that raises the "
            f"{side}synaptic trace by 1{example}"
        )

    found.__name__ = f"{fld}_trace_not_raised"
    return found


def traces_never_decay(a: Answer) -> str | None:
    traces = [*_trace(a, "on_pre"), *_trace(a, "on_post")]
    flat = [t for t in dict.fromkeys(traces) if a.equations[t].kind != "diff"]
    if not flat:
        return None
    t = flat[0]
    return (
        f"{', '.join(flat)} {'has' if len(flat) == 1 else 'have'} no differential equation, so "
        "the trace counts spikes and never decays: give each trace one that decays with "
        f"tau_stdp (d{t}/dt = -{t}/tau_stdp : 1 (event-driven))"
    )


def trace_tau(a: Answer) -> str | None:
    for t in dict.fromkeys([*_trace(a, "on_pre"), *_trace(a, "on_post")]):
        eq = a.equations[t]
        if eq.kind != "diff" or "tau_stdp" in eq.names:
            continue
        numbers = numbers_in(eq.expr)
        if numbers:
            return (
                f"Your equation of {t} uses {numbers[0]}, a number where the task names "
                "tau_stdp, which the hidden cases set to other values: write tau_stdp by its "
                "name"
            )
        return f"Your equation of {t} ({eq.expr}) does not decay with tau_stdp: divide by it"
    return None


def update_trace(a: Answer) -> str | None:
    for fld in ("on_pre", "on_post"):
        want = _trace(a, _other(fld))
        for s in _w_changes(a, fld):
            if want and s.change.startswith("+") and not (s.names & set(want)):
                return (
                    f"Your {fld} changes w by {s.change[1:]}, without {want[0]}, the trace "
                    f"{_other(fld)} raises: the weight change at a spike reads the other "
                    f"side's trace (w += eta*{want[0]})"
                )
    return None


FAULTS = (
    Fault("inhibition_target", (*_NET, "untouched"), inhibition_target),
    Fault("writes_other", ("untouched", *_NET), writes_other),
    Fault("inhibition_sign", _NET, inhibition_sign),
    Fault("pre_update_missing", _NET, _update_missing("on_pre")),
    Fault("post_update_missing", _NET, _update_missing("on_post")),
    Fault("weight_sign", _NET, weight_sign),
    Fault("eta_missing", _NET, eta_missing),
    Fault("pre_trace_not_raised", _NET, _trace_not_raised("on_pre")),
    Fault("post_trace_not_raised", _NET, _trace_not_raised("on_post")),
    Fault("traces_never_decay", _NET, traces_never_decay),
    Fault("trace_tau", _NET, trace_tau),
    Fault("update_trace", _NET, update_trace),
)
