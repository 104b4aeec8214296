"""Sample answer cells of the adaptive-threshold assignment, for the demo class
(:mod:`autograde.demo`): what a student types into the answer cell, by kind."""

from __future__ import annotations

ANSWERS = {
    "right": (
        "model = '''\ndv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
        "dvth/dt = (vth0 - vth)/tau_th : volt\nI : volt\n'''\n"
        "threshold = 'v > vth'\nreset = '''\nv = vr\nvth += vth_inc\n'''\n"
    ),
    # The tutorial's bug: the threshold relaxes with tau instead of tau_th.
    "partly": (
        "model = '''\ndv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
        "dvth/dt = (vth0 - vth)/tau : volt\nI : volt\n'''\n"
        "threshold = 'v > vth'\nreset = '''\nv = vr\nvth += vth_inc\n'''\n"
    ),
    # A fixed threshold: nothing adapts.
    "wrong": (
        "model = '''\ndv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
        "dvth/dt = (vth0 - vth)/tau_th : volt\nI : volt\n'''\n"
        "threshold = 'v > vth0'\nreset = 'v = vr'\n"
    ),
}
