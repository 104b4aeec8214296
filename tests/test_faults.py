"""Advice from a diagnosis of the student's strings (graders.faults, <assignment>/faults.py).

Every wrong answer of the banks (tests/bank/<assignment>/wrong_*.json) and every demo answer is
diagnosed; each fault found must hold by :data:`CONDITIONS`, a table written here from the raw
strings (regular expressions, independent of the parser under test), so a fault whose advice
the student's code contradicts fails. The right and near-miss answers show no fault, and each
bank entry's main fault (its "fault" field) is found.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from graders.assignments import get, names
from graders.spec import validate

BANK = Path(__file__).parent / "bank"


def _line(text: str, pattern: str) -> bool:
    return any(re.search(pattern, ln.split("#")[0]) for ln in text.replace(";", "\n").splitlines())


def _vth_eq(model: str) -> str:
    return "\n".join(ln for ln in model.splitlines() if re.match(r"\s*d(vth|theta)/dt", ln))


#: fault -> condition on the raw strings that must hold whenever the fault is reported.
CONDITIONS = {
    "adaptive_threshold": {
        "threshold_not_vth": lambda s: not re.search(r"\bvth\b", s["threshold"]),
        "no_increment": lambda s: not _line(s["reset"], r"^\s*(vth|theta)\s*[-+]?="),
        "increment_sign": lambda s: _line(s["reset"], r"^\s*(vth|theta)\s*-="),
        "increment_not_vth_inc": lambda s: (
            _line(s["reset"], r"^\s*vth\s*\+=")
            and not _line(s["reset"], r"^\s*vth\s*\+=\s*vth_inc\s*$")
        ),
        "increment_in_equations": lambda s: "vth_inc" in s["model"],
        "no_decay": lambda s: not _vth_eq(s["model"]),
        "decay_target": lambda s: bool(_vth_eq(s["model"])) and "vth0" not in s["model"],
        "decay_not_tau_th": lambda s: (
            bool(_vth_eq(s["model"])) and "tau_th" not in _vth_eq(s["model"])
        ),
    },
    "ei_balance": {
        "inhibition_target": lambda s: "Ii_post" not in s["on_pre"],
        "writes_other": lambda s: bool(
            re.search(r"\b(?!Ii_post)\w+_post\s*[-+]?=", s["on_pre"] + "\n" + s["on_post"])
        ),  # fmt: skip
        "inhibition_sign": lambda s: _line(s["on_pre"], r"Ii_post\s*\+=\s*[^-\s]"),
        "pre_update_missing": lambda s: not _line(s["on_pre"], r"^\s*w\s*[-+]?="),
        "post_update_missing": lambda s: not _line(s["on_post"], r"^\s*w\s*[-+]?="),
        "weight_sign": lambda s: _line(s["on_pre"] + "\n" + s["on_post"], r"^\s*w\s*-="),
        "eta_missing": lambda s: (
            _line(s["on_pre"] + "\n" + s["on_post"], r"^\s*w\s*[-+]=")
            and not all(
                "eta" in ln
                for ln in (s["on_pre"] + "\n" + s["on_post"]).splitlines()
                if re.match(r"\s*w\s*[-+]?=", ln)
            )
        ),  # fmt: skip
        "pre_trace_not_raised": lambda s: not _line(s["on_pre"], r"^\s*(?!w\b)\w+\s*\+=\s*1\b"),
        "post_trace_not_raised": lambda s: not _line(s["on_post"], r"^\s*(?!w\b)\w+\s*\+=\s*1\b"),
        "traces_never_decay": lambda s: "/dt" not in s["model"],
        "trace_tau": lambda s: "/dt" in s["model"] and "tau_stdp" not in s["model"],
        "update_trace": lambda s: False,  # no entry of the banks has it
    },
}


def _entries():
    out = []
    for a in names():
        for path in sorted((BANK / a).glob("*.json")):
            entry = json.loads(path.read_text())
            if "invalid" not in entry:
                out.append(pytest.param(a, entry, id=f"{a}/{path.stem}"))
        for kind, source in get(a).answers.items():
            ns: dict = {}
            exec(source, {}, ns)
            out.append(pytest.param(a, {"spec": ns, "demo": kind}, id=f"{a}/demo-{kind}"))
    return out


def _raw(a: str, spec: dict) -> dict:
    return {f.name: spec.get(f.name) or "" for f in get(a).fields}


@pytest.mark.parametrize("name, entry", _entries())
def test_every_fault_found_holds_in_the_strings_and_the_main_one_is_named(name, entry):
    a = get(name)
    spec, _ = validate(a, entry["spec"])
    found = a.diagnose(spec)
    # An assignment without conditions here (a new one) gets the other checks below.
    conditions = CONDITIONS.get(name)
    if conditions is not None:
        assert set(conditions) == {f.name for f in a.faults}, f"{name}: a fault without a condition"
    raw = _raw(name, entry["spec"])
    for fault, advice in found.items():
        assert conditions is None or conditions[fault](raw), (
            f"{fault} reported, but the strings contradict it"
        )
        assert advice.strip()
    right = entry.get("demo") == "right" or (
        "expect" in entry and all(v is not False for v in entry["expect"].values())
    )
    if right:
        assert not found, f"a right answer diagnosed with {sorted(found)}"
    else:
        assert found, "a wrong answer with no fault named"
    if "fault" in entry:
        assert entry["fault"] in found, f"main fault {entry['fault']} not named: {sorted(found)}"


def test_every_wrong_bank_entry_names_its_main_fault():
    for a in names():
        for path in sorted((BANK / a).glob("wrong_*.json")):
            assert "fault" in json.loads(path.read_text()), f"{path.name}: add a 'fault' field"


def _grade_with(a, spec, fraction=0.0):
    """Grade ``spec`` with every check replaced by one that fails with its own advice, so that
    what ends the message comes from the diagnosis alone."""
    from graders.assignments.base import Outcome

    saved = dict(a.checks)
    try:
        for name in a.points:
            a.checks[name] = lambda spec, obs, cases, n=name: Outcome(
                fraction, "measured", failed=1, total=2, what="neurons", advice=f"CHECK {n}"
            )
        return {c.name: c.message for c in a.grade(spec, {}, [])}
    finally:
        a.checks.update(saved)


def _spec(name, kind):
    ns: dict = {}
    exec(get(name).answers[kind], {}, ns)
    return validate(get(name), ns)[0]


def test_bob_and_carol_are_told_their_own_faults_not_the_checks():
    a = get("adaptive_threshold")
    bob = _grade_with(a, _spec("adaptive_threshold", "partly"))  # decays with tau
    assert "rise at each spike" not in bob["reduction"] and "in reset" not in bob["reduction"]
    assert "relaxes with tau, not with tau_th" in bob["reduction"]
    assert all("CHECK" not in m for m in bob.values())
    assert bob["jump"].endswith("measured"), "no fault explains a jump failure: no advice"
    carol = _grade_with(a, _spec("adaptive_threshold", "wrong"))  # v > vth0, no increment
    assert "compares v with vth0, not with vth" in carol["reduction"]
    assert "tau_th (not tau)" not in carol["decay"]
    e = get("ei_balance")
    bob = _grade_with(e, _spec("ei_balance", "partly"))  # on_post without w += eta*xpre
    assert "on_pre must lower Ii_post" not in bob["effect"]
    assert "add w += eta*xpre to on_post" in bob["effect"]


def test_the_feedback_message_carries_the_same_advice():
    a = get("adaptive_threshold")
    spec = _spec("adaptive_threshold", "partly")
    saved = a.checks["decay"]
    from graders.assignments.base import Outcome

    try:
        a.checks["decay"] = lambda spec, obs, cases, visible=False: Outcome(
            0.0, "too fast", failed=1, total=1, advice="Make vth rise at each spike."
        )
        res = a.feedback("decay", spec, {}, [])
    finally:
        a.checks["decay"] = saved
    assert "rise at each spike" not in res.message
    assert "divide by tau_th" in res.message
