"""The options of a grading run, made once from the settings and passed whole.

:class:`GradeOptions` holds one value of every grading setting (:class:`graders.settings.
Grading`: limits, backend, batch builds, cache, workers, GPUs) and the feedback switch. It is
made in one way wherever a run starts, from a ``Grading``: the command line's options
(:meth:`GradeOptions.from_args`, one flag a setting, named after it), the service's, or a
course's configuration (``Grading(config=...)``). Its fields have no defaults of their own: the
defaults, their help and their reasons are the settings' (``GradeOptions.from_settings()``).

It crosses to the workers as JSON (:meth:`GradeOptions.to_dict`), inside each job.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields, replace

from graders import settings

#: Settings only the coordinating process reads (how many workers, where, which GPUs, batch
#: builds before the workers start): they do not decide a submission's grades, so the stored
#: result of a submission (:mod:`autograde.submission_cache`) holds whatever they are.
COORDINATOR_ONLY = frozenset({"jobs", "scheduler", "gpus", "batch", "simulation_timeout"})

#: Older spellings of the flags, kept working and named in ``--help``: setting -> aliases.
ALIASES = {
    "jobs": ("-j",),
    "cell_timeout": ("--timeout",),
    "memory_mb": ("--memory",),
    "max_output_bytes": ("--max-output",),
    "cache_dir": ("--cache",),
}

#: Help of ``--no-sandbox`` where student code is graded (the setting's own help is shorter).
SANDBOX_HELP = (
    "run student kernels and simulations under bubblewrap; --no-sandbox: without it (trusted "
    "submissions only), and then the result cache and ccache are neither read nor written, "
    "since an unsandboxed kernel could plant fake results there, so every submission is "
    "simulated afresh"
)


@dataclass(frozen=True)
class GradeOptions:
    """One value of each grading setting (see :class:`graders.settings.Grading` for what each
    means and its default) and ``feedback``: make the feedback plots (one simulation more per
    submission)."""

    backend: str
    batch: str
    cache_dir: str
    cell_timeout: float
    check_timeout: float
    gpus: str
    jobs: int
    max_output_bytes: int
    memory_mb: int
    sandbox: bool
    scheduler: str
    simulation_timeout: float
    submission_timeout: float
    feedback: bool = True

    @classmethod
    def from_settings(cls, grading: settings.Grading | None = None, **changes) -> GradeOptions:
        """The values of ``grading`` (default: the settings' defaults), with ``changes``."""
        grading = grading if grading is not None else settings.Grading()
        values = {name: getattr(grading, name) for name in settings.names()}
        return replace(cls(**values), **changes)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> GradeOptions:
        """The options a command line gave (:func:`add_arguments`); a setting it has no flag
        for keeps its default. Values go through :class:`graders.settings.Grading`, which
        checks them as a course's configuration would be checked."""
        values = {n: getattr(args, n, None) for n in settings.names()}
        given = {n: v for n, v in values.items() if v is not None}
        feedback = not getattr(args, "no_feedback", False)
        return cls.from_settings(settings.Grading(**given), feedback=feedback)

    def to_dict(self) -> dict:
        """Plain JSON data (what a job carries)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GradeOptions:
        """The inverse of :meth:`to_dict`; a missing setting takes its default."""
        known = {f.name for f in fields(cls)}
        return replace(cls.from_settings(), **{k: v for k, v in data.items() if k in known})

    def grading_key(self) -> dict:
        """The values that decide a submission's grades: all but :data:`COORDINATOR_ONLY` and
        ``cache_dir`` (where a worker keeps its cache)."""
        return {
            k: v for k, v in self.to_dict().items() if k not in COORDINATOR_ONLY | {"cache_dir"}
        }


def add_arguments(parser: argparse.ArgumentParser, names=None, **helps: str) -> None:
    """Add the flag of each setting of ``names`` (default: all) to ``parser``, with its older
    spellings (:data:`ALIASES`); ``helps`` replaces a setting's help text."""
    for name in names or settings.names():
        extra = {"help": helps[name]} if name in helps else {}
        settings.add_option(parser, name, *ALIASES.get(name, ()), **extra)
