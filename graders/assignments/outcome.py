"""A check's outcome: its pass fraction, what it counted, its words and where it failed.

:class:`Outcome` is what a check of an assignment returns (:data:`graders.assignments.base.Check`)
and :func:`outcome_of` turns the short form ``(fraction, message)`` into one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: When a message in words says the hidden cases' numbers are shown
#: (:meth:`Outcome.hidden_message` with ``numbers=False``); :func:`when_numbers_shown` makes it
#: true for the course's policy.
NUMBERS_LATER = "The hidden cases' numbers are shown after the due date"


def when_numbers_shown(words: str, policy: str, duedate) -> str:
    """``words`` with its sentence on when the hidden cases' numbers are shown made true for
    ``policy`` (``c.Feedback.hidden_numbers``) and the assignment's ``duedate``: under "never",
    or "after_due_date" for an assignment without a due date, they are never shown, and a
    student must not wait for them."""
    policy = (policy or "after_due_date").lower()
    if policy == "never":
        return words.replace(NUMBERS_LATER, "The hidden cases' numbers are not shown")
    if policy == "after_due_date" and duedate is None:
        never = "The hidden cases' numbers are not shown (the assignment has no due date)"
        return words.replace(NUMBERS_LATER, never)
    return words


@dataclass
class Outcome:
    """What one check found, in pieces that make both of its messages.

    The grading message (hidden cases) counts the failures and describes the first one in words
    without saying where it is, since the student cannot see the hidden cases; the feedback
    message (feedback cases) places it: "In the case plotted below (the task's parameters, drive
    I = 25 mV): ...". Both end with :attr:`advice`.

    Parameters
    ----------
    fraction : float
        Pass fraction in ``[0, 1]`` (the points, unchanged by the wording).
    said : str
        The first failure in words, without its place; what passing means when nothing failed.
    failed, total : int
        How many of the counted items (neurons, spikes, cases, pairings) failed, of how many.
    what : str
        Those items, plural ("neurons").
    focus : dict or None
        Where the first failure is, as small JSON data (``{"case": 0, "neuron": 2}``); when
        nothing failed, the most telling item. Plots are drawn there.
    place : str
        ``focus`` in the task's terms ("drive I = 25 mV"); shown for the feedback cases only.
    advice : str
        What to change, one sentence in the task's terms, no code.
    unseen : str
        What the hidden cases vary that the feedback cases keep, in words (no values): said
        when the network passes on the feedback cases but not on the hidden ones.
    """

    fraction: float
    said: str
    failed: int = 0
    total: int = 0
    what: str = "inputs"
    focus: dict | None = None
    place: str = ""
    advice: str = ""
    unseen: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.fraction >= 1.0 and self.failed == 0)

    def _advise(self, text: str) -> str:
        return f"{text.rstrip('.')}. {self.advice}" if self.advice else text

    def credit(self, points: float | None) -> str:
        """The points in words that add up, from the same counts as the message: "10/11 of 2
        points = 1.82" (the share of counted items that passed), "0 of 2 points" when none
        passed, "it earns its points only when all pass: 0 of 1 point" for an all-or-nothing
        check that some items passed; "" without ``points``."""
        if points is None:
            return ""
        earned = round(points * max(0.0, min(1.0, self.fraction)), 2)
        unit = "point" if points == 1 else "points"
        plain = f"{earned:g} of {points:g} {unit}"
        if not (self.failed and self.total):
            return plain
        n = self.total - self.failed
        if abs(n / self.total - self.fraction) > 1e-9:
            return f"it earns its points only when all pass: {plain}"
        return f"{n}/{self.total} of {points:g} {unit} = {earned:.2f}" if n else plain

    def hidden_message(self, points: float | None = None, numbers: bool = True) -> str:
        """The grading message: how many hidden inputs failed and how, never where.

        With ``points`` (what the check is worth) it also says what that earns, from the same
        counts: "1 of 11 firing neurons of the hidden cases fails this check: 10/11 of 2 points
        = 1.82; in one of them, ...".
        """
        if self.passed:
            return self.said
        if not numbers:
            return self._in_words(points)
        credit = self.credit(points)
        if not self.failed:
            return self._advise(f"{self.said.rstrip('.')} ({credit})" if credit else self.said)
        which = "hidden cases" if self.what == "cases" else f"{self.what} of the hidden cases"
        verb = "fails" if self.failed == 1 else "fail"
        credit = f": {credit}" if credit else ""
        return self._advise(
            f"{self.failed} of {self.total} {which} {verb} this check{credit}; in one of them, "
            f"{self.said}"
        )

    def _in_words(self, points: float | None) -> str:
        """The grading message without a number measured on the hidden cases (no counts of
        their neurons, no reference rate, no limit computed on them): what failed in words and
        the points, which the student sees anyway (``numbers=False`` of
        :meth:`hidden_message`)."""
        earned = ""
        if points is not None:
            unit = "point" if points == 1 else "points"
            got = round(points * max(0.0, min(1.0, self.fraction)), 2)
            earned = f" ({got:g} of {points:g} {unit})"
        said = "" if re.search(r"\d", self.said) else self.said.rstrip(".")
        if self.failed:
            which = "hidden cases" if self.what == "cases" else f"{self.what} of the hidden cases"
            some = "All" if self.total and self.failed >= self.total else "Some"
            text = f"{some} {which} fail this check{earned}"
            text += f"; in one of them, {said}" if said else ""
        else:
            text = (
                f"{said[:1].upper()}{said[1:]}{earned}"
                if said
                else f"This check fails on the hidden cases{earned}"
            )
        return self._advise(
            f"{text}. {NUMBERS_LATER}; the case plotted below measures the same check with the "
            "task's parameters"
        )

    def feedback_message(self, hidden_passed: bool = False) -> str:
        """The feedback page's message, measured on the plotted feedback case."""
        place = self.place or "the task's parameters"
        if self.failed:
            more = (
                f" ({self.failed} of {self.total} {self.what} with the task's parameters fail)"
                if self.failed > 1
                else ""
            )
            return self._advise(f"In the case plotted below ({place}): {self.said}{more}")
        if not self.passed:
            return self._advise(f"In the case plotted below ({place}): {self.said}")
        if hidden_passed:
            return f"In the case plotted below ({place}): {self.said}."
        unseen = f", which use {self.unseen}" if self.unseen else ""
        return (
            f"Your network passes this check in the case plotted below ({place}), but fails it "
            f"on some hidden cases{unseen}."
        )


def outcome_of(result) -> Outcome:
    """An :class:`Outcome` from a check's return value (an Outcome or ``(fraction, message)``)."""
    if isinstance(result, Outcome):
        return result
    frac, msg = result
    return Outcome(float(frac), msg, failed=0, total=0)
