"""Assignment 1: a LIF neuron whose threshold adapts.

``tau dv/dt = vr - v + I`` with threshold ``v > vth`` and reset ``v = vr``; the threshold relaxes
to ``vth0`` with ``tau_th`` and rises by ``vth_inc`` at every spike.

The package: ``cases`` (parameters, hidden and feedback cases), ``network`` (the network built
around a spec, with the reference answer), ``checks``, ``faults`` (what an answer's strings get
wrong, with the advice), ``plots`` (feedback, drawn on a Matplotlib ``Axes``) and ``answers``
(sample answer cells for the demo class); this module registers the assignment.
"""

from __future__ import annotations

from ..base import Field, register
from .answers import ANSWERS
from .cases import CASES, FEEDBACK_CASES, VISIBLE
from .checks import CHECKS
from .faults import FAULTS
from .network import REFERENCE, AdaptiveThreshold
from .plots import draw

__all__ = ["ASSIGNMENT", "CASES", "FEEDBACK_CASES", "REFERENCE", "VISIBLE"]

ASSIGNMENT = AdaptiveThreshold(
    name="adaptive_threshold",
    title="Adaptive-threshold LIF neuron",
    fields=(
        Field(
            "model",
            "equations",
            "the neuron's equations, defining v, vth and the input I, e.g. "
            "'dv/dt = (vr - v + I)/tau : volt (unless refractory)' plus an equation for vth "
            "and 'I : volt'",
        ),
        Field("threshold", "expression", "the spike condition, e.g. 'v > vth'"),
        Field(
            "reset",
            "statements",
            "the statements run at each spike, one per line, e.g. 'v = vr' and a line "
            "that raises vth",
        ),
        Field(
            "method",
            "method",
            "the integration method, e.g. 'euler'",
            required=False,
            default="euler",
        ),
    ),
    required_variables={"model": ("v", "vth", "I")},
    parameters=dict(VISIBLE),
    points={"reduction": 2, "jump": 2, "decay": 2, "rest": 1, "agreement": 3},
    units_hint=(
        "Every term of a sum and both sides of an equation or comparison must have the same "
        "unit: v, vth and I are in volt, and the derivative of a volt is volt/second, so divide "
        "by a time constant (tau or tau_th)"
    ),
    checks=CHECKS,
    plot=draw,
    answers=ANSWERS,
    faults=FAULTS,
)
register(ASSIGNMENT)
