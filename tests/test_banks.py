"""Every assignment's bank of submissions (``tests/bank/<assignment>/``), through the command
line: right answers get full marks, wrong ones lose the points of the checks they fail, invalid
ones are refused with the field named. Parametrised over the registry, so that a new
assignment's bank is graded with no edit here."""

from __future__ import annotations

import pytest
from banks import assert_entry, entries

from graders import assignments

BANK = [(a, p) for a in assignments.names() for p in entries(a)]


@pytest.mark.slow
@pytest.mark.parametrize("assignment, path", BANK, ids=[f"{a}-{p.stem}" for a, p in BANK])
def test_bank_through_the_cli(assignment, path):
    assert_entry(assignment, path)


@pytest.mark.parametrize("assignment", assignments.names())
def test_every_assignment_has_a_bank(assignment):
    """A right answer and a wrong one at least, so that the checks are seen to tell them apart."""
    stems = [p.stem for p in entries(assignment)]
    assert any(s.startswith("right") for s in stems), f"tests/bank/{assignment}/ has no right_*"
    assert any(s.startswith("wrong") for s in stems), f"tests/bank/{assignment}/ has no wrong_*"
