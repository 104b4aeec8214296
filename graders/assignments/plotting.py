"""What every assignment's feedback plots share: line styles, the look of a check's limit, a
marker for the place a message speaks about, and a running mean.

A plot function (``plots.draw`` in each assignment's package) draws on a Matplotlib ``Axes`` it
is given and never imports Matplotlib itself: :mod:`autograde.feedback` makes the figure and
the PNG. Observables are in SI units; divide by :data:`~graders.assignments.base.MV` or
:data:`~graders.assignments.base.MS` to show mV or ms. Labels are words a student reads
("yours", "reference (dashed)"), never a variable suffix.
"""

from __future__ import annotations

import numpy as np

STUDENT = {"color": "C0", "lw": 1.4, "label": "yours"}
REFERENCE = {"color": "k", "lw": 1.0, "ls": "--", "label": "reference (dashed)"}
CONTROL = {"color": "0.6", "lw": 1.0, "label": "without plasticity"}
#: The tolerance band or limit a check applied (fill_between, axhspan, axvspan, axhline).
LIMIT = {"color": "C1", "alpha": 0.3, "lw": 0}
#: Legend text in points: 10.6 px on the page, which shows a plot at 80 px per inch
#: (autograde.feedback.DISPLAY_DPI); ticks and titles keep Matplotlib's 10 and 12 pt.
LEGEND_PT = 9.5


def mark(ax, x: float, y: float | None, text: str) -> None:
    """Ring the point ``(x, y)`` (or, with ``y`` None, a dotted line at ``x``) the message
    speaks about, labelled ``text`` in the legend."""
    if y is None:
        ax.axvline(x, color="C3", ls=":", lw=1.2, label=text)
    else:
        ax.plot([x], [y], "o", ms=12, mfc="none", mec="C3", mew=1.5, label=text)


def smooth(x: np.ndarray, n: int) -> np.ndarray:
    """Running mean of ``x`` over ``n`` samples (``x`` itself for ``n <= 1``)."""
    return np.convolve(x, np.ones(n) / n, mode="same") if n > 1 else x


def legend(ax, **kw) -> None:
    """The legend under the axes, in columns, where it hides no trace or band and leaves the
    plot the page's width (beside the axes it took a third of it, and a phone shrinks the
    whole image to fit)."""
    n = len(ax.get_legend_handles_labels()[1])
    ax.legend(
        fontsize=LEGEND_PT,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.3),
        ncol=min(3, max(1, n)),
        frameon=False,
        borderaxespad=0,
        **kw,
    )
