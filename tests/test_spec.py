"""Every validation message a student can trigger, and the -= rewrite."""

from __future__ import annotations

import pytest

from graders.assignments import get
from graders.assignments.base import Assignment, Field
from graders.results import SpecError
from graders.spec import MAX_FIELD_BYTES, dry_run, validate

A = get("adaptive_threshold")
GOOD = {
    "model": "dv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
    "dvth/dt = (vth0 - vth)/tau_th : volt\nI : volt",
    "threshold": "v > vth",
    "reset": "v = vr\nvth += vth_inc",
    "method": "euler",
}

SYN = Assignment(
    name="fake_synapse",
    title="fake",
    fields=(
        Field("model", "equations", "the synapse equations, e.g. 'w : 1'"),
        Field("on_pre", "statements", "what a presynaptic spike does"),
        Field(
            "on_post", "statements", "what a postsynaptic spike does", required=False, default=""
        ),
    ),
    required_variables={"model": ("w",)},
    parameters={"eta": (0.01, "1")},
    points={},
    synaptic_fields=("on_pre", "on_post"),
)


def problems(a, spec):
    with pytest.raises(SpecError) as info:
        validate(a, spec)
    return info.value.problems


def one(a, spec, field, kind):
    found = problems(a, spec)
    match = [p for p in found if p.field == field and p.kind == kind]
    assert match, f"expected a {kind} problem in {field}, got {found}"
    return match[0].message


def test_good_spec_passes_unchanged():
    spec, notes = validate(A, GOOD)
    assert spec == GOOD and notes == []


def test_method_defaults_to_euler():
    spec, _ = validate(A, {k: v for k, v in GOOD.items() if k != "method"})
    assert spec["method"] == "euler"


def test_not_an_object():
    msg = one(A, ["v > vth"], "spec", "type")
    assert "JSON object" in msg and "model" in msg


def test_field_not_a_string():
    msg = one(A, dict(GOOD, threshold=["v > vth"]), "threshold", "type")
    assert "must be a string" in msg and "list" in msg


def test_field_too_long():
    msg = one(A, dict(GOOD, reset="v = vr\n" * (MAX_FIELD_BYTES // 6)), "reset", "too_long")
    assert str(MAX_FIELD_BYTES) in msg


def test_missing_field_says_what_to_write():
    msg = one(A, {k: v for k, v in GOOD.items() if k != "reset"}, "reset", "missing")
    assert "v = vr" in msg


def test_empty_field():
    assert "is empty" in one(A, dict(GOOD, threshold="  "), "threshold", "empty")


def test_unknown_field_suggests_the_right_name():
    msg = one(A, dict(GOOD, treshold="v > vth"), "treshold", "unknown_field")
    assert "did you mean 'threshold'" in msg


def test_unknown_method():
    msg = one(A, dict(GOOD, method="eular"), "method", "value")
    assert "did you mean 'euler'" in msg


def test_equation_syntax_error_names_the_line():
    bad = dict(GOOD, model=GOOD["model"].replace("(vth0 - vth)", "(vth0 - vth"))
    msg = one(A, bad, "model", "syntax")
    assert "Brian2 cannot parse" in msg or "syntax error" in msg


def test_equation_without_unit():
    msg = one(
        A, dict(GOOD, model="dv/dt = (vr - v + I)/tau\nI : volt\nvth : volt"), "model", "syntax"
    )
    assert "line 1" in msg and ": unit" in msg


def test_threshold_syntax_error():
    assert "syntax error" in one(A, dict(GOOD, threshold="v >> > vth"), "threshold", "syntax")


def test_threshold_disallowed_syntax():
    msg = one(A, dict(GOOD, threshold="__import__('os').system('x')"), "threshold", "syntax")
    assert "does not allow" in msg


def test_reset_syntax_error_names_the_line():
    msg = one(A, dict(GOOD, reset="v = vr\nvth += vth_inc)"), "reset", "syntax")
    assert "line 2" in msg


def test_reset_must_be_assignments():
    msg = one(A, dict(GOOD, reset="v = vr\nprint(v)"), "reset", "syntax")
    assert "variable = expression" in msg


def test_missing_required_variable():
    bad = dict(
        GOOD, model="dv/dt = (vr - v + I)/tau : volt\ndvthr/dt = -vthr/tau_th : volt\nI : volt"
    )
    msg = one(A, bad, "model", "missing_variable")
    assert "'vth'" in msg and "did you mean 'vthr'" in msg


def test_missing_required_synaptic_weight():
    msg = one(SYN, {"model": "x : 1", "on_pre": "x += 1"}, "model", "missing_variable")
    assert "'w'" in msg


def test_linked_variable_refused():
    bad = dict(GOOD, model=GOOD["model"].replace("I : volt", "I : volt (linked)"))
    assert "linked variable" in one(A, bad, "model", "genn_unsupported")


@pytest.mark.parametrize(
    "key, words",
    [
        ("delay", "heterogeneous"),
        ("events", "custom events"),
        ("run_regularly", "one clock"),
        ("timed_array", "TimedArray"),
        ("runs", "one run"),
    ],
)
def test_refused_features_as_fields(key, words):
    assert words in one(A, dict(GOOD, **{key: "x"}), key, "genn_unsupported")


def test_run_call_refused():
    msg = one(
        A, dict(GOOD, reset="v = vr\nvth += vth_inc\nrun(10*ms)"), "reset", "genn_unsupported"
    )
    assert "one run" in msg


def test_timed_array_refused():
    bad = dict(GOOD, model=GOOD["model"].replace("I : volt", "I = TimedArray([1], dt=1*ms)(t) : 1"))
    assert "TimedArray" in one(A, bad, "model", "genn_unsupported")


def test_every_problem_reported_at_once():
    found = problems(A, {"model": 3, "threshold": "v >", "reste": "v = vr"})
    assert {p.field for p in found} >= {"model", "threshold", "reste", "reset"}


def test_post_minus_is_rewritten_with_a_note():
    spec, notes = validate(
        SYN, {"model": "w : 1", "on_pre": "Ii_post -= w*mV  # inhibit\nw += eta"}
    )
    assert spec["on_pre"].splitlines()[0] == "Ii_post += -(w*mV)"
    assert len(notes) == 1 and "Brian2GeNN only supports +=" in notes[0]


def test_pre_minus_is_not_rewritten():
    spec, notes = validate(SYN, {"model": "w : 1", "on_pre": "w -= eta"})
    assert spec["on_pre"] == "w -= eta" and notes == []


def test_semicolons_split_statements():
    spec, _ = validate(A, dict(GOOD, reset="v = vr;  vth += vth_inc"))
    assert spec["reset"] == "v = vr\nvth += vth_inc"


# --- dry run: Brian checks units and identifiers (runtime device, nothing is run) ----------


def test_dry_run_accepts_the_reference():
    assert dry_run(A, GOOD) == []


def test_units_in_plain_words():
    bad = dict(GOOD, model=GOOD["model"].replace("(vth0 - vth)/tau_th", "(vth0 - vth)"))
    (p,) = dry_run(A, bad)
    assert p.field == "model" and p.kind == "units"
    assert "inconsistent units" in p.message and "divide by a time constant" in p.message


def test_units_in_threshold_are_attributed_to_threshold():
    (p,) = dry_run(A, dict(GOOD, threshold="v > 3"))
    assert p.field == "threshold" and p.kind == "units"


def test_unknown_identifier_with_suggestion():
    (p,) = dry_run(A, dict(GOOD, reset="v = vr\nvth += vth_incr"))
    assert p.field == "reset" and p.kind == "unknown_identifier"
    assert "'vth_incr'" in p.message and "did you mean 'vth_inc'" in p.message


def test_input_must_stay_a_parameter():
    bad = dict(GOOD, model=GOOD["model"].replace("I : volt", "I = 20*mV : volt"))
    (p,) = dry_run(A, bad)
    assert p.field == "model"


def test_model_that_defines_a_supplied_parameter():
    bad = dict(GOOD, model=GOOD["model"] + "\ntau_th : second")
    msg = one(A, bad, "model", "defines_parameter")
    assert "'tau_th'" in msg and "hidden cases use other values" in msg


def test_unknown_identifier_lists_only_usable_parameters():
    ei = get("ei_balance")
    spec = {"model": "w : 1", "on_pre": "Ii_post -= w*mV\nw += N_e", "on_post": "w += eta"}
    spec, _ = validate(ei, spec)
    (p,) = dry_run(ei, spec)
    assert p.kind == "unknown_identifier" and "'N_e'" in p.message
    assert "eta" in p.message and "w_init" not in p.message
