"""Parameters, cases and inputs of the E/I-balance assignment.

``VISIBLE`` holds the parameters the task text states. A case is plain JSON data: ``params``
(name -> (value in SI, unit)), ``inputs`` ("poisson" or "regular") and ``seed``; its input spike
trains are made from them by :func:`inputs` with numpy (Brian2GeNN cannot seed), so every
backend sees the same spikes. The hidden cases (``CASES``) are graded; the feedback case
(``FEEDBACK_CASES``) is plotted for the student. The pairing protocols (:func:`probes`) test the
learning rule on probe neurons whose spikes are forced at known times.
"""

from __future__ import annotations

import numpy as np

from ..base import MV

DT = 1e-4  # s; Brian's default clock, stated in the task
DURATION = 3.0  # s

# Names (not values) are shared with the student notebook; do not rename.
VISIBLE = {
    "vr": (-70 * MV, "volt"),  # resting and reset potential
    "vth": (-50 * MV, "volt"),  # spike threshold
    "tau": (0.020, "second"),  # membrane time constant
    "tauI": (0.002, "second"),  # synaptic current time constant (tau/10)
    "t_ref": (0.002, "second"),  # refractory period
    "tau_stdp": (0.020, "second"),  # decay time constant of the traces
    "eta": (0.2, "1"),  # learning rate of the inhibitory weights
    "w_e": (20.0, "1"),  # excitatory weight: each input spike adds w_e*mV to Ie
    "w_init": (5.0, "1"),  # initial inhibitory weight
    "N_e": (400, "1"),  # number of excitatory inputs
    "N_i": (100, "1"),  # number of inhibitory inputs
    "rate_e": (10.0, "Hz"),  # rate of each excitatory input
    "rate_i": (20.0, "Hz"),  # rate of each inhibitory input
}


def _p(**kw):
    """Case parameters: the visible ones with overrides (times in ms, others as stated)."""
    out = dict(VISIBLE)
    for k, v in kw.items():
        out[k] = (v * 1e-3, "second") if VISIBLE[k][1] == "second" else (float(v), VISIBLE[k][1])
    return out


# Hidden cases: input counts, rates, weights, eta and tau_stdp vary; inputs are Poisson-like
# ("poisson") or periodic with random phases ("regular"). Every case starts excitation-dominated
# (the control fires at 100-200 Hz) and the reference's late net input is within ~15 % of Ie.
CASES = [
    {"params": _p(), "inputs": "poisson", "seed": 1},
    {"params": _p(), "inputs": "regular", "seed": 2},
    {
        "params": _p(N_e=300, rate_e=15, w_e=16, N_i=80, rate_i=25, eta=0.3, tau_stdp=15, w_init=2),
        "inputs": "poisson",
        "seed": 3,
    },
    {
        "params": _p(
            N_e=500, rate_e=8, w_e=22, N_i=120, rate_i=15, eta=0.15, tau_stdp=30, w_init=8
        ),
        "inputs": "regular",
        "seed": 4,
    },
]
# Feedback case (plotted for students): visible parameters and Poisson-like input as in the
# notebook, with a seed no hidden case uses.
FEEDBACK_CASES = [{"params": _p(), "inputs": "poisson", "seed": 1000}]

# Pairing protocols on probe neurons: (eta, tau_stdp in ms) sets, intervals t_pre - t_post in ms.
PROBE_SETS = [(None, None), (0.07, 35.0)]  # None: the visible value
PAIRINGS_MS = (-25.0, -10.0, -3.0, 3.0, 10.0, 25.0)
PROBE_POST_T = 0.050  # s; the forced postsynaptic spike (generator time of the kick)


def _spike_trains(rng, n, rate, duration, regular):
    """``n`` input trains as (indices, times), on the dt grid, at most one spike per step."""
    steps = int(round(duration / DT))
    if regular:
        period = 1.0 / rate
        phase = rng.uniform(0, period, n)
        counts = np.floor((duration - phase) / period).astype(int) + 1
        idx = np.repeat(np.arange(n), counts)
        t = phase[idx] + period * (
            np.arange(idx.size) - np.repeat(np.cumsum(counts) - counts, counts)
        )
        steps_ = np.floor(t / DT).astype(np.int64)
    else:
        hits = rng.random((steps, n)) < rate * DT
        steps_, idx = np.nonzero(hits)
    keep = steps_ < steps
    return idx[keep], steps_[keep]


def inputs(case, duration=DURATION):
    """The case's excitatory and inhibitory input spikes, as ((i, step), (i, step))."""
    p = {k: v[0] for k, v in case["params"].items()}
    rng = np.random.default_rng(case["seed"])
    regular = case["inputs"] == "regular"
    exc = _spike_trains(rng, int(p["N_e"]), p["rate_e"], duration, regular)
    inh = _spike_trains(rng, int(p["N_i"]), p["rate_i"], duration, regular)
    return exc, inh


def probes():
    """The pairing protocols: one probe neuron per parameter set plus one that never spikes.

    Returns a list of dicts with the probe's synapses: ``dt`` is ``t_pre - t_post`` in seconds
    (``None`` for a presynaptic neuron that never fires) and ``post`` whether the probe spikes.
    """
    out = []
    for k, (eta, tau_ms) in enumerate(PROBE_SETS):
        eta = VISIBLE["eta"][0] if eta is None else eta
        tau_s = VISIBLE["tau_stdp"][0] if tau_ms is None else tau_ms * 1e-3
        syn = [{"dt": d * 1e-3} for d in PAIRINGS_MS] + [{"dt": None}]
        out.append({"eta": eta, "tau_stdp": tau_s, "post": True, "synapses": syn, "set": k})
    eta, tau_s = VISIBLE["eta"][0], VISIBLE["tau_stdp"][0]
    out.append({"eta": eta, "tau_stdp": tau_s, "post": False, "synapses": [{"dt": 0.0}], "set": 0})
    return out
