"""Sample answer cells of the E/I-balance assignment, for the demo class (:mod:`autograde.demo`):
what a student types into the answer cell, by kind."""

from __future__ import annotations

_MODEL = (
    "model = '''\nw : 1\ndxpre/dt = -xpre/tau_stdp : 1 (event-driven)\n"
    "dxpost/dt = -xpost/tau_stdp : 1 (event-driven)\n'''\n"
)
ANSWERS = {
    # the reference rule (network.REFERENCE)
    "right": _MODEL
    + "on_pre = '''\nIi_post -= w*mV\nxpre += 1\nw += eta*xpost\n'''\n"
    + "on_post = '''\nxpost += 1\nw += eta*xpre\n'''\n",
    # only the presynaptic half of the rule: a postsynaptic spike leaves w alone
    "partly": _MODEL
    + "on_pre = '''\nIi_post -= w*mV\nxpre += 1\nw += eta*xpost\n'''\n"
    + "on_post = '''\nxpost += 1\n'''\n",
    # the sign flipped: inhibition weakens where it should grow
    "wrong": _MODEL
    + "on_pre = '''\nIi_post -= w*mV\nxpre += 1\nw -= eta*xpost\n'''\n"
    + "on_post = '''\nxpost += 1\nw -= eta*xpre\n'''\n",
}
