"""How large an error in a student's physics the checks catch, and how much room right answers need.

Two measurements, per assignment:

(a) *sweep*: each physical parameter a student writes (adaptive_threshold: ``tau_th``,
    ``vth_inc``, ``vth0``, ``vr``, ``tau``; ei_balance: ``eta``, ``tau_stdp``, the traces'
    increment ``trace_inc``, the inhibitory step ``w*mV`` as ``inh_step``) is put wrong by a
    relative error (default 1, 2, 3, 5 and 10 %, both signs) in the otherwise right answer
    (``tau_th`` becomes ``(1.02*tau_th)`` wherever the answer writes it; an increment ``+= 1``
    becomes ``+= 1.02``; ``w*mV`` becomes ``(1.02*w)*mV``), and graded by :func:`graders.check`
    (the function behind ``python -m graders check``): the score and the checks that lost points;
(b) *spread*: every right answer of the bank (``tests/bank/<assignment>/right_*.json``:
    integration methods, rearranged equations, reordered statements), graded on every backend.

For both it records, per check, the quantity the check compares with its tolerance (e.g. the
largest relative error of a threshold jump, the largest spike-time difference to the
reference), so that a tolerance can be set between the largest deviation a right answer shows
and the smallest error it should catch. It prints the tables and writes them as JSON
(``benchmarks/results/sensitivity_<assignments>.json`` or ``--out``)::

    python benchmarks/sensitivity.py [--assignment A ...] [--backend B ...] [--errors 1 2 3 5 10]
        [--parameter P ...] [--quick] [--no-spread] [--jobs 2] [--out FILE]

Every answer is simulated: the result cache is a fresh temporary folder unless ``--cache-dir``
names one (then a rerun of the same code reuses it), and an injected error whose student
traces come out identical to the right answer's is reported as an error of this script (the
injection did not reach the simulation). Exit status: 0 when everything was graded and every
right answer of the bank got full marks, 1 when a right answer lost points, 2 for a failure of
the script itself (an injection that changed nothing, a spec the grader refused).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BANK = REPO / "tests" / "bank"
ASSIGNMENTS = ("adaptive_threshold", "ei_balance")
ERRORS = (1.0, 2.0, 3.0, 5.0, 10.0)  # percent
#: backends measured by default, in this order (the first is the one ``--quick`` sweeps on)
DEFAULT_BACKENDS = ("runtime", "cpp_standalone", "genn-cpu")


# --- injecting an error ---------------------------------------------------------------------


def _scale_name(name):
    """An injector that writes ``(f*name)`` for every use of the parameter ``name``."""
    pattern = re.compile(rf"\b{re.escape(name)}\b")

    def inject(spec, factor):
        out, hits = dict(spec), 0
        for field, text in spec.items():
            if field == "method" or not isinstance(text, str):
                continue
            out[field], n = pattern.subn(f"({factor:.6g}*{name})", text)
            hits += n
        return out, hits

    return inject


_INCREMENT = re.compile(r"^(\s*(?!w\b)(?!Ii_post\b)\w+\s*\+=\s*)1(\.0*)?(\s*(#.*)?)$", re.M)


def _scale_increment(spec, factor):
    """Every trace's ``+= 1`` becomes ``+= f`` (in on_pre and on_post)."""
    out, hits = dict(spec), 0
    for field in ("on_pre", "on_post"):
        out[field], n = _INCREMENT.subn(rf"\g<1>{factor:.6g}\g<3>", spec[field])
        hits += n
    return out, hits


def _scale_step(spec, factor):
    """The inhibitory current's step ``w*mV`` becomes ``(f*w)*mV``."""
    out, n = dict(spec), 0
    out["on_pre"], n = re.subn(r"\bw\s*\*\s*mV\b", f"({factor:.6g}*w)*mV", spec["on_pre"])
    return out, n


#: per assignment, the parameters a student writes and how an error is put into each
PARAMETERS = {
    "adaptive_threshold": {p: _scale_name(p) for p in ("tau_th", "vth_inc", "vth0", "vr", "tau")},
    "ei_balance": {
        "eta": _scale_name("eta"),
        "tau_stdp": _scale_name("tau_stdp"),
        "trace_inc": _scale_increment,
        "inh_step": _scale_step,
    },
}


def inject(assignment: str, spec: dict, parameter: str, error_pct: float) -> dict:
    """``spec`` with ``parameter`` off by ``error_pct`` percent (relative, with its sign)."""
    new, hits = PARAMETERS[assignment][parameter](spec, 1 + error_pct / 100)
    if not hits:
        raise SystemExit(
            f"{assignment}: the right answer does not write {parameter} where this script "
            "looks for it; fix the injector in benchmarks/sensitivity.py"
        )
    return new


def right_answer(assignment: str) -> dict:
    """The bank's canonical right answer (the otherwise right answer errors are put into)."""
    return json.loads((BANK / assignment / "right_canonical.json").read_text())["spec"]


def variants(assignment: str) -> dict[str, dict]:
    """Every right answer of the bank: name -> spec."""
    return {
        p.stem: json.loads(p.read_text())["spec"]
        for p in sorted((BANK / assignment).glob("right_*.json"))
    }


# --- what each check measures -----------------------------------------------------------------
# Each quantity: (value, limit, sense); "max" passes when value <= limit, "min" when >= limit.
# They restate the checks' own comparisons (graders/assignments/<name>/checks.py), reading the
# same constants, so that a tolerance is seen against the numbers it decides on.


def _q(value, limit, sense, unit=""):
    value = float(value)
    return {
        "value": value if math.isfinite(value) else None,
        "limit": limit,
        "sense": sense,
        "unit": unit,
        "finite": math.isfinite(value),
    }


def _at_jump_decay(C, obs, cases, role):
    """Largest relative jump error and decay errors of ``role`` ("s" student, "r" reference)."""
    jump, tau_err, curve = 0.0, 0.0, 0.0
    for k, case in enumerate(cases):
        n = len(case["drives_mV"])
        inc, vth0, tau_th = (case["params"][p][0] for p in ("vth_inc", "vth0", "tau_th"))
        vth = obs[f"c{k}_{role}_vth"]
        spikes = C._spikes(obs, k, role, n)
        for j, times in enumerate(spikes):
            for ts in times:
                step = int(round(ts / C.DT))
                if 1 <= step < vth.shape[1] - 1:
                    size = (vth[j, step + 1] - vth[j, step]) - (vth[j, step] - vth[j, step - 1])
                    jump = max(jump, abs(size - inc) / abs(inc))
            if "pulse_ms" not in case:
                continue
            sel = obs["t"] >= C.relaxation_start(case, times)
            if sel.sum() < 50:
                tau_err = curve = np.inf
                continue
            tt, y = obs["t"][sel], vth[j, sel]
            rise = y[0] - vth0
            if rise <= 1e-4:
                tau_err = curve = np.inf
                continue
            pred = vth0 + rise * np.exp(-(tt - tt[0]) / tau_th)
            curve = max(curve, float(np.max(np.abs(y - pred)) / rise))
            fit = C._fit_tau(tt, y - vth0)
            tau_err = max(tau_err, np.inf if fit is None else abs(fit / tau_th - 1))
    return jump, tau_err, curve


def measure_adaptive(obs, cases):
    from graders.assignments.adaptive_threshold import checks as C

    out = {}
    margin, ref_margin, silent_fired = np.inf, np.inf, 0
    rest_dev, t_diff, count_off = 0.0, 0.0, 0
    for k, case in enumerate(cases):
        n = len(case["drives_mV"])
        s, r, c = (C._spikes(obs, k, role, n) for role in ("s", "r", "c"))
        vth0 = case["params"]["vth0"][0]
        for j in range(n):
            if len(c[j]):
                margin = min(margin, len(c[j]) - len(s[j]))
                ref_margin = min(ref_margin, len(c[j]) - len(r[j]))
            else:
                silent_fired += len(s[j]) > 0
                if "pulse_ms" not in case:
                    rest_dev = max(rest_dev, float(np.max(np.abs(obs[f"c{k}_s_vth"][j] - vth0))))
            if len(s[j]) != len(r[j]):
                count_off += 1
            elif len(s[j]):
                t_diff = max(t_diff, float(np.max(np.abs(s[j] - r[j]))))
    jump, tau_err, curve = _at_jump_decay(C, obs, cases, "s")
    rjump, rtau, rcurve = _at_jump_decay(C, obs, cases, "r")
    out["reduction"] = {
        "spikes_to_spare": _q(margin, 1, "min", "spikes"),
        "silent_neurons_firing": _q(silent_fired, 0, "max"),
        "reference_spikes_to_spare": ref_margin,
    }
    out["jump"] = {"rel_error": _q(jump, C.JUMP_RTOL, "max"), "reference": rjump}
    out["decay"] = {
        "tau_rel_error": _q(tau_err, C.DECAY_RTOL, "max"),
        "curve_error": _q(curve, C.DECAY_RTOL, "max"),
        "reference": {"tau_rel_error": rtau, "curve_error": rcurve},
    }
    out["rest"] = {"deviation_V": _q(rest_dev, C.REST_ATOL, "max", "V")}
    tol = C.SPIKE_TIME_TOL_STEPS * C.DT
    out["agreement"] = {
        "neurons_with_other_count": _q(count_off, 0, "max"),
        "spike_time_diff_s": _q(t_diff, tol, "max", "s"),
    }
    return out


def measure_ei(obs, cases):
    from graders.assignments.ei_balance import checks as C
    from graders.assignments.ei_balance.cases import probes

    sel, _ = C._late(obs)
    t = obs["t"]
    i0 = int(np.argmax(t >= C.LATE[0]))
    excess, control, drift, change, fall = -np.inf, np.inf, -np.inf, np.inf, np.inf
    ie_dev = 0.0
    for k in range(len(cases)):
        rs, rr, rc = (C._ratio(obs, k, role, sel) for role in ("s", "r", "c"))
        excess = max(excess, abs(rs) - abs(rr) if math.isfinite(rs) else np.inf)
        control = min(control, rc)
        ws, wr = obs[f"c{k}_s_w"].mean(axis=0), obs[f"c{k}_r_w"].mean(axis=0)
        tot_s, tot_r = ws[-1] - ws[0], wr[-1] - wr[0]
        change = min(change, tot_s / tot_r)
        if tot_s and np.all(np.isfinite(ws)):
            drift = max(
                drift, abs(ws[-1] - ws[i0]) / abs(tot_s) - abs(wr[-1] - wr[i0]) / abs(tot_r)
            )
        else:
            drift = np.inf
        fs, fr, fc = (C._rate(obs, k, role, C.LATE) for role in ("s", "r", "c"))
        fall = min(fall, (fc - fs) / (fc - fr))
        ie_dev = max(ie_dev, float(np.max(np.abs(obs[f"c{k}_s_Ie"] - obs[f"c{k}_r_Ie"]))))
    rel, lone, use, pairings = 0.0, 0.0, 0.0, []
    for q, probe in enumerate(probes()):
        eta, tau = probe["eta"], probe["tau_stdp"]
        for syn, dw in zip(probe["synapses"], obs[f"p{q}_dw"], strict=True):
            d = syn["dt"]
            exp = eta * np.exp(-abs(d) / tau) if (d is not None and probe["post"]) else 0.0
            dw = float(dw)
            if exp:
                rel = max(rel, abs(dw - exp) / exp)
            else:
                lone = max(lone, abs(dw) / eta)
            use = max(use, abs(dw - exp) / (C.RULE_ATOL * eta + C.RULE_RTOL * exp))
            pairings.append(
                {
                    "probe": q,
                    "t_pre_minus_t_post_ms": None if d is None else d * 1e3,
                    "expected_over_eta": exp / eta,
                    "dw_over_eta": dw / eta,
                }
            )
    return {
        "balance": {
            "excess_over_reference": _q(excess, C.BALANCE_MARGIN, "max"),
            "control_ratio": _q(control, C.CONTROL_MIN_RATIO, "min"),
        },
        "convergence": {
            "drift_over_reference": _q(drift, C.DRIFT_MARGIN, "max"),
            "change_vs_reference": _q(change, C.MIN_CHANGE_FRAC, "min"),
        },
        "effect": {"rate_fall_vs_reference": _q(fall, C.EFFECT_FRACTION, "min")},
        "rule": {
            "rel_error_of_pairings": _q(rel, C.RULE_RTOL, "max"),
            "lone_spike_dw_over_eta": _q(lone, C.RULE_ATOL, "max"),
            "use_of_tolerance": _q(use, 1.0, "max"),
            "tolerance": {"atol_x_eta": C.RULE_ATOL, "rtol": C.RULE_RTOL},
            "pairings": pairings,
        },
        "untouched": {"ie_deviation_V": _q(ie_dev, C.IE_ATOL, "max", "V")},
    }


MEASURES = {"adaptive_threshold": measure_adaptive, "ei_balance": measure_ei}


# --- grading ------------------------------------------------------------------------------------

_VALIDATE = threading.Lock()  # Brian's equation parser is shared state; parse one spec at a time


def grade(assignment: str, spec: dict, backend: str, cache_dir: Path) -> dict:
    """Grade ``spec`` with :func:`graders.check`; its scores, the checks' quantities, student
    observables (for the did-it-change test) and whether it was simulated or read cached."""
    import graders
    from graders import harness
    from graders.assignments import get
    from graders.spec import validate

    a = get(assignment)
    t0 = time.monotonic()
    try:
        verdict = graders.check(assignment, spec, backend, cache_dir=cache_dir)
    except graders.SpecError as err:
        problems = "; ".join(f"{q.field}: {q.message}" for q in err.problems)
        return {"backend": backend, "status": "invalid", "problems": problems, "score": 0.0,
                "max_score": float(sum(a.points.values())), "points": {}, "lost": list(a.points),
                "cached": False, "seconds": round(time.monotonic() - t0, 2), "measures": {},
                "obs": {}}  # fmt: skip
    seconds = time.monotonic() - t0
    rec = {
        "backend": verdict.backend,
        "status": verdict.status,
        "score": verdict.score,
        "max_score": verdict.max_score,
        "points": {c.name: c.points for c in verdict.checks},
        "lost": [c.name for c in verdict.checks if not c.passed],
        "cached": bool((verdict.timing or {}).get("cached")),
        "seconds": round(seconds, 2),
    }
    if verdict.status != "graded":
        rec["measures"], rec["obs"] = {}, {}
        return rec
    with _VALIDATE:
        spec_v, _ = validate(a, spec)
    # the same key graders.check stored under: a cache hit, no second simulation
    sim = harness.simulate(
        assignment, spec_v, cases=a.simulated_cases(), backend=backend, cache_dir=cache_dir
    )
    rec["measures"] = MEASURES[assignment](sim.observables, a.cases())
    rec["obs"] = {k: v for k, v in sim.observables.items() if _student_key(k)}
    return rec


def _student_key(key: str) -> bool:
    return bool(re.fullmatch(r"c\d+_s_(v|vth|w|Ie|Ii)|p\d+_dw", key))


def _changed(rec: dict, base: dict) -> float:
    """The largest difference between two answers' student observables (0: identical)."""
    worst = 0.0
    for k, v in base["obs"].items():
        w = rec["obs"].get(k)
        if w is None or np.shape(w) != np.shape(v):
            return math.inf
        if np.size(v):
            worst = max(worst, float(np.nanmax(np.abs(np.asarray(w) - np.asarray(v)))))
    return worst


# --- summaries ----------------------------------------------------------------------------------


def _quantities(measures: dict):
    """(check, quantity, q) for every thresholded quantity of a measures dict."""
    for check, qs in measures.items():
        for name, q in qs.items():
            if isinstance(q, dict) and "sense" in q:
                yield check, name, q


def _worse(a, b, sense):
    """The value further toward failing (None is infinite, i.e. the worst)."""
    if a is None or b is None:
        return None
    return max(a, b) if sense == "max" else min(a, b)


def spread(runs: list[dict]) -> dict:
    """Per check and quantity: the worst value any right answer showed, with where."""
    out = {}
    for r in runs:
        for check, name, q in _quantities(r["measures"]):
            cur = out.setdefault(check, {}).get(name)
            worst = _worse(cur["value"], q["value"], q["sense"]) if cur else q["value"]
            if cur is None or worst != cur["value"]:
                out[check][name] = {
                    "value": worst,
                    "limit": q["limit"],
                    "sense": q["sense"],
                    "unit": q["unit"],
                    "variant": r["variant"],
                    "backend": r["backend"],
                }
    return out


def smallest_caught(runs: list[dict], checks: list[str]) -> dict:
    """Per parameter and sign: the smallest error at which the score (and each check) dropped,
    and the smallest from which every larger error of the sweep is caught."""
    out = {}
    by = {}
    for r in runs:
        by.setdefault((r["backend"], r["parameter"]), []).append(r)
    for (backend, param), rs in by.items():
        entry = out.setdefault(backend, {}).setdefault(param, {})
        for sign in (1, -1):
            side = sorted(
                (r for r in rs if np.sign(r["error_pct"]) == sign),
                key=lambda r: abs(r["error_pct"]),
            )
            key = "+" if sign > 0 else "-"
            for what in ["score", *checks]:

                def lost(r, what=what):
                    return r["score"] < r["max_score"] if what == "score" else what in r["lost"]

                first = next((abs(r["error_pct"]) for r in side if lost(r)), None)
                from_ = None
                for r in reversed(side):
                    if not lost(r):
                        break
                    from_ = abs(r["error_pct"])
                entry.setdefault(what, {})[key] = {"first": first, "all_from": from_}
    return out


def _fmt_pct(x):
    return "-" if x is None else f"{x:g}%"


def print_sweep(runs: list[dict]) -> None:
    errs = sorted({r["error_pct"] for r in runs})
    print("\nsweep: score (checks that lost points) per relative error of one parameter")
    for assignment in ASSIGNMENTS:
        rs = [r for r in runs if r["assignment"] == assignment]
        if not rs:
            continue
        for backend in dict.fromkeys(r["backend"] for r in rs):
            print(f"\n{assignment} on {backend}")
            print(f"  {'parameter':<10}" + "".join(f"{e:>+8g}%" for e in errs))
            for param in dict.fromkeys(r["parameter"] for r in rs):
                cells = []
                for e in errs:
                    m = [
                        r
                        for r in rs
                        if r["backend"] == backend
                        and r["parameter"] == param
                        and r["error_pct"] == e
                    ]
                    cells.append(f"{m[0]['score']:>9.4g}" if m else f"{'':>9}")
                print(f"  {param:<10}" + "".join(cells))
            print("  checks that lost points:")
            for r in rs:
                if r["backend"] == backend and r["lost"]:
                    print(f"    {r['parameter']:<10}{r['error_pct']:+g}%: {', '.join(r['lost'])}")


def _fmt_val(v, unit):
    if v is None:
        return "inf"
    if unit in ("V", "s"):
        return f"{v:.3g} {unit}"
    return f"{v:.4g}"


def print_spread(sp: dict, caught: dict) -> None:
    print("\nper check: tolerance, the worst right answer, the smallest error caught")
    for assignment, checks in sp.items():
        print(f"\n{assignment}")
        for check, qs in checks.items():
            for name, q in qs.items():
                limit = ("<= " if q["sense"] == "max" else ">= ") + _fmt_val(q["limit"], q["unit"])
                print(
                    f"  {check:<12}{name:<28}{limit:<14}right answers: "
                    f"{_fmt_val(q['value'], q['unit']):<12}({q['variant']}, {q['backend']})"
                )
        for backend, params in caught.get(assignment, {}).items():
            print(f"  smallest error that loses points, on {backend} (+ / -; * not every larger):")
            for param, per in params.items():
                words = []
                for what, signs in per.items():
                    if all(s["first"] is None for s in signs.values()):
                        continue
                    side = []
                    for key in ("+", "-"):
                        s = signs[key]
                        star = "*" if s["first"] is not None and s["first"] != s["all_from"] else ""
                        side.append(_fmt_pct(s["first"]) + star)
                    words.append(f"{what} {' / '.join(side)}")
                print(f"    {param:<10}" + ("; ".join(words) or "never in this sweep"))


# --- main ---------------------------------------------------------------------------------------


def _commit() -> str | None:
    """The commit measured, with "+changes" when the grader's or this script's files differ."""
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "graders", "benchmarks/sensitivity.py"],
        capture_output=True,
        text=True,
    )
    return (head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")) or None


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _installed(names) -> list[str]:
    from graders import backends

    table = {b.name: b for b in backends.detect()}
    return [n for n in names if table[n].available]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--assignment", nargs="+", choices=ASSIGNMENTS, default=list(ASSIGNMENTS))
    p.add_argument(
        "--backend",
        nargs="+",
        default=None,
        help="backends (default: every installed one of runtime, cpp_standalone, genn-cpu)",
    )
    p.add_argument(
        "--errors",
        nargs="+",
        type=float,
        default=list(ERRORS),
        help="relative errors in percent, each put in with both signs",
    )
    p.add_argument("--parameter", nargs="+", default=None, help="only these parameters")
    p.add_argument(
        "--quick",
        action="store_true",
        help="sweep on the first backend only (the right answers on every one)",
    )
    p.add_argument("--no-spread", action="store_true", help="skip the bank's right answers")
    p.add_argument("--jobs", type=int, default=2, help="answers graded at a time (default 2)")
    p.add_argument("--cache-dir", default=None, help="result cache (default: a fresh temp one)")
    p.add_argument("--out", default=None, help="the JSON record (default benchmarks/results/...)")
    args = p.parse_args(argv)

    from graders.assignments import get

    backends_ = args.backend or _installed(DEFAULT_BACKENDS)
    missing = [b for b in backends_ if b not in _installed(backends_)]
    if missing:
        print(f"backend(s) not installed here: {', '.join(missing)} (see autograde backends)")
        return 2
    known = {q for a in args.assignment for q in PARAMETERS[a]}
    unknown = set(args.parameter or ()) - known
    if unknown:
        print(
            f"unknown parameter(s) for {', '.join(args.assignment)}: "
            f"{', '.join(sorted(unknown))}; choose from {', '.join(sorted(known))}"
        )
        return 2
    sweep_backends = backends_[:1] if args.quick else backends_
    errors = sorted({s * e for e in args.errors for s in (1, -1)})
    cache = Path(args.cache_dir) if args.cache_dir else Path(tempfile.mkdtemp(prefix="sens-"))

    jobs = []  # (kind, assignment, label, parameter, error, spec, backend)
    for a in args.assignment:
        base = right_answer(a)
        for b in backends_:
            jobs.append(("base", a, "right_canonical", None, 0.0, base, b))
        params = [q for q in PARAMETERS[a] if not args.parameter or q in args.parameter]
        for b in sweep_backends:
            for q in params:
                for e in errors:
                    jobs.append(("sweep", a, f"{q}{e:+g}%", q, e, inject(a, base, q, e), b))
        if not args.no_spread:
            for name, spec in variants(a).items():
                if name != "right_canonical":
                    for b in backends_:
                        jobs.append(("variant", a, name, None, 0.0, spec, b))
    print(
        f"{len(jobs)} answers on {', '.join(backends_)} (sweep on {', '.join(sweep_backends)}); "
        f"load {_load()}; cache {cache}",
        flush=True,
    )
    for a in args.assignment:
        get(a)
        # Brian's first import in this thread, before the workers parse in theirs
        from graders.spec import validate

        validate(get(a), right_answer(a))

    record = {
        "commit": _commit(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "backends": backends_,
        "sweep_backends": sweep_backends,
        "errors_pct": errors,
        "load_before": _load(),
    }
    loads, done = [], []
    t0 = time.monotonic()

    def work(job):
        kind, a, label, param, err, spec, b = job
        rec = grade(a, spec, b, cache)
        rec.update(
            kind=kind, assignment=a, variant=label, parameter=param, error_pct=err, spec=spec
        )
        loads.append(os.getloadavg()[0])
        done.append(rec)
        print(
            f"  [{len(done)}/{len(jobs)}] {a} {b} {label}: {rec['score']:g}/{rec['max_score']:g}"
            f"{' lost ' + ','.join(rec['lost']) if rec['lost'] else ''} ({rec['seconds']:.0f} s,"
            f" load {loads[-1]:.1f})",
            flush=True,
        )
        return rec

    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(work, jobs))
    finally:
        if not args.cache_dir:
            shutil.rmtree(cache, ignore_errors=True)
    record["wall_s"] = round(time.monotonic() - t0, 1)
    record["load_mean"] = round(sum(loads) / len(loads), 2) if loads else None
    record["load_after"] = _load()

    status = 0
    bases = {(r["assignment"], r["backend"]): r for r in results if r["kind"] == "base"}
    for r in results:
        if r["status"] == "invalid":
            print(f"ERROR: the grader refused {r['assignment']} {r['variant']}: {r['problems']}")
            status = 2
        elif r["kind"] == "sweep":
            r["changed"] = _changed(r, bases[(r["assignment"], r["backend"])])
            if not r["changed"] > 0:
                print(
                    f"ERROR: {r['assignment']} {r['variant']} on {r['backend']}: the student's "
                    "traces equal the right answer's, so the error never reached the "
                    "simulation; fix the injector"
                )
                status = 2
        if r["kind"] in ("base", "variant") and r["score"] < r["max_score"]:
            print(
                f"RIGHT ANSWER LOST POINTS: {r['assignment']} {r['variant']} on {r['backend']}: "
                f"{r['score']:g}/{r['max_score']:g}, {', '.join(r['lost'])}"
            )
            status = max(status, 1)

    sweep = [r for r in results if r["kind"] == "sweep"]
    right = [r for r in results if r["kind"] in ("base", "variant")]
    record["spread"] = {
        a: spread([r for r in right if r["assignment"] == a]) for a in args.assignment
    }
    record["caught"] = {
        a: smallest_caught([r for r in sweep if r["assignment"] == a], list(get(a).points))
        for a in args.assignment
    }
    record["runs"] = [_slim(r) for r in results]
    print_sweep(sweep)
    print_spread(record["spread"], record["caught"])
    print(
        f"\n{len(results)} answers in {record['wall_s']} s, load mean {record['load_mean']} "
        f"(before {record['load_before']}, after {record['load_after']})"
    )

    out = (
        Path(args.out)
        if args.out
        else (REPO / "benchmarks" / "results" / f"sensitivity_{'_'.join(args.assignment)}.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(dump(record))
    os.replace(tmp, out)
    print(f"wrote {out}")
    return status


def _clean(x):
    """JSON data: numpy scalars as Python numbers (floats to 6 significant digits), infinities
    and NaN as None."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float):
        return float(f"{x:.6g}") if math.isfinite(x) else None
    return x


def dump(record: dict) -> str:
    """The record as JSON text: indented, one line per run."""
    rec = _clean(record)
    runs = rec.pop("runs", [])
    head = json.dumps(rec, indent=1, allow_nan=False)
    lines = ",\n  ".join(json.dumps(r, allow_nan=False) for r in runs)
    return head[:-2] + f',\n "runs": [\n  {lines}\n ]\n}}\n'


def _slim(run: dict) -> dict:
    """A run as recorded: without observables, each measured quantity as its value alone (its
    limit and sense are in the record's "spread"), and without the per-pairing changes of w for
    the sweep (the right answers keep them: they are what the rule's tolerance is set against)."""
    out = {k: v for k, v in run.items() if k != "obs"}
    measures = {}
    for check, qs in run.get("measures", {}).items():
        measures[check] = {}
        for name, q in qs.items():
            if isinstance(q, dict) and "sense" in q:
                q = q["value"]
            elif name == "pairings" and run["kind"] == "sweep":
                continue
            measures[check][name] = q
    out["measures"] = measures
    return out


if __name__ == "__main__":
    sys.exit(main())
