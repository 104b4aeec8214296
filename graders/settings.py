"""Every setting of the grader, declared once: its default, its help text, its variable.

Read by ``autograde grade`` (its options, defaults and help are made from the traits below),
by ``python -m graders check``, by the course's ``nbgrader_config.py`` (which sets only what a
course wants to differ) and by the nbgrader preprocessors (:class:`autograde.preprocessors.
SafeExecute` and ``TrustedVerdicts`` take their traits' defaults from here). The environment
variables the code reads are named here too, and only here: ``tests/test_settings.py`` fails on
an ``AUTOGRADE_...`` string anywhere else in the code.

Why here, in ``graders`` and not in ``autograde``: both packages need these values and
``graders`` must never import ``autograde`` (the simulation process, ``python -m graders check``
and the student's kernel import ``graders`` alone), so the lower layer holds them. Why traitlets
in ``graders``: it is nbgrader's configuration system, already loaded in every process that
imports ``graders`` (the nbgrader server, the student's grading kernel through ipykernel) except
the simulation process and ``python -m graders check``, where importing this module costs tens
of milliseconds beside Brian's import of seconds (figures: README, "Measured here"). Students'
own machines never import ``graders`` (the released notebooks do not; ``tests/test_release.py``).
``graders/sandbox.py``, which also runs as a script without the package (``python -I -S``),
imports this module only where it reads it.

A course changes a value in its ``nbgrader_config.py`` on the class that uses it, e.g.
``c.SafeExecute.timeout = 300`` (per cell) for a plain ``nbgrader autograde``; ``autograde
grade`` takes its values from its options, one a setting and named after it (``--cell-timeout
300``), whose defaults are these; :class:`autograde.options.GradeOptions` carries them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os

from traitlets import Bool, CaselessStrEnum, Float, Integer, Unicode, default
from traitlets.config import Configurable

# --- environment variables -----------------------------------------------------------------------

#: Forces the simulation backend (genn, genn-cpu, cpp_standalone, runtime) where no option does.
BACKEND_ENV = "AUTOGRADE_BACKEND"
#: Folder of the result cache (default ``$XDG_CACHE_HOME/brian2genn-autograder``).
CACHE_ENV = "AUTOGRADE_CACHE"
#: Where every process appends one JSON line per build or cache hit (for the benchmark, which
#: counts across worker processes); unset: nothing is written.
STATS_ENV = "AUTOGRADE_STATS_FILE"
#: ``make -j`` of a C++ standalone build (default: the cores there are) and of a GeNN build
#: (the same, at most GeNN's five modules: ``graders.genn_cuda.make_jobs``).
MAKE_JOBS_ENV = "AUTOGRADE_MAKE_JOBS"
#: For measurements: GeNN levers left at Brian2GeNN's defaults, comma-separated among
#: ``manual``, ``simple_errors``, ``make_jobs``, ``nvcc_ccache`` (``graders.genn_cuda``);
#: unset: all on. ``./dev gpu-check --budget 0`` times a build with each one off.
GENN_LEVERS_OFF_ENV = "AUTOGRADE_GENN_LEVERS_OFF"
#: Selects the simulation process's sandbox: "1" required (an error where bwrap is missing), "0"
#: off, unset or "auto": on where bwrap is installed. ``autograde grade`` sets it from
#: --no-sandbox.
SANDBOX_ENV = "AUTOGRADE_SANDBOX"
#: Set to "1" in a grading kernel by the pipeline: hidden cells only hand the spec over; the
#: verdict is computed outside the kernel (``autograde.preprocessors.TrustedVerdicts``).
TRUSTED_ENV = "AUTOGRADE_TRUSTED_GRADING"
#: Set to "1" to neither reuse nor store whole submissions' results (every notebook runs; for
#: measurements), see ``autograde.submission_cache``.
NO_SUBMISSION_CACHE_ENV = "AUTOGRADE_NO_SUBMISSION_CACHE"
#: Set (to anything) to keep each submission's temporary course folder (debugging).
KEEP_TMP_ENV = "AUTOGRADE_KEEP_TMP"
#: The grading service's address for nbgrader's exchange (``autograde.exchange``) where
#: ``c.AutogradeExchange.url`` is empty, e.g. https://grading.example.edu.
SERVICE_URL_ENV = "AUTOGRADE_SERVICE_URL"
#: A student's (or the instructor's) token for the grading service where the configuration
#: names none (``c.AutogradeExchange.token`` / ``token_file``).
TOKEN_ENV = "AUTOGRADE_TOKEN"

#: Every variable above.
ENV = (
    BACKEND_ENV,
    CACHE_ENV,
    STATS_ENV,
    MAKE_JOBS_ENV,
    GENN_LEVERS_OFF_ENV,
    SANDBOX_ENV,
    TRUSTED_ENV,
    NO_SUBMISSION_CACHE_ENV,
    KEEP_TMP_ENV,
    SERVICE_URL_ENV,
    TOKEN_ENV,
)

# --- the nbgrader preprocessor chain -----------------------------------------------------------

#: ``c.Autograde.autograde_preprocessors`` of the course and of every pipeline worker: nbgrader's
#: default chain with ``Execute`` replaced by ``SafeExecute`` (survives dead kernels, limits a
#: whole submission), ``TrustedVerdicts`` between execution and ``SaveAutoGrades`` (re-grades
#: every hidden cell from the spec, outside the kernel) and ``InertOutputs`` (cleans the HTML
#: and JavaScript a student's cells displayed).
PREPROCESSORS = (
    "autograde.preprocessors.SafeExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "autograde.preprocessors.TrustedVerdicts",
    "autograde.preprocessors.InertOutputs",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
)

# The feedback page's chain and exporter (``autograde feedback`` and a plain ``nbgrader
# generate_feedback`` in the course alike). Hidden-test code stays out of student-facing files;
# the messages are outputs and remain. FeedbackCells: no 0-point self-checks in the table of
# contents, no bare Out[n]: 1.8182 under the hidden cells (it needs the hidden cells' code, so
# it precedes ClearHiddenTests). InertOutputs again: notebooks graded by an older chain get
# their scripts cleaned too. The exporter renders maths as MathML and loads no MathJax from a
# CDN, so the page needs no network.
FEEDBACK_PREPROCESSORS = (
    "nbgrader.preprocessors.GetGrades",
    "autograde.preprocessors.FeedbackCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "autograde.preprocessors.InertOutputs",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
)
FEEDBACK_EXPORTER = "autograde.feedback_page.FeedbackExporter"

# --- the settings --------------------------------------------------------------------------------


class Grading(Configurable):
    """The grading settings with their defaults and help text (see the module docstring)."""

    backend = Unicode(
        "",
        help="simulation backend: genn, genn-cpu, cpp_standalone or runtime; empty: "
        f"${BACKEND_ENV}, else the best installed",
    ).tag(config=True)

    jobs = Integer(help="parallel workers (default: the cores there are)").tag(config=True)

    # Empty: the local process pool, which needs nothing set up; a dask scheduler when a course
    # outgrows one server (README, "Grading on several machines").
    scheduler = Unicode(
        "",
        help="address of a dask.distributed scheduler (tcp://HOST:8786) whose workers grade the "
        "submissions instead of --jobs local processes; empty: this machine's process pool",
    ).tag(config=True)

    # Empty: every GPU found, so that a server with several grades on all of them
    # (graders.gpus); only the `genn` backend uses a GPU.
    gpus = Unicode(
        "",
        help="GPUs to grade on, by nvidia-smi's index (0,2); each worker and each batch build "
        "is given one, round-robin, and its simulations see that GPU alone; empty: every GPU "
        "found (CUDA_VISIBLE_DEVICES where set, else nvidia-smi -L); used on the genn backend",
    ).tag(config=True)

    @default("jobs")
    def _jobs_default(self):
        return os.cpu_count() or 1

    # 120 s: a hidden cell of `autograde grade` only hands the spec over (the verdict is
    # computed outside the kernel, under `check_timeout`), so a cell runs the student's own code
    # and the task's simulations: seconds. In a plain `nbgrader autograde` a hidden cell also
    # builds the network in the kernel: a cold build takes tens of seconds on C++ or GeNN's CPU
    # backend and can take minutes of nvcc (README, "Measured here"); a cell cut short there still
    # keeps its verdict, since the spec is printed before the build. The demo's endless-loop
    # student waits this long per assignment, so a longer default makes the demo much longer.
    cell_timeout = Float(
        120.0,
        help="seconds one cell may run before the kernel is interrupted; 0: no limit",
    ).tag(config=True)

    # 900 s: 7.5 cells at the cell limit, while a right submission's cells take seconds (README,
    # "Where (b) goes"), a plain run one in-kernel build more. It is a backstop for a notebook of
    # many slow cells, each under `cell_timeout`; more would only lengthen how long one notebook
    # may hold a worker.
    submission_timeout = Float(
        900.0,
        help="seconds all cells of one notebook may run together; later cells are not run",
    ).tag(config=True)

    memory_mb = Integer(
        4096,
        help="MB of resident memory each student kernel and each simulation may use, with "
        "everything it starts (compiler and binary included); 0: no limit",
    ).tag(config=True)

    max_output_bytes = Integer(
        1_000_000, help="bytes of output one cell may produce; the rest is dropped; 0: no limit"
    ).tag(config=True)

    # Two simulation limits: one answer's network (`python -m graders check`, the batch builds)
    # and the trusted verdicts of `autograde grade` and `nbgrader autograde`, which build a
    # submission's whole hidden network, possibly on a loaded grading server, so get twice as long.
    simulation_timeout = Float(300.0, help="seconds one simulation (build and run) may take").tag(
        config=True
    )

    check_timeout = Float(
        600.0, help="seconds one simulation of the trusted verdicts (build and run) may take"
    ).tag(config=True)

    batch = CaselessStrEnum(
        ["auto", "on", "off"],
        "auto",
        help="build the class's distinct answers together in batches before grading (one GeNN "
        "model for many students); auto: on for GeNN backends, where it pays",
    ).tag(config=True)

    cache_dir = Unicode(
        "",
        help=f"result cache folder; empty: ${CACHE_ENV}, else ~/.cache/brian2genn-autograder "
        "(unused without the sandbox); with --scheduler, a folder on the workers (one they "
        "share), empty: each worker's own",
    ).tag(config=True)

    sandbox = Bool(True, help="run student kernels and simulations under bubblewrap").tag(
        config=True
    )


#: When the feedback gives numbers measured on the hidden cases (the reference's rates, limits
#: computed on them, how many of their neurons or spikes failed), as Gradescope's test
#: visibility: the values of :attr:`Feedback.hidden_numbers`.
HIDDEN_NUMBERS = ("after_due_date", "always", "never")


class Feedback(Configurable):
    """What the students' feedback shows (``c.Feedback.hidden_numbers`` in the course's
    ``nbgrader_config.py``)."""

    # after_due_date by default: the hidden cases' reference behaviour is a target a student
    # could tune against while the assignment is open; afterwards it explains the grade.
    hidden_numbers = CaselessStrEnum(
        list(HIDDEN_NUMBERS),
        "after_due_date",
        help="when messages give numbers measured on the hidden cases (reference rates, limits "
        "computed on them, counts of their neurons and spikes): after_due_date (nbgrader's "
        "due date of the assignment; before it the message says it in words, and the case "
        "plotted on the page gives the task's own numbers), always, or never",
    ).tag(config=True)


def shows_hidden_numbers(policy: str, duedate, now=None) -> bool:
    """Whether feedback may give hidden-case numbers under ``policy`` (one of
    :data:`HIDDEN_NUMBERS`) for an assignment due at ``duedate`` (a naive UTC datetime, as
    nbgrader's gradebook stores it; None: no due date, so "after_due_date" never arrives) at
    ``now`` (default: the current UTC time)."""
    policy = (policy or "after_due_date").lower()
    if policy not in HIDDEN_NUMBERS:
        raise ValueError(
            f"hidden_numbers must be one of {', '.join(HIDDEN_NUMBERS)}, not {policy!r}"
        )
    if policy != "after_due_date":
        return policy == "always"
    if duedate is None:
        return False
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if getattr(duedate, "tzinfo", None) is not None:
        duedate = duedate.astimezone(dt.UTC).replace(tzinfo=None)
    return now >= duedate


def default(name: str):
    """The default value of setting ``name``."""
    return getattr(Grading(), name)


def help_text(name: str) -> str:
    """The help text of setting ``name``."""
    return Grading.class_traits()[name].help


def names() -> tuple[str, ...]:
    """The names of the grading settings (the traits of :class:`Grading`), sorted."""
    return tuple(sorted(Grading.class_trait_names(config=True)))


def flag(name: str) -> str:
    """The command-line flag of setting ``name``: ``cell_timeout`` -> ``--cell-timeout``."""
    return "--" + name.replace("_", "-")


def add_option(parser, name: str, *aliases: str, **extra):
    """Add setting ``name`` to an argparse ``parser`` as :func:`flag` ``(name)``: its type,
    default and help; ``aliases`` are further spellings of the flag (older ones, ``-j``).

    The help ends with the default, e.g. ``(default 120)``, where the help does not already
    say what an empty default means, and names the aliases, ``(also --timeout)``, so that the
    older spellings stay documented. A boolean setting becomes ``--name``/``--no-name``.
    """
    trait = Grading.class_traits()[name]
    value = default(name)
    kwargs = {"default": value, "help": trait.help, "dest": name}
    if isinstance(trait, Bool):
        kwargs["action"] = argparse.BooleanOptionalAction
    elif isinstance(trait, CaselessStrEnum):
        kwargs["choices"] = tuple(trait.values)
    else:
        kwargs["type"] = {Float: float, Integer: int, Unicode: str}[type(trait)]
    kwargs.update(extra)
    if value not in ("", None) and not isinstance(trait, Bool) and "default" not in trait.help:
        shown = f"{value:g}" if isinstance(value, float) else value
        kwargs["help"] = f"{kwargs['help']} (default {shown})"
    older = [a for a in aliases if a.startswith("--")]  # (argparse shows a short one beside)
    if older:
        kwargs["help"] = f"{kwargs['help']} (also {', '.join(older)})"
    return parser.add_argument(flag(name), *aliases, **kwargs)
