"""No hidden value can be inferred from the feedback (issue 15).

An answer that writes every visible parameter as its number ("hard-coded") behaves differently
from the reference on hidden cases, where the parameters take other values. Its messages must
describe that difference in words (direction and a coarse size), never as a ratio to a hidden
parameter ("yours changed by 2.50 x vth_inc" reveals vth_inc = 2 mV to an answer that wrote
5 mV), never with a hidden value itself, and a note must say which parameter to write by name.
"""

from __future__ import annotations

import re

import pytest

import graders
from autograde import feedback
from graders import assignments
from graders.assignments import adaptive_threshold, ei_balance
from graders.assignments.ei_balance import cases as ei_cases

RATIO = re.compile(r"\d+(?:\.\d+)?\s*x\s+[A-Za-z_]")


def _literal(value: float, unit: str) -> str:
    return repr(value) if unit == "1" else f"({value!r}*{unit})"


def hard_coded(name: str, reference: dict) -> tuple[dict, set[str]]:
    """The reference with every usable parameter written as its visible value."""
    a = assignments.get(name)
    spec = {}
    used = set()
    for field, text in reference.items():
        for p in a.usable_parameters():
            value, unit = a.parameters[p]
            if re.search(rf"\b{p}\b", text):
                used.add(p)
                text = re.sub(rf"\b{p}\b", _literal(value, unit), text)
        spec[field] = text
    return spec, used


def hidden_values(name: str) -> set[str]:
    """How a hidden parameter value would read in a message (mV, ms, or the bare number)."""
    a = assignments.get(name)
    out = set()
    params = [c["params"] for c in a.cases()]
    if name == "ei_balance":
        params += [{"eta": (p["eta"], "1"), "tau_stdp": (p["tau_stdp"], "second")}
                   for p in ei_cases.probes()]  # fmt: skip
    for ps in params:
        for p, (value, unit) in ps.items():
            if p in a.parameters and value == a.parameters[p][0]:
                continue  # the visible value: the student has it
            if unit in ("volt", "second"):
                out |= {f"{value * 1e3:g} m", f"{value:g} {'V' if unit == 'volt' else 's'}"}
            elif unit == "1" and value != int(value):
                out.add(f"{value:g}")
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, reference",
    [
        ("adaptive_threshold", adaptive_threshold.REFERENCE),
        ("ei_balance", ei_balance.REFERENCE),
    ],
)
def test_hard_coded_answer_learns_no_hidden_value(name, reference, tmp_path):
    spec, used = hard_coded(name, reference)
    verdict = graders.check(name, spec, "runtime", cache_dir=tmp_path)
    assert verdict.score < verdict.max_score, "hidden cases must tell the numbers apart"
    secrets = hidden_values(name)
    assert secrets, "the hidden cases use other parameter values"
    for c in verdict.checks:
        assert not RATIO.search(c.message), f"{c.name}: a ratio to a parameter: {c.message}"
        for s in secrets:
            assert s not in c.message, f"{c.name}: hidden value {s!r} in: {c.message}"
    notes = "\n".join(verdict.notes)
    for p in used:
        assert f"'{p}'" in notes, f"no note names {p}: {notes}"
    # the feedback page: the same checks measured on the task's parameters, where the numbers
    # are right, so the words say that only the hidden cases fail, without any hidden value
    cells = {
        c.name: {"check": c.name, "points": c.points, "max_points": c.max_points, "spec": spec}
        for c in verdict.checks
    }
    plots = feedback.make_plots(name, cells, "runtime", cache_dir=tmp_path)
    lost = [c.name for c in verdict.checks if not c.passed]
    shown = {f"{d:g}" for case in assignments.get(name).feedback_cases()
             for d in case.get("drives_mV", ())}  # fmt: skip
    for check, said in plots["feedback"].items():
        # the plotted case's own drive is visible (the notebook's): "I = 15 mV" is no hidden
        # tau = 15 ms, so the place is checked apart and left out of the search
        place = re.compile(r"drive I = (\S+) mV( switched on at \d+ ms and off at \d+ ms)?")
        assert {m.group(1) for m in place.finditer(said["message"])} <= shown, said["message"]
        text = place.sub("", said["message"])
        assert not RATIO.search(text), f"{check}: a ratio to a parameter: {text}"
        for s in secrets:
            assert s not in text, f"{check}: hidden value {s!r} in: {text}"
        assert "hidden case " not in text
        if check in lost and said["passed"]:
            assert "passes this check" in text and "fails it on some hidden cases" in text, text
            assert "look for a number written where the task names a parameter" in text
    assert any(plots["feedback"][c]["passed"] for c in lost), "the task's parameters pass"
