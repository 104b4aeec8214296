"""Parameters and cases of the adaptive-threshold assignment.

``VISIBLE`` holds the parameters the task text states; the hidden cases (``CASES``, graded)
change their values and the drives, the feedback cases (``FEEDBACK_CASES``, plotted for the
student) keep them. A case is plain JSON data: ``params`` (name -> (value in SI, unit)),
``drives_mV`` (one neuron per constant drive) and optionally ``pulse_ms`` (the drive is switched
on and off at these times).
"""

from __future__ import annotations

from ..base import MV

DT = 1e-4  # s; Brian's default clock, stated in the task

VISIBLE = {
    "vr": (-70 * MV, "volt"),
    "vth0": (-50 * MV, "volt"),
    "vth_inc": (5 * MV, "volt"),
    "tau": (0.020, "second"),
    "tau_th": (0.200, "second"),
}


def _p(**kw):
    """Case parameters: the visible ones with overrides given in mV and ms."""
    out = dict(VISIBLE)
    for k, v in kw.items():
        out[k] = (v * MV, "volt") if VISIBLE[k][1] == "volt" else (v * 1e-3, "second")
    return out


# Hidden cases. Drives are in mV; a neuron fires only when vr + I > vth0. "pulse" cases switch
# the drive on at t_on and off at t_off, leaving the threshold to relax freely afterwards.
CASES = [
    {"params": _p(), "drives_mV": [10, 19, 25, 40, 60]},
    {"params": _p(vth_inc=2, tau_th=80), "drives_mV": [22, 35, 50]},
    {
        "params": _p(vth_inc=8, tau_th=350, vr=-65, vth0=-52, tau=15),
        "drives_mV": [12, 20, 45],
    },
    {"params": _p(vth_inc=4, tau_th=120), "drives_mV": [30, 50], "pulse_ms": [20, 200]},
    {"params": _p(vth_inc=6, tau_th=250, vth0=-48), "drives_mV": [40], "pulse_ms": [50, 250]},
]

# Feedback cases (plotted for students, so visible parameters only): the notebook's constant
# drives, and one pulse whose end leaves the threshold to relax freely.
FEEDBACK_CASES = [
    {"params": _p(), "drives_mV": [15, 25, 40, 60]},
    {"params": _p(), "drives_mV": [40], "pulse_ms": [100, 300]},
]
