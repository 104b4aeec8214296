"""The network the adaptive-threshold assignment builds around a student's spec.

Every hidden case places the student's neurons next to reference neurons (same method) and
fixed-threshold controls, driven by identical inputs, in one network (see :meth:`build`).

Brian is imported inside the methods: whoever asks the registry for the assignment (the CLI,
the coordinator, the checks) loads this module and needs no Brian, whose import takes 1.4 s of
CPU (more on a busy server); only the simulation process and the spec's dry run build networks.

Imports inside functions: Brian2 (about 4.7 s to import) loads only when a network is built.
"""

from __future__ import annotations

import numpy as np

from ..base import MV, Assignment, Built
from .cases import CASES, FEEDBACK_CASES

DURATION = 0.8  # s
REFRACTORY = 1e-3  # s

REFERENCE = {
    "model": (
        "dv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
        "dvth/dt = (vth0 - vth)/tau_th : volt\n"
        "I : volt"
    ),
    "threshold": "v > vth",
    "reset": "v = vr\nvth += vth_inc",
}


class AdaptiveThreshold(Assignment):
    def _group(self, spec, namespace, n, name, upto="reset", per_neuron=()):
        """The neuron group for ``spec``; ``per_neuron`` parameters become constant variables.

        Per-neuron parameters let every hidden case share one group (and one compiled kernel)
        while the student's strings still refer to plain parameter names.
        """
        import brian2 as b

        order = ["model", "threshold", "reset"]
        k = order.index(upto)
        model = b.Equations(spec["model"])
        for p in per_neuron:
            model += b.Equations(f"{p} : {self.parameters[p][1]} (constant)")
        return b.NeuronGroup(
            n,
            model,
            threshold=spec["threshold"] if k >= 1 else None,
            reset=spec["reset"] if k >= 2 else None,
            refractory=REFRACTORY * b.second,
            method=spec.get("method") or "euler",
            namespace=namespace,
            name=name,
        )

    def _pulses(self, group, pulses, name):
        """Switch ``I`` on and off with generator spikes, one on/off pair per pulsed neuron.

        ``pulses`` is a list of ``(neuron, amplitude_volt, t_on, t_off)``. Brian2GeNN only allows
        ``+=`` on postsynaptic variables, hence ``+amplitude`` then ``-amplitude``.
        """
        import brian2 as b

        idx = np.arange(2 * len(pulses))
        times = np.ravel([(on, off) for _, _, on, off in pulses])
        gen = b.SpikeGeneratorGroup(len(idx), idx, times * b.second, name=name + "_gen")
        syn = b.Synapses(gen, group, "step : volt", on_pre="I_post += step", name=name + "_syn")
        targets = np.repeat([j for j, _, _, _ in pulses], 2)
        syn.connect(i=idx, j=targets)
        syn.step = np.ravel([(a, -a) for _, a, _, _ in pulses]) * b.volt
        return [gen, syn]

    def validation_objects(self, spec, namespace, upto):
        g = self._group(spec, namespace, 1, "student", upto)
        return [g, *self._pulses(g, [(0, 0.01, 0.0, 0.001)], "student")]

    def cases(self):
        return [dict(c) for c in CASES]

    def feedback_cases(self):
        return [dict(c) for c in FEEDBACK_CASES]

    def build(self, spec, cases, prefix=""):
        import brian2 as b

        # Layout: the student group holds every case's neurons in order; the reference group
        # holds them twice, first with the case's parameters, then as fixed-threshold controls.
        names = list(self.parameters)
        rows, pulses = [], []
        for k, case in enumerate(cases):
            for drive in case["drives_mV"]:
                rows.append((k, drive * MV, {p: case["params"][p][0] for p in names}))
                if "pulse_ms" in case:
                    on, off = (x * 1e-3 for x in case["pulse_ms"])
                    pulses.append((len(rows) - 1, drive * MV, on, off))
        n = len(rows)
        ref_spec = dict(REFERENCE, method=spec.get("method") or "euler")
        student = self._group(spec, {}, n, prefix + "student", per_neuron=names)
        reference = self._group(ref_spec, {}, 2 * n, prefix + "reference", per_neuron=names)
        objects = [student, reference]
        for g, copies in ((student, 1), (reference, 2)):
            for p in names:
                values = np.tile([r[2][p] for r in rows], copies)
                if g is reference and p == "vth_inc":
                    values[n:] = 0.0  # the controls: a fixed threshold at vth0
                setattr(g, p, values * b.Unit(1, dim=getattr(g, p).dim))
            vr = np.tile([r[2]["vr"] for r in rows], copies)
            vth0 = np.tile([r[2]["vth0"] for r in rows], copies)
            g.v = vr * b.volt
            if g.variables["vth"].__class__.__name__ != "Subexpression":
                g.vth = vth0 * b.volt
            drives = np.array(
                [0.0 if any(j == r for r, *_ in pulses) else rows[j][1] for j in range(n)]
            )
            g.I = np.tile(drives, copies) * b.volt
            if pulses:
                shifted = [
                    (j + c * n, a, on, off) for c in range(copies) for j, a, on, off in pulses
                ]
                objects += self._pulses(g, shifted, g.name)
        s_spk = b.SpikeMonitor(student, name=prefix + "student_spk")
        s_st = b.StateMonitor(
            student, ["v", "vth"], record=np.arange(n), name=prefix + "student_st"
        )
        r_spk = b.SpikeMonitor(reference, name=prefix + "reference_spk")
        r_st = b.StateMonitor(reference, ["vth"], record=np.arange(n), name=prefix + "reference_st")
        objects += [s_spk, s_st, r_spk, r_st]

        def collect():
            out = {"t": np.asarray(s_st.t[:] / b.second)}
            si, st = np.asarray(s_spk.i[:]), np.asarray(s_spk.t[:] / b.second)
            ri, rt = np.asarray(r_spk.i[:]), np.asarray(r_spk.t[:] / b.second)
            v, vth = np.asarray(s_st.v[:] / b.volt), np.asarray(s_st.vth[:] / b.volt)
            rvth = np.asarray(r_st.vth[:] / b.volt)
            start = 0
            for k, case in enumerate(cases):
                m = len(case["drives_mV"])
                sl = slice(start, start + m)
                for role, idx, t, offset in (("s", si, st, 0), ("r", ri, rt, 0), ("c", ri, rt, n)):
                    sel = (idx >= start + offset) & (idx < start + offset + m)
                    out[f"c{k}_{role}_spk_i"] = idx[sel] - start - offset
                    out[f"c{k}_{role}_spk_t"] = t[sel]
                out[f"c{k}_s_v"], out[f"c{k}_s_vth"] = v[sl], vth[sl]
                out[f"c{k}_r_vth"] = rvth[sl]
                start += m
            return out

        return Built(objects, DURATION * b.second, collect)
