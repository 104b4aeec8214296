"""Assignment 2: E/I balance through inhibitory plasticity (a rule like Vogels et al. 2011).

One LIF neuron ``tau dv/dt = vr - v + (Ie + Ii)`` with currents ``Ie`` and ``Ii`` that decay with
``tauI``. Excitatory inputs add ``w_e*mV`` to ``Ie`` through the grader's synapses; inhibitory
inputs go through the student's synapses, whose weight ``w`` learns: on a presynaptic spike
``w += eta*xpost``, on a postsynaptic spike ``w += eta*xpre``, with traces that jump by 1 and decay
with ``tau_stdp``.

One network holds every hidden case: for each case a student neuron, a reference neuron (the
reference synapses) and a control neuron (the same synapses without plasticity), all fed by the
same generator spikes; plus "probe" neurons whose spikes are forced at known times, for short
pairing protocols on the student's synapses. The grader's objects are few on purpose (compile
time on standalone devices grows with the number of objects): one neuron group, two generator
groups, one excitatory synapse object, the student's and the reference's synapse objects.
"""

from __future__ import annotations

import numpy as np

from ..base import Assignment, Built, Field

MV = 1e-3
DT = 1e-4  # s; Brian's default clock, stated in the task
DURATION = 3.0  # s
LATE = (2.0, 3.0)  # s; the window in which balance and convergence are judged

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

# Parameters of the neuron (the grader's model, the same in every case) and of the learning
# rule (per synapse, so that hidden cases can change them inside one synapse object).
NEURON_PARAMS = ("vr", "vth", "tau", "tauI", "t_ref")
SYNAPSE_PARAMS = ("eta", "tau_stdp")

NEURON_MODEL = (
    "dv/dt = (vr - v + Ie + Ii)/tau : volt (unless refractory)\n"
    "dIe/dt = -Ie/tauI : volt\n"
    "dIi/dt = -Ii/tauI : volt"
)

REFERENCE = {
    "model": (
        "w : 1\n"
        "dxpre/dt = -xpre/tau_stdp : 1 (event-driven)\n"
        "dxpost/dt = -xpost/tau_stdp : 1 (event-driven)"
    ),
    "on_pre": "Ii_post -= w*mV\nxpre += 1\nw += eta*xpost",
    "on_post": "xpost += 1\nw += eta*xpre",
}
# What the reference looks like after the spec layer's rewrite (Brian2GeNN needs += on _post).
REFERENCE_PRE = "Ii_post += -(w*mV)\nxpre += 1\nw += eta*xpost"


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
KICK = 5.0  # V; raises v above threshold within one step (dt/tau * KICK = 25 mV)
ROLES = ("s", "r", "c")  # student, reference, control


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


class EIBalance(Assignment):
    def _neurons(self, n, name="neurons"):
        import brian2 as b

        ns = self.namespace({k: VISIBLE[k] for k in NEURON_PARAMS})
        ns = {k: ns[k] for k in NEURON_PARAMS}
        return b.NeuronGroup(
            n,
            NEURON_MODEL,
            threshold="v > vth",
            reset="v = vr",
            refractory=VISIBLE["t_ref"][0] * b.second,
            method="euler",
            namespace=ns,
            name=name,
        )

    def _synapses(self, spec, source, target, name, upto="on_post"):
        """The student's (or reference's) synapses; eta and tau_stdp become per-synapse constants.

        Per-synapse parameters let every hidden case share one synapse object while the strings
        still refer to plain parameter names.
        """
        import brian2 as b

        order = ["model", "on_pre", "on_post"]
        k = order.index(upto)
        model = b.Equations(spec["model"])
        on_pre = spec["on_pre"] if k >= 1 else None
        if k == 0:
            # Event-driven equations are only integrated inside a pathway: touch each of them
            # so that their unit errors are reported against the model, not against on_pre.
            events = [e.varname for e in model.values() if "event-driven" in e.flags]
            on_pre = "\n".join(f"{v} = {v}" for v in events) or None
        clash = [p for p in SYNAPSE_PARAMS if p in model.names]
        if clash:
            raise ValueError(
                f"the model defines {', '.join(repr(c) for c in clash)}, which the grader "
                "supplies (hidden cases use other values); remove that line and use the "
                "parameter by name"
            )
        for p in SYNAPSE_PARAMS:
            model += b.Equations(f"{p} : {VISIBLE[p][1]} (constant)")
        ns = self.namespace({kk: VISIBLE[kk] for kk in NEURON_PARAMS})
        ns = {kk: ns[kk] for kk in NEURON_PARAMS}
        return b.Synapses(
            source,
            target,
            model,
            on_pre=on_pre,
            on_post=spec["on_post"] if k >= 2 else None,
            method=spec.get("method") or "exact",
            namespace=ns,
            name=name,
        )

    def validation_objects(self, spec, namespace, upto):
        import brian2 as b

        neurons = self._neurons(2, "student_neurons")
        gen = b.SpikeGeneratorGroup(1, [0], [1e-3] * b.second, name="student_gen")
        syn = self._synapses(spec, gen, neurons, "student", upto)
        syn.connect(i=0, j=0)
        return [neurons, gen, syn]

    def cases(self):
        return [dict(c) for c in CASES]

    def feedback_cases(self):
        return [dict(c) for c in FEEDBACK_CASES]

    def build(self, spec, cases, prefix=""):
        import brian2 as b

        ref_spec = dict(REFERENCE, on_pre=REFERENCE_PRE, method="exact")
        pr = probes()
        n_case = len(cases)
        # Neuron layout: 3 per case (student, reference, control), then one per probe.
        n_neurons = 3 * n_case + len(pr)
        exc_i, exc_t, inh_i, inh_t = [], [], [], []
        exc_syn_ij, exc_w = [], []  # (generator, neuron), weight
        inh_s, inh_r = [], []  # student: (gen, neuron, eta, tau, w0); reference likewise
        e_off = i_off = 0
        for k, case in enumerate(cases):
            p = {kk: v[0] for kk, v in case["params"].items()}
            (ei, es), (ii, is_) = inputs(case)
            ne, ni = int(p["N_e"]), int(p["N_i"])
            exc_i.append(ei + e_off)
            exc_t.append(es)
            inh_i.append(ii + i_off)
            inh_t.append(is_)
            for role in range(3):
                j = 3 * k + role
                exc_syn_ij += [(e_off + g, j) for g in range(ne)]
                exc_w += [p["w_e"]] * ne
                rows = [(i_off + g, j, p["eta"], p["tau_stdp"], p["w_init"]) for g in range(ni)]
                if role == 0:
                    inh_s += rows
                else:
                    eta = p["eta"] if role == 1 else 0.0  # the control does not learn
                    inh_r += [(g, jj, eta, tau, w0) for g, jj, _, tau, w0 in rows]
            e_off += ne
            i_off += ni
        # Probes: a kick and, one step later, an exact "unkick" of Ie force one spike per probe.
        probe_syn = []  # (probe index, synapse index in the student object, dt)
        decay = 1 - DT / VISIBLE["tauI"][0]  # Ie's euler decay factor over one step
        post_step = int(round(PROBE_POST_T / DT))
        for q, probe in enumerate(pr):
            j = 3 * n_case + q
            if probe["post"]:
                exc_i.append(np.array([e_off, e_off + 1]))
                exc_t.append(np.array([post_step, post_step + 1]))
                exc_syn_ij += [(e_off, j), (e_off + 1, j)]
                exc_w += [KICK / 1e-3, -KICK * decay / 1e-3]
                e_off += 2
            for syn in probe["synapses"]:
                if syn["dt"] is not None:
                    # the kick is processed one step after the generator spike and the neuron
                    # spikes in that step; the pre spike is processed one step after its time
                    step = post_step + 1 + int(round(syn["dt"] / DT))
                    inh_i.append(np.array([i_off]))
                    inh_t.append(np.array([step]))
                probe_syn.append((q, len(inh_s), syn["dt"]))
                inh_s.append((i_off, j, probe["eta"], probe["tau_stdp"], VISIBLE["w_init"][0]))
                i_off += 1

        neurons = self._neurons(n_neurons, prefix + "neurons")
        neurons.v = VISIBLE["vr"][0] * b.volt
        exc_gen = b.SpikeGeneratorGroup(
            e_off,
            np.concatenate(exc_i),
            np.concatenate(exc_t) * DT * b.second,
            name=prefix + "exc_gen",
        )
        inh_gen = b.SpikeGeneratorGroup(
            i_off,
            np.concatenate(inh_i),
            np.concatenate(inh_t) * DT * b.second,
            name=prefix + "inh_gen",
        )
        exc = b.Synapses(
            exc_gen,
            neurons,
            "w_e : 1 (constant)",
            on_pre="Ie_post += w_e*mV",
            namespace={},
            name=prefix + "exc_syn",
        )
        ij = np.array(exc_syn_ij)
        exc.connect(i=ij[:, 0], j=ij[:, 1])
        exc.w_e = np.array(exc_w)
        student = self._synapses(spec, inh_gen, neurons, prefix + "student")
        reference = self._synapses(ref_spec, inh_gen, neurons, prefix + "reference")
        for syn, rows in ((student, inh_s), (reference, inh_r)):
            r = np.array(rows)
            syn.connect(i=r[:, 0].astype(int), j=r[:, 1].astype(int))
            syn.eta = r[:, 2]
            syn.tau_stdp = r[:, 3] * b.second
            syn.w = r[:, 4]

        # Record few things: currents of the case neurons, and a handful of weights per case.
        case_idx = np.arange(3 * n_case)
        spk = b.SpikeMonitor(neurons, name=prefix + "spikes")
        cur = b.StateMonitor(neurons, ["Ie", "Ii"], record=case_idx, name=prefix + "currents")
        s_rec, r_rec, s_off, r_off = [], [], 0, 0
        for case in cases:
            ni = int(case["params"]["N_i"][0])
            s_rec += list(s_off + np.arange(0, ni, ni // 8)[:8])
            r_rec += list(r_off + np.arange(0, ni, ni // 8)[:8])  # reference, not control
            s_off += ni
            r_off += 2 * ni
        s_w = b.StateMonitor(student, "w", record=np.array(s_rec), name=prefix + "student_w")
        r_w = b.StateMonitor(reference, "w", record=np.array(r_rec), name=prefix + "reference_w")
        objects = [neurons, exc_gen, inh_gen, exc, student, reference, spk, cur, s_w, r_w]

        def collect():
            out = {"t": np.asarray(cur.t[:] / b.second)}
            si, st = np.asarray(spk.i[:]), np.asarray(spk.t[:] / b.second)
            ie, ii = np.asarray(cur.Ie[:] / b.volt), np.asarray(cur.Ii[:] / b.volt)
            sw, rw = np.asarray(s_w.w[:]), np.asarray(r_w.w[:])
            w_end = np.asarray(student.w[:])
            for k in range(n_case):
                for role_n, role in enumerate(ROLES):
                    j = 3 * k + role_n
                    out[f"c{k}_{role}_spk_t"] = st[si == j]
                    out[f"c{k}_{role}_Ie"] = ie[j]
                    out[f"c{k}_{role}_Ii"] = ii[j]
                out[f"c{k}_s_w"] = sw[8 * k : 8 * k + 8]
                out[f"c{k}_r_w"] = rw[8 * k : 8 * k + 8]
                out[f"c{k}_s_w_end"] = w_end[[r[1] == 3 * k for r in inh_s]]
            for q in range(len(pr)):
                out[f"p{q}_spk_t"] = st[si == 3 * n_case + q]
                rows = [(s, dt) for qq, s, dt in probe_syn if qq == q]
                out[f"p{q}_dw"] = w_end[[s for s, _ in rows]] - VISIBLE["w_init"][0]
            return out

        return Built(objects, DURATION * b.second, collect)

    def grade(self, spec, obs, cases):
        from . import checks

        return checks.grade(self, spec, obs, cases)


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
)
