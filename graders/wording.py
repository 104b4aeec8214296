"""Sizes in words, for messages about hidden cases.

A check that measures a student's network on a hidden case must not print the ratio of what it
measured to a hidden parameter: "yours changed by 2.50 x vth_inc", told to an answer that
hard-codes 5 mV, reveals vth_inc = 2 mV. :func:`relative` says the direction and a coarse size
instead ("far more than", "less than"), which bounds nothing finer than a factor of two.
"""

from __future__ import annotations

import math

#: Within this fraction of the expected size, a measured size reads as "about" it.
ABOUT = 0.05
#: Below this fraction of the expected size, a change reads as no change at all.
NONE = 0.05


def relative(got: float, want: float) -> str:
    """How ``got`` compares with ``want`` (same sign expected), in words.

    One of: "not a number", "no change", "the opposite direction", "far less than", "less than",
    "about", "more than", "far more than" (factor-of-two steps, never a number).
    """
    if not (math.isfinite(got) and math.isfinite(want)) or want == 0:
        return "not a number" if not math.isfinite(got) else "a change where none is expected"
    r = got / want
    if abs(r) < NONE:
        return "no change"
    if r < 0:
        return "the opposite direction"
    if abs(r - 1) <= ABOUT:
        return "about"
    if r < 0.5:
        return "far less than"
    if r < 1:
        return "less than"
    if r <= 2:
        return "more than"
    return "far more than"


def changed_by(got: float, want: float, what: str, verb: str = "changed") -> str:
    """ "yours rose by far more than vth_inc" -- ``what`` names the expected size in the task's
    terms (a parameter name or a formula), never its value."""
    how = relative(got, want)
    if how == "no change":
        return "yours did not change at all"
    if how == "the opposite direction":
        return "yours changed in the opposite direction"
    if how == "not a number":
        return "yours is not a number (the simulation produced NaN or infinity)"
    return f"yours {verb} by {how} {what}"


def rate_words(got: float, want: float) -> str:
    """A time constant compared with the expected one: "much faster than", "slower than"..."""
    how = relative(want, got)  # a shorter time constant is a faster relaxation
    return {
        "far less than": "much slower than",
        "less than": "slower than",
        "about": "about as fast as",
        "more than": "faster than",
        "far more than": "much faster than",
    }.get(how, "not at the rate of")


def decimals(value: float, bound: float, least: int = 0, most: int = 4) -> int:
    """How many decimals print ``value`` and ``bound`` (same scale, e.g. both as percent)
    differently, so that a failed bound never reads as met ("at most 19%; yours 19%").

    ``least`` is the usual precision; more decimals are added while the two read the same.
    """
    if not (math.isfinite(value) and math.isfinite(bound)) or abs(value) == abs(bound):
        return least
    d = least
    while d < most and f"{abs(value):.{d}f}" == f"{abs(bound):.{d}f}":
        d += 1
    return d
