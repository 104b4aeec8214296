"""What every assignment's feedback plots share: line styles and a running mean.

A plot function (``plots.draw`` in each assignment's package) draws on a Matplotlib ``Axes`` it
is given and never imports Matplotlib itself: :mod:`autograde.feedback` makes the figure and
the PNG. Observables are in SI units; divide by :data:`~graders.assignments.base.MV` or
:data:`~graders.assignments.base.MS` to show mV or ms.
"""

from __future__ import annotations

import numpy as np

STUDENT = {"color": "C0", "lw": 1.4, "label": "your network"}
REFERENCE = {"color": "k", "lw": 1.0, "ls": "--", "label": "reference"}
CONTROL = {"color": "0.6", "lw": 1.0, "label": "without plasticity"}


def smooth(x: np.ndarray, n: int) -> np.ndarray:
    """Running mean of ``x`` over ``n`` samples (``x`` itself for ``n <= 1``)."""
    return np.convolve(x, np.ones(n) / n, mode="same") if n > 1 else x
