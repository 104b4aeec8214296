"""What an adaptive-threshold answer can get wrong, read from its strings, with the advice for
each fault (:mod:`graders.faults`).

The threshold variable is ``vth`` or what its definition uses (``vth = vth0 + theta`` with
``dtheta/dt = -theta/tau_th`` and ``theta += vth_inc`` in reset is right): "vth's equation" and
"a reset line that raises vth" are read through that chain.
"""

from __future__ import annotations

from ...faults import Answer, Fault, numbers_in

_ALL = ("reduction", "jump", "decay", "rest", "agreement")


def _vth(a: Answer) -> set[str]:
    return a.depends("vth")


def _raises(a: Answer) -> list:
    """The reset statements that change vth (or what it is made of)."""
    return [s for s in a.statements.get("reset", []) if s.target in _vth(a) and s.target != "v"]


def _changes(a: Answer) -> list[str]:
    return [s.change for s in _raises(a) if s.change]


def _diff_vars(a: Answer) -> list[str]:
    return [v for v in _vth(a) if a.equations.get(v) and a.equations[v].kind == "diff"]


def threshold_not_vth(a: Answer) -> str | None:
    names = a.expressions.get("threshold", frozenset())
    if "vth" in names:
        return None
    other = sorted(names - {"v"}) or ["a fixed value"]
    return (
        f"Your threshold compares v with {', '.join(other)}, not with vth, so the threshold "
        "that adapts never decides when the neuron fires: write the condition with vth "
        "(v > vth)"
    )


def no_increment(a: Answer) -> str | None:
    if _raises(a):
        return None
    return (
        "Your reset leaves vth unchanged, so nothing adapts: add a line to reset that raises "
        "vth by vth_inc at each spike"
    )


def increment_sign(a: Answer) -> str | None:
    down = [c for c in _changes(a) if c.startswith("-")]
    if not down:
        return None
    return (
        f"Your reset lowers vth at each spike (by {down[0][1:]}): raise it instead (vth += vth_inc)"
    )


def increment_not_vth_inc(a: Answer) -> str | None:
    ups = [c[1:] for c in _changes(a) if c.startswith("+")]
    wrong = [c for c in ups if c.strip() != "vth_inc"]
    if not wrong or any(c.strip() == "vth_inc" for c in ups):
        return None
    numbers = numbers_in(wrong[0])
    if numbers:
        return (
            f"Your reset raises vth by {wrong[0]}, a number where the task names vth_inc, "
            "which the hidden cases set to other values: write vth_inc by its name"
        )
    return f"Your reset raises vth by {wrong[0]}, not by vth_inc: write vth += vth_inc"


def increment_in_equations(a: Answer) -> str | None:
    if "vth_inc" not in a.names_of(_vth(a)):
        return None
    return (
        "Your vth equation uses vth_inc, which makes vth drift all the time; vth_inc belongs "
        "in reset only, as a jump at each spike" + ("" if _raises(a) else " (vth += vth_inc)")
    )


def no_decay(a: Answer) -> str | None:
    if _diff_vars(a):
        return None
    return (
        "vth has no differential equation, so it never relaxes after the spikes: give it one "
        "that relaxes toward vth0 with tau_th (dvth/dt = (vth0 - vth)/tau_th : volt)"
    )


def decay_target(a: Answer) -> str | None:
    if not _diff_vars(a) or "vth0" in a.names_of(_vth(a)):
        return None
    eqs = [a.equations[v].expr for v in _diff_vars(a)]
    return (
        f"Your vth equation ({'; '.join(eqs)}) does not use vth0, so vth relaxes toward "
        "something else: let it relax toward vth0"
    )


def decay_not_tau_th(a: Answer) -> str | None:
    diff = _diff_vars(a)
    if not diff or any("tau_th" in a.equations[v].names for v in diff):
        return None
    eq = a.equations[diff[0]]
    numbers = numbers_in(eq.expr)
    if numbers:
        return (
            f"Your vth equation uses {numbers[0]}, a number where the task names tau_th, which "
            "the hidden cases set to other values: write tau_th by its name"
        )
    used = sorted(eq.names & {"tau"}) or sorted(eq.names - {eq.var, "vth0", "vth", "v"})
    what = ", ".join(used) or "no time constant"
    return f"Your vth equation relaxes with {what}, not with tau_th: divide by tau_th instead"


FAULTS = (
    Fault("threshold_not_vth", ("reduction", "agreement"), threshold_not_vth),
    Fault("no_increment", ("reduction", "jump", "decay", "agreement"), no_increment),
    Fault("increment_sign", _ALL, increment_sign),
    Fault("increment_not_vth_inc", ("jump", "agreement"), increment_not_vth_inc),
    Fault("increment_in_equations", _ALL, increment_in_equations),
    Fault("no_decay", ("reduction", "decay", "rest", "agreement"), no_decay),
    Fault("decay_target", ("reduction", "decay", "rest", "agreement"), decay_target),
    Fault("decay_not_tau_th", ("reduction", "decay", "agreement"), decay_not_tau_th),
)
