"""The network the E/I-balance assignment builds around a student's synapses.

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

Brian is imported inside the methods: whoever asks the registry for the assignment (the CLI,
the coordinator, the checks) loads this module and needs no Brian, whose import takes 1.4 s of
CPU (more on a busy server); only the simulation process and the spec's dry run build networks.

Imports inside functions: Brian2 (about 4.7 s to import) loads only when a network is built.
"""

from __future__ import annotations

import numpy as np

from ..base import Assignment, Built
from .cases import CASES, DT, DURATION, FEEDBACK_CASES, PROBE_POST_T, VISIBLE, inputs, probes

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


KICK = 5.0  # V; raises v above threshold within one step (dt/tau * KICK = 25 mV)
ROLES = ("s", "r", "c")  # student, reference, control


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
