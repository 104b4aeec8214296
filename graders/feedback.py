"""Observables of a student's network on the feedback cases (what feedback plots show).

The feedback cases use only the parameters the task states (see
:meth:`graders.assignments.base.Assignment.feedback_cases`), so the traces can be shown to the
student beside the reference's. They are simulated like the hidden cases: in a fresh, limited
process, cached on disk by a hash of spec, cases and backend.
"""

from __future__ import annotations

import numpy as np


def feedback_observables(
    assignment: str,
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
    assignment : str
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
    from . import backends, harness
    from .assignments import get
    from .spec import validate

    a = get(assignment)
    spec, _ = validate(a, spec)
    kwargs = {}
    if timeout is not None:
        kwargs["timeout"] = timeout
    if memory_mb is not None:
        kwargs["memory_mb"] = memory_mb
    sim = harness.simulate(
        assignment,
        spec,
        cases=a.feedback_cases(),
        backend=backends.choose(backend),
        cache_dir=cache_dir,
        use_cache=use_cache,
        **kwargs,
    )
    return sim.observables
