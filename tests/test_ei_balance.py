"""Assignment 2's bank of submissions: right answers get full marks, wrong ones lose points."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import graders
from graders.assignments import ei_balance as eib
from graders.assignments import get
from graders.assignments.ei_balance import checks
from graders.results import SpecError
from graders.spec import validate

NAME = "ei_balance"
BANK = sorted((Path(__file__).parent / "bank" / NAME).glob("*.json"))


def load(path):
    return json.loads(path.read_text())


def spec_of(name):
    return load(BANK[0].with_name(f"{name}.json"))["spec"]


# --- fast: the grader's own pieces ------------------------------------------------------------


def test_visible_parameters_and_checks_are_stable():
    a = get(NAME)
    for p in ("vr", "vth", "tau", "tauI", "t_ref", "tau_stdp", "eta", "w_e", "w_init"):
        assert p in a.parameters
    for p in ("N_e", "N_i", "rate_e", "rate_i"):
        assert p in a.parameters
    assert list(a.points) == ["balance", "convergence", "effect", "rule", "untouched"]
    assert [f.name for f in a.fields] == ["model", "on_pre", "on_post", "method"]
    assert a.parameters["tauI"][0] == pytest.approx(a.parameters["tau"][0] / 10)


def test_hidden_cases_vary_what_the_task_says():
    cases = get(NAME).cases()
    assert {c["inputs"] for c in cases} == {"poisson", "regular"}
    for p in ("eta", "tau_stdp", "N_e", "N_i", "rate_e", "w_init"):
        assert len({c["params"][p][0] for c in cases}) > 1, p
    # the pairing probes use a learning rate and a trace time constant the student never saw
    assert any(e is not None and e != eib.VISIBLE["eta"][0] for e, _ in eib.PROBE_SETS)


@pytest.mark.parametrize("case", eib.CASES, ids=lambda c: f"seed{c['seed']}")
def test_inputs_are_deterministic_and_on_the_grid(case):
    (ei, es), (ii, is_) = eib.inputs(case)
    (ei2, es2), _ = eib.inputs(case)
    assert np.array_equal(ei, ei2) and np.array_equal(es, es2)
    steps = int(round(eib.DURATION / eib.DT))
    for i, s in ((ei, es), (ii, is_)):
        assert s.min() >= 0 and s.max() < steps
        assert len(set(zip(i.tolist(), s.tolist(), strict=True))) == len(i)  # one spike a step
    p = {k: v[0] for k, v in case["params"].items()}
    rate = len(ei) / (p["N_e"] * eib.DURATION)
    assert rate == pytest.approx(p["rate_e"], rel=0.05)


def test_post_minus_is_rewritten_for_brian2genn():
    spec, notes = validate(get(NAME), spec_of("right_canonical"))
    assert spec["on_pre"].splitlines()[0] == "Ii_post += -(w*mV)"
    assert notes and "Brian2GeNN" in notes[0]


def test_untouched_flags_writes_to_the_neuron_statically():
    found = checks.untouched({"on_pre": "Ie_post += -(w*mV)", "on_post": "x += 1"}, {}, [])
    assert found.fraction == 0.0 and "Ie_post" in found.hidden_message()
    assert "leave Ie and v" in found.hidden_message()  # what to change, in the task's terms
    found = checks.untouched({"on_pre": "xpre += 1", "on_post": "v_post = vr"}, {}, [])
    assert found.fraction == 0.0 and "v_post" in found.said


# --- slow: whole submissions ------------------------------------------------------------------


def test_bank_covers_the_required_submissions():
    names = {p.stem for p in BANK}
    for required in (
        "right_canonical", "right_clock_driven", "right_plus_negative", "right_renamed_traces",
        "wrong_sign_flipped", "wrong_traces_never_incremented", "wrong_pre_half_only",
        "wrong_post_half_only", "wrong_traces_never_decay", "wrong_inhibition_into_Ie",
        "wrong_inhibition_sign", "wrong_eta_hardcoded", "invalid_unit_error",
        "invalid_syntax_error",
    ):  # fmt: skip
        assert required in names


@pytest.mark.slow
def test_rule_message_is_actionable_without_hidden_values(tmp_path):
    verdict = graders.check(NAME, spec_of("wrong_eta_hardcoded"), "runtime", cache_dir=tmp_path)
    msg = verdict.check("rule").message
    assert "eta*exp(-|t_pre - t_post|/tau_stdp)" in msg
    # the size in words, never as a ratio to the hidden expected change (issue 15)
    assert re.search(r"yours changed it by (far )?(more|less) than that", msg), msg
    assert " x that" not in msg and " x eta" not in msg
    assert "0.07" not in msg and "35 ms" not in msg


@pytest.mark.slow
def test_dry_run_names_the_field_and_the_clash(tmp_path):
    with pytest.raises(SpecError) as info:
        graders.check(NAME, spec_of("invalid_defines_eta"), "runtime", cache_dir=tmp_path)
    (problem,) = info.value.problems
    assert problem.field == "model" and "'eta'" in problem.message
    with pytest.raises(SpecError) as info:
        graders.check(NAME, spec_of("invalid_unit_error"), "runtime", cache_dir=tmp_path)
    assert [p.field for p in info.value.problems] == ["model"]


@pytest.mark.standalone
@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["right_canonical", "wrong_pre_half_only", "wrong_inhibition_into_Ie"]
)
def test_same_verdict_on_cpp_standalone(name, tmp_path):
    spec = spec_of(name)
    a = graders.check(NAME, spec, "runtime", cache_dir=tmp_path)
    b = graders.check(NAME, spec, "cpp_standalone", cache_dir=tmp_path)
    assert b.backend == "cpp_standalone"
    assert {c.name: c.passed for c in a.checks} == {c.name: c.passed for c in b.checks}
    assert a.score == pytest.approx(b.score)


@pytest.mark.genn
@pytest.mark.slow
def test_same_verdict_on_genn_cpu(tmp_path):
    spec = spec_of("right_canonical")
    b = graders.check(NAME, spec, "genn-cpu", cache_dir=tmp_path)
    assert b.backend == "genn-cpu"
    assert b.score == b.max_score, [c.to_json() for c in b.checks]
