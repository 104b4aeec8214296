"""Sizes in words: a measured size compared with a hidden one never comes out as a ratio."""

from __future__ import annotations

import math
import re

import pytest

from graders.wording import changed_by, decimals, rate_words, relative


@pytest.mark.parametrize(
    "got, want, words",
    [
        (0.0, 2.0, "no change"),
        (-1.0, 2.0, "the opposite direction"),
        (0.5, 2.0, "far less than"),
        (1.5, 2.0, "less than"),
        (2.04, 2.0, "about"),
        (3.0, 2.0, "more than"),
        (5.0, 2.0, "far more than"),
        (math.nan, 2.0, "not a number"),
    ],
)
def test_relative(got, want, words):
    assert relative(got, want) == words


def test_no_number_in_any_phrase():
    for got in (-3, 0, 0.3, 0.9, 1.0, 1.4, 2.5, 7, 1e9, math.inf):
        text = changed_by(got * 2e-3, 2e-3, "vth_inc", "rose")
        assert not re.search(r"\d", text.replace("vth_inc", "")), text
    assert changed_by(5e-3, 2e-3, "vth_inc", "rose") == "yours rose by far more than vth_inc"
    assert changed_by(0.0, 2e-3, "vth_inc", "rose") == "yours did not change at all"


def test_time_constants():
    assert rate_words(0.034, 0.2) == "much faster than"
    assert rate_words(0.3, 0.2) == "slower than"
    assert rate_words(0.2, 0.2) == "about as fast as"


@pytest.mark.parametrize(
    "value, bound, least, digits",
    [
        (18.7, 18.6, 0, 1),  # "at most 19%; yours 19%" would read as met
        (27.0, 19.0, 0, 0),
        (0.21, 0.2, 1, 2),
        (63.0, 63.0, 0, 0),
        (-19.04, 19.0, 0, 2),  # the size is compared, the sign printed apart
    ],
)
def test_a_failed_bound_never_reads_as_met(value, bound, least, digits):
    d = decimals(value, bound, least)
    assert d == digits
    if abs(value) != abs(bound):
        assert f"{abs(value):.{d}f}" != f"{abs(bound):.{d}f}"
