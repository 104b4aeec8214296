"""Server-side grading of Brian2 answer specs: validation, simulation and checks.

Imports inside functions: :func:`check` loads validation and the harness when it is called; a
student's kernel imports ``graders`` for :func:`graders.notebook.hidden_check` alone.
"""

from __future__ import annotations

from .results import CheckResult, Problem, SpecError, Status, Verdict

__version__ = "0.1.0"
__all__ = ["CheckResult", "Problem", "SpecError", "Status", "Verdict", "check"]


def check(
    assignment,
    spec,
    backend: str | None = None,
    *,
    timeout: float | None = None,
    memory_mb: int | None = None,
    cache_dir=None,
    use_cache: bool = True,
    keep_build=None,
) -> Verdict:
    """Grade one answer spec on every hidden case of ``assignment``.

    Parameters
    ----------
    assignment : graders.assignments.Assignment or str
        The assignment, or its registered name (``"adaptive_threshold"``).
    spec : dict
        The student's answer (Brian2 strings), as JSON data.
    backend : str, optional
        Force a backend; default: ``AUTOGRADE_BACKEND`` or the best one installed.

    Returns
    -------
    Verdict
        With ``status`` GRADED, or TIMEOUT, MEMORY or CRASHED (:class:`graders.results.Status`)
        and every check at zero.

    Raises
    ------
    SpecError
        The spec is invalid (each problem names its field and the fix).
    graders.backends.BackendUnavailable
        The forced backend is not installed here.
    """
    from . import backends, harness
    from .assignments import resolve
    from .spec import notes_for, validate

    a = resolve(assignment)
    spec, notes = validate(a, spec)
    name = backends.choose(backend)
    notes = notes_for(notes, name)
    kwargs = {}
    if timeout is not None:
        kwargs["timeout"] = timeout
    if memory_mb is not None:
        kwargs["memory_mb"] = memory_mb
    try:
        sim = harness.simulate(
            a,
            spec,
            cases=a.simulated_cases(),
            backend=name,
            cache_dir=cache_dir,
            use_cache=use_cache,
            keep_build=keep_build,
            **kwargs,
        )
    except harness.SimulationFailed as fail:
        reason = {
            Status.TIMEOUT: "your network did not finish in time",
            Status.MEMORY: "your network ran out of memory",
        }.get(fail.kind, "your network could not be simulated")
        v = Verdict(a.name, name, a.failed(f"{reason}: {fail.message}"), notes, Status(fail.kind))
        return v
    checks = a.grade(spec, sim.observables, a.cases())
    timing = {"simulate_s": round(sim.seconds, 3), "cached": sim.cached}
    return Verdict(a.name, name, checks, notes, Status.GRADED, timing)
