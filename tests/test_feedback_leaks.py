"""Check messages are student-facing: they never print a hidden case's values or inputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import graders
from graders import assignments
from graders.assignments import get

BANK = Path(__file__).parent / "bank"


def hidden_strings(name: str) -> set[str]:
    """How a hidden value would read in a message, for every value the task text does not state."""
    a = get(name)
    out = set()
    for case in a.cases():
        for key, (value, unit) in case["params"].items():
            if a.parameters.get(key, (None,))[0] == value:
                continue
            if unit == "volt":
                out |= {f"{value * 1e3:.1f} mV", f"{value * 1e3:.0f} mV", f"{value * 1e3:g} mV"}
            elif unit == "second":
                out |= {f"{value * 1e3:.0f} ms", f"{value * 1e3:g} ms"}
            else:
                out |= {f"{key} = {value:g}", f"{key}={value:g}"}
        for drive in case.get("drives_mV", ()):
            out.add(f"I = {drive} mV")
    return out


def test_hidden_strings_are_found():
    assert "2.0 mV" in hidden_strings("adaptive_threshold")
    assert "eta = 0.07" in hidden_strings("ei_balance") or "eta = 0.3" in hidden_strings(
        "ei_balance"
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", assignments.names())
def test_no_message_prints_a_hidden_value(name):
    leaks = hidden_strings(name)
    for path in sorted((BANK / name).glob("wrong_*.json")):
        verdict = graders.check(name, json.loads(path.read_text())["spec"], "runtime")
        for c in verdict.checks:
            # a whole number, not the tail of another one ("2 mV" is not in "10.2 mV")
            found = [s for s in leaks if re.search(r"(?<![\d.])" + re.escape(s), c.message)]
            assert not found, f"{path.stem}/{c.name} prints hidden values {found}: {c.message}"
            # nothing the student cannot place: no hidden case or protocol by number
            assert not re.search(r"hidden case \d|protocol \d|\(of \d+\)", c.message), c.message
