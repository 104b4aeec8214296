"""Observables of a student's network on the feedback cases (what feedback plots show).

The feedback cases use only the parameters the task states (see
:meth:`graders.assignments.base.Assignment.feedback_cases`), so the traces can be shown to the
student beside the reference's. They are simulated in the same network as the hidden cases (one
build serves grading and feedback), whose observables are then left out.
"""

from __future__ import annotations

import re

import numpy as np

from . import backends, harness
from .assignments import resolve
from .spec import validate


def feedback_observables(
    assignment,
    spec: dict,
    backend: str | None = None,
    *,
    timeout: float | None = None,
    memory_mb: int | None = None,
    cache_dir=None,
    use_cache: bool = True,
) -> dict[str, np.ndarray]:
    """Simulate ``spec`` on the feedback cases of ``assignment``.

    Parameters
    ----------
    assignment : graders.assignments.Assignment or str
        Name of the assignment.
    spec : dict
        The student's answer spec (validated here like in :func:`graders.check`).
    backend : str, optional
        Force a backend; default: ``AUTOGRADE_BACKEND`` or the best one installed.
    timeout, memory_mb, cache_dir, use_cache
        As for :func:`graders.harness.simulate`.

    Returns
    -------
    dict of str to ndarray
        The observables, keyed as the assignment's ``build`` names them (case ``k`` of
        ``feedback_cases()`` is ``c{k}``).

    Raises
    ------
    graders.SpecError
        The spec is invalid.
    graders.harness.SimulationFailed
        Timeout, out of memory or a crash.
    """
    a = resolve(assignment)
    spec, _ = validate(a, spec)
    kwargs = {}
    if timeout is not None:
        kwargs["timeout"] = timeout
    if memory_mb is not None:
        kwargs["memory_mb"] = memory_mb
    # The same cases as graders.check simulates, so the grading build is reused (a cache hit).
    sim = harness.simulate(
        a,
        spec,
        cases=a.simulated_cases(),
        backend=backends.choose(backend),
        cache_dir=cache_dir,
        use_cache=use_cache,
        **kwargs,
    )
    return feedback_only(sim.observables, len(a.cases()))


def feedback_only(obs: dict[str, np.ndarray], n_hidden: int) -> dict[str, np.ndarray]:
    """Drop the hidden cases' observables and renumber the feedback cases from ``c0``."""
    out = {}
    for key, value in obs.items():
        m = re.match(r"c(\d+)_(.*)", key)
        if m is None:
            out[key] = value
        elif int(m.group(1)) >= n_hidden:
            out[f"c{int(m.group(1)) - n_hidden}_{m.group(2)}"] = value
    return out
