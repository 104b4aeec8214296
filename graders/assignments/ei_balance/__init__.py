"""Assignment 2: E/I balance through inhibitory plasticity (a rule like Vogels et al. 2011).

The student writes the inhibitory synapses of one LIF neuron: a weight ``w`` that learns
(``w += eta*xpost`` on a presynaptic spike, ``w += eta*xpre`` on a postsynaptic one) with traces
that decay with ``tau_stdp``. Graded on balance, convergence, the effect on the output rate, the
rule itself (pairing protocols) and whether the rest of the network is left untouched.

The package: ``cases`` (parameters, hidden and feedback cases, their input spikes, the pairing
protocols), ``network`` (the network built around a spec, with the reference answer),
``checks``, ``faults`` (what an answer's strings get wrong, with the advice), ``plots``
(feedback, drawn on a Matplotlib ``Axes``) and ``answers`` (sample answer cells for the demo
class); this module registers the assignment.
"""

from __future__ import annotations

from ..base import Field, register
from .answers import ANSWERS
from .cases import CASES, DT, DURATION, FEEDBACK_CASES, PROBE_SETS, VISIBLE, inputs
from .checks import CHECKS
from .faults import FAULTS
from .network import NEURON_PARAMS, REFERENCE, SYNAPSE_PARAMS, EIBalance
from .plots import draw

__all__ = [
    "ASSIGNMENT",
    "CASES",
    "DT",
    "DURATION",
    "FEEDBACK_CASES",
    "PROBE_SETS",
    "REFERENCE",
    "VISIBLE",
    "inputs",
]

ASSIGNMENT = EIBalance(
    name="ei_balance",
    title="E/I balance through inhibitory plasticity",
    fields=(
        Field(
            "model",
            "equations",
            "the inhibitory synapses' equations, defining the weight 'w : 1' and two traces "
            "that decay with tau_stdp, e.g. 'dxpre/dt = -xpre/tau_stdp : 1 (event-driven)' "
            "(Brian reserves the suffixes _pre and _post, so name them e.g. xpre and xpost)",
        ),
        Field(
            "on_pre",
            "statements",
            "the statements run at each presynaptic (inhibitory) spike, one per line: "
            "'Ii_post -= w*mV', a line that raises the presynaptic trace by 1 and a line "
            "'w += eta*...' with the postsynaptic trace",
        ),
        Field(
            "on_post",
            "statements",
            "the statements run at each postsynaptic spike, one per line: a line that raises "
            "the postsynaptic trace by 1 and a line 'w += eta*...' with the presynaptic trace",
        ),
        Field(
            "method",
            "method",
            "the integration method for clock-driven traces, e.g. 'exact'",
            required=False,
            default="exact",
        ),
    ),
    required_variables={"model": ("w",)},
    parameters=dict(VISIBLE),
    points={"balance": 3, "convergence": 2, "effect": 2, "rule": 2, "untouched": 1},
    synaptic_fields=("on_pre", "on_post"),
    string_parameters=(*SYNAPSE_PARAMS, *NEURON_PARAMS),
    units_hint=(
        "Every term of a sum and both sides of an equation must have the same unit: w and the "
        "traces are dimensionless (unit 1), Ii_post changes by w*mV, and a trace's derivative "
        "is 1/second, so divide by tau_stdp"
    ),
    checks=CHECKS,
    plot=draw,
    answers=ANSWERS,
    faults=FAULTS,
)
register(ASSIGNMENT)
