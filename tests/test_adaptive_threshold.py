"""Assignment 1's bank of submissions: right answers get full marks, wrong ones lose points."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import graders

BANK = sorted((Path(__file__).parent / "bank" / "adaptive_threshold").glob("*.json"))


def load(path):
    return json.loads(path.read_text())


def test_bank_covers_the_required_submissions():
    names = {p.stem for p in BANK}
    for required in (
        "right_canonical", "right_exact", "right_theta", "right_reset_order", "right_rearranged",
        "wrong_no_adaptation", "wrong_no_decay", "wrong_decay_tau", "wrong_decay_to_vr",
        "wrong_sign", "wrong_hardcoded_jump", "wrong_hardcoded_tau_th", "wrong_threshold_vth0",
        "wrong_increment_in_equations", "invalid_syntax", "invalid_units",
    ):  # fmt: skip
        assert required in names


def test_messages_quote_the_hidden_values_the_student_missed():
    verdict = graders.check(
        "adaptive_threshold",
        load(BANK[0].with_name("wrong_hardcoded_jump.json"))["spec"],
        "runtime",
    )
    msg = verdict.check("jump").message
    assert "should rise by vth_inc" in msg and " x vth_inc" not in msg
    assert re.search(r"yours rose by (far )?(more|less) than vth_inc", msg), msg


@pytest.mark.standalone
@pytest.mark.slow
@pytest.mark.parametrize("name", ["right_theta", "wrong_decay_tau", "wrong_hardcoded_jump"])
def test_same_verdict_on_cpp_standalone(name):
    spec = load(BANK[0].with_name(f"{name}.json"))["spec"]
    a = graders.check("adaptive_threshold", spec, "runtime")
    b = graders.check("adaptive_threshold", spec, "cpp_standalone")
    assert b.backend == "cpp_standalone"
    assert [c.to_json() for c in a.checks] == [c.to_json() for c in b.checks]


@pytest.mark.genn
@pytest.mark.slow
def test_same_verdict_on_genn_cpu():
    spec = load(BANK[0].with_name("right_theta.json"))["spec"]
    a = graders.check("adaptive_threshold", spec, "runtime")
    b = graders.check("adaptive_threshold", spec, "genn-cpu")
    assert [c.to_json() for c in a.checks] == [c.to_json() for c in b.checks]
